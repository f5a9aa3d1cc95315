//! `POST /mcp` for initialize-based clients (2025-03-26, 2025-06-18, 2025-11-25) and the
//! transport rules every era shares: media types, size, malformed JSON-RPC, JSON or SSE answers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mcp::*;
use crate::support::*;

fn initialize(version: &str) -> Value {
    request(
        1,
        "initialize",
        json!({ "protocolVersion": version, "capabilities": {}, "clientInfo": { "name": "t", "version": "1" } }),
    )
}

#[tokio::test]
async fn initialize_echoes_a_supported_version_and_otherwise_offers_the_newest() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2024-11-05", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let r = s.server.rpc(&t, &initialize(asked), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body["result"]["protocolVersion"], answered,
            "asked {asked}"
        );
        assert_eq!(
            r.body["result"]["capabilities"]["tools"],
            json!({ "listChanged": false })
        );
        assert_eq!(
            r.body["result"]["serverInfo"]["name"],
            "mcp-resource-server"
        );
    }
}

#[tokio::test]
async fn no_session_id_is_issued_and_one_sent_by_a_client_is_ignored() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let r = s.server.rpc(&t, &initialize("2025-11-25"), &[]).await;
    assert_eq!(r.header("mcp-session-id"), None);
    let list = request(2, "tools/list", json!({}));
    let headers = [
        ("mcp-protocol-version", "2025-11-25"),
        ("mcp-session-id", "made-up"),
    ];
    let r = s.server.rpc(&t, &list, &headers).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["result"]["tools"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn ping_answers_an_empty_result_with_the_request_id() {
    let s = Stack::start().await;
    let r = s
        .server
        .rpc(
            &token(&s.keys),
            &json!({"jsonrpc": "2.0", "id": "p-1", "method": "ping"}),
            &[],
        )
        .await;
    assert_eq!(
        r.body,
        json!({ "jsonrpc": "2.0", "id": "p-1", "result": {} })
    );
}

#[tokio::test]
async fn notifications_and_responses_get_202_without_a_body() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    for body in [
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
        json!({"jsonrpc": "2.0", "id": 5, "result": {}}),
    ] {
        let r = s.server.rpc(&t, &body, &[]).await;
        assert_eq!(r.status, 202, "{body}");
        assert!(r.text.is_empty());
    }
}

#[tokio::test]
async fn tools_list_describes_search_and_fetch_with_the_chatgpt_contract() {
    let s = Stack::start().await;
    let list = request(2, "tools/list", json!({}));
    let r = s.server.rpc_at(&token(&s.keys), &list, "2025-11-25").await;
    insta::assert_json_snapshot!("tools_list", r.body["result"]);
}

#[tokio::test]
async fn a_request_without_a_version_header_is_served_as_2025_03_26() {
    let s = Stack::start().await;
    let r = s
        .server
        .rpc(&token(&s.keys), &request(2, "tools/list", json!({})), &[])
        .await;
    let tools = r.body["result"]["tools"].as_array().unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t.get("outputSchema").is_none() && t.get("title").is_none())
    );
    let call = request(
        3,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "cupcakes"}}),
    );
    let r = s.server.rpc(&token(&s.keys), &call, &[]).await;
    assert!(
        r.body["result"].get("structuredContent").is_none(),
        "{}",
        r.text
    );
    assert!(
        r.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("results")
    );
}

#[tokio::test]
async fn an_unknown_version_header_gets_400_listing_the_supported_versions() {
    let s = Stack::start().await;
    let list = request(2, "tools/list", json!({}));
    let r = s.server.rpc_at(&token(&s.keys), &list, "1999-01-01").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), Some(-32022));
    assert_eq!(r.body["id"], 2);
    assert_eq!(r.body["error"]["data"]["requested"], "1999-01-01");
    assert!(
        r.body["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!("2025-11-25"))
    );
}

#[tokio::test]
async fn search_returns_structured_content_and_the_same_json_as_text() {
    let s = Stack::start().await;
    let call = request(
        3,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "chocolate orders", "limit": 3}}),
    );
    let r = s.server.rpc_at(&token(&s.keys), &call, "2025-06-18").await;
    let result = &r.body["result"];
    let structured = &result["structuredContent"];
    let results = structured["results"].as_array().unwrap();
    assert!(!results.is_empty() && results.len() <= 3, "{}", r.text);
    assert!(
        results[0]["title"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("chocolate")
    );
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, structured);
    assert_eq!(result["content"][0]["type"], "text");
    assert!(result.get("isError").is_none());
}

