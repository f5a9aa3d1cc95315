//! Stopping on SIGTERM (the real binary): the listener closes, a request in flight finishes,
//! `/sse` streams get a final `close` event, and the process exits within
//! `MCP_SHUTDOWN_GRACE_SECS` even when a client never finishes its request.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::process::{serve_env, sigterm, start_ready, temp_file, terminate, wait_for_exit};
use crate::support::peers::free_port;
use crate::support::*;

const SEARCH: &str = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"search","arguments":{"query":"chocolate"}}}"#;

/// Sends the head and the first half of a search call; returns the socket and the rest.
async fn half_sent_request(port: u16, token: &str) -> (TcpStream, &'static str) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (first, rest) = SEARCH.split_at(SEARCH.len() / 2);
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2025-11-25\r\nContent-Length: {}\r\n\r\n{first}",
        SEARCH.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // A real sleep: the server, a process of its own, shows nothing that says it has read the
    // head, and the test needs the request in flight before the signal.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (tcp, rest)
}

/// Opens `/sse` and reads up to the endpoint event.
async fn open_stream(port: u16, token: &str) -> BufReader<TcpStream> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    while line.trim() != "event: endpoint" {
        line.clear();
        let n = reader.read_line(&mut line).await.unwrap();
        assert!(n > 0, "the stream closed before its endpoint event");
    }
    reader
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_request_in_flight_finish_and_ends_streams_with_a_close_event() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let port = free_port();
    let log = temp_file("sigterm.log");
    let env = serve_env(port, &kc, &[("MCP_SHUTDOWN_GRACE_SECS", "10".into())]);
    let (mut child, _) = start_ready(&env, &log, port).await;
    let t = token(&keys);
    let mut stream = open_stream(port, &t).await;
    let (mut in_flight, rest) = half_sent_request(port, &t).await;

    sigterm(&child);
    let refused = async || TcpStream::connect(("127.0.0.1", port)).await.is_err();
    assert!(
        wait::comes_true(Duration::from_secs(5), refused).await,
        "a stopping server still accepts connections"
    );
    let mut events = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut events)).await;
    assert!(events.contains("event: close"), "{events}");

    // The request began before the signal: its body still arrives and it is answered.
    in_flight.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        in_flight.read_to_string(&mut answer),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"id\":5"), "{answer}");

    assert_eq!(wait_for_exit(&mut child), 0);
    let _ = std::fs::remove_file(log);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_never_finishes_does_not_hold_the_stop_past_the_grace_period() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let port = free_port();
    let log = temp_file("grace.log");
    let env = serve_env(
        port,
        &kc,
        &[
            ("MCP_SHUTDOWN_GRACE_SECS", "1".into()),
            ("MCP_BODY_TIMEOUT_SECS", "300".into()),
        ],
    );
    let (mut child, _) = start_ready(&env, &log, port).await;
    let (_stalled, _) = half_sent_request(port, &token(&keys)).await;
    // terminate() sends SIGTERM and fails the test unless the process exits within 5 s.
    assert_eq!(terminate(&mut child), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("grace period ended"), "{text}");
    let _ = std::fs::remove_file(log);
}
