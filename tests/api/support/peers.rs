//! Real MCP peers no one here wrote: the official Python and TypeScript SDK clients, the MCP
//! conformance suite and the Traefik binary, installed into `tests/clients/` by `scripts/test`.
//! A missing peer fails the test with the command that installs it; it is never skipped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

/// `tests/clients/`, where the peers and their scripts live.
pub(crate) fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// A peer's executable, asserting that it is installed.
pub(crate) fn tool(relative: &str) -> PathBuf {
    let path = clients_dir().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs the test peers into tests/clients)",
        path.display()
    );
    path
}

pub(crate) fn python() -> PathBuf {
    tool(".venv/bin/python")
}

pub(crate) fn node() -> PathBuf {
    tool("node_modules/.bin/node")
}

pub(crate) fn traefik() -> PathBuf {
    tool(".venv/bin/traefik")
}

/// Runs a peer to completion (at most `limit`) and returns its standard output; panics with
/// both outputs if it fails.
pub(crate) async fn run(
    program: &PathBuf,
    args: &[&str],
    cwd: &std::path::Path,
    limit: Duration,
) -> String {
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} took longer than {limit:?}", program.display()))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs a client script that prints one JSON report as its last line.
pub(crate) async fn report(program: &PathBuf, args: &[&str]) -> Value {
    let out = run(program, args, &clients_dir(), Duration::from_secs(60)).await;
    let last = out.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not a JSON report ({e}): {out}"))
}

/// A free loopback port for a peer that must be told its port up front.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Traefik binary in front of the server, adding `Authorization: Bearer <token>` to every
/// request: the token-injecting proxy the conformance suite (which sends no token) needs.
pub(crate) struct InjectingProxy {
    pub port: u16,
    _child: tokio::process::Child,
    _dir: TempDir,
}

impl InjectingProxy {
    /// Listens on `port` (from [`free_port`]) and forwards to `upstream`.
    pub(crate) async fn start(port: u16, upstream: &str, token: &str) -> Self {
        let dir = TempDir::new("traefik");
        let dynamic = dir.0.join("dynamic.yml");
        std::fs::write(
            &dynamic,
            format!(
                "http:\n  routers:\n    mcp:\n      rule: \"PathPrefix(`/`)\"\n      entryPoints: [web]\n      middlewares: [token]\n      service: mcp\n  middlewares:\n    token:\n      headers:\n        customRequestHeaders:\n          Authorization: \"Bearer {token}\"\n  services:\n    mcp:\n      loadBalancer:\n        servers:\n          - url: \"{upstream}\"\n"
            ),
        )
        .unwrap();
        let child = tokio::process::Command::new(traefik())
            .arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
            .arg(format!("--providers.file.filename={}", dynamic.display()))
            .arg("--log.level=ERROR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start traefik");
        let proxy = InjectingProxy {
            port,
            _child: child,
            _dir: dir,
        };
        proxy.wait_routing().await;
        proxy
    }

    /// Waits until Traefik has loaded the route and the server answers through it.
    async fn wait_routing(&self) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        assert!(
            super::wait::answers(&client, &url, Duration::from_secs(10)).await,
            "traefik did not route to the server within 10 s"
        );
    }
}

/// A temporary folder removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(prefix: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mcp-rs-{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
