//! Configuration: the raw layer (TOML file plus environment, see `raw`) converted once into
//! typed [`Settings`]. A bad or missing setting becomes one [`ConfigError`] naming the variable
//! and saying how to fix it.

pub(crate) mod known;
pub(crate) mod raw;
mod settings;

pub use known::{default_bytes, help};
pub use raw::RawConfig;
pub use settings::{
    AuditQueries, ConnectionSettings, CorpusSettings, DpopSettings, FairSettings, JwksSettings,
    LogFormat, RedisSettings, Settings, SseSettings, bind_address,
};

/// A setting that is missing or invalid, named by its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// The environment name, followed by its file key and path when it came from the file.
    pub setting: String,
    pub message: String,
}

/// Reads the process environment and `MCP_CONFIG` into validated settings. `tools` are the
/// names of the tools (`crate::tools::names`): a scope setting for any other name is refused.
pub fn load(tools: &[&str]) -> Result<Settings, anyhow::Error> {
    let raw = RawConfig::load()?;
    Ok(settings_for(&raw, tools)?)
}

/// Validated settings from a raw configuration, for the given tool names.
pub fn settings_for(raw: &RawConfig, tools: &[&str]) -> Result<Settings, ConfigError> {
    for (tool, env, value) in raw.scoped_tools() {
        if tools.contains(&tool.as_str()) {
            continue;
        }
        let known = tools.join(", ");
        return Err(match &value.origin {
            raw::Origin::File { path, key } => ConfigError {
                setting: "MCP_CONFIG".into(),
                message: format!(
                    "unknown key `{key}` in {path}: there is no tool `{tool}`; the tools are {known}"
                ),
            },
            _ => ConfigError {
                setting: env.to_owned(),
                message: format!("there is no tool `{tool}`; the tools are {known}"),
            },
        });
    }
    let warnings = judge_unknown(raw, tools)?;
    let mut settings = Settings::from_raw(raw)?;
    settings.warnings = warnings;
    Ok(settings)
}

/// Refuses a set `MCP_` variable that is no setting, naming the nearest one, unless
/// `MCP_UNKNOWN_VARIABLES=warn`; an unknown `KC_` variable (a prefix Keycloak's own settings
/// share) is only warned about. Returns the warnings, for the log.
fn judge_unknown(raw: &RawConfig, tools: &[&str]) -> Result<Vec<String>, ConfigError> {
    let mut warnings = Vec::new();
    for name in raw.unknown() {
        let hint = match known::nearest(name, tools) {
            Some(near) => format!("did you mean {near}? "),
            None => String::new(),
        };
        if name.starts_with("MCP_") && !raw.warn_only {
            return Err(ConfigError {
                setting: name.clone(),
                message: format!(
                    "is not a setting of this server; {hint}docs/configuration.md and \
                     `serve --help` list them. Where other programs share this environment, \
                     {}=warn logs unknown names instead",
                    known::UNKNOWN_VARIABLES
                ),
            });
        }
        let whose = if name.starts_with("KC_") {
            " (it may be one of Keycloak's own settings, which share the prefix)"
        } else {
            ""
        };
        warnings.push(format!(
            "{name} is not a setting of this server{whose}; {hint}it is ignored"
        ));
    }
    Ok(warnings)
}
