//! Access-token validation: a JWS (RFC 7515) carrying Keycloak's JWT claims (RFC 7519),
//! checked as RFC 8725 and RFC 9068 ask.
//!
//! Order of checks: size (16 KiB, before any parsing), shape, header (`alg` from the allowlist,
//! `kid` present, no `crit`), key by `kid` from the key store, `alg` equal to the key's pinned
//! algorithm, signature, then the claims: `typ`, `iss` exact, `aud` contains an accepted
//! audience, `exp` required, `nbf` and `iat` not in the future, each with the configured leeway.
//! Header fields that point at other keys (`jku`, `x5u`, `jwk`, `x5c`) are never read.
//!
//! Verified tokens are remembered by their SHA-256, bounded in number and never past `exp`, so
//! a client reusing its token costs one hash and one lookup.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::Deserializer;

use super::error::{AuthError, Reason};
use super::jwks::{KeyError, KeyStore};
use super::keys::Alg;
use super::principal::{Identity, Principal};
use crate::telemetry::Metrics;

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub leeway: Duration,
}

/// Validates tokens and remembers the ones that passed.
pub struct Validator {
    policy: Policy,
    keys: Arc<dyn KeyStore>,
    cache: moka::sync::Cache<[u8; 32], Principal>,
    metrics: Arc<Metrics>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
struct Roles {
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<Audience>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<i64>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<i64>,
    typ: Option<String>,
    sub: Option<String>,
    azp: Option<String>,
    scope: Option<String>,
    sid: Option<String>,
    jti: Option<String>,
    preferred_username: Option<String>,
    realm_access: Option<Roles>,
    resource_access: Option<HashMap<String, Roles>>,
    groups: Option<Vec<String>>,
}

/// RFC 7519 NumericDate: seconds since the epoch, possibly with a fraction.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    match n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    }) {
        Some(v) => Ok(Some(v)),
        None => Err(serde::de::Error::custom("NumericDate out of range")),
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct UntilExpiry;

impl moka::Expiry<[u8; 32], Principal> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &[u8; 32],
        p: &Principal,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs((p.exp - unix_now()).max(0) as u64))
    }
}

impl Validator {
    pub fn new(
        policy: Policy,
        keys: Arc<dyn KeyStore>,
        cache_size: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(cache_size)
            .expire_after(UntilExpiry)
            .build();
        Validator {
            policy,
            keys,
            cache,
            metrics,
        }
    }

