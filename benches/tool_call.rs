//! Tool call benchmark: what one `tools/call` costs the server once the token is verified,
//! through `Tools::call` as `mcp::dispatch` calls it (reading the arguments into the tool's
//! struct, the tool's scope check, the caller's access terms, then the tool), over the built-in
//! sample corpus.
//!
//!     cargo bench --bench tool_call
//!
//! `search (cached)` is a repeated search answered from the result cache, the common case of a
//! model asking again; `search (new query each time)` adds a number no other call used, as
//! `bench/run`'s `BENCH_VARY` row does; `fetch` reads one document; `bad arguments` is a call refused for an
//! unknown argument. `engine alone (new query each time)` is not a call: it is the same new
//! queries given to tantivy alone (`Index::engine_alone`: its own top-10 ranking of the same
//! query tree, and what the hits show read from the store), the floor under a new search while
//! tantivy ranks and stores the documents. Each runs `ROUNDS` rounds of `CALLS` calls after a warm-up;
//! the table shows the median and the fastest round in microseconds per call. The benchmark
//! allocates with the server's allocator (mimalloc), so its costs are the server's.
//!
//!     cargo bench --bench tool_call -- new
//!
//! runs only the rows whose label holds `new` (for a profiler).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use axum::http::HeaderValue;
use std::time::Instant;

use serde_json::{Map, Value, json};

use mcp_resource_server::alloc::MiMalloc;
use mcp_resource_server::auth::challenge::Challenges;
use mcp_resource_server::auth::{Identity, Principal};
use mcp_resource_server::config::{RawConfig, Settings};
use mcp_resource_server::telemetry::RequestId;
use mcp_resource_server::telemetry::audit::Audit;
use mcp_resource_server::tools::{Asker, Call, Corpus, Tools};

#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;

const CALLS: usize = 20_000;
const ROUNDS: usize = 7;

fn settings() -> Settings {
    let vars = [
        ("MCP_SERVER_URL", "https://mcp.localhost"),
        ("KC_ISSUER", "https://auth.localhost/realms/mcp"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    Settings::from_raw(&RawConfig::load_from(vars).expect("raw")).expect("settings")
}

fn principal() -> Principal {
    Principal::new(Identity {
        subject: Some("alice".into()),
        client_id: Some("bench".into()),
        username: Some("alice".into()),
        scopes: vec!["mcp:tools".into()],
        realm_roles: vec!["staff".into()],
        client_roles: HashMap::new(),
        groups: Vec::new(),
        session_id: None,
        token_id: None,
        kid: "bench".into(),
        exp: i64::MAX,
        jkt: None,
        access: OnceLock::new(),
    })
}

/// One call, run to its answer (ranking work, if any, is run here).
fn call(tools: &Tools, principal: &Principal, name: &str, args: &Map<String, Value>) {
    static REQUEST: LazyLock<RequestId> =
        LazyLock::new(|| RequestId::new(HeaderValue::from_static("bench-1")));
    let asker = Asker {
        principal,
        request_id: &REQUEST,
    };
    let (payload, record) = match tools
        .call(name, args, principal, REQUEST.span(), None, true)
        .expect("a tool")
    {
        Call::Done(payload, record) => (payload, record),
        Call::Rank(work) => work(),
    };
    // As dispatch does for every call: the call's one audit event.
    record.write(tools.audit(), asker);
    drop(payload);
}

fn main() {
    let settings = settings();
    let challenges = Challenges::new(&settings);
    let corpus = Arc::new(Corpus::sample());
    let tools = Tools::new(
        corpus.clone(),
        &settings.required_scopes,
        &settings.tool_scopes,
        &challenges,
        Audit::new(settings.audit_queries),
    );
    let principal = principal();
    let object = |v: Value| v.as_object().cloned().expect("an object");
    let cases = [
        (
            "search (cached)",
            "search",
            object(json!({"query": "chocolate orders"})),
        ),
        (
            "search (new query each time)",
            "search",
            object(json!({"query": "chocolate orders q@N@"})),
        ),
        ("fetch", "fetch", object(json!({"id": "order-1001"}))),
        (
            "bad arguments",
            "search",
            object(json!({"query": "x", "q": 1})),
        ),
    ];
    // `cargo bench` passes `--bench`; any other argument picks rows by a part of their label.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!("| call | µs per call, median of {ROUNDS} rounds | fastest round |");
    println!("|---|---|---|");
    let wanted = |label: &str| only.is_empty() || only.iter().any(|o| label.contains(o.as_str()));
    for (label, name, args) in &cases {
        if wanted(label) {
            let query = args.get("query").and_then(Value::as_str).unwrap_or("");
            let asked = |query: &str| object(json!({ "query": query }));
            let row = measure(query, |q| match q {
                Some(q) => call(&tools, &principal, name, &asked(q)),
                None => call(&tools, &principal, name, args),
            });
            println!("| {label} | {row} |");
        }
    }
    let label = "engine alone (new query each time)";
    if wanted(label) {
        let served = corpus.current();
        let row = measure("chocolate orders q@N@", |q| {
            let q = q.expect("a varied query");
            drop(served.index.engine_alone(q, 10).expect("the engine ranks"));
        });
        println!("| {label} | {row} |");
    }
}

/// Runs `once` `CALLS` times a round for `ROUNDS` rounds after a warm-up, and gives the median
/// and fastest round in microseconds per call. A `query` with `@N@` is given to `once` with a
/// number no other call used (as `BENCH_VARY` does), made before the round's clock starts;
/// any other query is given as `None`, for the call to use as it stands.
fn measure(query: &str, mut once: impl FnMut(Option<&str>)) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let vary = query.contains("@N@");
    let varied = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| query.replace("@N@", &NEXT.fetch_add(1, Ordering::Relaxed).to_string()))
            .collect()
    };
    let run = |once: &mut dyn FnMut(Option<&str>), asked: &[String], calls: usize| {
        for i in 0..calls {
            once(asked.get(i).map(String::as_str));
        }
    };
    run(&mut once, &varied(if vary { 1000 } else { 0 }), 1000);
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let asked = varied(if vary { CALLS } else { 0 });
            let started = Instant::now();
            run(&mut once, &asked, CALLS);
            started.elapsed().as_secs_f64() * 1e6 / CALLS as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    format!("{:.2} | {:.2}", rounds[ROUNDS / 2], rounds[0])
}
