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
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::dispatch::{self, RequestContext};
use super::era::{self, Version};
use super::error::McpError;
use super::http::{Accept, check_media, error, json, json_body, read_body};
use super::jsonrpc::{self, Incoming, Message, Request};
use super::sse;
use super::{McpState, Sender};
use crate::tools::Progress;

/// `POST /mcp`. Takes the whole request rather than a `HeaderMap`, which axum would copy.
pub(crate) async fn post(
    State(state): State<McpState>,
    sender: Sender,
    request: axum::extract::Request,
) -> Response {
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
        Ok(jsonrpc::Body::Batch(items)) => batch(state, sender, headers, items).await,
        Ok(jsonrpc::Body::One(item)) => {
            single(state, sender, headers, accept, item.classify()).await
        }
        Err(e) => {
            let e = McpError::Parse(e.to_string());
            error(None, &e, e.status())
        }
    }
}

async fn single(
    state: McpState,
    sender: Sender,
    headers: &HeaderMap,
    accept: Accept,
    message: Result<Incoming, jsonrpc::Invalid>,
) -> Response {
    let request = match message {
        Ok(Incoming::Request(r)) => r,
        Ok(Incoming::Notification | Incoming::Response) => {
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
    let ctx = state.context(&sender, version);
    if let Err(e) = dispatch::admit(&ctx, std::iter::once(&request)).await {
        return error(Some(&request.id), &e, status(&e, version));
    }
    let token = (request.method == "tools/call")
        .then(|| dispatch::progress_token(&request))
        .flatten();
    if accept.prefers_sse || token.is_some() {
        return stream(state, sender, request, version, token);
    }
    match dispatch::handle(&ctx, &request).await {
        Ok(result) => json(StatusCode::OK, jsonrpc::success(&request.id, result)),
        Err(e) => error(Some(&request.id), &e, status(&e, version)),
    }
}

/// Answers one request as an SSE stream: progress notifications, then the response.
fn stream(
    state: McpState,
    sender: Sender,
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
        let ctx = RequestContext {
            progress,
            ..state.context(&sender, version)
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
pub(crate) async fn respond(ctx: &RequestContext<'_>, request: &Request) -> Message {
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

/// A batch (2025-03-26 only): every request answered, in order, in one JSON array. At most
/// [`dispatch::MAX_BATCH`] messages; the batch's tool calls are taken from the caller's
/// allowance all at once, before any is answered. Each answer is worked out when the client is
/// ready to read it and written out at once, so a batch holds one answer at a time however
/// slowly its client reads.
async fn batch(
    state: McpState,
    sender: Sender,
    headers: &HeaderMap,
    items: Vec<jsonrpc::Item>,
) -> Response {
    let version = match batch_version(headers, items.is_empty()) {
        Ok(v) => v,
        Err(e) => return error(None, &e, e.status()),
    };
    let ctx = state.context(&sender, version);
    if let Err(e) = dispatch::within_batch_bound(&ctx, items.len()) {
        return error(None, &e, e.status());
    }
    // Notifications and responses are taken and not answered.
    let answered: Vec<Result<Request, jsonrpc::Invalid>> = items
        .into_iter()
        .filter_map(|item| match item.classify() {
            Ok(Incoming::Request(r)) => Some(Ok(r)),
            Ok(_) => None,
            Err(invalid) => Some(Err(invalid)),
        })
        .collect();
    if let Err(e) = dispatch::admit(&ctx, answered.iter().flatten()).await {
        return error(None, &e, e.status());
    }
    if answered.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    let ctx = Batch {
        state,
        sender,
        version,
    };
    let replies = futures_util::stream::iter(answered.into_iter().enumerate())
        .then(move |(n, item)| ctx.clone().answer(n, item));
    let end = futures_util::stream::once(async { Ok(Bytes::from_static(b"]")) });
    json_body(StatusCode::OK, Body::from_stream(replies.chain(end)))
}

/// What answering one item of a batch needs.
#[derive(Clone)]
struct Batch {
    state: McpState,
    sender: Sender,
    version: Version,
}

impl Batch {
    /// The answer to item `n`, as the piece of the JSON array that carries it.
    async fn answer(
        self,
        n: usize,
        item: Result<Request, jsonrpc::Invalid>,
    ) -> Result<Bytes, Infallible> {
        let reply = match item {
            Ok(r) if r.method == "initialize" => jsonrpc::failure(
                Some(&r.id),
                &McpError::InvalidRequest(
                    "initialize must be sent on its own, not in a batch".into(),
                ),
            ),
            Ok(r) => respond(&self.state.context(&self.sender, self.version), &r).await,
            Err(invalid) => jsonrpc::failure(invalid.id.as_ref(), &invalid.error),
        };
        let separator = if n == 0 { "[" } else { "," };
        Ok(Bytes::from(format!("{separator}{}", reply.text())))
    }
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
