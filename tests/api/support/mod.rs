//! The test harness: the real router on 127.0.0.1:0 in front of a fake Keycloak.

pub(crate) mod corpus;
pub(crate) mod edge;
pub(crate) mod keycloak;
pub(crate) mod mcp;
pub(crate) mod peers;
pub(crate) mod tokens;
pub(crate) mod wait;

use std::collections::HashMap;
use std::time::Duration;

use mcp_resource_server::app::{AppState, serve};
use mcp_resource_server::config::{RawConfig, Settings};
use serde_json::json;

pub(crate) use keycloak::{FakeKeycloak, ISSUER, Mode};
pub(crate) use tokens::{Keys, RESOURCE, Signer, claims, header, mint, token, token_with};

/// What tests ask of `check`'s report: the lines they look at, by the check's name.
pub(crate) trait ReportLines {
    /// The names of the checks that failed, in order.
    fn failed(&self) -> Vec<&str>;
    /// The line for a check, if it ran.
    fn line(&self, check: &str) -> Option<&mcp_resource_server::check::Line>;
}

impl ReportLines for mcp_resource_server::check::Report {
    fn failed(&self) -> Vec<&str> {
        use mcp_resource_server::check::Status;
        let failed = self.lines.iter().filter(|l| l.status == Status::Fail);
        failed.map(|l| l.check.as_ref()).collect()
    }

    fn line(&self, check: &str) -> Option<&mcp_resource_server::check::Line> {
        self.lines.iter().find(|l| l.check == check)
    }
}

