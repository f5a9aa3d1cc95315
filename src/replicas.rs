//! State the server's replicas share when `MCP_REDIS_URL` names a Redis (or Valkey): the DPoP
//! replay window, so that a proof one replica accepted is refused by every other; each caller's
//! allowance of tool calls, so that a caller may make as many calls a minute whichever replicas
//! they reach; and the `/sse` sessions ([`relay`]), so that a message posted to any replica is
//! answered on the stream another holds. Without it, each replica keeps its own, as before.
//!
//! Redis is asked with a deadline (`MCP_REDIS_TIMEOUT_MS`). When it fails or does not answer in
//! time, the replica decides alone (a proof is judged by this replica's replay window only, a
//! call by this replica's bucket, and a post for a stream elsewhere is answered 503), the
//! fallback is counted (`mcp_replica_fallbacks`) and Redis is left alone for a pause that
//! doubles from 250 ms to 10 s while it keeps failing, so an outage slows one request a pause
//! instead of every request. A background ping every few seconds notices when it is back (and
//! keeps `mcp_redis_up` true to the state). The connection is made on first use and remade after
//! an I/O error by the client's `ConnectionManager`, so Redis being unreachable at start-up
//! delays nothing. Keys are digests: nothing a client sent is written to Redis or logged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::RedisResult;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::RedisSettings;

/// The shortest and longest pause after Redis failed.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);
/// How often the state of Redis is checked when no request asks it anything.
const PING_EVERY: Duration = Duration::from_secs(5);
/// How long after Redis came back its content may still be incomplete: every replica has
/// checked it (and written again what it lost) within two checks.
const SETTLING: Duration = Duration::from_secs(10);

/// What the shared replay window says of a proof this replica had not seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    /// No replica has seen it.
    First,
    /// Another replica accepted it before.
    Replayed,
    /// Only this replica's window was asked: there is no shared state, or Redis did not answer.
    Unknown,
}

/// The kinds of shared state, as `mcp_replica_fallbacks` labels them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    DpopReplay,
    /// A caller's allowance of tool calls.
    Rate,
    /// The `/sse` registry and relay.
    Sse,
}

impl State {
    pub(crate) const ALL: [State; 3] = [State::DpopReplay, State::Rate, State::Sse];

    pub(crate) fn label(self) -> &'static str {
        match self {
            State::DpopReplay => "dpop_replay",
            State::Rate => "rate",
            State::Sse => "sse",
        }
    }
}

/// A caller's allowance in Redis: a token bucket kept as its theoretical arrival time (GCRA,
/// the algorithm of the `governor` buckets each replica keeps alone), in microseconds of Redis's
/// own clock, so replicas whose clocks differ agree. Takes `ARGV[3]` cells at once or none;
/// answers 0 when taken, the microseconds to wait when not, and -1 when more are asked than
/// the bucket ever holds. The key expires when the bucket is full again.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
if n > burst then return -1 end
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local after = tat + n * interval
local early = after - now - burst * interval
if early > 0 then return math.ceil(early) end
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000))
return 0
";

static TAKE_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(TAKE));

/// What the shared bucket said of a take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Yes,
    /// Not now; this long until the cells are there.
    Wait(Duration),
    /// More than the bucket ever holds.
    Never,
    /// Redis did not answer: the replica's own bucket decides.
    Unknown,
}

/// The state replicas share, or nothing to share.
pub struct Replicas {
    redis: Option<Redis>,
    fallbacks: [AtomicU64; State::ALL.len()],
    /// This replica's name in the `/sse` registry.
    me: String,
}

/// What `/metrics` shows of the shared state.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplicaStatus {
    /// `None` without `MCP_REDIS_URL`; otherwise whether Redis answered last time it was asked.
    pub redis_up: Option<bool>,
    /// Commands that failed or timed out.
    pub redis_errors: u64,
    /// Decisions a replica took alone, by [`State`].
    pub fallbacks: [u64; State::ALL.len()],
}

impl Replicas {
    /// Each replica on its own.
    pub fn alone() -> Self {
        Replicas {
            redis: None,
            fallbacks: Default::default(),
            me: crate::telemetry::random_hex::<8>(),
        }
    }

