//! The raw configuration: the defaults, the TOML file (`MCP_CONFIG`) and the environment,
//! merged in that order by the `config` crate.
//!
//! Every setting has exactly one environment name; its key in the TOML file is that name without
//! the `MCP_` or `KC_` prefix, in lower case (`MCP_SERVER_URL` is `server_url`, `KC_ISSUER` is
//! `issuer`, `RUST_LOG` is `rust_log`). A key may also be written in a table, the table names
//! joined to the key by `_`: `[tools.search] scopes = [...]` is `tools_search_scopes`, i.e.
//! `MCP_TOOLS_SEARCH_SCOPES`. An environment variable wins over the file; an empty
//! variable counts as unset. Unknown keys in the file are errors, so nothing an operator wrote is
//! silently ignored.
//!
//! What is ours and not the crate's: the file's tables are flattened into those keys before the
//! merge (the crate would keep `tools.search.scopes` apart from the environment's
//! `tools_search_scopes`), unknown keys and value types are checked with messages that name the
//! setting, and each value keeps where it came from, for the messages of `settings.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use config::{Config, Environment, FileFormat, Format, Map, Source, ValueKind};

use super::known::{Default, FORMER, OTHER_VARIABLES, UNKNOWN_VARIABLES, env_name, tool_of_key};
pub(crate) use super::known::{SETTINGS, file_key};

/// One raw value and where it came from, so errors can point at the right place.
#[derive(Debug, Clone, PartialEq)]
pub struct RawValue {
    pub value: Literal,
    pub origin: Origin,
}

/// A setting's value as it was given: text (every environment variable, and file strings), a whole
/// number or a list from the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Integer(i64),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Not written anywhere: the default.
    Default,
    Env,
    /// The file, at this path, under this key as written (`tools.search.scopes`).
    File {
        path: String,
        key: String,
    },
}

/// Settings as merged, keyed by environment name.
#[derive(Debug, Default, Clone)]
pub struct RawConfig {
    values: BTreeMap<String, RawValue>,
    /// Set variables beginning with `MCP_` or `KC_` that are no setting of this server, in
    /// order; [`crate::config::settings_for`] judges them.
    unknown: Vec<String>,
    /// Whether unknown `MCP_` variables are only warned about (`MCP_UNKNOWN_VARIABLES=warn`).
    pub(crate) warn_only: bool,
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
        env: String,
        key: String,
        path: String,
    },
    #[error("MCP_CONFIG: `{key}` and `{other}` in {path} are the same setting ({env}); keep one")]
    Twice {
        env: String,
        key: String,
        other: String,
        path: String,
    },
    #[error("{name}: this is no longer a setting: {why}; remove it (docs/configuration.md)")]
    Retired { name: String, why: String },
    #[error("MCP_CONFIG: `{key}` in {path} is no longer a setting: {why}; remove it")]
    RetiredKey {
        key: String,
        why: String,
        path: String,
    },
    #[error("{UNKNOWN_VARIABLES}: `{value}` is neither refuse nor warn")]
    Switch { value: String },
    #[error("configuration: {0}")]
    Merge(#[from] config::ConfigError),
}

/// The file, flattened to one key per setting: the middle layer of the merge.
#[derive(Debug, Clone)]
struct FileLayer {
    path: String,
    values: Map<String, config::Value>,
    /// Each key as it was written, for messages.
    written: HashMap<String, String>,
}

impl Source for FileLayer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, config::Value>, config::ConfigError> {
        Ok(self.values.clone())
    }
}

