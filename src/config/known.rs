//! Every setting the server knows: its environment name, its key in the file, and its default.
//!
//! Beside the fixed settings there is one family: `MCP_TOOLS_<NAME>_SCOPES`
//! (`tools_<name>_scopes`, or `[tools.<name>] scopes` in the file), one for each tool. The
//! configuration accepts any name of that shape; which names are tools is the tool list's to say
//! (`crate::tools::TOOLS`), and [`crate::config::load`] refuses the others.

/// One setting: the one place its name, meaning, default, kind and bounds are written. The
/// merge takes its defaults from here, the readers its bounds, and `serve --help`, the
/// unknown-name message and the docs test its names and meanings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setting {
    /// The environment name; the file key is derived from it ([`file_key`]).
    pub env: &'static str,
    pub meaning: &'static str,
    pub default: Default,
    pub kind: Kind,
    /// For a tuning value: when an operator has reason to change it, as the docs say it. The
    /// settings without one are choices every deployment makes (names, URLs, folders, switches).
    /// Only the docs test reads it, holding docs/configuration.md to this table.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the docs test of config::settings")
    )]
    pub reason: Option<&'static str>,
}

/// What a setting is when nothing sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Default {
    /// Start-up stops until it is set.
    Required,
    /// Nothing: the feature it names is off.
    Unset,
    /// This value, as it would be written.
    Value(&'static str),
    /// Worked out from other settings or the machine, as described.
    Derived(&'static str),
}

/// What a setting holds, and for numbers the bounds a value must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Url,
    Address,
    Path,
    /// Items separated by commas or spaces, or a TOML array.
    List,
    /// Scope tokens separated by spaces, or a TOML array.
    Scopes,
    Bool,
    Choice(&'static [&'static str]),
    /// A tracing filter (`RUST_LOG`).
    Filter,
    /// A whole number from `min` to `max`, in `unit`.
    Number {
        min: u64,
        max: u64,
        unit: Unit,
    },
}

/// The unit of a number setting: how help shows it, and how the readers convert it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Count,
    Secs,
    Millis,
    Bytes,
    Kib,
    Mib,
}

impl Unit {
    /// `n` of this unit as a time, for the units of time.
    pub(crate) fn duration(self, n: u64) -> Option<std::time::Duration> {
        match self {
            Unit::Secs => Some(std::time::Duration::from_secs(n)),
            Unit::Millis => Some(std::time::Duration::from_millis(n)),
            _ => None,
        }
    }

    /// `n` of this unit in bytes, for the units of size.
    pub(crate) fn bytes(self, n: u64) -> Option<u64> {
        match self {
            Unit::Bytes => Some(n),
            Unit::Kib => n.checked_mul(1 << 10),
            Unit::Mib => n.checked_mul(1 << 20),
            _ => None,
        }
    }
}

impl Kind {
    /// How `serve --help` describes a value of this kind.
    pub(crate) fn describe(&self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Url => "URL".into(),
            Kind::Address => "address:port".into(),
            Kind::Path => "folder".into(),
            Kind::List => "list".into(),
            Kind::Scopes => "scopes".into(),
            Kind::Bool => "true or false".into(),
            Kind::Choice(choices) => choices.join(" | "),
            Kind::Filter => "tracing filter".into(),
            Kind::Number { min, max, unit } => {
                let unit = match unit {
                    Unit::Count => "",
                    Unit::Secs => " s",
                    Unit::Millis => " ms",
                    Unit::Bytes => " bytes",
                    Unit::Kib => " KiB",
                    Unit::Mib => " MiB",
                };
                format!("{min}–{max}{unit}")
            }
        }
    }
}

