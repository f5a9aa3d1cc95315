//! The request written here decodes to exactly what opentelemetry-proto's own conversion (the
//! one opentelemetry-otlp sends) makes of the same spans and resource.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use proptest::prelude::*;
use prost::Message;

use super::{Written, request};

fn context(trace: u128, span: u64, sampled: bool, remote: bool, state: &str) -> SpanContext {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        flags,
        remote,
        state.parse::<TraceState>().unwrap(),
    )
}

fn at(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn data(
    name: &'static str,
    scope: &InstrumentationScope,
    attributes: Vec<KeyValue>,
    status: Status,
) -> SpanData {
    SpanData {
        span_context: context(
            0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            7,
            true,
            false,
            "",
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed(name),
        start_time: at(1_764_000_000_123_456_789),
        end_time: at(1_764_000_000_123_999_000),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    }
}

/// Ours, decoded, against the conversion opentelemetry-otlp makes.
fn same(batch: Vec<SpanData>, resource: &Resource) {
    let ours = ExportTraceServiceRequest::decode(&request(&batch, &Written::new(resource))[..])
        .expect("our request decodes");
    let theirs = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            batch,
            &ResourceAttributesWithSchema::from(resource),
        ),
    };
    assert_eq!(ours, theirs);
}

#[test]
fn every_field_of_a_batch_is_written_as_opentelemetry_proto_writes_it() {
    let ours = InstrumentationScope::builder("mcp-resource-server").build();
    let other = InstrumentationScope::builder("other")
        .with_version("1.2.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
        .with_attributes([KeyValue::new("scope.attr", true)])
        .build();
    let mut server = data(
        "POST /mcp",
        &ours,
        vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("negative", -42_i64),
            KeyValue::new("ratio", 0.25_f64),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("no", false),
            KeyValue::new("empty", ""),
            KeyValue::new("unicode", "grüße ✓"),
            KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ints", Value::Array(Array::I64(vec![1, -1, i64::MAX]))),
            KeyValue::new("floats", Value::Array(Array::F64(vec![1.5, -0.0]))),
            KeyValue::new(
                "strings",
                Value::Array(Array::String(vec![
                    StringValue::from("a"),
                    StringValue::from(""),
                ])),
            ),
            KeyValue::new("none", Value::Array(Array::I64(vec![]))),
            // Lengths of one, two and three bytes.
            KeyValue::new("long", "x".repeat(200)),
            KeyValue::new("longer", "y".repeat(20_000)),
        ],
        Status::Unset,
    );
    server.span_kind = SpanKind::Server;
    server.span_context = context(1, 2, true, false, "vendor=value,other=x");
    server.parent_span_id = SpanId::from(0x00f0_67aa_0ba9_02b7);
    server.parent_span_is_remote = true;
    server.dropped_attributes_count = 3;

    let mut check = data("token check", &ours, vec![], Status::error("bad_signature"));
    check.events.events = vec![
        Event::new("retry", at(5), vec![KeyValue::new("attempt", 2_i64)], 1),
        Event::new("", at(0), vec![], 0),
    ];
    check.events.dropped_count = 4;
    check.links.links = vec![Link::new(
        context(9, 10, false, true, "k=v"),
        vec![KeyValue::new("link.kind", "follows")],
        2,
    )];
    check.links.dropped_count = 1;

    let mut elsewhere = data("elsewhere", &other, vec![], Status::Ok);
    elsewhere.span_context = context(3, 4, false, false, "");
    server
        .links
        .links
        .push(Link::new(context(5, 6, true, false, ""), vec![], 0));
    let mut before_epoch = data("clock", &other, vec![], Status::error(""));
    before_epoch.start_time = UNIX_EPOCH - Duration::from_secs(1);
    let kinds = [SpanKind::Client, SpanKind::Producer, SpanKind::Consumer]
        .into_iter()
        .map(|kind| {
            let mut s = data("kinds", &ours, vec![], Status::Unset);
            s.span_kind = kind;
            s
        });

    let batch: Vec<SpanData> = [server, check, elsewhere, before_epoch]
        .into_iter()
        .chain(kinds)
        .collect();
    let resource = Resource::builder_empty()
        .with_schema_url(
            [
                KeyValue::new("service.name", "mcp-resource-server"),
                KeyValue::new("deployment.environment.name", "staging"),
                KeyValue::new("service.instance.count", 3_i64),
            ],
            "https://opentelemetry.io/schemas/1.30.0",
        )
        .build();
    same(batch.clone(), &resource);
    same(batch, &Resource::builder().build());
    same(Vec::new(), &resource);
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Value::F64),
        ".{0,40}".prop_map(Value::from),
        proptest::collection::vec(any::<i64>(), 0..4).prop_map(|v| Value::Array(Array::I64(v))),
        proptest::collection::vec(".{0,8}", 0..4)
            .prop_map(|v| Value::Array(Array::String(v.into_iter().map(Into::into).collect()))),
    ]
}

proptest! {
    #[test]
    fn any_attributes_and_times_are_written_alike(
        attributes in proptest::collection::vec(("[a-z.]{0,20}", value()), 0..12),
        start in any::<u64>(),
        span in 1..u64::MAX,
        remote in any::<bool>(),
    ) {
        let scope = InstrumentationScope::builder("mcp-resource-server").build();
        let mut s = data(
            "any",
            &scope,
            attributes.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect(),
            Status::Unset,
        );
        s.start_time = at(start);
        s.span_context = context(u128::from(span) << 3, span, true, remote, "");
        s.parent_span_is_remote = remote;
        same(vec![s], &Resource::builder_empty().build());
    }
}
