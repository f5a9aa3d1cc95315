//! DNS-rebinding protection for the MCP routes (MCP transports spec, "Security Warning";
//! security best practices, "Local MCP Server Compromise").
//!
//! A request whose `Host` is not in `MCP_ALLOWED_HOSTS` gets 421 Misdirected Request; a request
//! with an `Origin` not in `MCP_ALLOWED_ORIGINS` gets 403. Requests without `Origin` (servers,
//! command-line clients, ChatGPT's back end) are not browser requests and pass.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// Whether `host` (a `Host` header value) is allowed. An allowed entry without a port matches
/// the host name on any port; one with a port must match exactly.
pub fn host_allowed(allowed: &[String], host: &str) -> bool {
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

/// Whether an `Origin` header value is allowed; `null` and unparsable origins never are.
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    match url::Url::parse(origin) {
        Ok(url) if url.host_str().is_some() => {
            allowed.contains(&url.origin().ascii_serialization())
        }
        _ => false,
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32000, "message": message },
    });
    (status, axum::Json(body)).into_response()
}

/// Middleware applied to the MCP routes before authentication.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let settings = &state.settings;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    if !host_allowed(&settings.allowed_hosts, host) {
        tracing::info!(host, "refused a request for an unknown Host");
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!("Host `{host}` is not served here; add it to MCP_ALLOWED_HOSTS if it is yours"),
        );
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
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
    next.run(req).await
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
}
