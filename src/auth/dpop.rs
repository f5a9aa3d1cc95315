//! DPoP (RFC 9449): the proof a client sends beside a DPoP-bound access token
//! (`Authorization: DPoP <token>` and a `DPoP` header), checked on every request. The token may
//! come from the verified-token cache; its proof never does.
//!
//! A proof is accepted when, in this order (§4.3), each failure with a reason of its own:
//!
//! 1. form: one compact JWS of at most 8 KiB, header `typ` `dpop+jwt`, claims `jti` (at most
//!    256 bytes), `htm`, `htu`, `iat` and `ath` present and of their types (`dpop_proof`);
//! 2. key: `alg` one of the asymmetric algorithms tokens may use, `jwk` a public key fit for it,
//!    with no private or symmetric member (`dpop_key`);
//! 3. the signature by that `jwk` (`dpop_signature`);
//! 4. `htm` equal to the request's method (`dpop_method`);
//! 5. `htu` without query or fragment, equal to the request's public URL, `MCP_SERVER_URL` and
//!    the path, after the normalisation of RFC 3986 §6.2.2 and §6.2.3 (`dpop_url`);
//! 6. `iat` no older than `MCP_DPOP_MAX_AGE_SECS` and not in the future, each with
//!    `MCP_CLOCK_LEEWAY_SECS` (`dpop_stale`). `iat` is a NumericDate read as a token's `exp`
//!    is (a fraction is dropped, a value beyond 64 bits is taken as the farthest time), and the
//!    age is worked out in 128 bits, so no value of it can overflow into a fresh proof;
//! 7. with `MCP_DPOP_NONCE`, `nonce` one this server handed out in `DPoP-Nonce` lately
//!    (`dpop_nonce`, answered with `use_dpop_nonce` and a fresh nonce, §8 and §9);
//! 8. `ath` equal to base64url(SHA-256(token)) (`dpop_ath`);
//! 9. the RFC 7638 thumbprint of the `jwk` equal to the token's `cnf.jkt` (`dpop_thumbprint`);
//! 10. `jti` not seen before from that key within the window (`dpop_replayed`).
//!
//! Nonces are made, not stored: the time slot they were made in (one slot is
//! `MCP_DPOP_MAX_AGE_SECS` long) and an HMAC of it under a key made at start-up. A nonce of the
//! current or the previous slot is accepted.
//!
//! The replay check ([`Proofs::remember`]) comes last, after the caller's request allowance has
//! been taken, so a proof that fails another rule, or whose request is refused, takes no room in
//! the replay cache. The cache is bounded in entries of fixed size
//! (`MCP_DPOP_REPLAY_CACHE_SIZE`), of which one caller may hold a share (see `replay`); when
//! it is full of proofs still inside their window, new proofs are refused with 503 rather than
//! forgotten, because forgetting one would let it be replayed.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::claims::numeric_date;
use super::error::{AuthError, Reason};
use super::jwk::{Alg, proof_key};
use super::jws::{CompactJws, PartError};
use super::validator::unix_now;
use replay::{Replay, key_of};

mod replay;

/// Longest proof accepted, before any parsing.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// Longest `jti` accepted.
pub const MAX_JTI_BYTES: usize = 256;

/// How proofs are judged, from the configuration.
#[derive(Debug, Clone)]
pub struct ProofPolicy {
    /// The public origin requests are addressed to (`MCP_SERVER_URL`).
    pub server_url: String,
    /// How old a proof's `iat` may be (`MCP_DPOP_MAX_AGE_SECS`).
    pub max_age: Duration,
    pub leeway: Duration,
    /// Most proofs remembered at once (`MCP_DPOP_REPLAY_CACHE_SIZE`).
    pub replay_capacity: usize,
    /// Most proofs of one caller remembered at once.
    pub replay_per_caller: usize,
    /// Whether proofs must carry a nonce of this server's (`MCP_DPOP_NONCE`).
    pub nonce: bool,
}

impl ProofPolicy {
    /// The policy the configuration asks for: `MCP_SERVER_URL`, `MCP_DPOP_MAX_AGE_SECS`,
    /// `MCP_CLOCK_LEEWAY_SECS`, `MCP_DPOP_REPLAY_CACHE_SIZE`, `MCP_DPOP_NONCE`.
    ///
    /// A caller's share of the replay cache is what its request allowance lets it send while a
    /// proof stays in the window (`MCP_REQUEST_LIMIT_BURST` and `MCP_REQUEST_LIMIT_PER_MIN`),
    /// so a caller within its allowance is never refused for it, and at most a quarter of the
    /// cache, so no one caller can fill it.
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        let window = (s.dpop.max_age + s.leeway).as_secs();
        let capacity = s.dpop.replay_capacity;
        let quarter = (capacity / 4).max(1);
        let allowance = match s.fair.requests_per_minute {
            0 => quarter,
            per_minute => {
                let sent = u64::from(s.fair.requests_burst)
                    .saturating_add(u64::from(per_minute).saturating_mul(window).div_ceil(60));
                usize::try_from(sent).unwrap_or(usize::MAX)
            }
        };
        ProofPolicy {
            server_url: s.server_url.clone(),
            max_age: s.dpop.max_age,
            leeway: s.leeway,
            replay_capacity: capacity,
            replay_per_caller: allowance.min(quarter),
            nonce: s.dpop.nonce,
        }
    }
}

