//! Typed, validated settings built from a [`RawConfig`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::ConfigError;
use super::raw::{Origin, RawConfig, Value, file_key};

/// Origins of ChatGPT's web app, allowed by default alongside the server's own origin.
pub const CHATGPT_ORIGINS: &[&str] = &["https://chatgpt.com", "https://chat.openai.com"];

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
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
    /// Normalised origins (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Lower-case host names, with a port when the port must match too.
    pub allowed_hosts: Vec<String>,
    pub corpus: CorpusSettings,
    /// Scopes single tools need beyond `required_scopes`, by tool name.
    pub tool_scopes: BTreeMap<String, Vec<String>>,
    pub log_format: Option<LogFormat>,
    pub log_filter: String,
    pub leeway: Duration,
    pub jwks: JwksSettings,
    pub token_cache_size: u64,
    pub max_body_bytes: usize,
    pub sse: SseSettings,
}

/// Limits of the event streams (`/sse` sessions and SSE answers on `/mcp`).
#[derive(Debug, Clone)]
pub struct SseSettings {
    /// Most `/sse` streams open at once.
    pub max_sessions: usize,
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
}

/// How the key cache talks to Keycloak.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    pub cooldown: Duration,
    pub min_refresh: Duration,
    pub max_refresh: Duration,
    pub max_stale: Duration,
    pub http_timeout: Duration,
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
        let discovery_url = match r.text("KC_DISCOVERY_URL")? {
            Some(v) => r.http_url("KC_DISCOVERY_URL", &v)?,
            None => r.http_url(
                "KC_ISSUER",
                &format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                ),
            )?,
        };
        let jwks_url = match r.text("KC_JWKS_URL")? {
            Some(v) => Some(r.http_url("KC_JWKS_URL", &v)?),
            None => None,
        };
        let mut audiences = vec![r.text("MCP_AUDIENCE")?.unwrap_or_else(|| resource.clone())];
        for alt in r.list("MCP_ALT_AUDIENCE", ',')? {
            if !audiences.contains(&alt) {
                audiences.push(alt);
            }
        }
        let required_scopes = match r.raw.get("MCP_REQUIRED_SCOPES") {
            None => vec!["mcp:tools".to_owned()],
            Some(_) => r.list("MCP_REQUIRED_SCOPES", ' ')?,
        };
        r.scopes("MCP_REQUIRED_SCOPES", &required_scopes)?;
        let mut tool_scopes = BTreeMap::new();
        for (tool, env) in [
            ("search", "MCP_TOOLS_SEARCH_SCOPES"),
            ("fetch", "MCP_TOOLS_FETCH_SCOPES"),
        ] {
            let scopes = r.list(env, ' ')?;
            r.scopes(env, &scopes)?;
            if !scopes.is_empty() {
                tool_scopes.insert(tool.to_owned(), scopes);
            }
        }
        let allowed_origins = r.origins(&server_url)?;
        let allowed_hosts = r.hosts(&server_url)?;
        let log_format = match r.text("MCP_LOG_FORMAT")?.as_deref() {
            None => None,
            Some("json") => Some(LogFormat::Json),
            Some("pretty") => Some(LogFormat::Pretty),
            Some(other) => {
                return Err(r.error("MCP_LOG_FORMAT", format!("`{other}` is not json or pretty")));
            }
        };
        let jwks = JwksSettings {
            cooldown: r.secs("MCP_JWKS_COOLDOWN_SECS", 30, 1, 3600)?,
            min_refresh: r.secs("MCP_JWKS_MIN_REFRESH_SECS", 60, 1, 86_400)?,
            max_refresh: r.secs("MCP_JWKS_MAX_REFRESH_SECS", 3600, 1, 86_400)?,
            max_stale: r.secs("MCP_JWKS_MAX_STALE_SECS", 86_400, 1, 7 * 86_400)?,
            http_timeout: r.secs("MCP_HTTP_TIMEOUT_SECS", 5, 1, 120)?,
        };
        if jwks.min_refresh > jwks.max_refresh {
            return Err(r.error(
                "MCP_JWKS_MIN_REFRESH_SECS",
                "must not be larger than MCP_JWKS_MAX_REFRESH_SECS".into(),
            ));
        }
        Ok(Settings {
            bind,
            resource_documentation: match r.text("MCP_RESOURCE_DOCUMENTATION")? {
                Some(v) => r.http_url("MCP_RESOURCE_DOCUMENTATION", &v)?.to_string(),
                None => format!("{server_url}/"),
            },
            resource_name: r
                .text("MCP_RESOURCE_NAME")?
                .unwrap_or_else(|| "MCP resource server".into()),
            server_url,
            resource,
            audiences,
            issuer,
            discovery_url,
            jwks_url,
            required_scopes,
            allowed_origins,
            allowed_hosts,
            corpus: r.corpus()?,
            tool_scopes,
            log_format,
            log_filter: r.text("RUST_LOG")?.unwrap_or_else(|| "info".into()),
            leeway: r.secs("MCP_CLOCK_LEEWAY_SECS", 30, 0, 300)?,
            jwks,
            token_cache_size: r.integer("MCP_TOKEN_CACHE_SIZE", 10_000, 0, 10_000_000)?,
            max_body_bytes: r.integer("MCP_MAX_BODY_BYTES", 1 << 20, 1024, 64 << 20)? as usize,
            sse: SseSettings {
                max_sessions: r.integer("MCP_SSE_MAX_SESSIONS", 10_000, 1, 1_000_000)? as usize,
                idle: r.secs("MCP_SSE_IDLE_SECS", 1800, 1, 86_400)?,
                keep_alive: r.secs("MCP_SSE_KEEPALIVE_SECS", 15, 1, 300)?,
            },
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
    let bind = r.text("MCP_BIND")?.unwrap_or_else(|| "0.0.0.0:8000".into());
    bind.parse().map_err(|_| {
        r.error(
            "MCP_BIND",
            format!("`{bind}` is not an address like 0.0.0.0:8000"),
        )
    })
}

/// A scope token as RFC 6749 §3.3 allows, minus the quote and backslash that would need escaping.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Reads typed values out of the raw configuration, producing errors that name the setting.
struct Reader<'a> {
    raw: &'a RawConfig,
}

