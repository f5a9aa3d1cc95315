//! The Prometheus metrics the server exports, and how a request is counted without a lock.

use std::sync::atomic::Ordering;

use prometheus_client::registry::Registry;

use super::{METHODS, STATUSES};
use crate::routes::LABELS as ROUTES;
use families::{
    Auth, CacheLabel, Documents, Http, LimitLabel, OutcomeLabel, ReasonLabel, Replicas,
    RequestLabels, StateLabel, Usage,
};

mod families;

/// What the gauges (and the counters kept elsewhere) show at a scrape, read by the caller.
#[derive(Debug, Default)]
pub struct Gauges {
    pub jwks_age: Option<std::time::Duration>,
    pub jwks_keys: usize,
    pub cached_tokens: u64,
    pub sse_sessions: usize,
    pub ranking: usize,
    pub sse_queued_bytes: usize,
    pub corpus_documents: u64,
    pub corpus_skipped: u64,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub dpop_proofs: usize,
    pub replicas: SharedState,
}

/// The state replicas share (`crate::replicas`), as a scrape sees it.
#[derive(Debug, Default)]
pub struct SharedState {
    /// `None` without `MCP_REDIS_URL`; otherwise whether Redis answered when last asked.
    pub redis_up: Option<bool>,
    pub redis_errors: u64,
    /// Decisions a replica took alone because Redis did not answer, by kind of state.
    pub fallbacks: Vec<(&'static str, u64)>,
}

/// Every metric the server exports, in four groups that register themselves.
pub struct Metrics {
    registry: Registry,
    http: Http,
    auth: Auth,
    usage: Usage,
    documents: Documents,
    replicas: Replicas,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcp");
        Metrics {
            http: Http::new(&mut registry),
            auth: Auth::new(&mut registry),
            usage: Usage::new(&mut registry),
            documents: Documents::new(&mut registry),
            replicas: Replicas::new(&mut registry),
            registry,
        }
    }

    /// Shows a zero for each rejection reason before the first rejection; the gate declares
    /// its reasons when it is built.
    pub fn declare_rejections(&self, reasons: impl IntoIterator<Item = &'static str>) {
        for reason in reasons {
            let _ = self.auth.rejections.get_or_create(&ReasonLabel { reason });
        }
    }

    pub fn rejection(&self, reason: &'static str) {
        self.auth
            .rejections
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn jwks_fetch(&self, outcome: &'static str) {
        self.auth
            .jwks_fetches
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// A call refused by a per-caller limit, named as in `mcp_fair_use_refusals_total`.
    pub fn fair_use_refusal(&self, limit: &'static str) {
        self.usage
            .fair_use_refusals
            .get_or_create(&LimitLabel { limit })
            .inc();
    }

    pub fn jwks_refetch_limited(&self) {
        self.auth.jwks_refetches_limited.inc();
    }

    pub fn token_cache(&self, hit: bool) {
        if hit {
            self.auth.token_cache_hits.inc();
        } else {
            self.auth.token_cache_misses.inc();
        }
    }

    /// Counts a request and records its duration; `route` and `method` index [`ROUTES`] and
    /// [`METHODS`].
    pub(super) fn request(&self, route: usize, method: usize, status: u16, seconds: f64) {
        let labels = || RequestLabels {
            route: ROUTES[route],
            method: METHODS[method],
            status,
        };
        match STATUSES.iter().position(|s| *s == status) {
            Some(s) => {
                let slot = (route * METHODS.len() + method) * STATUSES.len() + s;
                self.http.request_counters[slot]
                    .get_or_init(|| self.http.requests.get_or_create(&labels()).clone())
                    .inc();
            }
            None => {
                self.http.requests.get_or_create(&labels()).inc();
            }
        }
        self.http.route_durations[route].observe(seconds);
    }

    /// Renders the registry after setting the gauges and counters read at scrape time.
    pub fn render(&self, now: &Gauges) -> String {
        self.auth
            .jwks_age
            .set(now.jwks_age.map_or(-1.0, |a| a.as_secs_f64()));
        self.auth.jwks_keys.set(now.jwks_keys as i64);
        self.auth.token_cache_entries.set(now.cached_tokens as i64);
        self.auth.dpop_proofs.set(now.dpop_proofs as i64);
        let shared = &now.replicas;
        self.replicas
            .redis_up
            .set(shared.redis_up.map_or(-1, i64::from));
        self.replicas
            .redis_errors
            .inner()
            .store(shared.redis_errors, Ordering::Relaxed);
        for (state, count) in &shared.fallbacks {
            self.replicas
                .fallbacks
                .get_or_create(&StateLabel { state })
                .inner()
                .store(*count, Ordering::Relaxed);
        }
        self.usage.sse_sessions.set(now.sse_sessions as i64);
        self.usage.ranking.set(now.ranking as i64);
        self.usage.sse_queued_bytes.set(now.sse_queued_bytes as i64);
        self.documents
            .corpus_documents
            .set(now.corpus_documents as i64);
        self.documents.corpus_skipped.set(now.corpus_skipped as i64);
        for (outcome, count) in [("ok", now.reloads_ok), ("failed", now.reloads_failed)] {
            self.documents
                .corpus_reloads
                .get_or_create(&OutcomeLabel { outcome })
                .inner()
                .store(count, Ordering::Relaxed);
        }
        for (result, count) in [("hit", now.cache_hits), ("miss", now.cache_misses)] {
            self.documents
                .search_cache
                .get_or_create(&CacheLabel { result })
                .inner()
                .store(count, Ordering::Relaxed);
        }
        self.http
            .spans_dropped
            .inner()
            .store(super::traces::dropped(), Ordering::Relaxed);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