    /// Shares state on Redis when `settings` name one. Must run inside the Tokio runtime; it
    /// connects nothing yet.
    pub fn new(settings: Option<&RedisSettings>) -> std::sync::Arc<Self> {
        let Some(settings) = settings else {
            return std::sync::Arc::new(Self::alone());
        };
        let redis = Redis::new(settings);
        let replicas = std::sync::Arc::new(Replicas {
            redis: Some(redis),
            fallbacks: Default::default(),
            me: crate::telemetry::random_hex::<8>(),
        });
        let weak = std::sync::Arc::downgrade(&replicas);
        tokio::spawn(async move {
            while let Some(replicas) = weak.upgrade() {
                replicas.check().await;
                drop(replicas);
                tokio::time::sleep(PING_EVERY).await;
            }
        });
        replicas
    }

    /// Asks Redis whether it still holds this replica's mark, set on the previous check. When
    /// it does not after the first check (Redis restarted or was emptied), what this replica had
    /// written there may be gone too: [`Replicas::lost`] says so, so it is written again.
    async fn check(&self) {
        let Some(redis) = &self.redis else { return };
        let mut mark = redis::cmd("SET");
        mark.arg(format!("mcp:replica:{}", self.me))
            .arg(1)
            .arg("PX")
            .arg(3 * PING_EVERY.as_millis() as u64)
            .arg("GET");
        let mut conn = redis.conn.clone();
        let answer = redis
            .ask(
                "this replica's mark",
                mark.query_async::<Option<String>>(&mut conn),
            )
            .await;
        if let Some(None) = answer
            && redis.checked.swap(true, Ordering::Relaxed)
        {
            redis.lost();
        }
    }

    /// Changes each time Redis may have lost what this replica wrote there: when it answers
    /// again after failing, and when it no longer holds this replica's mark.
    pub fn lost(&self) -> tokio::sync::watch::Receiver<u64> {
        match &self.redis {
            Some(redis) => redis.lost.subscribe(),
            None => tokio::sync::watch::Sender::new(0).subscribe(),
        }
    }

    /// Whether Redis came back (or lost its data) so recently that what replicas write again
    /// may not all be there yet: for 10 s after it.
    pub fn settling(&self) -> bool {
        self.redis.as_ref().is_some_and(|redis| {
            let since = redis.settling_from.load(Ordering::Relaxed);
            since != 0 && redis.now_ms() < since + SETTLING.as_millis() as u64
        })
    }

