//! The traffic of `scripts/soak`: for a set time, valid MCP calls, requests with bad or missing
//! tokens, and `/sse` sessions opened, used and dropped, all at once. Prints a JSON summary
//! and exits 1 if any answer was a 5xx, any bad token was accepted, or any valid call failed.
//!
//!     soak_client <base-url> <token-dir> <seconds>
//!
//! `<token-dir>` holds `token` (valid) and `unknown-kid-token`, as `bench_idp` writes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use serde_json::{Value, json};

#[derive(Default)]
struct Counts {
    valid_ok: AtomicU64,
    valid_failed: AtomicU64,
    invalid_refused: AtomicU64,
    invalid_accepted: AtomicU64,
    sse_sessions: AtomicU64,
    sse_messages: AtomicU64,
    sse_failed: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    first_problem: std::sync::Mutex<Option<String>>,
}

impl Counts {
    fn problem(&self, what: String) {
        let mut first = self.first_problem.lock().unwrap();
        if first.is_none() {
            *first = Some(what);
        }
    }
}

struct Soak {
    base: String,
    token: String,
    unknown_kid: String,
    client: reqwest::Client,
    counts: Counts,
    until: Instant,
}

const QUERIES: &[&str] = &[
    "chocolate orders",
    "wedding cake",
    "sourdough",
    "refund policy",
    "allergens",
    "delivery",
    "\"salted caramel\"",
    "invoice",
    "gluten free",
    "birthday",
    "croissant",
    "opening hours",
];

