//! The stack's edge, run for real without Docker: the repository's Traefik configuration (real
//! Traefik binary, certificate from `traefik/generate-certs.sh`) in front of this server and a
//! real OpenID Provider shaped like the Keycloak realm. Clients reach
//! `https://mcp.localhost:<port>` as ChatGPT reaches `https://mcp.localhost`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::ReportLines;
use crate::support::edge::Edge;
use crate::support::mcp::Events;

const JSON_AND_SSE: &str = "application/json, text/event-stream";

#[tokio::test(flavor = "multi_thread")]
async fn a_client_without_a_token_discovers_the_public_https_metadata_and_issuer() {
    let edge = Edge::start().await;
    let r = edge
        .client
        .post(edge.mcp_url("/mcp"))
        .header("accept", JSON_AND_SSE)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    let metadata_url = edge.mcp_url("/.well-known/oauth-protected-resource/mcp");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );

    let prm = edge.get_json(&metadata_url).await;
    assert_eq!(prm["resource"], edge.resource);
    assert_eq!(prm["authorization_servers"], json!([edge.issuer]));

    // Both places a client looks for the authorization server's metadata reach it over https.
    for path in [
        "/realms/mcp/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/realms/mcp",
    ] {
        let meta = edge.get_json(&edge.auth_url(path)).await;
        assert_eq!(meta["issuer"], edge.issuer, "{path}");
        assert_eq!(
            meta["token_endpoint"],
            edge.auth_url("/realms/mcp/protocol/openid-connect/token"),
            "{path}: endpoints use the public name"
        );
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_the_provider_calls_a_tool_through_traefik() {
    let edge = Edge::start().await;
    let token = edge.gate_token().await;
    let r = edge
        .client
        .post(edge.mcp_url("/mcp"))
        .bearer_auth(&token)
        .header("accept", JSON_AND_SSE)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "search", "arguments": {"query": "chocolate orders", "limit": 2}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let results = body["result"]["structuredContent"]["results"]
        .as_array()
        .unwrap();
    assert_eq!(results.len(), 2, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_events_pass_through_traefik_as_they_are_sent() {
    let edge = Edge::start().await;
    let token = edge.gate_token().await;
    let stream = edge
        .client
        .get(edge.mcp_url("/sse"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut events = Events::open(stream);
    // The endpoint event is the only thing sent before the client posts; a buffering proxy
    // would hold it back and this would time out.
    let (name, endpoint) = events.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(name, "endpoint");
    let posted = edge
        .client
        .post(edge.mcp_url(&endpoint))
        .bearer_auth(&token)
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let answer = events.next_message().await;
    assert_eq!(answer["id"], 3);
    assert_eq!(answer["result"], json!({}));
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_is_redirected_to_https() {
    let edge = Edge::start().await;
    let r = edge
        .client
        .get(format!("http://127.0.0.1:{}/mcp", edge.http))
        .header("host", "mcp.localhost")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let location = r.headers()["location"].to_str().unwrap();
    assert_eq!(location, edge.mcp_url("/mcp"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_host_never_serves_metrics() {
    // Traefik's file routes every path of the MCP host to the server but /metrics, so it stays
    // private even where the server serves it on its main port.
    let edge = Edge::start().await;
    for path in ["/metrics", "/metrics/", "/metrics?x=1"] {
        let r = edge.client.get(edge.mcp_url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("mcp_"), "{path}");
    }
    let health = edge
        .client
        .get(edge.mcp_url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        health.status(),
        200,
        "the rest of the host still reaches the server"
    );
}

/// `check` against the stack as an operator runs it: discovery through Traefik, a token by
/// client credentials, and the public URL; `overrides` change the settings it reads.
async fn check_stack(
    edge: &Edge,
    overrides: &[(&str, &str)],
) -> mcp_resource_server::check::Report {
    let args = mcp_resource_server::check::Args {
        client_id: Some("mcp-gate".into()),
        client_secret: Some("gate-secret".into()),
        url: Some(edge.resource.clone()),
        ..Default::default()
    };
    check_stack_with(edge, overrides, args).await
}

async fn check_stack_with(
    edge: &Edge,
    overrides: &[(&str, &str)],
    args: mcp_resource_server::check::Args,
) -> mcp_resource_server::check::Report {
    let mut env: std::collections::HashMap<String, String> = [
        ("MCP_SERVER_URL", edge.mcp_url("")),
        ("KC_ISSUER", edge.issuer.clone()),
        (
            "KC_DISCOVERY_URL",
            edge.auth_url("/realms/mcp/.well-known/openid-configuration"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in overrides {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = crate::support::settings(&env);
    mcp_resource_server::check::run(&settings, &args, &edge.client).await
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_against_the_stack_and_fails_the_right_lines_when_it_is_misconfigured() {
    use mcp_resource_server::check::Status;
    let edge = Edge::start().await;
    let good = check_stack(&edge, &[]).await;
    assert!(good.ok(), "{}", good.text());
    for line in [
        "token obtained",
        "signature verifies",
        "aud contains MCP_AUDIENCE",
        "client registration",
        "search follows the ChatGPT contract",
    ] {
        assert_eq!(
            good.line(line).unwrap().status,
            Status::Pass,
            "{line}:\n{}",
            good.text()
        );
    }

    let audience = check_stack(&edge, &[("MCP_AUDIENCE", "https://wrong.example/mcp")]).await;
    let failed = audience.failed();
    assert_eq!(failed, ["aud contains MCP_AUDIENCE"], "{}", audience.text());

    let wrong_issuer = format!("{}-other", edge.issuer);
    let issuer = check_stack(&edge, &[("KC_ISSUER", &wrong_issuer)]).await;
    let failed = issuer.failed();
    assert!(
        failed.starts_with(&["issuer equals KC_ISSUER"]),
        "{}",
        issuer.text()
    );
    assert!(failed.contains(&"iss equals KC_ISSUER"), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_given_only_the_url_signs_in_and_uses_the_tools() {
    let edge = Edge::start().await;
    let url = edge.resource.clone();
    let (report, _) = edge
        .run_client(
            "ts_oauth.mjs",
            &[std::ffi::OsStr::new(&url), "alice".as_ref()],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(report["tools"], json!(["search", "fetch"]));
    assert!(
        report["registeredClient"].is_string(),
        "registered dynamically: {report}"
    );
    let auth = &report["authorization"];
    assert_eq!(auth["codeChallengeMethod"], "S256");
    assert_eq!(auth["resource"], edge.resource);
    assert_eq!(auth["host"], format!("auth.localhost:{}", edge.https));
    assert!(
        auth["scope"].as_str().unwrap().contains("mcp:tools"),
        "{report}"
    );
    assert_eq!(report["fetchedId"], report["firstResult"]);
    assert!(
        !report["ticketIds"].as_array().unwrap().is_empty(),
        "alice holds the role support, so her token shows tickets: {report}"
    );
}

/// Runs `tests/clients/chatgpt_registration.mjs` against the stack and returns its report.
async fn register_as_chatgpt(edge: &Edge, scopes: &str) -> Value {
    let url = edge.resource.clone();
    let args: [&std::ffi::OsStr; 3] = [url.as_ref(), "alice".as_ref(), scopes.as_ref()];
    let (report, _) = edge
        .run_client("chatgpt_registration.mjs", &args, Duration::from_secs(60))
        .await;
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_shaped_as_chatgpt_sends_it_succeeds_and_its_login_yields_an_accepted_token()
{
    let edge = Edge::start().await;
    // `scope` = the resource's scopes_supported, then every scope the authorization server
    // advertises (ChatGPT asks for those), which the realm file's registration policy must admit.
    let resource = register_as_chatgpt(&edge, "resource").await;
    assert_eq!(resource["requestedScope"], "mcp:tools", "{resource}");
    let server = register_as_chatgpt(&edge, "server").await;
    let advertised = server["advertisedByServer"].as_array().unwrap();
    for scope in ["openid", "mcp:tools", "offline_access", "basic", "roles"] {
        assert!(advertised.iter().any(|s| s == scope), "{scope}: {server}");
    }
    assert!(
        !advertised.iter().any(|s| s == "service_account"),
        "{server}"
    );
    for report in [&resource, &server] {
        assert_eq!(report["searchStatus"], 200, "{report}");
        assert!(report["results"].as_u64().unwrap() > 0, "{report}");
        assert!(report["registeredClient"].is_string(), "{report}");
        assert_eq!(
            report["registeredRedirects"].as_array().unwrap().len(),
            2,
            "{report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dpop_client_gets_a_bound_token_and_searches_through_traefik_and_a_thief_cannot() {
    let edge = Edge::start().await;
    let token_url = edge.auth_url("/realms/mcp/protocol/openid-connect/token");
    let url = edge.resource.clone();
    let args: [&std::ffi::OsStr; 4] = [
        token_url.as_ref(),
        url.as_ref(),
        "mcp-dpop-demo".as_ref(),
        "dpop-demo-secret".as_ref(),
    ];
    let (report, _) = edge
        .run_client("dpop_client.mjs", &args, Duration::from_secs(60))
        .await;
    assert_eq!(report["token_type"], "DPoP", "{report}");
    assert_eq!(report["jkt_is_the_key"], true, "{report}");
    assert_eq!(report["initialize"], 200, "{report}");
    assert_eq!(report["tools_list"], 200, "{report}");
    assert_eq!(report["search"], 200, "{report}");
    assert!(report["search_hits"].as_u64().unwrap_or(0) > 0, "{report}");
    for (attempt, error) in [
        ("other_key", "DPoP error=\"invalid_dpop_proof\""),
        ("replayed", "DPoP error=\"invalid_dpop_proof\""),
        ("as_bearer", "Bearer error=\"invalid_token\""),
    ] {
        let answer = &report[attempt];
        assert_eq!(answer["status"], 401, "{attempt}: {report}");
        let challenge = answer["challenge"].as_str().unwrap_or_default();
        assert!(challenge.starts_with(error), "{attempt}: {challenge}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_dpop_gets_a_bound_token_with_its_own_key_and_proves_the_server_needs_the_key() {
    use mcp_resource_server::check::{Args, Status};
    let edge = Edge::start().await;
    let dpop = |dpop| Args {
        client_id: Some("mcp-dpop-demo".into()),
        client_secret: Some("dpop-demo-secret".into()),
        url: Some(edge.resource.clone()),
        dpop,
        ..Default::default()
    };
    let report = check_stack_with(&edge, &[], dpop(true)).await;
    assert!(report.ok(), "{}", report.text());
    for line in [
        "token is issued as DPoP",
        "token is DPoP-bound",
        "DPoP proof of check's key accepted",
        "challenge offers DPoP",
        "tools/list",
        "the token without its key is refused",
    ] {
        let shown = report.line(line).map(|l| l.status);
        assert_eq!(shown, Some(Status::Pass), "{line}:\n{}", report.text());
    }
    // Without --dpop the client's token request carries no proof, and is refused.
    let report = check_stack_with(&edge, &[], dpop(false)).await;
    assert_eq!(report.failed(), ["token obtained"], "{}", report.text());
}
