//! Fair use: one signed-in caller must not be able to starve the others.
//!
//! A caller is the pair of the token's `sub` and `azp` (one user through one client). Each has
//! - an allowance of tool calls: a token bucket (GCRA, by `governor`) refilled at
//!   `MCP_RATE_LIMIT_PER_MIN` with room for `MCP_RATE_LIMIT_BURST` at once; past it a call is
//!   refused with the time to wait ([`Fair::admit`]). With `MCP_REDIS_URL` the bucket is the
//!   one all replicas share ([`crate::replicas`]), and this replica's own only while Redis does
//!   not answer;
//! - a wider allowance of requests of any kind (`MCP_REQUEST_LIMIT_PER_MIN`,
//!   `MCP_REQUEST_LIMIT_BURST`), so that a flood of cheap calls is bounded as well
//!   ([`Fair::admit_request`]). It is per replica even with Redis: it bounds the work a flood
//!   makes each replica do, and sharing it would add a Redis round trip to every request;
//! - a share of the ranking pool: searches that miss the result cache run on
//!   `MCP_RANKING_THREADS` threads beside the async workers, so `/healthz`, `tools/list`, the
//!   token gate and cached answers keep being served while ranking runs; one caller ranks at
//!   most `MCP_RANKING_PER_CALLER` searches at once and may have at most
//!   `MCP_RANKING_QUEUE_PER_CALLER` more waiting ([`Fair::rank`]). Waiting is first come, first
//!   served across callers, and a caller waits for its own share before it queues for the pool,
//!   so many calls of one caller never stand in front of another caller's one call.
//!
//! A refusal is answered after a pause of up to a second ([`held`]): a client that honours
//! `Retry-After` loses nothing by it, and one that retries at once can send a request a second
//! per connection instead of thousands, so refusing a flood costs the server next to nothing.
//!
//! Callers are kept by a hash of their names, in caches bounded in entries of fixed size; a
//! caller not seen for a while is forgotten, which costs nothing (a new bucket is full, a new
//! share is free). With shared state the hash is SHA-256, the same on every replica.

use std::hash::BuildHasher;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;

use crate::auth::Principal;
use crate::config::FairSettings;
use crate::replicas::{Replicas, Taken};
use crate::telemetry::Metrics;

/// Callers remembered at once, for allowances and for shares of the pool each.
const MAX_CALLERS: u64 = 100_000;
/// A caller's state is dropped after this long without a call (a full bucket and an idle share
/// are what a new caller gets anyway).
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// One user through one client: a hash of the token's `sub` and `azp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller(u64);

impl Caller {
    /// The hash that names the caller.
    pub fn id(self) -> u64 {
        self.0
    }
}

/// Handlers of protected routes take the caller the front layer admitted (`app::enter`).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = axum::http::StatusCode;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().copied().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a handler that needs a caller is on a route the front layer does not admit");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        })
    }
}

/// What an allowance counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// `tools/call` requests (`MCP_RATE_LIMIT_PER_MIN`).
    ToolCalls,
    /// Every request to the MCP routes (`MCP_REQUEST_LIMIT_PER_MIN`).
    Requests,
}

/// Why a call was not taken, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limited {
    /// The caller's allowance is spent.
    Rate {
        counts: Counts,
        retry_after: Duration,
        per_minute: u32,
    },
    /// The caller already has as many searches ranking and waiting as it may.
    Queue { in_flight: usize },
}

impl Limited {
    /// Whole seconds for `Retry-After`, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Limited::Rate { retry_after, .. } => retry_after.as_secs_f64().ceil().max(1.0) as u64,
            Limited::Queue { .. } => 1,
        }
    }

    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Limited::Rate {
                counts: Counts::ToolCalls,
                ..
            } => "rate",
            Limited::Rate {
                counts: Counts::Requests,
                ..
            } => "requests",
            Limited::Queue { .. } => "queue",
        }
    }
}

/// The longest a refusal is held before it is answered.
pub(crate) const MOST_HELD: Duration = Duration::from_secs(1);

