//! The 2024-11-05 `/sse` sessions across replicas: a registry of who holds each stream, and the
//! relay that carries answers from the replica a `POST /messages` reached to the one holding the
//! stream.
//!
//! - Each open stream has a record, `mcp:sse:<session>`, a hash of its owner (the SHA-256 of
//!   `sub` and `azp`, never the names), the replica that holds it, the protocol version
//!   `initialize` agreed, and whether its unread answers fill its outbox. The holder writes it
//!   when the stream opens and again every [`REFRESH_EVERY`], with a lifetime of [`RECORD_TTL`],
//!   so a record outlives its stream by at most that long when a replica dies, and a stream
//!   opened while Redis was away is registered when it is back. A stream that ends deletes it.
//! - Each replica subscribes to its own channel, `mcp:sse:to:<replica>`. Another replica that
//!   answered a message for one of its streams publishes the answer there; `PUBLISH` says how
//!   many replicas listened, so an answer nobody receives is known at once, and the POST is
//!   answered 503 with `Retry-After` instead of 202.
//! - The replica's own outbox bounds stay where the answers wait, on the holder; it tells the
//!   others when a stream's (or all its streams') unread answers reach the bound, by the record's
//!   `full` field and the key `mcp:sse:full:<replica>`, so they refuse work for it first, as the
//!   holder itself does.
//!
//! Pub/sub rather than Redis streams: answers are for a stream that is open now, on a replica
//! that is up now; nothing is to be kept for later, and a missing listener must be known when
//! publishing. docs/benchmarks.md has what a relayed answer costs.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Replicas, State};

/// How often a holder rewrites its streams' records, and how long a record lives unrewritten.
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(20);
pub(crate) const RECORD_TTL: Duration = Duration::from_secs(60);
/// The first and the longest wait before subscribing again after the subscription failed.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_RETRY: Duration = Duration::from_secs(2);
/// Relayed answers received and not yet placed on their streams.
pub(crate) const RECEIVED_QUEUE: usize = 1024;

/// A stream's record, as another replica reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// Hex SHA-256 of the owner's `sub` and `azp`.
    pub owner: String,
    pub replica: String,
    /// What `initialize` agreed, when it was sent.
    pub version: Option<String>,
    /// Whether the holder takes no more answers for it now.
    pub full: bool,
}

/// What the registry says of a session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(StreamRecord),
    /// No replica holds it.
    Missing,
    /// Redis did not answer.
    Unknown,
}

/// What became of a relayed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relayed {
    /// The holder's replica received it.
    Sent,
    /// Nobody listened: the holder is gone or cannot hear Redis now.
    NoListener,
    /// Redis did not answer.
    Unknown,
}

/// An answer another replica relayed for one of this replica's streams.
#[derive(Debug)]
pub struct Received {
    pub session: String,
    /// The version `initialize` agreed, when the answer is `initialize`'s.
    pub version: Option<String>,
    pub text: String,
}

fn record_key(session: &str) -> String {
    format!("mcp:sse:{session}")
}

fn channel(replica: &str) -> String {
    format!("mcp:sse:to:{replica}")
}

fn full_key(replica: &str) -> String {
    format!("mcp:sse:full:{replica}")
}

/// A record and whether its holder is full, in one round trip.
const LOOKUP: &str = r"
local h = redis.call('HMGET', KEYS[1], 'owner', 'replica', 'version', 'full')
if not h[1] or not h[2] then return false end
local all = redis.call('EXISTS', 'mcp:sse:full:' .. h[2])
return {h[1], h[2], h[3] or '', (h[4] == '1' or all == 1) and '1' or '0'}
";

/// Lua that notes `version`, when it is not empty, on the live record `KEYS[1]`, never
/// making one: the start of both scripts below.
macro_rules! note_version {
    () => {
        "
if version ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'version', version)
end
"
    };
}

/// Notes the agreed version on a live record.
const NOTE_VERSION: &str = concat!("local version = ARGV[1]", note_version!(), "return 1");

/// Notes the agreed version, when one is given, and publishes the answer on the holder's
/// channel; answers how many listened.
const RELAY: &str = concat!(
    "local version = ARGV[2]",
    note_version!(),
    "return redis.call('PUBLISH', ARGV[1], ARGV[3])"
);

