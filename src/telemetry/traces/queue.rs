//! The export queue's bounds, in spans and in bytes, with what they drop counted.
//!
//! The SDK's batch processor bounds its queue in spans only (`OTEL_BSP_MAX_QUEUE_SIZE`) and
//! keeps its count of dropped spans to itself. [`Bounded`] stands in front of it: a finished
//! span is handed on only while the spans handed on and not yet given to the exporter stay
//! within the queue's size and [`MAX_QUEUE_BYTES`], and [`Returning`], around the exporter,
//! gives their room back as each batch is exported (whether the export works or not). Since
//! [`Bounded`] never hands on more spans than the batch processor's queue holds, the batch
//! processor itself never drops one, and [`DroppedSpans`] shows the whole count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

/// Bytes of spans waiting for export, at most. Spans are small (a name from a fixed set, a few
/// attributes of at most `telemetry::MAX_FIELD_CHARS` characters), so a full default queue of
/// 2 048 spans of the usual few hundred bytes is far below this; it matters when every span
/// carries the longest attributes a caller can make it carry.
pub(super) const MAX_QUEUE_BYTES: usize = 16 << 20;

/// What a span is counted as beside its name and attributes: ids, times, kind, status.
const SPAN_OVERHEAD: usize = 160;

/// Spans dropped because the queue was full, since start-up.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Shows the spans dropped because the export queue was full (in spans or in bytes), since
/// start-up.
pub struct DroppedSpans;

impl crate::telemetry::Scraped for DroppedSpans {
    fn scrape(&self, s: &mut crate::telemetry::Scrape<'_>) -> std::fmt::Result {
        let help = "Trace spans dropped because the export queue was full, in spans \
                    (OTEL_BSP_MAX_QUEUE_SIZE) or in bytes";
        s.counter("trace_spans_dropped", help, DROPPED.load(Ordering::Relaxed))
    }
}

/// The room the queue has: spans and bytes handed on and not yet exported.
#[derive(Debug)]
pub(super) struct Room {
    spans: AtomicUsize,
    bytes: AtomicUsize,
    max_spans: usize,
    max_bytes: usize,
}

impl Room {
    pub(super) fn new(max_spans: usize, max_bytes: usize) -> Arc<Room> {
        Arc::new(Room {
            spans: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_spans,
            max_bytes,
        })
    }

    /// Takes room for one span of `bytes`, all or nothing.
    fn take(&self, bytes: usize) -> bool {
        let spans = self.spans.fetch_add(1, Ordering::AcqRel);
        let held = self.bytes.fetch_add(bytes, Ordering::AcqRel);
        if spans < self.max_spans && held.saturating_add(bytes) <= self.max_bytes {
            return true;
        }
        self.give(1, bytes);
        false
    }

    fn give(&self, spans: usize, bytes: usize) {
        self.spans.fetch_sub(spans, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// What a span is counted as in the queue's bytes.
pub(super) fn size_of(span: &SpanData) -> usize {
    let attributes: usize = span
        .attributes
        .iter()
        .map(|kv| kv.key.as_str().len() + kv.value.as_str().len())
        .sum();
    let status = match &span.status {
        opentelemetry::trace::Status::Error { description } => description.len(),
        _ => 0,
    };
    SPAN_OVERHEAD + span.name.len() + attributes + status
}

/// A span processor that hands a finished span on to `inner` only while the queue has room.
#[derive(Debug)]
pub(super) struct Bounded<P> {
    pub inner: P,
    pub room: Arc<Room>,
}

impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.room.take(size_of(&span)) {
            self.inner.on_end(span);
        } else {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// An exporter that gives each batch's room in the queue back before exporting it.
#[derive(Debug)]
pub(super) struct Returning<E> {
    pub inner: E,
    pub room: Arc<Room>,
}

impl<E: SpanExporter> SpanExporter for Returning<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let bytes = batch.iter().map(size_of).sum();
        self.room.give(batch.len(), bytes);
        self.inner.export(batch).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::Room;

    #[test]
    fn the_queue_takes_spans_while_both_its_counts_have_room_and_gets_it_back() {
        let room = Room::new(3, 1_000);
        assert!(room.take(400));
        assert!(room.take(400));
        assert!(!room.take(400), "past the bytes");
        assert!(room.take(100));
        assert!(!room.take(1), "past the spans");
        room.give(2, 800);
        assert!(room.take(700));
        assert!(!room.take(300), "back at the bytes' bound");
    }
}