/// One request's proof and what it is held against.
pub struct Presented<'a> {
    pub proof: &'a str,
    pub method: &'a str,
    /// The request's path, as sent (no query).
    pub path: &'a str,
    pub token: &'a str,
    /// The token's `cnf.jkt`.
    pub jkt: &'a str,
}

/// A proof that passed every rule but the replay check: a digest of its key and `jti`, and when
/// it goes stale (Unix seconds). [`Proofs::remember`] makes the replay check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fresh {
    pub key: [u8; 16],
    pub until: i64,
}

/// Checks DPoP proofs and remembers the ones accepted, for as long as they could be replayed.
pub struct Proofs {
    policy: ProofPolicy,
    seen: Replay,
    /// The key nonces are made with.
    nonce_key: ring::hmac::Key,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: Option<String>,
    jwk: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<i64>,
    ath: Option<String>,
    nonce: Option<String>,
}

fn refuse(reason: Reason, detail: impl Into<String>) -> AuthError {
    AuthError::invalid(reason, detail)
}

impl Proofs {
    pub fn new(policy: ProofPolicy) -> Self {
        let rng = ring::rand::SystemRandom::new();
        Proofs {
            seen: Replay::new(policy.replay_capacity, policy.replay_per_caller),
            nonce_key: ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
                .expect("the system's random source works"),
            policy,
        }
    }

    /// Proofs remembered now, for `/metrics`.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// Whether proofs must carry a nonce of this server's.
    pub fn wants_nonce(&self) -> bool {
        self.policy.nonce
    }

    /// The nonce to hand out now: the current slot and its HMAC.
    pub fn nonce(&self) -> String {
        let slot = self.slot().to_be_bytes();
        let tag = ring::hmac::sign(&self.nonce_key, &slot);
        let mut raw = slot.to_vec();
        raw.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn slot(&self) -> u64 {
        unix_now().max(0) as u64 / self.policy.max_age.as_secs().max(1)
    }

    /// Whether `nonce` is one this server made in the current or the previous slot (the HMAC
    /// is compared in constant time).
    fn nonce_is_current(&self, nonce: &str) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((slot, tag)) = raw.split_first_chunk::<8>() else {
            return false;
        };
        let now = self.slot();
        let fresh = [now, now.saturating_sub(1)].contains(&u64::from_be_bytes(*slot));
        fresh && ring::hmac::verify(&self.nonce_key, slot, tag).is_ok()
    }

    /// Remembers a proof [`Proofs::check`] accepted, for `caller`, until it goes stale; refuses
    /// it if this replica saw it before, or when the caller holds its share of the cache or
    /// the cache is full. The replicas' shared window is asked after this (`crate::replicas`).
    pub fn remember(&self, fresh: &Fresh, caller: u64) -> Result<(), AuthError> {
        self.seen.insert(fresh.key, caller, fresh.until)
    }

    /// Checks the proof against every rule but the replay check ([`Proofs::remember`]), or says
    /// which rule it broke.
    pub fn check(&self, p: &Presented) -> Result<Fresh, AuthError> {
        let (header, claims, signed, signature) = read(p.proof)?;
        let thumbprint = verified_by(header, signed, signature)?;
        if claims.htm != p.method {
            return Err(refuse(
                Reason::DpopMethod,
                format!("htm {:?} is not the method {}", claims.htm, p.method),
            ));
        }
        self.check_url(&claims.htu, p.path)?;
        let until = self.check_age(claims.iat)?;
        self.check_nonce(claims.nonce.as_deref())?;
        let ath = URL_SAFE_NO_PAD
            .encode(ring::digest::digest(&ring::digest::SHA256, p.token.as_bytes()).as_ref());
        if claims.ath != ath {
            return Err(refuse(
                Reason::DpopAth,
                "ath is not the SHA-256 of this access token",
            ));
        }
        if thumbprint != p.jkt {
            return Err(refuse(
                Reason::DpopThumbprint,
                format!(
                    "the proof's key (thumbprint {thumbprint}) is not the key the token is bound to ({})",
                    p.jkt
                ),
            ));
        }
        Ok(Fresh {
            key: key_of(&thumbprint, &claims.jti),
            until,
        })
    }

    /// With `MCP_DPOP_NONCE`, the proof must carry a nonce this server gave out lately.
    fn check_nonce(&self, nonce: Option<&str>) -> Result<(), AuthError> {
        if !self.policy.nonce || nonce.is_some_and(|n| self.nonce_is_current(n)) {
            return Ok(());
        }
        Err(refuse(
            Reason::DpopNonce,
            match nonce {
                None => "the proof has no nonce",
                Some(_) => "the proof's nonce is not a current one of this server's",
            },
        ))
    }

