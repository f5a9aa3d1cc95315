//! The 2024-11-05 HTTP+SSE transport (MCP 2024-11-05 "Transports"), kept as a fallback for
//! clients that predate Streamable HTTP.
//!
//! `GET /sse` opens a stream whose first event, `endpoint`, names `/messages?sessionId=…`; each
//! `POST` there is answered 202 and its response arrives on the stream as a `message` event.
//! Sessions are bounded in number (`MCP_SSE_MAX_SESSIONS`, 503 with `Retry-After` past it; one
//! caller, `sub` and `azp`, at most `MCP_SSE_MAX_SESSIONS_PER_SUBJECT`, 429 past it) and in idle
//! time (`MCP_SSE_IDLE_SECS` without a message closes the stream); comments keep idle streams
//! open through proxies. Answers waiting for a client that does not read are bounded in bytes,
//! per stream (`MCP_SSE_OUTBOX_KIB`) and over all streams (`MCP_SSE_OUTBOX_TOTAL_MIB`): past
//! either, a POST gets 503 with `Retry-After` before any work is done for it. Both routes need
//! a token, and a POST must come from the same subject and client as the stream it writes to.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::McpState;
use super::era::{self, Version};
use super::error::McpError;
use super::http::{admit_request, error, read_body};
use super::jsonrpc::{self, Incoming, Message};
use super::sse;
use crate::auth::Principal;
use crate::config::SseSettings;
use crate::telemetry::RequestId;

/// Who may write to a session: the token's `sub` and `azp`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// Unbounded in count: what bounds it is [`Outbox`], in bytes.
    outbox: mpsc::UnboundedSender<Message>,
    /// Bytes of answers sent to `outbox` and not yet taken by the stream.
    queued: AtomicUsize,
    /// The version `initialize` agreed on this session.
    version: Mutex<Option<Version>>,
}

/// The open sessions, and how many each owner holds.
#[derive(Default)]
struct Open {
    sessions: HashMap<String, Arc<Session>>,
    per_owner: HashMap<Owner, usize>,
}

/// The open `/sse` sessions.
pub struct Sessions {
    open: Mutex<Open>,
    limits: SseSettings,
    /// Bytes of answers waiting on all streams together.
    queued: AtomicUsize,
    /// Set to true when the server stops, which ends every stream.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Sessions {
    pub fn new(limits: &SseSettings) -> Self {
        Sessions {
            open: Mutex::new(Open::default()),
            limits: limits.clone(),
            queued: AtomicUsize::new(0),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Ends every stream, so a graceful shutdown does not wait for clients that never hang up.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// How many streams are open.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Bytes of answers waiting on all streams.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(
        &self,
        owner: Owner,
    ) -> Result<(String, Arc<Session>, mpsc::UnboundedReceiver<Message>), McpError> {
        let mut open = self.lock();
        if open.sessions.len() >= self.limits.max_sessions {
            return Err(McpError::SessionsExhausted(self.limits.max_sessions));
        }
        let held = open.per_owner.get(&owner).copied().unwrap_or(0);
        if held >= self.limits.max_sessions_per_subject {
            return Err(McpError::TooManyStreams(
                self.limits.max_sessions_per_subject,
            ));
        }
        let id = new_session_id();
        let (outbox, inbox) = mpsc::unbounded_channel();
        let session = Arc::new(Session {
            owner: owner.clone(),
            outbox,
            queued: AtomicUsize::new(0),
            version: Mutex::new(None),
        });
        open.sessions.insert(id.clone(), session.clone());
        *open.per_owner.entry(owner).or_default() += 1;
        Ok((id, session, inbox))
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().sessions.get(id).cloned()
    }

    fn close(&self, id: &str) {
        let mut open = self.lock();
        let Some(session) = open.sessions.remove(id) else {
            return;
        };
        if let Some(held) = open.per_owner.get_mut(&session.owner) {
            *held -= 1;
            if *held == 0 {
                open.per_owner.remove(&session.owner);
            }
        }
    }

    /// Whether a session has room for more answers now, before any work is done for one.
    fn has_room(&self, session: &Session) -> bool {
        session.queued.load(Ordering::Acquire) < self.limits.outbox_bytes
            && self.queued.load(Ordering::Acquire) < self.limits.outbox_total_bytes
    }

    /// Queues an answer on a session, unless its stream or all streams together already hold
    /// as much as they may. An answer larger than a stream's whole outbox still goes to an
    /// empty one, so no answer is undeliverable.
    fn queue(&self, session: &Session, message: Message) -> Result<(), McpError> {
        let size = message.len();
        let mine = session.queued.fetch_add(size, Ordering::AcqRel);
        let all = self.queued.fetch_add(size, Ordering::AcqRel);
        if (mine > 0 && mine + size > self.limits.outbox_bytes)
            || all + size > self.limits.outbox_total_bytes
        {
            self.taken(session, size);
            return Err(McpError::StreamBusy);
        }
        session.outbox.send(message).map_err(|_| {
            self.taken(session, size);
            McpError::StreamBusy
        })
    }

    /// `size` bytes left a session's outbox.
    fn taken(&self, session: &Session, size: usize) {
        session.queued.fetch_sub(size, Ordering::AcqRel);
        self.queued.fetch_sub(size, Ordering::AcqRel);
    }
}

/// 128 random bits, hex-encoded.
fn new_session_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator works");
    crate::telemetry::hex(&bytes)
}

