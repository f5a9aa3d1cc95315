//! Talking to Keycloak: the one outbound HTTP client, OpenID Connect discovery
//! (OpenID Connect Discovery 1.0 §4) and bounded JWKS downloads.
//!
//! The client follows no redirects, has connect and total timeouts and a user agent, and every
//! body read is capped, so a misbehaving identity provider cannot stall or bloat this server.

use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, HeaderMap};
use serde::Deserialize;
use url::Url;

/// The largest discovery or JWKS document read.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Builds the one outbound client, with `ring` as the TLS crypto provider.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    // Installing twice is harmless; the first provider stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("mcp-resource-server/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .timeout(timeout)
        .build()
        .expect("the TLS provider is installed, so the client builds")
}

/// Why a document could not be fetched; the variant is the metric outcome label. The
/// `Display` text, with URLs and causes, is for the log; [`FetchError::public`] is for anyone.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach {url}: {message}")]
    Network { url: String, message: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {message}")]
    Invalid {
        url: String,
        message: String,
        /// What was wrong, in words that name no URL and quote no answer.
        public: &'static str,
    },
}

impl FetchError {
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::Network { .. } => "network_error",
            FetchError::Status { .. } => "http_error",
            FetchError::Invalid { .. } => "invalid",
        }
    }

    /// The failure in words fit for an unauthenticated caller (`/readyz`): no internal URL, no
    /// error chain. The log has the rest.
    pub fn public(&self) -> String {
        match self {
            FetchError::Network { .. } => {
                "the signing keys could not be fetched: Keycloak did not answer (the server log has the details)".into()
            }
            FetchError::Status { status, .. } => {
                format!("the signing keys could not be fetched: Keycloak answered HTTP {status}")
            }
            FetchError::Invalid { public, .. } => {
                format!("the signing keys could not be used: {public}")
            }
        }
    }
}

/// A fetched document and its freshness as the server stated it.
#[derive(Debug)]
pub struct FetchedDocument {
    pub body: Vec<u8>,
    pub max_age: Option<Duration>,
    pub date: Option<String>,
}

/// GETs `url`, reading at most [`MAX_DOCUMENT_BYTES`].
pub async fn get(client: &reqwest::Client, url: &Url) -> Result<FetchedDocument, FetchError> {
    let shown = url.to_string();
    let network = |e: reqwest::Error| FetchError::Network {
        url: shown.clone(),
        message: error_chain(&e.without_url()),
    };
    let mut response = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(network)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            url: shown,
            status: status.as_u16(),
        });
    }
    let max_age = max_age(response.headers());
    let date = response
        .headers()
        .get("date")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::Invalid {
                url: shown,
                message: format!("document is larger than {MAX_DOCUMENT_BYTES} bytes"),
                public: "Keycloak's document is larger than this server reads",
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(FetchedDocument {
        body,
        max_age,
        date,
    })
}

/// `max-age` from `Cache-Control`; `no-cache`/`no-store` count as zero.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse().ok().map(Duration::from_secs);
        }
    }
    age
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[derive(Debug, Deserialize)]
struct DiscoveryDocument {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// Reads the discovery document and returns its `jwks_uri`, after checking that its `issuer`
/// is exactly the configured one.
pub async fn discover_jwks_uri(
    client: &reqwest::Client,
    discovery_url: &Url,
    expected_issuer: &str,
) -> Result<Url, FetchError> {
    let doc = get(client, discovery_url).await?;
    let invalid = |message: String, public| FetchError::Invalid {
        url: discovery_url.to_string(),
        message,
        public,
    };
    let parsed: DiscoveryDocument = serde_json::from_slice(&doc.body).map_err(|e| {
        invalid(
            format!("not an OpenID discovery document: {e}"),
            "the discovery document is not OpenID configuration JSON; check KC_DISCOVERY_URL",
        )
    })?;
    let issuer = parsed.issuer.unwrap_or_default();
    if issuer != expected_issuer {
        return Err(invalid(
            format!(
                "discovery reports issuer `{issuer}` but KC_ISSUER is `{expected_issuer}`; set KC_ISSUER to the issuer Keycloak uses (check KC_HOSTNAME)"
            ),
            "the discovery document names another issuer than KC_ISSUER; set KC_ISSUER to the issuer Keycloak uses (check KC_HOSTNAME)",
        ));
    }
    let no_jwks = "the discovery document has no usable jwks_uri; set KC_JWKS_URL";
    let jwks_uri = parsed
        .jwks_uri
        .ok_or_else(|| invalid("discovery document has no jwks_uri".into(), no_jwks))?;
    Url::parse(&jwks_uri)
        .map_err(|e| invalid(format!("jwks_uri `{jwks_uri}` is not a URL: {e}"), no_jwks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age(&headers("public, max-age=600")),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age(&headers("no-cache")), Some(Duration::ZERO));
        assert_eq!(max_age(&headers("private")), None);
    }
}