    /// How long after its `iat` a proof stays acceptable, in seconds.
    fn window(&self) -> i64 {
        i64::try_from((self.policy.max_age + self.policy.leeway).as_secs()).unwrap_or(i64::MAX)
    }

    fn check_url(&self, htu: &str, path: &str) -> Result<(), AuthError> {
        let wrong = |why: String| refuse(Reason::DpopUrl, why);
        let sent = Url::parse(htu).map_err(|e| wrong(format!("htu {htu:?} is not a URL ({e})")))?;
        if sent.query().is_some() || sent.fragment().is_some() {
            return Err(wrong(format!(
                "htu {htu:?} has a query or fragment; send the URL without them"
            )));
        }
        let expected = Url::parse(&format!("{}{path}", self.policy.server_url))
            .map_err(|e| wrong(format!("the request's URL cannot be formed ({e})")))?;
        let same = sent.scheme() == expected.scheme()
            && sent.host_str() == expected.host_str()
            && sent.port_or_known_default() == expected.port_or_known_default()
            && sent.path() == expected.path();
        if !same {
            return Err(wrong(format!(
                "htu {htu:?} is not the URL of this request, {expected}"
            )));
        }
        Ok(())
    }

    /// Refuses a proof whose `iat` lies outside the window, whatever its value; gives back when
    /// an accepted proof goes stale (Unix seconds), which then lies within the window from now.
    fn check_age(&self, iat: i64) -> Result<i64, AuthError> {
        let now = unix_now();
        let leeway = i64::try_from(self.policy.leeway.as_secs()).unwrap_or(i64::MAX);
        // In 128 bits: no i64 minus an i64 overflows there.
        let age = i128::from(now) - i128::from(iat);
        if age < -i128::from(leeway) {
            return Err(refuse(
                Reason::DpopStale,
                format!("iat is {} s in the future", -age),
            ));
        }
        if age > i128::from(self.window()) {
            return Err(refuse(
                Reason::DpopStale,
                format!("the proof is {age} s old; make a fresh proof for each request"),
            ));
        }
        // iat lies within [now - window, now + leeway], so this cannot overflow.
        Ok(iat.saturating_add(self.window()))
    }
}

/// A proof's claims once the form is checked.
struct CheckedProof {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: String,
    nonce: Option<String>,
}

/// Reads a proof's form (rule 1): its header, its claims, the signed part and the signature.
/// The thumbprint of the key in the proof's header, once the proof's signature verifies with
/// it under an accepted algorithm.
fn verified_by(header: ProofHeader, signed: &str, signature: &str) -> Result<String, AuthError> {
    let alg_name = header.alg.unwrap_or_default();
    let alg = Alg::from_name(&alg_name).ok_or_else(|| {
        refuse(
            Reason::DpopKey,
            format!("alg {alg_name:?} is not an accepted asymmetric algorithm"),
        )
    })?;
    let jwk = header
        .jwk
        .ok_or_else(|| refuse(Reason::DpopProof, "the proof header has no jwk"))?;
    let (key, thumbprint) =
        proof_key(&jwk, alg).map_err(|e| refuse(Reason::DpopKey, e.to_string()))?;
    let verified = jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key, alg.jwt())
        .unwrap_or(false);
    if !verified {
        return Err(refuse(
            Reason::DpopSignature,
            "the proof's signature does not verify with its jwk",
        ));
    }
    Ok(thumbprint)
}

fn read(proof: &str) -> Result<(ProofHeader, CheckedProof, &str, &str), AuthError> {
    let malformed = |why: &str| refuse(Reason::DpopProof, why);
    if proof.len() > MAX_PROOF_BYTES {
        return Err(malformed("the proof is longer than 8 KiB"));
    }
    let Some(jws) = CompactJws::split(proof) else {
        return Err(malformed("the proof is not a compact JWS of three parts"));
    };
    let part = |e: PartError, what: &'static str| match e {
        PartError::NotBase64 => malformed("a part of the proof is not base64url"),
        PartError::Json(_) => malformed(what),
    };
    let header: ProofHeader = CompactJws::json(jws.header).map_err(|e| {
        part(
            e,
            "the proof header is not a JSON object of the expected members",
        )
    })?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(malformed("the proof's typ is not dpop+jwt"));
    }
    let claims: ProofClaims = CompactJws::json(jws.payload).map_err(|e| {
        part(
            e,
            "the proof's claims are not a JSON object of the expected members",
        )
    })?;
    let (Some(jti), Some(htm), Some(htu), Some(iat), Some(ath)) =
        (claims.jti, claims.htm, claims.htu, claims.iat, claims.ath)
    else {
        return Err(malformed(
            "the proof lacks one of jti, htm, htu, iat and ath",
        ));
    };
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(malformed(
            "the proof's jti is empty or longer than 256 bytes",
        ));
    }
    let signed = jws.signed(proof);
    Ok((
        header,
        CheckedProof {
            jti,
            htm,
            htu,
            iat,
            ath,
            nonce: claims.nonce,
        },
        signed,
        jws.signature,
    ))
}
