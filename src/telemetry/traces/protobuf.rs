//! OTLP's `ExportTraceServiceRequest` (opentelemetry-proto's `trace.proto`, `common.proto` and
//! `resource.proto`) written in protobuf straight from the SDK's finished spans.
//!
//! opentelemetry-otlp first copies each span into prost's generated structs (a `String` for
//! every attribute key and value, a `Vec` for every id) and then encodes those; on a busy server
//! that was most of what export cost. Here each field is written once into one buffer, and the
//! resource, the same for every export, is written once when the SDK hands it over. The message
//! decodes to what opentelemetry-proto's own conversion makes (the tests hold the two equal).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, Key, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;

/// Protobuf's wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// The span flags that say whether the parent was remote (`SpanFlags` in `trace.proto`).
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from(field << 3 | wire));
}

/// A `bytes` or `string` field; an empty one is left out, as proto3 does.
fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        tag(out, field, LEN);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, VARINT);
        varint(out, value);
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        tag(out, field, FIXED32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// A message field, written where it stands. One byte is kept for its length, enough for most
/// (attributes, values, statuses); a longer one (a span) is moved up once to make room.
fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    tag(out, field, LEN);
    let at = out.len();
    out.push(0);
    body(out);
    let length = out.len() - at - 1;
    if length < 0x80 {
        out[at] = length as u8;
    } else {
        let mut prefix = Vec::with_capacity(5);
        varint(&mut prefix, length as u64);
        out.splice(at..at + 1, prefix);
    }
}

/// A message field whose body is already written, in parts.
fn parts(out: &mut Vec<u8>, field: u32, body: &[&[u8]]) {
    tag(out, field, LEN);
    varint(out, body.iter().map(|p| p.len() as u64).sum());
    for part in body {
        out.extend_from_slice(part);
    }
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// An `AnyValue`'s one field (a value of a oneof is written even when it is the default).
fn any(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(b) => boolean(out, *b),
        Value::I64(i) => int(out, *i),
        Value::F64(f) => double(out, *f),
        Value::String(s) => string(out, s.as_str()),
        Value::Array(array) => message(out, 5, |out| match array {
            Array::Bool(values) => each(out, values, |out, v| boolean(out, *v)),
            Array::I64(values) => each(out, values, |out, v| int(out, *v)),
            Array::F64(values) => each(out, values, |out, v| double(out, *v)),
            Array::String(values) => each(out, values, |out, v| string(out, v.as_str())),
            // A kind of array added to the API later is sent as its text.
            other => each(out, &[other], |out, v| string(out, &v.to_string())),
        }),
        // Likewise a kind of value added later.
        other => string(out, &other.to_string()),
    }
}

