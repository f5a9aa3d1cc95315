//! Health, readiness, metrics and request ids.

use crate::support::*;

#[tokio::test]
async fn healthz_answers_and_readyz_lists_the_keys() {
    let s = Stack::start().await;
    assert_eq!(s.server.get("/healthz").await.status(), 200);
    let ready: serde_json::Value = s.server.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["keys"],
        serde_json::json!(["ec-sig", "ed-sig", "rsa-sig"])
    );
}

#[tokio::test]
async fn metrics_count_requests_rejections_fetches_and_cache_sizes() {
    let s = Stack::start().await;
    s.server.mcp(None).await;
    s.server.mcp(Some("garbage")).await;
    s.assert_accepted(&token(&s.keys)).await;
    let text = s.server.metrics().await;
    for sample in [
        "mcp_http_requests_total{route=\"/mcp\",method=\"POST\",status=\"401\"} 2",
        "mcp_http_requests_total{route=\"/mcp\",method=\"POST\",status=\"200\"} 1",
        "mcp_token_rejections_total{reason=\"missing\"} 1",
        "mcp_token_rejections_total{reason=\"malformed\"} 1",
        "mcp_token_rejections_total{reason=\"wrong_audience\"} 0",
        "mcp_jwks_fetches_total{outcome=\"success\"} 1",
        "mcp_jwks_keys 3",
        "mcp_token_cache_entries 1",
        "mcp_jwks_refetches_limited_total 0",
        "mcp_token_rejections_total{reason=\"dpop_bound\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == sample),
            "missing `{sample}` in\n{text}"
        );
    }
    assert!(text.lines().any(|l| l.starts_with("mcp_jwks_age_seconds ")));
    assert!(text.contains("mcp_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let s = Stack::start().await;
    let a = s.server.mcp(None).await;
    let b = s.server.get("/healthz").await;
    let (a, b) = (
        a.headers()["x-request-id"].clone(),
        b.headers()["x-request-id"].clone(),
    );
    assert_ne!(a, b);
    let echoed = s
        .server
        .client
        .get(format!("{}/healthz", s.server.base))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42");
    let unsafe_id = s
        .server
        .client
        .get(format!("{}/healthz", s.server.base))
        .header("x-request-id", "a b {} \"x\"")
        .send()
        .await
        .unwrap();
    assert_ne!(unsafe_id.headers()["x-request-id"], "a b {} \"x\"");
}

#[tokio::test]
async fn an_unknown_path_gets_a_json_404() {
    let s = Stack::start().await;
    let response = s.server.get("/nope").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn readyz_names_the_reason_in_words_without_internal_urls() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    // Keycloak not listening at all, then answering with another issuer.
    for (overrides, words) in [
        (
            vec![(
                "KC_DISCOVERY_URL",
                "http://127.0.0.1:9/realms/mcp/.well-known/openid-configuration".to_owned(),
            )],
            "did not answer",
        ),
        (vec![], "KC_ISSUER"),
    ] {
        kc.set_discovery_issuer(if words == "KC_ISSUER" {
            "http://keycloak:8080/realms/mcp"
        } else {
            ISSUER
        });
        let overrides: Vec<(&str, &str)> =
            overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = TestServer::start(&kc, &overrides).await;
        let (status, body) = server.readyz_after_first_fetch().await;
        assert_eq!(status, 503);
        assert!(body.contains(words), "{body}");
        for internal in [
            "127.0.0.1",
            "http://",
            "keycloak:8080",
            "error trying to connect",
        ] {
            assert!(
                !body.contains(internal),
                "/readyz shows `{internal}`: {body}"
            );
        }
    }
}

#[tokio::test]
async fn with_metrics_bind_metrics_are_served_apart_and_the_main_port_answers_404() {
    let port = crate::support::peers::free_port();
    let bind = format!("127.0.0.1:{port}");
    let s = Stack::with(&[("MCP_METRICS_BIND", &bind)]).await;
    s.assert_accepted(&token(&s.keys)).await;
    // The main port: /metrics is a path like any unknown one.
    let public = s.server.get("/metrics").await;
    assert_eq!(public.status(), 404);
    // The metrics port: the same metrics, counting the main port's traffic, and nothing else.
    let client = reqwest::Client::new();
    let url = format!("http://{bind}/metrics");
    let listening = async || client.get(&url).send().await.ok();
    let r = wait::until(std::time::Duration::from_secs(5), listening)
        .await
        .expect("the metrics port did not answer within 5 s");
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.lines().any(
            |l| l == "mcp_http_requests_total{route=\"/mcp\",method=\"POST\",status=\"200\"} 1"
        ),
        "{text}"
    );
    let other = client
        .get(format!("http://{bind}/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "only /metrics on the metrics port");
}
