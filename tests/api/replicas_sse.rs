//! Two replicas sharing state on a real `redis-server`, behind the real Traefik balancing
//! round-robin with no stickiness: the repository's Traefik service for the server
//! (`traefik/dynamic.yml`) with both replicas as its servers. A 2024-11-05 `/sse` stream lives
//! on one replica while its posts land on either; a caller's allowance runs out after the same
//! number of calls and a DPoP proof is used once, wherever the balancer sends them; with Redis
//! gone, the posts that reach the other replica get 503 with `Retry-After`, `/mcp` keeps
//! answering, and once Redis is back the posts are relayed again.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::legacy_sse::open;
use crate::replicas::{Replicated, URL, call, metric, status};
use crate::support::mcp::{Events, Reply, request};
use crate::support::peers::{TempDir, free_port, python, report, traefik};
use crate::support::tokens::{DpopKey, Keys, token, token_with};
use crate::support::{FakeKeycloak, TestServer, wait};

/// Traefik on `port` in front of `servers`, with the repository's load balancer for the server
/// (its transport and health check; round-robin, no stickiness) and one router for every path.
struct Balancer {
    base: String,
    client: reqwest::Client,
    _child: tokio::process::Child,
    _dir: TempDir,
}

impl Balancer {
    async fn start(servers: &[&str]) -> Self {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(repo.join("traefik/dynamic.yml")).unwrap();
        let ours: Value = serde_norway::from_str(&text).unwrap();
        let mut service = ours["http"]["services"]["mcp"].clone();
        assert!(
            service["loadBalancer"].get("sticky").is_none(),
            "the repository's service is sticky"
        );
        service["loadBalancer"]["servers"] =
            servers.iter().map(|url| json!({"url": url})).collect();
        let dynamic = json!({"http": {
            "routers": {"mcp": {"rule": "PathPrefix(`/`)", "entryPoints": ["web"], "service": "mcp"}},
            "serversTransports": ours["http"]["serversTransports"],
            "services": {"mcp": service},
        }});
        let dir = TempDir::new("balancer");
        let file = dir.0.join("dynamic.yml");
        std::fs::write(&file, serde_norway::to_string(&dynamic).unwrap()).unwrap();
        let port = free_port();
        let child = tokio::process::Command::new(traefik())
            .arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
            .arg(format!("--providers.file.filename={}", file.display()))
            .arg("--log.level=ERROR")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start traefik");
        let balancer = Balancer {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _child: child,
            _dir: dir,
        };
        let health = balancer.url("/healthz");
        if wait::answers(&balancer.client, &health, Duration::from_secs(10)).await {
            return balancer;
        }
        panic!("traefik did not route to the replicas within 10 s");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The same, as a test server the support helpers can post through.
    fn server(&self) -> TestServer {
        TestServer::at(self.base.clone(), self.client.clone())
    }
}

/// How many `POST /messages` each replica answered with `status`.
async fn posts(set: &Replicated, status: u16) -> Vec<f64> {
    let name = format!(
        "mcp_http_requests_total{{route=\"/messages\",method=\"POST\",status=\"{status}\"}}"
    );
    let mut counts = Vec::new();
    for (_, server, _) in &set.replicas {
        counts.push(metric(&server.metrics().await, &name).unwrap_or(0.0));
    }
    counts
}

async fn post(via: &TestServer, token: &str, endpoint: &str, id: i64) -> Reply {
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    let body = serde_json::to_vec(&request(id, "ping", json!({}))).unwrap();
    via.post_raw(endpoint, Some(token), &headers, body).await
}

/// Posts a ping: true when it is accepted and its answer arrives on `events`, false when it is
/// refused with 503 and `Retry-After` because the stream's replica cannot be reached.
async fn ping_answered(
    via: &TestServer,
    token: &str,
    endpoint: &str,
    id: i64,
    events: &mut Events,
) -> bool {
    let reply = post(via, token, endpoint, id).await;
    match reply.status {
        202 => {
            assert_eq!(events.next_message().await["id"], id);
            true
        }
        503 => {
            assert!(reply.header("retry-after").is_some(), "{}", reply.text);
            assert!(
                reply.message().contains("cannot be reached"),
                "{}",
                reply.text
            );
            false
        }
        other => panic!("post {id} got {other}: {}", reply.text),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn round_robin_replicas_share_sse_streams_allowances_and_dpop_proofs_and_say_503_without_redis()
 {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    // A burst of 40 tool calls a caller, and next to nothing more in the test's time.
    let limits = [
        ("MCP_RATE_LIMIT_PER_MIN", "1".to_owned()),
        ("MCP_RATE_LIMIT_BURST", "40".to_owned()),
    ];
    let mut set = Replicated::start(&kc, "sse", &limits).await;
    let bases: Vec<&str> = set.replicas.iter().map(|r| r.1.base.as_str()).collect();
    let balancer = Balancer::start(&bases).await;
    let t = token(&keys);

    // The official Python SDK: one stream, the tools, then 20 searches whose posts Traefik
    // spreads over both replicas; every answer arrives on the one stream.
    let r = report(
        &python(),
        &["python_sdk.py", &balancer.url("/sse"), &t, "sse-searches"],
    )
    .await;
    assert_eq!(r["tools"], json!(["search", "fetch"]), "{r}");
    let hits = r["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 20, "{r}");
    assert!(hits.iter().all(|n| n.as_u64() > Some(0)), "{r}");
    // A post is counted once its 202 is sent, which may be after its answer went out on the
    // stream; so the count is awaited.
    let mut answered = Vec::new();
    let all_counted = async || {
        answered = posts(&set, 202).await;
        answered.iter().sum::<f64>() >= 23.0
    };
    wait::comes_true(Duration::from_secs(5), all_counted).await;
    assert!(
        answered.iter().all(|n| *n >= 5.0),
        "both replicas took posts: {answered:?}"
    );
    assert_eq!(
        answered.iter().sum::<f64>(),
        23.0,
        "initialize, its notification, tools/list and 20 searches: {answered:?}"
    );

    // Another caller's allowance, through the balancer: 40 calls spread over both replicas,
    // then refused by either.
    let via = balancer.server();
    let other = token_with(&keys, |c| c["sub"] = json!("another-user"));
    for n in 0..40 {
        assert_eq!(call(&via, &other, n).await, (200, false), "call {n}");
    }
    assert_eq!(call(&via, &other, 40).await, (429, true));
    assert_eq!(call(&via, &other, 41).await, (429, true));
    for (_, server, _) in &set.replicas {
        let text = server.metrics().await;
        let limited = "mcp_fair_use_refusals_total{limit=\"rate\"}";
        assert_eq!(
            metric(&text, limited),
            Some(1.0),
            "one refusal each: {text}"
        );
    }

    // A DPoP proof the balancer sent to one replica is refused by the other.
    let key = DpopKey::new();
    let bound = key.bound_token(&keys);
    let proof = key.proof("POST", URL, &bound);
    assert_eq!(status(&via, &bound, &proof).await, 200);
    assert_eq!(status(&via, &bound, &proof).await, 401, "replayed");
    assert_eq!(
        status(&via, &bound, &key.proof("POST", URL, &bound)).await,
        200
    );

    // A stream through the balancer, and its posts, spread over both replicas.
    let (mut events, endpoint) = open(&via, &t).await;
    for id in 1..=4 {
        assert_eq!(post(&via, &t, &endpoint, id).await.status, 202);
        assert_eq!(events.next_message().await["id"], id);
    }
    // Still so after the replicas' checks of Redis and of their subscriptions (every 5 s). A
    // real sleep: the replicas are processes of their own, on the real clock.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for id in 20..=23 {
        assert_eq!(post(&via, &t, &endpoint, id).await.status, 202);
        assert_eq!(events.next_message().await["id"], id);
    }
    for (_, server, _) in &set.replicas {
        let text = server.metrics().await;
        assert_eq!(metric(&text, "mcp_redis_errors_total"), Some(0.0), "{text}");
    }

    // Redis gone: posts that reach the stream's replica are answered on the stream; those that
    // reach the other get 503 with Retry-After; /mcp answers throughout.
    set.kill_redis();
    let (mut here, mut elsewhere) = (0, 0);
    for id in 5..=12 {
        if ping_answered(&via, &t, &endpoint, id, &mut events).await {
            here += 1;
        } else {
            elsewhere += 1;
        }
    }
    // Apart from the posts: the balancer alternates, and a call between two posts would send
    // every post to the same replica.
    for id in 100..110 {
        let call = request(
            id,
            "tools/call",
            json!({"name": "search", "arguments": {"query": "cocoa"}}),
        );
        let mcp = via.rpc_at(&t, &call, "2025-11-25").await;
        assert_eq!(mcp.status, 200, "/mcp without Redis: {}", mcp.text);
    }
    assert!(
        here > 0 && elsewhere > 0,
        "{here} answered, {elsewhere} refused"
    );

    // Redis back, empty: the replicas write their records again and relay again. Meanwhile a
    // post that reaches the other replica gets 503 (never 404: the session is not gone).
    set.restart_redis();
    let mut id = 12;
    let six_in_a_row = async || {
        for _ in 0..6 {
            id += 1;
            if !ping_answered(&via, &t, &endpoint, id, &mut events).await {
                return false;
            }
        }
        true
    };
    assert!(
        wait::comes_true(Duration::from_secs(40), six_in_a_row).await,
        "posts were not relayed again once Redis was back"
    );

    for (_, server, _) in &set.replicas {
        let text = server.metrics().await;
        assert!(
            !text.contains("route=\"/mcp\",method=\"POST\",status=\"5"),
            "{text}"
        );
    }
    for text in set.stop() {
        assert!(!text.contains(&t), "a token reached the log");
    }
}

/// A caller who does not read their stream and posts to the other replica: the holder says when
/// the stream's outbox is full, the other replica then refuses the posts with 503 before any
/// work, the holder keeps at most the outbox and its slack, and reading makes room again, on the
/// same stream.
#[tokio::test(flavor = "multi_thread")]
async fn answers_relayed_to_a_stream_nobody_reads_are_refused_once_its_outbox_is_full() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    // The allowances of calls and requests would stop this caller first; off, so the outbox is
    // what is tested.
    let settings = [
        ("MCP_RATE_LIMIT_PER_MIN", "0".to_owned()),
        ("MCP_REQUEST_LIMIT_PER_MIN", "0".to_owned()),
        ("MCP_SSE_OUTBOX_KIB", "64".to_owned()),
    ];
    let set = Replicated::start(&kc, "sse-full", &settings).await;
    let (a, b) = (&set.replicas[0].1, &set.replicas[1].1);
    let t = token(&keys);
    let (mut events, endpoint) = open(a, &t).await;
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    let mut busy = None;
    for i in 0..20_000 {
        let search = request(
            i,
            "tools/call",
            json!({"name": "search", "arguments": {"query": format!("order cupcake {i}")}}),
        );
        let body = serde_json::to_vec(&search).unwrap();
        let r = b.post_raw(&endpoint, Some(&t), &headers, body).await;
        if r.status == 503 {
            busy = Some(r);
            break;
        }
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let busy = busy.expect("20 000 relayed answers nobody read were all accepted");
    assert!(busy.header("retry-after").is_some());
    assert!(busy.message().contains("not being read"), "{}", busy.text);
    let queued = metric(&a.metrics().await, "mcp_sse_queued_bytes").unwrap();
    assert!(
        queued <= (2 * 64 * 1024 + 16 * 1024) as f64,
        "{queued} bytes queued for one stream"
    );
    let refused = "mcp_fair_use_refusals_total{limit=\"sse_outbox\"}";
    assert!(metric(&b.metrics().await, refused) >= Some(1.0));

    // Reading makes room again, and the stream was never cut.
    let mut accepted = false;
    for n in 0..400 {
        events.next_message().await;
        let ping = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": "after", "method": "ping"}));
        let r = b
            .post_raw(&endpoint, Some(&t), &headers, ping.unwrap())
            .await;
        if r.status == 202 {
            accepted = true;
            break;
        }
        assert_eq!(r.status, 503, "read {n}: {}", r.text);
    }
    assert!(accepted, "reading the stream did not make room");
    loop {
        if events.next_message().await["id"] == "after" {
            break;
        }
    }
    set.stop();
}
