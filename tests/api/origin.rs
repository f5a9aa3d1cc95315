//! DNS-rebinding protection: the `Host` and `Origin` checks in front of the gate.

use crate::support::*;

/// An authenticated `initialize` sent from a browser page at `origin`.
async fn initialize_from(s: &Stack, origin: &str) -> reqwest::Response {
    s.server
        .initialize()
        .header("origin", origin)
        .bearer_auth(token(&s.keys))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_foreign_origin_gets_403_before_authentication() {
    let s = Stack::start().await;
    for origin in [
        "https://evil.example.com",
        "http://localhost.evil.example.com:6274",
        "http://127.0.0.1.nip.io:6274",
        "null",
    ] {
        let response = initialize_from(&s, origin).await;
        assert_eq!(response.status(), 403, "{origin}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("MCP_ALLOWED_ORIGINS"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn chatgpt_the_servers_own_and_loopback_origins_are_allowed_by_default() {
    let s = Stack::start().await;
    for origin in [
        "https://chatgpt.com",
        "https://chat.openai.com",
        "https://mcp.localhost",
        // The MCP Inspector's page, and local tools on any port.
        "http://localhost:6274",
        "http://127.0.0.1:3000",
        "http://[::1]:6274",
    ] {
        let response = initialize_from(&s, origin).await;
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
    let other_loopback_port = s
        .server
        .initialize()
        .header("host", "mcp.example.com:8443")
        .header("origin", "http://localhost:3000");
    assert_eq!(other_loopback_port.send().await.unwrap().status(), 403);
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

/// Sends `request` as written on a new connection; returns the status line of the answer.
async fn raw(s: &Stack, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.server.base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tcp.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    answer.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn two_host_headers_get_400_on_every_route() {
    let s = Stack::start().await;
    for path in ["/mcp", "/healthz", "/.well-known/oauth-protected-resource"] {
        let status = raw(
            &s,
            &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example.com\r\n\r\n"),
        )
        .await;
        assert!(status.starts_with("HTTP/1.1 400"), "{path}: {status}");
    }
    let status = raw(&s, "GET /healthz HTTP/1.1\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 400"), "no Host: {status}");
}

#[tokio::test]
async fn an_absolute_form_target_is_judged_by_its_own_authority() {
    let s = Stack::start().await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let post = |authority: &str, host: &str| {
        format!(
            "POST http://{authority}/mcp HTTP/1.1\r\nHost: {host}\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    // RFC 9112 §3.2.2: the target's authority wins over Host, whichever of them is foreign.
    let status = raw(&s, &post("evil.example.com", "127.0.0.1")).await;
    assert!(status.starts_with("HTTP/1.1 421"), "{status}");
    let status = raw(&s, &post("127.0.0.1", "evil.example.com")).await;
    assert!(
        status.starts_with("HTTP/1.1 401"),
        "an allowed authority went on to the token gate: {status}"
    );
}