#[tokio::test]
async fn bad_tool_arguments_are_error_results_that_say_what_to_change() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    for (name, args, expected) in [
        ("search", json!({}), "`query` is required"),
        ("search", json!({"query": "  "}), "`query` is empty"),
        ("search", json!({"query": 7}), "must be a string"),
        (
            "search",
            json!({"query": "x", "limit": 500}),
            "from 1 to 50",
        ),
        (
            "search",
            json!({"query": "x", "q": 1}),
            "unknown argument `q`",
        ),
        (
            "fetch",
            json!({"id": "no-such-doc"}),
            "no document has the id `no-such-doc`",
        ),
        ("fetch", json!({}), "`id` is required"),
    ] {
        let call = request(4, "tools/call", json!({"name": name, "arguments": args}));
        let r = s.server.rpc_at(&t, &call, "2025-11-25").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["result"]["isError"], true, "{name} {args}");
        let text = r.body["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(expected), "{name} {args}: {text}");
    }
}

#[tokio::test]
async fn an_unknown_tool_or_method_is_a_json_rpc_error_naming_the_alternatives() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let h = [("mcp-protocol-version", "2025-11-25")];
    let call = request(
        5,
        "tools/call",
        json!({"name": "delete_everything", "arguments": {}}),
    );
    let r = s.server.rpc(&t, &call, &h).await;
    assert_eq!((r.status, r.code()), (200, Some(-32602)));
    assert!(r.message().contains("`search` and `fetch`"));
    let r = s
        .server
        .rpc(&t, &request(6, "resources/list", json!({})), &h)
        .await;
    assert_eq!((r.status, r.code()), (200, Some(-32601)));
    assert_eq!(r.body["id"], 6);
    let r = s
        .server
        .rpc(&t, &request(7, "server/discover", json!({})), &h)
        .await;
    assert_eq!(
        r.status, 400,
        "server/discover is always the stateless era: {}",
        r.text
    );
}

#[tokio::test]
async fn malformed_requests_get_the_right_status_and_error() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let ok = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).unwrap();
    let h = |ct: &str, accept: &str| -> Vec<(String, String)> {
        vec![
            ("content-type".into(), ct.into()),
            ("accept".into(), accept.into()),
        ]
    };
    // What is wrong, headers, body, expected status, code and part of the message.
    type Case<'a> = (&'a str, Vec<(String, String)>, Vec<u8>, u16, i64, &'a str);
    let cases: Vec<Case> = vec![
        (
            "bad json",
            h("application/json", JSON_AND_SSE),
            b"{\"jsonrpc\":".to_vec(),
            400,
            -32700,
            "not valid JSON",
        ),
        (
            "text body",
            h("text/plain", JSON_AND_SSE),
            ok.clone(),
            415,
            -32000,
            "application/json",
        ),
        (
            "no content type",
            vec![("accept".into(), JSON_AND_SSE.into())],
            ok.clone(),
            415,
            -32000,
            "Content-Type",
        ),
        (
            "json only",
            h("application/json", "application/json"),
            ok.clone(),
            406,
            -32000,
            "text/event-stream",
        ),
        (
            "sse only",
            h("application/json", "text/event-stream"),
            ok.clone(),
            406,
            -32000,
            "both",
        ),
        (
            "null id",
            h("application/json", JSON_AND_SSE),
            br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#.to_vec(),
            400,
            -32600,
            "string or an integer",
        ),
        (
            "no jsonrpc",
            h("application/json", JSON_AND_SSE),
            br#"{"id":1,"method":"ping"}"#.to_vec(),
            400,
            -32600,
            "2.0",
        ),
        (
            "array params",
            h("application/json", JSON_AND_SSE),
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}"#.to_vec(),
            400,
            -32602,
            "object",
        ),
        (
            "a string",
            h("application/json", JSON_AND_SSE),
            br#""ping""#.to_vec(),
            400,
            -32600,
            "JSON object",
        ),
        (
            "empty batch",
            h("application/json", JSON_AND_SSE),
            b"[]".to_vec(),
            400,
            -32600,
            "empty",
        ),
    ];
    for (what, headers, body, status, code, says) in cases {
        let r = s.server.post_raw("/mcp", Some(&t), &headers, body).await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        assert_eq!(r.code(), Some(code), "{what}: {}", r.text);
        assert!(r.message().contains(says), "{what}: {}", r.text);
    }
}

