//! The `/sse` streams this replica holds: their owners, the versions `initialize` agreed, and
//! the answers waiting to be read, bounded in bytes per stream and over all streams. With
//! shared state (`crate::replicas`), each stream is also in the registry other replicas read,
//! answers they relay arrive here, and they are told when a stream (or all streams) is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::mpsc;

use crate::config::SseSettings;
use crate::mcp::era::Version;
use crate::mcp::error::McpError;
use crate::mcp::jsonrpc::Message;
use crate::replicas::{Received, Replicas};

/// Who may write to a session: the SHA-256 of the token's `sub` and `azp`, hex-encoded, as
/// every replica computes it.
pub(super) type Owner = String;

pub(super) fn owner_of(principal: &crate::auth::Principal) -> Owner {
    crate::telemetry::hex(&principal.caller_digest())
}

/// What a stream sends next.
pub(super) enum Outgoing {
    Message(Message),
    /// An answer relayed for it found its outbox full: the stream ends, so the client learns
    /// to open a new one instead of waiting for that answer.
    Cut,
}

pub(super) struct Session {
    pub(super) id: String,
    pub(super) owner: Owner,
    /// Unbounded in count: what bounds it is the byte count, `queued`.
    outbox: mpsc::UnboundedSender<Outgoing>,
    /// Bytes of answers sent to `outbox` and not yet taken by the stream.
    queued: AtomicUsize,
    /// The version `initialize` agreed on this session.
    pub(super) version: Mutex<Option<Version>>,
    /// Writes of its record, one at a time.
    writes: Arc<Writes>,
}

/// Writes of one piece of shared state, one after the other, each of the state as it is when
/// the write begins: so the last write is of the present state, whatever order the changes
/// came in. A change while a write waits to begin needs no write of its own.
#[derive(Default)]
struct Writes {
    one_at_a_time: tokio::sync::Mutex<()>,
    waiting: std::sync::atomic::AtomicBool,
}

impl Writes {
    /// Runs `write` in the background unless a write is already waiting to begin.
    fn request<F, W>(self: Arc<Self>, write: F)
    where
        F: FnOnce() -> Option<W> + Send + 'static,
        W: Future<Output = ()> + Send,
    {
        if self.waiting.swap(true, Ordering::AcqRel) {
            return;
        }
        in_background(async move {
            let _turn = self.one_at_a_time.lock().await;
            self.waiting.store(false, Ordering::Release);
            if let Some(write) = write() {
                write.await;
            }
        });
    }
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
    pub(super) closing: tokio::sync::watch::Sender<bool>,
    pub(super) replicas: Arc<Replicas>,
    me: Weak<Sessions>,
    /// Writes of whether all streams are full, one at a time.
    total_writes: Arc<Writes>,
}

impl Sessions {
    /// The sessions, listening for answers other replicas relay when state is shared. Must run
    /// inside the Tokio runtime.
    pub fn start(limits: &SseSettings, replicas: Arc<Replicas>) -> Arc<Self> {
        let sessions = Arc::new_cyclic(|me| Sessions {
            open: Mutex::new(Open::default()),
            limits: limits.clone(),
            queued: AtomicUsize::new(0),
            closing: tokio::sync::watch::Sender::new(false),
            replicas: replicas.clone(),
            me: me.clone(),
            total_writes: Arc::new(Writes::default()),
        });
        if replicas.shared() {
            let (sender, mut received) = mpsc::channel(crate::replicas::RECEIVED_QUEUE);
            replicas.listen(sender);
            let weak = sessions.me.clone();
            tokio::spawn(async move {
                while let Some(one) = received.recv().await {
                    let Some(sessions) = weak.upgrade() else {
                        return;
                    };
                    sessions.received(one);
                }
            });
            // When Redis may have lost the records (it restarted), they are written again at
            // once rather than at each stream's next refresh.
            let weak = sessions.me.clone();
            let mut lost = replicas.lost();
            tokio::spawn(async move {
                while lost.changed().await.is_ok() {
                    let Some(sessions) = weak.upgrade() else {
                        return;
                    };
                    let open: Vec<_> = sessions.lock().sessions.values().cloned().collect();
                    for session in open {
                        sessions.publish(&session);
                    }
                    if sessions.all_full() {
                        sessions.publish_total();
                    }
                }
            });
        }
        sessions
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

    pub(super) fn open(
        &self,
        owner: Owner,
    ) -> Result<(Arc<Session>, mpsc::UnboundedReceiver<Outgoing>), McpError> {
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
        // 128 random bits.
        let id = crate::telemetry::random_hex::<16>();
        let (outbox, inbox) = mpsc::unbounded_channel();
        let session = Arc::new(Session {
            id: id.clone(),
            owner: owner.clone(),
            outbox,
            queued: AtomicUsize::new(0),
            version: Mutex::new(None),
            writes: Arc::new(Writes::default()),
        });
        open.sessions.insert(id, session.clone());
        *open.per_owner.entry(owner).or_default() += 1;
        Ok((session, inbox))
    }

    pub(super) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().sessions.get(id).cloned()
    }

