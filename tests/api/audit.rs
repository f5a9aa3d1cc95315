//! The audit trail, read from the real binary's JSON log at the default settings: one event
//! per tool call and per refused call, naming the caller, the tool and what came of it, the
//! query only as its SHA-256, and never a token.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::process::{serve_ready, temp_file, terminate};
use crate::support::mcp::request;
use crate::support::*;

const VERSION: &str = "2025-11-25";

fn call(tool: &str, arguments: Value) -> Value {
    request(
        1,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
}

/// SHA-256 in hex, as the trail writes a query.
fn sha256(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tool_call_and_refused_call_is_one_audit_event_without_a_token() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let log = temp_file("audit.log");
    let extra = [
        ("MCP_LOG_FORMAT", "json".to_owned()),
        ("MCP_TOOLS_FETCH_SCOPES", "mcp:fetch".to_owned()),
        // Ten calls at once per caller, and next to none after: carol's eleventh is refused.
        ("MCP_RATE_LIMIT_BURST", "10".to_owned()),
        ("MCP_RATE_LIMIT_PER_MIN", "1".to_owned()),
    ];
    let (mut child, server) = serve_ready(&kc, &extra, &log).await;
    let alice = token_with(&keys, |c| c["scope"] = json!("openid mcp:tools mcp:fetch"));
    let bob = token_with(&keys, |c| {
        c["sub"] = json!("0f4a7a1e-2222-bob");
        c["preferred_username"] = json!("bob");
        c["azp"] = json!("mcp-inspector");
    });
    let carol = token_with(&keys, |c| c["sub"] = json!("0f4a7a1e-3333-carol"));
    let expired = token_with(&keys, |c| c["exp"] = json!(1_000_000_000));
    let calls: [(&str, &str, Value); 10] = [
        (
            "a-search",
            &alice,
            call("search", json!({"query": "chocolate"})),
        ),
        (
            "a-search-cached",
            &alice,
            call("search", json!({"query": "chocolate"})),
        ),
        (
            "a-fetch-served",
            &alice,
            call("fetch", json!({"id": "order-1001"})),
        ),
        (
            "a-fetch-hidden",
            &alice,
            call("fetch", json!({"id": "invoice-3001"})),
        ),
        (
            "a-fetch-absent",
            &alice,
            call("fetch", json!({"id": "no-such-doc"})),
        ),
        (
            "a-bad-arguments",
            &alice,
            call("search", json!({"query": 5})),
        ),
        (
            "a-unknown-tool",
            &alice,
            call("delete_everything", json!({})),
        ),
        (
            "b-scope-missing",
            &bob,
            call("fetch", json!({"id": "order-1001"})),
        ),
        (
            "x-expired",
            &expired,
            call("search", json!({"query": "chocolate"})),
        ),
        (
            "x-not-a-token",
            "not.a.token",
            call("search", json!({"query": "x"})),
        ),
    ];
    for (id, token, body) in &calls {
        let headers = [("mcp-protocol-version", VERSION), ("x-request-id", *id)];
        server.rpc(token, body, &headers).await;
    }
    let carols: Vec<String> = (0..11).map(|n| format!("c-{n}")).collect();
    for id in &carols {
        let headers = [
            ("mcp-protocol-version", VERSION),
            ("x-request-id", id.as_str()),
        ];
        let body = call("search", json!({"query": format!("cupcake {id}")}));
        server.rpc(&carol, &body, &headers).await;
    }
    // Dave's batch (2025-03-26) holds eleven tool calls, more than his allowance ever holds at
    // once: it is refused whole, and each of its calls is one refused event.
    let dave = token_with(&keys, |c| c["sub"] = json!("0f4a7a1e-4444-dave"));
    let mut batch: Vec<Value> = (0..9)
        .map(|n| {
            request(
                n,
                "tools/call",
                json!({"name": "search", "arguments": {"query": "x"}}),
            )
        })
        .collect();
    batch.push(request(
        9,
        "tools/call",
        json!({"name": "fetch", "arguments": {"id": "order-1001"}}),
    ));
    batch.push(request(
        10,
        "tools/call",
        json!({"name": "made_up", "arguments": {}}),
    ));
    batch.push(request(11, "tools/list", json!({})));
    let headers = [
        ("mcp-protocol-version", "2025-03-26"),
        ("x-request-id", "d-batch"),
    ];
    let refusal = server.rpc(&dave, &Value::Array(batch), &headers).await;
    assert_eq!(refusal.status, 429, "{}", refusal.text);
    assert_eq!(terminate(&mut child), 0);

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [&alice, &bob, &expired] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(
            !text.contains(signature),
            "a token reached the log:\n{text}"
        );
    }
    let events = events_of(&text);
    let ids = calls
        .iter()
        .map(|(id, _, _)| *id)
        .chain(carols.iter().map(String::as_str));
    for id in ids {
        assert_eq!(events.get(id).map(Vec::len), Some(1), "{id}:\n{text}");
    }
    assert_eq!(events.len(), calls.len() + carols.len() + 1, "{events:?}");
    let batched = &events["d-batch"];
    assert_eq!(batched.len(), 11, "{batched:?}");
    for e in batched {
        assert_eq!(e["outcome"], "refused", "{e}");
        assert_eq!(e["reason"], "limited", "{e}");
        assert_eq!(e["sub"], "0f4a7a1e-4444-dave", "{e}");
    }
    let tools: Vec<Option<&str>> = batched.iter().map(|e| e["tool"].as_str()).collect();
    assert_eq!(
        tools.iter().filter(|t| **t == Some("search")).count(),
        9,
        "{tools:?}"
    );
    assert_eq!(
        tools.iter().filter(|t| **t == Some("fetch")).count(),
        1,
        "{tools:?}"
    );
    assert_eq!(tools.iter().filter(|t| t.is_none()).count(), 1, "{tools:?}");
    let event = |id: &str| &events[id][0];

    let search = event("a-search");
    // The log line keeps the request's span (the spans only traces carry are left out).
    assert_eq!(search["span"]["name"], "request", "{search}");
    assert_eq!(search["span"]["request_id"], "a-search", "{search}");
    assert_eq!(search["sub"], "0f4a7a1e-1111-4c2b-9d7e-alice");
    assert_eq!(search["preferred_username"], "alice");
    assert_eq!(search["azp"], "chatgpt");
    assert_eq!(search["tool"], "search");
    assert_eq!(search["outcome"], "ok");
    assert_eq!(search["query_sha256"], sha256("chocolate"));
    assert!(search.get("query").is_none(), "hashed by default: {search}");
    let ids: Vec<String> = serde_json::from_str(search["result_ids"].as_str().unwrap()).unwrap();
    assert!(
        !ids.is_empty() && ids.iter().all(|i| !i.starts_with("invoice-")),
        "{ids:?}"
    );
    // An answer from the result cache records the same ids.
    assert_eq!(event("a-search-cached")["result_ids"], search["result_ids"]);

    // The caller is told "no document has the id" for both a hidden and a missing one; the
    // trail tells them apart.
    for (id, fetch, outcome, reason) in [
        ("a-fetch-served", "served", "ok", None),
        ("a-fetch-hidden", "hidden", "refused", Some("not_found")),
        ("a-fetch-absent", "absent", "refused", Some("not_found")),
    ] {
        let e = event(id);
        assert_eq!(e["tool"], "fetch", "{e}");
        assert_eq!(e["fetch"], fetch, "{e}");
        assert_eq!(e["outcome"], outcome, "{e}");
        assert_eq!(e["reason"].as_str(), reason, "{e}");
    }
    assert_eq!(event("a-fetch-hidden")["fetch_id"], "invoice-3001");

    let refused = |id: &str, reason: &str, tool: Option<&str>| {
        let e = event(id);
        assert_eq!(e["outcome"], "refused", "{e}");
        assert_eq!(e["reason"], reason, "{e}");
        assert_eq!(e["tool"].as_str(), tool, "{e}");
    };
    refused("a-bad-arguments", "invalid_arguments", Some("search"));
    refused("a-unknown-tool", "unknown_tool", None);
    refused("b-scope-missing", "scope_missing", Some("fetch"));
    assert_eq!(event("b-scope-missing")["preferred_username"], "bob");
    assert_eq!(event("b-scope-missing")["azp"], "mcp-inspector");
    assert_eq!(event("c-9")["outcome"], "ok");
    refused("c-10", "limited", Some("search"));
    refused("x-expired", "expired", None);
    refused("x-not-a-token", "malformed", None);
    for id in ["x-expired", "x-not-a-token"] {
        assert!(
            event(id).get("sub").is_none(),
            "a refused token names no one"
        );
    }
    let _ = std::fs::remove_file(log);
}