/// Every setting but the per-tool scopes.
pub(crate) const SETTINGS: &[Setting] = &[
    Setting {
        env: "MCP_BIND",
        meaning: "listen address",
        default: Default::Value("0.0.0.0:8000"),
        kind: Kind::Address,
        reason: None,
    },
    Setting {
        env: "MCP_METRICS_BIND",
        meaning: "listen address of /metrics alone, which the main address then no longer serves",
        default: Default::Unset,
        kind: Kind::Address,
        reason: None,
    },
    Setting {
        env: "MCP_SERVER_URL",
        meaning: "public origin clients reach",
        default: Default::Required,
        kind: Kind::Url,
        reason: None,
    },
    Setting {
        env: "MCP_RESOURCE",
        meaning: "resource identifier in the protected-resource metadata",
        default: Default::Derived("${MCP_SERVER_URL}/mcp"),
        kind: Kind::Url,
        reason: None,
    },
    Setting {
        env: "MCP_RESOURCE_NAME",
        meaning: "human-readable name in the protected-resource metadata",
        default: Default::Value("MCP resource server"),
        kind: Kind::Text,
        reason: None,
    },
    Setting {
        env: "MCP_RESOURCE_DOCUMENTATION",
        meaning: "documentation URL in the protected-resource metadata",
        default: Default::Derived("${MCP_SERVER_URL}/"),
        kind: Kind::Url,
        reason: None,
    },
    Setting {
        env: "MCP_AUDIENCE",
        meaning: "audience a token must carry",
        default: Default::Derived("MCP_RESOURCE"),
        kind: Kind::Text,
        reason: None,
    },
    Setting {
        env: "MCP_ALT_AUDIENCE",
        meaning: "extra accepted audiences",
        default: Default::Unset,
        kind: Kind::List,
        reason: None,
    },
    Setting {
        env: "KC_ISSUER",
        meaning: "exact expected token issuer",
        default: Default::Required,
        kind: Kind::Url,
        reason: None,
    },
    Setting {
        env: "KC_DISCOVERY_URL",
        meaning: "OpenID discovery document URL",
        default: Default::Derived("${KC_ISSUER}/.well-known/openid-configuration"),
        kind: Kind::Url,
        reason: None,
    },
    Setting {
        env: "KC_JWKS_URL",
        meaning: "JWKS URL, overriding discovery",
        default: Default::Derived("from discovery"),
        kind: Kind::Url,
        reason: None,
    },
    Setting {
        env: "MCP_REQUIRED_SCOPES",
        meaning: "scopes every MCP request needs",
        default: Default::Value("mcp:tools"),
        kind: Kind::Scopes,
        reason: None,
    },
    Setting {
        env: "MCP_ALLOWED_ORIGINS",
        meaning: "browser origins allowed",
        default: Default::Derived("ChatGPT's origins, MCP_SERVER_URL and loopback origins"),
        kind: Kind::List,
        reason: None,
    },
    Setting {
        env: "MCP_ALLOWED_HOSTS",
        meaning: "Host header values allowed",
        default: Default::Derived("the host of MCP_SERVER_URL, localhost and 127.0.0.1"),
        kind: Kind::List,
        reason: None,
    },
    Setting {
        env: "MCP_CORPUS",
        meaning: "folder of documents for search and fetch",
        default: Default::Derived("the built-in sample"),
        kind: Kind::Path,
        reason: None,
    },
    Setting {
        env: "MCP_CORPUS_BASE_URL",
        meaning: "URL prefix of corpus documents that do not name their own url",
        default: Default::Unset,
        kind: Kind::Url,
        reason: None,
    },
    Setting {
        env: "MCP_INDEX_DIR",
        meaning: "folder for an on-disk search index instead of memory",
        default: Default::Unset,
        kind: Kind::Path,
        reason: None,
    },
    Setting {
        env: "MCP_CORPUS_WATCH",
        meaning: "rebuild the index when corpus files change",
        default: Default::Value("true"),
        kind: Kind::Bool,
        reason: None,
    },
    Setting {
        env: "MCP_CORPUS_DEBOUNCE_MS",
        meaning: "quiet time after a corpus change before rebuilding",
        default: Default::Value("1000"),
        kind: Kind::Number {
            min: 10,
            max: 600_000,
            unit: Unit::Millis,
        },
        reason: Some(
            "files arrive through a sync tool that keeps writing for longer than a second, so the index is not rebuilt halfway",
        ),
    },
    Setting {
        env: "MCP_SEARCH_CACHE_MIB",
        meaning: "MiB of search results kept per index generation, 0 for none",
        default: Default::Value("16"),
        kind: Kind::Number {
            min: 0,
            max: 4096,
            unit: Unit::Mib,
        },
        reason: Some(
            "memory is tight (0 turns it off), or many users repeat the same searches over a large corpus",
        ),
    },
    Setting {
        env: "MCP_LOG_FORMAT",
        meaning: "log format",
        default: Default::Derived("pretty on a terminal, else json"),
        kind: Kind::Choice(&["json", "pretty"]),
        reason: None,
    },
    Setting {
        env: "MCP_AUDIT_QUERIES",
        meaning: "how audit events record search queries",
        default: Default::Value("hash"),
        kind: Kind::Choice(&["text", "hash", "off"]),
        reason: None,
    },
    Setting {
        env: "RUST_LOG",
        meaning: "tracing filter",
        default: Default::Value("info"),
        kind: Kind::Filter,
        reason: None,
    },
    Setting {
        env: "MCP_CLOCK_LEEWAY_SECS",
        meaning: "clock skew tolerated on exp, nbf and iat",
        default: Default::Value("30"),
        kind: Kind::Number {
            min: 0,
            max: 300,
            unit: Unit::Secs,
        },
        reason: Some("the clocks of Keycloak's host and this one are not kept by NTP"),
    },
    Setting {
        env: "MCP_JWKS_MIN_REFRESH_SECS",
        meaning: "how often the JWKS is refreshed in the background (Keycloak asks for no caching)",
        default: Default::Value("60"),
        kind: Kind::Number {
            min: 1,
            max: 3600,
            unit: Unit::Secs,
        },
        reason: Some("a key deleted in Keycloak must stop working sooner than a minute"),
    },
    Setting {
        env: "MCP_JWKS_MAX_STALE_SECS",
        meaning: "how long the last good keys are used while Keycloak is down",
        default: Default::Value("86400"),
        kind: Kind::Number {
            min: 1,
            max: 604_800,
            unit: Unit::Secs,
        },
        reason: Some(
            "your policy sets another limit on riding out a Keycloak outage with the last keys",
        ),
    },
    Setting {
        env: "MCP_HTTP_TIMEOUT_SECS",
        meaning: "timeout of each request to Keycloak",
        default: Default::Value("5"),
        kind: Kind::Number {
            min: 1,
            max: 120,
            unit: Unit::Secs,
        },
        reason: Some("Keycloak answers slowly across a long link"),
    },
    Setting {
        env: "MCP_TOKEN_CACHE_SIZE",
        meaning: "how many verified tokens are remembered",
        default: Default::Value("10000"),
        kind: Kind::Number {
            min: 0,
            max: 10_000_000,
            unit: Unit::Count,
        },
        reason: Some("more than 10 000 distinct tokens are in use at once"),
    },
    Setting {
        env: "MCP_MAX_BODY_BYTES",
        meaning: "largest request body accepted",
        default: Default::Value("1048576"),
        kind: Kind::Number {
            min: 1024,
            max: 67_108_864,
            unit: Unit::Bytes,
        },
        reason: Some(
            "a gateway in front allows less and the server should refuse at the same size",
        ),
    },
    Setting {
        env: "MCP_HEADER_TIMEOUT_SECS",
        meaning: "time to receive a request's headers, and to keep an idle connection",
        default: Default::Value("30"),
        kind: Kind::Number {
            min: 1,
            max: 600,
            unit: Unit::Secs,
        },
        reason: Some(
            "a proxy in front keeps idle connections open longer than 30 s (keep the proxy's shorter)",
        ),
    },
    Setting {
        env: "MCP_BODY_TIMEOUT_SECS",
        meaning: "time to receive a request's body",
        default: Default::Value("30"),
        kind: Kind::Number {
            min: 1,
            max: 600,
            unit: Unit::Secs,
        },
        reason: Some("clients send over links slow enough to need more than 30 s for 1 MiB"),
    },
    Setting {
        env: "MCP_MAX_CONNECTIONS",
        meaning: "most client connections open at once",
        default: Default::Value("20000"),
        kind: Kind::Number {
            min: 16,
            max: 1_000_000,
            unit: Unit::Count,
        },
        reason: Some(
            "the machine's open-file limit or memory is sized for another number of clients",
        ),
    },
    Setting {
        env: "MCP_SHUTDOWN_GRACE_SECS",
        meaning: "how long a stopping server waits for requests in flight",
        default: Default::Value("10"),
        kind: Kind::Number {
            min: 0,
            max: 300,
            unit: Unit::Secs,
        },
        reason: Some(
            "the orchestrator's grace period (Kubernetes' terminationGracePeriodSeconds) is not 10 s plus a margin",
        ),
    },
    Setting {
        env: "MCP_SSE_MAX_SESSIONS",
        meaning: "most /sse streams open at once",
        default: Default::Value("10000"),
        kind: Kind::Number {
            min: 1,
            max: 1_000_000,
            unit: Unit::Count,
        },
        reason: Some("the instance is sized for another number of legacy /sse clients"),
    },
    Setting {
        env: "MCP_SSE_MAX_SESSIONS_PER_SUBJECT",
        meaning: "most /sse streams one caller may hold",
        default: Default::Value("8"),
        kind: Kind::Number {
            min: 1,
            max: 10_000,
            unit: Unit::Count,
        },
        reason: Some("one service account legitimately holds more than 8 /sse streams"),
    },
    Setting {
        env: "MCP_SSE_OUTBOX_KIB",
        meaning: "KiB of answers waiting on one /sse stream",
        default: Default::Value("256"),
        kind: Kind::Number {
            min: 16,
            max: 65_536,
            unit: Unit::Kib,
        },
        reason: Some("fetched documents are larger than 256 KiB"),
    },
    Setting {
        env: "MCP_SSE_OUTBOX_TOTAL_MIB",
        meaning: "MiB of answers waiting on all /sse streams together",
        default: Default::Value("64"),
        kind: Kind::Number {
            min: 1,
            max: 65_536,
            unit: Unit::Mib,
        },
        reason: Some("the memory the instance may spend on unread /sse answers is not 64 MiB"),
    },
    Setting {
        env: "MCP_RATE_LIMIT_PER_MIN",
        meaning: "tool calls one caller may make a minute, 0 for no limit",
        default: Default::Value("600"),
        kind: Kind::Number {
            min: 0,
            max: 1_000_000,
            unit: Unit::Count,
        },
        reason: Some(
            "a gateway in front already limits callers (0), or users' agents need more tool calls a minute",
        ),
    },
    Setting {
        env: "MCP_RATE_LIMIT_BURST",
        meaning: "tool calls one caller may make at once",
        default: Default::Value("60"),
        kind: Kind::Number {
            min: 1,
            max: 100_000,
            unit: Unit::Count,
        },
        reason: Some("an agent makes more than 60 tool calls in one turn"),
    },
    Setting {
        env: "MCP_REQUEST_LIMIT_PER_MIN",
        meaning: "requests one caller may send a minute, 0 for no limit",
        default: Default::Value("6000"),
        kind: Kind::Number {
            min: 0,
            max: 10_000_000,
            unit: Unit::Count,
        },
        reason: Some("a gateway in front already limits callers (0)"),
    },
    Setting {
        env: "MCP_REQUEST_LIMIT_BURST",
        meaning: "requests one caller may send at once",
        default: Default::Value("600"),
        kind: Kind::Number {
            min: 1,
            max: 1_000_000,
            unit: Unit::Count,
        },
        reason: Some("clients poll more than 600 times in a burst"),
    },
    Setting {
        env: "MCP_RANKING_THREADS",
        meaning: "threads that rank searches",
        default: Default::Derived("one per CPU"),
        kind: Kind::Number {
            min: 1,
            max: 256,
            unit: Unit::Count,
        },
        reason: Some("the CPUs the container may use are not those the machine reports"),
    },
    Setting {
        env: "MCP_RANKING_PER_CALLER",
        meaning: "searches of one caller ranking at once",
        default: Default::Derived("half the ranking threads, at least 1"),
        kind: Kind::Number {
            min: 1,
            max: 256,
            unit: Unit::Count,
        },
        reason: Some("one trusted caller (a batch job) should be able to use the whole pool"),
    },
    Setting {
        env: "MCP_RANKING_QUEUE_PER_CALLER",
        meaning: "searches of one caller waiting to rank",
        default: Default::Value("16"),
        kind: Kind::Number {
            min: 0,
            max: 10_000,
            unit: Unit::Count,
        },
        reason: Some("one trusted caller sends more than 16 searches at once"),
    },
    Setting {
        env: "MCP_SSE_IDLE_SECS",
        meaning: "how long an /sse stream may go without a message",
        default: Default::Value("1800"),
        kind: Kind::Number {
            min: 1,
            max: 86_400,
            unit: Unit::Secs,
        },
        reason: Some(
            "a proxy or client expects quiet /sse streams to stay open longer than 30 minutes",
        ),
    },
    Setting {
        env: "MCP_SSE_KEEPALIVE_SECS",
        meaning: "interval of keep-alive comments on event streams",
        default: Default::Value("15"),
        kind: Kind::Number {
            min: 1,
            max: 300,
            unit: Unit::Secs,
        },
        reason: Some("a proxy closes quiet streams sooner than 15 s"),
    },
    Setting {
        env: "MCP_DPOP_MAX_AGE_SECS",
        meaning: "how old a DPoP proof's iat may be",
        default: Default::Value("300"),
        kind: Kind::Number {
            min: 1,
            max: 3600,
            unit: Unit::Secs,
        },
        reason: Some(
            "DPoP clients' clocks or queues make proofs older than 5 minutes, or your policy wants them younger",
        ),
    },
    Setting {
        env: "MCP_DPOP_REQUIRED",
        meaning: "refuse Bearer tokens and take DPoP-bound tokens only",
        default: Default::Value("false"),
        kind: Kind::Bool,
        reason: None,
    },
    Setting {
        env: "MCP_DPOP_REPLAY_CACHE_SIZE",
        meaning: "most DPoP proofs remembered to refuse their replay",
        default: Default::Value("200000"),
        kind: Kind::Number {
            min: 1000,
            max: 10_000_000,
            unit: Unit::Count,
        },
        reason: Some("more than 200 000 DPoP proofs arrive within MCP_DPOP_MAX_AGE_SECS"),
    },
    Setting {
        env: "MCP_DPOP_NONCE",
        meaning: "ask DPoP clients for a server nonce in their proofs",
        default: Default::Value("false"),
        kind: Kind::Bool,
        reason: None,
    },
    Setting {
        env: "MCP_REDIS_URL",
        meaning: "the Redis or Valkey replicas share state on (redis:// or rediss://)",
        default: Default::Unset,
        kind: Kind::Text,
        reason: None,
    },
    Setting {
        env: "MCP_REDIS_TIMEOUT_MS",
        meaning: "how long a Redis command may take before a replica decides alone",
        default: Default::Value("250"),
        kind: Kind::Number {
            min: 10,
            max: 10_000,
            unit: Unit::Millis,
        },
        reason: Some("Redis is farther away than 250 ms allows"),
    },
];

