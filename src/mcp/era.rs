//! Protocol revisions and how each request is assigned to one.
//!
//! - 2026-07-28 (stateless, MCP 2026-07-28 "Versioning" and "Transports"): every request carries
//!   `_meta["io.modelcontextprotocol/protocolVersion"]` and `…/clientCapabilities`, and over
//!   HTTP the `MCP-Protocol-Version`, `Mcp-Method` and (for `tools/call`) `Mcp-Name` headers,
//!   which must agree with the body.
//! - 2025-03-26, 2025-06-18, 2025-11-25: `initialize` negotiates a version (MCP 2025-11-25
//!   "Lifecycle", version negotiation); later requests name it in `MCP-Protocol-Version`, and a
//!   request without that header is taken as 2025-03-26 (MCP 2025-06-18 "Transports").
//! - 2024-11-05: the HTTP+SSE transport at `/sse`; the version is whatever `initialize` agreed.
//!
//! A request belongs to the stateless era when its `_meta` names a protocol version, when its
//! `MCP-Protocol-Version` header is a stateless revision, or when its method is `server/discover`.

use axum::http::{HeaderMap, HeaderName};
use serde_json::{Map, Value};

use super::error::McpError;
use super::jsonrpc::Request;

pub(crate) const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub(crate) const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub(crate) const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The stateless revisions served with per-request `_meta`, newest first.
pub(crate) const STATELESS: &[&str] = &["2026-07-28"];
/// Revisions negotiated by `initialize` on `/mcp`, newest first.
pub(crate) const NEGOTIATED: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// Revisions negotiated by `initialize` on the `/sse` transport, newest first.
pub(crate) const SSE_NEGOTIATED: &[&str] =
    &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Every revision `/mcp` serves, newest first: what `server/discover` lists and what an
/// unsupported-version error names, so dual-era clients know `initialize` is available too.
pub(crate) const SERVED: &[&str] = &["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];
/// The version assumed for an initialize-era request without `MCP-Protocol-Version`.
pub(crate) const ASSUMED: &str = "2025-03-26";

/// A protocol revision this server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    V2024_11_05,
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
    V2026_07_28,
}

impl Version {
    pub(crate) fn parse(text: &str) -> Option<Version> {
        Some(match text {
            "2024-11-05" => Version::V2024_11_05,
            "2025-03-26" => Version::V2025_03_26,
            "2025-06-18" => Version::V2025_06_18,
            "2025-11-25" => Version::V2025_11_25,
            "2026-07-28" => Version::V2026_07_28,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::V2024_11_05 => "2024-11-05",
            Version::V2025_03_26 => "2025-03-26",
            Version::V2025_06_18 => "2025-06-18",
            Version::V2025_11_25 => "2025-11-25",
            Version::V2026_07_28 => "2026-07-28",
        }
    }

    /// Whether this revision is the stateless one (per-request `_meta`, `server/discover`).
    pub(crate) fn is_stateless(self) -> bool {
        self >= Version::V2026_07_28
    }

    /// Whether tools may declare `outputSchema`/`title` and results carry `structuredContent`
    /// (added in 2025-06-18).
    pub(crate) fn has_structured_output(self) -> bool {
        self >= Version::V2025_06_18
    }
}

/// The version `initialize` answers: the client's if offered, else the newest offered.
pub(crate) fn negotiate(asked: Option<&str>, offered: &[&'static str]) -> Version {
    let chosen = asked
        .and_then(|a| offered.iter().find(|v| **v == a))
        .unwrap_or(&offered[0]);
    Version::parse(chosen).expect("offered versions are known")
}

/// The MCP request headers, as names parsed once (a lookup by `&str` parses the name each time).
pub(crate) static PROTOCOL_VERSION_HEADER: HeaderName =
    HeaderName::from_static("mcp-protocol-version");
pub(crate) static METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
pub(crate) static NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");

/// A header's value with surrounding whitespace removed (RFC 9110 §5.5); `None` when absent. A
/// value that is not visible ASCII reads as a placeholder that matches nothing.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().map(str::trim).unwrap_or("(not visible ASCII)"))
}

/// Whether a request on `/mcp` belongs to the stateless era.
pub(crate) fn is_stateless(headers: &HeaderMap, request: &Request) -> bool {
    request
        .meta()
        .is_some_and(|m| m.contains_key(META_PROTOCOL_VERSION))
        || request.method == "server/discover"
        || header(headers, &PROTOCOL_VERSION_HEADER).is_some_and(|v| STATELESS.contains(&v))
}

/// Checks a stateless request's envelope: the routing headers, `_meta`, then the version.
pub(crate) fn check_stateless(headers: &HeaderMap, request: &Request) -> Result<Version, McpError> {
    check_routing_headers(headers, request)?;
    let meta = request.meta().ok_or_else(|| {
        McpError::InvalidParams(format!(
            "params._meta is required in protocol {}: send {META_PROTOCOL_VERSION} and {META_CLIENT_CAPABILITIES}",
            STATELESS[0]
        ))
    })?;
    let version = meta_str(meta, META_PROTOCOL_VERSION)?;
    if !meta
        .get(META_CLIENT_CAPABILITIES)
        .is_some_and(Value::is_object)
    {
        return Err(McpError::InvalidParams(format!(
            "params._meta[\"{META_CLIENT_CAPABILITIES}\"] is required and must be an object (use {{}} for none)"
        )));
    }
    match header(headers, &PROTOCOL_VERSION_HEADER) {
        Some(h) if h == version => {}
        Some(h) => {
            return Err(McpError::HeaderMismatch(format!(
                "the MCP-Protocol-Version header ({h}) must equal params._meta[\"{META_PROTOCOL_VERSION}\"] ({version})"
            )));
        }
        None => {
            return Err(McpError::HeaderMismatch(format!(
                "the MCP-Protocol-Version header is required and must equal params._meta[\"{META_PROTOCOL_VERSION}\"] ({version})"
            )));
        }
    }
    Version::parse(version)
        .filter(|v| v.is_stateless())
        .ok_or_else(|| McpError::UnsupportedVersion {
            requested: version.to_owned(),
            supported: SERVED,
        })
}

fn meta_str<'a>(meta: &'a Map<String, Value>, key: &str) -> Result<&'a str, McpError> {
    meta.get(key).and_then(Value::as_str).ok_or_else(|| {
        McpError::InvalidParams(format!(
            "params._meta[\"{key}\"] is required and must be a string such as \"{}\"",
            STATELESS[0]
        ))
    })
}

