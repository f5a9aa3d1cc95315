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
//!    `MCP_CLOCK_LEEWAY_SECS` (`dpop_stale`);
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
//! The replay check comes last, so a proof that fails another rule takes no room in the replay
//! cache. The cache is bounded in entries of fixed size (`MCP_DPOP_REPLAY_CACHE_SIZE`); when
//! it is full of proofs still inside their window, new proofs are refused with 503 rather than
//! forgotten, because forgetting one would let it be replayed.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::error::{AuthError, Reason};
use super::jwk::{Alg, proof_key};
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
    /// Whether proofs must carry a nonce of this server's (`MCP_DPOP_NONCE`).
    pub nonce: bool,
}

impl ProofPolicy {
    /// The policy the configuration asks for: `MCP_SERVER_URL`, `MCP_DPOP_MAX_AGE_SECS`,
    /// `MCP_CLOCK_LEEWAY_SECS`, `MCP_DPOP_REPLAY_CACHE_SIZE`, `MCP_DPOP_NONCE`.
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        ProofPolicy {
            server_url: s.server_url.clone(),
            max_age: s.dpop.max_age,
            leeway: s.leeway,
            replay_capacity: s.dpop.replay_capacity,
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

/// A proof this replica accepted and had not seen: a digest of its key and `jti`, and when it
/// goes stale (Unix seconds).
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
            seen: Replay::new(policy.replay_capacity),
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

    /// Accepts the proof, or says which rule it broke. An accepted proof is remembered here
    /// until it goes stale; what is given back names it for the replay window the replicas
    /// share (`crate::replicas`).
    pub fn check(&self, p: &Presented) -> Result<Fresh, AuthError> {
        let (header, claims, signed, signature) = read(p.proof)?;
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
        let (key, thumbprint) = proof_key(&jwk, alg).map_err(|e| refuse(Reason::DpopKey, e))?;
        let verified = jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key, alg.jwt())
            .unwrap_or(false);
        if !verified {
            return Err(refuse(
                Reason::DpopSignature,
                "the proof's signature does not verify with its jwk",
            ));
        }
        if claims.htm != p.method {
            return Err(refuse(
                Reason::DpopMethod,
                format!("htm {:?} is not the method {}", claims.htm, p.method),
            ));
        }
        self.check_url(&claims.htu, p.path)?;
        self.check_age(claims.iat)?;
        if self.policy.nonce
            && !claims
                .nonce
                .as_deref()
                .is_some_and(|n| self.nonce_is_current(n))
        {
            return Err(refuse(
                Reason::DpopNonce,
                match claims.nonce {
                    None => "the proof has no nonce",
                    Some(_) => "the proof's nonce is not a current one of this server's",
                },
            ));
        }
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
        let until = claims.iat + self.window();
        self.seen.insert(&thumbprint, &claims.jti, until)?;
        Ok(Fresh {
            key: key_of(&thumbprint, &claims.jti),
            until,
        })
    }

    /// How long after its `iat` a proof stays acceptable.
    fn window(&self) -> i64 {
        (self.policy.max_age + self.policy.leeway).as_secs() as i64
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

    fn check_age(&self, iat: i64) -> Result<(), AuthError> {
        let now = unix_now();
        let leeway = self.policy.leeway.as_secs() as i64;
        if iat > now + leeway {
            return Err(refuse(
                Reason::DpopStale,
                format!("iat is {} s in the future", iat - now),
            ));
        }
        if now - iat > self.window() {
            return Err(refuse(
                Reason::DpopStale,
                format!(
                    "the proof is {} s old; make a fresh proof for each request",
                    now - iat
                ),
            ));
        }
        Ok(())
    }
}

/// A proof's claims once the form is checked.
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: String,
    nonce: Option<String>,
}

/// Reads a proof's form (rule 1): its header, its claims, the signed part and the signature.
fn read(proof: &str) -> Result<(ProofHeader, Claims, &str, &str), AuthError> {
    let malformed = |why: &str| refuse(Reason::DpopProof, why);
    if proof.len() > MAX_PROOF_BYTES {
        return Err(malformed("the proof is longer than 8 KiB"));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(c), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("the proof is not a compact JWS of three parts"));
    };
    let json = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .ok_or_else(|| malformed("a part of the proof is not base64url"))
    };
    let header: ProofHeader = serde_json::from_slice(&json(h)?)
        .map_err(|_| malformed("the proof header is not a JSON object of the expected members"))?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(malformed("the proof's typ is not dpop+jwt"));
    }
    let claims: ProofClaims = serde_json::from_slice(&json(c)?).map_err(|_| {
        malformed("the proof's claims are not a JSON object of the expected members")
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
    let signed = &proof[..h.len() + 1 + c.len()];
    Ok((
        header,
        Claims {
            jti,
            htm,
            htu,
            iat,
            ath,
            nonce: claims.nonce,
        },
        signed,
        signature,
    ))
}
