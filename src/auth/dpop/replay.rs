//! The replay cache of DPoP proofs: each proof accepted, until it goes stale, so that it is
//! accepted once.
//!
//! It is bounded in entries of fixed size, and no caller can take it from the others:
//! - each caller (one user through one client) may hold at most its share of it, proofs that
//!   are still inside their window; past that its proofs are refused with 429 until one goes
//!   stale, while everyone else's are taken;
//! - the shard a proof lands in is picked by a hash keyed at start-up, so no choice of `jti` can
//!   pile proofs into one shard and fill it for the others.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::auth::error::{AuthError, Reason};
use crate::auth::validator::unix_now;

/// The proofs accepted and still inside their window: a digest of the key and `jti`, with the
/// time the proof goes stale. Split in shards so callers rarely wait on one lock.
pub(super) struct Replay {
    shards: Vec<Mutex<HashMap<[u8; 16], i64>>>,
    per_shard: usize,
    len: AtomicUsize,
    /// Picks a proof's shard; keyed at random at start-up.
    placement: std::hash::RandomState,
    /// When each caller's remembered proofs go stale, soonest first.
    callers: Mutex<Callers>,
    per_caller: usize,
}

/// Each caller's share of the cache in use.
#[derive(Default)]
struct Callers {
    live: HashMap<u64, BinaryHeap<Reverse<i64>>>,
    /// Times held in `live`, stale ones included until they are swept.
    held: usize,
}

const SHARDS: usize = 16;

/// What the replay cache keeps of a proof: 128 bits of SHA-256 over its key's thumbprint and
/// its `jti`. Every replica computes the same, so it also names the proof in the shared window.
pub(super) fn key_of(jkt: &str, jti: &str) -> [u8; 16] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(jkt.as_bytes());
    ctx.update(&[0]);
    ctx.update(jti.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&ctx.finish().as_ref()[..16]);
    key
}

impl Callers {
    /// The caller's proofs still inside their window, after dropping the stale ones.
    fn live(&mut self, caller: u64, now: i64) -> usize {
        let Some(times) = self.live.get_mut(&caller) else {
            return 0;
        };
        while times.peek().is_some_and(|Reverse(until)| *until < now) {
            times.pop();
            self.held -= 1;
        }
        let live = times.len();
        if live == 0 {
            self.live.remove(&caller);
        }
        live
    }

    /// Drops every stale time, of every caller.
    fn sweep(&mut self, now: i64) {
        let callers: Vec<u64> = self.live.keys().copied().collect();
        for caller in callers {
            self.live(caller, now);
        }
    }

    /// Seconds until the caller's soonest proof goes stale.
    fn wait(&self, caller: u64, now: i64) -> u64 {
        let soonest = self.live.get(&caller).and_then(|t| t.peek());
        soonest.map_or(1, |Reverse(until)| until.saturating_sub(now).max(1) as u64)
    }
}

