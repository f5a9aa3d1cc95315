//! The OTLP exporter's settings, checked before `opentelemetry-otlp` reads them, and the log of
//! its failures.
//!
//! The exporter itself is `opentelemetry-otlp`'s, which reads the standard
//! `OTEL_EXPORTER_OTLP_*` variables (endpoint, protocol, headers, timeout, compression) and
//! picks its transport from the protocol: `http/protobuf` (the default) or `grpc`. It is lenient
//! where this server is strict: a timeout that is not a number, a header entry without `=` or a
//! compression it does not know is ignored with a note in its own internal log. [`check`] reads
//! the same variables the same way first and stops start-up on any value the exporter would
//! not honour, naming the variable, as the server's own settings do. It never puts a header's
//! value in a message: it is often a secret.
//!
//! The batch processor calls the exporter on a thread of its own and waits for it, so a
//! collector that is down costs that thread a wait of at most the timeout per batch, never a
//! request. [`Logged`] logs the failures when they begin and when exports work again, not at
//! every batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Uri};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// An `OTEL_EXPORTER_OTLP_*` value the exporter could not honour.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{name}: {problem}")]
pub struct SettingError {
    /// The variable.
    pub name: String,
    /// What is wrong with its value, and what to set instead.
    pub problem: String,
}

/// How spans are sent: the transports `opentelemetry-otlp` is built with here.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Protocol {
    HttpProtobuf,
    Grpc,
}

/// The traces variant of `setting` when it is set (not empty), else the general one, with its
/// name: the order in which the exporter reads them.
fn chosen(var: &impl Fn(&str) -> Option<String>, setting: &str) -> Option<(String, String)> {
    [
        format!("OTEL_EXPORTER_OTLP_TRACES_{setting}"),
        format!("OTEL_EXPORTER_OTLP_{setting}"),
    ]
    .into_iter()
    .find_map(|name| var(&name).filter(|v| !v.is_empty()).map(|v| (name, v)))
}

impl SettingError {
    pub fn new(name: &str, problem: String) -> SettingError {
        SettingError {
            name: name.to_owned(),
            problem,
        }
    }
}

/// Checks the exporter's variables read through `var`: `None` when no endpoint is set (traces
/// are off), else the collector's URL as logs show it (without a user name or password).
pub(super) fn check(var: impl Fn(&str) -> Option<String>) -> Result<Option<String>, SettingError> {
    // Every variable that is set must hold a value the exporter honours, even the one the
    // other shadows, so a value that does nothing never passes unnoticed.
    each_set(&var, "PROTOCOL", |name, p| protocol(name, p).map(|_| ()))?;
    let protocol = match chosen(&var, "PROTOCOL") {
        Some((name, p)) => protocol(&name, &p)?,
        None => Protocol::HttpProtobuf,
    };
    let Some((name, url)) = chosen(&var, "ENDPOINT") else {
        return Ok(None);
    };
    // OTLP/HTTP adds the traces path to the general endpoint; gRPC uses either as it is.
    let url = if name.contains("TRACES") || protocol == Protocol::Grpc {
        url
    } else {
        format!("{}/v1/traces", url.trim_end_matches('/'))
    };
    let shown = endpoint(&name, &url)?;
    for name in [
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    ] {
        if let Some(list) = var(name) {
            header_list(name, &list)?;
        }
    }
    // Both timeouts, as the exporter falls back to the general one when the traces one is not
    // a number.
    each_set(&var, "TIMEOUT", timeout)?;
    each_set(&var, "COMPRESSION", compression)?;
    Ok(Some(shown))
}

/// Runs `check` on the traces variable of `setting` and then on the general one, each when
/// it is set and not empty.
fn each_set(
    var: &impl Fn(&str) -> Option<String>,
    setting: &str,
    check: impl Fn(&str, &str) -> Result<(), SettingError>,
) -> Result<(), SettingError> {
    for name in [
        format!("OTEL_EXPORTER_OTLP_TRACES_{setting}"),
        format!("OTEL_EXPORTER_OTLP_{setting}"),
    ] {
        if let Some(value) = var(&name).filter(|v| !v.is_empty()) {
            check(&name, &value)?;
        }
    }
    Ok(())
}

fn timeout(name: &str, ms: &str) -> Result<(), SettingError> {
    let (low, high) = super::MILLIS;
    match ms.parse::<u64>() {
        Ok(ms) if (low..=high).contains(&ms) => Ok(()),
        _ => Err(SettingError::new(
            name,
            format!(
                "`{}` is not a whole number of milliseconds from {low} to {high}",
                crate::telemetry::bounded(ms)
            ),
        )),
    }
}

fn compression(name: &str, value: &str) -> Result<(), SettingError> {
    if matches!(value.to_ascii_lowercase().as_str(), "none" | "gzip") {
        return Ok(());
    }
    Err(SettingError::new(
        name,
        format!(
            "`{}` is not a compression this server sends; set gzip or none",
            crate::telemetry::bounded(value)
        ),
    ))
}

fn protocol(name: &str, value: &str) -> Result<Protocol, SettingError> {
    match value.to_ascii_lowercase().as_str() {
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "grpc" => Ok(Protocol::Grpc),
        _ => Err(SettingError::new(
            name,
            format!(
                "`{}` is not supported; set http/protobuf or grpc",
                crate::telemetry::bounded(value)
            ),
        )),
    }
}

/// Checks an endpoint as the exporter parses it, and gives it back without credentials.
fn endpoint(name: &str, url: &str) -> Result<String, SettingError> {
    let shown = crate::telemetry::bounded(url);
    let uri: Uri = url
        .parse()
        .map_err(|e| SettingError::new(name, format!("`{shown}` is not a URL ({e})")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(authority)) => {
            let host = authority.as_str().rsplit('@').next().unwrap_or_default();
            let path = uri.path_and_query().map_or("", |p| p.as_str());
            Ok(format!(
                "{}://{host}{path}",
                uri.scheme_str().unwrap_or_default()
            ))
        }
        _ => Err(SettingError::new(
            name,
            format!("`{shown}` must be an http:// or https:// URL"),
        )),
    }
}

/// `key1=value1,key2=value2`, each value percent-decoded (W3C Baggage's format, which OTLP's
/// specification names).
fn header_list(name: &str, list: &str) -> Result<(), SettingError> {
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(SettingError::new(
                name,
                "an entry has no `=`; write key=value pairs separated by commas".into(),
            ));
        };
        let key = key.trim();
        let decoded = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| {
                SettingError::new(
                    name,
                    format!("the value of `{key}` is not UTF-8 once percent-decoded"),
                )
            })?;
        if decoded.is_empty() {
            return Err(SettingError::new(
                name,
                format!("`{key}` has an empty value"),
            ));
        }
        HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| SettingError::new(name, format!("`{key}` is not a header name")))?;
        HeaderValue::from_str(&decoded).map_err(|_| {
            SettingError::new(
                name,
                format!("the value of `{key}` is not a valid header value"),
            )
        })?;
    }
    Ok(())
}

/// The exporter, with its failures logged once until exports work again.
#[derive(Debug)]
pub(super) struct Logged<E> {
    pub inner: E,
    pub collector: String,
    /// Whether the last export failed.
    pub failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for Logged<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let done = self.inner.export(batch).await;
        match &done {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(collector = self.collector, "trace export works again");
                }
            }
            Err(why) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        collector = self.collector,
                        error = %why,
                        "trace export failed; spans wait in the batch processor's queue and the newest are dropped when it is full"
                    );
                }
            }
        }
        done
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests;
