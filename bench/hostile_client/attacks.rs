//! The attacker's traffic: each way docs/reliability.md lists of one signed-in user trying to
//! stall the server or fill its memory, never waiting for `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::{ACCEPT, Run, search, word, words};

/// The attack under way: its tasks, and the connections it holds open.
pub(super) struct Attack {
    pub(super) tasks: Vec<JoinHandle<()>>,
    pub(super) held: Vec<TcpStream>,
    pub(super) streams: JoinHandle<Vec<TcpStream>>,
}

/// Starts every attack at once.
pub(super) async fn launch(run: &Arc<Run>) -> Attack {
    let mut tasks = Vec::new();
    let mut held = Vec::new();
    for n in 0..5 {
        held.extend(run.unread_batch(n).await);
    }
    for n in 0..2 {
        let r = run.clone();
        tasks.push(tokio::spawn(async move { r.huge_batch().await }));
        let r = run.clone();
        tasks.push(tokio::spawn(async move { r.batches(n).await }));
    }
    for n in 0..8 {
        let r = run.clone();
        tasks.push(tokio::spawn(async move { r.long_searches(n).await }));
    }
    for _ in 0..2 {
        let r = run.clone();
        tasks.push(tokio::spawn(async move { r.ranges().await }));
    }
    for _ in 0..4 {
        let r = run.clone();
        tasks.push(tokio::spawn(async move { r.cheap_flood().await }));
    }
    let r = run.clone();
    tasks.push(tokio::spawn(async move { r.stream_flood().await }));
    let r = run.clone();
    let streams = tokio::spawn(async move { r.streams().await });
    Attack {
        tasks,
        held,
        streams,
    }
}

impl Run {
    /// Batches of 32 new searches with 50 results each, on one connection, without pause.
    async fn batches(&self, n: u64) {
        let mut i = n * 1_000_000;
        while self.attacking.load(Ordering::Relaxed) {
            let batch: Vec<Value> = (0..32)
                .map(|_| {
                    i += 1;
                    search(i, &words(i, 6), 50)
                })
                .collect();
            match self
                .post(&self.attacker, "/mcp", &Value::Array(batch))
                .await
            {
                Ok((status, _)) => self.saw("batch", status),
                Err(_) => self.saw("batch", 0),
            }
        }
    }

    /// One batch of 7 000 searches (about 1 MiB), as before there was a bound.
    async fn huge_batch(&self) {
        let batch: Vec<Value> = (0..7000).map(|i| search(i, &words(i, 6), 50)).collect();
        match self
            .post(&self.attacker, "/mcp", &Value::Array(batch))
            .await
        {
            Ok((status, _)) => self.saw("huge_batch", status),
            Err(_) => self.saw("huge_batch", 0),
        }
    }

    /// A batch whose answer is never read: the connection stays open, unread, to the end.
    async fn unread_batch(&self, n: u64) -> Option<TcpStream> {
        let batch: Vec<Value> = (0..32)
            .map(|i| search(n * 1000 + i, &words(n * 1000 + i, 8), 50))
            .collect();
        let body = Value::Array(batch).to_string();
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\ncontent-type: application/json\r\naccept: {ACCEPT}\r\nmcp-protocol-version: 2025-03-26\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            self.attacker,
            body.len()
        );
        let mut tcp = TcpStream::connect(&self.addr).await.ok()?;
        tcp.write_all(head.as_bytes()).await.ok()?;
        tcp.write_all(body.as_bytes()).await.ok()?;
        self.saw("unread_batch", 0);
        Some(tcp)
    }

    /// Opens `/sse` on a raw socket and reads only the endpoint event; the stream is then
    /// never read. `None` when the server refused the stream.
    async fn unread_stream(&self) -> Option<(TcpStream, String)> {
        let head = format!(
            "GET /sse HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\naccept: text/event-stream\r\n\r\n",
            self.addr, self.attacker
        );
        let mut tcp = TcpStream::connect(&self.addr).await.ok()?;
        tcp.write_all(head.as_bytes()).await.ok()?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains("sessionId=") {
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.starts_with(b"HTTP/1.1 4") || got.starts_with(b"HTTP/1.1 5") {
                let status = String::from_utf8_lossy(&got[9..12]).parse().unwrap_or(0);
                self.saw("sse_open", status);
                return None;
            }
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        let start = text.find("/messages?sessionId=")?;
        let endpoint: String = text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        self.saw("sse_open", 200);
        Some((tcp, endpoint))
    }

    /// 50 streams never read, and 200 new searches posted to each that opened.
    async fn streams(&self) -> Vec<TcpStream> {
        let mut held = Vec::new();
        for _ in 0..50 {
            if let Some(opened) = self.unread_stream().await {
                held.push(opened);
            }
        }
        let mut i = 5_000_000;
        'posting: for _ in 0..200 {
            for (_, endpoint) in &held {
                if !self.attacking.load(Ordering::Relaxed) {
                    break 'posting;
                }
                i += 1;
                match self
                    .post(&self.attacker, endpoint, &search(i, &words(i, 6), 50))
                    .await
                {
                    Ok((status, _)) => self.saw("sse_message", status),
                    Err(_) => self.saw("sse_message", 0),
                }
            }
        }
        held.into_iter().map(|(tcp, _)| tcp).collect()
    }

    /// New 40-word searches for 50 results, on one connection, without pause.
    async fn long_searches(&self, n: u64) {
        let mut i = n * 10_000_000;
        while self.attacking.load(Ordering::Relaxed) {
            i += 1;
            match self
                .post(&self.attacker, "/mcp", &search(i, &words(i, 40), 50))
                .await
            {
                Ok((status, _)) => self.saw("long_search", status),
                Err(_) => self.saw("long_search", 0),
            }
        }
    }

    /// Query syntax that would be ranges: `title:>a`, and one query with 100 of them.
    async fn ranges(&self) {
        let hundred: Vec<String> = (0..100).map(|i| format!("title:>{}", word(i))).collect();
        let queries = ["title:>a".to_owned(), hundred.join(" ")];
        let mut i = 0;
        while self.attacking.load(Ordering::Relaxed) {
            i += 1;
            let query = &queries[(i % 2) as usize];
            match self
                .post(&self.attacker, "/mcp", &search(i, query, 50))
                .await
            {
                Ok((status, _)) => self.saw("range_search", status),
                Err(_) => self.saw("range_search", 0),
            }
        }
    }

    /// `tools/list` without pause: cheap calls, as many as one connection can send.
    async fn cheap_flood(&self) {
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        while self.attacking.load(Ordering::Relaxed) {
            match self.post(&self.attacker, "/mcp", &list).await {
                Ok((status, _)) => self.saw("cheap_flood", status),
                Err(_) => self.saw("cheap_flood", 0),
            }
        }
    }

    /// `GET /sse` 10 000 times, dropping each stream at once.
    async fn stream_flood(&self) {
        for _ in 0..10_000 {
            if !self.attacking.load(Ordering::Relaxed) {
                return;
            }
            let r = self
                .client
                .get(format!("{}/sse", self.base))
                .bearer_auth(&self.attacker)
                .send()
                .await;
            match r {
                Ok(r) => self.saw("sse_flood", r.status().as_u16()),
                Err(_) => self.saw("sse_flood", 0),
            }
        }
    }
}
