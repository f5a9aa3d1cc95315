//! Configuration: the raw layer (TOML file plus environment, see [`raw`]) converted once into
//! typed [`Settings`]. A bad or missing setting becomes one [`ConfigError`] naming the variable
//! and saying how to fix it.

pub mod raw;
mod settings;

pub use raw::RawConfig;
pub use settings::{
    ConnectionSettings, CorpusSettings, DEFAULT_SEARCH_CACHE_MIB, FairSettings, JwksSettings,
    LogFormat, Settings, SseSettings, bind_address,
};

/// A setting that is missing or invalid, named by its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// The environment name, followed by its file key and path when it came from the file.
    pub setting: String,
    pub message: String,
}

/// Reads the process environment and `MCP_CONFIG` into validated settings.
pub fn load() -> Result<Settings, anyhow::Error> {
    let raw = RawConfig::load()?;
    Ok(Settings::from_raw(&raw)?)
}
