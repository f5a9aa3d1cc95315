//! The raw configuration: a TOML file (`MCP_CONFIG`) overlaid by environment variables.
//!
//! Every setting has exactly one environment name; its key in the TOML file is that name without
//! the `MCP_` or `KC_` prefix, in lower case (`MCP_SERVER_URL` is `server_url`, `KC_ISSUER` is
//! `issuer`, `RUST_LOG` is `rust_log`). A key may also be written in a table, the table names
//! joined to the key by `_`: `[tools.search] scopes = [...]` is `tools_search_scopes`, i.e.
//! `MCP_TOOLS_SEARCH_SCOPES`. An environment variable wins over the file; an empty
//! variable counts as unset. Unknown keys in the file are errors, so nothing an operator wrote is
//! silently ignored.

use std::collections::BTreeMap;
use std::path::Path;

/// Every setting: its environment name and what it means (used in error messages and docs).
pub const SETTINGS: &[(&str, &str)] = &[
    ("MCP_BIND", "listen address"),
    ("MCP_SERVER_URL", "public origin clients reach"),
    (
        "MCP_RESOURCE",
        "resource identifier in the protected-resource metadata",
    ),
    (
        "MCP_RESOURCE_NAME",
        "human-readable name in the protected-resource metadata",
    ),
    (
        "MCP_RESOURCE_DOCUMENTATION",
        "documentation URL in the protected-resource metadata",
    ),
    ("MCP_AUDIENCE", "audience a token must carry"),
    ("MCP_ALT_AUDIENCE", "extra accepted audiences"),
    ("KC_ISSUER", "exact expected token issuer"),
    ("KC_DISCOVERY_URL", "OpenID discovery document URL"),
    ("KC_JWKS_URL", "JWKS URL, overriding discovery"),
    ("MCP_REQUIRED_SCOPES", "scopes every MCP request needs"),
    ("MCP_ALLOWED_ORIGINS", "browser origins allowed"),
    ("MCP_ALLOWED_HOSTS", "Host header values allowed"),
    ("MCP_CORPUS", "folder of documents for search and fetch"),
    (
        "MCP_CORPUS_BASE_URL",
        "URL prefix of corpus documents that do not name their own url",
    ),
    (
        "MCP_INDEX_DIR",
        "folder for an on-disk search index instead of memory",
    ),
    (
        "MCP_CORPUS_WATCH",
        "rebuild the index when corpus files change (true or false)",
    ),
    (
        "MCP_CORPUS_DEBOUNCE_MS",
        "quiet time after a corpus change before rebuilding",
    ),
    (
        "MCP_SEARCH_CACHE_MIB",
        "MiB of search results kept per index generation, 0 for none",
    ),
    (
        "MCP_TOOLS_SEARCH_SCOPES",
        "scopes the search tool needs beyond MCP_REQUIRED_SCOPES",
    ),
    (
        "MCP_TOOLS_FETCH_SCOPES",
        "scopes the fetch tool needs beyond MCP_REQUIRED_SCOPES",
    ),
    ("MCP_LOG_FORMAT", "log format, json or pretty"),
    ("RUST_LOG", "tracing filter"),
    (
        "MCP_CLOCK_LEEWAY_SECS",
        "clock skew tolerated on exp, nbf and iat",
    ),
    (
        "MCP_JWKS_REFETCH_INTERVAL_SECS",
        "least time between JWKS fetches caused by unknown key ids",
    ),
    (
        "MCP_JWKS_COOLDOWN_SECS",
        "the old name of MCP_JWKS_REFETCH_INTERVAL_SECS",
    ),
    (
        "MCP_JWKS_MIN_REFRESH_SECS",
        "shortest background JWKS refresh interval",
    ),
    (
        "MCP_JWKS_MAX_REFRESH_SECS",
        "longest background JWKS refresh interval",
    ),
    (
        "MCP_JWKS_MAX_STALE_SECS",
        "how long the last good keys are used while Keycloak is down",
    ),
    (
        "MCP_HTTP_TIMEOUT_SECS",
        "timeout of each request to Keycloak",
    ),
    (
        "MCP_TOKEN_CACHE_SIZE",
        "how many verified tokens are remembered",
    ),
    ("MCP_MAX_BODY_BYTES", "largest request body accepted"),
    (
        "MCP_HEADER_TIMEOUT_SECS",
        "time to receive a request's headers, and to keep an idle connection",
    ),
    ("MCP_BODY_TIMEOUT_SECS", "time to receive a request's body"),
    (
        "MCP_MAX_CONNECTIONS",
        "most client connections open at once",
    ),
    (
        "MCP_SHUTDOWN_GRACE_SECS",
        "how long a stopping server waits for requests in flight",
    ),
    ("MCP_SSE_MAX_SESSIONS", "most /sse streams open at once"),
    (
        "MCP_SSE_MAX_SESSIONS_PER_SUBJECT",
        "most /sse streams one caller may hold",
    ),
    (
        "MCP_SSE_OUTBOX_KIB",
        "KiB of answers waiting on one /sse stream",
    ),
    (
        "MCP_SSE_OUTBOX_TOTAL_MIB",
        "MiB of answers waiting on all /sse streams together",
    ),
    ("MCP_MAX_BATCH", "most requests in one JSON-RPC batch"),
    (
        "MCP_RATE_LIMIT_PER_MIN",
        "tool calls one caller may make a minute, 0 for no limit",
    ),
    (
        "MCP_RATE_LIMIT_BURST",
        "tool calls one caller may make at once",
    ),
    (
        "MCP_REQUEST_LIMIT_PER_MIN",
        "requests one caller may send a minute, 0 for no limit",
    ),
    (
        "MCP_REQUEST_LIMIT_BURST",
        "requests one caller may send at once",
    ),
    ("MCP_RANKING_THREADS", "threads that rank searches"),
    (
        "MCP_RANKING_PER_CALLER",
        "searches of one caller ranking at once",
    ),
    (
        "MCP_RANKING_QUEUE_PER_CALLER",
        "searches of one caller waiting to rank",
    ),
    (
        "MCP_SSE_IDLE_SECS",
        "how long an /sse stream may go without a message",
    ),
    (
        "MCP_SSE_KEEPALIVE_SECS",
        "interval of keep-alive comments on event streams",
    ),
];

