//! The 2024-11-05 HTTP+SSE transport (MCP 2024-11-05 "Transports"), kept as a fallback for
//! clients that predate Streamable HTTP.
//!
//! `GET /sse` opens a stream whose first event, `endpoint`, names `/messages?sessionId=…`; each
//! `POST` there is answered 202 and its response arrives on the stream as a `message` event.
//! Sessions are bounded in number (`MCP_SSE_MAX_SESSIONS`, 503 with `Retry-After` past it) and
//! in idle time (`MCP_SSE_IDLE_SECS` without a message closes the stream); comments keep idle
//! streams open through proxies. Both routes need a token, and a POST must come from the same
//! subject and client as the stream it writes to.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::dispatch::Context;
use super::era::{self, Version};
use super::error::McpError;
use super::jsonrpc::{self, Incoming, Message};
use super::sse;
use super::streamable_http::{error, read_body};
use crate::app::AppState;
use crate::auth::Principal;

/// Messages waiting to be written to one stream.
const QUEUE: usize = 64;

/// Who may write to a session: the token's `sub` and `azp`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    subject: Option<String>,
    client: Option<String>,
}

impl Owner {
    fn of(p: &Principal) -> Self {
        Owner {
            subject: p.subject.clone(),
            client: p.client_id.clone(),
        }
    }
}

struct Session {
    owner: Owner,
    outbox: mpsc::Sender<Message>,
    /// The version `initialize` agreed on this session.
    version: Mutex<Option<Version>>,
}

/// The open `/sse` sessions.
pub struct Sessions {
    open: Mutex<HashMap<String, Arc<Session>>>,
    max: usize,
    /// Set to true when the server stops, which ends every stream.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Sessions {
    pub fn new(max: usize) -> Self {
        Sessions {
            open: Mutex::new(HashMap::new()),
            max,
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Ends every stream, so a graceful shutdown does not wait for clients that never hang up.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// How many streams are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self, owner: Owner) -> Result<(String, mpsc::Receiver<Message>), McpError> {
        let mut open = self.lock();
        if open.len() >= self.max {
            return Err(McpError::SessionsExhausted(self.max));
        }
        let id = new_session_id();
        let (outbox, inbox) = mpsc::channel(QUEUE);
        let session = Session {
            owner,
            outbox,
            version: Mutex::new(None),
        };
        open.insert(id.clone(), Arc::new(session));
        Ok((id, inbox))
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().get(id).cloned()
    }

    fn close(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// 128 random bits, hex-encoded.
fn new_session_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes the session when its stream ends, however it ends.
struct Registration {
    sessions: Arc<Sessions>,
    id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions.close(&self.id);
        tracing::debug!(session = %self.id, "sse stream closed");
    }
}

/// `GET /sse`.
pub async fn open(State(state): State<AppState>, principal: Principal) -> Response {
    let sessions = state.sessions.clone();
    let (id, inbox) = match sessions.open(Owner::of(&principal)) {
        Ok(opened) => opened,
        Err(e) => return error(None, &e, e.status()),
    };
    tracing::debug!(session = %id, sub = principal.subject.as_deref().unwrap_or(""), "sse stream opened");
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/messages?sessionId={id}"));
    let idle = state.settings.sse.idle;
    let closing = sessions.closing.subscribe();
    let registration = Registration { sessions, id };
    let first = futures_util::stream::once(async move { Ok::<_, Infallible>(endpoint) });
    // The stream ends when its session goes idle, its client leaves, or the server stops; a
    // stop first sends a `close` event so the client knows to reconnect.
    let rest = futures_util::stream::unfold(
        Some((inbox, registration, closing)),
        move |open| async move {
            let (mut inbox, registration, mut closing) = open?;
            if *closing.borrow_and_update() {
                return Some((Ok(sse::closing()), None));
            }
            tokio::select! {
                received = tokio::time::timeout(idle, inbox.recv()) => match received {
                    Ok(Some(message)) => Some((
                        Ok(sse::message(&message)),
                        Some((inbox, registration, closing)),
                    )),
                    Ok(None) | Err(_) => None,
                },
                _ = closing.changed() => Some((Ok(sse::closing()), None)),
            }
        },
    );
    use futures_util::StreamExt;
    sse::response(first.chain(rest), state.settings.sse.keep_alive)
}

#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

/// `POST /messages?sessionId=…`.
pub async fn post(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<MessagesQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match deliver(&state, &principal, query, &headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err((id, e)) => error(id.as_ref(), &e, e.status()),
    }
}

type Refusal = (Option<jsonrpc::Id>, McpError);

async fn deliver(
    state: &AppState,
    principal: &Principal,
    query: MessagesQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), Refusal> {
    let Some(id) = query.session_id else {
        return Err((
            None,
            McpError::InvalidRequest(
                "the sessionId query parameter is required; use the URL of the endpoint event"
                    .into(),
            ),
        ));
    };
    let session = state
        .sessions
        .get(&id)
        .ok_or_else(|| (None, McpError::UnknownSession(id.clone())))?;
    if session.owner != Owner::of(principal) {
        tracing::warn!(session = %id, sub = principal.subject.as_deref().unwrap_or(""), "refused a message for another subject's sse session");
        return Err((None, McpError::ForeignSession));
    }
    super::streamable_http::check_content_type(headers).map_err(|e| (None, e))?;
    let bytes = read_body(body, state).await.map_err(|e| (None, e))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| (None, McpError::Parse(e.to_string())))?;
    let request = match jsonrpc::classify(value) {
        Ok(Incoming::Request(r)) => r,
        Ok(_) => return Ok(()),
        Err(invalid) => return Err((invalid.id, invalid.error)),
    };
    let version = {
        let mut agreed = session.version.lock().unwrap_or_else(|p| p.into_inner());
        if request.method == "initialize" {
            let v = era::negotiate(request.str_param("protocolVersion"), era::SSE_NEGOTIATED);
            *agreed = Some(v);
            v
        } else {
            agreed.unwrap_or(Version::V2024_11_05)
        }
    };
    let ctx = Context {
        tools: &state.tools,
        principal,
        version,
        progress: None,
        fair: &state.fair,
        counted: false,
    };
    // A refusal by a per-caller limit answers the POST, so the client sees when to retry.
    let reply = match super::dispatch::handle(&ctx, &request).await {
        Ok(result) => jsonrpc::success(&request.id, result),
        Err(e @ McpError::Limited(_)) => return Err((Some(request.id.clone()), e)),
        Err(e) => jsonrpc::failure(Some(&request.id), &e),
    };
    session
        .outbox
        .try_send(reply)
        .map_err(|_| (Some(request.id.clone()), McpError::StreamBusy))
}