/// Waits before a refusal is answered: until the caller may try again, at most [`MOST_HELD`].
pub(crate) async fn held<T>(refusal: T, retry_after: Duration) -> T {
    tokio::time::sleep(retry_after.min(MOST_HELD)).await;
    refusal
}

impl Limited {
    /// How long until the caller may try again.
    pub fn retry_after(&self) -> Duration {
        match self {
            Limited::Rate { retry_after, .. } => *retry_after,
            Limited::Queue { .. } => Duration::from_secs(1),
        }
    }

    /// Waits before the refusal is answered (see [`held`]).
    pub async fn held(self) -> Self {
        let wait = self.retry_after();
        held(self, wait).await
    }
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limited::Rate {
                counts, per_minute, ..
            } => {
                let (what, setting) = match counts {
                    Counts::ToolCalls => ("tool calls", "MCP_RATE_LIMIT_PER_MIN"),
                    Counts::Requests => ("requests", "MCP_REQUEST_LIMIT_PER_MIN"),
                };
                write!(
                    f,
                    "too many {what}: one caller may make {per_minute} a minute ({setting}); retry in {} s",
                    self.retry_after_secs()
                )
            }
            Limited::Queue { in_flight } => write!(
                f,
                "too many searches in progress for this caller ({in_flight}, MCP_RANKING_QUEUE_PER_CALLER); wait for their answers before sending more"
            ),
        }
    }
}

/// One caller's share of the ranking pool.
struct Share {
    /// Searches of this caller that may rank at once.
    running: Semaphore,
    /// Searches of this caller ranking or waiting.
    in_flight: AtomicUsize,
}

/// One kind of allowance: a token bucket per caller.
struct Allowance {
    counts: Counts,
    per_minute: u32,
    burst: u32,
    /// `None` when the allowance is off (a rate of 0).
    quota: Option<Quota>,
    buckets: moka::sync::Cache<Caller, Arc<DefaultDirectRateLimiter>>,
}

impl Allowance {
    fn new(counts: Counts, per_minute: u32, burst: u32) -> Self {
        let quota = NonZeroU32::new(per_minute).map(|rate| {
            Quota::per_minute(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        });
        Allowance {
            counts,
            per_minute,
            burst,
            quota,
            buckets: callers(),
        }
    }

    /// Takes `n` from the caller's bucket shared by the replicas, all or none; from this
    /// replica's own while Redis does not answer (or when nothing is shared).
    async fn take_shared(
        &self,
        replicas: &Replicas,
        caller: Caller,
        n: u32,
    ) -> Result<(), Limited> {
        if self.quota.is_none() || n == 0 {
            return Ok(());
        }
        let bucket = format!("mcp:fair:calls:{:016x}", caller.0);
        let limited = |retry_after| Limited::Rate {
            counts: self.counts,
            retry_after,
            per_minute: self.per_minute,
        };
        match replicas.take(&bucket, n, self.per_minute, self.burst).await {
            Taken::Yes => Ok(()),
            Taken::Wait(retry_after) => Err(limited(retry_after)),
            Taken::Never => Err(limited(Duration::from_secs(60))),
            Taken::Unknown => self.take(caller, n),
        }
    }

    /// Takes `n` from the caller's bucket, all or none.
    fn take(&self, caller: Caller, n: u32) -> Result<(), Limited> {
        let (Some(quota), Some(n)) = (self.quota, NonZeroU32::new(n)) else {
            return Ok(());
        };
        let bucket = self
            .buckets
            .get_with(caller, || Arc::new(RateLimiter::direct(quota)));
        let retry_after = match bucket.check_n(n) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => not_until.wait_time_from(bucket.clock().now()),
            // More at once than the bucket ever holds: they can never pass together.
            Err(_) => Duration::from_secs(60),
        };
        Err(Limited::Rate {
            counts: self.counts,
            retry_after,
            per_minute: self.per_minute,
        })
    }
}

