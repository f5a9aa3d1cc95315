//! `check`: the staging gate. It reads the same configuration as `serve` and proves, one line per
//! assertion, that Keycloak and this server agree: (A) discovery and issuer, (B) a real token's
//! signature, issuer, audience, type, lifetime and scopes, (C) the running server's challenge and
//! protected-resource metadata (RFC 9728), (D) an authenticated `tools/list` with the ChatGPT
//! contract. Each line is PASS, FAIL or SKIP, shows the actual value against the expected one,
//! and on FAIL names the setting to change. The exit code is 0 only when nothing FAILs
//! (docs/validation.md).

mod dpop;
mod issuer;
mod obtain;
mod server;
mod token;

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Settings;

/// What `check` was asked to prove beyond the configuration itself.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// An access token to inspect (gate B) and to call the server with (gate D).
    pub token: Option<String>,
    /// Client credentials to get such a token from the token endpoint.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The public MCP URL to probe (gates C and D), e.g. `https://mcp.example.com/mcp`.
    pub url: Option<String>,
    /// Get a DPoP-bound token with a key of check's own and use it with DPoP proofs (RFC 9449).
    pub dpop: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// One assertion's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// A (authorization server), B (token), C (served metadata), D (tools call).
    pub gate: char,
    pub check: Cow<'static, str>,
    pub status: Status,
    pub actual: String,
    pub expected: String,
    /// What to change, naming the setting; empty on PASS.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
    /// On a token line that fails: the reason the server refuses the token for, as its
    /// `mcp_token_rejections_total` label says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Every line, in order.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        gate: char,
        check: impl Into<Cow<'static, str>>,
        status: Status,
        actual: impl Into<String>,
        expected: impl Into<String>,
        hint: impl Into<String>,
        reason: Option<&'static str>,
    ) {
        let hint = if status == Status::Pass {
            String::new()
        } else {
            hint.into()
        };
        self.lines.push(Line {
            gate,
            check: check.into(),
            status,
            actual: actual.into(),
            expected: expected.into(),
            hint,
            reason,
        });
    }

    fn pass(
        &mut self,
        gate: char,
        check: impl Into<Cow<'static, str>>,
        actual: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.push(gate, check, Status::Pass, actual, expected, "", None);
    }

    fn fail(
        &mut self,
        gate: char,
        check: impl Into<Cow<'static, str>>,
        actual: impl Into<String>,
        expected: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(gate, check, Status::Fail, actual, expected, hint, None);
    }

    fn skip(&mut self, gate: char, check: impl Into<Cow<'static, str>>, why: impl Into<String>) {
        self.push(gate, check, Status::Skip, "", "", why, None);
    }

    /// PASS when `ok`, else FAIL with `hint`.
    fn expect(
        &mut self,
        gate: char,
        check: impl Into<Cow<'static, str>>,
        ok: bool,
        actual: impl Into<String>,
        expected: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let status = if ok { Status::Pass } else { Status::Fail };
        self.push(gate, check, status, actual, expected, hint, None);
    }

    /// Whether nothing failed.
    pub fn ok(&self) -> bool {
        self.lines.iter().all(|l| l.status != Status::Fail)
    }

    /// One line per assertion, hints indented below failures and skips.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            let status = match l.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            out.push_str(&format!("{status}  {}  {}", l.gate, l.check));
            match l.status {
                Status::Fail => {
                    out.push_str(&format!(": got {}, expected {}", l.actual, l.expected));
                    if let Some(reason) = l.reason {
                        out.push_str(&format!(" (the server refuses it: {reason})"));
                    }
                }
                _ if !l.actual.is_empty() => out.push_str(&format!(": {}", l.actual)),
                _ => {}
            }
            out.push('\n');
            if !l.hint.is_empty() {
                out.push_str(&format!("      -> {}\n", l.hint));
            }
        }
        let failed = self
            .lines
            .iter()
            .filter(|l| l.status == Status::Fail)
            .count();
        out.push_str(&if failed == 0 {
            "ok: nothing failed\n".to_owned()
        } else {
            format!("{failed} check(s) failed\n")
        });
        out
    }

    pub fn json(&self) -> Value {
        json!({ "ok": self.ok(), "checks": self.lines })
    }
}

/// Runs every gate that the arguments allow, with `client` for all HTTP requests.
pub async fn run(settings: &Settings, args: &Args, client: &reqwest::Client) -> Report {
    let mut report = Report::default();
    let found = issuer::check(settings, client, &mut report).await;
    let key = match args.dpop.then(dpop::ProofKey::new) {
        Some(Ok(key)) => Some(key),
        Some(Err(e)) => {
            report.fail(
                'B',
                "DPoP key made",
                e.to_string(),
                "a P-256 key",
                "this machine cannot make keys",
            );
            return report;
        }
        None => None,
    };
    let token = obtain::token(
        settings,
        args,
        found.as_ref(),
        key.as_ref(),
        client,
        &mut report,
    )
    .await;
    match (&token, &found) {
        (Some(t), Some(f)) => token::check(settings, t, f, key.as_ref(), &mut report).await,
        (Some(_), None) => report.skip(
            'B',
            "token checks",
            "the signing keys could not be read (gate A)",
        ),
        (None, _) => report.skip(
            'B',
            "token checks",
            "pass --token, or --client-id and --client-secret, to check a real token",
        ),
    }
    match &args.url {
        Some(url) => {
            let call = server::GateCaller {
                token: token.as_deref(),
                key: key.as_ref(),
            };
            server::check(settings, url, call, client, &mut report).await
        }
        None => report.skip(
            'C',
            "served metadata and challenge",
            "pass --url with the public MCP URL, e.g. https://mcp.example.com/mcp",
        ),
    }
    report
}

/// Largest response body `check` reads.
const MAX_BODY: usize = 1 << 20;

/// Reads a response body as JSON, at most [`MAX_BODY`] bytes; `Null` when it is not JSON.
async fn json_body(mut response: reqwest::Response) -> Value {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_BODY {
            return Value::Null;
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

/// A request error with its causes (connection refused, certificate unknown, ...).
fn describe(e: reqwest::Error) -> String {
    crate::auth::outbound::error_chain(&e)
}

/// The HTTP client `check` uses: the server's own, with redirects off.
pub fn client(settings: &Settings) -> reqwest::Client {
    crate::auth::outbound::http_client(settings.jwks.http_timeout.max(Duration::from_secs(5)))
}
