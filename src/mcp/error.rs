//! Every way an MCP request can fail, and the one place each maps to a JSON-RPC error code and
//! an HTTP status (JSON-RPC 2.0 §5.1; MCP 2026-07-28 Streamable HTTP error statuses; MCP
//! 2025-xx Streamable HTTP "Sending Messages to the Server").
//!
//! Messages say what the client should change. In the initialize-based eras, errors raised while
//! handling a well-formed request (unknown method, bad params) travel with HTTP 200, as the
//! official SDKs expect; the 2026-07-28 revision pairs them with 4xx statuses.

use axum::http::StatusCode;
use serde_json::{Value, json};

pub(crate) const PARSE_ERROR: i64 = -32700;
pub(crate) const INVALID_REQUEST: i64 = -32600;
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// Implementation-defined transport failures (media types, size, sessions).
pub(crate) const TRANSPORT_ERROR: i64 = -32000;
/// 2026-07-28: an `MCP-Protocol-Version`, `Mcp-Method` or `Mcp-Name` header disagrees with the body.
pub(crate) const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the requested protocol version is not served.
pub(crate) const UNSUPPORTED_VERSION: i64 = -32022;

/// Why a message was not answered with a result.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum McpError {
    #[error("the body is not valid JSON: {0}; send one JSON-RPC message as a JSON object")]
    Parse(String),
    #[error("invalid JSON-RPC message: {0}")]
    InvalidRequest(String),
    #[error("method `{0}` is not supported{1}")]
    MethodNotFound(String, &'static str),
    #[error("invalid params: {0}")]
    InvalidParams(String),
    #[error("{0}")]
    HeaderMismatch(String),
    #[error("unsupported protocol version {requested}; supported: {}", supported.join(", "))]
    UnsupportedVersion {
        requested: String,
        supported: &'static [&'static str],
    },
    #[error("the client must accept both application/json and text/event-stream (Accept: {0})")]
    NotAcceptable(String),
    #[error("Content-Type must be application/json, not `{0}`")]
    UnsupportedMediaType(String),
    #[error("the body is larger than {0} bytes (MCP_MAX_BODY_BYTES); send a smaller message")]
    TooLarge(usize),
    #[error(
        "the body did not arrive within {0} s (MCP_BODY_TIMEOUT_SECS); send the whole message at once"
    )]
    BodyTimeout(u64),
    #[error("no session `{0}`: it ended or never existed; open a new stream with GET /sse")]
    UnknownSession(String),
    #[error("the session belongs to another user or client; open your own stream with GET /sse")]
    ForeignSession,
    #[error("too many open /sse streams ({0}); retry later or use Streamable HTTP at /mcp")]
    SessionsExhausted(usize),
    #[error(
        "the session's event stream is not being read, or the server holds as many unread answers as it may; read the stream, then retry"
    )]
    StreamBusy,
    #[error(
        "the replica holding this /sse stream cannot be reached now; retry shortly, or open a new stream with GET /sse, or use Streamable HTTP at /mcp"
    )]
    StreamElsewhere,
    #[error(
        "this caller already holds {0} open /sse streams (MCP_SSE_MAX_SESSIONS_PER_SUBJECT); close one, or use Streamable HTTP at /mcp"
    )]
    TooManyStreams(usize),
    #[error("{0}")]
    Limited(crate::fair::Limited),
    #[error(
        "the batch holds {0} messages, more than the {1} this server takes in one batch; send at most {1} per POST"
    )]
    BatchTooLarge(usize, usize),
}

impl McpError {
    /// The JSON-RPC error code.
    pub(crate) fn code(&self) -> i64 {
        match self {
            McpError::Parse(_) => PARSE_ERROR,
            McpError::InvalidRequest(_) | McpError::BatchTooLarge(..) => INVALID_REQUEST,
            McpError::MethodNotFound(..) => METHOD_NOT_FOUND,
            McpError::InvalidParams(_) => INVALID_PARAMS,
            McpError::HeaderMismatch(_) => HEADER_MISMATCH,
            McpError::UnsupportedVersion { .. } => UNSUPPORTED_VERSION,
            _ => TRANSPORT_ERROR,
        }
    }

    /// The HTTP status under the 2026-07-28 rules; transport failures have the same status in
    /// every era.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            McpError::MethodNotFound(..) | McpError::UnknownSession(_) => StatusCode::NOT_FOUND,
            McpError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            McpError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            McpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            McpError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            McpError::ForeignSession => StatusCode::FORBIDDEN,
            McpError::SessionsExhausted(_) | McpError::StreamBusy | McpError::StreamElsewhere => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            McpError::Limited(_) | McpError::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Whether the error arose while handling a well-formed request (as opposed to the transport
    /// or the envelope). Initialize-era clients get these with HTTP 200.
    pub(crate) fn is_dispatch(&self) -> bool {
        matches!(
            self,
            McpError::MethodNotFound(..) | McpError::InvalidParams(_)
        )
    }

    /// The `error.data` member, where the error has one.
    pub(crate) fn data(&self) -> Option<Value> {
        match self {
            McpError::UnsupportedVersion {
                requested,
                supported,
            } => Some(json!({ "supported": supported, "requested": requested })),
            McpError::Limited(limited) => Some(json!({
                "limit": limited.label(),
                "retryAfterSeconds": limited.retry_after_secs(),
            })),
            McpError::BatchTooLarge(_, max) => Some(json!({ "maxBatch": max })),
            _ => None,
        }
    }

    /// Seconds for `Retry-After`, on answers that ask the client to come back.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            McpError::Limited(limited) => Some(limited.retry_after_secs()),
            McpError::SessionsExhausted(_) | McpError::StreamBusy | McpError::TooManyStreams(_) => {
                Some(5)
            }
            McpError::StreamElsewhere => Some(1),
            _ => None,
        }
    }
}
