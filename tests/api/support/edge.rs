//! The stack's edge without Docker: the Keycloak look-alike (npm `oidc-provider`) and the real
//! Traefik binary running the repository's `traefik/` configuration with a certificate made by
//! `traefik/generate-certs.sh`, in front of an in-process server. Clients reach
//! `https://mcp.localhost:<port>` and `https://auth.localhost:<port>` as a browser would.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use super::peers::{TempDir, clients_dir, free_port, node, traefik};
use super::{TestServer, settings};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Everything running, and a client that trusts the local CA and resolves both names to Traefik.
pub(crate) struct Edge {
    /// Traefik's HTTPS and HTTP ports.
    pub https: u16,
    pub http: u16,
    pub issuer: String,
    pub resource: String,
    /// The local CA that signed Traefik's certificate.
    pub ca_file: PathBuf,
    pub client: reqwest::Client,
    /// Kept so the server runs as long as the edge does.
    _server: TestServer,
    _idp: tokio::process::Child,
    _traefik: tokio::process::Child,
    _dir: TempDir,
}

impl Edge {
    pub(crate) async fn start() -> Self {
        let dir = TempDir::new("edge");
        let certs = dir.0.join("certs");
        let made = std::process::Command::new("sh")
            .arg(repo("traefik/generate-certs.sh"))
            .arg(&certs)
            .output()
            .expect("run traefik/generate-certs.sh");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );

        let (https, http, idp_port) = (free_port(), free_port(), free_port());
        let issuer = format!("https://auth.localhost:{https}/realms/mcp");
        let resource = format!("https://mcp.localhost:{https}/mcp");
        let idp = start_idp(idp_port, &issuer, &resource, &dir.0.join("idp.log")).await;