impl Replay {
    /// A cache of `capacity` proofs, of which one caller may hold `per_caller`.
    pub(super) fn new(capacity: usize, per_caller: usize) -> Self {
        Replay {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            len: AtomicUsize::new(0),
            placement: std::hash::RandomState::new(),
            callers: Mutex::new(Callers::default()),
            per_caller: per_caller.clamp(1, capacity.max(1)),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn shard_of(&self, key: &[u8; 16]) -> usize {
        (self.placement.hash_one(key) % SHARDS as u64) as usize
    }

    /// Remembers the proof `key` of `caller` until `until`; refuses it if it was seen, refuses
    /// to take it (without remembering) when the caller holds its whole share, or when its
    /// shard is full of proofs that could still be replayed.
    pub(super) fn insert(&self, key: [u8; 16], caller: u64, until: i64) -> Result<(), AuthError> {
        let mut seen = self.shards[self.shard_of(&key)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = unix_now();
        if seen.get(&key).is_some_and(|stale| *stale >= now) {
            return Err(AuthError::invalid(
                Reason::DpopReplayed,
                "this proof's jti was used before; make a fresh proof for each request",
            ));
        }
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        if callers.live(caller, now) >= self.per_caller {
            return Err(AuthError::TooManyProofs {
                retry_after: callers.wait(caller, now),
            });
        }
        if seen.len() >= self.per_shard {
            let before = seen.len();
            seen.retain(|_, stale| *stale >= now);
            self.len.fetch_sub(before - seen.len(), Ordering::Relaxed);
            if seen.len() >= self.per_shard {
                return Err(AuthError::Overloaded(
                    "the server holds as many recent DPoP proofs as it can; retry in a few seconds",
                ));
            }
        }
        if seen.insert(key, until).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        // The times kept per caller are bounded like the cache: past twice its size, the stale
        // ones of every caller are swept. Twice, so that a sweep frees at least as many as the
        // cache holds and its cost is spread over as many inserts.
        if callers.held >= 2 * self.per_shard * SHARDS {
            callers.sweep(now);
        }
        callers.live.entry(caller).or_default().push(Reverse(until));
        callers.held += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` proof keys that `replay` puts in shard `shard`.
    fn keys_in(replay: &Replay, shard: usize, count: usize) -> Vec<[u8; 16]> {
        (0..)
            .map(|i| key_of("jkt", &format!("jti-{i}")))
            .filter(|key| replay.shard_of(key) == shard)
            .take(count)
            .collect()
    }

    #[test]
    fn a_full_shard_refuses_new_proofs_rather_than_forget_live_ones() {
        // One proof per shard.
        let replay = Replay::new(SHARDS, SHARDS);
        let now = unix_now();
        let [first, second] = <[[u8; 16]; 2]>::try_from(keys_in(&replay, 3, 2)).unwrap();
        replay.insert(first, 1, now + 60).unwrap();
        let full = replay.insert(second, 2, now + 60);
        assert!(matches!(full, Err(AuthError::Overloaded(_))), "{full:?}");
        assert_eq!(replay.len(), 1, "a refused proof takes no room");
        let again = replay.insert(first, 1, now + 60);
        assert!(
            matches!(&again, Err(e) if e.reason() == Some(Reason::DpopReplayed)),
            "{again:?}"
        );
    }

    #[test]
    fn stale_proofs_are_swept_to_make_room() {
        let replay = Replay::new(SHARDS, SHARDS);
        let now = unix_now();
        let [old, new] = <[[u8; 16]; 2]>::try_from(keys_in(&replay, 5, 2)).unwrap();
        replay.insert(old, 1, now - 1).unwrap();
        replay.insert(new, 1, now + 60).unwrap();
        assert_eq!(replay.len(), 1);
    }

    #[test]
    fn a_caller_holds_at_most_its_share_and_the_others_are_still_taken() {
        let replay = Replay::new(1_000, 10);
        let now = unix_now();
        for i in 0..10 {
            replay
                .insert(key_of("a", &i.to_string()), 1, now + 60)
                .unwrap();
        }
        let over = replay.insert(key_of("a", "10"), 1, now + 60);
        assert!(
            matches!(over, Err(AuthError::TooManyProofs { retry_after }) if (59..=61).contains(&retry_after)),
            "{over:?}"
        );
        assert_eq!(replay.len(), 10, "the refused proof takes no room");
        for i in 0..10 {
            replay
                .insert(key_of("b", &i.to_string()), 2, now + 60)
                .unwrap();
        }
        // Once the first caller's proofs go stale, it has its share again.
        let replay = Replay::new(1_000, 2);
        replay.insert(key_of("a", "1"), 1, now - 1).unwrap();
        replay.insert(key_of("a", "2"), 1, now + 60).unwrap();
        replay.insert(key_of("a", "3"), 1, now + 60).unwrap();
    }

    #[test]
    fn the_times_kept_per_caller_stay_bounded_however_many_callers_come_and_go() {
        let replay = Replay::new(64, 64);
        let now = unix_now();
        for i in 0..10_000_u64 {
            replay
                .insert(key_of("k", &i.to_string()), i, now - 1)
                .unwrap();
        }
        let callers = replay.callers.lock().unwrap();
        assert!(callers.held <= 2 * 64 + 1, "{}", callers.held);
        assert!(callers.live.len() <= 2 * 64 + 1, "{}", callers.live.len());
    }

    #[test]
    fn the_shard_of_a_proof_cannot_be_chosen_by_its_jti() {
        // Two caches place the same keys differently: the placement is keyed per cache.
        let (one, two) = (Replay::new(1_000, 1_000), Replay::new(1_000, 1_000));
        let keys: Vec<[u8; 16]> = (0..64).map(|i| key_of("jkt", &i.to_string())).collect();
        let differ = keys
            .iter()
            .filter(|k| one.shard_of(k) != two.shard_of(k))
            .count();
        assert!(differ > 32, "only {differ} of 64 keys moved");
    }
}