impl Soak {
    async fn rpc(
        &self,
        token: Option<&str>,
        version: &str,
        body: &Value,
    ) -> Result<(u16, Value), String> {
        let mut req = self
            .client
            .post(format!("{}/mcp", self.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version)
            .body(body.to_string());
        if version == "2026-07-28" {
            req = req.header("mcp-method", body["method"].as_str().unwrap_or(""));
            if let Some(name) = body["params"]["name"].as_str() {
                req = req.header("mcp-name", name);
            }
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    fn record(&self, status: u16) {
        if status >= 500 {
            self.counts.server_errors.fetch_add(1, Ordering::Relaxed);
            self.counts.problem(format!("a {status} answer"));
        }
    }

    /// Valid calls: searches, a fetch of a hit, the tool list, and stateless discovery.
    async fn valid(&self, n: usize) {
        let mut i = n;
        while Instant::now() < self.until {
            i += 1;
            let query = QUERIES[i % QUERIES.len()];
            let (version, body) = match i % 4 {
                0 | 1 => (
                    "2025-11-25",
                    json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": "search", "arguments": {"query": format!("{query} {}", i % 50)}}}),
                ),
                2 => (
                    "2025-11-25",
                    json!({"jsonrpc": "2.0", "id": i, "method": "tools/list"}),
                ),
                _ => (
                    "2026-07-28",
                    json!({"jsonrpc": "2.0", "id": i, "method": "server/discover",
                    "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {}}}}),
                ),
            };
            match self.rpc(Some(&self.token), version, &body).await {
                Ok((200, answer)) if answer.get("result").is_some() => {
                    self.counts.valid_ok.fetch_add(1, Ordering::Relaxed);
                    let first = &answer["result"]["structuredContent"]["results"][0]["id"];
                    if let Some(id) = first.as_str() {
                        let fetch = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                            "params": {"name": "fetch", "arguments": {"id": id}}});
                        match self.rpc(Some(&self.token), "2025-11-25", &fetch).await {
                            Ok((200, a)) if a["result"]["isError"] != true => {
                                self.counts.valid_ok.fetch_add(1, Ordering::Relaxed);
                            }
                            other => self.valid_failed(format!("fetch {id}: {other:?}")),
                        }
                    }
                }
                Ok((status, answer)) => {
                    self.record(status);
                    self.valid_failed(format!("{status} {answer}"));
                }
                Err(e) => self.transport(e),
            }
        }
    }

    fn valid_failed(&self, what: String) {
        self.counts.valid_failed.fetch_add(1, Ordering::Relaxed);
        self.counts.problem(format!("a valid call failed: {what}"));
    }

    fn transport(&self, e: String) {
        self.counts.transport_errors.fetch_add(1, Ordering::Relaxed);
        self.counts.problem(format!("transport error: {e}"));
    }

    /// Requests with a token that must be refused: unknown key, altered signature, altered
    /// claims, garbage, none at all, a key id never seen before (200 bytes, new on every
    /// request) and a 12 kB key id. The last two would grow the memory of a server that
    /// remembered the key ids it refused.
    async fn invalid(&self, n: usize) {
        let (head, rest) = self.token.split_once('.').unwrap();
        let (claims, signature) = rest.split_once('.').unwrap();
        let mut sig = signature.to_owned().into_bytes();
        sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
        let altered_signature = format!("{head}.{claims}.{}", String::from_utf8(sig).unwrap());
        let mut body = claims.to_owned().into_bytes();
        body[5] = if body[5] == b'A' { b'B' } else { b'A' };
        let altered_claims = format!("{head}.{}.{signature}", String::from_utf8(body).unwrap());
        let with_kid = |kid: &str| {
            let head = json!({"alg": "RS256", "typ": "JWT", "kid": kid}).to_string();
            format!("{}.{claims}.{signature}", URL_SAFE_NO_PAD.encode(head))
        };
        let long_kid = with_kid(&"k".repeat(12_000));
        let bad = [
            Some(self.unknown_kid.as_str()),
            Some(altered_signature.as_str()),
            Some(altered_claims.as_str()),
            Some("not.a.token"),
            None,
            Some(long_kid.as_str()),
        ];
        let mut i = n;
        let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        while Instant::now() < self.until {
            i += 1;
            let fresh;
            let token = if i % (bad.len() + 1) == bad.len() {
                fresh = with_kid(&format!("{i:0>200}"));
                Some(fresh.as_str())
            } else {
                bad[i % (bad.len() + 1)]
            };
            match self.rpc(token, "2025-11-25", &ping).await {
                Ok((401, _)) => {
                    self.counts.invalid_refused.fetch_add(1, Ordering::Relaxed);
                }
                Ok((status, answer)) => {
                    self.record(status);
                    if status < 300 {
                        self.counts.invalid_accepted.fetch_add(1, Ordering::Relaxed);
                        self.counts
                            .problem(format!("a bad token was accepted: {answer}"));
                    }
                }
                Err(e) => self.transport(e),
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// `/sse` sessions: open, send pings to `/messages`, read the answers, drop.
    async fn sse(&self) {
        while Instant::now() < self.until {
            match self.session().await {
                Ok(()) => {
                    self.counts.sse_sessions.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counts.sse_failed.fetch_add(1, Ordering::Relaxed);
                    self.counts.problem(format!("sse: {e}"));
                }
            }
        }
    }

    async fn session(&self) -> Result<(), String> {
        let r = self
            .client
            .get(format!("{}/sse", self.base))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.record(r.status().as_u16());
        if r.status() != 200 {
            return Err(format!("GET /sse answered {}", r.status()));
        }
        let mut r = r;
        let mut buffer = String::new();
        let mut endpoint = None;
        let mut answered = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while answered < 3 {
            let chunk = tokio::time::timeout_at(deadline, r.chunk())
                .await
                .map_err(|_| "no event within 10 s".to_owned())?
                .map_err(|e| e.to_string())?
                .ok_or("the stream ended")?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or("");
                if event.contains("event: endpoint") {
                    endpoint = Some(data.to_owned());
                    for id in 0..3 {
                        let post = self
                            .client
                            .post(format!("{}{data}", self.base))
                            .bearer_auth(&self.token)
                            .header("content-type", "application/json")
                            .body(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}).to_string())
                            .send()
                            .await
                            .map_err(|e| e.to_string())?;
                        self.record(post.status().as_u16());
                        if post.status() != 202 {
                            return Err(format!("POST /messages answered {}", post.status()));
                        }
                    }
                } else if event.contains("event: message") {
                    answered += 1;
                    self.counts.sse_messages.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        endpoint
            .map(|_| ())
            .ok_or_else(|| "no endpoint event".into())
    }
}

#[tokio::main]
async fn main() {
    let usage = "usage: soak_client <base-url> <token-dir> <seconds>";
    let mut args = std::env::args().skip(1);
    let base = args.next().expect(usage);
    let dir = std::path::PathBuf::from(args.next().expect(usage));
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).expect(usage);
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .expect("read a token")
            .trim()
            .to_owned()
    };
    let soak = Arc::new(Soak {
        base,
        token: read("token"),
        unknown_kid: read("unknown-kid-token"),
        client: mcp_resource_server::auth::outbound::http_client(Duration::from_secs(30)),
        counts: Counts::default(),
        until: Instant::now() + Duration::from_secs(seconds),
    });
    let mut tasks = Vec::new();
    for n in 0..6 {
        let s = soak.clone();
        tasks.push(tokio::spawn(async move { s.valid(n * 1000).await }));
    }
    for n in 0..2 {
        let s = soak.clone();
        tasks.push(tokio::spawn(async move { s.invalid(n).await }));
    }
    for _ in 0..2 {
        let s = soak.clone();
        tasks.push(tokio::spawn(async move { s.sse().await }));
    }
    for t in tasks {
        t.await.expect("a soak task panicked");
    }
    let c = &soak.counts;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let summary = json!({
        "seconds": seconds,
        "valid_ok": get(&c.valid_ok),
        "valid_failed": get(&c.valid_failed),
        "invalid_refused": get(&c.invalid_refused),
        "invalid_accepted": get(&c.invalid_accepted),
        "sse_sessions": get(&c.sse_sessions),
        "sse_messages": get(&c.sse_messages),
        "sse_failed": get(&c.sse_failed),
        "server_errors": get(&c.server_errors),
        "transport_errors": get(&c.transport_errors),
        "first_problem": c.first_problem.lock().unwrap().clone(),
    });
    println!("{summary}");
    let bad = get(&c.valid_failed)
        + get(&c.invalid_accepted)
        + get(&c.sse_failed)
        + get(&c.server_errors)
        + get(&c.transport_errors);
    std::process::exit(if bad == 0 && get(&c.valid_ok) > 0 {
        0
    } else {
        1
    });
}
