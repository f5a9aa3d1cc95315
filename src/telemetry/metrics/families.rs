//! The metric families, in the groups `Metrics` keeps them in, each registered under its name
//! and help text.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use crate::routes::LABELS as ROUTES;
use crate::telemetry::{METHODS, STATUSES};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    pub(super) route: &'static str,
    pub(super) method: &'static str,
    pub(super) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteLabel {
    pub(super) route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReasonLabel {
    pub(super) reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct OutcomeLabel {
    pub(super) outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct LimitLabel {
    pub(super) limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct StateLabel {
    pub(super) state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CacheLabel {
    pub(super) result: &'static str,
}

/// The state replicas share on Redis.
pub(super) struct Replicas {
    pub(super) redis_up: Gauge,
    pub(super) redis_errors: Counter,
    pub(super) fallbacks: Family<StateLabel, Counter>,
}

/// Requests by route, method and status, and how long they took.
pub(super) struct Http {
    pub(super) requests: Family<RequestLabels, Counter>,
    /// `requests` by route, method and [`STATUSES`] index, filled in on first use.
    pub(super) request_counters: Box<[OnceLock<Counter>]>,
    /// `http_request_duration_seconds` by route.
    pub(super) route_durations: [Histogram; ROUTES.len()],
    /// Spans dropped because the trace export queue was full (`telemetry::traces`).
    pub(super) spans_dropped: Counter,
}

/// The token gate, the key cache and the verified-token cache.
pub(super) struct Auth {
    pub(super) rejections: Family<ReasonLabel, Counter>,
    pub(super) jwks_fetches: Family<OutcomeLabel, Counter>,
    pub(super) token_cache_hits: Counter,
    pub(super) token_cache_misses: Counter,
    pub(super) jwks_refetches_limited: Counter,
    pub(super) jwks_age: Gauge<f64, AtomicU64>,
    pub(super) jwks_keys: Gauge,
    pub(super) token_cache_entries: Gauge,
    pub(super) dpop_proofs: Gauge,
}

/// What callers use: fair-use refusals, the ranking pool, the `/sse` streams.
pub(super) struct Usage {
    pub(super) fair_use_refusals: Family<LimitLabel, Counter>,
    pub(super) ranking: Gauge,
    pub(super) sse_queued_bytes: Gauge,
    pub(super) sse_sessions: Gauge,
}

/// The documents served and the search cache.
pub(super) struct Documents {
    pub(super) corpus_documents: Gauge,
    pub(super) corpus_skipped: Gauge,
    pub(super) corpus_reloads: Family<OutcomeLabel, Counter>,
    pub(super) search_cache: Family<CacheLabel, Counter>,
}

/// Registers `metric` under `name` and gives it back, so a group's fields are made in one line.
fn add<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Http {
    pub(super) fn new(r: &mut Registry) -> Self {
        let help = "HTTP requests by route, method and status";
        let requests = add(r, "http_requests", help, Family::default());
        let durations = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ])
        });
        let help = "Time to produce response headers, by route";
        let durations = add(r, "http_request_duration_seconds", help, durations);
        let dropped = "Trace spans dropped because the export queue was full, in spans \
                       (OTEL_BSP_MAX_QUEUE_SIZE) or in bytes";
        Http {
            spans_dropped: add(r, "trace_spans_dropped", dropped, Counter::default()),
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
    pub(super) fn new(r: &mut Registry) -> Self {
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
    pub(super) fn new(r: &mut Registry) -> Self {
        let refusals = "Calls refused by a per-caller limit: rate (MCP_RATE_LIMIT_PER_MIN), \
                        requests (MCP_REQUEST_LIMIT_PER_MIN), queue (MCP_RANKING_QUEUE_PER_CALLER), \
                        sse_sessions (MCP_SSE_MAX_SESSIONS_PER_SUBJECT), sse_outbox (an /sse stream not read), \
                        dpop_proofs (a caller's share of the DPoP replay cache)";
        let fair_use_refusals = add(r, "fair_use_refusals", refusals, Family::default());
        for limit in [
            "rate",
            "requests",
            "queue",
            "sse_sessions",
            "sse_outbox",
            "dpop_proofs",
        ] {
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
    pub(super) fn new(r: &mut Registry) -> Self {
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
    pub(super) fn new(r: &mut Registry) -> Self {
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