    pub(super) fn close(&self, id: &str) {
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

    /// Whether a session's unread answers fill its outbox.
    pub(super) fn is_full(&self, session: &Session) -> bool {
        session.queued.load(Ordering::Acquire) >= self.limits.outbox_bytes
    }

    /// Whether a session has room for more answers now, before any work is done for one.
    pub(super) fn has_room(&self, session: &Session) -> bool {
        !self.is_full(session)
            && self.queued.load(Ordering::Acquire) < self.limits.outbox_total_bytes
    }

    /// Queues an answer on a session, unless its stream or all streams together already hold
    /// as much as they may. An answer larger than a stream's whole outbox still goes to an
    /// empty one, so no answer is undeliverable.
    pub(super) fn queue(&self, session: &Arc<Session>, message: Message) -> Result<(), McpError> {
        self.queue_within(session, message, 0)
    }

    /// [`Sessions::queue`], with `slack` bytes more allowed on the stream and over all streams.
    fn queue_within(
        &self,
        session: &Arc<Session>,
        message: Message,
        slack: usize,
    ) -> Result<(), McpError> {
        let size = message.len();
        let mine = session.queued.fetch_add(size, Ordering::AcqRel);
        let all = self.queued.fetch_add(size, Ordering::AcqRel);
        if (mine > 0 && mine + size > self.limits.outbox_bytes + slack)
            || all + size > self.limits.outbox_total_bytes + slack
        {
            self.taken(session, size);
            return Err(McpError::StreamBusy);
        }
        if session.outbox.send(Outgoing::Message(message)).is_err() {
            self.taken(session, size);
            return Err(McpError::StreamBusy);
        }
        self.crossed(session, mine, mine + size, all, all + size);
        Ok(())
    }

    /// `size` bytes left a session's outbox.
    pub(super) fn taken(&self, session: &Arc<Session>, size: usize) {
        let mine = session.queued.fetch_sub(size, Ordering::AcqRel);
        let all = self.queued.fetch_sub(size, Ordering::AcqRel);
        self.crossed(session, mine, mine - size, all, all - size);
    }

    /// Tells the other replicas when a session's outbox, or all outboxes together, became full
    /// or had room again.
    fn crossed(&self, session: &Arc<Session>, mine: usize, now: usize, all: usize, all_now: usize) {
        if !self.replicas.shared() {
            return;
        }
        let bound = self.limits.outbox_bytes;
        if (mine >= bound) != (now >= bound) {
            self.publish(session);
        }
        let bound = self.limits.outbox_total_bytes;
        if (all >= bound) != (all_now >= bound) {
            self.publish_total();
        }
    }

    /// Rewrites a session's record in the background, of its state when the write begins.
    pub(super) fn publish(&self, session: &Arc<Session>) {
        let sessions = self.me.clone();
        let session = session.clone();
        session.writes.clone().request(move || {
            let sessions = sessions.upgrade()?;
            // A stream that ended meanwhile keeps its record deleted.
            sessions.get(&session.id)?;
            let full = sessions.is_full(&session);
            Some(async move {
                let replicas = &sessions.replicas;
                replicas.register(&session.id, &session.owner, full).await;
            })
        });
    }

    /// Says in the background whether all streams together are full.
    pub(super) fn publish_total(&self) {
        let sessions = self.me.clone();
        self.total_writes.clone().request(move || {
            let sessions = sessions.upgrade()?;
            let full = sessions.all_full();
            Some(async move { sessions.replicas.mark_full(full).await })
        });
    }

    /// Whether all streams together hold as many unread answers as they may.
    pub(super) fn all_full(&self) -> bool {
        self.queued_bytes() >= self.limits.outbox_total_bytes
    }

    /// An answer another replica relayed for one of this replica's streams.
    fn received(&self, one: Received) {
        let Some(session) = self.get(&one.session) else {
            // It ended as the answer was on its way; the record goes too (should a late rewrite
            // have left it), so further posts are told the session is gone.
            tracing::debug!(session = %one.session, "a relayed answer arrived for a stream that has ended");
            let replicas = self.replicas.clone();
            in_background(async move { replicas.forget(&one.session).await });
            return;
        };
        if let Some(version) = one.version.as_deref().and_then(Version::parse) {
            *session.version.lock().unwrap_or_else(|p| p.into_inner()) = Some(version);
        }
        // Other replicas refuse work for a full stream once the holder has said so; the answers
        // they were already working on meanwhile fit in a second outbox's worth of slack.
        let slack = self.limits.outbox_bytes;
        if self
            .queue_within(&session, Message::text_of(one.text), slack)
            .is_err()
        {
            tracing::warn!(session = %session.id, "relayed answers overran the stream's outbox; the stream ends so its client opens a new one");
            let _ = session.outbox.send(Outgoing::Cut);
        }
    }
}

/// Runs `work` on the runtime, when there is one (a stream may be dropped as the runtime stops).
pub(super) fn in_background(work: impl Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(work);
    }
}

impl crate::telemetry::Scraped for Sessions {
    fn scrape(&self, s: &mut crate::telemetry::Scrape<'_>) -> std::fmt::Result {
        s.gauge(
            "sse_sessions",
            "Open 2024-11-05 /sse streams",
            self.len() as i64,
        )?;
        let queued = "Bytes of answers waiting on /sse streams for their clients to read \
                      (at most MCP_SSE_OUTBOX_TOTAL_MIB)";
        s.gauge("sse_queued_bytes", queued, self.queued_bytes() as i64)
    }
}