#[tokio::test]
async fn accept_ranges_and_charset_parameters_are_understood() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    for (ct, accept) in [
        ("application/json; charset=utf-8", JSON_AND_SSE),
        ("Application/JSON", "*/*"),
        ("application/json", "application/*, text/*"),
    ] {
        let r = s
            .server
            .rpc(&t, &ping, &[("content-type", ct), ("accept", accept)])
            .await;
        assert_eq!(r.status, 200, "{ct} / {accept}: {}", r.text);
    }
    let r = s
        .server
        .rpc(
            &t,
            &ping,
            &[("accept", "application/json, text/event-stream;q=0")],
        )
        .await;
    assert_eq!(r.status, 406, "q=0 refuses a type");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_naming_the_setting() {
    let s = Stack::with(&[("MCP_MAX_BODY_BYTES", "2048")]).await;
    let big = request(
        1,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "x".repeat(4096)}}),
    );
    let r = s.server.rpc(&token(&s.keys), &big, &[]).await;
    assert_eq!(r.status, 413);
    assert!(r.message().contains("MCP_MAX_BODY_BYTES"));
}

#[tokio::test]
async fn batches_are_answered_in_2025_03_26_and_refused_in_later_versions() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": null, "method": "ping"},
    ]);
    let r = s.server.rpc_at(&t, &batch, "2025-03-26").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let replies = r.body.as_array().unwrap();
    assert_eq!(
        replies.len(),
        3,
        "one reply per request, none for the notification"
    );
    assert_eq!(replies[0]["result"], json!({}));
    assert_eq!(replies[1]["result"]["tools"].as_array().unwrap().len(), 2);
    assert_eq!(replies[2]["error"]["code"], -32600);
    for version in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        let r = s
            .server
            .rpc(&t, &batch, &[("mcp-protocol-version", version)])
            .await;
        assert_eq!((r.status, r.code()), (400, Some(-32600)), "{version}");
        assert!(r.message().contains("one message per POST"));
    }
}

#[tokio::test]
async fn a_client_preferring_event_streams_gets_an_unbuffered_sse_answer() {
    let s = Stack::start().await;
    let response = s
        .server
        .client
        .post(format!("{}/mcp", s.server.base))
        .bearer_auth(token(&s.keys))
        .header("content-type", "application/json")
        .header("accept", "text/event-stream, application/json;q=0.5")
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}))
        .send()
        .await
        .unwrap();
    let mut events = Events::open(response);
    assert_eq!(
        events.next_message().await,
        json!({"jsonrpc": "2.0", "id": 9, "result": {}})
    );
    assert!(
        events.next_block(Duration::from_secs(5)).await.is_none(),
        "the stream ends after the answer"
    );
}

#[tokio::test]
async fn a_tool_call_with_a_progress_token_streams_progress_then_the_result() {
    let s = Stack::start().await;
    let call = request(
        10,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "cupcakes"}, "_meta": {"progressToken": "tok-1"}}),
    );
    let response = s
        .server
        .client
        .post(format!("{}/mcp", s.server.base))
        .bearer_auth(token(&s.keys))
        .header("content-type", "application/json")
        .header("accept", JSON_AND_SSE)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&call)
        .send()
        .await
        .unwrap();
    let mut events = Events::open(response);
    let first = events.next_message().await;
    assert_eq!(first["method"], "notifications/progress");
    assert_eq!(first["params"]["progressToken"], "tok-1");
    let mut last = events.next_message().await;
    while last.get("method").is_some() {
        assert!(last["params"]["progress"].as_u64() >= first["params"]["progress"].as_u64());
        last = events.next_message().await;
    }
    assert_eq!(last["id"], 10);
    assert!(
        !last["result"]["structuredContent"]["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