/// Removes the session when its stream ends, however it ends.
struct Registration {
    sessions: Arc<Sessions>,
    id: String,
    session: Arc<Session>,
    inbox: mpsc::UnboundedReceiver<Message>,
}

impl Registration {
    async fn next(&mut self) -> Option<Message> {
        let message = self.inbox.recv().await?;
        self.sessions.taken(&self.session, message.len());
        Some(message)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions.close(&self.id);
        // Nothing more can be queued; what is still waiting no longer counts.
        self.inbox.close();
        while let Ok(message) = self.inbox.try_recv() {
            self.sessions.taken(&self.session, message.len());
        }
        tracing::debug!(session = %self.id, "sse stream closed");
    }
}

/// `GET /sse`.
pub async fn open(State(state): State<McpState>, principal: Principal) -> Response {
    if let Err(refused) = admit_request(&state, &principal).await {
        return refused;
    }
    let sessions = state.sessions.clone();
    let (id, session, inbox) = match sessions.open(Owner::of(&principal)) {
        Ok(opened) => opened,
        Err(mut e) => {
            if matches!(e, McpError::TooManyStreams(_)) {
                state.metrics.fair_use_refusal("sse_sessions");
                e = crate::fair::held(e, crate::fair::MOST_HELD).await;
            }
            return error(None, &e, e.status());
        }
    };
    tracing::debug!(session = %id, sub = principal.subject.as_deref().unwrap_or(""), "sse stream opened");
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/messages?sessionId={id}"));
    let idle = state.settings.sse.idle;
    let closing = sessions.closing.subscribe();
    let registration = Registration {
        sessions,
        id,
        session,
        inbox,
    };
    let first = futures_util::stream::once(async move { Ok::<_, Infallible>(endpoint) });
    // The stream ends when its session goes idle, its client leaves, or the server stops; a
    // stop first sends a `close` event so the client knows to reconnect.
    let rest =
        futures_util::stream::unfold(Some((registration, closing)), move |open| async move {
            let (mut registration, mut closing) = open?;
            if *closing.borrow_and_update() {
                return Some((Ok(sse::closing()), None));
            }
            tokio::select! {
                received = tokio::time::timeout(idle, registration.next()) => match received {
                    Ok(Some(message)) => Some((
                        Ok(sse::message(&message)),
                        Some((registration, closing)),
                    )),
                    Ok(None) | Err(_) => None,
                },
                _ = closing.changed() => Some((Ok(sse::closing()), None)),
            }
        });
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
    State(state): State<McpState>,
    principal: Principal,
    request_id: RequestId,
    Query(query): Query<MessagesQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match admit_request(&state, &principal).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    match deliver(
        &state,
        &principal,
        &request_id,
        caller,
        query,
        &headers,
        body,
    )
    .await
    {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err((id, e)) => error(id.as_ref(), &e, e.status()),
    }
}

type Refusal = (Option<jsonrpc::Id>, McpError);

async fn deliver(
    state: &McpState,
    principal: &Principal,
    request_id: &RequestId,
    caller: crate::fair::Caller,
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
    if !state.sessions.has_room(&session) {
        state.metrics.fair_use_refusal("sse_outbox");
        return Err((None, McpError::StreamBusy));
    }
    super::http::check_content_type(headers).map_err(|e| (None, e))?;
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
    let ctx = state.context(principal, request_id, version, caller);
    // A refusal by a per-caller limit answers the POST, so the client sees when to retry.
    let reply = match super::dispatch::handle(&ctx, &request).await {
        Ok(result) => jsonrpc::success(&request.id, result),
        Err(e @ McpError::Limited(_)) => return Err((Some(request.id.clone()), e)),
        Err(e) => jsonrpc::failure(Some(&request.id), &e),
    };
    state.sessions.queue(&session, reply).map_err(|e| {
        state.metrics.fair_use_refusal("sse_outbox");
        (Some(request.id.clone()), e)
    })
}
