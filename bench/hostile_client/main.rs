//! The traffic of `scripts/hostile`: one signed-in user attacking the server the ways
//! docs/reliability.md lists, while four other users make cheap calls and a probe times
//! `/healthz`. Prints a JSON summary of what the well-behaved users and the probe saw, unloaded
//! and under attack, and what the attacker got back.
//!
//!     hostile_client <base-url> <token-dir> <baseline-seconds> <attack-seconds>
//!
//! `<token-dir>` holds `token` (the attacker) and `other-user-token-0` to `-3` (the
//! well-behaved users), as `bench_idp` writes them. Each well-behaved user sends `tools/list`
//! 50 times a second, within the per-caller allowances; the attacker never waits for
//! `Retry-After`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod attacks;

const ACCEPT: &str = "application/json, text/event-stream";

struct Run {
    base: String,
    addr: String,
    attacker: String,
    users: Vec<String>,
    client: reqwest::Client,
    /// Set while the attack runs.
    attacking: AtomicBool,
    stop: AtomicBool,
    /// The well-behaved users' calls answered 200, per phase (0 unloaded, 1 under attack).
    user_ok: [AtomicU64; 2],
    /// Their latencies in microseconds, per phase.
    user_latency: [Mutex<Vec<u64>>; 2],
    user_failed: AtomicU64,
    /// `/healthz` latencies in microseconds, per phase.
    healthz: [Mutex<Vec<u64>>; 2],
    /// What the attacker got back: "kind status" -> count.
    answers: Mutex<BTreeMap<String, u64>>,
    /// 5xx answers that no limit explains (anything but 503 from a full /sse outbox).
    unexpected_5xx: AtomicU64,
    first_unexpected: Mutex<Option<String>>,
}

impl Run {
    fn phase(&self) -> usize {
        usize::from(self.attacking.load(Ordering::Relaxed))
    }

    fn saw(&self, kind: &str, status: u16) {
        *self
            .answers
            .lock()
            .unwrap()
            .entry(format!("{kind} {status}"))
            .or_default() += 1;
        let explained = status == 503 && kind == "sse_message";
        if status >= 500 && !explained {
            self.unexpected(format!("{kind} answered {status}"));
        }
    }

    fn unexpected(&self, what: String) {
        self.unexpected_5xx.fetch_add(1, Ordering::Relaxed);
        self.first_unexpected.lock().unwrap().get_or_insert(what);
    }

    async fn post(&self, token: &str, path: &str, body: &Value) -> Result<(u16, String), String> {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", "2025-03-26")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| e.to_string())?;
        Ok((status, text))
    }

    /// A well-behaved user: `tools/list` 50 times a second.
    async fn user(&self, n: usize) {
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        let mut every = tokio::time::interval(Duration::from_millis(20));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.stop.load(Ordering::Relaxed) {
            every.tick().await;
            let phase = self.phase();
            let started = Instant::now();
            match self.post(&self.users[n], "/mcp", &list).await {
                Ok((200, _)) => {
                    self.user_ok[phase].fetch_add(1, Ordering::Relaxed);
                    let us = started.elapsed().as_micros() as u64;
                    self.user_latency[phase].lock().unwrap().push(us);
                }
                Ok((status, text)) => {
                    self.user_failed.fetch_add(1, Ordering::Relaxed);
                    if status >= 500 {
                        self.unexpected(format!("the user's tools/list answered {status}: {text}"));
                    }
                }
                Err(e) => {
                    self.user_failed.fetch_add(1, Ordering::Relaxed);
                    self.unexpected(format!("the user's tools/list failed: {e}"));
                }
            }
        }
    }

    /// `/healthz` every 10 ms, timed.
    async fn probe(&self) {
        while !self.stop.load(Ordering::Relaxed) {
            let phase = self.phase();
            let started = Instant::now();
            match self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => {
                    let us = started.elapsed().as_micros() as u64;
                    self.healthz[phase].lock().unwrap().push(us);
                }
                Ok(r) => self.unexpected(format!("/healthz answered {}", r.status())),
                Err(e) => self.unexpected(format!("/healthz failed: {e}")),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether the well-behaved user can still open a stream of their own.
    async fn user_stream(&self) -> u16 {
        match self
            .client
            .get(format!("{}/sse", self.base))
            .bearer_auth(&self.users[0])
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }
}

/// A word of the generated corpus's vocabulary (`scripts/hostile` writes the same words).
fn word(i: u64) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "te", "vi", "bo", "da", "fe", "gu", "ha", "ji", "po",
        "zu",
    ];
    let mut n = i % 4096;
    let mut w = String::new();
    for _ in 0..3 {
        w.push_str(SYLLABLES[(n % 16) as usize]);
        n /= 16;
    }
    w
}

