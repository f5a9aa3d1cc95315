//! Hostile HTTP on raw sockets: clients that send headers or bodies a byte at a time, oversized
//! headers, and thousands of connections opened and dropped. Each must cost the server a
//! bounded time and leave it serving.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// The server's `host:port`.
fn addr(s: &Stack) -> String {
    s.server.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `within` passes); returns what arrived
/// and whether the connection was closed.
async fn read_until_closed(tcp: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

/// The server still answers a normal authenticated request.
async fn still_serves(s: &Stack) {
    let r = s
        .server
        .initialize()
        .bearer_auth(token(&s.keys))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 200);
}

#[tokio::test]
async fn a_client_sending_headers_a_byte_at_a_time_is_cut_off() {
    let s = Stack::with(&[("MCP_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut tcp = TcpStream::connect(addr(&s)).await.unwrap();
    tcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // One header byte every 100 ms, for up to 10 s: the server must close long before.
    let mut closed = false;
    for _ in 0..100 {
        if tcp.write_all(b"x").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await
        {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the connection was still open after 10 s of dribbled headers"
    );
    still_serves(&s).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_timeout() {
    let s = Stack::with(&[("MCP_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut tcp = TcpStream::connect(addr(&s)).await.unwrap();
    let (_, closed) = read_until_closed(&mut tcp, Duration::from_secs(10)).await;
    assert!(closed, "an idle connection stayed open for 10 s");
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_saying_which_setting_applies() {
    let s = Stack::with(&[("MCP_BODY_TIMEOUT_SECS", "1")]).await;
    let mut tcp = TcpStream::connect(addr(&s)).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2025-11-25\r\nContent-Length: 200\r\n\r\n{{\"jsonrpc\":",
        token(&s.keys)
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut tcp, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("MCP_BODY_TIMEOUT_SECS"), "{answer}");
    still_serves(&s).await;
}

#[tokio::test]
async fn oversized_headers_get_431_and_the_server_keeps_serving() {
    let s = Stack::start().await;
    for head in [
        // One enormous header.
        format!("X-Big: {}\r\n", "a".repeat(512 * 1024)),
        // Very many small ones.
        (0..500)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>(),
    ] {
        let mut tcp = TcpStream::connect(addr(&s)).await.unwrap();
        let request = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n");
        // The server may close before reading everything; what it answered is what counts.
        let _ = tcp.write_all(request.as_bytes()).await;
        let (answer, _) = read_until_closed(&mut tcp, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{:.80}", answer);
    }
    still_serves(&s).await;
}

#[tokio::test]
async fn a_declared_body_past_the_limit_is_refused_with_413_before_it_is_read() {
    let s = Stack::start().await;
    let mut tcp = TcpStream::connect(addr(&s)).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2025-11-25\r\nContent-Length: 1000000000\r\n\r\n",
        token(&s.keys)
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut tcp, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("MCP_MAX_BODY_BYTES"), "{answer}");
}

/// Open files of this process (the server runs in it).
fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connections_opened_and_dropped_leave_nothing_behind() {
    let s = Stack::start().await;
    still_serves(&s).await;
    let before = open_files();
    let target = addr(&s);
    for batch in 0..20 {
        let mut tasks = Vec::new();
        for n in 0..500 {
            let target = target.clone();
            tasks.push(tokio::spawn(async move {
                let Ok(mut tcp) = TcpStream::connect(&target).await else {
                    return;
                };
                // A third send half a request, a third a whole one, a third nothing.
                match n % 3 {
                    0 => {
                        let _ = tcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127").await;
                    }
                    1 => {
                        let _ = tcp
                            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                            .await;
                    }
                    _ => {}
                }
                drop(tcp);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(batch < 20);
    }
    still_serves(&s).await;
    // The server notices each closed connection and closes its side; give it a moment.
    let mut now = open_files();
    let closed = async || {
        now = open_files();
        now <= before + 20
    };
    wait::comes_true(Duration::from_secs(10), closed).await;
    assert!(
        now <= before + 20,
        "{before} files open before, {now} after 10 000 dropped connections"
    );
}