/// A running server and a client for it.
pub(crate) struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    /// A server already running elsewhere (the real binary), reached at `base`.
    pub(crate) fn at(base: String, client: reqwest::Client) -> Self {
        TestServer {
            base,
            client,
            stop: None,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The settings every test starts from: public names as in the compose stack, Keycloak reached
/// at its internal address.
pub(crate) fn base_env(kc: &FakeKeycloak) -> HashMap<String, String> {
    [
        ("MCP_SERVER_URL", "https://mcp.localhost".to_owned()),
        ("KC_ISSUER", ISSUER.to_owned()),
        ("KC_DISCOVERY_URL", kc.discovery_url()),
        ("MCP_LOG_FORMAT", "pretty".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub(crate) fn settings(env: &HashMap<String, String>) -> Settings {
    let raw = RawConfig::load_from(env.clone()).expect("raw config");
    Settings::from_raw(&raw).expect("valid settings")
}

/// The built-in sample, indexed once for all in-process servers.
pub(crate) fn sample_corpus() -> std::sync::Arc<mcp_resource_server::tools::Corpus> {
    static SAMPLE: std::sync::OnceLock<std::sync::Arc<mcp_resource_server::tools::Corpus>> =
        std::sync::OnceLock::new();
    SAMPLE
        .get_or_init(|| std::sync::Arc::new(mcp_resource_server::tools::Corpus::sample()))
        .clone()
}

impl TestServer {
    /// Starts the server with the base settings changed by `overrides`; does not wait for keys.
    pub(crate) async fn start(kc: &FakeKeycloak, overrides: &[(&str, &str)]) -> Self {
        let mut env = base_env(kc);
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        Self::start_with(settings(&env)).await
    }

    pub(crate) async fn start_with(settings: Settings) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, settings).await
    }

    /// Serves on a listener bound beforehand, for settings that must name its port.
    pub(crate) async fn start_on(listener: tokio::net::TcpListener, settings: Settings) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = if settings.corpus.folder.is_none() {
            AppState::with_corpus(settings, sample_corpus())
        } else {
            AppState::new(settings).expect("the test corpus indexes")
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            serve(listener, state, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let client = mcp_resource_server::auth::outbound::http_client(Duration::from_secs(10));
        TestServer {
            base,
            client,
            stop: Some(stop),
        }
    }

    /// A handle on an already running server (it does not stop it when dropped).
    pub(crate) fn detached(base: &str) -> Self {
        TestServer {
            base: base.to_owned(),
            client: reqwest::Client::new(),
            stop: None,
        }
    }

    /// Starts the server and waits until it has loaded keys.
    pub(crate) async fn ready(kc: &FakeKeycloak, overrides: &[(&str, &str)]) -> Self {
        let server = Self::start(kc, overrides).await;
        server.wait_ready().await;
        server
    }

    pub(crate) async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.base);
        assert!(
            wait::answers(&self.client, &url, Duration::from_secs(10)).await,
            "the server did not become ready within 10 s"
        );
    }

    /// `/readyz` once the server's first fetch of the keys has ended (for a server whose fetch
    /// fails): its status and body.
    pub(crate) async fn readyz_after_first_fetch(&self) -> (reqwest::StatusCode, String) {
        let ended = async || {
            let ready = self.get("/readyz").await;
            let status = ready.status();
            let body = ready.text().await.unwrap();
            (!body.contains("not loaded yet")).then_some((status, body))
        };
        wait::until(Duration::from_secs(10), ended)
            .await
            .expect("the first fetch of the keys did not end within 10 s")
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// `GET path`, read as JSON.
    pub(crate) async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `POST /mcp` with an `initialize` request and, if given, a bearer token.
    pub(crate) async fn mcp(&self, token: Option<&str>) -> reqwest::Response {
        let mut req = self.initialize();
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// An `initialize` POST to `/mcp` without credentials, to be completed by the caller.
    pub(crate) fn initialize(&self) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}/mcp", self.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": { "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } }
            }))
    }

    pub(crate) async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }

    /// The value of one sample, e.g. `mcp_token_rejections_total{reason="expired"}`; 0 if absent.
    pub(crate) async fn metric(&self, sample: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(sample)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0.0)
    }

    /// Every `mcp_token_rejections_total` sample, by reason.
    pub(crate) async fn rejection_counts(&self) -> HashMap<String, f64> {
        let prefix = "mcp_token_rejections_total{reason=\"";
        self.metrics()
            .await
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|l| l.split_once("\"} "))
            .map(|(reason, v)| (reason.to_owned(), v.trim().parse().unwrap()))
            .collect()
    }

    /// The server's verdict on `token`: `None` when it lets the token in, otherwise the one
    /// reason its refusal was counted under.
    pub(crate) async fn verdict(&self, token: &str) -> Option<String> {
        let before = self.rejection_counts().await;
        let status = self.mcp(Some(token)).await.status();
        let after = self.rejection_counts().await;
        let counted: Vec<&String> = after
            .iter()
            .filter(|(reason, n)| before.get(*reason) != Some(n))
            .map(|(reason, _)| reason)
            .collect();
        match status.as_u16() {
            200 => {
                assert!(counted.is_empty(), "let in, yet counted as {counted:?}");
                None
            }
            401 | 403 => {
                assert_eq!(counted.len(), 1, "HTTP {status} counted as {counted:?}");
                Some(counted[0].clone())
            }
            other => panic!("HTTP {other} is neither a verdict nor a refusal"),
        }
    }

    pub(crate) async fn rejections(&self, reason: &str) -> f64 {
        self.metric(&format!(
            "mcp_token_rejections_total{{reason=\"{reason}\"}}"
        ))
        .await
    }
}

/// A fake Keycloak with the default keys and a ready server in front of it.
pub(crate) struct Stack {
    pub keys: Keys,
    pub kc: FakeKeycloak,
    pub server: TestServer,
}

impl Stack {
    pub(crate) async fn start() -> Self {
        Self::with(&[]).await
    }

    pub(crate) async fn with(overrides: &[(&str, &str)]) -> Self {
        let keys = Keys::new();
        let kc = FakeKeycloak::start(&keys).await;
        let server = TestServer::ready(&kc, overrides).await;
        Stack { keys, kc, server }
    }

    /// Asserts that `token` gets 401 `invalid_token` and is counted under `reason`.
    pub(crate) async fn assert_refused(&self, token: &str, reason: &str) {
        let before = self.server.rejections(reason).await;
        let response = self.server.mcp(Some(token)).await;
        assert_eq!(response.status(), 401, "expected 401 for a {reason} token");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "challenge: {challenge}"
        );
        assert!(challenge.contains(
            "resource_metadata=\"https://mcp.localhost/.well-known/oauth-protected-resource/mcp\""
        ));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(
            self.server.rejections(reason).await,
            before + 1.0,
            "rejection not counted as {reason}"
        );
    }

    /// Asserts that `token` is let in.
    pub(crate) async fn assert_accepted(&self, token: &str) {
        let response = self.server.mcp(Some(token)).await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
    }
}
