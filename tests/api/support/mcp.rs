//! Helpers to speak MCP over HTTP in tests: raw POSTs with chosen headers, the stateless
//! envelope, and a reader for event streams.

use std::time::Duration;

use serde_json::{Value, json};

use super::TestServer;

/// The headers a well-behaved Streamable HTTP client sends.
pub(crate) const JSON_AND_SSE: &str = "application/json, text/event-stream";

/// A response read in full: status, headers and the body as JSON (or `Value::Null`).
pub(crate) struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The JSON-RPC error message, or "" if the body is not an error.
    pub(crate) fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// The JSON-RPC error code, if the body is an error.
    pub(crate) fn code(&self) -> Option<i64> {
        self.body["error"]["code"].as_i64()
    }
}

/// `_meta` of a 2026-07-28 request.
pub(crate) fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "test", "version": "1" },
    })
}

/// A 2026-07-28 request body.
pub(crate) fn stateless(id: i64, method: &str, mut params: Value) -> Value {
    params["_meta"] = meta();
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// The headers a 2026-07-28 client sends with `body`.
pub(crate) fn stateless_headers(body: &Value) -> Vec<(String, String)> {
    let mut h = vec![
        ("mcp-protocol-version".to_owned(), "2026-07-28".to_owned()),
        (
            "mcp-method".to_owned(),
            body["method"].as_str().unwrap().to_owned(),
        ),
    ];
    if let Some(name) = body["params"]["name"].as_str() {
        h.push(("mcp-name".to_owned(), name.to_owned()));
    }
    h
}

impl TestServer {
    /// POSTs raw bytes to `path` with exactly the given headers (plus the token).
    pub(crate) async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// POSTs one JSON-RPC message to `/mcp` as a Streamable HTTP client would, plus `extra`
    /// headers (which replace the defaults of the same name).
    pub(crate) async fn rpc(&self, token: &str, body: &Value, extra: &[(&str, &str)]) -> Reply {
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), JSON_AND_SSE.into()),
        ];
        for (k, v) in extra {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
            headers.push((k.to_string(), v.to_string()));
        }
        self.post_raw(
            "/mcp",
            Some(token),
            &headers,
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    /// One message as a client of an initialize-based `version` sends it after the handshake.
    pub(crate) async fn rpc_at(&self, token: &str, body: &Value, version: &str) -> Reply {
        self.rpc(token, body, &[("mcp-protocol-version", version)])
            .await
    }

    /// A 2026-07-28 request with the headers that go with it.
    pub(crate) async fn stateless(&self, token: &str, body: &Value) -> Reply {
        let headers = stateless_headers(body);
        let extra: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.rpc(token, body, &extra).await
    }
}

/// A request of the initialize-based eras.
pub(crate) fn request(id: i64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// Reads an event stream as it arrives.
pub(crate) struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// Reads `response`, asserting that it is a 200 event stream proxies will not buffer.
    pub(crate) fn open(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["x-accel-buffering"], "no");
        Self::new(response)
    }

    pub(crate) fn new(response: reqwest::Response) -> Self {
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next block (event or comment), waiting at most `limit`; `None` when the stream ends.
    pub(crate) async fn next_block(&mut self, limit: Duration) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block = self.buffer[..end].to_owned();
                self.buffer.drain(..end + 2);
                return Some(block);
            }
            let chunk = tokio::time::timeout(limit, self.response.chunk())
                .await
                .expect("the stream went quiet for too long")
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event (comments skipped): its name and data.
    pub(crate) async fn next_event(&mut self, limit: Duration) -> Option<(String, String)> {
        loop {
            let block = self.next_block(limit).await?;
            let mut name = "message".to_owned();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.trim_start().to_owned());
                }
            }
            if !data.is_empty() {
                return Some((name, data.join("\n")));
            }
        }
    }

    /// The next `message` event's JSON.
    pub(crate) async fn next_message(&mut self) -> Value {
        let (name, data) = self
            .next_event(Duration::from_secs(10))
            .await
            .expect("the stream ended before a message");
        assert_eq!(name, "message");
        serde_json::from_str(&data).unwrap()
    }
}