static LOOKUP_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(LOOKUP));
static RELAY_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RELAY));
static NOTE_VERSION_SCRIPT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(NOTE_VERSION));

impl Replicas {
    /// This replica's name in the registry: random for each process.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Writes (or rewrites) the record of a stream this replica holds; counted as a fallback
    /// when Redis does not answer (the stream's next refresh tries again).
    pub async fn register(&self, session: &str, owner: &str, full: bool) {
        let Some(redis) = &self.redis else { return };
        let key = record_key(session);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &key,
                &[
                    ("owner", owner),
                    ("replica", self.me.as_str()),
                    ("full", if full { "1" } else { "0" }),
                ],
            )
            .ignore()
            .pexpire(&key, RECORD_TTL.as_millis() as i64)
            .ignore();
        let mut conn = redis.conn.clone();
        let answered = redis
            .ask("the /sse registry", pipe.query_async::<()>(&mut conn))
            .await;
        if answered.is_none() {
            self.fell_back(State::Sse);
        }
    }

    /// Deletes the record of a stream that ended.
    pub async fn forget(&self, session: &str) {
        let Some(redis) = &self.redis else { return };
        let mut del = redis::cmd("DEL");
        del.arg(record_key(session));
        let mut conn = redis.conn.clone();
        redis
            .ask("the /sse registry", del.query_async::<()>(&mut conn))
            .await;
    }

    /// Tells the other replicas whether this one's streams together hold as many unread
    /// answers as they may.
    pub async fn mark_full(&self, full: bool) {
        let Some(redis) = &self.redis else { return };
        let mut command = redis::cmd(if full { "SET" } else { "DEL" });
        command.arg(full_key(&self.me));
        if full {
            command.arg(1).arg("PX").arg(RECORD_TTL.as_millis() as u64);
        }
        let mut conn = redis.conn.clone();
        redis
            .ask("the /sse registry", command.query_async::<()>(&mut conn))
            .await;
    }

    /// The record of `session`.
    pub async fn lookup(&self, session: &str) -> Lookup {
        let Some(redis) = &self.redis else {
            return Lookup::Missing;
        };
        let mut conn = redis.conn.clone();
        let answer = redis
            .ask(
                "the /sse registry",
                LOOKUP_SCRIPT
                    .key(record_key(session))
                    .invoke_async::<Option<Vec<String>>>(&mut conn),
            )
            .await;
        match answer {
            None => {
                self.fell_back(State::Sse);
                Lookup::Unknown
            }
            Some(None) => Lookup::Missing,
            Some(Some(fields)) => match <[String; 4]>::try_from(fields) {
                Ok([owner, replica, version, full]) => Lookup::Found(StreamRecord {
                    owner,
                    replica,
                    version: (!version.is_empty()).then_some(version),
                    full: full == "1",
                }),
                Err(_) => Lookup::Missing,
            },
        }
    }

    /// Notes the version `initialize` agreed for a stream this replica holds, so that messages
    /// posted to other replicas are answered at it.
    pub async fn note_version(&self, session: &str, version: &str) {
        let Some(redis) = &self.redis else { return };
        let mut conn = redis.conn.clone();
        let mut invocation = NOTE_VERSION_SCRIPT.key(record_key(session));
        invocation.arg(version);
        redis
            .ask(
                "the /sse registry",
                invocation.invoke_async::<i64>(&mut conn),
            )
            .await;
    }

    /// Sends an answer, the JSON text in `answer`'s pieces, to the replica holding `session`'s
    /// stream; `version` is given with `initialize`'s answer.
    pub async fn relay(
        &self,
        record: &StreamRecord,
        session: &str,
        version: Option<&str>,
        answer: &[&[u8]],
    ) -> Relayed {
        let Some(redis) = &self.redis else {
            return Relayed::Unknown;
        };
        // `<session>\n<version>\n<answer>`, written once.
        let version = version.unwrap_or("");
        let mut payload = Vec::with_capacity(
            session.len() + version.len() + 2 + answer.iter().map(|p| p.len()).sum::<usize>(),
        );
        for part in [session.as_bytes(), b"\n", version.as_bytes(), b"\n"]
            .into_iter()
            .chain(answer.iter().copied())
        {
            payload.extend_from_slice(part);
        }
        let mut conn = redis.conn.clone();
        let mut invocation = RELAY_SCRIPT.key(record_key(session));
        invocation
            .arg(channel(&record.replica))
            .arg(version)
            .arg(payload);
        let answer = redis
            .ask("the /sse relay", invocation.invoke_async::<i64>(&mut conn))
            .await;
        let relayed = match answer {
            Some(0) => Relayed::NoListener,
            Some(_) => Relayed::Sent,
            None => Relayed::Unknown,
        };
        if relayed != Relayed::Sent {
            self.fell_back(State::Sse);
        }
        relayed
    }

    /// Listens on this replica's channel for as long as `received` is open, subscribing again
    /// (after a pause that doubles up to 2 s) whenever the subscription breaks. Does nothing
    /// without Redis.
    pub fn listen(self: &std::sync::Arc<Self>, received: mpsc::Sender<Received>) {
        if self.redis.is_none() {
            return;
        }
        let replicas = self.clone();
        tokio::spawn(async move {
            let Some(redis) = &replicas.redis else { return };
            let name = channel(&replicas.me);
            let ping = redis.timeout.max(Duration::from_millis(500));
            let mut retry = FIRST_RETRY;
            while !received.is_closed() {
                let mut subscribed = false;
                let Err(e) =
                    subscription(&redis.client, &name, ping, &received, &mut subscribed).await
                else {
                    return;
                };
                // Counted with the other Redis errors; logged when a working subscription
                // broke (while Redis is down, the failed commands say so already).
                redis
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if subscribed {
                    retry = FIRST_RETRY;
                    tracing::warn!(error = %e, "the /sse relay subscription broke; subscribing again");
                } else {
                    tracing::debug!(error = %e, "cannot subscribe to the /sse relay yet");
                }
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LONGEST_RETRY);
            }
        });
    }
}

