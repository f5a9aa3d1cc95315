//! DNS-rebinding protection for the MCP routes (MCP transports spec, "Security Warning";
//! security best practices, "Local MCP Server Compromise").
//!
//! A request whose `Host` is not in `MCP_ALLOWED_HOSTS` gets 421 Misdirected Request; a request
//! with an `Origin` not in `MCP_ALLOWED_ORIGINS` gets 403. Requests without `Origin` (servers,
//! command-line clients, ChatGPT's back end) are not browser requests and pass.
//!
//! The same middleware answers CORS for browser clients of allowed origins (Fetch standard,
//! "CORS protocol"): a preflight gets the methods and headers MCP uses without needing a token,
//! and every answer to an allowed origin names it and exposes `WWW-Authenticate`,
//! `Mcp-Session-Id` and `Mcp-Protocol-Version`. All header values are static, so a request
//! costs no allocation here.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::Settings;

/// Whether `host` (a `Host` header value) is allowed. An allowed entry without a port matches
/// the host name on any port; one with a port must match exactly.
pub(crate) fn host_allowed(allowed: &[String], host: &str) -> bool {
    // The host name without the port: up to the closing bracket of an IPv6 literal, else up to
    // the last colon. Entries are stored in lower case, so comparing without regard to case
    // needs no copy of the header on this per-request path.
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(name))
}

/// Whether an `Origin` header value is allowed; `null` and unparsable origins never are. An
/// entry `scheme://host:*` allows that scheme and host on any port.
pub(crate) fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    // Browsers send the serialised origin, which is how entries are stored, so an exact match
    // is the common case; anything else is parsed and serialised before comparing.
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let Some(host) = url.host() else {
        return false;
    };
    let serialised = url.origin().ascii_serialization();
    let scheme_and_host = format!("{}://{host}", url.scheme());
    allowed.iter().any(|a| match a.strip_suffix(":*") {
        Some(any_port) => any_port == scheme_and_host,
        None => *a == serialised,
    })
}

fn refuse(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32000, "message": message },
    });
    (status, axum::Json(body)).into_response()
}

const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET, POST, DELETE");
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static(
    "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, mcp-method, \
     mcp-name, last-event-id, dpop",
);
const EXPOSE_HEADERS: HeaderValue =
    HeaderValue::from_static("www-authenticate, mcp-session-id, mcp-protocol-version, dpop-nonce");
const MAX_AGE: HeaderValue = HeaderValue::from_static("3600");
const VARY: HeaderValue = HeaderValue::from_static("origin");
const VARY_PREFLIGHT: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);

/// The answer to a CORS preflight from an allowed origin.
fn preflight(origin: HeaderValue) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    h.insert(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    h.append(header::VARY, VARY_PREFLIGHT);
    response
}

/// The host a request is for (RFC 9112 §3.2): the authority of an absolute-form target, which
/// a server must use instead of `Host` (§3.2.2), else the one `Host` header. A request without
/// a `Host` header, or with more than one, gets 400, as §3.2 requires; every route checks this.
pub(crate) fn request_host(req: &Request) -> Result<&str, BadHost> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(BadHost(
            "the request has more than one Host header; send exactly one",
        ));
    }
    if req.uri().scheme().is_some()
        && let Some(authority) = req.uri().authority()
    {
        return Ok(authority.as_str());
    }
    match host.map(|h| h.to_str()) {
        Some(Ok(host)) => Ok(host),
        Some(Err(_)) => Err(BadHost("the Host header is not visible ASCII")),
        None => Err(BadHost("the request has no Host header; send exactly one")),
    }
}

/// A request whose `Host` cannot be told; answered 400.
#[derive(Debug)]
pub(crate) struct BadHost(&'static str);

impl IntoResponse for BadHost {
    fn into_response(self) -> Response {
        refuse(StatusCode::BAD_REQUEST, self.0.into())
    }
}

/// Runs in front of the MCP routes, before authentication: Host and Origin checks, then
/// `inner` (the gate and the handler), whose answer gets the CORS headers.
pub(crate) async fn guard<F, Fut>(settings: &Settings, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let host = match request_host(&req) {
        Ok(host) => host,
        Err(bad) => return bad.into_response(),
    };
    if !host_allowed(&settings.allowed_hosts, host) {
        tracing::info!(host, "refused a request for an unknown Host");
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!("Host `{host}` is not served here; add it to MCP_ALLOWED_HOSTS if it is yours"),
        );
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    if let Some(value) = &origin {
        let origin = value.to_str().unwrap_or("");
        if !origin_allowed(&settings.allowed_origins, origin) {
            tracing::info!(origin, "refused a request from a foreign Origin");
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "Origin `{origin}` is not allowed; add it to MCP_ALLOWED_ORIGINS if it is yours"
                ),
            );
        }
    }
    if let Some(origin) = origin {
        if req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return preflight(origin);
        }
        let mut response = inner(req).await;
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
        h.append(header::VARY, VARY);
        return response;
    }
    let mut response = inner(req).await;
    response.headers_mut().append(header::VARY, VARY);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_host_entry_without_port_matches_any_port() {
        let allowed = list(&["mcp.localhost", "127.0.0.1", "[::1]"]);
        assert!(host_allowed(&allowed, "mcp.localhost"));
        assert!(host_allowed(&allowed, "MCP.localhost:8443"));
        assert!(host_allowed(&allowed, "127.0.0.1:9"));
        assert!(host_allowed(&allowed, "[::1]:8000"));
        assert!(!host_allowed(&allowed, "evil.example.com"));
        assert!(!host_allowed(&allowed, "mcp.localhost.evil.com"));
        assert!(!host_allowed(&allowed, ""));
        assert!(
            !host_allowed(&allowed, "[::1"),
            "an unclosed IPv6 literal is not [::1]"
        );
    }

    #[test]
    fn a_host_entry_with_port_matches_only_that_port() {
        let allowed = list(&["mcp.localhost:8443"]);
        assert!(host_allowed(&allowed, "mcp.localhost:8443"));
        assert!(!host_allowed(&allowed, "mcp.localhost:9999"));
        assert!(!host_allowed(&allowed, "mcp.localhost"));
    }

    #[test]
    fn origins_are_compared_after_normalisation() {
        let allowed = list(&["https://chatgpt.com"]);
        assert!(origin_allowed(&allowed, "https://chatgpt.com"));
        assert!(origin_allowed(&allowed, "https://ChatGPT.com:443"));
        assert!(!origin_allowed(&allowed, "http://chatgpt.com"));
        assert!(!origin_allowed(&allowed, "null"));
        assert!(!origin_allowed(&allowed, "https://chatgpt.com.evil.com"));
    }

    #[test]
    fn a_port_wildcard_allows_that_scheme_and_host_on_any_port_only() {
        let allowed = list(&["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]);
        for ok in [
            "http://localhost:6274",
            "http://LOCALHOST:3000",
            "http://localhost",
            "http://127.0.0.1:8080",
            "http://[::1]:6274",
        ] {
            assert!(origin_allowed(&allowed, ok), "{ok}");
        }
        for refused in [
            "https://localhost:6274",
            "http://localhost.evil.com:6274",
            "http://evil.localhost:6274",
            "http://127.0.0.2:6274",
            "http://[::2]:6274",
            "http://user@evil.com:6274",
            "null",
            "",
        ] {
            assert!(!origin_allowed(&allowed, refused), "{refused}");
        }
    }
}
