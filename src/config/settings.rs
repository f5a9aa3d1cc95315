//! Typed, validated settings built from a [`RawConfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::ConfigError;
use super::raw::RawConfig;
use reader::Reader;

/// Origins of ChatGPT's web app, allowed by default alongside the server's own origin.
pub(super) const CHATGPT_ORIGINS: &[&str] = &["https://chatgpt.com", "https://chat.openai.com"];

/// Browser pages served from this machine on any port (the MCP Inspector at
/// `http://localhost:6274`, a local development app), allowed by default too. A page on a
/// loopback origin runs on the user's own machine, and a bearer token is never sent by a
/// browser on its own, so these open nothing a foreign page could use.
pub(super) const LOOPBACK_ORIGINS: &[&str] =
    &["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Where `/metrics` is served on its own (`MCP_METRICS_BIND`); `None` serves it beside
    /// the rest on `bind`.
    pub metrics_bind: Option<SocketAddr>,
    /// Public origin, without a trailing slash, e.g. `https://mcp.localhost`.
    pub server_url: String,
    /// Resource identifier published in the metadata and expected by clients.
    pub resource: String,
    pub resource_name: String,
    pub resource_documentation: String,
    /// Accepted audiences: `MCP_AUDIENCE` first, then `MCP_ALT_AUDIENCE`.
    pub audiences: Vec<String>,
    /// Exact expected `iss`, compared byte for byte.
    pub issuer: String,
    pub discovery_url: Url,
    pub jwks_url: Option<Url>,
    pub required_scopes: Vec<String>,
    /// Normalised origins (`scheme://host[:port]`), or `scheme://host:*` for any port.
    pub allowed_origins: Vec<String>,
    /// Lower-case host names, with a port when the port must match too.
    pub allowed_hosts: Vec<String>,
    pub corpus: CorpusSettings,
    /// Scopes single tools need beyond `required_scopes`, by tool name.
    pub tool_scopes: BTreeMap<String, Vec<String>>,
    pub log_format: Option<LogFormat>,
    /// How the audit trail records a search's query.
    pub audit_queries: AuditQueries,
    pub log_filter: String,
    pub leeway: Duration,
    pub jwks: JwksSettings,
    pub token_cache_size: u64,
    pub max_body_bytes: usize,
    pub sse: SseSettings,
    pub connections: ConnectionSettings,
    pub fair: FairSettings,
    pub dpop: DpopSettings,
    /// The Redis (or Valkey) replicas share state on (`MCP_REDIS_URL`); `None` keeps it in
    /// each replica.
    pub redis: Option<RedisSettings>,
    /// What the configuration ignored and the log should say (unknown `KC_` variables, and
    /// unknown `MCP_` ones with `MCP_UNKNOWN_VARIABLES=warn`).
    pub warnings: Vec<String>,
}

/// DPoP-bound tokens (RFC 9449) and their proofs.
#[derive(Debug, Clone)]
pub struct DpopSettings {
    /// How old a proof's `iat` may be, beside the clock leeway.
    pub max_age: Duration,
    /// Whether Bearer tokens are refused, so only DPoP-bound tokens get in.
    pub required: bool,
    /// Most proofs remembered at once to refuse their replay.
    pub replay_capacity: usize,
    /// Whether proofs must carry a nonce this server handed out (RFC 9449 §9).
    pub nonce: bool,
}

/// What one caller (`sub` and `azp`) may use: tool calls a minute and the ranking pool.
#[derive(Debug, Clone)]
pub struct FairSettings {
    /// Tool calls a caller may make a minute; 0 sets no limit.
    pub rate_per_minute: u32,
    /// Tool calls a caller may make at once after a quiet spell.
    pub rate_burst: u32,
    /// Requests of any kind to the MCP routes a caller may send a minute; 0 sets no limit.
    pub requests_per_minute: u32,
    /// Requests a caller may send at once after a quiet spell.
    pub requests_burst: u32,
    /// Threads that rank searches, beside the async workers.
    pub ranking_threads: usize,
    /// Searches of one caller ranking at once.
    pub ranking_per_caller: usize,
    /// Searches of one caller waiting for the pool, beyond those ranking.
    pub ranking_queue_per_caller: usize,
}

/// Where replicas share state (`crate::shared`).
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://`, possibly with a password, so never printed.
    pub url: Url,
    /// How long a command may take before the replica decides alone.
    pub timeout: Duration,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redacted(&self.url))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A Redis URL as it may be shown: without its password.
pub(crate) fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// Limits of client connections (slow and idle clients, how many, how a stop ends them).
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// A request's headers must arrive within this long of the connection becoming ready for
    /// one, which also closes keep-alive connections idle for this long.
    pub header_timeout: Duration,
    /// A request's body must arrive within this long.
    pub body_timeout: Duration,
    /// Most connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long a stopping server waits for requests in flight before it exits anyway.
    pub shutdown_grace: Duration,
}

/// Limits of the event streams (`/sse` sessions and SSE answers on `/mcp`).
#[derive(Debug, Clone)]
pub struct SseSettings {
    /// Most `/sse` streams open at once.
    pub max_sessions: usize,
    /// Most `/sse` streams one caller (`sub` and `azp`) may hold.
    pub max_sessions_per_subject: usize,
    /// Bytes of answers waiting on one `/sse` stream its client is not reading.
    pub outbox_bytes: usize,
    /// Bytes of answers waiting on all `/sse` streams together.
    pub outbox_total_bytes: usize,
    /// An `/sse` stream with no message for this long is closed.
    pub idle: Duration,
    /// How often a comment is sent on a quiet stream.
    pub keep_alive: Duration,
}