/// The setting named `env`, if it is one of [`SETTINGS`].
pub(crate) fn setting(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

/// The settings without a default, in the table's order: start-up stops until they are set.
pub(crate) fn required() -> impl Iterator<Item = &'static Setting> {
    SETTINGS.iter().filter(|s| s.default == Default::Required)
}

/// The environment name of the scope setting of `tool`: `MCP_TOOLS_SEARCH_SCOPES`.
pub(crate) fn scope_setting(tool: &str) -> String {
    format!("MCP_TOOLS_{}_SCOPES", tool.to_ascii_uppercase())
}

/// Names that were settings once, each with why it is one no more: setting one stops start-up
/// with a message saying so, so a value is never read under a name the docs no longer give,
/// nor ignored in silence.
pub(crate) const FORMER: &[(&str, &str)] = &[
    (
        "MCP_JWKS_COOLDOWN_SECS",
        "it was renamed MCP_JWKS_REFETCH_INTERVAL_SECS, and that is now a fixed 5 s between JWKS fetches caused by unknown key ids",
    ),
    (
        "MCP_JWKS_REFETCH_INTERVAL_SECS",
        "JWKS fetches caused by unknown key ids are now at least a fixed 5 s apart, which bounds a flood of made-up key ids to 12 fetches a minute",
    ),
    (
        "MCP_JWKS_MAX_REFRESH_SECS",
        "Keycloak sends its keys with Cache-Control: no-cache, so MCP_JWKS_MIN_REFRESH_SECS sets how often they are refreshed; a longer max-age from a proxy is lowered to an hour",
    ),
    (
        "MCP_MAX_BATCH",
        "a JSON-RPC batch (protocol 2025-03-26 only) now holds at most a fixed 32 messages; send more as several POSTs",
    ),
];

