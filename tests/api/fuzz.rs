//! Property tests standing in for fuzzing (stable Rust, run by `.ci/run`): generated request
//! bodies against the JSON-RPC/MCP decoder and generated tokens against the token parser, all
//! through the real server on a socket. Whatever arrives, the answer is a well-formed 4xx or
//! 2xx, never a 5xx, a hang or a crash, and no token that is not exactly a valid one is
//! accepted.
//!
//! `PROPTEST_CASES` sets the number of cases per property (256 by default here; raise it for a
//! longer run). A failing case is shrunk, printed, and its seed saved under
//! `tests/api/proptest-regressions/`; commit that file so the case runs first from then on, and
//! add a named test for it beside the code it concerns.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde_json::{Value, json};

use crate::support::*;

/// One server and runtime shared by every case of a property.
struct Bench {
    runtime: tokio::runtime::Runtime,
    stack: Stack,
    valid: String,
}

fn bench() -> &'static Bench {
    static BENCH: OnceLock<Bench> = OnceLock::new();
    BENCH.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stack = runtime.block_on(Stack::start());
        let valid = token(&stack.keys);
        Bench {
            runtime,
            stack,
            valid,
        }
    })
}

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/api/proptest-regressions/fuzz.txt",
        ))),
        ..Config::default()
    })
}

struct Answer {
    status: u16,
    body: String,
}

/// POSTs `body` to `/mcp` with `token`, at protocol version `version`.
fn post(body: Vec<u8>, token: &str, version: &str) -> Answer {
    let b = bench();
    b.runtime.block_on(async {
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            b.stack
                .server
                .client
                .post(format!("{}/mcp", b.stack.server.base))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", version)
                .body(body)
                .send(),
        )
        .await
        .expect("the server did not answer within 10 s")
        .expect("the server closed the connection");
        let status = r.status().as_u16();
        Answer {
            status,
            body: r.text().await.unwrap(),
        }
    })
}

/// The answer is one a client can act on: 2xx or a 4xx carrying a JSON-RPC error object.
fn well_formed(a: &Answer) -> Result<(), TestCaseError> {
    prop_assert!(a.status < 500, "status {}: {}", a.status, a.body);
    if a.status == 202 {
        return Ok(());
    }
    let body: Value = serde_json::from_str(&a.body)
        .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {}", a.body)))?;
    let messages = match &body {
        Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    };
    for m in messages {
        prop_assert_eq!(&m["jsonrpc"], "2.0", "{}", a.body);
        prop_assert!(
            m.get("result").is_some() != m.get("error").is_some(),
            "{}",
            a.body
        );
        if let Some(e) = m.get("error") {
            let code = e["code"].as_i64().unwrap_or(0);
            prop_assert!(
                [-32700, -32600, -32601, -32602, -32000, -32020, -32022].contains(&code),
                "unexpected code {code}: {}",
                a.body
            );
            prop_assert!(
                !e["message"].as_str().unwrap_or("").is_empty(),
                "{}",
                a.body
            );
        }
    }
    Ok(())
}

/// JSON values built from the words MCP messages are made of, so generated messages reach
/// deep into the decoder instead of failing at the first key.
fn mcp_json() -> impl Strategy<Value = Value> {
    let word = prop::sample::select(vec![
        "jsonrpc",
        "2.0",
        "id",
        "method",
        "params",
        "initialize",
        "tools/list",
        "tools/call",
        "server/discover",
        "ping",
        "notifications/initialized",
        "name",
        "search",
        "fetch",
        "arguments",
        "query",
        "limit",
        "_meta",
        "progressToken",
        "protocolVersion",
        "2025-11-25",
        "2026-07-28",
        "io.modelcontextprotocol/protocolVersion",
        "result",
        "error",
        "cursor",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        word.clone().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word.clone(), inner), 0..7).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// A request that is mostly right, with generated parts: what a confused client sends.
fn near_request() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(json!(1)), Just(json!("a")), mcp_json()],
        prop::sample::select(vec!["tools/call", "tools/list", "initialize", "ping", "x"]),
        mcp_json(),
    )
        .prop_map(|(id, method, params)| {
            json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
        })
}

#[test]
fn generated_messages_always_get_a_well_formed_answer() {
    let valid = &bench().valid;
    let strategy = (
        prop_oneof![mcp_json(), near_request()],
        prop::sample::select(vec!["2025-03-26", "2025-11-25", "2026-07-28"]),
    );
    runner()
        .run(&strategy, |(message, version)| {
            let a = post(serde_json::to_vec(&message).unwrap(), valid, version);
            well_formed(&a)
        })
        .unwrap();
}

#[test]
fn arbitrary_bytes_always_get_a_well_formed_answer() {
    let valid = &bench().valid;
    runner()
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            well_formed(&post(bytes, valid, "2025-11-25"))
        })
        .unwrap();
}

/// A valid token with one edit: a byte replaced, removed or inserted.
fn mutated(valid: &str) -> impl Strategy<Value = String> + use<> {
    let valid = valid.to_owned();
    let len = valid.len();
    (0..len, any::<u8>(), 0..3u8).prop_filter_map(
        "an edit that changes the token",
        move |(at, byte, kind)| {
            let mut t = valid.clone().into_bytes();
            let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
                [byte as usize % 66];
            match kind {
                0 => t[at] = c,
                1 => {
                    t.remove(at);
                }
                _ => t.insert(at, c),
            }
            let t = String::from_utf8(t).ok()?;
            (t != valid).then_some(t)
        },
    )
}

/// Tokens with generated headers and claims, signed by the wrong key or not at all.
fn forged() -> impl Strategy<Value = String> {
    let alg = prop::sample::select(vec![
        "RS256", "none", "HS256", "ES256", "PS256", "rs256", "",
    ]);
    let kid = prop::sample::select(vec!["rsa-sig", "rsa-enc", "ec-sig", "unknown", ""]);
    (alg, kid, mcp_json(), any::<bool>()).prop_map(|(alg, kid, extra, signed)| {
        let b = bench();
        let mut header = json!({ "alg": alg, "typ": "JWT", "kid": kid });
        if let Value::Object(fields) = &extra {
            for (k, v) in fields {
                header[k.as_str()] = v.clone();
            }
        }
        let claims = claims();
        let signer = if signed {
            Signer::Rsa(&b.stack.keys.foreign, &ring::signature::RSA_PKCS1_SHA256)
        } else {
            Signer::Nothing
        };
        mint(&header, &claims, &signer)
    })
}

/// Generated three-part tokens of base64url segments holding any JSON.
fn shaped() -> impl Strategy<Value = String> {
    (
        mcp_json(),
        mcp_json(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(h, c, s)| {
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(h.to_string()),
                URL_SAFE_NO_PAD.encode(c.to_string()),
                URL_SAFE_NO_PAD.encode(s)
            )
        })
}

#[test]
fn no_token_but_the_valid_one_is_ever_accepted() {
    let b = bench();
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec();
    assert_eq!(post(ping.clone(), &b.valid, "2025-11-25").status, 200);
    let strategy = prop_oneof![
        mutated(&b.valid),
        forged(),
        shaped(),
        "[ -~]{0,200}",
        "[A-Za-z0-9_.=-]{0,1200}",
    ];
    runner()
        .run(&strategy, |token| {
            // Header values cannot hold every byte; those never reach the parser.
            if axum::http::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
                return Ok(());
            }
            let a = post(ping.clone(), &token, "2025-11-25");
            prop_assert!(
                a.status == 401 || a.status == 400,
                "a changed token got {}: {token}",
                a.status
            );
            Ok(())
        })
        .unwrap();
}
