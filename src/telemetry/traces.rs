//! OpenTelemetry traces over OTLP/HTTP (protobuf).
//!
//! Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and
//! `OTEL_SDK_DISABLED` is not `true`); everything else comes from the standard `OTEL_*`
//! variables: the exporter's (endpoint, headers, timeout, compression) are read by `export`,
//! the rest by the OpenTelemetry SDK itself: `OTEL_SERVICE_NAME` (default
//! `mcp-resource-server`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and its argument,
//! and the batch processor's `OTEL_BSP_*` bounds. Spans are handed to the SDK's batch
//! processor, which exports from a thread of its own and drops spans when its queue
//! (`OTEL_BSP_MAX_QUEUE_SIZE`, 2 048 by default) is full, so a collector that is down never
//! blocks a request and never grows the server's memory past that queue.
//!
//! The spans: the request (`telemetry::Observed`, continuing the caller's W3C `traceparent`
//! and `tracestate`), the token check (`auth::Gate`), the JSON-RPC message (`mcp::dispatch`)
//! and the tool (`tools`), with attribute names from OpenTelemetry's semantic conventions for
//! HTTP, MCP and JSON-RPC. Never a token, a query or a document.
//!
//! Spans are made with the OpenTelemetry API directly ([`Span`]), each handed its parent, rather
//! than through the `tracing` bridge: the bridge kept every span in the `tracing` registry as
//! well and was told of every poll of the futures the spans covered, which with export on
//! doubled what tracing cost a request (docs/architecture.md). The log keeps its own `tracing`
//! span per request.

use std::borrow::Cow;
use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

mod export;
mod protobuf;

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` gives one.
const SERVICE: &str = "mcp-resource-server";

/// The tracer, once [`provider`] has made one.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Whether traces are exported.
pub fn on() -> bool {
    TRACER.get().is_some()
}

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// The tracer provider the environment asks for; `None` when traces are off.
pub fn provider() -> Result<Option<SdkTracerProvider>, String> {
    let var = |name: &str| std::env::var(name).ok();
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true") {
        return Ok(None);
    }
    let Some(destination) = export::Destination::from_env(var)? else {
        return Ok(None);
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("mcp-resource-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot make the OTLP HTTP client: {e}"))?;
    let named = set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    let mut resource = Resource::builder();
    if !named {
        resource = resource.with_service_name(SERVICE);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(export::Exporter::new(client, destination))
        .with_resource(resource.build())
        .build();
    let _ = TRACER.set(provider.tracer(SERVICE));
    Ok(Some(provider))
}

/// The trace context the caller sent in `traceparent` and `tracestate` (W3C Trace Context).
fn caller_context(headers: &axum::http::HeaderMap) -> opentelemetry::Context {
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

/// One span of a trace, or nothing when traces are off (then every method does nothing, and
/// the closures naming a span are not called). A span ends at [`Span::end`], or when its last
/// clone is dropped.
#[derive(Clone, Debug, Default)]
pub struct Span(Option<Context>);

impl Span {
    /// The request's span: a server span continuing the trace the caller's `traceparent` and
    /// `tracestate` name, or starting one.
    pub fn request(
        headers: &axum::http::HeaderMap,
        name: impl FnOnce() -> String,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Span {
        match TRACER.get() {
            Some(tracer) => Span::start(
                tracer,
                &caller_context(headers),
                SpanKind::Server,
                name().into(),
                attributes(),
            ),
            None => Span(None),
        }
    }

    /// A span inside this one.
    pub fn child(
        &self,
        name: impl FnOnce() -> Cow<'static, str>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Span {
        match (&self.0, TRACER.get()) {
            (Some(parent), Some(tracer)) => {
                Span::start(tracer, parent, SpanKind::Internal, name(), attributes())
            }
            _ => Span(None),
        }
    }

    fn start(
        tracer: &SdkTracer,
        parent: &Context,
        kind: SpanKind,
        name: Cow<'static, str>,
        attributes: Vec<KeyValue>,
    ) -> Span {
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(tracer, parent);
        // A span the sampler left out is not kept, nor are spans inside it: each standard
        // sampler decides a trace's spans alike (by the parent or by the trace id), so an
        // unsampled request costs one sampling decision and nothing more.
        if !span.is_recording() {
            return Span(None);
        }
        Span(Some(parent.with_span(span)))
    }

    /// Whether this span is in a trace.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Sets the attribute `key`.
    pub fn set(&self, key: &'static str, value: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Marks the span as failed, with the `error.type` of OpenTelemetry's conventions.
    pub fn fail(&self, error_type: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            let span = cx.span();
            span.set_attribute(KeyValue::new("error.type", error_type));
            span.set_status(Status::error(""));
        }
    }

    /// Ends the span now; what is set on it later is not recorded.
    pub fn end(&self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }
}
