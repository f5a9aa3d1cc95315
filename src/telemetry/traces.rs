//! OpenTelemetry traces over OTLP, exported by `opentelemetry-otlp` (HTTP with protobuf, or
//! gRPC; gzip if asked).
//!
//! Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and
//! `OTEL_SDK_DISABLED` is not `true`); everything else comes from the standard `OTEL_*`
//! variables, read by OpenTelemetry's own crates: the exporter's (endpoint, protocol, headers,
//! timeout, compression) by `opentelemetry-otlp`, once `export` has checked them, and the rest
//! by the SDK: `OTEL_SERVICE_NAME` (default
//! `mcp-resource-server`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and its argument,
//! and the batch processor's `OTEL_BSP_*` bounds, each held within bounds of this server's
//! ([`check_bounds`]). Spans are handed to the SDK's batch processor, which exports from a
//! thread of its own and drops spans when its queue (`OTEL_BSP_MAX_QUEUE_SIZE`, 2 048 by
//! default, 4 096 at most) is full, so a collector that is down never blocks a request. The
//! queue is bounded in bytes as well (`queue`, 16 MiB), and every span is small: its name comes
//! from a fixed set and each attribute that carries what a caller sent is cut to
//! `telemetry::MAX_FIELD_CHARS` characters.
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
mod queue;

pub use export::SettingError;

/// Why traces cannot be exported as the environment asks.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("cannot make the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

pub use queue::DroppedSpans;

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` gives one.
const SERVICE: &str = "mcp-resource-server";

/// The tracer, once [`provider`] has made one.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// The bounds of every `OTEL_*` time in milliseconds, the exporter's timeout included.
const MILLIS: (u64, u64) = (100, 60_000);

/// The numeric `OTEL_*` variables the SDK reads, with the bounds this server holds them to, as
/// its own settings are: a value outside them (a schedule delay of 0 that would spin the export
/// thread, a queue that would hold the server's memory hostage) stops start-up.
const BOUNDS: [(&str, u64, u64, &str); 7] = [
    (
        "OTEL_BSP_SCHEDULE_DELAY",
        MILLIS.0,
        MILLIS.1,
        "milliseconds",
    ),
    (
        "OTEL_BSP_EXPORT_TIMEOUT",
        MILLIS.0,
        MILLIS.1,
        "milliseconds",
    ),
    ("OTEL_BSP_MAX_QUEUE_SIZE", 1, 4_096, "spans"),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, 4_096, "spans"),
    ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", 1, 4, "exports"),
    ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", 1, 128, "attributes"),
    ("OTEL_SPAN_EVENT_COUNT_LIMIT", 0, 128, "events"),
];

/// Checks the `OTEL_*` values read through `var` against `BOUNDS` and the sampler's ratio, and
/// gives back the batch processor's queue size in spans.
pub fn check_bounds(var: impl Fn(&str) -> Option<String>) -> Result<usize, SettingError> {
    for (name, low, high, unit) in BOUNDS {
        let Some(text) = var(name).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        match text.trim().parse::<u64>() {
            Ok(n) if (low..=high).contains(&n) => {}
            _ => {
                return Err(SettingError::new(
                    name,
                    format!(
                        "`{}` is not a whole number of {unit} from {low} to {high}",
                        crate::telemetry::bounded(&text)
                    ),
                ));
            }
        }
    }
    let number = |name| var(name).and_then(|v| v.trim().parse::<usize>().ok());
    let queue = number("OTEL_BSP_MAX_QUEUE_SIZE")
        .unwrap_or(opentelemetry_sdk::trace::OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT);
    if number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_some_and(|batch| batch > queue) {
        return Err(SettingError::new(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            format!("a batch cannot be larger than the queue (OTEL_BSP_MAX_QUEUE_SIZE, {queue})"),
        ));
    }
    if let Some(arg) = var("OTEL_TRACES_SAMPLER_ARG").filter(|v| !v.trim().is_empty())
        && !arg
            .trim()
            .parse::<f64>()
            .is_ok_and(|r| (0.0..=1.0).contains(&r))
    {
        return Err(SettingError::new(
            "OTEL_TRACES_SAMPLER_ARG",
            format!(
                "`{}` is not a ratio from 0 to 1",
                crate::telemetry::bounded(&arg)
            ),
        ));
    }
    Ok(queue)
}

/// The tracer provider the environment asks for; `None` when traces are off. Called inside the
/// async runtime (off its workers): the gRPC exporter's channel runs on it.
pub fn provider() -> Result<Option<SdkTracerProvider>, TracesError> {
    let var = |name: &str| std::env::var(name).ok();
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true") {
        return Ok(None);
    }
    let Some(collector) = export::check(var)? else {
        return Ok(None);
    };
    let spans = check_bounds(var)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The exporter reads the same variables `check` has just held to its bounds.
    let exporter = opentelemetry_otlp::SpanExporter::builder().build()?;
    let named = set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    let mut resource = Resource::builder();
    if !named {
        resource = resource.with_service_name(SERVICE);
    }
    // The batch processor reads the OTEL_BSP_* variables itself; the queue's bound in bytes
    // stands in front of it with the same bound in spans (see `queue`).
    let room = queue::Room::new(spans, queue::MAX_QUEUE_BYTES);
    let exporter = queue::Returning {
        inner: export::Logged {
            inner: exporter,
            collector,
            failing: Default::default(),
        },
        room: room.clone(),
    };
    let batch = opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(queue::Bounded { inner: batch, room })
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

#[cfg(test)]
mod tests {
    use super::check_bounds;

    fn check(vars: &[(&str, &str)]) -> Result<usize, String> {
        check_bounds(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn otel_values_outside_the_servers_bounds_stop_start_up_and_say_which() {
        assert_eq!(check(&[]), Ok(2_048));
        let fine = [
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ];
        assert_eq!(check(&fine), Ok(16));
        for (name, value, says) in [
            ("OTEL_BSP_SCHEDULE_DELAY", "0", "from 100 to 60000"),
            ("OTEL_BSP_SCHEDULE_DELAY", "99", "from 100 to 60000"),
            (
                "OTEL_BSP_SCHEDULE_DELAY",
                "5s",
                "whole number of milliseconds",
            ),
            ("OTEL_BSP_EXPORT_TIMEOUT", "0", "from 100 to 60000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0", "from 1 to 4096"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "1000000", "from 1 to 4096"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0", "from 1 to 4096"),
            ("OTEL_BSP_MAX_CONCURRENT_EXPORTS", "64", "from 1 to 4"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "100000", "from 1 to 128"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "-1", "from 0 to 128"),
            ("OTEL_TRACES_SAMPLER_ARG", "2", "a ratio from 0 to 1"),
            ("OTEL_TRACES_SAMPLER_ARG", "NaN", "a ratio from 0 to 1"),
        ] {
            let err = check(&[(name, value)]).expect_err(name);
            assert!(
                err.starts_with(&format!("{name}: `{value}`")) && err.contains(says),
                "{err}"
            );
        }
        let err = check(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "200"),
        ])
        .expect_err("a batch larger than the queue");
        assert!(err.starts_with("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), "{err}");
    }
}
