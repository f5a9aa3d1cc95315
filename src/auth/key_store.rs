//! The signing-key cache: Keycloak's JWKS, kept fresh without ever blocking on Keycloak.
//!
//! Follows RFC 8725 §3 and the rotation rules of docs/operations.md ("Key rotation"):
//! - a background task refreshes the set at the interval `Cache-Control: max-age` asks for,
//!   clamped to `MCP_JWKS_MIN_REFRESH_SECS..=`[`MAX_REFRESH`], retrying with backoff;
//! - a token with an unknown `kid` causes a refetch at once, unless another unknown `kid`
//!   caused one less than [`REFETCH_INTERVAL`] ago; concurrent misses share one
//!   fetch. The start-up load and the scheduled refreshes never count against that interval,
//!   so a key Keycloak has just started publishing is accepted on its first token, whenever
//!   it comes. Unknown kids are not remembered: the interval already bounds what they cost
//!   (one fetch per interval however many arrive), and a remembered kid could only delay the
//!   retry a rotation needs;
//! - when Keycloak is down the last good keys keep verifying for `MCP_JWKS_MAX_STALE_SECS`;
//! - a document with no usable key never replaces a good set.
//!
//! No lock is held across a fetch: readers see the current set through a short read lock.
//! Every timer here runs on tokio's clock, so its tests (`key_store/tests.rs`) pause the clock
//! and move it on instead of waiting; the JWK Set comes through [`JwksSource`], so those tests
//! need no socket.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use url::Url;

use super::jwk::{ParsedKeys, VerifyingKey, parse_jwks};
use super::outbound::{self, FetchError};
use crate::config::JwksSettings;
use crate::telemetry::Metrics;

/// The longest time between two refreshes of the key set, whatever `max-age` the JWKS asks
/// for. Keycloak 26.7 sends its JWKS with `Cache-Control: no-cache` (measured on 2026-12-07
/// against the distribution `scripts/test` runs), so with Keycloak the refresh comes every
/// `MCP_JWKS_MIN_REFRESH_SECS` and this bound never applies; it matters when a proxy in front
/// of Keycloak adds a long `max-age`, and then bounds how long a key deleted in Keycloak is
/// still trusted to an hour. It was the setting `MCP_JWKS_MAX_REFRESH_SECS`, which no
/// deployment had a reason to change (`MCP_JWKS_MIN_REFRESH_SECS` is at most this).
pub const MAX_REFRESH: Duration = Duration::from_secs(3600);

/// The least time between two JWKS fetches caused by tokens with an unknown `kid`. It bounds
/// what a flood of made-up kids costs Keycloak: `bench/run`'s unknown-kid row sends about
/// 66 000 such tokens a second, and they caused 2 fetches in its 5 s (docs/benchmarks.md); at
/// most 12 fetches a minute per replica is far below what Keycloak's certificate endpoint
/// serves. A key Keycloak has just started publishing waits for it only when another unknown
/// kid came in the 5 s before, as the start-up load and the scheduled refreshes never count.
/// It was the setting `MCP_JWKS_REFETCH_INTERVAL_SECS` (before that `MCP_JWKS_COOLDOWN_SECS`),
/// which no deployment, script or test had a reason to change.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(5);

/// A boxed future, so the key store can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why no key could be given for a `kid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the issuer publishes no signing key with this kid")]
    UnknownKid,
    #[error("{0}")]
    Unavailable(String),
}

/// What the key store knows right now, for readiness and metrics.
#[derive(Debug, Clone, Default)]
pub struct KeyStatus {
    pub keys: usize,
    pub kids: Vec<String>,
    /// Time since the keys in use were fetched; `None` when no usable keys are held.
    pub age: Option<Duration>,
    /// Why the last fetch failed, if it did.
    pub last_error: Option<FetchError>,
}

/// Where verifying keys come from.
pub trait KeyStore: Send + Sync + 'static {
    /// The key for `kid`, refetching the set if the kid is new (at most once per refetch interval).
    fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerifyingKey>, KeyError>>;
    /// Whether `kid` is in the usable key set now, without fetching.
    fn publishes(&self, kid: &str) -> bool;
    fn status(&self) -> KeyStatus;
}

/// A key set that never changes: the keys `check` read from the JWKS once, or a benchmark's.
pub struct FixedKeys(HashMap<String, Arc<VerifyingKey>>);

impl FixedKeys {
    pub fn new(keys: HashMap<String, Arc<VerifyingKey>>) -> Self {
        FixedKeys(keys)
    }
}

impl KeyStore for FixedKeys {
    fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerifyingKey>, KeyError>> {
        let key = self.0.get(kid).cloned().ok_or(KeyError::UnknownKid);
        Box::pin(std::future::ready(key))
    }

    fn publishes(&self, kid: &str) -> bool {
        self.0.contains_key(kid)
    }

    fn status(&self) -> KeyStatus {
        let mut kids: Vec<String> = self.0.keys().cloned().collect();
        kids.sort();
        KeyStatus {
            keys: kids.len(),
            kids,
            age: None,
            last_error: None,
        }
    }
}

struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: Instant,
}

/// A JWK Set document as its source gave it.
pub struct JwksDocument {
    pub url: Url,
    pub body: Vec<u8>,
    /// How long the source said the document may be cached (`Cache-Control: max-age`).
    pub max_age: Option<Duration>,
}

/// Where the JWK Set comes from: Keycloak over HTTP in the server, a document held in memory
/// in the key store's tests (which run on a paused clock, and a paused clock jumps ahead while a
/// real socket waits).
pub trait JwksSource: Send + Sync + 'static {
    /// Fetches the JWK Set; with `rediscover`, the discovery document is read again first.
    fn fetch(&self, rediscover: bool) -> BoxFuture<'_, Result<JwksDocument, FetchError>>;
}

/// Keycloak's JWK Set, at `KC_JWKS_URL` or at the `jwks_uri` of its discovery document.
pub struct KeycloakJwks {
    client: reqwest::Client,
    discovery_url: Url,
    configured: Option<Url>,
    issuer: String,
    discovered: RwLock<Option<Url>>,
}

impl KeycloakJwks {
    pub fn new(
        client: reqwest::Client,
        discovery_url: Url,
        jwks_url: Option<Url>,
        issuer: String,
    ) -> Self {
        KeycloakJwks {
            client,
            discovery_url,
            configured: jwks_url,
            issuer,
            discovered: RwLock::new(None),
        }
    }

    async fn get(&self, rediscover: bool) -> Result<JwksDocument, FetchError> {
        let known = (self.configured.clone())
            .or_else(|| self.discovered.read().expect("lock poisoned").clone());
        let url = match known {
            Some(url) if !rediscover || self.configured.is_some() => url,
            _ => {
                let url =
                    outbound::discover_jwks_uri(&self.client, &self.discovery_url, &self.issuer)
                        .await?;
                *self.discovered.write().expect("lock poisoned") = Some(url.clone());
                url
            }
        };
        let doc = outbound::get(&self.client, &url).await?;
        Ok(JwksDocument {
            url,
            body: doc.body,
            max_age: doc.max_age,
        })
    }
}

impl JwksSource for KeycloakJwks {
    fn fetch(&self, rediscover: bool) -> BoxFuture<'_, Result<JwksDocument, FetchError>> {
        Box::pin(self.get(rediscover))
    }
}

/// The JWKS-backed [`KeyStore`].
pub struct JwksKeyStore {
    source: Box<dyn JwksSource>,
    settings: JwksSettings,
    metrics: Arc<Metrics>,
    current: RwLock<Option<Arc<KeySet>>>,
    last_error: RwLock<Option<FetchError>>,
    /// When the last refetch caused by an unknown kid started; nothing else sets it.
    last_refetch: Mutex<Option<Instant>>,
    /// Coalesces concurrent refetches caused by unknown kids into one fetch; the value says
    /// whether the refetch interval allowed a fetch.
    flight: moka::future::Cache<(), bool>,
}

impl JwksKeyStore {
    pub fn new(source: Box<dyn JwksSource>, settings: JwksSettings, metrics: Arc<Metrics>) -> Self {
        JwksKeyStore {
            source,
            settings,
            metrics,
            current: RwLock::new(None),
            last_error: RwLock::new(None),
            last_refetch: Mutex::new(None),
            flight: moka::future::Cache::new(1),
        }
    }

    /// Fetches and installs the key set now; returns how long until the next refresh is due.
    /// With `rediscover`, the discovery document is read again even if a JWKS URL is known.
    pub async fn refresh(&self, rediscover: bool) -> Result<Duration, FetchError> {
        let result = self.fetch(rediscover).await;
        self.metrics.jwks_fetch(match &result {
            Ok(_) => "success",
            Err(e) => e.outcome(),
        });
        match result {
            Ok((parsed, url, max_age)) => {
                self.install(parsed, &url);
                *self.last_error.write().expect("lock poisoned") = None;
                let wanted = max_age.unwrap_or(Duration::from_secs(300));
                Ok(wanted.max(self.settings.min_refresh).min(MAX_REFRESH))
            }
            Err(error) => {
                *self.last_error.write().expect("lock poisoned") = Some(error.clone());
                Err(error)
            }
        }
    }

    async fn fetch(
        &self,
        rediscover: bool,
    ) -> Result<(ParsedKeys, Url, Option<Duration>), FetchError> {
        let JwksDocument { url, body, max_age } = self.source.fetch(rediscover).await?;
        let invalid = |message: String, public| FetchError::Invalid {
            url: url.to_string(),
            message,
            public,
        };
        let parsed = parse_jwks(&body).map_err(|e| {
            invalid(
                e.to_string(),
                "the JWKS is not a JWK Set; check KC_JWKS_URL",
            )
        })?;
        for reason in &parsed.skipped {
            tracing::debug!(jwks_url = %url, reason, "JWKS key not used");
        }
        if parsed.keys.is_empty() {
            return Err(invalid(
                format!(
                    "no usable signing key (need use \"sig\" with one of RS256..512, PS256..512, ES256, ES384, EdDSA); left out: {}",
                    parsed.skipped.join("; ")
                ),
                "the JWKS has no usable signing key (use \"sig\", an allowed alg, RSA of 2048 bits or more)",
            ));
        }
        Ok((parsed, url, max_age))
    }