/// `Mcp-Method` must equal the body's method; for `tools/call`, `Mcp-Name` must equal the
/// tool's name (SEP-2243). Header names are case-insensitive, values are not.
fn check_routing_headers(headers: &HeaderMap, request: &Request) -> Result<(), McpError> {
    match header(headers, &METHOD_HEADER) {
        Some(m) if m == request.method => {}
        Some(m) => {
            return Err(McpError::HeaderMismatch(format!(
                "the Mcp-Method header ({m}) must equal the body's method ({})",
                request.method
            )));
        }
        None => {
            return Err(McpError::HeaderMismatch(format!(
                "the Mcp-Method header is required; send Mcp-Method: {}",
                request.method
            )));
        }
    }
    if request.method != "tools/call" {
        return Ok(());
    }
    let Some(name) = request.str_param("name") else {
        return Ok(());
    };
    match header(headers, &NAME_HEADER) {
        Some(h) if h == name => Ok(()),
        Some(h) => Err(McpError::HeaderMismatch(format!(
            "the Mcp-Name header ({h}) must equal params.name ({name})"
        ))),
        None => Err(McpError::HeaderMismatch(format!(
            "the Mcp-Name header is required for tools/call; send Mcp-Name: {name}"
        ))),
    }
}

/// The version of an initialize-era request other than `initialize`, from its header.
pub(crate) fn negotiated_version(headers: &HeaderMap) -> Result<Version, McpError> {
    let Some(text) = header(headers, &PROTOCOL_VERSION_HEADER) else {
        return Ok(Version::parse(ASSUMED).expect("known"));
    };
    Version::parse(text)
        .filter(|v| NEGOTIATED.contains(&v.as_str()))
        .ok_or_else(|| McpError::UnsupportedVersion {
            requested: text.to_owned(),
            supported: SERVED,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_a_supported_version_and_otherwise_offers_the_newest() {
        assert_eq!(
            negotiate(Some("2025-03-26"), NEGOTIATED),
            Version::V2025_03_26
        );
        assert_eq!(
            negotiate(Some("2024-11-05"), NEGOTIATED),
            Version::V2025_11_25
        );
        assert_eq!(
            negotiate(Some("2024-11-05"), SSE_NEGOTIATED),
            Version::V2024_11_05
        );
        assert_eq!(negotiate(None, NEGOTIATED), Version::V2025_11_25);
    }

    #[test]
    fn every_listed_version_parses_back_to_itself() {
        for v in SERVED.iter().chain(SSE_NEGOTIATED) {
            assert_eq!(Version::parse(v).unwrap().as_str(), *v);
        }
    }
}
