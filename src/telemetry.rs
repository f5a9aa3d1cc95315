//! Observability: structured logs (`MCP_LOG_FORMAT`, `RUST_LOG`), a request id and span per
//! request, and Prometheus metrics (exposed in the OpenMetrics text format at `/metrics`).
//!
//! Only the path of a request is logged, never its query or headers, so tokens cannot reach
//! the log; `Authorization` and `Cookie` are also marked sensitive, so a `Debug` print of a
//! request shows them as `Sensitive`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::app::AppState;
use crate::config::LogFormat;

/// Starts logging to standard error. `format` `None` picks pretty on a terminal, JSON otherwise.
pub fn init_logging(format: Option<LogFormat>, filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        Some(f) => f == LogFormat::Json,
        None => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

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
struct CacheLabel {
    result: &'static str,
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
    unknown_kid_entries: Gauge,
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
        for reason in crate::auth::Reason::ALL {
            let _ = rejections.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            });
        }
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
        let unknown_kid_entries = Gauge::default();
        registry.register(
            "unknown_kid_cache_entries",
            "Unknown key ids remembered",
            unknown_kid_entries.clone(),
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
            unknown_kid_entries,
            sse_sessions,
        }
    }

    pub fn rejection(&self, reason: crate::auth::Reason) {
        self.rejections
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }

    pub fn jwks_fetch(&self, outcome: &'static str) {
        self.jwks_fetches
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
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
    fn request(&self, route: usize, method: usize, status: u16, seconds: f64) {
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

    /// Renders the registry after refreshing the gauges that are read at scrape time.
    pub fn render(&self, state: &AppState) -> String {
        let keys = state.keys.status();
        self.jwks_age
            .set(keys.age.map_or(-1.0, |a| a.as_secs_f64()));
        self.jwks_keys.set(keys.keys as i64);
        self.unknown_kid_entries
            .set(keys.unknown_kids_cached as i64);
        self.token_cache_entries
            .set(state.validator.cached_tokens() as i64);
        self.sse_sessions.set(state.sessions.len() as i64);
        let corpus = state.tools.corpus().stats();
        self.corpus_documents
            .set(corpus.documents.load(Ordering::Relaxed) as i64);
        self.corpus_skipped
            .set(corpus.skipped.load(Ordering::Relaxed) as i64);
        for (outcome, count) in [
            ("ok", &corpus.reloads_ok),
            ("failed", &corpus.reloads_failed),
        ] {
            self.corpus_reloads
                .get_or_create(&OutcomeLabel { outcome })
                .inner()
                .store(count.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        for (result, count) in [("hit", &corpus.cache.hits), ("miss", &corpus.cache.misses)] {
            self.search_cache
                .get_or_create(&CacheLabel { result })
                .inner()
                .store(count.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The routes this server has, as bounded metric labels.
const ROUTES: [&str; 9] = [
    "/mcp",
    "/sse",
    "/messages",
    "/healthz",
    "/readyz",
    "/metrics",
    "/",
    "/.well-known/oauth-protected-resource",
    "other",
];

/// The index in [`ROUTES`] of the route a path belongs to.
fn route_index(path: &str) -> usize {
    match path {
        "/mcp" => 0,
        "/sse" => 1,
        "/messages" => 2,
        "/healthz" => 3,
        "/readyz" => 4,
        "/metrics" => 5,
        "/" => 6,
        p if p.starts_with("/.well-known/oauth-protected-resource") => 7,
        _ => 8,
    }
}

/// Request methods as bounded metric labels.
const METHODS: [&str; 7] = ["GET", "POST", "HEAD", "OPTIONS", "DELETE", "PUT", "other"];

fn method_index(method: &axum::http::Method) -> usize {
    use axum::http::Method;
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::HEAD => 2,
        Method::OPTIONS => 3,
        Method::DELETE => 4,
        Method::PUT => 5,
        _ => 6,
    }
}

/// The statuses this server answers with; a request counter for each of them and every route
/// and method is looked up in the metric family once and then kept, so counting a request
/// takes no lock and no hashing. Other statuses go through the family every time.
const STATUSES: [u16; 20] = [
    200, 202, 204, 304, 400, 401, 403, 404, 405, 406, 408, 413, 415, 421, 429, 431, 500, 502, 503,
    504,
];

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id: the caller's `X-Request-Id` when it is short and plain, else a new one made of
/// a per-process random prefix and a counter.
fn request_id(req: &Request) -> HeaderValue {
    if let Some(v) = req.headers().get(&X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= 64
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
        {
            return v.clone();
        }
    }
    static PREFIX: std::sync::OnceLock<[u8; 12]> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 6];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
        let mut hex = [0u8; 12];
        for (i, b) in bytes.iter().enumerate() {
            hex[2 * i] = HEX[usize::from(b >> 4)];
            hex[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        hex
    });
    let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
    // `<prefix>-<counter in hex>`, written without the formatting machinery: this runs for
    // every request.
    let mut id = [0u8; 12 + 1 + 16];
    id[..12].copy_from_slice(prefix);
    id[12] = b'-';
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
    for i in 0..digits {
        id[13 + i] = HEX[((n >> (4 * (digits - 1 - i))) & 15) as usize];
    }
    HeaderValue::from_bytes(&id[..13 + digits]).expect("hex and a dash are valid")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Marks credentials so that no `Debug` print of the request (ours or a library's) shows them.
/// One pass over the headers comparing names, rather than a lookup per name.
fn hide_credentials(headers: &mut axum::http::HeaderMap) {
    for (name, value) in headers.iter_mut() {
        if name == header::AUTHORIZATION || name == header::COOKIE {
            value.set_sensitive(true);
        }
    }
}

/// One request as telemetry sees it, from [`Observed::start`] to [`Observed::finish`].
pub struct Observed {
    started: Instant,
    id: HeaderValue,
    route: usize,
    method: usize,
    /// The request's span; what handles the request runs inside it.
    pub span: tracing::Span,
}

impl Observed {
    /// Gives the request an id and a span, and hides its credentials from `Debug`.
    pub fn start(req: &mut Request) -> Self {
        let started = Instant::now();
        hide_credentials(req.headers_mut());
        let id = request_id(req);
        let route = route_index(req.uri().path());
        let method = method_index(req.method());
        let span = tracing::info_span!("request", request_id = %id.to_str().unwrap_or(""), method = METHODS[method], path = %req.uri().path());
        Observed {
            started,
            id,
            route,
            method,
            span,
        }
    }

    /// The route the request is for, as its metric label (`other` for paths not served).
    pub fn route(&self) -> &'static str {
        ROUTES[self.route]
    }

    /// Records the request's metrics, logs its completion and puts its id on the response.
    pub fn finish(self, metrics: &Metrics, mut response: Response) -> Response {
        let status = response.status().as_u16();
        let elapsed = self.started.elapsed();
        metrics.request(self.route, self.method, status, elapsed.as_secs_f64());
        self.span.in_scope(|| {
            tracing::debug!(
                status,
                latency_us = elapsed.as_micros() as u64,
                "request finished"
            )
        });
        response.headers_mut().insert(X_REQUEST_ID.clone(), self.id);
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    #[test]
    fn request_ids_are_a_random_prefix_and_a_hex_counter() {
        let request = || axum::extract::Request::new(axum::body::Body::empty());
        let first = super::request_id(&request());
        let second = super::request_id(&request());
        let split = |v: &HeaderValue| {
            let (prefix, n) = v.to_str().unwrap().split_once('-').unwrap();
            (prefix.to_owned(), u64::from_str_radix(n, 16).unwrap())
        };
        let (a, n) = split(&first);
        let (b, m) = split(&second);
        assert_eq!(a, b);
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(m > n, "{first:?} then {second:?}");
        super::REQUEST_COUNTER.store(u64::MAX, std::sync::atomic::Ordering::Relaxed);
        let (_, max) = split(&super::request_id(&request()));
        assert_eq!(max, u64::MAX);
        let (_, zero) = split(&super::request_id(&request()));
        assert_eq!(zero, 0);
    }

    #[test]
    fn credentials_are_hidden_from_debug_output() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret-1"),
        );
        headers.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret-2"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("session=secret-3"));
        headers.append(header::ACCEPT, HeaderValue::from_static("application/json"));
        super::hide_credentials(&mut headers);
        let printed = format!("{headers:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("application/json"), "{printed}");
    }
}
