//! `search` and `fetch` over HTTP: snippets, errors that say what to send, document access by
//! the token's roles and groups, per-tool scopes (declared in `tools/list` and the metadata,
//! enforced with the tool-level challenge), a corpus folder
//! rebuilt when its files change, and the corpus counts in `/metrics`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mcp::*;
use crate::support::peers::TempDir;
use crate::support::tokens::*;
use crate::support::*;

/// Calls a tool at 2025-11-25 and returns the `result` object.
async fn call(s: &Stack, token: &str, tool: &str, args: Value) -> Value {
    let body = request(7, "tools/call", json!({ "name": tool, "arguments": args }));
    let r = s.server.rpc_at(token, &body, "2025-11-25").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["result"].clone()
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap()
}

/// A token whose realm roles are `roles`.
fn with_roles(keys: &Keys, roles: &[&str]) -> String {
    token_with(keys, |c| c["realm_access"]["roles"] = json!(roles))
}

#[tokio::test]
async fn search_hits_carry_a_snippet_with_the_matched_words_in_bold() {
    let s = Stack::start().await;
    let result = call(
        &s,
        &token(&s.keys),
        "search",
        json!({"query": "wedding", "limit": 4}),
    )
    .await;
    let hits = result["structuredContent"]["results"].as_array().unwrap();
    assert_eq!(hits.len(), 4, "{result}");
    for hit in hits {
        assert!(
            hit["url"].as_str().unwrap().starts_with("https://"),
            "{hit}"
        );
        assert!(
            hit["text"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("**wedding**"),
            "{hit}"
        );
    }
}

#[tokio::test]
async fn an_empty_query_and_an_unknown_id_are_error_results_saying_what_to_send() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let empty = call(&s, &t, "search", json!({"query": "  "})).await;
    assert_eq!(empty["isError"], true);
    assert!(
        text(&empty).contains("send the words to search for"),
        "{empty}"
    );
    let only_marks = call(&s, &t, "search", json!({"query": "?!"})).await;
    assert_eq!(only_marks["isError"], true);
    assert!(text(&only_marks).contains("no words"), "{only_marks}");
    let unknown = call(&s, &t, "fetch", json!({"id": "order-999999"})).await;
    assert_eq!(unknown["isError"], true);
    assert!(text(&unknown).contains("`order-999999`"), "{unknown}");
}

