//! Server-Sent Events as MCP uses them (HTML Living Standard §9.2; MCP Streamable HTTP and the
//! 2024-11-05 HTTP+SSE transport): JSON-RPC messages as `message` events, comment keep-alives,
//! and the headers that stop proxies from buffering a stream.

use std::convert::Infallible;
use std::time::Duration;

use super::jsonrpc::Message;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

/// A JSON-RPC message as an SSE `message` event.
pub(crate) fn message(message: &Message) -> Event {
    Event::default().event("message").data(message.text())
}

/// The last event of an `/sse` stream when the server stops: a `close` event (which MCP clients
/// ignore, and people reading the stream understand) with a reconnection delay.
pub(crate) fn closing() -> Event {
    Event::default()
        .event("close")
        .retry(Duration::from_secs(1))
        .data(r#"{"reason":"the server is shutting down; open a new stream"}"#)
}

/// An SSE response: `text/event-stream`, no caching, `X-Accel-Buffering: no` so nginx-style
/// proxies pass events on at once, and a comment every `keep_alive` so idle intermediaries do
/// not close the stream.
pub(crate) fn response<S>(events: S, keep_alive: Duration) -> Response
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
