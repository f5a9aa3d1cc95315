//! `POST /mcp` in the stateless 2026-07-28 era: `server/discover`, the `_meta` envelope, the
//! header checks and their exact error codes, and a ChatGPT-like exchange.

use serde_json::{Value, json};

use crate::support::mcp::*;
use crate::support::*;

#[tokio::test]
async fn server_discover_lists_versions_capabilities_identity_and_cache_hints() {
    let s = Stack::start().await;
    let r = s
        .server
        .stateless(&token(&s.keys), &stateless(1, "server/discover", json!({})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let result = &r.body["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["supportedVersions"][0], "2026-07-28");
    assert_eq!(result["capabilities"], json!({ "tools": {} }));
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-resource-server"
    );
    assert!(result["ttlMs"].as_u64().is_some());
    assert_eq!(result["cacheScope"], "public");
    assert_eq!(r.header("mcp-session-id"), None);
}

#[tokio::test]
async fn stateless_results_carry_result_type_server_info_and_list_cache_hints() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let r = s
        .server
        .stateless(&t, &stateless(2, "tools/list", json!({})))
        .await;
    let result = &r.body["result"];
    assert_eq!(result["resultType"], "complete", "{}", r.text);
    assert!(result["ttlMs"].is_u64());
    assert_eq!(result["cacheScope"], "public");
    assert_eq!(result["tools"][0]["name"], "search");
    assert!(result["tools"][0]["outputSchema"].is_object());
    let call = stateless(
        3,
        "tools/call",
        json!({"name": "fetch", "arguments": {"id": "order-1001"}}),
    );
    let r = s.server.stateless(&t, &call).await;
    let result = &r.body["result"];
    assert_eq!(result["resultType"], "complete", "{}", r.text);
    assert_eq!(result["structuredContent"]["id"], "order-1001");
    assert!(result["_meta"]["io.modelcontextprotocol/serverInfo"]["version"].is_string());
}

#[tokio::test]
async fn headers_that_disagree_with_the_body_get_400_header_mismatch() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let list = stateless(4, "tools/list", json!({}));
    let call = stateless(
        5,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "x"}}),
    );
    let v = "2026-07-28";
    // The body, the headers sent with it, and what the error message must say.
    type Case<'a> = (&'a Value, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            &list,
            vec![("mcp-protocol-version", v), ("mcp-method", "prompts/list")],
            "Mcp-Method header (prompts/list)",
        ),
        (
            &list,
            vec![("mcp-protocol-version", v)],
            "Mcp-Method header is required",
        ),
        (
            &list,
            vec![("mcp-protocol-version", v), ("mcp-method", "TOOLS/LIST")],
            "must equal",
        ),
        (
            &call,
            vec![
                ("mcp-protocol-version", v),
                ("mcp-method", "tools/call"),
                ("mcp-name", "fetch"),
            ],
            "Mcp-Name header (fetch)",
        ),
        (
            &call,
            vec![("mcp-protocol-version", v), ("mcp-method", "tools/call")],
            "Mcp-Name header is required",
        ),
        (
            &list,
            vec![
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/list"),
            ],
            "MCP-Protocol-Version header (2025-11-25)",
        ),
        (
            &list,
            vec![("mcp-method", "tools/list")],
            "MCP-Protocol-Version header is required",
        ),
    ];
    for (body, headers, says) in cases {
        let r = s.server.rpc(&t, body, &headers).await;
        assert_eq!(
            (r.status, r.code()),
            (400, Some(-32020)),
            "{headers:?}: {}",
            r.text
        );
        assert_eq!(r.body["id"], body["id"]);
        assert!(r.message().contains(says), "{}", r.text);
    }
    let padded = [
        ("mcp-protocol-version", " 2026-07-28 "),
        ("mcp-method", " tools/call "),
        ("mcp-name", "  search "),
    ];
    let r = s.server.rpc(&t, &call, &padded).await;
    assert_eq!(
        r.status, 200,
        "whitespace around header values is not part of them: {}",
        r.text
    );
}

