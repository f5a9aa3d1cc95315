//! MCP over HTTP, behind the token gate.
//!
//! - [`streamable_http`]: `POST /mcp` for every era, stateless, JSON or SSE answers;
//! - [`legacy_sse`]: `GET /sse` and `POST /messages` (2024-11-05 HTTP+SSE);
//! - [`era`]: protocol revisions, how a request is assigned to one, version negotiation;
//! - [`dispatch`]: methods per era;
//! - [`jsonrpc`], [`error`]: messages and the one mapping of failures to codes and statuses;
//! - [`http`]: what both transports share: media types, bodies, allowances, JSON answers;
//! - [`sse`]: event encoding; [`origin`]: the Origin/Host guard in front of it all.

pub(crate) mod dispatch;
pub(crate) mod era;
pub(crate) mod error;
pub(crate) mod http;
pub(crate) mod jsonrpc;
pub(crate) mod legacy_sse;
pub(crate) mod origin;
pub(crate) mod sse;
pub(crate) mod streamable_http;

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Principal;
use crate::config::Settings;
use crate::fair::{Caller, Fair};
use crate::telemetry::{Metrics, RequestId};
use crate::tools::{Asker, Tools};

/// What the MCP handlers use; the app hands it to them (`FromRef`), and cloning it costs one
/// reference count, as the app's own state does.
#[derive(Clone)]
pub struct McpState(Arc<McpShared>);

pub struct McpShared {
    pub settings: Arc<Settings>,
    pub tools: Arc<Tools>,
    pub fair: Arc<Fair>,
    pub sessions: Arc<legacy_sse::Sessions>,
    pub metrics: Arc<Metrics>,
}

impl McpState {
    pub fn new(shared: McpShared) -> Self {
        McpState(Arc::new(shared))
    }

    /// What answering one request of `sender` at `version` may use: no progress sink, and the
    /// tool call not yet taken from the caller's allowance.
    pub(crate) fn context<'a>(
        &'a self,
        sender: &'a Sender,
        version: era::Version,
    ) -> dispatch::RequestContext<'a> {
        dispatch::RequestContext {
            tools: &self.tools,
            sender,
            version,
            progress: None,
            fair: &self.fair,
        }
    }
}

/// Who sent a request and which request it is, taken once from what the front layer and the
/// gate left in it: the verified caller, the caller's fair-use name and the request's id. It
/// travels with the request through either transport, a batch and dispatch.
#[derive(Clone)]
pub(crate) struct Sender {
    pub(crate) principal: Principal,
    pub(crate) caller: Caller,
    pub(crate) request_id: RequestId,
}

impl Sender {
    /// The sender as the audit trail names it.
    pub(crate) fn asker(&self) -> Asker<'_> {
        Asker {
            principal: &self.principal,
            request_id: &self.request_id,
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Sender {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(request_id) = RequestId::from_request_parts(parts, state).await;
        Ok(Sender {
            principal,
            caller,
            request_id,
        })
    }
}

impl std::ops::Deref for McpState {
    type Target = McpShared;
    fn deref(&self) -> &McpShared {
        &self.0
    }
}

/// `GET` and `DELETE /mcp`: this server keeps no sessions and opens no standalone streams.
pub(crate) async fn method_not_allowed() -> Response {
    refuse_method(
        "POST",
        "this endpoint is stateless: send JSON-RPC messages with POST; there are no sessions to resume or delete",
    )
}

/// `POST /sse`: a Streamable HTTP client tried the old endpoint; 405 tells it to fall back to
/// `GET /sse` (or to use `/mcp`).
pub(crate) async fn sse_post_not_allowed() -> Response {
    refuse_method(
        "GET",
        "open the 2024-11-05 event stream with GET /sse, or send Streamable HTTP requests to POST /mcp",
    )
}

fn refuse_method(allow: &'static str, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": null,
        "error": { "code": error::TRANSPORT_ERROR, "message": message },
    });
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