/// `count` words, different for each `seed`.
fn words(seed: u64, count: u64) -> String {
    (0..count)
        .map(|k| word(seed.wrapping_mul(2_654_435_761).wrapping_add(k * 7919)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn search(id: u64, query: &str, limit: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "search", "arguments": {"query": query, "limit": limit}}})
}

fn p99_ms(samples: &Mutex<Vec<u64>>) -> f64 {
    let mut s = samples.lock().unwrap().clone();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_unstable();
    s[(s.len() * 99 / 100).min(s.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let usage = "usage: hostile_client <base-url> <token-dir> <baseline-seconds> <attack-seconds>";
    let mut args = std::env::args().skip(1);
    let base = args.next().expect(usage);
    let dir = std::path::PathBuf::from(args.next().expect(usage));
    let baseline: u64 = args.next().and_then(|s| s.parse().ok()).expect(usage);
    let attack: u64 = args.next().and_then(|s| s.parse().ok()).expect(usage);
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .expect("a token")
            .trim()
            .to_owned()
    };
    let run = Arc::new(Run {
        addr: base.trim_start_matches("http://").to_owned(),
        base,
        attacker: read("token"),
        users: (0..4)
            .map(|n| read(&format!("other-user-token-{n}")))
            .collect(),
        client: mcp_resource_server::auth::outbound::http_client(Duration::from_secs(30)),
        attacking: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        user_ok: Default::default(),
        user_latency: Default::default(),
        user_failed: AtomicU64::new(0),
        healthz: Default::default(),
        answers: Mutex::new(BTreeMap::new()),
        unexpected_5xx: AtomicU64::new(0),
        first_unexpected: Mutex::new(None),
    });
    let mut steady = Vec::new();
    for n in 0..4 {
        let r = run.clone();
        steady.push(tokio::spawn(async move { r.user(n).await }));
    }
    let r = run.clone();
    steady.push(tokio::spawn(async move { r.probe().await }));
    tokio::time::sleep(Duration::from_secs(baseline)).await;

    run.attacking.store(true, Ordering::Relaxed);
    let attacks = attacks::launch(&run).await;
    tokio::time::sleep(Duration::from_secs(attack.min(5))).await;
    let user_stream = run.user_stream().await;
    tokio::time::sleep(Duration::from_secs(attack.saturating_sub(5))).await;

    run.attacking.store(false, Ordering::Relaxed);
    run.stop.store(true, Ordering::Relaxed);
    for t in attacks.tasks.into_iter().chain(steady) {
        t.await.expect("a traffic task panicked");
    }
    drop(attacks.streams.await.expect("the stream task panicked"));
    drop(attacks.held);

    println!("{}", summary(&run, baseline, attack, user_stream));
}

/// What the well-behaved users and the probe saw, unloaded and under attack, and what the
/// attacker got back.
fn summary(run: &Run, baseline: u64, attack: u64, user_stream: u16) -> Value {
    let ok =
        |phase: usize, secs: u64| run.user_ok[phase].load(Ordering::Relaxed) as f64 / secs as f64;
    let (unloaded, loaded) = (ok(0, baseline), ok(1, attack));
    json!({
        "baseline_seconds": baseline,
        "attack_seconds": attack,
        "user_requests_per_second_unloaded": unloaded.round(),
        "user_requests_per_second_under_attack": loaded.round(),
        "user_share_kept": (loaded / unloaded * 100.0).round() / 100.0,
        "user_failed": run.user_failed.load(Ordering::Relaxed),
        "user_p99_ms_unloaded": p99_ms(&run.user_latency[0]),
        "user_p99_ms_under_attack": p99_ms(&run.user_latency[1]),
        "user_sse_open_status": user_stream,
        "healthz_p99_ms_unloaded": p99_ms(&run.healthz[0]),
        "healthz_p99_ms_under_attack": p99_ms(&run.healthz[1]),
        "unexpected_5xx": run.unexpected_5xx.load(Ordering::Relaxed),
        "first_unexpected": run.first_unexpected.lock().unwrap().clone(),
        "attacker": run.answers.lock().unwrap().clone(),
    })
}
