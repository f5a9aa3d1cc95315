//! The real binary: start-up line, configuration errors, the TOML file, `healthcheck`, SIGTERM,
//! and logs that never contain a token.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::peers::free_port;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-resource-server");

pub(crate) fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mcp-rs-test-{}-{name}", std::process::id()))
}

/// A child process that is killed when dropped, so that a test failing midway leaves nothing
/// running (as `kill_on_drop` does for the tests' tokio children).
pub(crate) struct Spawned(pub(crate) Child);

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Both fail harmlessly once the process has exited and been waited for.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary with a clean environment plus `env`, its standard error going to a file.
pub(crate) fn spawn(env: &[(&str, String)], log: &PathBuf) -> Spawned {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Spawned(cmd.spawn().unwrap())
}

/// What a served binary needs: bound to `port`, reading keys from `kc`, plus `extra`.
pub(crate) fn serve_env<'a>(
    port: u16,
    kc: &FakeKeycloak,
    extra: &[(&'a str, String)],
) -> Vec<(&'a str, String)> {
    let mut env = vec![
        ("MCP_BIND", format!("127.0.0.1:{port}")),
        ("MCP_SERVER_URL", "https://mcp.localhost".into()),
        ("KC_ISSUER", ISSUER.into()),
        ("KC_JWKS_URL", kc.jwks_url()),
    ];
    env.extend_from_slice(extra);
    env
}

/// Spawns the binary and waits until it reports ready; returns it and a client.
pub(crate) async fn start_ready(
    env: &[(&str, String)],
    log: &PathBuf,
    port: u16,
) -> (Spawned, reqwest::Client) {
    let mut child = spawn(env, log);
    let client = mcp_resource_server::auth::outbound::http_client(Duration::from_secs(5));
    let url = format!("http://127.0.0.1:{port}/readyz");
    if wait::answers(&client, &url, Duration::from_secs(10)).await {
        return (child, client);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "the binary did not become ready:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The binary served on a free port with [`serve_env`] and `extra`, once ready, and a test
/// client of it.
pub(crate) async fn serve_ready(
    kc: &FakeKeycloak,
    extra: &[(&str, String)],
    log: &PathBuf,
) -> (Spawned, TestServer) {
    let port = free_port();
    let (child, client) = start_ready(&serve_env(port, kc, extra), log, port).await;
    (
        child,
        TestServer::at(format!("http://127.0.0.1:{port}"), client),
    )
}

/// The `mcp_corpus_documents` gauge of the binary on `port`.
async fn documents(client: &reqwest::Client, port: u16) -> String {
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("mcp_corpus_documents "))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// Sends SIGTERM and waits for the exit code (failing the test after 5 s).
pub(crate) fn terminate(child: &mut Child) -> i32 {
    sigterm(child);
    wait_for_exit(child)
}

pub(crate) fn sigterm(child: &Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

/// The exit code, once the process has exited; fails the test after 5 s.
pub(crate) fn wait_for_exit(child: &mut Child) -> i32 {
    let exited = wait::until_blocking(Duration::from_secs(5), || child.try_wait().unwrap());
    if let Some(status) = exited {
        return status.code().unwrap_or(-1);
    }
    child.kill().unwrap();
    panic!("the binary did not exit within 5 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_logs_one_start_up_line_and_never_a_token() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let port = free_port();
    let log = temp_file("serve.log");
    let (mut child, client) = start_ready(
        &serve_env(
            port,
            &kc,
            &[
                ("MCP_LOG_FORMAT", "json".into()),
                ("RUST_LOG", "trace".into()),
            ],
        ),
        &log,
        port,
    )
    .await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let good = token(&keys);
    let wrong_audience = token_with(&keys, |c| c["aud"] = json!("account"));
    for t in [&good, &wrong_audience, &"not.a.token".to_owned()] {
        client
            .post(&url)
            .bearer_auth(t)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .send()
            .await
            .unwrap();
    }
    client
        .post(format!("{url}?access_token={good}"))
        .send()
        .await
        .unwrap();
    let mut stream = client
        .get(format!("http://127.0.0.1:{port}/sse"))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert!(
        stream.chunk().await.unwrap().is_some(),
        "the endpoint event"
    );
    assert_eq!(
        terminate(&mut child),
        0,
        "SIGTERM is a clean stop, even with an /sse stream open"
    );

    let text = std::fs::read_to_string(&log).unwrap();
    let start: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("mcp-resource-server listening"))
        .collect();
    assert_eq!(start.len(), 1, "{text}");
    let line: serde_json::Value = serde_json::from_str(start[0]).unwrap();
    assert_eq!(line["resource"], "https://mcp.localhost/mcp");
    assert_eq!(line["issuer"], ISSUER);
    assert_eq!(line["jwks_url"], kc.jwks_url());
    assert_eq!(line["audiences"], "https://mcp.localhost/mcp");
    // This server's fields hold values, never Rust's debug text of one (libraries' own trace
    // lines are theirs).
    for line in text
        .lines()
        .filter(|l| l.contains("\"target\":\"mcp_resource_server"))
    {
        for debug in ["\"None\"", "Some(", "\"[\\\""] {
            assert!(!line.contains(debug), "{debug} in the log: {line}");
        }
    }
    assert!(
        text.contains("token refused"),
        "rejections are logged:\n{text}"
    );
    for secret in [&good, &wrong_audience] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(
            !text.contains(signature),
            "a token reached the log:\n{text}"
        );
    }
    let _ = std::fs::remove_file(log);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_invalid_setting_stops_start_up_with_one_line_naming_it() {
    let base = [
        ("MCP_SERVER_URL", "https://mcp.localhost".to_owned()),
        ("KC_ISSUER", ISSUER.to_owned()),
    ];
    let mut cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (vec![], "MCP_SERVER_URL"),
        (vec![base[0].clone()], "KC_ISSUER"),
    ];
    for (name, bad) in [
        ("MCP_CLOCK_LEEWAY_SECS", "soon"),
        ("KC_JWKS_URL", "keycloak:8080/certs"),
        ("MCP_ALLOWED_ORIGINS", "*"),
        ("MCP_CONFIG", "/nonexistent/mcp.toml"),
        ("MCP_SSE_MAX_SESSIONS", "0"),
        ("MCP_CORPUS", "/srv/docs"),
        ("MCP_TOOLS_SERCH_SCOPES", "docs:read"),
        // A misspelt name is refused, not ignored; so is a filter that would drop every line.
        ("MCP_CORPSU", "/srv/docs"),
        ("RUST_LOG", "verbose"),
    ] {
        let mut env = base.to_vec();
        env.push((name, bad.to_owned()));
        cases.push((env, name));
    }
    for (env, name) in cases {
        let log = temp_file(&format!("bad-{name}.log"));
        let status = spawn(&env, &log).wait().unwrap();
        assert_eq!(status.code(), Some(2), "{name}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().count(), 1, "one line for {name}: {text}");
        assert!(text.contains(name), "the line names {name}: {text}");
        let _ = std::fs::remove_file(log);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_toml_file_sets_the_same_things_and_the_environment_wins() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let port = free_port();
    let config = temp_file("config.toml");
    std::fs::write(
        &config,
        format!(
            "bind = \"127.0.0.1:1\"\nserver_url = \"https://mcp.localhost\"\nissuer = \"{ISSUER}\"\n\
             discovery_url = \"{}\"\nrequired_scopes = [\"mcp:tools\", \"docs:read\"]\nresource_name = \"From the file\"\n",
            kc.discovery_url()
        ),
    )
    .unwrap();
    let log = temp_file("toml.log");
    let (mut child, client) = start_ready(
        &[
            ("MCP_CONFIG", config.display().to_string()),
            ("MCP_BIND", format!("127.0.0.1:{port}")),
        ],
        &log,
        port,
    )
    .await;
    let doc: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{port}/.well-known/oauth-protected-resource"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource_name"], "From the file");
    assert_eq!(doc["scopes_supported"], json!(["mcp:tools", "docs:read"]));
    terminate(&mut child);
    let _ = std::fs::remove_file(config);
    let _ = std::fs::remove_file(log);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_exits_0_for_a_live_server_and_1_otherwise() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let port = free_port();
    let log = temp_file("hc.log");
    let (mut child, _client) = start_ready(
        &[
            ("MCP_BIND", format!("127.0.0.1:{port}")),
            ("MCP_SERVER_URL", "https://mcp.localhost".into()),
            ("KC_ISSUER", ISSUER.into()),
            ("KC_DISCOVERY_URL", kc.discovery_url()),
        ],
        &log,
        port,
    )
    .await;
    let live = Command::new(BIN)
        .arg("healthcheck")
        .env_clear()
        .env("MCP_BIND", format!("0.0.0.0:{port}"))
        .status()
        .unwrap();
    assert_eq!(live.code(), Some(0));
    terminate(&mut child);
    let dead = Command::new(BIN)
        .arg("healthcheck")
        .env_clear()
        .env("MCP_BIND", format!("0.0.0.0:{port}"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(dead.code(), Some(1));
    let usage = Command::new(BIN)
        .arg("frobnicate")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(usage.code(), Some(2));
    // `--version` names the commit and the build date; `serve --help` the settings.
    let version = Command::new(BIN).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains(env!("CARGO_PKG_VERSION"))
            && version.contains("commit ")
            && version.contains(" GMT)"),
        "{version}"
    );
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Required settings") && help.contains("KC_ISSUER"),
        "{help}"
    );
    // A URL that is no http(s) URL is a usage error naming the option, not an unhealthy server.
    for bad in ["foo", "ftp://127.0.0.1/healthz"] {
        let wrong = Command::new(BIN)
            .args(["healthcheck", "--url", bad])
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(wrong.status.code(), Some(2), "{bad}");
        let said = String::from_utf8_lossy(&wrong.stderr);
        assert!(said.contains("--url") && said.contains(bad), "{said}");
    }
    let _ = std::fs::remove_file(log);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_rebuilds_the_index_without_stopping_the_server() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let dir = crate::support::peers::TempDir::new("sighup");
    std::fs::write(dir.0.join("a.md"), "# First\n\nfirst document\n").unwrap();
    let port = free_port();
    let log = temp_file("sighup.log");
    let (mut child, client) = start_ready(
        &serve_env(
            port,
            &kc,
            &[
                ("MCP_CORPUS", dir.0.to_string_lossy().into_owned()),
                ("MCP_CORPUS_WATCH", "false".into()),
                // A watcher left on by mistake would rebuild 10 ms after the write below.
                ("MCP_CORPUS_DEBOUNCE_MS", "10".into()),
            ],
        ),
        &log,
        port,
    )
    .await;
    let documents = || documents(&client, port);
    assert_eq!(documents().await, "1");
    std::fs::write(dir.0.join("b.md"), "# Second\n\nsecond document\n").unwrap();
    // A real sleep: what is tested is that nothing happens, and only time can show that.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        documents().await,
        "1",
        "without the watcher nothing changes by itself"
    );
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let mut seen = String::new();
    let reread = async || {
        seen = documents().await;
        seen == "2"
    };
    wait::comes_true(Duration::from_secs(5), reread).await;
    assert_eq!(seen, "2", "{}", std::fs::read_to_string(&log).unwrap());
    assert_eq!(terminate(&mut child), 0, "the server survived SIGHUP");
    let _ = std::fs::remove_file(log);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_reuses_the_index_on_disk_and_reads_what_changed_while_stopped() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let dir = crate::support::peers::TempDir::new("reuse");
    let (corpus, index) = (dir.0.join("corpus"), dir.0.join("index"));
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("a.md"), "# First\n\nfirst document\n").unwrap();
    let env = |port| {
        serve_env(
            port,
            &kc,
            &[
                ("MCP_CORPUS", corpus.to_string_lossy().into_owned()),
                ("MCP_INDEX_DIR", index.to_string_lossy().into_owned()),
                ("MCP_LOG_FORMAT", "json".into()),
            ],
        )
    };
    let folders = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&index)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("index-"))
            .collect();
        names.sort();
        names
    };
    let indexed = |log: &PathBuf| -> String {
        std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .find(|l| l.contains("corpus indexed"))
            .unwrap_or_default()
            .to_owned()
    };

    let port = free_port();
    let log = temp_file("reuse-1.log");
    let (mut child, _) = start_ready(&env(port), &log, port).await;
    assert!(indexed(&log).contains("\"built\""), "{}", indexed(&log));
    assert_eq!(terminate(&mut child), 0);
    let made = folders();
    assert_eq!(
        made.len(),
        1,
        "the index stays on disk after a stop: {made:?}"
    );

    // Changed while the server was stopped.
    std::fs::write(corpus.join("b.md"), "# Second\n\nsecond document\n").unwrap();
    let port = free_port();
    let log2 = temp_file("reuse-2.log");
    let (mut child, client) = start_ready(&env(port), &log2, port).await;
    assert!(indexed(&log2).contains("\"reused\""), "{}", indexed(&log2));
    assert_eq!(folders(), made, "reused in place, not rebuilt");
    assert_eq!(
        documents(&client, port).await,
        "2",
        "the file added while stopped is indexed"
    );
    assert_eq!(terminate(&mut child), 0);
    let _ = std::fs::remove_file(log);
    let _ = std::fs::remove_file(log2);
}