/// Where documents come from and how their index is kept.
#[derive(Debug, Clone)]
pub struct CorpusSettings {
    /// `None` serves the sample corpus built into the binary.
    pub folder: Option<PathBuf>,
    pub base_url: Option<Url>,
    pub index_dir: Option<PathBuf>,
    pub watch: bool,
    pub debounce: Duration,
    /// Bytes of search results kept per index generation; 0 keeps none.
    pub search_cache_bytes: u64,
}

/// How the key cache talks to Keycloak.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// How often the key set is refreshed when the JWKS asks for no caching, as Keycloak's
    /// does, and the least time between refreshes whatever it asks.
    pub min_refresh: Duration,
    pub max_stale: Duration,
    pub http_timeout: Duration,
}

/// How the audit trail records a search's query (`MCP_AUDIT_QUERIES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditQueries {
    /// The query as the caller sent it.
    Text,
    /// The SHA-256 of the query, in hex: equal queries can be matched, their words not read.
    Hash,
    /// Not at all.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl Settings {
    /// Validates every setting; the first problem found is returned.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let r = Reader { raw };
        let bind = bind_address(raw)?;
        let server_url = r.server_url()?;
        let resource = match r.text("MCP_RESOURCE")? {
            Some(value) => r.resource(value)?,
            None => format!("{server_url}/mcp"),
        };
        let issuer = r.required(
            "KC_ISSUER",
            "the exact issuer of your tokens, e.g. https://auth.localhost/realms/mcp",
        )?;
        r.http_url("KC_ISSUER", &issuer)?;
        Ok(Settings {
            metrics_bind: metrics_address(raw, bind)?,
            bind,
            discovery_url: r.discovery_url(&issuer)?,
            jwks_url: r.optional_url("KC_JWKS_URL")?,
            audiences: r.audiences(&resource)?,
            required_scopes: r.scope_list("MCP_REQUIRED_SCOPES")?,
            tool_scopes: r.tool_scopes()?,
            allowed_origins: r.origins(&server_url)?,
            allowed_hosts: r.hosts(&server_url)?,
            log_format: r.log_format()?,
            audit_queries: r.audit_queries()?,
            jwks: r.jwks()?,
            resource_documentation: match r.optional_url("MCP_RESOURCE_DOCUMENTATION")? {
                Some(url) => url.to_string(),
                None => format!("{server_url}/"),
            },
            resource_name: r.required("MCP_RESOURCE_NAME", "a name")?,
            server_url,
            resource,
            issuer,
            corpus: r.corpus()?,
            log_filter: r.log_filter()?,
            leeway: r.duration("MCP_CLOCK_LEEWAY_SECS")?,
            token_cache_size: r.integer("MCP_TOKEN_CACHE_SIZE")?,
            max_body_bytes: r.bytes("MCP_MAX_BODY_BYTES")? as usize,
            sse: r.sse()?,
            connections: r.connections()?,
            fair: r.fair()?,
            dpop: DpopSettings {
                max_age: r.duration("MCP_DPOP_MAX_AGE_SECS")?,
                required: r.boolean("MCP_DPOP_REQUIRED")?,
                replay_capacity: r.integer("MCP_DPOP_REPLAY_CACHE_SIZE")? as usize,
                nonce: r.boolean("MCP_DPOP_NONCE")?,
            },
            redis: r.redis()?,
            warnings: Vec::new(),
        })
    }

    /// The URL of the protected-resource metadata for [`Settings::resource`] (RFC 9728 §3.1):
    /// the well-known path inserted between the server's origin and the resource's path.
    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.server_url, self.metadata_path())
    }

    /// The path part of [`Settings::metadata_url`].
    pub fn metadata_path(&self) -> String {
        let path = Url::parse(&self.resource)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("/.well-known/oauth-protected-resource{path}")
    }
}

/// `MCP_BIND`, on its own: `healthcheck` needs it without the rest of the settings.
pub fn bind_address(raw: &RawConfig) -> Result<SocketAddr, ConfigError> {
    let r = Reader { raw };
    let bind = r.required("MCP_BIND", "an address like 0.0.0.0:8000")?;
    r.address("MCP_BIND", &bind, "0.0.0.0:8000")
}

/// `MCP_METRICS_BIND`: an address of its own, not the one of `MCP_BIND`.
fn metrics_address(raw: &RawConfig, bind: SocketAddr) -> Result<Option<SocketAddr>, ConfigError> {
    const ENV: &str = "MCP_METRICS_BIND";
    let r = Reader { raw };
    let Some(text) = r.text(ENV)? else {
        return Ok(None);
    };
    let addr = r.address(ENV, &text, "0.0.0.0:9100")?;
    if addr.port() == bind.port() {
        return Err(r.error(
            ENV,
            format!("`{text}` has the port of MCP_BIND; give /metrics a port of its own"),
        ));
    }
    Ok(Some(addr))
}

mod groups;
mod reader;
#[cfg(test)]
mod tests;