/// The settings as `serve --help` lists them, from this table: the required ones first, then
/// every other with its default and kind, then the per-tool scopes of `tools` and the other
/// variables.
pub fn help(tools: &[&str]) -> String {
    let width = SETTINGS.iter().map(|s| s.env.len()).max().unwrap_or(0);
    let line = |env: &str, meaning: &str, default: Default, kind: Kind| {
        let default = match default {
            Default::Required => String::new(),
            Default::Unset => "unset; ".into(),
            Default::Value(v) => format!("default: {v}; "),
            Default::Derived(d) => format!("default: {d}; "),
        };
        format!(
            "  {env:<width$}  {meaning} [{default}{}]\n",
            kind.describe()
        )
    };
    let mut text = String::from("Required settings (environment variables):\n");
    for s in required() {
        text.push_str(&line(s.env, s.meaning, s.default, s.kind));
    }
    text.push_str("\nOther settings (the same keys, lower case and without MCP_ or KC_, in the file MCP_CONFIG names):\n");
    for s in SETTINGS.iter().filter(|s| s.default != Default::Required) {
        text.push_str(&line(s.env, s.meaning, s.default, s.kind));
    }
    for tool in tools {
        text.push_str(&line(
            &scope_setting(tool),
            &format!("scopes `{tool}` needs beyond MCP_REQUIRED_SCOPES"),
            Default::Unset,
            Kind::Scopes,
        ));
    }
    text.push_str(&format!(
        "\nAlso read: MCP_CONFIG (a TOML file with these settings) and {UNKNOWN_VARIABLES} (refuse or \
         warn: what a set MCP_ variable that is no setting does). docs/configuration.md has the details.\n"
    ));
    text
}

