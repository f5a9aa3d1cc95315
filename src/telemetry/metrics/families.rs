//! The metric families, in the groups `Metrics` keeps them in, each registered under its name
//! and help text.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
pub(super) struct CacheLabel {
    pub(super) result: &'static str,
}

/// Requests by route, method and status, and how long they took.
pub(super) struct Http {
    pub(super) requests: Family<RequestLabels, Counter>,
    /// `requests` by route, method and [`STATUSES`] index, filled in on first use.
    pub(super) request_counters: Box<[OnceLock<Counter>]>,
    /// `http_request_duration_seconds` by route.
    pub(super) route_durations: [Histogram; ROUTES.len()],
}

/// The token gate, the key cache and the verified-token cache (what they hold is shown by the
/// parts themselves).
pub(super) struct Auth {
    pub(super) rejections: Family<ReasonLabel, Counter>,
    pub(super) jwks_fetches: Family<OutcomeLabel, Counter>,
    pub(super) token_cache_hits: Counter,
    pub(super) token_cache_misses: Counter,
    pub(super) jwks_refetches_limited: Counter,
}

/// Calls refused by a per-caller limit.
pub(super) struct Usage {
    pub(super) fair_use_refusals: Family<LimitLabel, Counter>,
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
    pub(super) fn new(r: &mut Registry) -> Self {
        let help = "Verified-token cache lookups by result";
        let token_cache = add(
            r,
            "token_cache_lookups",
            help,
            Family::<CacheLabel, Counter>::default(),
        );
        let cache = |result| token_cache.get_or_create(&CacheLabel { result }).clone();
        let limited = "Tokens with an unknown key id refused without a JWKS fetch, because one such \
                       fetch ran less than 5 s before";
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
        Usage { fair_use_refusals }
    }
}
