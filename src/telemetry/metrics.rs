//! The Prometheus metrics the server exports, and how a request is counted without a lock.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{METHODS, STATUSES};
use crate::routes::LABELS as ROUTES;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabel {
    result: &'static str,
}

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
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// `requests` by route, method and [`STATUSES`] index, filled in on first use.
    request_counters: Box<[OnceLock<Counter>]>,
    /// `http_request_duration_seconds` by route.
    route_durations: [Histogram; ROUTES.len()],
    rejections: Family<ReasonLabel, Counter>,
    jwks_fetches: Family<OutcomeLabel, Counter>,
    token_cache_hits: Counter,
    token_cache_misses: Counter,
    jwks_age: Gauge<f64, AtomicU64>,
    jwks_keys: Gauge,
    token_cache_entries: Gauge,
    jwks_refetches_limited: Counter,
    fair_use_refusals: Family<LimitLabel, Counter>,
    ranking: Gauge,
    sse_queued_bytes: Gauge,
    sse_sessions: Gauge,
    corpus_documents: Gauge,
    corpus_skipped: Gauge,
    corpus_reloads: Family<OutcomeLabel, Counter>,
    search_cache: Family<CacheLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcp");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to produce response headers, by route",
            durations.clone(),
        );
        let rejections = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "token_rejections",
            "Requests refused by the token gate, by reason",
            rejections.clone(),
        );
        let jwks_fetches = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "jwks_fetches",
            "JWKS fetches by outcome",
            jwks_fetches.clone(),
        );
        let token_cache = Family::<CacheLabel, Counter>::default();
        registry.register(
            "token_cache_lookups",
            "Verified-token cache lookups by result",
            token_cache.clone(),
        );
        let jwks_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "jwks_age_seconds",
            "Age of the signing keys in use (-1 when none)",
            jwks_age.clone(),
        );
        let jwks_keys = Gauge::default();
        registry.register("jwks_keys", "Usable signing keys held", jwks_keys.clone());
        let token_cache_entries = Gauge::default();
        registry.register(
            "token_cache_entries",
            "Verified tokens remembered",
            token_cache_entries.clone(),
        );
        let jwks_refetches_limited = Counter::default();
        registry.register(
            "jwks_refetches_limited",
            "Tokens with an unknown key id refused without a JWKS fetch, because one such fetch ran less than MCP_JWKS_REFETCH_INTERVAL_SECS before",
            jwks_refetches_limited.clone(),
        );
        let fair_use_refusals = Family::<LimitLabel, Counter>::default();
        registry.register(
            "fair_use_refusals",
            "Calls refused by a per-caller limit: rate (MCP_RATE_LIMIT_PER_MIN), requests (MCP_REQUEST_LIMIT_PER_MIN), queue (MCP_RANKING_QUEUE_PER_CALLER), sse_sessions (MCP_SSE_MAX_SESSIONS_PER_SUBJECT), sse_outbox (an /sse stream not read)",
            fair_use_refusals.clone(),
        );
        for limit in ["rate", "requests", "queue", "sse_sessions", "sse_outbox"] {
            let _ = fair_use_refusals.get_or_create(&LimitLabel { limit });
        }
        let ranking = Gauge::default();
        registry.register(
            "ranking_searches",
            "Searches ranking on the ranking pool now (at most MCP_RANKING_THREADS)",
            ranking.clone(),
        );
        let sse_queued_bytes = Gauge::default();
        registry.register(
            "sse_queued_bytes",
            "Bytes of answers waiting on /sse streams for their clients to read (at most MCP_SSE_OUTBOX_TOTAL_MIB)",
            sse_queued_bytes.clone(),
        );
        let sse_sessions = Gauge::default();
        registry.register(
            "sse_sessions",
            "Open 2024-11-05 /sse streams",
            sse_sessions.clone(),
        );
        let corpus_documents = Gauge::default();
        registry.register(
            "corpus_documents",
            "Documents in the search index being served",
            corpus_documents.clone(),
        );
        let corpus_skipped = Gauge::default();
        registry.register(
            "corpus_skipped",
            "Corpus files and records skipped by the load that built the index being served",
            corpus_skipped.clone(),
        );
        let corpus_reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "corpus_reloads",
            "Index builds by outcome (ok, failed)",
            corpus_reloads.clone(),
        );
        let search_cache = Family::<CacheLabel, Counter>::default();
        registry.register(
            "search_cache",
            "Searches answered from the result cache (hit) and run on the index (miss)",
            search_cache.clone(),
        );
        let request_counters = (0..ROUTES.len() * METHODS.len() * STATUSES.len())
            .map(|_| OnceLock::new())
            .collect();
        let route_durations =
            ROUTES.map(|route| durations.get_or_create(&RouteLabel { route }).clone());
        let token_cache_hits = token_cache
            .get_or_create(&CacheLabel { result: "hit" })
            .clone();
        let token_cache_misses = token_cache
            .get_or_create(&CacheLabel { result: "miss" })
            .clone();
        Metrics {
            registry,
            request_counters,
            route_durations,
            token_cache_hits,
            token_cache_misses,
            search_cache,
            corpus_documents,
            corpus_skipped,
            corpus_reloads,
            requests,
            rejections,
            jwks_fetches,
            jwks_age,
            jwks_keys,
            token_cache_entries,
            jwks_refetches_limited,
            fair_use_refusals,
            ranking,
            sse_queued_bytes,
            sse_sessions,
        }
    }

    /// Shows a zero for each rejection reason before the first rejection; the gate declares
    /// its reasons when it is built.
    pub fn declare_rejections(&self, reasons: impl IntoIterator<Item = &'static str>) {
        for reason in reasons {
            let _ = self.rejections.get_or_create(&ReasonLabel { reason });
        }
    }

    pub fn rejection(&self, reason: &'static str) {
        self.rejections.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn jwks_fetch(&self, outcome: &'static str) {
        self.jwks_fetches
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// A call refused by a per-caller limit, named as in `mcp_fair_use_refusals_total`.
    pub fn fair_use_refusal(&self, limit: &'static str) {
        self.fair_use_refusals
            .get_or_create(&LimitLabel { limit })
            .inc();
    }

    pub fn jwks_refetch_limited(&self) {
        self.jwks_refetches_limited.inc();
    }

    pub fn token_cache(&self, hit: bool) {
        if hit {
            self.token_cache_hits.inc();
        } else {
            self.token_cache_misses.inc();
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
                self.request_counters[slot]
                    .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                    .inc();
            }
            None => {
                self.requests.get_or_create(&labels()).inc();
            }
        }
        self.route_durations[route].observe(seconds);
    }

    /// Renders the registry after setting the gauges and counters read at scrape time.
    pub fn render(&self, now: &Gauges) -> String {
        self.jwks_age
            .set(now.jwks_age.map_or(-1.0, |a| a.as_secs_f64()));
        self.jwks_keys.set(now.jwks_keys as i64);
        self.token_cache_entries.set(now.cached_tokens as i64);
        self.sse_sessions.set(now.sse_sessions as i64);
        self.ranking.set(now.ranking as i64);
        self.sse_queued_bytes.set(now.sse_queued_bytes as i64);
        self.corpus_documents.set(now.corpus_documents as i64);
        self.corpus_skipped.set(now.corpus_skipped as i64);
        for (outcome, count) in [("ok", now.reloads_ok), ("failed", now.reloads_failed)] {
            self.corpus_reloads
                .get_or_create(&OutcomeLabel { outcome })
                .inner()
                .store(count, Ordering::Relaxed);
        }
        for (result, count) in [("hit", now.cache_hits), ("miss", now.cache_misses)] {
            self.search_cache
                .get_or_create(&CacheLabel { result })
                .inner()
                .store(count, Ordering::Relaxed);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