/// The variable that says what an unknown `MCP_` variable does: `refuse` (the default) stops
/// start-up, `warn` logs it, for a deployment whose environment is shared with other programs.
pub(crate) const UNKNOWN_VARIABLES: &str = "MCP_UNKNOWN_VARIABLES";

/// Variables beginning with `MCP_` that the binary reads and that are not settings: the file's
/// path, `check`'s secrets and the switch above.
pub(crate) const OTHER_VARIABLES: &[&str] = &[
    "MCP_CONFIG",
    "MCP_CHECK_TOKEN",
    "MCP_CHECK_CLIENT_SECRET",
    UNKNOWN_VARIABLES,
];

/// The known name nearest `name` when it is near enough to be a slip of the keyboard: among the
/// settings, the other variables and the scope settings of `tools`.
pub(crate) fn nearest(name: &str, tools: &[&str]) -> Option<String> {
    let scoped = tools.iter().map(|t| scope_setting(t));
    let known = SETTINGS
        .iter()
        .map(|s| s.env.to_owned())
        .chain(OTHER_VARIABLES.iter().map(|v| (*v).to_owned()))
        .chain(scoped);
    // A name cut short or run on (`MCP_JWKS_MAX_STALE`) counts as one slip.
    let distance = |candidate: &str| {
        let cut = candidate.len().min(name.len()) >= 12
            && (candidate.starts_with(name) || name.starts_with(candidate));
        if cut {
            1
        } else {
            strsim::osa_distance(name, candidate)
        }
    };
    let (distance, best) = known.map(|c| (distance(&c), c)).min()?;
    (distance <= (name.len() / 5).max(2)).then_some(best)
}

