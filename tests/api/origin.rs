//! DNS-rebinding protection: the `Host` and `Origin` checks in front of the gate.

use crate::support::*;

#[tokio::test]
async fn a_foreign_origin_gets_403_before_authentication() {
    let s = Stack::start().await;
    let response = s
        .server
        .initialize()
        .header("origin", "https://evil.example.com")
        .bearer_auth(token(&s.keys))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MCP_ALLOWED_ORIGINS")
    );
}

#[tokio::test]
async fn chatgpt_and_the_servers_own_origin_are_allowed_by_default() {
    let s = Stack::start().await;
    for origin in [
        "https://chatgpt.com",
        "https://chat.openai.com",
        "https://mcp.localhost",
    ] {
        let response = s
            .server
            .initialize()
            .header("origin", origin)
            .bearer_auth(token(&s.keys))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{origin}");
        assert_eq!(response.headers()["access-control-allow-origin"], origin);
    }
}

#[tokio::test]
async fn an_unknown_host_gets_421() {
    let s = Stack::start().await;
    let response = s
        .server
        .initialize()
        .header("host", "evil.example.com")
        .bearer_auth(token(&s.keys))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 421);
}

#[tokio::test]
async fn the_public_host_and_loopback_are_allowed_by_default() {
    let s = Stack::start().await;
    for host in [
        "mcp.localhost",
        "mcp.localhost:443",
        "localhost:8000",
        "127.0.0.1",
    ] {
        let response = s
            .server
            .initialize()
            .header("host", host)
            .bearer_auth(token(&s.keys))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
}

#[tokio::test]
async fn configured_origins_and_hosts_replace_the_defaults() {
    let s = Stack::with(&[
        ("MCP_ALLOWED_ORIGINS", "http://localhost:6274"),
        ("MCP_ALLOWED_HOSTS", "mcp.example.com:8443"),
    ])
    .await;
    let ok = s
        .server
        .initialize()
        .header("host", "mcp.example.com:8443")
        .header("origin", "http://localhost:6274")
        .bearer_auth(token(&s.keys));
    assert_eq!(ok.send().await.unwrap().status(), 200);
    let chatgpt = s
        .server
        .initialize()
        .header("host", "mcp.example.com:8443")
        .header("origin", "https://chatgpt.com");
    assert_eq!(chatgpt.send().await.unwrap().status(), 403);
    let other_port = s.server.initialize().header("host", "mcp.example.com");
    assert_eq!(other_port.send().await.unwrap().status(), 421);
}

#[tokio::test]
async fn a_cors_preflight_from_an_allowed_origin_needs_no_token() {
    let s = Stack::start().await;
    let response = s
        .server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/mcp", s.server.base))
        .header("origin", "https://chatgpt.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://chatgpt.com"
    );
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        allowed.contains("authorization") && allowed.contains("mcp-protocol-version"),
        "{allowed}"
    );
    let methods = response.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    assert!(response.headers().contains_key("access-control-max-age"));
    let vary = response.headers()["vary"].to_str().unwrap();
    assert!(vary.contains("origin"), "{vary}");
}

#[tokio::test]
async fn a_preflight_from_a_foreign_origin_is_refused() {
    let s = Stack::start().await;
    let response = s
        .server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/mcp", s.server.base))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn the_challenge_header_is_readable_by_browser_clients() {
    let s = Stack::start().await;
    let response = s
        .server
        .initialize()
        .header("origin", "https://chatgpt.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
}
