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

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::era::{self, Version};
use super::error::McpError;
use super::http::{error, read_body};
use super::jsonrpc::{self, Incoming, Message, Request};
use super::sse;
use super::{McpState, Sender};
use crate::auth::Principal;
use crate::replicas::{Lookup, Relayed, StreamRecord};

mod sessions;
pub(crate) use sessions::Sessions;
use sessions::{Outgoing, Session, in_background, owner_of};

/// Removes the session when its stream ends, however it ends, here and from the registry.
struct Registration {
    sessions: Arc<Sessions>,
    session: Arc<Session>,
    inbox: mpsc::UnboundedReceiver<Outgoing>,
}

impl Registration {
    /// The next answer to send; `None` when the stream is to end.
    async fn next(&mut self) -> Option<Message> {
        match self.inbox.recv().await? {
            Outgoing::Message(message) => {
                self.sessions.taken(&self.session, message.len());
                Some(message)
            }
            Outgoing::Cut => None,
        }
    }

    /// Rewrites the stream's record in the registry (and, while they are, that all streams are
    /// full, whose mark would otherwise expire), off the stream's way.
    fn refresh(&self) {
        self.sessions.publish(&self.session);
        if self.sessions.all_full() {
            self.sessions.publish_total();
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let id = &self.session.id;
        self.sessions.close(id);
        // Nothing more can be queued; what is still waiting no longer counts.
        self.inbox.close();
        while let Ok(outgoing) = self.inbox.try_recv() {
            if let Outgoing::Message(message) = outgoing {
                self.sessions.taken(&self.session, message.len());
            }
        }
        if self.sessions.replicas.shared() {
            let replicas = self.sessions.replicas.clone();
            let id = id.clone();
            in_background(async move { replicas.forget(&id).await });
        }
        tracing::debug!(session = %id, "sse stream closed");
    }
}

/// `GET /sse`.
pub(crate) async fn open(State(state): State<McpState>, principal: Principal) -> Response {
    let sessions = state.sessions.clone();
    let (session, inbox) = match sessions.open(owner_of(&principal)) {
        Ok(opened) => opened,
        Err(mut e) => {
            if matches!(e, McpError::TooManyStreams(_)) {
                state.metrics.fair_use_refusal("sse_sessions");
                e = crate::fair::held(e, crate::fair::MOST_HELD).await;
            }
            return error(None, &e, e.status());
        }
    };
    let id = session.id.clone();
    let registration = Registration {
        sessions: sessions.clone(),
        session,
        inbox,
    };
    // Registered before the client learns the session's URL, so a message it posts to another
    // replica finds it. If Redis does not answer, the stream still serves what reaches this
    // replica, and the next refresh registers it.
    let shared = sessions.replicas.shared();
    if shared {
        let owner = &registration.session.owner;
        sessions.replicas.register(&id, owner, false).await;
    }
    tracing::debug!(session = %id, sub = principal.subject.as_deref().unwrap_or(""), "sse stream opened");
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/messages?sessionId={id}"));
    let first = futures_util::stream::once(async move { Ok::<_, Infallible>(endpoint) });
    let rest = messages(registration, state.settings.sse.idle, shared);
    use futures_util::StreamExt;
    sse::response(first.chain(rest), state.settings.sse.keep_alive)
}

/// The events after the endpoint: the session's messages. The stream ends when its session
/// goes idle, its client leaves, or the server stops; a stop first sends a `close` event so the
/// client knows to reconnect. With shared state, its record is rewritten every REFRESH_EVERY
/// meanwhile.
fn messages(
    registration: Registration,
    idle: std::time::Duration,
    shared: bool,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let closing = registration.sessions.closing.subscribe();
    let refresh = shared.then(|| {
        let every = crate::replicas::REFRESH_EVERY;
        tokio::time::interval_at(tokio::time::Instant::now() + every, every)
    });
    futures_util::stream::unfold(
        Some((registration, closing, refresh)),
        move |open| async move {
            let (mut registration, mut closing, mut refresh) = open?;
            let idle_at = tokio::time::Instant::now() + idle;
            loop {
                if *closing.borrow_and_update() {
                    return Some((Ok(sse::closing()), None));
                }
                let tick = async {
                    match refresh.as_mut() {
                        Some(every) => every.tick().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    message = registration.next() => {
                        let message = message?;
                        let event = sse::message(&message);
                        return Some((Ok(event), Some((registration, closing, refresh))));
                    }
                    _ = tokio::time::sleep_until(idle_at) => return None,
                    _ = closing.changed() => return Some((Ok(sse::closing()), None)),
                    _ = tick => registration.refresh(),
                }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub(crate) struct MessagesQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

/// `POST /messages?sessionId=…`.
pub(crate) async fn post(
    State(state): State<McpState>,
    sender: Sender,
    Query(query): Query<MessagesQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match deliver(&state, &sender, query, &headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err((id, e)) => error(id.as_ref(), &e, e.status()),
    }
}

type PostError = (Option<jsonrpc::Id>, McpError);

async fn deliver(
    state: &McpState,
    sender: &Sender,
    query: MessagesQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), PostError> {
    let (id, target) = session_for(state, &sender.principal, query)
        .await
        .map_err(|e| (None, e))?;
    super::http::check_content_type(headers).map_err(|e| (None, e))?;
    let bytes = read_body(body, state).await.map_err(|e| (None, e))?;
    let Some(request) = read_request(&bytes)? else {
        return Ok(());
    };
    let agreed = (request.method == "initialize")
        .then(|| era::negotiate(request.str_param("protocolVersion"), era::SSE_NEGOTIATED));
    let version = version_of(state, &id, &target, agreed).await;
    let ctx = state.context(sender, version);
    // A refusal by a per-caller limit answers the POST, so the client sees when to retry.
    super::dispatch::admit(&ctx, std::iter::once(&request))
        .await
        .map_err(|e| (Some(request.id.clone()), e))?;
    let reply = match super::dispatch::handle(&ctx, &request).await {
        Ok(result) => jsonrpc::success(&request.id, result),
        Err(e @ McpError::Limited(_)) => return Err((Some(request.id.clone()), e)),
        Err(e) => jsonrpc::failure(Some(&request.id), &e),
    };
    send(state, &id, target, agreed, reply)
        .await
        .map_err(|e| (Some(request.id.clone()), e))
}

/// The session a post names, once it is known to be the caller's and to have room for an
/// answer.
async fn session_for(
    state: &McpState,
    principal: &Principal,
    query: MessagesQuery,
) -> Result<(String, StreamLocation), McpError> {
    let Some(id) = query.session_id else {
        return Err(McpError::InvalidRequest(
            "the sessionId query parameter is required; use the URL of the endpoint event".into(),
        ));
    };
    let target = find(state, &id).await?;
    let (holder_owner, room) = match &target {
        StreamLocation::Here(session) => (&session.owner, state.sessions.has_room(session)),
        StreamLocation::There(record) => (&record.owner, !record.full),
    };
    if *holder_owner != owner_of(principal) {
        tracing::warn!(session = %id, sub = principal.subject.as_deref().unwrap_or(""), "refused a message for another subject's sse session");
        return Err(McpError::ForeignSession);
    }
    if !room {
        state.metrics.fair_use_refusal("sse_outbox");
        return Err(McpError::StreamBusy);
    }
    Ok((id, target))
}

/// The request a post carries, read as `/mcp` reads a body (the 2024-11-05 transport has no
/// batches); `None` for a notification or a response, which are taken and not answered.
fn read_request(bytes: &[u8]) -> Result<Option<Request>, PostError> {
    let body = jsonrpc::Body::parse(bytes).map_err(|e| (None, McpError::Parse(e.to_string())))?;
    let message = match body {
        jsonrpc::Body::One(item) => item.classify(),
        jsonrpc::Body::Batch(_) => Err(jsonrpc::not_an_object()),
    };
    match message {
        Ok(Incoming::Request(r)) => Ok(Some(r)),
        Ok(_) => Ok(None),
        Err(invalid) => Err((invalid.id, invalid.error)),
    }
}

/// The version a session's messages are answered in: the one `initialize` agreed, kept with
/// the session (and shared with the other replicas), else 2024-11-05.
async fn version_of(
    state: &McpState,
    id: &str,
    target: &StreamLocation,
    agreed: Option<Version>,
) -> Version {
    match target {
        StreamLocation::Here(session) => {
            let version = {
                let mut version = session.version.lock().unwrap_or_else(|p| p.into_inner());
                if agreed.is_some() {
                    *version = agreed;
                }
                version.unwrap_or(Version::V2024_11_05)
            };
            if let Some(agreed) = agreed {
                // Messages posted to other replicas are answered at the same version.
                state
                    .sessions
                    .replicas
                    .note_version(id, agreed.as_str())
                    .await;
            }
            version
        }
        StreamLocation::There(record) => agreed
            .or_else(|| record.version.as_deref().and_then(Version::parse))
            .unwrap_or(Version::V2024_11_05),
    }
}

/// Puts an answer on its session's stream, here or through the replica that holds it.
async fn send(
    state: &McpState,
    id: &str,
    target: StreamLocation,
    agreed: Option<Version>,
    reply: Message,
) -> Result<(), McpError> {
    match target {
        StreamLocation::Here(session) => state.sessions.queue(&session, reply).inspect_err(|_| {
            state.metrics.fair_use_refusal("sse_outbox");
        }),
        StreamLocation::There(record) => {
            let agreed = agreed.map(Version::as_str);
            match state
                .sessions
                .replicas
                .relay(&record, id, agreed, &reply.pieces())
                .await
            {
                Relayed::Sent => Ok(()),
                Relayed::NoListener | Relayed::Unknown => Err(McpError::StreamElsewhere),
            }
        }
    }
}

/// Where the stream of a session is.
enum StreamLocation {
    Here(Arc<Session>),
    /// On another replica, as the registry says.
    There(StreamRecord),
}

/// The session `id`, on this replica or, with shared state, on another.
async fn find(state: &McpState, id: &str) -> Result<StreamLocation, McpError> {
    if let Some(session) = state.sessions.get(id) {
        return Ok(StreamLocation::Here(session));
    }
    // Without shared state the lookup answers `Missing` at once and nothing is settling.
    let replicas = &state.sessions.replicas;
    match replicas.lookup(id).await {
        Lookup::Found(record) if record.replica != replicas.me() => {
            Ok(StreamLocation::There(record))
        }
        // Just after Redis came back, a holder may not have written its record again yet.
        Lookup::Missing if replicas.settling() => Err(McpError::StreamElsewhere),
        Lookup::Found(_) | Lookup::Missing => Err(McpError::UnknownSession(id.to_owned())),
        Lookup::Unknown => Err(McpError::StreamElsewhere),
    }
}
