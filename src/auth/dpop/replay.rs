//! The replay cache of DPoP proofs: each proof accepted, until it goes stale, so that it is
//! accepted once.

use std::collections::HashMap;
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
}

const SHARDS: usize = 16;

/// What the replay cache keeps of a proof: 128 bits of SHA-256 over its key's thumbprint and
/// its `jti`.
pub(super) fn key_of(jkt: &str, jti: &str) -> [u8; 16] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(jkt.as_bytes());
    ctx.update(&[0]);
    ctx.update(jti.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&ctx.finish().as_ref()[..16]);
    key
}

fn shard_of(key: &[u8; 16]) -> usize {
    key[0] as usize % SHARDS
}

impl Replay {
    pub(super) fn new(capacity: usize) -> Self {
        Replay {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            len: AtomicUsize::new(0),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Remembers a proof until `until`; refuses it if it was seen, and refuses to take it
    /// (without remembering) when the shard is full of proofs that could still be replayed.
    pub(super) fn insert(&self, jkt: &str, jti: &str, until: i64) -> Result<(), AuthError> {
        let key = key_of(jkt, jti);
        let mut seen = self.shards[shard_of(&key)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = unix_now();
        if seen.get(&key).is_some_and(|stale| *stale >= now) {
            return Err(AuthError::invalid(
                Reason::DpopReplayed,
                "this proof's jti was used before; make a fresh proof for each request",
            ));
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` jtis whose proofs of key "jkt" fall in shard `shard`.
    fn jtis_in(shard: usize, count: usize) -> Vec<String> {
        (0..)
            .map(|i| format!("jti-{i}"))
            .filter(|jti| shard_of(&key_of("jkt", jti)) == shard)
            .take(count)
            .collect()
    }

    #[test]
    fn a_full_shard_refuses_new_proofs_rather_than_forget_live_ones() {
        // One proof per shard.
        let replay = Replay::new(SHARDS);
        let now = unix_now();
        let [first, second] = <[String; 2]>::try_from(jtis_in(3, 2)).unwrap();
        replay.insert("jkt", &first, now + 60).unwrap();
        let full = replay.insert("jkt", &second, now + 60);
        assert!(matches!(full, Err(AuthError::Overloaded(_))), "{full:?}");
        assert_eq!(replay.len(), 1, "a refused proof takes no room");
        let again = replay.insert("jkt", &first, now + 60);
        assert!(
            matches!(&again, Err(e) if e.reason() == Some(Reason::DpopReplayed)),
            "{again:?}"
        );
    }

    #[test]
    fn stale_proofs_are_swept_to_make_room() {
        let replay = Replay::new(SHARDS);
        let now = unix_now();
        let [old, new] = <[String; 2]>::try_from(jtis_in(5, 2)).unwrap();
        replay.insert("jkt", &old, now - 1).unwrap();
        replay.insert("jkt", &new, now + 60).unwrap();
        assert_eq!(replay.len(), 1);
        // The swept proof is stale anyway: its iat is out of the window.
        assert!(replay.insert("jkt", &old, now + 60).is_err());
    }
}
