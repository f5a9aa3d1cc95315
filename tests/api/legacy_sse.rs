//! The 2024-11-05 HTTP+SSE fallback: `GET /sse` and `POST /messages?sessionId=…`, sessions
//! bounded in number and idle time and bound to the token's subject and client.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::mcp::*;
use crate::support::*;

/// Opens `/sse` and reads the endpoint event; returns the stream and the message URL path.
pub(crate) async fn open(server: &TestServer, token: &str) -> (Events, String) {
    let response = server
        .client
        .get(format!("{}/sse", server.base))
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        // A stream outlives the test client's 10 s limit for a whole request when a test
        // fills it slowly on a busy machine; each read has its own limit (`Events`).
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    let mut events = Events::open(response);
    let (name, data) = events.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(name, "endpoint", "the endpoint event comes first");
    assert!(data.starts_with("/messages?sessionId="), "{data}");
    (events, data)
}

/// `GET /sse`, whatever the answer.
async fn get_sse(server: &TestServer, token: &str) -> reqwest::Response {
    server
        .client
        .get(format!("{}/sse", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn post(server: &TestServer, token: &str, path: &str, body: &Value) -> Reply {
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    server
        .post_raw(
            path,
            Some(token),
            &headers,
            serde_json::to_vec(body).unwrap(),
        )
        .await
}

#[tokio::test]
async fn messages_are_accepted_with_202_and_answered_on_the_stream() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let (mut events, endpoint) = open(&s.server, &t).await;
    let init = request(
        1,
        "initialize",
        json!({"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "old", "version": "1"}}),
    );
    let r = post(&s.server, &t, &endpoint, &init).await;
    assert_eq!(r.status, 202);
    let reply = events.next_message().await;
    assert_eq!(reply["id"], 1);
    assert_eq!(reply["result"]["protocolVersion"], "2024-11-05");
    let call = request(
        2,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "refund"}}),
    );
    assert_eq!(post(&s.server, &t, &endpoint, &call).await.status, 202);
    let reply = events.next_message().await;
    assert_eq!(reply["id"], 2);
    assert!(
        reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("results")
    );
    let r = post(
        &s.server,
        &t,
        &endpoint,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(r.status, 202);
}

#[tokio::test]
async fn both_routes_need_a_token_and_a_post_to_sse_gets_405() {
    let s = Stack::start().await;
    let r = s.server.get("/sse").await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("resource_metadata=")
    );
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    let r = s
        .server
        .post_raw("/messages?sessionId=x", None, &headers, b"{}".to_vec())
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .server
        .post_raw("/sse", Some(&token(&s.keys)), &headers, b"{}".to_vec())
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
}

#[tokio::test]
async fn a_message_for_an_unknown_or_missing_session_is_refused() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let r = post(&s.server, &t, "/messages?sessionId=0123456789abcdef", &ping).await;
    assert_eq!(r.status, 404);
    assert!(r.message().contains("GET /sse"));
    let r = post(&s.server, &t, "/messages", &ping).await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("sessionId"));
}

#[tokio::test]
async fn another_users_token_cannot_write_to_a_session() {
    let s = Stack::start().await;
    let (_events, endpoint) = open(&s.server, &token(&s.keys)).await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let mallory = token_with(&s.keys, |c| c["sub"] = json!("mallory"));
    let r = post(&s.server, &mallory, &endpoint, &ping).await;
    assert_eq!(r.status, 403);
    let other_client = token_with(&s.keys, |c| c["azp"] = json!("some-other-client"));
    assert_eq!(
        post(&s.server, &other_client, &endpoint, &ping)
            .await
            .status,
        403
    );
    assert_eq!(
        post(&s.server, &token(&s.keys), &endpoint, &ping)
            .await
            .status,
        202
    );
}

#[tokio::test]
async fn bad_messages_are_refused_with_the_same_errors_as_on_mcp() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let (_events, endpoint) = open(&s.server, &t).await;
    let json = vec![("content-type".to_owned(), "application/json".to_owned())];
    let r = s
        .server
        .post_raw(&endpoint, Some(&t), &json, b"{nope".to_vec())
        .await;
    assert_eq!((r.status, r.code()), (400, Some(-32700)));
    let text = vec![("content-type".to_owned(), "text/plain".to_owned())];
    let r = s
        .server
        .post_raw(&endpoint, Some(&t), &text, b"{}".to_vec())
        .await;
    assert_eq!(r.status, 415);
    let r = post(
        &s.server,
        &t,
        &endpoint,
        &json!({"jsonrpc": "2.0", "id": null, "method": "ping"}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, Some(-32600)));
}

#[tokio::test]
async fn sessions_past_the_limit_get_503_and_open_streams_keep_working() {
    let s = Stack::with(&[("MCP_SSE_MAX_SESSIONS", "2")]).await;
    let t = token(&s.keys);
    let (mut first, endpoint) = open(&s.server, &t).await;
    let (_second, _) = open(&s.server, &t).await;
    assert_eq!(s.server.metric("mcp_sse_sessions").await, 2.0);
    let r = get_sse(&s.server, &t).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    assert_eq!(post(&s.server, &t, &endpoint, &ping).await.status, 202);
    assert_eq!(first.next_message().await["id"], 7);
}

