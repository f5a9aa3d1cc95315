//! The trace collector of `bench/run`: accepts OTLP/HTTP protobuf exports on `POST /v1/traces`,
//! counts their spans, and discards them. `GET /stats` answers `<exports> <spans> <bytes>`
//! received so far, so the report can say how many of the spans the server made reached the
//! collector. It shares the machine's CPUs with the server, so it reads no more of an export
//! than it needs to count: the nesting down to each span, whose bytes it leaves undecoded.
//!
//!     otlp_sink <port>

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use prost::Message;

/// `ExportTraceServiceRequest` down to its spans, each left as bytes (OTLP's trace.proto: field
/// 1 `resource_spans`, whose field 2 is `scope_spans`, whose field 2 is `spans`).
#[derive(Message)]
struct Export {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Message)]
struct ResourceSpans {
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Message)]
struct ScopeSpans {
    #[prost(bytes = "bytes", repeated, tag = "2")]
    spans: Vec<Bytes>,
}

#[derive(Default)]
struct Received {
    exports: AtomicU64,
    spans: AtomicU64,
    bytes: AtomicU64,
}

async fn export(State(r): State<Arc<Received>>, body: Bytes) -> StatusCode {
    let Ok(request) = Export::decode(body.clone()) else {
        return StatusCode::BAD_REQUEST;
    };
    let spans: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    r.exports.fetch_add(1, Ordering::Relaxed);
    r.spans.fetch_add(spans as u64, Ordering::Relaxed);
    r.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    StatusCode::OK
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: otlp_sink <port>");
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/v1/traces", post(export))
        .route(
            "/stats",
            get(|State(r): State<Arc<Received>>| async move {
                format!(
                    "{} {} {}",
                    r.exports.load(Ordering::Relaxed),
                    r.spans.load(Ordering::Relaxed),
                    r.bytes.load(Ordering::Relaxed)
                )
            }),
        )
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(received);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