/// The fixed default of a setting, as it would be written; settings without one are required,
/// unset or worked out from other settings (`settings.rs`).
pub(crate) fn default_of(env: &str) -> Option<&'static str> {
    match setting(env)?.default {
        Default::Value(v) => Some(v),
        _ => None,
    }
}

/// The default of a number setting of a unit of size, in bytes.
pub fn default_bytes(env: &str) -> Option<u64> {
    let n = default_of(env)?.parse::<u64>().ok()?;
    match setting(env)?.kind {
        Kind::Number { unit, .. } => unit.bytes(n),
        _ => None,
    }
}

/// The TOML key for an environment name.
pub(crate) fn file_key(env: &str) -> String {
    let bare = env
        .strip_prefix("MCP_")
        .or_else(|| env.strip_prefix("KC_"))
        .unwrap_or(env);
    bare.to_ascii_lowercase()
}

/// The environment name for a TOML key (the inverse of [`file_key`]), when the key is a known
/// setting or of the per-tool scopes family.
pub(crate) fn env_name(key: &str) -> Option<String> {
    if let Some(s) = SETTINGS.iter().find(|s| file_key(s.env) == key) {
        return Some(s.env.to_owned());
    }
    tool_of_key(key).map(|_| format!("MCP_{}", key.to_ascii_uppercase()))
}

/// The tool a key of the per-tool scopes family names: `search` for `tools_search_scopes`.
pub(crate) fn tool_of_key(key: &str) -> Option<&str> {
    let name = key.strip_prefix("tools_")?.strip_suffix("_scopes")?;
    let fits = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    fits.then_some(name)
}