/// The values of an `ArrayValue`, each an `AnyValue`.
fn each<T>(out: &mut Vec<u8>, values: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    for v in values {
        message(out, 1, |out| write(out, v));
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    tag(out, 1, LEN);
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    tag(out, 2, VARINT);
    varint(out, u64::from(b));
}

fn int(out: &mut Vec<u8>, i: i64) {
    tag(out, 3, VARINT);
    varint(out, i as u64);
}

fn double(out: &mut Vec<u8>, f: f64) {
    tag(out, 4, FIXED64);
    out.extend_from_slice(&f.to_bits().to_le_bytes());
}

/// A `KeyValue` field.
fn attribute(out: &mut Vec<u8>, field: u32, key: &Key, value: &Value) {
    message(out, field, |out| {
        bytes(out, 1, key.as_str().as_bytes());
        message(out, 2, |out| any(out, value));
    });
}

fn attributes(out: &mut Vec<u8>, field: u32, list: &[KeyValue]) {
    for kv in list {
        attribute(out, field, &kv.key, &kv.value);
    }
}

fn flags(context: &SpanContext, remote: bool) -> u32 {
    u32::from(context.trace_flags().to_u8()) | HAS_IS_REMOTE | if remote { IS_REMOTE } else { 0 }
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// A `Span`'s fields.
fn span(out: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    bytes(out, 1, &context.trace_id().to_bytes());
    bytes(out, 2, &context.span_id().to_bytes());
    bytes(out, 3, context.trace_state().header().as_bytes());
    if span.parent_span_id != SpanId::INVALID {
        bytes(out, 4, &span.parent_span_id.to_bytes());
    }
    bytes(out, 5, span.name.as_bytes());
    uint(out, 6, kind(&span.span_kind));
    fixed64(out, 7, nanos(span.start_time));
    fixed64(out, 8, nanos(span.end_time));
    attributes(out, 9, &span.attributes);
    uint(out, 10, u64::from(span.dropped_attributes_count));
    for event in &span.events.events {
        message(out, 11, |out| {
            fixed64(out, 1, nanos(event.timestamp));
            bytes(out, 2, event.name.as_bytes());
            attributes(out, 3, &event.attributes);
            uint(out, 4, u64::from(event.dropped_attributes_count));
        });
    }
    uint(out, 12, u64::from(span.events.dropped_count));
    for link in &span.links.links {
        message(out, 13, |out| {
            let linked = &link.span_context;
            bytes(out, 1, &linked.trace_id().to_bytes());
            bytes(out, 2, &linked.span_id().to_bytes());
            bytes(out, 3, linked.trace_state().header().as_bytes());
            attributes(out, 4, &link.attributes);
            uint(out, 5, u64::from(link.dropped_attributes_count));
            fixed32(out, 6, flags(linked, linked.is_remote()));
        });
    }
    uint(out, 14, u64::from(span.links.dropped_count));
    message(out, 15, |out| match &span.status {
        Status::Unset => {}
        Status::Ok => uint(out, 3, 1),
        Status::Error { description } => {
            bytes(out, 2, description.as_bytes());
            uint(out, 3, 2);
        }
    });
    fixed32(out, 16, flags(context, span.parent_span_is_remote));
}

/// An `InstrumentationScope`'s fields.
fn scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    bytes(out, 1, scope.name().as_bytes());
    bytes(out, 2, scope.version().unwrap_or_default().as_bytes());
    for kv in scope.attributes() {
        attribute(out, 3, &kv.key, &kv.value);
    }
}

/// The resource's part of every export, written once.
#[derive(Debug, Default)]
pub struct Written {
    /// `ResourceSpans.resource`, tagged.
    resource: Vec<u8>,
    /// `ResourceSpans.schema_url`, tagged (empty when there is none).
    schema_url: Vec<u8>,
}

impl Written {
    pub fn new(resource: &Resource) -> Written {
        let mut written = Written::default();
        message(&mut written.resource, 1, |out| {
            for (key, value) in resource.iter() {
                attribute(out, 1, key, value);
            }
        });
        bytes(
            &mut written.schema_url,
            3,
            resource.schema_url().unwrap_or_default().as_bytes(),
        );
        written
    }
}

/// The `ExportTraceServiceRequest` of a batch: one `ResourceSpans`, with a `ScopeSpans` per
/// instrumentation scope in the order the scopes first appear. The spans are written once and
/// copied once; the messages around them are given their lengths from the parts' sizes.
pub fn request(batch: &[SpanData], resource: &Written) -> Vec<u8> {
    let mut scopes = Vec::with_capacity(64 + batch.len() * 256);
    let mut spans = Vec::with_capacity(batch.len() * 256);
    let (mut head, mut schema_url) = (Vec::new(), Vec::new());
    let mut written = vec![false; batch.len()];
    for first in 0..batch.len() {
        if written[first] {
            continue;
        }
        let named = &batch[first].instrumentation_scope;
        spans.clear();
        for (i, data) in batch.iter().enumerate().skip(first) {
            if !written[i] && data.instrumentation_scope == *named {
                written[i] = true;
                message(&mut spans, 2, |out| span(out, data));
            }
        }
        head.clear();
        message(&mut head, 1, |out| scope(out, named));
        schema_url.clear();
        bytes(
            &mut schema_url,
            3,
            named.schema_url().unwrap_or_default().as_bytes(),
        );
        parts(&mut scopes, 2, &[&head, &spans, &schema_url]);
    }
    let mut out = Vec::with_capacity(16 + resource.resource.len() + scopes.len());
    parts(
        &mut out,
        1,
        &[&resource.resource, &scopes, &resource.schema_url],
    );
    out
}

#[cfg(test)]
mod tests;
