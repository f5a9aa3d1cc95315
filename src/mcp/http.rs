//! What both MCP transports share at the HTTP level: checking media types, reading a body within
//! its limits, admitting a caller against its allowance, and writing JSON answers and errors.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::McpState;
use super::error::McpError;
use super::jsonrpc::{self, Id, Message};
use crate::fair::Caller;

/// What the client's `Accept` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accept {
    /// `text/event-stream` has a higher quality than `application/json`.
    pub prefers_sse: bool,
}

/// Checks `Content-Type` (application/json) and `Accept` (both JSON and SSE; RFC 9110 §12.5.1
/// ranges such as `*/*` count).
pub(crate) fn check_media(headers: &HeaderMap) -> Result<Accept, McpError> {
    check_content_type(headers)?;
    // One Accept header is the usual case; several are joined as RFC 9110 §5.3 allows.
    let mut values = headers.get_all(header::ACCEPT).iter();
    let accept: std::borrow::Cow<str> = match (values.next(), values.next()) {
        (None, _) => "".into(),
        // What the official SDKs send, word for word, needs no parsing: both at quality 1.
        (Some(one), None) if one.as_bytes() == b"application/json, text/event-stream" => {
            return Ok(Accept { prefers_sse: false });
        }
        (Some(one), None) => one.to_str().unwrap_or("").into(),
        _ => headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
            .into(),
    };
    let json = quality(&accept, "application", "json");
    let sse = quality(&accept, "text", "event-stream");
    if json <= 0.0 || sse <= 0.0 {
        return Err(McpError::NotAcceptable(accept.into_owned()));
    }
    Ok(Accept {
        prefers_sse: sse > json,
    })
}

/// `Content-Type` must be `application/json` (parameters such as `charset` allowed).
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), McpError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?"))
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(McpError::UnsupportedMediaType(content_type.to_owned()))
    }
}

/// The quality the Accept value gives a media type: that of the most specific matching range.
pub(super) fn quality(accept: &str, kind: &str, subtype: &str) -> f32 {
    let mut best = (0, 0.0_f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let Some((t, s)) = media.split_once('/') else {
            continue;
        };
        let specificity = match (t, s) {
            _ if t.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype) => 3,
            (_, "*") if t.eq_ignore_ascii_case(kind) => 2,
            ("*", "*") => 1,
            _ => continue,
        };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if specificity > best.0 {
            best = (specificity, q);
        }
    }
    best.1
}

/// Reads the whole body, up to `max_body_bytes` and within `body_timeout` (so a client sending
/// a byte now and then cannot hold a request open).
pub(crate) async fn read_body(body: Body, state: &McpState) -> Result<axum::body::Bytes, McpError> {
    use http_body_util::BodyExt;
    let limit = state.settings.max_body_bytes;
    // A declared length past the limit is refused before a byte of the body is read.
    if axum::body::HttpBody::size_hint(&body).lower() > limit as u64 {
        return Err(McpError::TooLarge(limit));
    }
    let timeout = state.settings.connections.body_timeout;
    let mut collect = std::pin::pin!(http_body_util::Limited::new(body, limit).collect());
    // A small body usually arrives with the headers and is complete at the first poll; only a
    // body still on its way needs the timer.
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(collect.as_mut().poll(cx))).await;
    let collected = match first {
        std::task::Poll::Ready(collected) => collected,
        std::task::Poll::Pending => match tokio::time::timeout(timeout, collect).await {
            Ok(collected) => collected,
            Err(_) => return Err(McpError::BodyTimeout(timeout.as_secs())),
        },
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(McpError::TooLarge(limit)),
        Err(e) => Err(McpError::InvalidRequest(format!(
            "the body could not be read: {e}"
        ))),
    }
}

/// A JSON answer carrying one message.
pub(crate) fn json(status: StatusCode, message: Message) -> Response {
    let [head, result, tail] = message.into_pieces();
    if result.is_empty() {
        return json_body(status, Body::from(head));
    }
    let length = (head.len() + result.len() + tail.len()) as u64;
    json_body(
        status,
        Body::new(Pieces {
            pieces: [head, result, tail],
            next: 0,
            remaining: length,
        }),
    )
}

pub(super) fn json_body(status: StatusCode, body: Body) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A body of a few pieces of bytes whose total length is known, so that hyper sends a
/// `Content-Length` and writes the pieces after the head in one system call, and a cached
/// result is sent from the cache without being copied.
struct Pieces {
    pieces: [Bytes; 3],
    next: usize,
    remaining: u64,
}

impl axum::body::HttpBody for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        while let Some(piece) = this.pieces.get_mut(this.next) {
            this.next += 1;
            let piece = std::mem::take(piece);
            if !piece.is_empty() {
                this.remaining -= piece.len() as u64;
                return std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(piece))));
            }
        }
        std::task::Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

/// Takes one request from the caller's allowance of requests; past the allowance, the 429 to
/// answer with (held until the caller may retry, at most a second; see `crate::fair`).
pub(crate) async fn admit_request(state: &McpState, caller: Caller) -> Result<(), Response> {
    match state.fair.admit_request(caller) {
        Ok(()) => Ok(()),
        Err(limited) => {
            let e = McpError::Limited(limited.held().await);
            Err(error(None, &e, e.status()))
        }
    }
}

/// A JSON-RPC error response with the given status, and `Retry-After` when the client should
/// come back later.
pub(crate) fn error(id: Option<&Id>, e: &McpError, status: StatusCode) -> Response {
    let mut response = json(status, jsonrpc::failure(id, e));
    if let Some(secs) = e.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    }
    response
}
