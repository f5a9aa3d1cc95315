//! The official SDK clients, run as separate processes against the real server: each must
//! connect, list the tools and call `search` and `fetch` with the ChatGPT contract intact.

use serde_json::Value;

use crate::support::peers::{node, python, report};
use crate::support::*;

/// What every client must have seen, whatever its transport and era.
fn assert_tools_work(report: &Value) {
    assert_eq!(report["serverName"], "mcp-resource-server", "{report}");
    assert_eq!(report["tools"], serde_json::json!(["search", "fetch"]));
    let results = report["search"]["results"]
        .as_array()
        .expect("search results");
    assert!(!results.is_empty(), "{report}");
    for r in results {
        assert!(r["id"].is_string() && r["title"].is_string(), "{r}");
        assert!(r["url"].as_str().unwrap().starts_with("https://"), "{r}");
    }
    assert_eq!(report["fetch"]["id"], results[0]["id"]);
    assert!(!report["fetch"]["text"].as_str().unwrap().is_empty());
    assert_eq!(report["missingIsError"], true, "{report}");
}

#[tokio::test]
async fn the_python_sdk_in_auto_mode_discovers_and_speaks_2026_07_28() {
    let s = Stack::start().await;
    let url = format!("{}/mcp", s.server.base);
    let r = report(&python(), &["python_sdk.py", &url, &token(&s.keys), "auto"]).await;
    assert_eq!(r["protocolVersion"], "2026-07-28", "{r}");
    assert_tools_work(&r);
    let text: Value = serde_json::from_str(r["searchText"].as_str().unwrap()).unwrap();
    assert_eq!(
        text, r["search"],
        "content[0] carries the same JSON as structuredContent"
    );
    assert!(
        r["missingText"]
            .as_str()
            .unwrap()
            .contains("no-such-document")
    );
    let annotations = &r["annotations"]["search"];
    assert_eq!(annotations["readOnlyHint"], true);
    assert_eq!(annotations["openWorldHint"], false);
}

#[tokio::test]
async fn the_python_sdk_with_the_initialize_handshake_negotiates_2025_11_25() {
    let s = Stack::start().await;
    let url = format!("{}/mcp", s.server.base);
    let r = report(
        &python(),
        &["python_sdk.py", &url, &token(&s.keys), "legacy"],
    )
    .await;
    assert_eq!(r["protocolVersion"], "2025-11-25", "{r}");
    assert_tools_work(&r);
}

#[tokio::test]
async fn the_python_sdk_sse_client_works_over_the_2024_11_05_transport() {
    let s = Stack::start().await;
    let url = format!("{}/sse", s.server.base);
    let r = report(&python(), &["python_sdk.py", &url, &token(&s.keys), "sse"]).await;
    assert_tools_work(&r);
}

#[tokio::test]
async fn the_typescript_sdk_client_works_over_streamable_http_without_a_session() {
    let s = Stack::start().await;
    let url = format!("{}/mcp", s.server.base);
    let r = report(&node(), &["ts_sdk.mjs", &url, &token(&s.keys)]).await;
    assert_eq!(r["protocolVersion"], "2025-11-25", "{r}");
    assert_eq!(
        r["sessionId"],
        Value::Null,
        "no Mcp-Session-Id is ever issued"
    );
    assert_tools_work(&r);
}

#[tokio::test]
async fn the_typescript_sdk_client_works_over_the_2024_11_05_sse_transport() {
    let s = Stack::start().await;
    let url = format!("{}/sse", s.server.base);
    let r = report(&node(), &["ts_sdk.mjs", &url, &token(&s.keys), "sse"]).await;
    assert_tools_work(&r);
}
