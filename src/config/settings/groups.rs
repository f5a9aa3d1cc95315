//! The settings read as groups (identity, keys, documents, limits), each with the checks that
//! tie its members together.

use std::collections::BTreeMap;
use std::path::PathBuf;

use url::Url;

use super::reader::Reader;
use super::{
    AuditQueries, CHATGPT_ORIGINS, ConnectionSettings, CorpusSettings, FairSettings, JwksSettings,
    LOOPBACK_ORIGINS, LogFormat, RedisSettings, SseSettings,
};
use crate::config::ConfigError;

impl Reader<'_> {
    /// The accepted audiences: `MCP_AUDIENCE` (by default the resource), then
    /// `MCP_ALT_AUDIENCE`.
    pub(super) fn audiences(&self, resource: &str) -> Result<Vec<String>, ConfigError> {
        let mut audiences = vec![
            self.text("MCP_AUDIENCE")?
                .unwrap_or_else(|| resource.to_owned()),
        ];
        for alt in self.list("MCP_ALT_AUDIENCE", ',')? {
            if !audiences.contains(&alt) {
                audiences.push(alt);
            }
        }
        Ok(audiences)
    }

    /// Where discovery is read: `KC_DISCOVERY_URL`, or the issuer's well-known URL.
    pub(super) fn discovery_url(&self, issuer: &str) -> Result<Url, ConfigError> {
        match self.text("KC_DISCOVERY_URL")? {
            Some(v) => self.http_url("KC_DISCOVERY_URL", &v),
            None => self.http_url(
                "KC_ISSUER",
                &format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                ),
            ),
        }
    }

    /// An optional http(s) URL.
    pub(super) fn optional_url(&self, env: &str) -> Result<Option<Url>, ConfigError> {
        match self.text(env)? {
            Some(v) => Ok(Some(self.http_url(env, &v)?)),
            None => Ok(None),
        }
    }

    /// The scopes of each tool given extra ones, by tool name. Any name of the right shape is
    /// read here; [`crate::config::load`] refuses names of no tool.
    pub(super) fn tool_scopes(&self) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
        let mut tool_scopes = BTreeMap::new();
        for (tool, env, _) in self.raw.scoped_tools() {
            let scopes = self.scope_list(env)?;
            if !scopes.is_empty() {
                tool_scopes.insert(tool, scopes);
            }
        }
        Ok(tool_scopes)
    }

    pub(super) fn log_format(&self) -> Result<Option<LogFormat>, ConfigError> {
        Ok(match self.choice("MCP_LOG_FORMAT")? {
            None => None,
            Some("json") => Some(LogFormat::Json),
            Some(_) => Some(LogFormat::Pretty),
        })
    }

    pub(super) fn audit_queries(&self) -> Result<AuditQueries, ConfigError> {
        Ok(match self.choice("MCP_AUDIT_QUERIES")? {
            Some("text") => AuditQueries::Text,
            Some("off") => AuditQueries::Off,
            _ => AuditQueries::Hash,
        })
    }

    pub(super) fn jwks(&self) -> Result<JwksSettings, ConfigError> {
        Ok(JwksSettings {
            min_refresh: self.duration("MCP_JWKS_MIN_REFRESH_SECS")?,
            max_stale: self.duration("MCP_JWKS_MAX_STALE_SECS")?,
            http_timeout: self.duration("MCP_HTTP_TIMEOUT_SECS")?,
        })
    }

    pub(super) fn sse(&self) -> Result<SseSettings, ConfigError> {
        Ok(SseSettings {
            max_sessions: self.integer("MCP_SSE_MAX_SESSIONS")? as usize,
            max_sessions_per_subject: self.integer("MCP_SSE_MAX_SESSIONS_PER_SUBJECT")? as usize,
            outbox_bytes: self.bytes("MCP_SSE_OUTBOX_KIB")? as usize,
            outbox_total_bytes: self.bytes("MCP_SSE_OUTBOX_TOTAL_MIB")? as usize,
            idle: self.duration("MCP_SSE_IDLE_SECS")?,
            keep_alive: self.duration("MCP_SSE_KEEPALIVE_SECS")?,
        })
    }

    pub(super) fn connections(&self) -> Result<ConnectionSettings, ConfigError> {
        Ok(ConnectionSettings {
            header_timeout: self.duration("MCP_HEADER_TIMEOUT_SECS")?,
            body_timeout: self.duration("MCP_BODY_TIMEOUT_SECS")?,
            max_connections: self.integer("MCP_MAX_CONNECTIONS")? as usize,
            shutdown_grace: self.duration("MCP_SHUTDOWN_GRACE_SECS")?,
        })
    }

    /// The fair-use limits; the pool defaults to one thread per CPU, and one caller to half.
    pub(super) fn fair(&self) -> Result<FairSettings, ConfigError> {
        let threads = self.integer("MCP_RANKING_THREADS")?;
        let per_caller = self.number_within("MCP_RANKING_PER_CALLER", 1, threads)?;
        Ok(FairSettings {
            rate_per_minute: self.integer("MCP_RATE_LIMIT_PER_MIN")? as u32,
            rate_burst: self.integer("MCP_RATE_LIMIT_BURST")? as u32,
            requests_per_minute: self.integer("MCP_REQUEST_LIMIT_PER_MIN")? as u32,
            requests_burst: self.integer("MCP_REQUEST_LIMIT_BURST")? as u32,
            ranking_threads: threads as usize,
            ranking_per_caller: per_caller.unwrap_or(threads.div_ceil(2)) as usize,
            ranking_queue_per_caller: self.integer("MCP_RANKING_QUEUE_PER_CALLER")? as usize,
        })
    }

    pub(super) fn redis(&self) -> Result<Option<RedisSettings>, ConfigError> {
        const ENV: &str = "MCP_REDIS_URL";
        let Some(value) = self.text(ENV)?.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        // The value may hold a password: messages name the setting, never repeat it.
        let url = Url::parse(&value).map_err(|e| {
            self.error(
                ENV,
                format!("is not a URL ({e}); write redis://host:6379 or rediss://host:6380"),
            )
        })?;
        if !matches!(url.scheme(), "redis" | "rediss") || url.host_str().is_none() {
            return Err(self.error(
                ENV,
                format!(
                    "must be a redis:// or rediss:// URL with a host, not a {}:// one",
                    url.scheme()
                ),
            ));
        }
        if let Err(e) = redis::Client::open(url.as_str()) {
            return Err(self.error(ENV, format!("is not a Redis URL the client takes ({e})")));
        }
        Ok(Some(RedisSettings {
            url,
            timeout: self.duration("MCP_REDIS_TIMEOUT_MS")?,
        }))
    }

    pub(super) fn corpus(&self) -> Result<CorpusSettings, ConfigError> {
        let base_url = match self.text("MCP_CORPUS_BASE_URL")? {
            Some(v) => Some(self.http_url("MCP_CORPUS_BASE_URL", &v)?),
            None => None,
        };
        Ok(CorpusSettings {
            folder: self.text("MCP_CORPUS")?.map(PathBuf::from),
            base_url,
            index_dir: self.text("MCP_INDEX_DIR")?.map(PathBuf::from),
            watch: self.boolean("MCP_CORPUS_WATCH")?,
            debounce: self.duration("MCP_CORPUS_DEBOUNCE_MS")?,
            search_cache_bytes: self.bytes("MCP_SEARCH_CACHE_MIB")?,
        })
    }

    pub(super) fn server_url(&self) -> Result<String, ConfigError> {
        const ENV: &str = "MCP_SERVER_URL";
        let value = self.required(
            ENV,
            "the public origin clients reach, e.g. https://mcp.localhost",
        )?;
        let url = self.http_url(ENV, &value)?;
        if url.path() != "/" || url.query().is_some() {
            return Err(self.error(
                ENV,
                format!("`{value}` must be an origin without a path or query, e.g. https://mcp.localhost"),
            ));
        }
        Ok(url.origin().ascii_serialization())
    }

    pub(super) fn resource(&self, value: String) -> Result<String, ConfigError> {
        let url = self.http_url("MCP_RESOURCE", &value)?;
        if url.query().is_some() {
            return Err(self.error("MCP_RESOURCE", format!("`{value}` must not have a query")));
        }
        if url.path().len() > 1 && value.ends_with('/') {
            return Err(self.error(
                "MCP_RESOURCE",
                format!("`{value}` ends with a slash; use the exact URL clients connect to, e.g. https://mcp.localhost/mcp"),
            ));
        }
        Ok(value)
    }

    pub(super) fn origins(&self, server_url: &str) -> Result<Vec<String>, ConfigError> {
        const ENV: &str = "MCP_ALLOWED_ORIGINS";
        let written = self.list(ENV, ',')?;
        let written = if self.raw.written(ENV).is_some() {
            written
        } else {
            let mut defaults: Vec<String> = CHATGPT_ORIGINS.iter().map(|s| s.to_string()).collect();
            defaults.push(server_url.to_owned());
            defaults.extend(LOOPBACK_ORIGINS.iter().map(|s| s.to_string()));
            defaults
        };
        let mut origins = Vec::new();
        for item in written {
            // `scheme://host:*` allows the host on any port; no other wildcard is accepted.
            let (base, any_port) = match item.strip_suffix(":*") {
                Some(base) => (base, true),
                None => (item.as_str(), false),
            };
            let url = Url::parse(base)
                .ok()
                .filter(|u| u.host_str().is_some() && u.path() == "/" && !base.contains('*'))
                .filter(|u| !any_port || u.port().is_none())
                .ok_or_else(|| {
                    self.error(ENV, format!("`{item}` is not an origin like https://chatgpt.com or http://localhost:* (only the port may be a wildcard)"))
                })?;
            let mut origin = url.origin().ascii_serialization();
            if any_port {
                // The serialisation drops a default port; put the wildcard where the port goes.
                origin.push_str(":*");
            }
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(origins)
    }

    pub(super) fn hosts(&self, server_url: &str) -> Result<Vec<String>, ConfigError> {
        const ENV: &str = "MCP_ALLOWED_HOSTS";
        let hosts = if self.raw.written(ENV).is_some() {
            self.list(ENV, ',')?
        } else {
            let own = Url::parse(server_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            vec![own, "localhost".into(), "127.0.0.1".into()]
        };
        let mut out = Vec::new();
        for host in hosts {
            let host = host.to_ascii_lowercase();
            if host.contains(['/', '*', ' ']) || host.is_empty() {
                return Err(self.error(
                    ENV,
                    format!(
                        "`{host}` is not a host name like mcp.example.com or mcp.example.com:8443"
                    ),
                ));
            }
            if !out.contains(&host) {
                out.push(host);
            }
        }
        Ok(out)
    }
}