impl RawConfig {
    /// Reads `MCP_CONFIG` (if set) and overlays the process environment.
    pub fn load() -> Result<Self, RawError> {
        Self::load_from(std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }))
    }

    /// Like [`RawConfig::load`] with the given environment variables, for tests.
    pub fn load_from(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, RawError> {
        let mut path = None;
        let mut env = Map::new();
        let mut unknown = Vec::new();
        let mut warn_only = false;
        for (name, value) in vars {
            // An empty variable counts as unset, known or not.
            if value.trim().is_empty() {
                continue;
            }
            if let Some((_, why)) = FORMER.iter().find(|(old, _)| *old == name) {
                let why = (*why).to_owned();
                return Err(RawError::Retired { name, why });
            }
            if name == "MCP_CONFIG" {
                path = Some(value);
            } else if name == UNKNOWN_VARIABLES {
                warn_only = match value.trim() {
                    "warn" => true,
                    "refuse" => false,
                    other => {
                        return Err(RawError::Switch {
                            value: other.to_owned(),
                        });
                    }
                };
            } else if is_setting(&name) {
                env.insert(name, value);
            } else if (name.starts_with("MCP_") || name.starts_with("KC_"))
                && !OTHER_VARIABLES.contains(&name.as_str())
            {
                unknown.push(name);
            }
        }
        unknown.sort();
        let file = match path {
            Some(path) => Some(FileLayer::read(Path::new(&path))?),
            None => None,
        };
        let mut raw = Self::merge(file, env)?;
        raw.unknown = unknown;
        raw.warn_only = warn_only;
        Ok(raw)
    }

    /// Set variables beginning with `MCP_` or `KC_` that are no setting, sorted.
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    /// Parses the text of a configuration file; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &str) -> Result<Self, RawError> {
        Self::merge(Some(FileLayer::parse(text, path)?), Map::new())
    }

    /// Merges the defaults, the file and the environment variables (already limited to settings
    /// and to set ones), in that order, and reads back each setting with its origin.
    fn merge(file: Option<FileLayer>, env: Map<String, String>) -> Result<Self, RawError> {
        let mut builder = Config::builder();
        for setting in SETTINGS {
            if let Default::Value(value) = setting.default {
                builder = builder.set_default(file_key(setting.env), value)?;
            }
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        builder = builder.set_default(file_key("MCP_RANKING_THREADS"), cpus.to_string())?;
        if let Some(file) = &file {
            builder = builder.add_source(file.clone());
        }
        // One source per prefix; each strips its prefix and lower-cases the rest, so that
        // `MCP_SERVER_URL` becomes `server_url`, `KC_ISSUER` `issuer` and `RUST_LOG` `rust_log`.
        let source = Some(env);
        for (prefix, keep) in [("MCP", false), ("KC", false), ("RUST", true)] {
            builder = builder.add_source(
                Environment::with_prefix(prefix)
                    .prefix_separator("_")
                    .keep_prefix(keep)
                    .source(source.clone()),
            );
        }
        let merged = builder.build()?.collect()?;
        let mut raw = Self::default();
        for (key, value) in merged {
            let Some(env) = env_name(&key) else { continue };
            let origin = match (value.origin(), &file) {
                (None, _) => Origin::Default,
                (Some(from), Some(file)) if from == file.path => Origin::File {
                    path: file.path.clone(),
                    key: file.written.get(&key).cloned().unwrap_or(key),
                },
                _ => Origin::Env,
            };
            let value = match value.kind {
                ValueKind::Array(items) => {
                    Literal::List(items.into_iter().map(|i| i.to_string()).collect())
                }
                ValueKind::I64(i) => Literal::Integer(i),
                other => Literal::Text(other.to_string()),
            };
            raw.values.insert(env, RawValue { value, origin });
        }
        Ok(raw)
    }

    /// The value of a setting, by environment name: written, or its default.
    pub fn get(&self, env: &str) -> Option<&RawValue> {
        self.values.get(env)
    }

    /// The value of a setting only if the file or the environment sets it.
    pub fn written(&self, env: &str) -> Option<&RawValue> {
        self.get(env).filter(|v| v.origin != Origin::Default)
    }

    /// The per-tool scope settings present: the tool's name, the setting and its value.
    pub fn scoped_tools(&self) -> impl Iterator<Item = (String, &str, &RawValue)> {
        self.values.iter().filter_map(|(env, value)| {
            let tool = tool_of_key(&file_key(env))?.to_owned();
            Some((tool, env.as_str(), value))
        })
    }
}

/// Whether an environment variable is a setting: one of [`SETTINGS`] or of the per-tool scopes
/// family, written in upper case.
fn is_setting(name: &str) -> bool {
    SETTINGS.iter().any(|s| s.env == name)
        || name
            .strip_prefix("MCP_")
            .is_some_and(|rest| !rest.bytes().any(|b| b.is_ascii_lowercase()))
            && tool_of_key(&file_key(name)).is_some()
}

impl FileLayer {
    fn read(path: &Path) -> Result<Self, RawError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RawError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    fn parse(text: &str, path: &str) -> Result<Self, RawError> {
        let origin = path.to_owned();
        let table = FileFormat::Toml
            .parse(Some(&origin), text)
            .map_err(|e| RawError::Parse {
                path: origin.clone(),
                message: match e.downcast_ref::<toml::de::Error>() {
                    Some(e) => e.message().to_owned(),
                    None => e.to_string(),
                },
            })?;
        let mut layer = FileLayer {
            path: origin,
            values: Map::new(),
            written: HashMap::new(),
        };
        layer.insert_table(table, "", "")?;
        Ok(layer)
    }

    /// Adds the keys of `table`, whose keys are prefixed by `prefix` (`tools_search_`) and
    /// shown in messages after `dotted` (`tools.search.`).
    fn insert_table(
        &mut self,
        table: Map<String, config::Value>,
        prefix: &str,
        dotted: &str,
    ) -> Result<(), RawError> {
        for (name, item) in table {
            let key = format!("{prefix}{name}");
            if let ValueKind::Table(inner) = item.kind {
                self.insert_table(inner, &format!("{key}_"), &format!("{dotted}{name}."))?;
                continue;
            }
            if let Some((_, why)) = FORMER.iter().find(|(old, _)| file_key(old) == key) {
                return Err(RawError::RetiredKey {
                    key: format!("{dotted}{name}"),
                    why: (*why).to_owned(),
                    path: self.path.clone(),
                });
            }
            let Some(env) = env_name(&key) else {
                let mut known: Vec<String> = SETTINGS.iter().map(|s| file_key(s.env)).collect();
                known.push("tools.<name>.scopes".into());
                return Err(RawError::UnknownKey {
                    key: format!("{dotted}{name}"),
                    path: self.path.clone(),
                    known: known.join(", "),
                });
            };
            let fits = match &item.kind {
                ValueKind::String(_) | ValueKind::I64(_) | ValueKind::Boolean(_) => true,
                ValueKind::Array(items) => {
                    items.iter().all(|i| matches!(i.kind, ValueKind::String(_)))
                }
                _ => false,
            };
            if !fits {
                return Err(RawError::BadType {
                    env,
                    key,
                    path: self.path.clone(),
                });
            }
            if let Some(other) = self.written.get(&key) {
                // The table's keys come in no set order; name the two the same way every time.
                let mut both = [format!("{dotted}{name}"), other.clone()];
                both.sort();
                let [key, other] = both;
                return Err(RawError::Twice {
                    env,
                    key,
                    other,
                    path: self.path.clone(),
                });
            }
            self.written.insert(key.clone(), format!("{dotted}{name}"));
            self.values.insert(key, item);
        }
        Ok(())
    }
}