/// The allowances and the ranking pool.
pub struct Fair {
    settings: FairSettings,
    tool_calls: Allowance,
    requests: Allowance,
    shares: moka::sync::Cache<Caller, Arc<Share>>,
    pool: Arc<Semaphore>,
    hasher: std::collections::hash_map::RandomState,
    replicas: Arc<Replicas>,
    metrics: Arc<Metrics>,
}

impl Fair {
    pub fn new(settings: &FairSettings, replicas: Arc<Replicas>, metrics: Arc<Metrics>) -> Self {
        Fair {
            settings: settings.clone(),
            tool_calls: Allowance::new(
                Counts::ToolCalls,
                settings.rate_per_minute,
                settings.rate_burst,
            ),
            requests: Allowance::new(
                Counts::Requests,
                settings.requests_per_minute,
                settings.requests_burst,
            ),
            shares: callers(),
            pool: Arc::new(Semaphore::new(settings.ranking_threads)),
            hasher: Default::default(),
            replicas,
            metrics,
        }
    }

    /// The caller a token speaks for: the same on every replica when state is shared.
    pub fn caller(&self, principal: &Principal) -> Caller {
        let names = (&principal.subject, &principal.client_id);
        if !self.replicas.shared() {
            return Caller(self.hasher.hash_one(names));
        }
        let digest = principal.caller_digest();
        Caller(u64::from_be_bytes(
            digest[..8].try_into().expect("SHA-256 is 32 bytes"),
        ))
    }

    /// Takes `calls` tool calls from the caller's allowance, all or none: the allowance the
    /// replicas share, when they share one.
    pub async fn admit(&self, caller: Caller, calls: u32) -> Result<(), Limited> {
        let taken = if self.replicas.shared() {
            self.tool_calls
                .take_shared(&self.replicas, caller, calls)
                .await
        } else {
            self.tool_calls.take(caller, calls)
        };
        taken.or_else(|limited| self.refuse(limited))
    }

    /// Takes one request from the caller's allowance of requests of any kind, so that a flood
    /// of cheap calls from one caller is bounded too.
    pub fn admit_request(&self, caller: Caller) -> Result<(), Limited> {
        self.requests
            .take(caller, 1)
            .or_else(|limited| self.refuse(limited))
    }

    /// Runs `work` on the ranking pool, within the caller's share of it.
    pub async fn rank<T: Send + 'static>(
        &self,
        caller: Caller,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Limited> {
        let share = self.shares.get_with(caller, || {
            Arc::new(Share {
                running: Semaphore::new(self.settings.ranking_per_caller),
                in_flight: AtomicUsize::new(0),
            })
        });
        let most = self.settings.ranking_per_caller + self.settings.ranking_queue_per_caller;
        let in_flight = share.in_flight.fetch_add(1, Ordering::AcqRel);
        let _counted = SearchSlot(&share.in_flight);
        if in_flight >= most {
            return self.refuse(Limited::Queue { in_flight });
        }
        let _running = share.running.acquire().await.expect("never closed");
        let _thread = self.pool.acquire().await.expect("never closed");
        match tokio::task::spawn_blocking(work).await {
            Ok(value) => Ok(value),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    fn refuse<T>(&self, limited: Limited) -> Result<T, Limited> {
        self.metrics.fair_use_refusal(limited.label());
        Err(limited)
    }
}

fn callers<V: Clone + Send + Sync + 'static>() -> moka::sync::Cache<Caller, V> {
    moka::sync::Cache::builder()
        .max_capacity(MAX_CALLERS)
        .time_to_idle(FORGET_AFTER)
        .build()
}

/// Gives back one count of a caller's searches in flight, however the search ends.
struct SearchSlot<'a>(&'a AtomicUsize);

impl Drop for SearchSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl crate::telemetry::Scraped for Fair {
    fn scrape(&self, s: &mut crate::telemetry::Scrape<'_>) -> std::fmt::Result {
        let ranking = self.settings.ranking_threads - self.pool.available_permits();
        let help = "Searches ranking on the ranking pool now (at most MCP_RANKING_THREADS)";
        s.gauge("ranking_searches", help, ranking as i64)
    }
}

#[cfg(test)]
mod tests;
