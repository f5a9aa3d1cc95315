//! Observability: structured logs (`MCP_LOG_FORMAT`, `RUST_LOG`), a request id and span per
//! request, and Prometheus metrics (exposed in the OpenMetrics text format at `/metrics`).
//!
//! Only the path of a request is logged, never its query or headers, so tokens cannot reach
//! the log; `Authorization` and `Cookie` are also marked sensitive, so a `Debug` print of a
//! request shows them as `Sensitive`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use opentelemetry::KeyValue;

use crate::config::LogFormat;
use crate::routes::Route;

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

pub mod audit;
mod metrics;
pub mod traces;
pub use metrics::{Metrics, Scrape, Scraped};

/// Request methods as bounded metric labels.
const METHODS: [&str; 7] = ["GET", "POST", "HEAD", "OPTIONS", "DELETE", "PUT", "other"];

/// The index in [`METHODS`] of a method (`other` for the rest).
fn method_index(method: &axum::http::Method) -> usize {
    let named = &METHODS[..METHODS.len() - 1];
    named
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(named.len())
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

/// `bytes` in lowercase hex.
/// Longest text of a caller's that goes whole into a log, audit or span field, in characters:
/// the length of the longest search query a caller may send (`tools::search`).
pub const MAX_FIELD_CHARS: usize = 1000;

/// `text` as a log, audit or span field: whole when it is at most [`MAX_FIELD_CHARS`]
/// characters, else its first ones followed by a marker that says it was cut, how long it was
/// and the SHA-256 of the whole, so two long values can still be told apart.
pub fn bounded(text: &str) -> Cow<'_, str> {
    // Fast: a text of at most MAX_FIELD_CHARS bytes has at most that many characters.
    if text.len() <= MAX_FIELD_CHARS {
        return Cow::Borrowed(text);
    }
    let Some((cut, _)) = text.char_indices().nth(MAX_FIELD_CHARS) else {
        return Cow::Borrowed(text);
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    Cow::Owned(format!(
        "{}…[cut: {} bytes, sha256 {}]",
        &text[..cut],
        text.len(),
        hex(digest.as_ref())
    ))
}

pub fn hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 15)]));
    }
    hex
}

/// `N` bytes from the system's random generator, in lowercase hex: `/sse` session ids and
/// replica names.
pub fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the system random generator works");
    hex(&bytes)
}

/// Marks credentials so that no `Debug` print of the request (ours or a library's) shows them.
/// One pass over the headers comparing names, rather than a lookup per name.
fn hide_credentials(headers: &mut axum::http::HeaderMap) {
    for (name, value) in headers.iter_mut() {
        if name == header::AUTHORIZATION || name == header::COOKIE {
            value.set_sensitive(true);
        }
    }
}

/// The id of the request being answered and its span in a trace, left in its extensions for
/// whatever names the request (the audit trail) or traces work done for it (the token check,
/// each JSON-RPC message).
#[derive(Debug, Clone)]
pub struct RequestId {
    id: HeaderValue,
    span: traces::Span,
}

impl RequestId {
    pub fn new(id: HeaderValue) -> RequestId {
        RequestId {
            id,
            span: traces::Span::default(),
        }
    }

    /// The id of `req`; empty if the front layer gave it none.
    pub fn of<B>(req: &axum::http::Request<B>) -> RequestId {
        Self::in_extensions(req.extensions())
    }

    fn in_extensions(extensions: &axum::http::Extensions) -> RequestId {
        extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId::new(HeaderValue::from_static("")))
    }

    pub fn as_str(&self) -> &str {
        self.id.to_str().unwrap_or_default()
    }

    /// The request's span; nothing when traces are off.
    pub fn span(&self) -> &traces::Span {
        &self.span
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::in_extensions(&parts.extensions))
    }
}

