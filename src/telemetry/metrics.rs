//! The Prometheus metrics the server exports, and how a request is counted without a lock.

use std::fmt;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::{METHODS, STATUSES};
use crate::routes::LABELS as ROUTES;
use families::{Auth, Http, LimitLabel, OutcomeLabel, ReasonLabel, RequestLabels, Usage};

mod families;

/// A part of the server that shows its own state at each scrape, writing its metrics (name,
/// help and value) through [`Scrape`]. It is registered once, with [`Metrics::observe`], so a
/// metric read from a part's state is written in one place: that part's `scrape`.
pub trait Scraped: Send + Sync + 'static {
    fn scrape(&self, s: &mut Scrape<'_>) -> fmt::Result;
}

/// What a [`Scraped`] part writes its metrics to; names get the registry's `mcp_` prefix, and
/// counters their `_total`.
pub struct Scrape<'a>(DescriptorEncoder<'a>);

impl Scrape<'_> {
    /// The help text as the registry writes it for the metrics it holds: with a full stop.
    fn described<'s>(
        &'s mut self,
        name: &'s str,
        help: &str,
        kind: MetricType,
    ) -> Result<MetricEncoder<'s>, fmt::Error> {
        self.0
            .encode_descriptor(name, &format!("{help}."), None, kind)
    }

    /// A gauge of whole numbers (`i64`) or of fractions (`f64`).
    pub fn gauge<N>(&mut self, name: &str, help: &str, value: N) -> fmt::Result
    where
        ConstGauge<N>: EncodeMetric,
    {
        let metric = ConstGauge::new(value);
        metric.encode(self.described(name, help, metric.metric_type())?)
    }

    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        let metric = ConstCounter::new(value);
        metric.encode(self.described(name, help, metric.metric_type())?)
    }

    /// A counter for each value of the label `label`.
    pub fn counters(
        &mut self,
        name: &str,
        help: &str,
        label: &'static str,
        values: &[(&'static str, u64)],
    ) -> fmt::Result {
        let mut family = self.described(name, help, MetricType::Counter)?;
        for (value, count) in values {
            ConstCounter::new(*count).encode(family.encode_family(&[(label, *value)])?)?;
        }
        Ok(())
    }
}

/// A [`Scraped`] part as the registry takes it.
struct Collected(Arc<dyn Scraped>);

impl std::fmt::Debug for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Collected")
    }
}

impl Collector for Collected {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        self.0.scrape(&mut Scrape(encoder))
    }
}

/// Every metric the server exports: the counters of events, in three groups that register
/// themselves, and what the parts of the server registered with [`Metrics::observe`] show of
/// their state.
pub struct Metrics {
    registry: Mutex<Registry>,
    http: Http,
    auth: Auth,
    usage: Usage,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mcp");
        registry.register_collector(Box::new(Collected(Arc::new(super::traces::DroppedSpans))));
        Metrics {
            http: Http::new(&mut registry),
            auth: Auth::new(&mut registry),
            usage: Usage::new(&mut registry),
            registry: Mutex::new(registry),
        }
    }

    /// Shows what `part` writes at each scrape, from now on.
    pub fn observe(&self, part: Arc<dyn Scraped>) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .register_collector(Box::new(Collected(part)));
    }

    /// Shows a zero for each rejection reason before the first rejection; the gate declares
    /// its reasons when it is built.
    pub fn declare_rejections(&self, reasons: impl IntoIterator<Item = &'static str>) {
        for reason in reasons {
            let _ = self.auth.rejections.get_or_create(&ReasonLabel { reason });
        }
    }

    pub fn rejection(&self, reason: &'static str) {
        self.auth
            .rejections
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn jwks_fetch(&self, outcome: &'static str) {
        self.auth
            .jwks_fetches
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// A call refused by a per-caller limit, named as in `mcp_fair_use_refusals_total`.
    pub fn fair_use_refusal(&self, limit: &'static str) {
        self.usage
            .fair_use_refusals
            .get_or_create(&LimitLabel { limit })
            .inc();
    }

    pub fn jwks_refetch_limited(&self) {
        self.auth.jwks_refetches_limited.inc();
    }

    pub fn token_cache(&self, hit: bool) {
        if hit {
            self.auth.token_cache_hits.inc();
        } else {
            self.auth.token_cache_misses.inc();
        }
    }

    /// Counts a request and records its duration; `route` and `method` index [`ROUTES`] and
    /// [`METHODS`].
    pub(super) fn request(&self, route: usize, method: usize, status: u16, seconds: f64) {
        let labels = || RequestLabels {
            route: ROUTES[route],
            method: METHODS[method],
            status,
        };
        match STATUSES.iter().position(|s| *s == status) {
            Some(s) => {
                let slot = (route * METHODS.len() + method) * STATUSES.len() + s;
                self.http.request_counters[slot]
                    .get_or_init(|| self.http.requests.get_or_create(&labels()).clone())
                    .inc();
            }
            None => {
                self.http.requests.get_or_create(&labels()).inc();
            }
        }
        self.http.route_durations[route].observe(seconds);
    }

    /// Renders every metric: the counters, and what each observed part shows now.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::sync::Arc;

    use super::{Metrics, Scrape, Scraped};

    struct Part;

    impl Scraped for Part {
        fn scrape(&self, s: &mut Scrape<'_>) -> fmt::Result {
            s.gauge("part_items", "Items held", 3)?;
            s.gauge("part_age_seconds", "Age", -1.0)?;
            s.counter("part_errors", "Errors", 7)?;
            s.counters(
                "part_builds",
                "Builds",
                "outcome",
                &[("ok", 2), ("failed", 0)],
            )
        }
    }

    #[test]
    fn a_part_shows_its_metrics_as_the_registry_writes_its_own() {
        let metrics = Metrics::new();
        let before = metrics.render();
        assert!(!before.contains("mcp_part_"), "{before}");
        metrics.observe(Arc::new(Part));
        let text = metrics.render();
        for line in [
            "# HELP mcp_part_items Items held.",
            "# TYPE mcp_part_items gauge",
            "mcp_part_items 3",
            "mcp_part_age_seconds -1.0",
            "# TYPE mcp_part_errors counter",
            "mcp_part_errors_total 7",
            "mcp_part_builds_total{outcome=\"ok\"} 2",
            "mcp_part_builds_total{outcome=\"failed\"} 0",
            // The registry's own, beside them.
            "# HELP mcp_jwks_refetches_limited",
        ] {
            assert!(text.lines().any(|l| l.starts_with(line)), "{line}:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