/// One subscription, until it breaks (an error) or nobody takes what it receives (`Ok`).
async fn subscription(
    client: &redis::Client,
    name: &str,
    ping: Duration,
    received: &mpsc::Sender<Received>,
    subscribed: &mut bool,
) -> redis::RedisResult<()> {
    let mut pubsub = tokio::time::timeout(ping, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    tokio::time::timeout(ping, pubsub.subscribe(name))
        .await
        .map_err(|_| timed_out())??;
    *subscribed = true;
    let (mut sink, mut messages) = pubsub.split();
    let mut check = tokio::time::interval(super::PING_EVERY);
    check.tick().await;
    loop {
        tokio::select! {
            _ = received.closed() => return Ok(()),
            message = messages.next() => {
                let Some(message) = message else {
                    return Err(redis::RedisError::from((redis::ErrorKind::Io, "the subscription ended")));
                };
                let Some(one) = parse(message.get_payload_bytes()) else {
                    tracing::warn!("ignored a relayed /sse answer that is not in the relay's format");
                    continue;
                };
                if received.send(one).await.is_err() {
                    return Ok(());
                }
            }
            _ = check.tick() => {
                // A connection that went silent (a partition rather than a close) is noticed.
                tokio::time::timeout(ping, sink.ping::<redis::Value>())
                    .await
                    .map_err(|_| timed_out())??;
            }
        }
    }
}

fn timed_out() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "no answer in time"))
}

/// `<session>\n<version>\n<answer>`.
fn parse(payload: &[u8]) -> Option<Received> {
    let text = std::str::from_utf8(payload).ok()?;
    let (session, rest) = text.split_once('\n')?;
    let (version, text) = rest.split_once('\n')?;
    Some(Received {
        session: session.to_owned(),
        version: (!version.is_empty()).then(|| version.to_owned()),
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_answer_reads_back_as_sent() {
        let one =
            parse(b"ab12\n2025-03-26\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":\"x\\ny\"}}")
                .unwrap();
        assert_eq!(one.session, "ab12");
        assert_eq!(one.version.as_deref(), Some("2025-03-26"));
        assert_eq!(
            one.text,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":\"x\\ny\"}}"
        );
        let plain = parse(b"ab12\n\n{}").unwrap();
        assert_eq!(plain.version, None);
        assert!(parse(b"no separators").is_none());
    }
}