    fn install(&self, parsed: ParsedKeys, url: &Url) {
        let new_kids: BTreeSet<&String> = parsed.keys.keys().collect();
        let old = self.current.read().expect("lock poisoned").clone();
        let old_kids: BTreeSet<&String> = old.iter().flat_map(|s| s.keys.keys()).collect();
        if new_kids != old_kids {
            let added: Vec<&str> = new_kids.difference(&old_kids).map(|k| k.as_str()).collect();
            let removed: Vec<&str> = old_kids.difference(&new_kids).map(|k| k.as_str()).collect();
            tracing::info!(jwks_url = %url, added = %added.join(" "), removed = %removed.join(" "), keys = new_kids.len(), "signing keys updated");
        }
        let set = KeySet {
            keys: parsed.keys,
            fetched_at: Instant::now(),
        };
        *self.current.write().expect("lock poisoned") = Some(Arc::new(set));
    }

    /// The current set if it is fresh enough to use.
    fn usable(&self) -> Option<Arc<KeySet>> {
        let set = self.current.read().expect("lock poisoned").clone()?;
        (set.fetched_at.elapsed() <= self.settings.max_stale).then_some(set)
    }

    /// Whether an unknown kid may cause a refetch now; if so, the interval starts again.
    fn take_refetch(&self) -> bool {
        let mut last = self.last_refetch.lock().expect("lock poisoned");
        if last.is_some_and(|at| at.elapsed() < REFETCH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    async fn lookup(&self, kid: &str) -> Result<Arc<VerifyingKey>, KeyError> {
        if let Some(key) = self.usable().and_then(|s| s.keys.get(kid).cloned()) {
            return Ok(key);
        }
        // Everyone who misses while a refetch is under way waits for that one fetch. The
        // interval is checked inside, by whoever runs the future, so a miss right after a
        // fetch started still waits for its result, and a failed fetch is not retried by the
        // waiters. The answer says whether a fetch was allowed.
        let fetched = self
            .flight
            .try_get_with((), async {
                if !self.take_refetch() {
                    return Ok::<bool, std::convert::Infallible>(false);
                }
                if let Err(e) = self.refresh(false).await {
                    tracing::warn!(error = %e, "refetching signing keys for an unknown kid failed");
                }
                Ok(true)
            })
            .await
            .unwrap_or(true);
        self.flight.invalidate(&()).await;
        let Some(set) = self.usable() else {
            let why = self.last_error.read().expect("lock poisoned").clone();
            return Err(KeyError::Unavailable(why.map_or_else(
                || "signing keys are not loaded yet".into(),
                |e| e.to_string(),
            )));
        };
        let key = set.keys.get(kid).cloned();
        if key.is_none() && !fetched {
            self.metrics.jwks_refetch_limited();
        }
        key.ok_or(KeyError::UnknownKid)
    }
}

impl crate::telemetry::Scraped for JwksKeyStore {
    fn scrape(&self, s: &mut crate::telemetry::Scrape<'_>) -> std::fmt::Result {
        let status = self.status();
        let age = status.age.map_or(-1.0, |a| a.as_secs_f64());
        s.gauge(
            "jwks_age_seconds",
            "Age of the signing keys in use (-1 when none)",
            age,
        )?;
        s.gauge("jwks_keys", "Usable signing keys held", status.keys as i64)
    }
}

impl KeyStore for JwksKeyStore {
    fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Arc<VerifyingKey>, KeyError>> {
        Box::pin(self.lookup(kid))
    }

    fn publishes(&self, kid: &str) -> bool {
        self.usable().is_some_and(|s| s.keys.contains_key(kid))
    }

    fn status(&self) -> KeyStatus {
        let set = self.usable();
        let mut kids: Vec<String> = set.iter().flat_map(|s| s.keys.keys().cloned()).collect();
        kids.sort();
        KeyStatus {
            keys: kids.len(),
            kids,
            age: set.map(|s| s.fetched_at.elapsed()),
            last_error: self.last_error.read().expect("lock poisoned").clone(),
        }
    }
}

/// Keeps the key set fresh until the returned task is aborted: refreshes at the interval the
/// JWKS response asks for, and after failures retries with exponential backoff (1 s to 60 s).
pub fn spawn_refresher(store: Arc<JwksKeyStore>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            match store.refresh(true).await {
                Ok(next) => {
                    backoff = Duration::from_secs(1);
                    tokio::time::sleep(next).await;
                }
                Err(error) => {
                    let age = store.status().age.map(|a| a.as_secs());
                    tracing::warn!(%error, retry_in_secs = backoff.as_secs(), keys_age_secs = age, "could not refresh signing keys");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests;