    /// Whether state is shared at all.
    pub fn shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Records in the shared window that the proof `key` was used, until `ttl` from now, and
    /// says whether another replica had used it.
    pub async fn first_use(&self, key: &[u8; 16], ttl: Duration) -> FirstUse {
        let Some(redis) = &self.redis else {
            return FirstUse::Unknown;
        };
        let mut set = redis::cmd("SET");
        set.arg(format!("mcp:dpop:{}", crate::telemetry::hex(key)))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl.as_secs().max(1));
        let mut conn = redis.conn.clone();
        let answer = redis
            .ask(
                "the DPoP replay window",
                set.query_async::<Option<String>>(&mut conn),
            )
            .await;
        match answer {
            Some(Some(_)) => FirstUse::First,
            Some(None) => FirstUse::Replayed,
            None => {
                self.fell_back(State::DpopReplay);
                FirstUse::Unknown
            }
        }
    }

    /// Takes `n` cells from the shared bucket `bucket` of `per_minute` cells a minute and room
    /// for `burst`, all or none.
    pub async fn take(&self, bucket: &str, n: u32, per_minute: u32, burst: u32) -> Taken {
        let Some(redis) = &self.redis else {
            return Taken::Unknown;
        };
        let interval_us = 60_000_000 / u64::from(per_minute.max(1));
        let mut conn = redis.conn.clone();
        let mut invocation = TAKE_SCRIPT.key(bucket);
        invocation.arg(interval_us).arg(burst).arg(n);
        let answer = redis
            .ask(
                "a caller's allowance",
                invocation.invoke_async::<i64>(&mut conn),
            )
            .await;
        match answer {
            Some(0) => Taken::Yes,
            Some(wait) if wait > 0 => Taken::Wait(Duration::from_micros(wait as u64)),
            Some(_) => Taken::Never,
            None => {
                self.fell_back(State::Rate);
                Taken::Unknown
            }
        }
    }

    fn fell_back(&self, state: State) {
        self.fallbacks[state as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// What `/metrics` shows now.
    pub fn seen(&self) -> ReplicaStatus {
        ReplicaStatus {
            redis_up: self.redis.as_ref().map(|r| r.up.load(Ordering::Relaxed)),
            redis_errors: self
                .redis
                .as_ref()
                .map_or(0, |r| r.errors.load(Ordering::Relaxed)),
            fallbacks: std::array::from_fn(|i| self.fallbacks[i].load(Ordering::Relaxed)),
        }
    }
}

impl crate::telemetry::Scraped for Replicas {
    fn scrape(&self, s: &mut crate::telemetry::Scrape<'_>) -> std::fmt::Result {
        let seen = self.seen();
        let up = "1 when the Redis of MCP_REDIS_URL answered when last asked, 0 when it did not, \
                  -1 without MCP_REDIS_URL (each replica keeps its own state)";
        s.gauge("redis_up", up, seen.redis_up.map_or(-1, i64::from))?;
        s.counter(
            "redis_errors",
            "Redis commands that failed or did not answer within MCP_REDIS_TIMEOUT_MS",
            seen.redis_errors,
        )?;
        let fallbacks = "Decisions a replica took alone because Redis did not answer, by the \
                         state it would have asked (dpop_replay, rate)";
        let counts = State::ALL.map(|state| (state.label(), seen.fallbacks[state as usize]));
        s.counters("replica_fallbacks", fallbacks, "state", &counts)
    }
}

/// One multiplexed connection to Redis, remade by its manager after I/O errors, and the pause
/// after a failure.
struct Redis {
    conn: ConnectionManager,
    /// For the `/sse` relay's subscription, which needs a connection of its own.
    client: redis::Client,
    timeout: Duration,
    born: Instant,
    /// Until when (milliseconds after `born`) Redis is not asked.
    resting_until: AtomicU64,
    /// The last pause, in milliseconds; 0 after an answer.
    pause: AtomicU64,
    /// Whether the last command was answered.
    up: AtomicBool,
    errors: AtomicU64,
    /// Whether the mark was checked once.
    checked: AtomicBool,
    /// When (milliseconds after `born`, plus one) Redis last came back; 0 if it never left.
    settling_from: AtomicU64,
    lost: tokio::sync::watch::Sender<u64>,
}

impl Redis {
    fn new(settings: &RedisSettings) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = redis::Client::open(settings.url.as_str())
            .expect("MCP_REDIS_URL was checked when the settings were read");
        // Each command is bounded by `ask`; the manager's own retries stay few and short, so a
        // reconnection gives up quickly and is tried again on the next command.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .expect("a connection manager without a push sender");
        Redis {
            conn,
            client,
            timeout: settings.timeout,
            born: Instant::now(),
            resting_until: AtomicU64::new(0),
            pause: AtomicU64::new(0),
            up: AtomicBool::new(true),
            errors: AtomicU64::new(0),
            checked: AtomicBool::new(false),
            settling_from: AtomicU64::new(0),
            lost: tokio::sync::watch::Sender::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// What this replica wrote may be gone: it is written again, and for a while a record that
    /// is missing may only be missing for now.
    fn lost(&self) {
        self.settling_from
            .store(self.now_ms() + 1, Ordering::Relaxed);
        self.lost.send_modify(|n| *n += 1);
    }

    /// The answer of `command`, or `None` when Redis is resting, fails or is late.
    async fn ask<T>(&self, what: &str, command: impl Future<Output = RedisResult<T>>) -> Option<T> {
        if self.now_ms() < self.resting_until.load(Ordering::Relaxed) {
            return None;
        }
        match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(answer)) => {
                self.pause.store(0, Ordering::Relaxed);
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!("Redis answers again; replicas share state again");
                    self.lost();
                }
                Some(answer)
            }
            Ok(Err(e)) => {
                self.failed(what, &e.to_string());
                None
            }
            Err(_) => {
                let late = format!("no answer within {} ms", self.timeout.as_millis());
                self.failed(what, &late);
                None
            }
        }
    }

    fn failed(&self, what: &str, why: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let last = self.pause.load(Ordering::Relaxed);
        let pause = (last * 2).clamp(
            FIRST_PAUSE.as_millis() as u64,
            LONGEST_PAUSE.as_millis() as u64,
        );
        self.pause.store(pause, Ordering::Relaxed);
        self.resting_until
            .store(self.now_ms() + pause, Ordering::Relaxed);
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error = why,
                asked = what,
                "Redis does not answer (MCP_REDIS_URL); each replica decides alone until it does"
            );
        } else {
            tracing::debug!(error = why, asked = what, "Redis still does not answer");
        }
    }
}

pub(crate) mod relay;
pub(crate) use relay::{Lookup, RECEIVED_QUEUE, REFRESH_EVERY, Received, Relayed, StreamRecord};

#[cfg(test)]
mod tests;
