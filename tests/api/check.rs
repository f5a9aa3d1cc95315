//! `check`, the staging gate, against the in-process server and fake Keycloak: every gate passes
//! when issuer, audience and URL line up, and the right line fails when one does not. The real
//! OIDC provider behind Traefik runs it too (`edge.rs`).

use std::collections::HashMap;

use serde_json::json;

use mcp_resource_server::check::{self, Args, Report, Status};

use crate::support::tokens::*;
use crate::support::*;

/// A fake Keycloak and a server whose public URL is its real loopback address, so `--url` can
/// be both the URL clients use and the resource the metadata names.
struct Gate {
    keys: Keys,
    _kc: FakeKeycloak,
    env: HashMap<String, String>,
    url: String,
    _server: TestServer,
}

impl Gate {
    async fn start() -> Self {
        let keys = Keys::new();
        let kc = FakeKeycloak::start(&keys).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let mut env = base_env(&kc);
        env.insert("MCP_SERVER_URL".into(), origin.clone());
        // The fake Keycloak's tokens name the public resource as their audience.
        env.insert("MCP_AUDIENCE".into(), RESOURCE.into());
        let server = TestServer::start_on(listener, settings(&env)).await;
        server.wait_ready().await;
        Gate {
            keys,
            _kc: kc,
            env,
            url: format!("{origin}/mcp"),
            _server: server,
        }
    }

    /// Runs `check` with the server's settings changed by `overrides`.
    async fn check(&self, token: Option<String>, overrides: &[(&str, &str)]) -> Report {
        let mut env = self.env.clone();
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        let settings = settings(&env);
        let args = Args {
            token,
            url: Some(self.url.clone()),
            ..Args::default()
        };
        check::run(&settings, &args, &check::client(&settings)).await
    }
}

/// `check`'s verdict on the token it was given: `None` when no token line fails, otherwise the
/// reason the failing line names.
fn check_verdict(report: &Report) -> Option<String> {
    let failed: Vec<_> = report
        .lines
        .iter()
        .filter(|l| l.gate == 'B' && l.status == Status::Fail)
        .collect();
    assert!(failed.len() <= 1, "{}", report.text());
    failed.first().map(|l| {
        l.reason
            .unwrap_or_else(|| panic!("a failing token line names no reason:\n{}", report.text()))
            .to_owned()
    })
}

fn status(report: &Report, check: &str) -> Status {
    report
        .line(check)
        .unwrap_or_else(|| panic!("no line `{check}`:\n{}", report.text()))
        .status
}

#[tokio::test]
async fn every_gate_passes_when_issuer_audience_and_url_line_up() {
    let g = Gate::start().await;
    let report = g.check(Some(token(&g.keys)), &[]).await;
    assert!(report.ok(), "{}", report.text());
    for line in [
        "discovery reachable",
        "issuer equals KC_ISSUER",
        "PKCE S256 offered",
        "JWKS reachable",
        "signing key published",
        "clock agrees with the JWKS server",
        "signature verifies",
        "iss equals KC_ISSUER",
        "aud contains MCP_AUDIENCE",
        "typ is an access token",
        "exp and nbf admit now",
        "scope holds MCP_REQUIRED_SCOPES",
        "challenge names the metadata",
        "metadata at the resource's well-known path",
        "metadata at the root well-known path",
        "tools/list",
        "search follows the ChatGPT contract",
        "fetch follows the ChatGPT contract",
    ] {
        assert_eq!(
            status(&report, line),
            Status::Pass,
            "{line}:\n{}",
            report.text()
        );
    }
    assert_eq!(status(&report, "client registration"), Status::Skip);
}

#[tokio::test]
async fn a_token_for_another_audience_fails_the_audience_line_showing_both_values() {
    let g = Gate::start().await;
    let t = token_with(&g.keys, |c| c["aud"] = json!("account"));
    let report = g.check(Some(t), &[]).await;
    assert!(!report.ok());
    let line = report.line("aud contains MCP_AUDIENCE").unwrap();
    assert_eq!(line.status, Status::Fail);
    assert_eq!(line.actual, "[\"account\"]");
    assert!(line.expected.contains(RESOURCE), "{}", line.expected);
    assert!(line.hint.contains("Audience mapper"), "{}", line.hint);
    assert_eq!(
        status(&report, "tools/list"),
        Status::Fail,
        "the server refuses it too"
    );
    assert_eq!(status(&report, "signature verifies"), Status::Pass);
}