#[tokio::test]
async fn an_incomplete_meta_envelope_gets_400_invalid_params() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let without = |key: &str| {
        let mut body = stateless(6, "server/discover", json!({}));
        body["params"]["_meta"].as_object_mut().unwrap().remove(key);
        body
    };
    for body in [
        json!({"jsonrpc": "2.0", "id": 6, "method": "server/discover", "params": {}}),
        without("io.modelcontextprotocol/protocolVersion"),
        without("io.modelcontextprotocol/clientCapabilities"),
    ] {
        let r = s.server.stateless(&t, &body).await;
        assert_eq!(
            (r.status, r.code()),
            (400, Some(-32602)),
            "{body}: {}",
            r.text
        );
        assert!(r.message().contains("_meta"));
    }
    let r = s
        .server
        .stateless(&t, &without("io.modelcontextprotocol/clientInfo"))
        .await;
    assert_eq!(r.status, 200, "clientInfo is optional: {}", r.text);
}

#[tokio::test]
async fn an_unsupported_version_gets_400_naming_the_requested_and_supported_versions() {
    let s = Stack::start().await;
    let mut body = stateless(7, "server/discover", json!({}));
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let headers = [
        ("mcp-protocol-version", "2099-01-01"),
        ("mcp-method", "server/discover"),
    ];
    let r = s.server.rpc(&token(&s.keys), &body, &headers).await;
    assert_eq!((r.status, r.code()), (400, Some(-32022)), "{}", r.text);
    assert_eq!(r.body["error"]["data"]["requested"], "2099-01-01");
    let supported = r.body["error"]["data"]["supported"].as_array().unwrap();
    assert_eq!(supported[0], "2026-07-28");
    assert!(
        supported.contains(&json!("2025-11-25")),
        "initialize remains available"
    );
}

#[tokio::test]
async fn handshake_methods_and_unknown_methods_are_404_method_not_found() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/list",
        "unknown/method",
    ] {
        let r = s
            .server
            .stateless(&t, &stateless(8, method, json!({})))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (404, Some(-32601)),
            "{method}: {}",
            r.text
        );
        assert_eq!(r.body["id"], 8);
    }
    let call = stateless(9, "tools/call", json!({"name": "nope", "arguments": {}}));
    let r = s.server.stateless(&t, &call).await;
    assert_eq!((r.status, r.code()), (400, Some(-32602)), "{}", r.text);
}

/// What ChatGPT is reported to do: `server/discover` first, the initialize handshake as a
/// fallback, a fresh connection for every request and no session reuse.
#[tokio::test]
async fn a_chatgpt_like_exchange_works_on_fresh_connections_in_both_eras() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let fresh = || {
        let mut server = TestServer::detached(&s.server.base);
        server.client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        server
    };
    let r = fresh()
        .stateless(&t, &stateless(1, "server/discover", json!({})))
        .await;
    assert_eq!(r.status, 200);
    let call = stateless(
        2,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "chocolate orders"}}),
    );
    let r = fresh().stateless(&t, &call).await;
    let id = r.body["result"]["structuredContent"]["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = stateless(
        3,
        "tools/call",
        json!({"name": "fetch", "arguments": {"id": id}}),
    );
    let r = fresh().stateless(&t, &call).await;
    assert!(
        !r.body["result"]["structuredContent"]["text"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    let init = request(
        1,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "openai-mcp", "version": "1"}}),
    );
    let r = fresh().rpc(&t, &init, &[]).await;
    assert_eq!(r.body["result"]["protocolVersion"], "2025-11-25");
    let h = [("mcp-protocol-version", "2025-11-25")];
    let r = fresh()
        .rpc(
            &t,
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            &h,
        )
        .await;
    assert_eq!(r.status, 202);
    let call = request(
        2,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "wedding"}}),
    );
    let r = fresh().rpc(&t, &call, &h).await;
    assert_eq!(
        r.body["result"]["structuredContent"]["results"][0]["id"], "order-1002",
        "{}",
        r.text
    );
}
