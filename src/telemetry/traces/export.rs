//! The OTLP/HTTP span exporter: where to send (the standard `OTEL_EXPORTER_OTLP_*` variables)
//! and the sending, one POST of protobuf per batch the SDK's batch processor hands over.
//!
//! The batch processor calls [`Exporter::export`] on a thread of its own and waits for it, so
//! the POST is made with reqwest's blocking client. A collector that is down costs that thread a
//! wait of at most the timeout per batch, never a request; its failures are logged when they
//! begin and when exports work again, not at every batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::protobuf;

/// What OTLP's exporter specification sets when no variable does.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a collector's answer read (it is a small message, or nothing).
const ANSWER_READ: u64 = 64 * 1024;

/// Where and how spans are sent, from the environment.
#[derive(Debug, PartialEq)]
pub struct Destination {
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub timeout: Duration,
}

impl Destination {
    /// Reads the `OTEL_EXPORTER_OTLP_*` variables through `var` (a variable set to blanks counts
    /// as unset); the traces variant of each wins over the general one, except that a protocol
    /// other than `http/protobuf` in either is refused. `None` when neither endpoint is set. An
    /// error names the variable and what to change.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Destination>, String> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        // The traces variant of `setting` when it is set, else the general one, with its name.
        let chosen = |setting: &str| {
            [
                format!("OTEL_EXPORTER_OTLP_TRACES_{setting}"),
                format!("OTEL_EXPORTER_OTLP_{setting}"),
            ]
            .into_iter()
            .find_map(|name| var(&name).map(|value| (name, value)))
        };
        let url = match chosen("ENDPOINT") {
            None => return Ok(None),
            Some((name, url)) if name.contains("TRACES") => endpoint(&name, url.trim())?,
            Some((name, base)) => {
                let base = base.trim();
                let joined = format!("{}/v1/traces", base.strip_suffix('/').unwrap_or(base));
                endpoint(&name, &joined)?
            }
        };
        // Either protocol variable names one this server does not speak: refused.
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(p) = var(name)
                && p.trim() != "http/protobuf"
            {
                return Err(format!(
                    "{name}: `{p}` is not supported; this server exports http/protobuf (unset it or set http/protobuf)"
                ));
            }
        }
        let mut headers = HeaderMap::new();
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(list) = var(name) {
                for (key, value) in header_list(name, &list)? {
                    headers.insert(key, value);
                }
            }
        }
        let timeout = match chosen("TIMEOUT") {
            None => DEFAULT_TIMEOUT,
            Some((name, ms)) => match ms.trim().parse::<u64>() {
                Ok(ms) if (super::MILLIS.0..=super::MILLIS.1).contains(&ms) => {
                    Duration::from_millis(ms)
                }
                _ => {
                    let (low, high) = super::MILLIS;
                    return Err(format!(
                        "{name}: `{}` is not a whole number of milliseconds from {low} to {high}",
                        crate::telemetry::bounded(&ms)
                    ));
                }
            },
        };
        if let Some((name, c)) = chosen("COMPRESSION")
            && c.trim() != "none"
        {
            return Err(format!(
                "{name}: `{c}` is not supported; this server sends spans uncompressed (unset it or set none)"
            ));
        }
        Ok(Some(Destination {
            url,
            headers,
            timeout,
        }))
    }
}

fn endpoint(name: &str, url: &str) -> Result<reqwest::Url, String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(u),
        Ok(_) => Err(format!(
            "{name}: `{url}` must be an http:// or https:// URL"
        )),
        Err(e) => Err(format!("{name}: `{url}` is not a URL ({e})")),
    }
}

/// `key1=value1,key2=value2`, each value percent-decoded (W3C Baggage's format, which OTLP's
/// specification names). A value is never put in a message: it is often a secret.
fn header_list(name: &str, list: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut headers = Vec::new();
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "{name}: an entry has no `=`; write key=value pairs separated by commas"
            ));
        };
        let key = key.trim();
        let decoded = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| {
                format!("{name}: the value of `{key}` is not UTF-8 once percent-decoded")
            })?;
        let key = HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| format!("{name}: `{key}` is not a header name"))?;
        let value = HeaderValue::from_str(&decoded)
            .map_err(|_| format!("{name}: the value of `{key}` is not a valid header value"))?;
        headers.push((key, value));
    }
    Ok(headers)
}

/// The exporter the batch processor calls.
#[derive(Debug)]
pub struct Exporter {
    client: reqwest::blocking::Client,
    destination: Destination,
    resource: protobuf::Written,
    /// The collector's URL as logs show it: without a user name or password.
    shown: String,
    /// Whether the last export failed, so a failure is logged once until exports work again.
    failing: AtomicBool,
}

impl Exporter {
    pub fn new(client: reqwest::blocking::Client, destination: Destination) -> Exporter {
        let mut shown = destination.url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        Exporter {
            shown: shown.into(),
            client,
            destination,
            resource: protobuf::Written::default(),
            failing: AtomicBool::new(false),
        }
    }

    fn send(&self, body: Vec<u8>) -> Result<(), String> {
        let answer = self
            .client
            .post(self.destination.url.clone())
            .headers(self.destination.headers.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .timeout(self.destination.timeout)
            .body(body)
            .send()
            .map_err(|e| e.without_url().to_string())?;
        let status = answer.status();
        // Read (a bounded part of) the answer so the connection can carry the next export.
        let _ = std::io::copy(
            &mut std::io::Read::take(answer, ANSWER_READ),
            &mut std::io::sink(),
        );
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the collector answered {status}"))
        }
    }
}

impl SpanExporter for Exporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let body = protobuf::request(&batch, &self.resource);
        drop(batch);
        match self.send(body) {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(collector = self.shown, "trace export works again");
                }
                Ok(())
            }
            Err(why) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        collector = self.shown,
                        error = %why,
                        "trace export failed; spans wait in the batch processor's queue and the newest are dropped when it is full"
                    );
                }
                Err(OTelSdkError::InternalFailure(why))
            }
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.resource = protobuf::Written::new(resource);
    }
}

#[cfg(test)]
mod tests;