#[tokio::test]
async fn a_different_issuer_fails_the_issuer_lines_and_names_kc_issuer() {
    let g = Gate::start().await;
    let wrong = "https://auth.localhost/realms/other";
    let report = g.check(Some(token(&g.keys)), &[("KC_ISSUER", wrong)]).await;
    let line = report.line("issuer equals KC_ISSUER").unwrap();
    assert_eq!(line.status, Status::Fail, "{}", report.text());
    assert_eq!(line.expected, format!("\"{wrong}\""));
    assert!(line.hint.contains("KC_ISSUER"));
    assert_eq!(status(&report, "iss equals KC_ISSUER"), Status::Fail);
    let text = report.text();
    assert!(
        text.contains(
            "FAIL  A  issuer equals KC_ISSUER: got \"https://auth.localhost/realms/mcp\""
        ),
        "{text}"
    );
}

#[tokio::test]
async fn without_a_token_or_url_the_later_gates_are_skipped_not_passed() {
    let g = Gate::start().await;
    let mut env = g.env.clone();
    env.remove("MCP_SERVER_URL");
    env.insert("MCP_SERVER_URL".into(), "https://mcp.localhost".into());
    let settings = settings(&env);
    let report = check::run(&settings, &Args::default(), &check::client(&settings)).await;
    assert!(report.ok(), "{}", report.text());
    assert_eq!(status(&report, "token checks"), Status::Skip);
    assert_eq!(
        status(&report, "served metadata and challenge"),
        Status::Skip
    );
    let json = report.json();
    assert_eq!(json["ok"], true);
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "SKIP")
    );
}

/// Runs the real binary's `check` with `env` and `args`; returns the exit code and stdout.
pub(crate) async fn run_binary(env: &HashMap<String, String>, args: &[&str]) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-resource-server"))
        .arg("check")
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[tokio::test]
async fn the_binary_exits_0_when_nothing_fails_and_1_with_a_json_report_when_something_does() {
    let g = Gate::start().await;
    let t = token(&g.keys);
    let (code, text) = run_binary(&g.env, &["--url", &g.url, "--token", &t]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("PASS  B  aud contains MCP_AUDIENCE"),
        "{text}"
    );
    assert!(text.ends_with("ok: nothing failed\n"), "{text}");

    let mut env = g.env.clone();
    env.insert(
        "MCP_AUDIENCE".into(),
        "https://elsewhere.example/mcp".into(),
    );
    env.insert("MCP_CHECK_TOKEN".into(), t);
    let (code, out) = run_binary(&env, &["--url", &g.url, "--format", "json"]).await;
    assert_eq!(code, 1, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], false);
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"aud contains MCP_AUDIENCE"), "{failed:?}");
    assert!(
        !out.contains(env["MCP_CHECK_TOKEN"].as_str()),
        "the token is never printed"
    );
}

#[tokio::test]
async fn check_and_the_server_give_every_token_of_the_attack_corpus_the_same_verdict() {
    let g = Gate::start().await;
    let server = TestServer::detached(g.url.trim_end_matches("/mcp"));
    let settings = settings(&g.env);
    let client = check::client(&settings);
    for attack in crate::support::corpus::attacks(&g.keys) {
        let args = Args {
            token: Some(attack.token.clone()),
            ..Args::default()
        };
        let report = check::run(&settings, &args, &client).await;
        let served = server.verdict(&attack.token).await;
        assert_eq!(
            check_verdict(&report),
            served,
            "{}: check and the server disagree:\n{}",
            attack.name,
            report.text()
        );
        assert_eq!(served.as_deref(), attack.verdict, "{}", attack.name);
    }
}

#[tokio::test]
async fn a_refused_token_fails_one_line_passes_the_rules_before_it_and_skips_the_rest() {
    let g = Gate::start().await;
    let expired = token_with(&g.keys, |c| c["exp"] = json!(now() - 600));
    let report = g.check(Some(expired), &[]).await;
    for (line, want) in [
        ("token is a signed JWT", Status::Pass),
        ("signature verifies", Status::Pass),
        ("typ is an access token", Status::Pass),
        ("exp and nbf admit now", Status::Fail),
        ("iss equals KC_ISSUER", Status::Skip),
        ("aud contains MCP_AUDIENCE", Status::Skip),
        ("token is not sender-constrained", Status::Skip),
        ("scope holds MCP_REQUIRED_SCOPES", Status::Skip),
    ] {
        assert_eq!(status(&report, line), want, "{line}:\n{}", report.text());
    }
    assert_eq!(
        report.line("exp and nbf admit now").unwrap().reason,
        Some("expired")
    );
    assert!(
        report.text().contains("(the server refuses it: expired)"),
        "{}",
        report.text()
    );
}
