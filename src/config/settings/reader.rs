//! Reading typed values (text, lists, numbers, URLs, scopes) out of the raw configuration, with
//! errors that name the setting and where it was written. `groups.rs` reads whole groups of
//! settings with them.

use std::time::Duration;

use url::Url;

use crate::config::ConfigError;
use crate::config::known::{self, Kind, Unit};
use crate::config::raw::{Literal, Origin, RawConfig, file_key};

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
            Some(Origin::File { path, .. }) => format!("{env} ({} in {path})", file_key(env)),
            _ => env.to_owned(),
        };
        ConfigError { setting, message }
    }

    pub(super) fn text(&self, env: &str) -> Result<Option<String>, ConfigError> {
        match self.raw.get(env).map(|v| &v.value) {
            None => Ok(None),
            Some(Literal::Text(s)) => Ok(Some(s.trim().to_owned())),
            Some(Literal::Integer(i)) => Ok(Some(i.to_string())),
            Some(Literal::List(_)) => {
                Err(self.error(env, "expected a single value, not a list".into()))
            }
        }
    }

    pub(super) fn required(&self, env: &str, what: &str) -> Result<String, ConfigError> {
        self.text(env)?
            .ok_or_else(|| self.error(env, format!("is required; set it to {what}")))
    }

    /// `RUST_LOG`: a tracing filter whose every directive names a level. A bare word that is
    /// not a level (`verbose`) would select a target of that name and silently drop every other
    /// line, so it is refused.
    pub(super) fn log_filter(&self) -> Result<String, ConfigError> {
        const LEVELS: &str = "off, error, warn, info, debug or trace";
        let filter = self.required("RUST_LOG", &format!("a level ({LEVELS})"))?;
        for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let bare = !directive.contains(['=', '[']);
            if bare
                && directive
                    .parse::<tracing_subscriber::filter::LevelFilter>()
                    .is_err()
            {
                return Err(self.error(
                    "RUST_LOG",
                    format!(
                        "`{directive}` is not a level ({LEVELS}); a target needs one too, \
                         as in `mcp_resource_server=debug`"
                    ),
                ));
            }
        }
        tracing_subscriber::EnvFilter::builder()
            .parse(&filter)
            .map_err(|e| {
                self.error(
                    "RUST_LOG",
                    format!("`{filter}` is not a tracing filter: {e}"),
                )
            })?;
        Ok(filter)
    }

    /// A list written either as a TOML array or as text separated by `sep` (or whitespace).
    pub(super) fn list(&self, env: &str, sep: char) -> Result<Vec<String>, ConfigError> {
        let items: Vec<String> = match self.raw.get(env).map(|v| &v.value) {
            None => return Ok(Vec::new()),
            Some(Literal::List(items)) => items.iter().map(|s| s.trim().to_owned()).collect(),
            Some(Literal::Text(s)) => s
                .split(|c: char| c == sep || c.is_whitespace())
                .map(str::to_owned)
                .collect(),
            Some(Literal::Integer(_)) => return Err(self.error(env, "expected a list".into())),
        };
        Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
    }

    /// The bounds and unit the settings table gives a number setting. Every number setting
    /// has a row of kind `Number`; the tests read every setting, so a row of another kind fails
    /// them.
    fn number_row(env: &str) -> (u64, u64, Unit) {
        match known::setting(env).map(|s| s.kind) {
            Some(Kind::Number { min, max, unit }) => (min, max, unit),
            other => unreachable!("{env} is read as a number but the settings table has {other:?}"),
        }
    }

    fn bounds(env: &str) -> (u64, u64) {
        let (min, max, _) = Self::number_row(env);
        (min, max)
    }

    /// A whole number within the table's bounds, or `None` when the setting has no value.
    pub(super) fn number(&self, env: &str) -> Result<Option<u64>, ConfigError> {
        let (min, max) = Self::bounds(env);
        self.number_within(env, min, max)
    }

    /// A whole number from `min` to `max` (bounds that depend on another setting).
    pub(super) fn number_within(
        &self,
        env: &str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        let Some(text) = self.text(env)? else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(self.error(
                env,
                format!("`{text}` must be a whole number from {min} to {max}"),
            )),
        }
    }

    /// A whole number within the table's bounds; the setting has a default there.
    pub(super) fn integer(&self, env: &str) -> Result<u64, ConfigError> {
        self.number(env)?
            .ok_or_else(|| self.error(env, "is required".into()))
    }

    /// A whole number within the table's bounds, converted by the unit the table gives it;
    /// `what` names what a reader expects (the tests read every setting, so a row whose unit
    /// does not convert fails them).
    fn in_unit<T>(
        &self,
        env: &str,
        what: &str,
        convert: impl Fn(Unit, u64) -> Option<T>,
    ) -> Result<T, ConfigError> {
        let (_, _, unit) = Self::number_row(env);
        let n = self.integer(env)?;
        Ok(convert(unit, n)
            .unwrap_or_else(|| unreachable!("{env} is read as {what} but its unit is {unit:?}")))
    }

    /// A time, in the unit the table gives the setting (seconds or milliseconds).
    pub(super) fn duration(&self, env: &str) -> Result<Duration, ConfigError> {
        self.in_unit(env, "a time", Unit::duration)
    }

    /// A size in bytes, from the unit the table gives the setting (bytes, KiB or MiB).
    pub(super) fn bytes(&self, env: &str) -> Result<u64, ConfigError> {
        self.in_unit(env, "a size", Unit::bytes)
    }

    /// One of the values the table's `Choice` row lists, or `None` when unset.
    pub(super) fn choice(&self, env: &str) -> Result<Option<&'static str>, ConfigError> {
        let choices = match known::setting(env).map(|s| s.kind) {
            Some(Kind::Choice(choices)) => choices,
            other => unreachable!("{env} is read as a choice but the settings table has {other:?}"),
        };
        let Some(text) = self.text(env)? else {
            return Ok(None);
        };
        match choices.iter().find(|c| **c == text) {
            Some(c) => Ok(Some(c)),
            None => {
                let (last, rest) = choices.split_last().expect("a choice has values");
                Err(self.error(
                    env,
                    format!("`{text}` is not {} or {last}", rest.join(", ")),
                ))
            }
        }
    }

    /// A space-separated list of scopes, each a valid scope token.
    pub(super) fn scope_list(&self, env: &str) -> Result<Vec<String>, ConfigError> {
        let scopes = self.list(env, ' ')?;
        match scopes.iter().find(|s| !is_scope_token(s)) {
            Some(bad) => Err(self.error(
                env,
                format!("`{bad}` is not a valid scope; scopes are printable ASCII without spaces, quotes or backslashes"),
            )),
            None => Ok(scopes),
        }
    }

    /// True or false; the setting has a default.
    pub(super) fn boolean(&self, env: &str) -> Result<bool, ConfigError> {
        match self.text(env)?.as_deref() {
            None => Err(self.error(env, "is required".into())),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(self.error(env, format!("`{other}` is not true or false"))),
        }
    }

    /// A listen address (`host:port`); `example` shows one in the message.
    pub(super) fn address(
        &self,
        env: &str,
        value: &str,
        example: &str,
    ) -> Result<std::net::SocketAddr, ConfigError> {
        value
            .parse()
            .map_err(|_| self.error(env, format!("`{value}` is not an address like {example}")))
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
}