/// The audit events of `log`, by request id.
fn events_of(text: &str) -> HashMap<String, Vec<Value>> {
    let mut events: HashMap<String, Vec<Value>> = HashMap::new();
    for line in text.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        if line["target"] == "audit" {
            let id = line["request_id"].as_str().unwrap().to_owned();
            events.entry(id).or_default().push(line);
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_of_refusal_is_one_audit_event_through_each_transport() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let log = temp_file("audit-transports.log");
    let extra = [
        ("MCP_LOG_FORMAT", "json".to_owned()),
        ("MCP_TOOLS_FETCH_SCOPES", "mcp:fetch".to_owned()),
        // One call at once per caller, and next to none after.
        ("MCP_RATE_LIMIT_BURST", "1".to_owned()),
        ("MCP_RATE_LIMIT_PER_MIN", "1".to_owned()),
    ];
    let (mut child, server) = serve_ready(&kc, &extra, &log).await;
    // A caller per transport, as the allowance is per caller; neither holds mcp:fetch.
    let streamable = token(&keys);
    let legacy = token_with(&keys, |c| c["sub"] = json!("0f4a7a1e-4444-sse"));
    let fetch = call("fetch", json!({"id": "recipes/sourdough.md"}));
    let search = call("search", json!({"query": "bread"}));

    // Streamable HTTP: the fetch lacks a scope (and takes the one call allowed), the search
    // comes past the allowance, and a batch holds more than 32 messages.
    for (id, body) in [("mcp-scope", &fetch), ("mcp-rate", &search)] {
        let headers = [("mcp-protocol-version", VERSION), ("x-request-id", id)];
        server.rpc(&streamable, body, &headers).await;
    }
    let headers = [
        ("mcp-protocol-version", "2025-03-26"),
        ("x-request-id", "mcp-batch"),
    ];
    let mut batch = vec![search.clone(); 32];
    batch.push(fetch.clone());
    let batch = Value::Array(batch);
    let refused = server.rpc(&streamable, &batch, &headers).await;
    assert_eq!(refused.status, 400, "{}", refused.text);

    // The 2024-11-05 transport: the same two refusals, posted to /messages.
    let (_events, endpoint) = crate::legacy_sse::open(&server, &legacy).await;
    for (id, body) in [("sse-scope", &fetch), ("sse-rate", &search)] {
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-request-id".to_owned(), id.to_owned()),
        ];
        let body = serde_json::to_vec(body).unwrap();
        server
            .post_raw(&endpoint, Some(&legacy), &headers, body)
            .await;
    }
    assert_eq!(terminate(&mut child), 0);

    let events = events_of(&std::fs::read_to_string(&log).unwrap());
    for (id, tool, reason) in [
        ("mcp-scope", Some("fetch"), "scope_missing"),
        ("mcp-rate", Some("search"), "limited"),
        ("mcp-batch", None, "batch_too_large"),
        ("sse-scope", Some("fetch"), "scope_missing"),
        ("sse-rate", Some("search"), "limited"),
    ] {
        let seen = events
            .get(id)
            .unwrap_or_else(|| panic!("no event for {id}: {events:?}"));
        assert_eq!(seen.len(), 1, "{id}: {seen:?}");
        assert_eq!(seen[0]["outcome"], "refused", "{id}: {seen:?}");
        assert_eq!(seen[0]["reason"], reason, "{id}: {seen:?}");
        assert_eq!(seen[0]["tool"].as_str(), tool, "{id}: {seen:?}");
    }
}
