//! Configuration: the raw layer (TOML file plus environment, see [`raw`]) converted once into
//! typed [`Settings`]. A bad or missing setting becomes one [`ConfigError`] naming the variable
//! and saying how to fix it.

pub(crate) mod known;
pub mod raw;
mod settings;

pub use known::default_of;
pub use raw::RawConfig;
pub use settings::{
    AuditQueries, ConnectionSettings, CorpusSettings, DpopSettings, FairSettings, JwksSettings,
    LogFormat, RedisSettings, Settings, SseSettings, bind_address, redacted,
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
    Settings::from_raw(raw)
}
