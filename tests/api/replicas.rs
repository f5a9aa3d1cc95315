//! Two replicas of the real binary sharing state on a real `redis-server` (Debian's; scripts/test
//! installs it): a DPoP proof one replica accepted is refused by the other, a caller's allowance
//! of tool calls runs out after the same number of calls whichever replica they reach, each
//! replica decides alone while Redis is down (without a 5xx), and they share again once it is
//! back.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::process::{Spawned, serve_ready, temp_file, terminate};
use crate::support::mcp::request;
use crate::support::peers::free_port;
use crate::support::tokens::{DpopKey, Keys, token, token_with};
use crate::support::{FakeKeycloak, TestServer, wait};

pub(crate) const URL: &str = "https://mcp.localhost/mcp";

/// A `redis-server` on `port`, keeping nothing on disk.
pub(crate) fn redis_server(port: u16, dir: &PathBuf) -> Spawned {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {bin} ({e}): install Debian's redis-server (scripts/test does)")
        });
    let child = Spawned(child);
    let listens = || TcpStream::connect(("127.0.0.1", port)).ok();
    if wait::until_blocking(Duration::from_secs(5), listens).is_some() {
        return child;
    }
    panic!("redis-server did not listen on {port}");
}

/// The status of `initialize` sent with a DPoP token and `proof`.
pub(crate) async fn status(server: &TestServer, token: &str, proof: &str) -> u16 {
    let response = server
        .initialize()
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// The value of a metric line starting with `name` (labels included).
pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

/// A Redis and two replicas of the server sharing state on it.
pub(crate) struct Replicated {
    redis: Option<Spawned>,
    redis_port: u16,
    dir: PathBuf,
    pub(crate) replicas: Vec<(Spawned, TestServer, PathBuf)>,
}

impl Replicated {
    pub(crate) async fn start(kc: &FakeKeycloak, name: &str, extra: &[(&str, String)]) -> Self {
        let redis_port = free_port();
        let dir = temp_file(&format!("redis-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let redis = redis_server(redis_port, &dir);
        let redis_url = format!("redis://127.0.0.1:{redis_port}/0");
        let mut replicas = Vec::new();
        for replica in ["a", "b"] {
            let log = temp_file(&format!("{name}-{replica}.log"));
            let mut env = vec![("MCP_REDIS_URL", redis_url.clone())];
            env.extend_from_slice(extra);
            let (child, server) = serve_ready(kc, &env, &log).await;
            replicas.push((child, server, log));
        }
        Replicated {
            redis: Some(redis),
            redis_port,
            dir,
            replicas,
        }
    }

    pub(crate) fn kill_redis(&mut self) {
        // Dropped, it is killed and waited for.
        drop(self.redis.take().expect("Redis runs"));
    }

    pub(crate) fn restart_redis(&mut self) {
        self.redis = Some(redis_server(self.redis_port, &self.dir));
    }

    /// Stops everything; gives back each replica's log.
    pub(crate) fn stop(mut self) -> Vec<String> {
        let mut logs = Vec::new();
        for (mut child, _, log) in self.replicas.drain(..) {
            assert_eq!(terminate(&mut child), 0);
            logs.push(std::fs::read_to_string(&log).unwrap_or_default());
            let _ = std::fs::remove_file(log);
        }
        self.redis = None;
        let _ = std::fs::remove_dir_all(&self.dir);
        logs
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dpop_proof_is_used_once_across_replicas_and_each_decides_alone_without_redis() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let mut set = Replicated::start(&kc, "dpop", &[]).await;
    let (a, b) = (&set.replicas[0].1, &set.replicas[1].1);
    let key = DpopKey::new();
    let token = key.bound_token(&keys);

    // Shared: a proof accepted by one replica is refused by the other, and a fresh one passes.
    let proof = key.proof("POST", URL, &token);
    assert_eq!(status(a, &token, &proof).await, 200);
    assert_eq!(
        status(b, &token, &proof).await,
        401,
        "replayed to the other replica"
    );
    let refused = b.metrics().await;
    assert_eq!(
        metric(
            &refused,
            "mcp_token_rejections_total{reason=\"dpop_replayed\"}"
        ),
        Some(1.0),
        "{refused}"
    );
    assert_eq!(
        status(b, &token, &key.proof("POST", URL, &token)).await,
        200
    );
    assert_eq!(metric(&a.metrics().await, "mcp_redis_up"), Some(1.0));

    // Redis gone: each replica decides alone, without a 5xx, and says so in its metrics.
    set.kill_redis();
    let (a, b) = (&set.replicas[0].1, &set.replicas[1].1);
    let proof = key.proof("POST", URL, &token);
    assert_eq!(status(a, &token, &proof).await, 200);
    assert_eq!(
        status(a, &token, &proof).await,
        401,
        "this replica's own window"
    );
    assert_eq!(
        status(b, &token, &proof).await,
        200,
        "the other replica cannot know of it"
    );
    let alone = a.metrics().await;
    assert_eq!(metric(&alone, "mcp_redis_up"), Some(0.0), "{alone}");
    assert!(
        metric(&alone, "mcp_replica_fallbacks_total{state=\"dpop_replay\"}").unwrap_or(0.0) >= 1.0,
        "{alone}"
    );

    // Redis back on the same address: the replicas share again once they have noticed.
    set.restart_redis();
    let (a, b) = (&set.replicas[0].1, &set.replicas[1].1);
    let up = async || {
        metric(&a.metrics().await, "mcp_redis_up") == Some(1.0)
            && metric(&b.metrics().await, "mcp_redis_up") == Some(1.0)
    };
    let back = wait::comes_true(Duration::from_secs(20), up).await;
    assert!(back, "the replicas did not notice Redis was back");
    let proof = key.proof("POST", URL, &token);
    assert_eq!(status(b, &token, &proof).await, 200);
    assert_eq!(status(a, &token, &proof).await, 401, "shared again");

    for text in set.stop() {
        assert!(
            text.contains("Redis does not answer"),
            "the fallback was not logged:\n{text}"
        );
        assert!(!text.contains(&token), "a token reached the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proof_iat_of_any_size_is_stale_at_every_replica_and_never_troubles_redis() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let set = Replicated::start(&kc, "dpop-iat", &[]).await;
    let (a, b) = (&set.replicas[0].1, &set.replicas[1].1);
    let key = DpopKey::new();
    let token = key.bound_token(&keys);
    let iats = [
        serde_json::json!(i64::MIN),
        serde_json::json!(i64::MAX),
        serde_json::json!(u64::MAX),
        serde_json::json!(1e30),
        serde_json::json!(crate::support::tokens::now() as f64 - 400.5),
    ];
    for iat in iats {
        let (header, mut claims) = key.proof_parts("POST", URL, &token);
        claims["iat"] = iat.clone();
        let proof = key.sign(&header, &claims);
        for server in [a, b, a, b] {
            assert_eq!(status(server, &token, &proof).await, 401, "iat {iat}");
        }
    }
    // A fresh proof with a fraction is taken once, by one replica.
    let (header, mut claims) = key.proof_parts("POST", URL, &token);
    claims["iat"] = serde_json::json!(crate::support::tokens::now() as f64 - 0.25);
    let proof = key.sign(&header, &claims);
    assert_eq!(status(a, &token, &proof).await, 200);
    assert_eq!(
        status(b, &token, &proof).await,
        401,
        "replayed to the other replica"
    );
    for server in [a, b] {
        let text = server.metrics().await;
        assert_eq!(metric(&text, "mcp_redis_up"), Some(1.0), "{text}");
        assert_eq!(metric(&text, "mcp_redis_errors_total"), Some(0.0), "{text}");
        assert_eq!(
            metric(&text, "mcp_token_rejections_total{reason=\"dpop_stale\"}"),
            Some(10.0),
            "{text}"
        );
    }
    set.stop();
}

/// The status of a `fetch` call and whether it was refused as past the allowance.
pub(crate) async fn call(server: &TestServer, token: &str, id: i64) -> (u16, bool) {
    let body = request(
        id,
        "tools/call",
        json!({"name": "fetch", "arguments": {"id": "order-1001"}}),
    );
    let reply = server
        .rpc(token, &body, &[("mcp-protocol-version", "2025-11-25")])
        .await;
    let limited = reply.status == 429 && reply.message().contains("MCP_RATE_LIMIT_PER_MIN");
    (reply.status, limited)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callers_allowance_runs_out_after_the_same_calls_whichever_replica_they_reach() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let limits = [
        ("MCP_RATE_LIMIT_PER_MIN", "6".to_owned()),
        ("MCP_RATE_LIMIT_BURST", "4".to_owned()),
    ];
    let mut set = Replicated::start(&kc, "fair", &limits).await;
    let (a, b) = (&set.replicas[0].1, &set.replicas[1].1);
    let t = token(&keys);
    // Four calls spread over both replicas take the burst of four; the fifth is refused by
    // either.
    for (n, server) in [a, b, a, b].into_iter().enumerate() {
        assert_eq!(call(server, &t, n as i64).await, (200, false), "call {n}");
    }
    assert_eq!(call(a, &t, 5).await, (429, true));
    assert_eq!(call(b, &t, 6).await, (429, true));
    // Another caller has an allowance of its own.
    let other = token_with(&keys, |c| c["sub"] = json!("another-user"));
    assert_eq!(call(b, &other, 7).await, (200, false));
    let shared = b.metrics().await;
    assert_eq!(
        metric(&shared, "mcp_replica_fallbacks_total{state=\"rate\"}"),
        Some(0.0),
        "{shared}"
    );

    // Redis gone: each replica's own bucket decides, still with no 5xx.
    set.kill_redis();
    let (a, b) = (&set.replicas[0].1, &set.replicas[1].1);
    assert_eq!(call(a, &t, 8).await, (200, false), "a's own bucket is full");
    assert_eq!(call(b, &t, 9).await, (200, false), "b's own bucket is full");
    let alone = a.metrics().await;
    assert!(
        metric(&alone, "mcp_replica_fallbacks_total{state=\"rate\"}").unwrap_or(0.0) >= 1.0,
        "{alone}"
    );
    assert!(
        !alone.contains("status=\"5"),
        "a 5xx while Redis was down:\n{alone}"
    );
    set.stop();
}