#[tokio::test]
async fn a_closed_stream_ends_its_session_and_frees_its_place() {
    let s = Stack::with(&[("MCP_SSE_MAX_SESSIONS", "1")]).await;
    let t = token(&s.keys);
    let (events, endpoint) = open(&s.server, &t).await;
    drop(events);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let mut status = 0;
    let gone = async || {
        status = post(&s.server, &t, &endpoint, &ping).await.status;
        status == 404
    };
    wait::comes_true(Duration::from_secs(5), gone).await;
    assert_eq!(status, 404, "the session is gone once its stream is closed");
    let _ = open(&s.server, &t).await;
}

#[tokio::test]
async fn quiet_streams_get_keep_alive_comments_and_idle_ones_are_closed() {
    let s = Stack::with(&[("MCP_SSE_KEEPALIVE_SECS", "1"), ("MCP_SSE_IDLE_SECS", "3")]).await;
    let (mut events, _) = open(&s.server, &token(&s.keys)).await;
    let comment = events.next_block(Duration::from_secs(5)).await.unwrap();
    assert!(
        comment.starts_with(':'),
        "a comment, not an event: {comment}"
    );
    let mut ended = false;
    for _ in 0..10 {
        match events.next_block(Duration::from_secs(5)).await {
            Some(block) => assert!(block.starts_with(':'), "{block}"),
            None => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "an idle stream is closed after MCP_SSE_IDLE_SECS");
}

#[tokio::test]
async fn one_caller_holds_at_most_eight_streams_and_others_still_get_theirs() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(open(&s.server, &t).await);
    }
    let refused = get_sse(&s.server, &t).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("MCP_SSE_MAX_SESSIONS_PER_SUBJECT"),
        "{message}"
    );
    let bob = token_with(&s.keys, |c| c["sub"] = json!("1b2c3d4e-2222-4c2b-9d7e-bob"));
    let _theirs = open(&s.server, &bob).await;
    assert_eq!(
        s.server
            .metric("mcp_fair_use_refusals_total{limit=\"sse_sessions\"}")
            .await,
        1.0
    );
    // A stream closed frees its place.
    held.pop();
    let opens = async || get_sse(&s.server, &t).await.status() == 200;
    let reopened = wait::comes_true(Duration::from_secs(5), opens).await;
    assert!(reopened, "a closed stream did not free its place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_for_a_stream_nobody_reads_are_bounded_in_bytes() {
    // The allowance of tool calls would stop this caller long before; it is off here so the
    // outbox bound (the default, 256 KiB a stream) is what is tested.
    let s = Stack::with(&[("MCP_RATE_LIMIT_PER_MIN", "0")]).await;
    let t = token(&s.keys);
    let (mut events, endpoint) = open(&s.server, &t).await;
    let mut busy = None;
    // Answers accepted and not yet read; on a busy machine the outbox may fill after only a few.
    let mut unread = 0;
    for i in 0..5000 {
        let search = request(
            i,
            "tools/call",
            json!({"name": "search", "arguments": {"query": format!("order cupcake {i}"), "limit": 50}}),
        );
        let r = post(&s.server, &t, &endpoint, &search).await;
        if r.status == 503 {
            busy = Some(r);
            break;
        }
        assert_eq!(r.status, 202, "{}", r.text);
        unread += 1;
    }
    let busy = busy.expect("5 000 answers nobody read were all queued");
    assert!(busy.header("retry-after").is_some());
    assert!(
        busy.message().contains("not being read"),
        "{}",
        busy.message()
    );
    // The refusal says the outbox was full; by now the stream may have written some of it out
    // to the socket (the client's buffers take what it does not read), so only the bound is
    // checked here.
    let queued = s.server.metric("mcp_sse_queued_bytes").await;
    assert!(
        queued <= (256 * 1024 + 64 * 1024) as f64,
        "{queued} bytes queued for one stream"
    );
    assert!(
        s.server
            .metric("mcp_fair_use_refusals_total{limit=\"sse_outbox\"}")
            .await
            >= 1.0
    );
    // Reading the stream makes room again.
    let ping = json!({"jsonrpc": "2.0", "id": "after", "method": "ping"});
    let mut accepted = false;
    while !accepted {
        for _ in 0..unread.min(5) {
            events.next_message().await;
            unread -= 1;
        }
        accepted = post(&s.server, &t, &endpoint, &ping).await.status == 202;
        assert!(
            accepted || unread > 0,
            "every answer was read and the stream still has no room"
        );
    }
    drop(events);
    // A closed stream's unread answers no longer count.
    let none_queued = async || s.server.metric("mcp_sse_queued_bytes").await == 0.0;
    assert!(
        wait::comes_true(Duration::from_secs(5), none_queued).await,
        "the answers of a closed stream still count as queued"
    );
}
