//! Answers on a 2024-11-05 `/sse` stream, posted to the replica holding it or to another one
//! that relays them through Redis, for bench/run's relay rows. Opens one stream on HOLDER, sends
//! `initialize`, then for SECONDS keeps CONCURRENCY `tools/call search` posts in flight to
//! POSTER and times each from its POST to its answer on the stream. Prints one line:
//! `answers <n> per_sec <r> p50_us <a> p99_us <b> refused <k>`.
//!
//!     sse_relay <holder host:port> <poster host:port> <token-file> <seconds> <concurrency>

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Posts sent and not yet answered on the stream, by JSON-RPC id, and the times answers took.
#[derive(Default)]
struct Timing {
    sent: HashMap<u64, Instant>,
    took: Vec<Duration>,
}

/// Opens the stream and returns it with the path of its endpoint.
async fn open(holder: &str, token: &str) -> (BufReader<TcpStream>, String) {
    let mut tcp = TcpStream::connect(holder)
        .await
        .expect("connect to the holder");
    let request = format!(
        "GET /sse HTTP/1.1\r\nHost: {holder}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(request.as_bytes())
        .await
        .expect("send GET /sse");
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await.expect("read the stream");
        assert!(n > 0, "the stream ended before its endpoint event");
        if let Some(path) = line.trim().strip_prefix("data: /messages") {
            return (reader, format!("/messages{path}"));
        }
    }
}

/// Reads answers off the stream, records how long each took, and frees a place for another.
async fn read(mut stream: BufReader<TcpStream>, timing: Arc<Mutex<Timing>>, room: Arc<Semaphore>) {
    let mut line = String::new();
    loop {
        line.clear();
        match stream.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(data) = line.trim().strip_prefix("data: ") else {
            continue;
        };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(data) else {
            continue;
        };
        let Some(id) = message["id"].as_u64() else {
            continue;
        };
        let mut timing = timing.lock().unwrap();
        if let Some(at) = timing.sent.remove(&id) {
            timing.took.push(at.elapsed());
            room.add_permits(1);
        }
    }
}

#[tokio::main]
async fn main() {
    let usage = "usage: sse_relay <holder host:port> <poster host:port> <token-file> <seconds> <concurrency>";
    let mut args = std::env::args().skip(1);
    let holder = args.next().expect(usage);
    let poster = args.next().expect(usage);
    let token = std::fs::read_to_string(args.next().expect(usage)).expect("read the token file");
    let token = token.trim().to_owned();
    let seconds: u64 = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let concurrency: usize = args.next().and_then(|n| n.parse().ok()).expect(usage);

    let _ = rustls::crypto::ring::default_provider().install_default();
    let (stream, endpoint) = open(&holder, &token).await;
    let url = format!("http://{poster}{endpoint}");
    let timing = Arc::new(Mutex::new(Timing::default()));
    let room = Arc::new(Semaphore::new(0));
    tokio::spawn(read(stream, timing.clone(), room.clone()));
    let client = reqwest::Client::new();
    let send = |id: u64, body: String| {
        timing.lock().unwrap().sent.insert(id, Instant::now());
        client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let initialize = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"sse_relay","version":"1"}}}"#;
    let status = send(0, initialize.to_owned())
        .await
        .expect("post initialize")
        .status();
    assert_eq!(status, 202, "initialize was refused");
    room.acquire().await.expect("open").forget();
    timing.lock().unwrap().took.clear();
    room.add_permits(concurrency);

    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut id = 0;
    while Instant::now() < end {
        room.acquire().await.expect("open").forget();
        id += 1;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"search","arguments":{{"query":"chocolate orders"}}}}}}"#
        );
        let post = send(id, body);
        let (timing, room, refused) = (timing.clone(), room.clone(), refused.clone());
        tokio::spawn(async move {
            let why = match post.await {
                Ok(r) if r.status() == 202 => None,
                Ok(r) => Some(format!(
                    "{}: {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = why {
                if refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                    eprintln!("the first refused post: {why}");
                }
                timing.lock().unwrap().sent.remove(&id);
                room.add_permits(1);
            }
        });
    }
    // The answers still on their way.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        room.acquire_many(concurrency as u32),
    )
    .await;
    let elapsed = start.elapsed();
    let mut took = std::mem::take(&mut timing.lock().unwrap().took);
    took.sort();
    let at =
        |q: f64| took.get(((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1)));
    let micros = |d: Option<&Duration>| d.map_or(0, |d| d.as_micros());
    println!(
        "answers {} per_sec {:.0} p50_us {} p99_us {} refused {}",
        took.len(),
        took.len() as f64 / elapsed.as_secs_f64(),
        micros(at(0.50)),
        micros(at(0.99)),
        refused.load(std::sync::atomic::Ordering::Relaxed)
    );
}
