//! The Prometheus metrics the server exports, and how a request is counted without a lock.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

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
struct StateLabel {
    state: &'static str,
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

/// The state replicas share on Redis.
struct Replicas {
    redis_up: Gauge,
    redis_errors: Counter,
    fallbacks: Family<StateLabel, Counter>,
}

/// Requests by route, method and status, and how long they took.
struct Http {
    requests: Family<RequestLabels, Counter>,
    /// `requests` by route, method and [`STATUSES`] index, filled in on first use.
    request_counters: Box<[OnceLock<Counter>]>,
    /// `http_request_duration_seconds` by route.
    route_durations: [Histogram; ROUTES.len()],
}

/// The token gate, the key cache and the verified-token cache.
struct Auth {
    rejections: Family<ReasonLabel, Counter>,
    jwks_fetches: Family<OutcomeLabel, Counter>,
    token_cache_hits: Counter,
    token_cache_misses: Counter,
    jwks_refetches_limited: Counter,
    jwks_age: Gauge<f64, AtomicU64>,
    jwks_keys: Gauge,
    token_cache_entries: Gauge,
    dpop_proofs: Gauge,
}

/// What callers use: fair-use refusals, the ranking pool, the `/sse` streams.
struct Usage {
    fair_use_refusals: Family<LimitLabel, Counter>,
    ranking: Gauge,
    sse_queued_bytes: Gauge,
    sse_sessions: Gauge,
}

/// The documents served and the search cache.
struct Documents {
    corpus_documents: Gauge,
    corpus_skipped: Gauge,
    corpus_reloads: Family<OutcomeLabel, Counter>,
    search_cache: Family<CacheLabel, Counter>,
}

/// Registers `metric` under `name` and gives it back, so a group's fields are made in one line.
fn add<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    fn new(r: &mut Registry) -> Self {
        let help = "HTTP requests by route, method and status";
        let requests = add(r, "http_requests", help, Family::default());
        let durations = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ])
        });
        let help = "Time to produce response headers, by route";
        let durations = add(r, "http_request_duration_seconds", help, durations);
        Http {
            requests,
            request_counters: (0..ROUTES.len() * METHODS.len() * STATUSES.len())
                .map(|_| OnceLock::new())
                .collect(),
            route_durations: ROUTES
                .map(|route| durations.get_or_create(&RouteLabel { route }).clone()),
        }
    }
}

impl Auth {
    fn new(r: &mut Registry) -> Self {
        let help = "Verified-token cache lookups by result";
        let token_cache = add(
            r,
            "token_cache_lookups",
            help,
            Family::<CacheLabel, Counter>::default(),
        );
        let cache = |result| token_cache.get_or_create(&CacheLabel { result }).clone();
        let dpop =
            "DPoP proofs remembered to refuse their replay (at most MCP_DPOP_REPLAY_CACHE_SIZE)";
        let limited = "Tokens with an unknown key id refused without a JWKS fetch, because one such \
                       fetch ran less than MCP_JWKS_REFETCH_INTERVAL_SECS before";
        Auth {
            rejections: add(
                r,
                "token_rejections",
                "Requests refused by the token gate, by reason",
                Family::default(),
            ),
            jwks_fetches: add(
                r,
                "jwks_fetches",
                "JWKS fetches by outcome",
                Family::default(),
            ),
            token_cache_hits: cache("hit"),
            token_cache_misses: cache("miss"),
            jwks_refetches_limited: add(r, "jwks_refetches_limited", limited, Counter::default()),
            jwks_age: add(
                r,
                "jwks_age_seconds",
                "Age of the signing keys in use (-1 when none)",
                Gauge::default(),
            ),
            jwks_keys: add(r, "jwks_keys", "Usable signing keys held", Gauge::default()),
            token_cache_entries: add(
                r,
                "token_cache_entries",
                "Verified tokens remembered",
                Gauge::default(),
            ),
            dpop_proofs: add(r, "dpop_replay_entries", dpop, Gauge::default()),
        }
    }
}

impl Usage {
    fn new(r: &mut Registry) -> Self {
        let refusals = "Calls refused by a per-caller limit: rate (MCP_RATE_LIMIT_PER_MIN), \
                        requests (MCP_REQUEST_LIMIT_PER_MIN), queue (MCP_RANKING_QUEUE_PER_CALLER), \
                        sse_sessions (MCP_SSE_MAX_SESSIONS_PER_SUBJECT), sse_outbox (an /sse stream not read)";
        let fair_use_refusals = add(r, "fair_use_refusals", refusals, Family::default());
        for limit in ["rate", "requests", "queue", "sse_sessions", "sse_outbox"] {
            let _ = fair_use_refusals.get_or_create(&LimitLabel { limit });
        }
        let ranking = "Searches ranking on the ranking pool now (at most MCP_RANKING_THREADS)";
        let queued = "Bytes of answers waiting on /sse streams for their clients to read \
                      (at most MCP_SSE_OUTBOX_TOTAL_MIB)";
        Usage {
            fair_use_refusals,
            ranking: add(r, "ranking_searches", ranking, Gauge::default()),
            sse_queued_bytes: add(r, "sse_queued_bytes", queued, Gauge::default()),
            sse_sessions: add(
                r,
                "sse_sessions",
                "Open 2024-11-05 /sse streams",
                Gauge::default(),
            ),
        }
    }
}

impl Documents {
    fn new(r: &mut Registry) -> Self {
        let skipped =
            "Corpus files and records skipped by the load that built the index being served";
        let cache = "Searches answered from the result cache (hit) and run on the index (miss)";
        Documents {
            corpus_documents: add(
                r,
                "corpus_documents",
                "Documents in the search index being served",
                Gauge::default(),
            ),
            corpus_skipped: add(r, "corpus_skipped", skipped, Gauge::default()),
            corpus_reloads: add(
                r,
                "corpus_reloads",
                "Index builds by outcome (ok, failed)",
                Family::default(),
            ),
            search_cache: add(r, "search_cache", cache, Family::default()),
        }
    }
}

impl Replicas {
    fn new(r: &mut Registry) -> Self {
        let up = "1 when the Redis of MCP_REDIS_URL answered when last asked, 0 when it did not, \
                  -1 without MCP_REDIS_URL (each replica keeps its own state)";
        let fallbacks = "Decisions a replica took alone because Redis did not answer, by the \
                         state it would have asked (dpop_replay, rate)";
        Replicas {
            redis_up: add(r, "redis_up", up, Gauge::default()),
            redis_errors: add(
                r,
                "redis_errors",
                "Redis commands that failed or did not answer within MCP_REDIS_TIMEOUT_MS",
                Counter::default(),
            ),
            fallbacks: add(r, "replica_fallbacks", fallbacks, Family::default()),
        }
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
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
