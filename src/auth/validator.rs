//! Access-token validation: a JWS (RFC 7515) carrying Keycloak's JWT claims (RFC 7519), checked
//! as RFC 8725 and RFC 9068 ask. This is the only place a token is judged; `serve` and `check`
//! both call [`Validator::verify`].
//!
//! `jsonwebtoken` decodes the JWS and verifies the signature (with [`super::crypto::RING`]), and
//! is told the rules it can enforce: the one algorithm the key is pinned to, `exp`, `iss` and
//! `aud` required, `iss` equal to `KC_ISSUER`, `aud` holding an accepted audience, `exp` and
//! `nbf` with the leeway. The policy around it is ours, in this order:
//!
//! 1. form: at most 16 KiB before any parsing, three parts, a header naming an allowed `alg`, a
//!    `kid` of at most 256 bytes, and no `crit`;
//! 2. signature: the key published for the `kid` (`use: sig` only), its pinned `alg`, then the
//!    signature itself;
//! 3. type: header `typ` JWT or at+jwt, claim `typ` exactly `Bearer` when present;
//! 4. lifetime, issuer and audience: `iat` not in the future (ours), then the crate's checks;
//! 5. binding: no `cnf` but a DPoP key thumbprint (`cnf.jkt`), which the gate holds each
//!    request's proof against (`super::dpop`); a token sent as Bearer must not be DPoP-bound
//!    ([`super::principal::require_binding`]).
//!
//! Claims are read into a typed struct, so duplicate members, an `iss` that is not one string or
//! an `aud` that is not a string or an array of strings make the token malformed.
//!
//! Verified tokens are remembered by their SHA-256, bounded in number and never past `exp`, so
//! a client reusing its token costs one hash and one lookup.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{Validation, dangerous};

use super::claims::{
    Claims, TokenHeader, audiences, check_binding, check_size, check_type, principal, read_header,
};
use super::error::{AuthError, Reason};
use super::jwk::Alg;
use super::jws::CompactJws;
use super::key_store::{KeyError, KeyStore};
use super::principal::Principal;
use crate::config::Settings;
use crate::telemetry::{Metrics, traces};

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub leeway: Duration,
}

impl Policy {
    /// The policy the configuration asks for: `KC_ISSUER`, `MCP_AUDIENCE` and
    /// `MCP_ALT_AUDIENCE`, `MCP_CLOCK_LEEWAY_SECS`.
    pub fn from_settings(settings: &Settings) -> Self {
        Policy {
            issuer: settings.issuer.clone(),
            audiences: settings.audiences.clone(),
            leeway: settings.leeway,
        }
    }

    /// What `jsonwebtoken` is told for a key pinned to `alg`.
    fn validation(&self, alg: Alg) -> Validation {
        let mut v = Validation::new(alg.jwt());
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&self.audiences);
        v.leeway = self.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        // RFC 7519 §4.1.4: a token is usable only *before* `exp`. The crate alone would also
        // accept it during the second `exp` names; this makes `exp + leeway <= now` expired.
        v.reject_tokens_expiring_in_less_than = 1;
        v
    }
}

/// Validates tokens and remembers the ones that passed.
pub struct Validator {
    policy: Policy,
    /// What `jsonwebtoken` is told, by [`Alg`].
    validations: [Validation; Alg::ALL.len()],
    keys: Arc<dyn KeyStore>,
    cache: moka::sync::Cache<[u8; 32], Principal>,
    metrics: Arc<Metrics>,
}