impl Reader<'_> {
    fn error(&self, env: &str, message: String) -> ConfigError {
        let setting = match self.raw.get(env).map(|v| &v.origin) {
            Some(Origin::File(path)) => format!("{env} ({} in {path})", file_key(env)),
            _ => env.to_owned(),
        };
        ConfigError { setting, message }
    }

    fn text(&self, env: &str) -> Result<Option<String>, ConfigError> {
        match self.raw.get(env).map(|v| &v.value) {
            None => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Integer(i)) => Ok(Some(i.to_string())),
            Some(Value::List(_)) => {
                Err(self.error(env, "expected a single value, not a list".into()))
            }
        }
    }

    fn required(&self, env: &str, what: &str) -> Result<String, ConfigError> {
        self.text(env)?
            .ok_or_else(|| self.error(env, format!("is required; set it to {what}")))
    }

    /// A list written either as a TOML array or as text separated by `sep` (or whitespace).
    fn list(&self, env: &str, sep: char) -> Result<Vec<String>, ConfigError> {
        let items: Vec<String> = match self.raw.get(env).map(|v| &v.value) {
            None => return Ok(Vec::new()),
            Some(Value::List(items)) => items.iter().map(|s| s.trim().to_owned()).collect(),
            Some(Value::Text(s)) => s
                .split(|c: char| c == sep || c.is_whitespace())
                .map(str::to_owned)
                .collect(),
            Some(Value::Integer(_)) => return Err(self.error(env, "expected a list".into())),
        };
        Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
    }

    fn integer(&self, env: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let Some(text) = self.text(env)? else {
            return Ok(default);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.error(
                env,
                format!("`{text}` must be a whole number from {min} to {max}"),
            )),
        }
    }

    fn secs(&self, env: &str, default: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
        self.integer(env, default, min, max)
            .map(Duration::from_secs)
    }

    fn scopes(&self, env: &str, scopes: &[String]) -> Result<(), ConfigError> {
        match scopes.iter().find(|s| !is_scope_token(s)) {
            Some(bad) => Err(self.error(
                env,
                format!("`{bad}` is not a valid scope; scopes are printable ASCII without spaces, quotes or backslashes"),
            )),
            None => Ok(()),
        }
    }

    fn boolean(&self, env: &str, default: bool) -> Result<bool, ConfigError> {
        match self.text(env)?.as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(self.error(env, format!("`{other}` is not true or false"))),
        }
    }

    fn corpus(&self) -> Result<CorpusSettings, ConfigError> {
        let base_url = match self.text("MCP_CORPUS_BASE_URL")? {
            Some(v) => Some(self.http_url("MCP_CORPUS_BASE_URL", &v)?),
            None => None,
        };
        Ok(CorpusSettings {
            folder: self.text("MCP_CORPUS")?.map(PathBuf::from),
            base_url,
            index_dir: self.text("MCP_INDEX_DIR")?.map(PathBuf::from),
            watch: self.boolean("MCP_CORPUS_WATCH", true)?,
            debounce: Duration::from_millis(self.integer(
                "MCP_CORPUS_DEBOUNCE_MS",
                1000,
                10,
                600_000,
            )?),
        })
    }

    fn http_url(&self, env: &str, value: &str) -> Result<Url, ConfigError> {
        let url = Url::parse(value)
            .map_err(|e| self.error(env, format!("`{value}` is not an absolute URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(self.error(env, format!("`{value}` must be an http:// or https:// URL")));
        }
        if url.fragment().is_some() {
            return Err(self.error(env, format!("`{value}` must not have a #fragment")));
        }
        Ok(url)
    }

    fn server_url(&self) -> Result<String, ConfigError> {
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

    fn resource(&self, value: String) -> Result<String, ConfigError> {
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

    fn origins(&self, server_url: &str) -> Result<Vec<String>, ConfigError> {
        const ENV: &str = "MCP_ALLOWED_ORIGINS";
        let written = self.list(ENV, ',')?;
        let written = if self.raw.get(ENV).is_some() {
            written
        } else {
            let mut defaults: Vec<String> = CHATGPT_ORIGINS.iter().map(|s| s.to_string()).collect();
            defaults.push(server_url.to_owned());
            defaults
        };
        let mut origins = Vec::new();
        for item in written {
            let url = Url::parse(&item)
                .ok()
                .filter(|u| u.host_str().is_some() && u.path() == "/" && !item.contains('*'))
                .ok_or_else(|| {
                    self.error(ENV, format!("`{item}` is not an origin like https://chatgpt.com (wildcards are not accepted)"))
                })?;
            let origin = url.origin().ascii_serialization();
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(origins)
    }

    fn hosts(&self, server_url: &str) -> Result<Vec<String>, ConfigError> {
        const ENV: &str = "MCP_ALLOWED_HOSTS";
        let hosts = if self.raw.get(ENV).is_some() {
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

#[cfg(test)]
mod tests;