/// The TOML key for an environment name.
pub fn file_key(env: &str) -> String {
    let bare = env
        .strip_prefix("MCP_")
        .or_else(|| env.strip_prefix("KC_"))
        .unwrap_or(env);
    bare.to_ascii_lowercase()
}

/// One raw value and where it came from, so errors can point at the right place.
#[derive(Debug, Clone, PartialEq)]
pub struct RawValue {
    pub value: Value,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Integer(i64),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Env,
    File(String),
}

/// Settings as written, keyed by environment name.
#[derive(Debug, Default, Clone)]
pub struct RawConfig {
    values: BTreeMap<&'static str, RawValue>,
}

/// A problem reading the raw configuration.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("MCP_CONFIG: cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("MCP_CONFIG: {path} is not valid TOML: {message}")]
    Parse { path: String, message: String },
    #[error("MCP_CONFIG: unknown key `{key}` in {path}; known keys: {known}")]
    UnknownKey {
        key: String,
        path: String,
        known: String,
    },
    #[error(
        "{env} ({key} in {path}): expected a string, an integer, true/false or a list of strings"
    )]
    BadType {
        env: &'static str,
        key: String,
        path: String,
    },
}

impl RawConfig {
    /// Reads `MCP_CONFIG` (if set) and overlays the process environment.
    pub fn load() -> Result<Self, RawError> {
        Self::load_from(|name| std::env::var(name).ok())
    }

    /// Like [`RawConfig::load`] with a custom environment, for tests.
    pub fn load_from(env: impl Fn(&str) -> Option<String>) -> Result<Self, RawError> {
        let mut raw = match env("MCP_CONFIG").filter(|p| !p.is_empty()) {
            Some(path) => Self::from_file(Path::new(&path))?,
            None => Self::default(),
        };
        for (name, _) in SETTINGS {
            if let Some(text) = env(name).filter(|v| !v.trim().is_empty()) {
                raw.values.insert(
                    name,
                    RawValue {
                        value: Value::Text(text),
                        origin: Origin::Env,
                    },
                );
            }
        }
        Ok(raw)
    }

    fn from_file(path: &Path) -> Result<Self, RawError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RawError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text, &shown)
    }

    /// Parses the text of a configuration file; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &str) -> Result<Self, RawError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| RawError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        let mut raw = Self::default();
        raw.insert_table(table, "", "", path)?;
        Ok(raw)
    }

    /// Adds the keys of `table`, whose keys are prefixed by `prefix` (`tools_search_`) and
    /// shown in messages after `dotted` (`tools.search.`).
    fn insert_table(
        &mut self,
        table: toml::Table,
        prefix: &str,
        dotted: &str,
        path: &str,
    ) -> Result<(), RawError> {
        for (name, item) in table {
            let key = format!("{prefix}{name}");
            let item = match item {
                toml::Value::Table(inner) => {
                    self.insert_table(
                        inner,
                        &format!("{key}_"),
                        &format!("{dotted}{name}."),
                        path,
                    )?;
                    continue;
                }
                item => item,
            };
            let Some((env, _)) = SETTINGS.iter().find(|(env, _)| file_key(env) == key) else {
                let known: Vec<String> = SETTINGS.iter().map(|(e, _)| file_key(e)).collect();
                return Err(RawError::UnknownKey {
                    key: format!("{dotted}{name}"),
                    path: path.to_owned(),
                    known: known.join(", "),
                });
            };
            let bad = || RawError::BadType {
                env,
                key: key.clone(),
                path: path.to_owned(),
            };
            let value = match item {
                toml::Value::String(s) => Value::Text(s),
                toml::Value::Integer(i) => Value::Integer(i),
                toml::Value::Boolean(b) => Value::Text(b.to_string()),
                toml::Value::Array(items) => Value::List(
                    items
                        .into_iter()
                        .map(|i| match i {
                            toml::Value::String(s) => Ok(s),
                            _ => Err(bad()),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(bad()),
            };
            self.values.insert(
                env,
                RawValue {
                    value,
                    origin: Origin::File(path.to_owned()),
                },
            );
        }
        Ok(())
    }

    /// The raw value of a setting, by environment name.
    pub fn get(&self, env: &str) -> Option<&RawValue> {
        self.values.get(env)
    }
}