pub(crate) fn unix_now() -> i64 {
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
    /// Installs the `jsonwebtoken` crypto provider, so no token can be decoded before it is.
    pub fn new(
        policy: Policy,
        keys: Arc<dyn KeyStore>,
        cache_size: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        if let Err(why) = super::crypto::install() {
            // Only a library linked into this binary could have done it; decoding would then
            // use its cryptography, which this server has not vetted.
            panic!("{why}");
        }
        let cache = moka::sync::Cache::builder()
            .max_capacity(cache_size)
            .expire_after(UntilExpiry)
            .build();
        Validator {
            validations: Alg::ALL.map(|alg| policy.validation(alg)),
            policy,
            keys,
            cache,
            metrics,
        }
    }

    /// Verified tokens currently remembered.
    fn cached_tokens(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// Validates a bearer token, from the cache when it was verified before; `span` is told
    /// which.
    pub async fn validate(&self, token: &str, span: &traces::Span) -> Result<Principal, AuthError> {
        // Refused before it is even hashed.
        check_size(token)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let key: [u8; 32] = digest.as_ref().try_into().expect("SHA-256 is 32 bytes");
        if let Some(p) = self.cache.get(&key) {
            // A cached token stays valid only while it is unexpired and its key is still published.
            if p.exp > unix_now() && self.keys.publishes(&p.kid) {
                self.metrics.token_cache(true);
                span.set("token_cache", "hit");
                return Ok(p);
            }
            self.cache.invalidate(&key);
        }
        self.metrics.token_cache(false);
        span.set("token_cache", "miss");
        let principal = self.verify_checked(token).await?;
        if principal.exp > unix_now() {
            self.cache.insert(key, principal.clone());
        }
        Ok(principal)
    }

    /// Judges a token by every rule, without the cache: the verdict `serve` gives on a cache
    /// miss, and the one `check` reports.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        check_size(token)?;
        self.verify_checked(token).await
    }

    /// [`Validator::verify`] for a token whose size was checked already, so the size is
    /// checked once on either path.
    async fn verify_checked(&self, token: &str) -> Result<Principal, AuthError> {
        use Reason::*;
        let header = read_header(token)?;
        let key = self.keys.key(&header.kid).await.map_err(|e| match e {
            KeyError::UnknownKid => AuthError::invalid(
                UnknownKid,
                format!("kid `{}` is not published by the issuer", header.kid),
            ),
            KeyError::Unavailable(why) => AuthError::Unavailable(why),
        })?;
        if key.alg != header.alg {
            return Err(AuthError::invalid(
                BadSignature,
                format!(
                    "alg {} does not match key {}, which is pinned to {}",
                    header.alg.name(),
                    key.kid,
                    key.alg.name()
                ),
            ));
        }
        let validation = &self.validations[key.alg as usize];
        let claims = match jsonwebtoken::decode::<Claims>(token, &key.decoding, validation) {
            Ok(data) => data.claims,
            Err(e) => return Err(self.refusal(token, &header, e)),
        };
        check_type(&header, &claims)?;
        self.check_issued_at(&claims)?;
        let jkt = check_binding(&claims)?;
        Ok(principal(claims, header.kid, jkt))
    }

    /// Why `jsonwebtoken` refused a token whose header passed [`read_header`].
    fn refusal(&self, token: &str, header: &TokenHeader, e: JwtError) -> AuthError {
        use Reason::*;
        match e.kind() {
            ErrorKind::ExpiredSignature
            | ErrorKind::ImmatureSignature
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience
            | ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidClaimFormat(_) => self.claims_refusal(token, header, e),
            ErrorKind::InvalidSignature => AuthError::invalid(
                BadSignature,
                format!("signature does not verify with key {}", header.kid),
            ),
            ErrorKind::Base64(_)
                if !CompactJws::is_base64url(token.rsplit('.').next().unwrap_or("")) =>
            {
                AuthError::invalid(BadSignature, "signature is not base64url")
            }
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::Provider(_) => AuthError::invalid(
                BadSignature,
                format!("key {} cannot verify this token: {e}", header.kid),
            ),
            _ => AuthError::invalid(Malformed, format!("token: {e}")),
        }
    }

    /// A refusal after the signature verified: the type and `iat` are judged first, as on a
    /// token the crate accepted, then the crate's finding is named.
    fn claims_refusal(&self, token: &str, header: &TokenHeader, e: JwtError) -> AuthError {
        use Reason::*;
        // The crate read these claims into the same struct before judging them.
        let Ok(c) = dangerous::insecure_decode_claims::<Claims>(token) else {
            return AuthError::invalid(Malformed, format!("claims: {e}"));
        };
        if let Err(refused) = check_type(header, &c).and_then(|()| self.check_issued_at(&c)) {
            return refused;
        }
        let p = &self.policy;
        let now = unix_now();
        match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::invalid(
                Expired,
                format!("expired {} s ago", now - c.exp.unwrap_or(now)),
            ),
            ErrorKind::ImmatureSignature => AuthError::invalid(
                NotYetValid,
                format!("nbf is {} s in the future", c.nbf.unwrap_or(now) - now),
            ),
            ErrorKind::InvalidIssuer => AuthError::invalid(
                WrongIssuer,
                format!("iss `{}` is not `{}`", c.iss.unwrap_or_default(), p.issuer),
            ),
            ErrorKind::InvalidAudience => AuthError::invalid(
                WrongAudience,
                format!(
                    "aud {:?} does not contain any of {:?}",
                    audiences(c.aud),
                    p.audiences
                ),
            ),
            // The crate looks for required claims in no fixed order; name the first missing.
            ErrorKind::MissingRequiredClaim(_) if c.exp.is_none() => {
                AuthError::invalid(Malformed, "token has no exp")
            }
            ErrorKind::MissingRequiredClaim(_) if c.iss.is_none() => {
                AuthError::invalid(WrongIssuer, "token has no iss")
            }
            ErrorKind::MissingRequiredClaim(_) => {
                AuthError::invalid(WrongAudience, "token has no aud")
            }
            _ => AuthError::invalid(Malformed, format!("claims: {e}")),
        }
    }

    fn check_issued_at(&self, c: &Claims) -> Result<(), AuthError> {
        let now = unix_now();
        let leeway = self.policy.leeway.as_secs() as i64;
        match c.iat.filter(|iat| *iat > now.saturating_add(leeway)) {
            Some(iat) => Err(AuthError::invalid(
                Reason::NotYetValid,
                format!("iat is {} s in the future", iat - now),
            )),
            None => Ok(()),
        }
    }
}

impl crate::telemetry::Scraped for Validator {
    fn scrape(&self, s: &mut crate::telemetry::Scrape<'_>) -> std::fmt::Result {
        let entries = self.cached_tokens();
        s.gauge(
            "token_cache_entries",
            "Verified tokens remembered",
            entries as i64,
        )
    }
}
