//! The protected-resource metadata document (RFC 9728) as clients fetch it.

use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn the_metadata_is_served_at_both_well_known_paths_with_the_same_body() {
    let s = Stack::start().await;
    let a = s
        .server
        .get("/.well-known/oauth-protected-resource/mcp")
        .await;
    let b = s.server.get("/.well-known/oauth-protected-resource").await;
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 200);
    assert_eq!(a.headers()["content-type"], "application/json");
    assert_eq!(a.headers()["access-control-allow-origin"], "*");
    let (a, b) = (a.text().await.unwrap(), b.text().await.unwrap());
    assert_eq!(a, b);
    let doc: Value = serde_json::from_str(&a).unwrap();
    insta::assert_json_snapshot!("protected_resource_metadata", doc);
}

#[tokio::test]
async fn the_metadata_names_the_exact_resource_and_issuer() {
    let s = Stack::start().await;
    let doc: Value = s
        .server
        .get_json("/.well-known/oauth-protected-resource/mcp")
        .await;
    assert_eq!(doc["resource"], "https://mcp.localhost/mcp");
    assert_eq!(doc["authorization_servers"], serde_json::json!([ISSUER]));
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
}

#[tokio::test]
async fn the_metadata_answers_head_and_cors_preflight_without_a_token() {
    let s = Stack::start().await;
    let url = format!("{}/.well-known/oauth-protected-resource/mcp", s.server.base);
    let head = s.server.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["access-control-allow-origin"], "*");
    let options = s
        .server
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://inspector.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 204);
    assert_eq!(options.headers()["access-control-allow-origin"], "*");
    assert!(
        options.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
}

#[tokio::test]
async fn the_metadata_follows_a_configured_resource_and_scopes() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let server = TestServer::start(
        &kc,
        &[
            ("MCP_RESOURCE", "https://mcp.localhost/tools"),
            ("MCP_REQUIRED_SCOPES", "mcp:tools docs:read"),
            ("MCP_RESOURCE_NAME", "Bakery docs"),
        ],
    )
    .await;
    // RFC 9728 §3.1: the metadata for .../tools lives at /.well-known/oauth-protected-resource/tools.
    let doc: Value = server
        .get_json("/.well-known/oauth-protected-resource/tools")
        .await;
    assert_eq!(doc["resource"], "https://mcp.localhost/tools");
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["mcp:tools", "docs:read"])
    );
    assert_eq!(doc["resource_name"], "Bakery docs");
    let response = server.mcp(None).await;
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(
            "resource_metadata=\"https://mcp.localhost/.well-known/oauth-protected-resource/tools\""
        ),
        "{challenge}"
    );
}

#[tokio::test]
async fn the_root_page_documents_the_endpoint_for_people() {
    let s = Stack::start().await;
    let text = s.server.get("/").await.text().await.unwrap();
    assert!(text.contains("https://mcp.localhost/mcp"));
    assert!(text.contains(ISSUER));
}

#[tokio::test]
async fn browser_probes_for_authorization_server_metadata_here_get_a_readable_404() {
    let s = Stack::start().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/mcp",
    ] {
        let preflight = s
            .server
            .client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", s.server.base))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "mcp-protocol-version")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
        let r = s
            .server
            .client
            .get(format!("{}{path}", s.server.base))
            .header("origin", "http://localhost:6274")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("oauth-protected-resource"),
            "{body}"
        );
    }
    // Elsewhere a 404 stays a plain 404.
    let other = s.server.get("/nothing-here").await;
    assert_eq!(other.status(), 404);
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
