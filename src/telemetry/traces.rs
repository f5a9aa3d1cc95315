//! OpenTelemetry traces over OTLP/HTTP (protobuf).
//!
//! Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and
//! `OTEL_SDK_DISABLED` is not `true`); everything else comes from the standard `OTEL_*`
//! variables, which the OpenTelemetry SDK reads itself: headers, timeout, `OTEL_SERVICE_NAME`
//! (default `mcp-resource-server`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and its
//! argument, and the batch processor's `OTEL_BSP_*` bounds. Spans are handed to the SDK's batch
//! processor, which exports from a thread of its own and drops spans when its queue
//! (`OTEL_BSP_MAX_QUEUE_SIZE`, 2 048 by default) is full, so a collector that is down never
//! blocks a request and never grows the server's memory past that queue.
//!
//! The spans: the request (`telemetry::Observed`, continuing the caller's W3C `traceparent`
//! and `tracestate`), the token check (`auth::Gate`), the JSON-RPC message (`mcp::dispatch`)
//! and the tool (`tools`), with attribute names from OpenTelemetry's semantic conventions for
//! HTTP, MCP and JSON-RPC. Never a token, a query or a document.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The tracing target of the spans only traces carry (the token check, the message, the tool);
/// the log leaves them out, so a log line keeps the request's span and its id.
pub const SPANS: &str = "mcp_resource_server::spans";

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` gives one.
const SERVICE: &str = "mcp-resource-server";

static ON: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported (so the request span continues the caller's trace).
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// The tracer provider the environment asks for; `None` when traces are off.
pub fn provider() -> Result<Option<SdkTracerProvider>, String> {
    let wanted = set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim() == "true");
    if !wanted || disabled {
        return Ok(None);
    }
    for protocol in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(p) = std::env::var(protocol)
            && !p.trim().is_empty()
            && p.trim() != "http/protobuf"
        {
            return Err(format!(
                "{protocol}: `{p}` is not supported; this server exports http/protobuf (unset it or set http/protobuf)"
            ));
        }
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("mcp-resource-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot make the OTLP HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
    let named = set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    let mut resource = Resource::builder();
    if !named {
        resource = resource.with_service_name(SERVICE);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    ON.store(true, Ordering::Relaxed);
    Ok(Some(provider))
}

/// The trace context the caller sent in `traceparent` and `tracestate` (W3C Trace Context).
pub fn caller_context(headers: &axum::http::HeaderMap) -> opentelemetry::Context {
    struct Headers<'a>(&'a axum::http::HeaderMap);
    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    TraceContextPropagator::new().extract(&Headers(headers))
}
