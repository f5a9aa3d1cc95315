//! Opens many `/sse` streams (the 2024-11-05 transport) and holds them idle, for `bench/run`'s
//! memory row. Each connection sends an authenticated `GET /sse` and waits for the `endpoint`
//! event; once every stream has it, the program prints `held <n>` and keeps them all open until
//! its standard input closes.
//!
//!     sse_hold <host:port> <token-file> <streams>

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Streams being opened at once.
const OPENING: usize = 256;

async fn open(addr: &str, request: &[u8]) -> Result<BufReader<TcpStream>, String> {
    let mut tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the stream before the endpoint event".into());
        }
        if line.starts_with("HTTP/1.1 ") && !line.starts_with("HTTP/1.1 200") {
            return Err(format!("answered {}", line.trim()));
        }
        if line.trim() == "event: endpoint" {
            return Ok(reader);
        }
    }
}

#[tokio::main]
async fn main() {
    let usage = "usage: sse_hold <host:port> <token-file> <streams>";
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect(usage);
    let token = std::fs::read_to_string(args.next().expect(usage)).expect("read the token file");
    let count: usize = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let request = format!(
        "GET /sse HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        token.trim()
    );
    let request: Arc<[u8]> = request.into_bytes().into();
    let addr: Arc<str> = addr.into();
    let gate = Arc::new(Semaphore::new(OPENING));
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let (addr, request, gate) = (addr.clone(), request.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate
                .acquire_owned()
                .await
                .expect("the semaphore stays open");
            let stream = open(&addr, &request).await;
            drop(permit);
            stream
        }));
    }
    let mut held = Vec::with_capacity(count);
    let mut failures = Vec::new();
    for task in tasks {
        match task.await.expect("the task does not panic") {
            Ok(stream) => held.push(stream),
            Err(e) => failures.push(e),
        }
    }
    println!("held {}", held.len());
    if !failures.is_empty() {
        eprintln!(
            "{} streams failed; the first: {}",
            failures.len(),
            failures[0]
        );
    }
    // Keep reading (keep-alive comments) so the server never sees a full socket, until stdin
    // closes.
    for mut stream in held {
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        });
    }
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let mut sink = Vec::new();
        std::io::stdin().read_to_end(&mut sink)
    })
    .await;
}