/// One request as telemetry sees it, from [`Observed::start`] to [`Observed::finish`].
pub struct Observed {
    started: Instant,
    id: HeaderValue,
    route: Option<Route>,
    method: usize,
    /// The request's span in the log; what handles the request runs inside it.
    pub span: tracing::Span,
    /// The request's span in a trace.
    traced: traces::Span,
}

impl Observed {
    /// Gives the request an id and a span, and hides its credentials from `Debug`.
    pub fn start(req: &mut Request) -> Self {
        let started = Instant::now();
        hide_credentials(req.headers_mut());
        let id = request_id(req);
        let route = Route::of(req.uri().path());
        let method = method_index(req.method());
        let span = tracing::info_span!("request", request_id = %id.to_str().unwrap_or(""), method = METHODS[method], path = %bounded(req.uri().path()));
        let traced = traced_request(req, method, route);
        req.extensions_mut().insert(RequestId {
            id: id.clone(),
            span: traced.clone(),
        });
        Observed {
            started,
            id,
            route,
            method,
            span,
            traced,
        }
    }

    /// The route the request is for; `None` for a path not served.
    pub fn route(&self) -> Option<Route> {
        self.route
    }

    /// Records the request's metrics, logs its completion and puts its id on the response.
    pub fn finish(self, metrics: &Metrics, mut response: Response) -> Response {
        let status = response.status().as_u16();
        let elapsed = self.started.elapsed();
        let route = crate::routes::label_index(self.route);
        metrics.request(route, self.method, status, elapsed.as_secs_f64());
        self.span.in_scope(|| {
            tracing::debug!(
                status,
                latency_us = elapsed.as_micros() as u64,
                "request finished"
            )
        });
        if self.traced.is_on() {
            self.traced
                .set("http.response.status_code", i64::from(status));
            if status >= 500 {
                self.traced.fail(status.to_string());
            }
            self.traced.end();
        }
        response.headers_mut().insert(X_REQUEST_ID.clone(), self.id);
        response
    }
}

/// The request's span in a trace: the caller's trace continued, the span named by method and
/// route, and the HTTP attributes of OpenTelemetry's semantic conventions (the route, never
/// the raw path, which a caller chooses).
fn traced_request(req: &Request, method: usize, route: Option<Route>) -> traces::Span {
    let route = route.map_or("other", Route::path);
    traces::Span::request(
        req.headers(),
        || format!("{} {route}", METHODS[method]),
        || {
            // Room for the status code set when the response is ready.
            let mut attributes = Vec::with_capacity(4);
            attributes.extend([
                KeyValue::new("http.request.method", METHODS[method]),
                KeyValue::new("http.route", route),
                KeyValue::new("url.scheme", "http"),
            ]);
            attributes
        },
    )
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    #[test]
    fn a_field_past_the_bound_is_cut_at_a_character_with_a_marker_and_a_hash() {
        use super::{MAX_FIELD_CHARS, bounded};
        let short = "é".repeat(MAX_FIELD_CHARS);
        assert_eq!(
            bounded(&short),
            short.as_str(),
            "a thousand characters stay whole"
        );
        let long = format!("{short}ü{}", "x".repeat(1_000_000));
        let cut = bounded(&long);
        assert!(
            cut.starts_with(&short) && !cut.contains('ü'),
            "{}",
            &cut[..10]
        );
        assert!(
            cut.contains(&format!("[cut: {} bytes, sha256 ", long.len())),
            "{cut}"
        );
        assert!(cut.chars().count() < MAX_FIELD_CHARS + 120, "{}", cut.len());
        let other = format!("{short}ü{}", "y".repeat(1_000_000));
        assert_ne!(bounded(&other), cut, "two long values are told apart");
    }

    #[test]
    fn methods_get_their_labels() {
        use super::{METHODS, method_index};
        use axum::http::Method;
        assert_eq!(METHODS[method_index(&Method::DELETE)], "DELETE");
        assert_eq!(METHODS[method_index(&Method::GET)], "GET");
        assert_eq!(METHODS[method_index(&Method::PATCH)], "other");
    }

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
