//! `POST /mcp`: the Streamable HTTP transport for every era (MCP 2025-03-26/2025-06-18/
//! 2025-11-25 and 2026-07-28 "Transports", Streamable HTTP), served statelessly.
//!
//! Each POST carries one JSON-RPC message (or, in 2025-03-26 only, a batch). The transport
//! checks media types, size and JSON; the era of each request is decided by [`era`]; the answer
//! is JSON unless the client prefers `text/event-stream` or asked for progress on a tool call.
//! No `Mcp-Session-Id` is ever issued, and one a client sends is ignored, so any replica can
//! answer any request.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::McpState;
use super::dispatch::{self, Context};
use super::era::{self, Version};
use super::error::McpError;
use super::jsonrpc::{self, Id, Incoming, Message, Request};
use super::sse;
use crate::auth::Principal;
use crate::fair::Caller;
use crate::tools::Progress;

/// What the client's `Accept` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// `text/event-stream` has a higher quality than `application/json`.
    pub prefers_sse: bool,
}

/// Checks `Content-Type` (application/json) and `Accept` (both JSON and SSE; RFC 9110 §12.5.1
/// ranges such as `*/*` count).
pub fn check_media(headers: &HeaderMap) -> Result<Accept, McpError> {
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
pub fn check_content_type(headers: &HeaderMap) -> Result<(), McpError> {
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
fn quality(accept: &str, kind: &str, subtype: &str) -> f32 {
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
pub async fn read_body(body: Body, state: &McpState) -> Result<axum::body::Bytes, McpError> {
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

/// `POST /mcp`. Takes the whole request rather than a `HeaderMap`, which axum would copy.
pub async fn post(
    State(state): State<McpState>,
    principal: Principal,
    request: axum::extract::Request,
) -> Response {
    let caller = match admit_request(&state, &principal).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let accept = match check_media(headers) {
        Ok(a) => a,
        Err(e) => return error(None, &e, e.status()),
    };
    let bytes = match read_body(body, &state).await {
        Ok(b) => b,
        Err(e) => return error(None, &e, e.status()),
    };
    match jsonrpc::Body::parse(&bytes) {
        Ok(jsonrpc::Body::Batch(items)) => batch(state, principal, caller, headers, items).await,
        Ok(jsonrpc::Body::One(message)) => {
            single(
                state,
                principal,
                caller,
                headers,
                accept,
                message.classify(),
            )
            .await
        }
        Ok(jsonrpc::Body::Neither) => {
            single(
                state,
                principal,
                caller,
                headers,
                accept,
                Err(jsonrpc::not_an_object()),
            )
            .await
        }
        Err(e) => {
            let e = McpError::Parse(e.to_string());
            error(None, &e, e.status())
        }
    }
}

async fn single(
    state: McpState,
    principal: Principal,
    caller: Caller,
    headers: &HeaderMap,
    accept: Accept,
    message: Result<Incoming, jsonrpc::Invalid>,
) -> Response {
    let request = match message {
        Ok(Incoming::Request(r)) => r,
        Ok(Incoming::Notification { .. } | Incoming::Response) => {
            return StatusCode::ACCEPTED.into_response();
        }
        Err(invalid) => return error(invalid.id.as_ref(), &invalid.error, invalid.error.status()),
    };
    let stateless = era::is_stateless(headers, &request);
    let version = if stateless {
        era::check_stateless(headers, &request)
    } else if request.method == "initialize" {
        Ok(era::negotiate(
            request.str_param("protocolVersion"),
            era::NEGOTIATED,
        ))
    } else {
        era::negotiated_version(headers)
    };
    let version = match version {
        Ok(v) => v,
        Err(e) => return error(Some(&request.id), &e, e.status()),
    };
    let token = (request.method == "tools/call")
        .then(|| dispatch::progress_token(&request))
        .flatten();
    if accept.prefers_sse || token.is_some() {
        return stream(state, principal, caller, request, version, token);
    }
    let ctx = Context {
        tools: &state.tools,
        principal: &principal,
        version,
        progress: None,
        fair: &state.fair,
        caller,
        counted: false,
    };
    match dispatch::handle(&ctx, &request).await {
        Ok(result) => json(StatusCode::OK, jsonrpc::success(&request.id, result)),
        Err(e) => error(Some(&request.id), &e, status(&e, version)),
    }
}

/// Answers one request as an SSE stream: progress notifications, then the response.
fn stream(
    state: McpState,
    principal: Principal,
    caller: Caller,
    request: Request,
    version: Version,
    token: Option<Value>,
) -> Response {
    let (tx, rx) = mpsc::channel::<Message>(32);
    let progress = token.map(|t| {
        let tx = tx.clone();
        Progress::new(t, move |params| {
            let _ = tx.try_send(jsonrpc::notification("notifications/progress", params));
        })
    });
    let keep_alive = state.settings.sse.keep_alive;
    tokio::spawn(async move {
        let ctx = Context {
            tools: &state.tools,
            principal: &principal,
            version,
            progress,
            fair: &state.fair,
            caller,
            counted: false,
        };
        let reply = respond(&ctx, &request).await;
        drop(ctx);
        let _ = tx.send(reply).await;
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let message = rx.recv().await?;
        Some((Ok::<_, Infallible>(sse::message(&message)), rx))
    });
    sse::response(events, keep_alive)
}

/// The response message for a request: its result or its error.
pub async fn respond(ctx: &Context<'_>, request: &Request) -> Message {
    match dispatch::handle(ctx, request).await {
        Ok(result) => jsonrpc::success(&request.id, result),
        Err(e) => jsonrpc::failure(Some(&request.id), &e),
    }
}

/// The HTTP status for an error raised while handling a request: initialize-era clients get
/// dispatch errors with 200, as the official SDKs send and expect them.
fn status(e: &McpError, version: Version) -> StatusCode {
    if !version.is_stateless() && e.is_dispatch() {
        StatusCode::OK
    } else {
        e.status()
    }
}

/// A JSON answer carrying one message.
pub fn json(status: StatusCode, message: Message) -> Response {
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

/// A JSON answer made of text that is already JSON.
pub fn json_text(status: StatusCode, body: String) -> Response {
    json_body(status, Body::from(body))
}

fn json_body(status: StatusCode, body: Body) -> Response {
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

/// Takes one request from the caller's allowance of requests and names the caller for the
/// rest of the request; past the allowance, the 429 to answer with (held until the caller may
/// retry, at most a second; see `crate::fair`).
pub async fn admit_request(state: &McpState, principal: &Principal) -> Result<Caller, Response> {
    let caller = state.fair.caller(principal);
    match state.fair.admit_request(caller) {
        Ok(()) => Ok(caller),
        Err(limited) => {
            let e = McpError::Limited(limited.held().await);
            Err(error(None, &e, e.status()))
        }
    }
}

/// A JSON-RPC error response with the given status, and `Retry-After` when the client should
/// come back later.
pub fn error(id: Option<&Id>, e: &McpError, status: StatusCode) -> Response {
    let mut response = json(status, jsonrpc::failure(id, e));
    if let Some(secs) = e.retry_after() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
    }
    response
}

/// A batch (2025-03-26 only): every request answered, in order, in one JSON array. At most
/// `MCP_MAX_BATCH` messages; the batch's tool calls are taken from the caller's allowance all
/// at once, before any is answered. Each answer is worked out when the client is ready to read
/// it and written out at once, so a batch holds one answer at a time however slowly its
/// client reads.
async fn batch(
    state: McpState,
    principal: Principal,
    caller: Caller,
    headers: &HeaderMap,
    items: Vec<Value>,
) -> Response {
    let version = match batch_version(headers, items.is_empty()) {
        Ok(v) => v,
        Err(e) => return error(None, &e, e.status()),
    };
    let max = state.settings.max_batch;
    if items.len() > max {
        let e = McpError::BatchTooLarge(items.len(), max);
        return error(None, &e, e.status());
    }
    // Notifications and responses are taken and not answered.
    let answered: Vec<Result<Request, jsonrpc::Invalid>> = items
        .into_iter()
        .filter_map(|item| match jsonrpc::classify(item) {
            Ok(Incoming::Request(r)) => Some(Ok(r)),
            Ok(_) => None,
            Err(invalid) => Some(Err(invalid)),
        })
        .collect();
    if answered.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    let calls = answered
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.method == "tools/call"))
        .count() as u32;
    if let Err(limited) = state.fair.admit(caller, calls) {
        let e = McpError::Limited(limited.held().await);
        return error(None, &e, e.status());
    }
    let replies =
        futures_util::stream::iter(answered.into_iter().enumerate()).then(move |(n, item)| {
            let (state, principal) = (state.clone(), principal.clone());
            async move {
                let reply = match item {
                    Ok(r) if r.method == "initialize" => jsonrpc::failure(
                        Some(&r.id),
                        &McpError::InvalidRequest(
                            "initialize must be sent on its own, not in a batch".into(),
                        ),
                    ),
                    Ok(r) => {
                        let ctx = Context {
                            tools: &state.tools,
                            principal: &principal,
                            version,
                            progress: None,
                            fair: &state.fair,
                            caller,
                            counted: true,
                        };
                        respond(&ctx, &r).await
                    }
                    Err(invalid) => jsonrpc::failure(invalid.id.as_ref(), &invalid.error),
                };
                let separator = if n == 0 { "[" } else { "," };
                Ok::<_, Infallible>(Bytes::from(format!("{separator}{}", reply.text())))
            }
        });
    let end = futures_util::stream::once(async { Ok(Bytes::from_static(b"]")) });
    json_body(StatusCode::OK, Body::from_stream(replies.chain(end)))
}

fn batch_version(headers: &HeaderMap, empty: bool) -> Result<Version, McpError> {
    if empty {
        return Err(McpError::InvalidRequest(
            "the batch is empty; send at least one message".into(),
        ));
    }
    let version = match era::header(headers, &era::PROTOCOL_VERSION_HEADER) {
        Some(v) if era::STATELESS.contains(&v) => Version::V2026_07_28,
        _ => era::negotiated_version(headers)?,
    };
    if version == Version::V2025_03_26 {
        Ok(version)
    } else {
        Err(McpError::InvalidRequest(format!(
            "JSON-RPC batches are allowed only in protocol version 2025-03-26, not {}; send one message per POST",
            version.as_str()
        )))
    }
}

#[cfg(test)]
mod tests;
