//! Two replicas of the real binary sharing state on a real `redis-server` (Debian's package;
//! scripts/test installs it): a DPoP proof one replica accepted is refused by the other, each
//! replica decides alone while Redis is down (without a 5xx), and they share again once it is
//! back.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::{serve_env, start_ready, temp_file, terminate};
use crate::support::peers::free_port;
use crate::support::tokens::{DpopKey, Keys};
use crate::support::{FakeKeycloak, TestServer};

const URL: &str = "https://mcp.localhost/mcp";

/// A `redis-server` on `port`, keeping nothing on disk.
fn redis_server(port: u16, dir: &PathBuf) -> Child {
    let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let mut child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {bin} ({e}): install Debian's redis-server (scripts/test does)")
        });
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not listen on {port}");
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The status of `initialize` sent with a DPoP token and `proof`.
async fn status(server: &TestServer, token: &str, proof: &str) -> u16 {
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
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dpop_proof_is_used_once_across_replicas_and_each_decides_alone_without_redis() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let redis_port = free_port();
    let dir = temp_file("redis");
    std::fs::create_dir_all(&dir).unwrap();
    let redis = redis_server(redis_port, &dir);
    let redis_url = format!("redis://127.0.0.1:{redis_port}/0");

    let mut replicas = Vec::new();
    for name in ["a", "b"] {
        let port = free_port();
        let log = temp_file(&format!("replica-{name}.log"));
        let extra = [("MCP_REDIS_URL", redis_url.clone())];
        let (child, client) = start_ready(&serve_env(port, &kc, &extra), &log, port).await;
        let server = TestServer::at(format!("http://127.0.0.1:{port}"), client);
        replicas.push((child, server, log));
    }
    let (a, b) = (&replicas[0].1, &replicas[1].1);
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
    stop(redis);
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
    let redis = redis_server(redis_port, &dir);
    let mut back = false;
    for _ in 0..200 {
        if metric(&a.metrics().await, "mcp_redis_up") == Some(1.0)
            && metric(&b.metrics().await, "mcp_redis_up") == Some(1.0)
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the replicas did not notice Redis was back");
    let proof = key.proof("POST", URL, &token);
    assert_eq!(status(b, &token, &proof).await, 200);
    assert_eq!(status(a, &token, &proof).await, 401, "shared again");

    for (mut child, _, log) in replicas {
        assert_eq!(terminate(&mut child), 0);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("Redis does not answer"),
            "the fallback was not logged:\n{text}"
        );
        assert!(!text.contains(&token), "a token reached the log");
        let _ = std::fs::remove_file(log);
    }
    stop(redis);
    let _ = std::fs::remove_dir_all(dir);
}