#[tokio::test]
async fn a_document_outside_the_callers_roles_is_indistinguishable_from_a_missing_one() {
    let s = Stack::start().await;
    let staff = token(&s.keys);
    let hidden = call(&s, &staff, "fetch", json!({"id": "invoice-3001"})).await;
    let missing = call(&s, &staff, "fetch", json!({"id": "invoice-9999"})).await;
    assert_eq!(hidden["isError"], true);
    assert_eq!(
        text(&hidden).replace("invoice-3001", "ID"),
        text(&missing).replace("invoice-9999", "ID")
    );
    let found = call(
        &s,
        &staff,
        "search",
        json!({"query": "invoice", "limit": 50}),
    )
    .await;
    let ids: Vec<&str> = found["structuredContent"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert!(!ids.iter().any(|id| id.starts_with("invoice-")), "{ids:?}");

    let finance = with_roles(&s.keys, &["finance"]);
    let shown = call(&s, &finance, "fetch", json!({"id": "invoice-3001"})).await;
    assert_eq!(shown["structuredContent"]["id"], "invoice-3001", "{shown}");
    let found = call(&s, &finance, "search", json!({"query": "invoice"})).await;
    assert!(
        found["structuredContent"]["results"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("invoice-")
    );
}

fn result_ids(result: &Value) -> Vec<String> {
    result["structuredContent"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_result_cache_never_shows_one_callers_documents_to_another() {
    let s = Stack::start().await;
    let finance = with_roles(&s.keys, &["finance"]);
    let staff = token(&s.keys);
    let query = json!({"query": "invoice", "limit": 20});
    let first = result_ids(&call(&s, &finance, "search", query.clone()).await);
    assert!(
        first.iter().any(|id| id.starts_with("invoice-")),
        "{first:?}"
    );
    // The same query from someone without the role, right after: a cache keyed on the query
    // alone would hand over finance's hits.
    let others = result_ids(&call(&s, &staff, "search", query.clone()).await);
    assert!(
        !others.iter().any(|id| id.starts_with("invoice-")),
        "{others:?}"
    );
    let again = result_ids(&call(&s, &finance, "search", query).await);
    assert_eq!(again, first);
    assert_eq!(
        s.server
            .metric("mcp_search_cache_total{result=\"hit\"}")
            .await,
        1.0
    );
    assert_eq!(
        s.server
            .metric("mcp_search_cache_total{result=\"miss\"}")
            .await,
        2.0
    );
}

#[tokio::test]
async fn a_tool_scope_the_token_lacks_gets_the_tool_level_challenge() {
    let s = Stack::with(&[("MCP_TOOLS_FETCH_SCOPES", "docs:read")]).await;
    let list = s
        .server
        .rpc_at(
            &token(&s.keys),
            &request(1, "tools/list", json!({})),
            "2025-11-25",
        )
        .await;
    let tools = list.body["result"]["tools"].as_array().unwrap();
    assert_eq!(
        tools[0]["securitySchemes"][0]["scopes"],
        json!(["mcp:tools"])
    );
    assert_eq!(
        tools[1]["securitySchemes"][0]["scopes"],
        json!(["mcp:tools", "docs:read"])
    );
    assert_eq!(
        tools[1]["_meta"]["securitySchemes"],
        tools[1]["securitySchemes"]
    );

    let prm: Value = s
        .server
        .get_json("/.well-known/oauth-protected-resource/mcp")
        .await;
    assert_eq!(prm["scopes_supported"], json!(["mcp:tools", "docs:read"]));

    let t = token(&s.keys);
    let refused = call(&s, &t, "fetch", json!({"id": "order-1001"})).await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(text(&refused).contains("`docs:read`"), "{refused}");
    let challenge = refused["_meta"]["mcp/www_authenticate"][0]
        .as_str()
        .unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"mcp:tools docs:read\""),
        "{challenge}"
    );
    assert!(challenge.contains(
        "resource_metadata=\"https://mcp.localhost/.well-known/oauth-protected-resource/mcp\""
    ));
    let search = call(&s, &t, "search", json!({"query": "cupcakes"})).await;
    assert!(search.get("isError").is_none(), "{search}");

    let granted = token_with(&s.keys, |c| {
        c["scope"] = json!("openid mcp:tools docs:read")
    });
    let fetched = call(&s, &granted, "fetch", json!({"id": "order-1001"})).await;
    assert_eq!(
        fetched["structuredContent"]["id"], "order-1001",
        "{fetched}"
    );
}

#[tokio::test]
async fn a_corpus_folder_is_served_counted_and_rebuilt_when_a_file_changes() {
    let dir = TempDir::new("corpus");
    std::fs::write(
        dir.0.join("oven.md"),
        "# Oven manual\n\nDescale the convection oven monthly.\n",
    )
    .unwrap();
    std::fs::write(dir.0.join("broken.json"), "{ not json").unwrap();
    let folder = dir.0.to_string_lossy().into_owned();
    let s = Stack::with(&[
        ("MCP_CORPUS", &folder),
        ("MCP_CORPUS_BASE_URL", "https://kb.example.com/"),
        ("MCP_CORPUS_DEBOUNCE_MS", "50"),
    ])
    .await;
    let t = token(&s.keys);
    assert_eq!(s.server.metric("mcp_corpus_documents").await, 1.0);
    assert_eq!(s.server.metric("mcp_corpus_skipped").await, 1.0);
    let oven = call(&s, &t, "fetch", json!({"id": "oven.md"})).await;
    assert_eq!(
        oven["structuredContent"]["url"],
        "https://kb.example.com/oven.md"
    );

    std::fs::write(
        dir.0.join("proofing.md"),
        "# Proofing cabinet\n\nKeep the proofer at 27 degrees.\n",
    )
    .unwrap();
    let mut found = Value::Null;
    let indexed = async || {
        found = call(&s, &t, "search", json!({"query": "proofer"})).await;
        found["structuredContent"]["results"][0]["id"] == "proofing.md"
    };
    wait::comes_true(Duration::from_secs(10), indexed).await;
    assert_eq!(
        found["structuredContent"]["results"][0]["id"], "proofing.md",
        "{found}"
    );
    assert_eq!(s.server.metric("mcp_corpus_documents").await, 2.0);
    assert!(
        s.server
            .metric("mcp_corpus_reloads_total{outcome=\"ok\"}")
            .await
            >= 2.0
    );
}
