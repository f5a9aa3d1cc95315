//! Fair use at the default settings: bounded batches, a per-caller allowance of tool calls,
//! and one caller's refusals never touching another's calls.

use serde_json::{Value, json};

use crate::support::mcp::{request, stateless};
use crate::support::*;

/// A token of another user (`sub`) through the same client.
fn other_user(keys: &Keys) -> String {
    token_with(keys, |c| {
        c["sub"] = json!("1b2c3d4e-2222-4c2b-9d7e-bob");
        c["preferred_username"] = json!("bob");
    })
}

fn fetch(id: i64) -> Value {
    request(
        id,
        "tools/call",
        json!({"name": "fetch", "arguments": {"id": "order-1001"}}),
    )
}

#[tokio::test]
async fn a_batch_past_32_messages_is_refused_whole_with_an_error_naming_the_limit() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let pings = |n: i64| Value::Array((1..=n).map(|i| request(i, "ping", json!({}))).collect());
    let r = s.server.rpc_at(&t, &pings(33), "2025-03-26").await;
    assert_eq!((r.status, r.code()), (400, Some(-32600)), "{}", r.text);
    assert!(
        r.message()
            .contains("more than the 32 this server takes in one batch"),
        "{}",
        r.message()
    );
    assert_eq!(r.body["error"]["data"]["maxBatch"], 32);
    let r = s.server.rpc_at(&t, &pings(32), "2025-03-26").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|reply| reply["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=32).collect::<Vec<_>>(), "answers in order");
}

#[tokio::test]
async fn a_caller_past_its_allowance_gets_429_with_retry_after_and_others_do_not() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    // The default burst is 60 tool calls.
    for i in 0..60 {
        let r = s.server.rpc_at(&t, &fetch(i), "2025-11-25").await;
        assert_eq!(r.status, 200, "call {i}: {}", r.text);
        assert_ne!(r.body["result"]["isError"], true, "{}", r.text);
    }
    let r = s.server.rpc_at(&t, &fetch(61), "2025-11-25").await;
    assert_eq!((r.status, r.code()), (429, Some(-32000)), "{}", r.text);
    assert!(
        r.message().contains("MCP_RATE_LIMIT_PER_MIN"),
        "{}",
        r.message()
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(r.body["error"]["data"]["limit"], "rate");
    assert_eq!(r.body["error"]["data"]["retryAfterSeconds"], retry);
    // The refusal was held until a call could be made again (a tenth of a second at 600 a
    // minute), so the next call may pass; the one after it is refused, in the stateless era too.
    let call = stateless(
        62,
        "tools/call",
        json!({"name": "fetch", "arguments": {"id": "order-1001"}}),
    );
    let mut refused = None;
    for _ in 0..3 {
        let r = s.server.stateless(&t, &call).await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the stateless era let a caller past its allowance");
    assert_eq!(r.code(), Some(-32000), "{}", r.text);
    // A call whose answer would be an event stream (it asks for progress) is refused the same
    // way, with a 429 and Retry-After before any stream is opened, not inside a 200 stream.
    let mut with_progress = fetch(65);
    with_progress["params"]["_meta"] = json!({"progressToken": "p-65"});
    let mut refused = None;
    for _ in 0..3 {
        let r = s.server.rpc_at(&t, &with_progress, "2025-11-25").await;
        if r.status == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("a call answered as a stream let a caller past its allowance");
    assert_eq!(r.code(), Some(-32000), "{}", r.text);
    assert!(r.header("retry-after").is_some(), "{}", r.text);
    // Calls that are not tool calls are not counted, and other users keep their own allowance.
    let r = s
        .server
        .rpc_at(&t, &request(63, "tools/list", json!({})), "2025-11-25")
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .server
        .rpc_at(&other_user(&s.keys), &fetch(64), "2025-11-25")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        s.server
            .metric("mcp_fair_use_refusals_total{limit=\"rate\"}")
            .await
            >= 2.0
    );
}

#[tokio::test]
async fn a_batch_takes_all_its_tool_calls_from_the_allowance_at_once() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let calls = |n: i64| Value::Array((1..=n).map(fetch).collect());
    let r = s.server.rpc_at(&t, &calls(32), "2025-03-26").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|reply| reply["result"]["isError"] != true)
    );
    // 28 calls are left of the 60: a batch of 32 is refused whole, before any is answered.
    let r = s.server.rpc_at(&t, &calls(32), "2025-03-26").await;
    assert_eq!((r.status, r.code()), (429, Some(-32000)), "{}", r.text);
    assert!(r.header("retry-after").is_some());
    let r = s.server.rpc_at(&t, &calls(28), "2025-03-26").await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_cheap_calls_from_one_caller_is_bounded_and_others_are_not_touched() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let list = request(1, "tools/list", json!({}));
    // The default burst of requests is 600.
    let mut refused = None;
    for i in 0..700 {
        let r = s.server.rpc_at(&t, &list, "2025-11-25").await;
        if r.status == 429 {
            refused = Some((i, r));
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let (at, r) = refused.expect("700 tools/list calls in a burst all passed");
    // The burst, plus what refills (100 a second) while the calls are being made.
    assert!((600..700).contains(&at), "refused after {at} calls");
    assert!(
        r.message().contains("MCP_REQUEST_LIMIT_PER_MIN"),
        "{}",
        r.message()
    );
    assert!(r.header("retry-after").is_some());
    let r = s
        .server
        .rpc_at(&other_user(&s.keys), &list, "2025-11-25")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}
