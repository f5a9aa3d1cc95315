//! Reading typed values (text, lists, numbers, URLs, scopes) out of the raw configuration, with
//! errors that name the setting and where it was written.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::{CHATGPT_ORIGINS, CorpusSettings, FairSettings, LOOPBACK_ORIGINS};
use crate::config::ConfigError;
use crate::config::raw::{Origin, RawConfig, Value, file_key};

/// A scope token as RFC 6749 §3.3 allows, minus the quote and backslash that would need escaping.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Reads typed values out of the raw configuration, producing errors that name the setting.
pub(super) struct Reader<'a> {
    pub(super) raw: &'a RawConfig,
}

impl Reader<'_> {
    pub(super) fn error(&self, env: &str, message: String) -> ConfigError {
        let setting = match self.raw.get(env).map(|v| &v.origin) {
            Some(Origin::File(path)) => format!("{env} ({} in {path})", file_key(env)),
            _ => env.to_owned(),
        };
        ConfigError { setting, message }
    }

    pub(super) fn text(&self, env: &str) -> Result<Option<String>, ConfigError> {
        match self.raw.get(env).map(|v| &v.value) {
            None => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s.trim().to_owned())),
            Some(Value::Integer(i)) => Ok(Some(i.to_string())),
            Some(Value::List(_)) => {
                Err(self.error(env, "expected a single value, not a list".into()))
            }
        }
    }

    pub(super) fn required(&self, env: &str, what: &str) -> Result<String, ConfigError> {
        self.text(env)?
            .ok_or_else(|| self.error(env, format!("is required; set it to {what}")))
    }

    /// A list written either as a TOML array or as text separated by `sep` (or whitespace).
    pub(super) fn list(&self, env: &str, sep: char) -> Result<Vec<String>, ConfigError> {
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

    pub(super) fn integer(
        &self,
        env: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
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

    pub(super) fn secs(
        &self,
        env: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        self.integer(env, default, min, max)
            .map(Duration::from_secs)
    }

    /// Seconds under `env`, or under `old`, the name it had before; setting both is an error,
    /// so neither is silently ignored.
    pub(super) fn renamed_secs(
        &self,
        env: &str,
        old: &str,
        (default, min, max): (u64, u64, u64),
    ) -> Result<Duration, ConfigError> {
        match (self.raw.get(env), self.raw.get(old)) {
            (Some(_), Some(_)) => {
                Err(self.error(old, format!("is the old name of {env}; set only {env}")))
            }
            (None, Some(_)) => self.secs(old, default, min, max),
            _ => self.secs(env, default, min, max),
        }
    }

    /// The fair-use limits; the pool defaults to one thread per CPU, and one caller to half.
    pub(super) fn fair(&self) -> Result<FairSettings, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let threads = self.integer("MCP_RANKING_THREADS", cpus, 1, 256)?;
        Ok(FairSettings {
            rate_per_minute: self.integer("MCP_RATE_LIMIT_PER_MIN", 600, 0, 1_000_000)? as u32,
            rate_burst: self.integer("MCP_RATE_LIMIT_BURST", 60, 1, 100_000)? as u32,
            requests_per_minute: self.integer("MCP_REQUEST_LIMIT_PER_MIN", 6000, 0, 10_000_000)?
                as u32,
            requests_burst: self.integer("MCP_REQUEST_LIMIT_BURST", 600, 1, 1_000_000)? as u32,
            ranking_threads: threads as usize,
            ranking_per_caller: self.integer(
                "MCP_RANKING_PER_CALLER",
                threads.div_ceil(2),
                1,
                threads,
            )? as usize,
            ranking_queue_per_caller: self.integer("MCP_RANKING_QUEUE_PER_CALLER", 16, 0, 10_000)?
                as usize,
        })
    }

    pub(super) fn scopes(&self, env: &str, scopes: &[String]) -> Result<(), ConfigError> {
        match scopes.iter().find(|s| !is_scope_token(s)) {
            Some(bad) => Err(self.error(
                env,
                format!("`{bad}` is not a valid scope; scopes are printable ASCII without spaces, quotes or backslashes"),
            )),
            None => Ok(()),
        }
    }

    pub(super) fn boolean(&self, env: &str, default: bool) -> Result<bool, ConfigError> {
        match self.text(env)?.as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(self.error(env, format!("`{other}` is not true or false"))),
        }
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
            watch: self.boolean("MCP_CORPUS_WATCH", true)?,
            debounce: Duration::from_millis(self.integer(
                "MCP_CORPUS_DEBOUNCE_MS",
                1000,
                10,
                600_000,
            )?),
            search_cache_mib: self.integer(
                "MCP_SEARCH_CACHE_MIB",
                super::DEFAULT_SEARCH_CACHE_MIB,
                0,
                4096,
            )?,
        })
    }

    pub(super) fn http_url(&self, env: &str, value: &str) -> Result<Url, ConfigError> {
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
        let written = if self.raw.get(ENV).is_some() {
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