        let env = [
            ("MCP_SERVER_URL", format!("https://mcp.localhost:{https}")),
            ("KC_ISSUER", issuer.clone()),
            (
                "KC_DISCOVERY_URL",
                format!("http://127.0.0.1:{idp_port}/realms/mcp/.well-known/openid-configuration"),
            ),
            ("MCP_LOG_FORMAT", "pretty".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let server = TestServer::start_with(settings(&env)).await;
        server.wait_ready().await;

        let traefik = start_traefik(&dir.0, &certs, https, http, &server.base, idp_port);
        let ca = std::fs::read(certs.join("local-ca.crt")).unwrap();
        let at: SocketAddr = format!("127.0.0.1:{https}").parse().unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .resolve("mcp.localhost", at)
            .resolve("auth.localhost", at)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let edge = Edge {
            https,
            http,
            issuer,
            resource,
            ca_file: certs.join("local-ca.crt"),
            client,
            _server: server,
            _idp: idp,
            _traefik: traefik,
            _dir: dir,
        };
        edge.wait_routing().await;
        edge
    }

    pub(crate) fn mcp_url(&self, path: &str) -> String {
        format!("https://mcp.localhost:{}{path}", self.https)
    }

    pub(crate) fn auth_url(&self, path: &str) -> String {
        format!("https://auth.localhost:{}{path}", self.https)
    }

    /// What the Keycloak look-alike wrote to standard error, for failure messages.
    pub(crate) fn idp_log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("idp.log")).unwrap_or_default()
    }

    /// `GET url` through Traefik, read as JSON.
    pub(crate) async fn get_json(&self, url: &str) -> Value {
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A token for the MCP resource from the look-alike's token endpoint, through Traefik, with
    /// the client credentials of `mcp-gate`.
    pub(crate) async fn gate_token(&self) -> String {
        let body: Value = self
            .client
            .post(self.auth_url("/realms/mcp/protocol/openid-connect/token"))
            .basic_auth("mcp-gate", Some("gate-secret"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "mcp:tools"),
                ("resource", self.resource.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {body}"))
            .to_owned()
    }

    /// Runs a client script of `tests/clients/` against this edge (trusting its CA) for at most
    /// `limit`, and returns the JSON report it prints last and what it wrote to standard error;
    /// panics with both, and the provider's log, if it fails.
    pub(crate) async fn run_client(
        &self,
        script: &str,
        args: &[&OsStr],
        limit: Duration,
    ) -> (Value, String) {
        let child = tokio::process::Command::new(node())
            .arg(clients_dir().join(script))
            .args(args)
            .env("NODE_EXTRA_CA_CERTS", &self.ca_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let out = tokio::time::timeout(limit, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{script} {args:?} took longer than {limit:?}"))
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            // On the test's standard output, which a runner shows first, so the reason is not
            // lost among the logs that follow.
            let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            println!(
                "{script} failed; the end of what it said:\n{}",
                tail.join("\n")
            );
        }
        assert!(
            out.status.success(),
            "{script} {args:?}: {stdout}\n{stderr}\nprovider log:\n{}",
            self.idp_log()
        );
        let report = stdout.lines().last().unwrap_or_default();
        let report = serde_json::from_str(report)
            .unwrap_or_else(|e| panic!("{script} printed no JSON report ({e}): {stdout}"));
        (report, stderr)
    }

    /// Waits until Traefik serves both hosts over TLS. Traefik, the server and the provider
    /// start together, beside whatever else the suite runs on the same CPUs (a browser, other
    /// stacks), so the wait is generous; a failure says what each host last answered.
    async fn wait_routing(&self) {
        let answer = |r: Result<reqwest::Response, reqwest::Error>| match r {
            Ok(r) => r.status().to_string(),
            Err(e) => e.without_url().to_string(),
        };
        let mut last = (String::new(), String::new());
        let routed = async || {
            let mcp = self.client.get(self.mcp_url("/healthz")).send().await;
            let auth = self
                .client
                .get(self.auth_url("/realms/mcp/.well-known/openid-configuration"))
                .send()
                .await;
            let both =
                matches!((&mcp, &auth), (Ok(a), Ok(b)) if a.status() == 200 && b.status() == 200);
            last = (answer(mcp), answer(auth));
            both
        };
        if !super::wait::comes_true(ROUTING_WAIT, routed).await {
            panic!(
                "traefik did not serve mcp.localhost and auth.localhost within {} s: mcp {}, auth {}\nprovider log:\n{}",
                ROUTING_WAIT.as_secs(),
                last.0,
                last.1,
                self.idp_log()
            );
        }
    }
}

/// How long a new edge may take to route both hosts.
const ROUTING_WAIT: Duration = Duration::from_secs(30);

async fn start_idp(port: u16, issuer: &str, resource: &str, log: &Path) -> tokio::process::Child {
    let mut child = tokio::process::Command::new(node())
        .arg(clients_dir().join("keycloak_lookalike.mjs"))
        .env("PORT", port.to_string())
        .env("ISSUER", issuer)
        .env("RESOURCE", resource)
        .env("GATE_SECRET", "gate-secret")
        .env("DPOP_DEMO_SECRET", "dpop-demo-secret")
        .env("REALM_FILE", repo("keycloak/realm-mcp.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("start the Keycloak look-alike");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
    assert!(
        matches!(ready, Ok(Ok(Some(ref l))) if l == "ready"),
        "the Keycloak look-alike did not start: {ready:?}"
    );
    // Keep reading: the provider prints notices, and a closed pipe would kill it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Runs Traefik with `traefik/traefik.yml`, changed only where a test must: its listen
/// addresses, the path of `traefik/dynamic.yml`, and no ping entry point on a fixed port.
fn start_traefik(
    dir: &Path,
    certs: &Path,
    https: u16,
    http: u16,
    upstream: &str,
    idp_port: u16,
) -> tokio::process::Child {
    let text = std::fs::read_to_string(repo("traefik/traefik.yml")).unwrap();
    let mut config: Value = serde_norway::from_str(&text).unwrap();
    config["entryPoints"]["web"]["address"] = format!("127.0.0.1:{http}").into();
    config["entryPoints"]["websecure"]["address"] = format!("127.0.0.1:{https}").into();
    config["providers"]["file"]["filename"] =
        repo("traefik/dynamic.yml").display().to_string().into();
    config.as_object_mut().unwrap().remove("ping");
    config["log"]["level"] = "ERROR".into();
    config.as_object_mut().unwrap().remove("accessLog");
    let file = dir.join("traefik.yml");
    std::fs::write(&file, serde_norway::to_string(&config).unwrap()).unwrap();
    tokio::process::Command::new(traefik())
        .arg(format!("--configFile={}", file.display()))
        .env("MCP_HOST", "mcp.localhost")
        .env("AUTH_HOST", "auth.localhost")
        .env("MCP_UPSTREAM", upstream)
        .env("KEYCLOAK_UPSTREAM", format!("http://127.0.0.1:{idp_port}"))
        .env("TLS_CERT_FILE", certs.join("local.crt"))
        .env("TLS_KEY_FILE", certs.join("local.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start traefik")
}