    /// Verified tokens currently remembered.
    pub fn cached_tokens(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// Validates a bearer token, from the cache when it was verified before.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::invalid(
                Reason::Malformed,
                format!(
                    "token of {} bytes is over the {MAX_TOKEN_BYTES}-byte limit",
                    token.len()
                ),
            ));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let key: [u8; 32] = digest.as_ref().try_into().expect("SHA-256 is 32 bytes");
        if let Some(p) = self.cache.get(&key) {
            // A cached token stays valid only while it is unexpired and its key is still published.
            if p.exp > unix_now() && self.keys.publishes(&p.kid) {
                self.metrics.token_cache(true);
                return Ok(p);
            }
            self.cache.invalidate(&key);
        }
        self.metrics.token_cache(false);
        let principal = self.verify(token).await?;
        if principal.exp > unix_now() {
            self.cache.insert(key, principal.clone());
        }
        Ok(principal)
    }

    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        use Reason::*;
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::invalid(
                Malformed,
                "not three dot-separated parts (encrypted tokens are not accepted)",
            ));
        };
        let header: Header =
            decode_json(h64).map_err(|e| AuthError::invalid(Malformed, format!("header: {e}")))?;
        let alg_name = header.alg.as_deref().unwrap_or("");
        let alg = Alg::from_name(alg_name).ok_or_else(|| {
            AuthError::invalid(BadSignature, format!("alg `{alg_name}` is not accepted"))
        })?;
        if header.crit.is_some() {
            return Err(AuthError::invalid(
                Malformed,
                "the crit header names extensions this server does not implement",
            ));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or_else(|| AuthError::invalid(Malformed, "header has no kid"))?;
        let key = self.keys.key(&kid).await.map_err(|e| match e {
            KeyError::UnknownKid => AuthError::invalid(
                UnknownKid,
                format!("kid `{kid}` is not published by the issuer"),
            ),
            KeyError::Unavailable(why) => AuthError::Unavailable(why),
        })?;
        if key.alg != alg {
            return Err(AuthError::invalid(
                BadSignature,
                format!(
                    "alg {} does not match key {kid}, which is pinned to {}",
                    alg.name(),
                    key.alg.name()
                ),
            ));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(s64)
            .map_err(|_| AuthError::invalid(BadSignature, "signature is not base64url"))?;
        let signed = &token[..h64.len() + 1 + p64.len()];
        if !key.verify(signed.as_bytes(), &signature) {
            return Err(AuthError::invalid(
                BadSignature,
                format!("signature does not verify with key {kid}"),
            ));
        }
        if let Some(typ) = header.typ.as_deref() {
            let typ = typ.to_ascii_lowercase();
            let typ = typ.strip_prefix("application/").unwrap_or(&typ);
            if typ != "jwt" && typ != "at+jwt" {
                return Err(AuthError::invalid(
                    WrongType,
                    format!("header typ `{typ}` is not JWT or at+jwt"),
                ));
            }
        }
        let claims: Claims =
            decode_json(p64).map_err(|e| AuthError::invalid(Malformed, format!("claims: {e}")))?;
        self.check_claims(claims, kid)
    }

    fn check_claims(&self, c: Claims, kid: String) -> Result<Principal, AuthError> {
        use Reason::*;
        let p = &self.policy;
        if let Some(typ) = c.typ.as_deref().filter(|t| *t != "Bearer") {
            return Err(AuthError::invalid(
                WrongType,
                format!("typ `{typ}` is not Bearer"),
            ));
        }
        let iss = c.iss.unwrap_or_default();
        if iss != p.issuer {
            return Err(AuthError::invalid(
                WrongIssuer,
                format!("iss `{iss}` is not `{}`", p.issuer),
            ));
        }
        let aud = match c.aud {
            None => Vec::new(),
            Some(Audience::One(a)) => vec![a],
            Some(Audience::Many(a)) => a,
        };
        if !aud.iter().any(|a| p.audiences.contains(a)) {
            return Err(AuthError::invalid(
                WrongAudience,
                format!("aud {aud:?} does not contain any of {:?}", p.audiences),
            ));
        }
        let now = unix_now();
        let leeway = p.leeway.as_secs() as i64;
        let exp = c
            .exp
            .ok_or_else(|| AuthError::invalid(Malformed, "token has no exp"))?;
        if exp.saturating_add(leeway) <= now {
            return Err(AuthError::invalid(
                Expired,
                format!("expired {} s ago", now - exp),
            ));
        }
        if let Some(nbf) = c.nbf.filter(|nbf| *nbf > now.saturating_add(leeway)) {
            return Err(AuthError::invalid(
                NotYetValid,
                format!("nbf is {} s in the future", nbf - now),
            ));
        }
        if let Some(iat) = c.iat.filter(|iat| *iat > now.saturating_add(leeway)) {
            return Err(AuthError::invalid(
                NotYetValid,
                format!("iat is {} s in the future", iat - now),
            ));
        }
        Ok(Principal::new(Identity {
            subject: c.sub,
            client_id: c.azp,
            username: c.preferred_username,
            scopes: c
                .scope
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            realm_roles: c.realm_access.unwrap_or_default().roles,
            client_roles: c
                .resource_access
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.roles))
                .collect(),
            groups: c.groups.unwrap_or_default(),
            session_id: c.sid,
            token_id: c.jti,
            kid,
            exp,
            access: Default::default(),
        }))
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "not base64url".to_owned())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}
