//! Every setting the server knows: its environment name, its key in the file, and its default.
//!
//! Beside the fixed settings there is one family: `MCP_TOOLS_<NAME>_SCOPES`
//! (`tools_<name>_scopes`, or `[tools.<name>] scopes` in the file), one for each tool. The
//! configuration accepts any name of that shape; which names are tools is the tool list's to say
//! (`crate::tools::TOOLS`), and [`crate::config::load`] refuses the others.

/// Every setting but the per-tool scopes: its environment name and what it means.
pub const SETTINGS: &[(&str, &str)] = &[
    ("MCP_BIND", "listen address"),
    (
        "MCP_METRICS_BIND",
        "listen address of /metrics alone, which the main address then no longer serves",
    ),
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
    ("MCP_LOG_FORMAT", "log format, json or pretty"),
    (
        "MCP_AUDIT_QUERIES",
        "how audit events record search queries: text, hash or off",
    ),
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
    ("MCP_DPOP_MAX_AGE_SECS", "how old a DPoP proof's iat may be"),
    (
        "MCP_DPOP_REQUIRED",
        "refuse Bearer tokens and take DPoP-bound tokens only (true or false)",
    ),
    (
        "MCP_DPOP_REPLAY_CACHE_SIZE",
        "most DPoP proofs remembered to refuse their replay",
    ),
    (
        "MCP_DPOP_NONCE",
        "ask DPoP clients for a server nonce in their proofs (true or false)",
    ),
    (
        "MCP_REDIS_URL",
        "the Redis or Valkey replicas share state on (redis:// or rediss://)",
    ),
    (
        "MCP_REDIS_TIMEOUT_MS",
        "how long a Redis command may take before a replica decides alone",
    ),
];

/// The settings without a default: start-up stops until they are set. `Settings::from_raw`
/// asks for exactly these (a test holds the two together).
pub const REQUIRED: &[&str] = &["MCP_SERVER_URL", "KC_ISSUER"];

/// The settings as `serve --help` lists them, from this table: the required ones first, then
/// every other with its default, then the per-tool scopes of `tools` and the other variables.
pub fn help(tools: &[&str]) -> String {
    let width = SETTINGS.iter().map(|(env, _)| env.len()).max().unwrap_or(0);
    let line = |env: &str, meaning: &str| match default_of(env) {
        Some(default) => format!("  {env:<width$}  {meaning} [default: {default}]\n"),
        None => format!("  {env:<width$}  {meaning}\n"),
    };
    let mut text = String::from("Required settings (environment variables):\n");
    for env in REQUIRED {
        let meaning = SETTINGS
            .iter()
            .find(|(e, _)| e == env)
            .map_or("", |(_, m)| *m);
        text.push_str(&line(env, meaning));
    }
    text.push_str("\nOther settings (the same keys, lower case and without MCP_ or KC_, in the file MCP_CONFIG names):\n");
    for (env, meaning) in SETTINGS.iter().filter(|(e, _)| !REQUIRED.contains(e)) {
        text.push_str(&line(env, meaning));
    }
    for tool in tools {
        let env = format!("MCP_TOOLS_{}_SCOPES", tool.to_ascii_uppercase());
        text.push_str(&line(
            &env,
            &format!("scopes `{tool}` needs beyond MCP_REQUIRED_SCOPES"),
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
pub const UNKNOWN_VARIABLES: &str = "MCP_UNKNOWN_VARIABLES";

/// Variables beginning with `MCP_` that the binary reads and that are not settings: the file's
/// path, `check`'s secrets and the switch above.
pub const OTHER_VARIABLES: &[&str] = &[
    "MCP_CONFIG",
    "MCP_CHECK_TOKEN",
    "MCP_CHECK_CLIENT_SECRET",
    UNKNOWN_VARIABLES,
];

/// The known name nearest `name` when it is near enough to be a slip of the keyboard: among the
/// settings, the other variables and the scope settings of `tools`.
pub fn nearest(name: &str, tools: &[&str]) -> Option<String> {
    let scoped = tools
        .iter()
        .map(|t| format!("MCP_TOOLS_{}_SCOPES", t.to_ascii_uppercase()));
    let known = SETTINGS
        .iter()
        .map(|(env, _)| (*env).to_owned())
        .chain(OTHER_VARIABLES.iter().map(|v| (*v).to_owned()))
        .chain(scoped);
    // A name cut short or run on (`MCP_JWKS_MAX_REFRESH`) counts as one slip.
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

/// The defaults that do not depend on other settings, by environment name: the first layer of
/// the merged configuration. Defaults made from other settings (`MCP_RESOURCE` from
/// `MCP_SERVER_URL`, the allowed origins and hosts, a caller's share of the ranking threads)
/// are worked out in `settings.rs`, and the number of ranking threads is the machine's CPUs.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("MCP_BIND", "0.0.0.0:8000"),
    ("MCP_RESOURCE_NAME", "MCP resource server"),
    ("MCP_REQUIRED_SCOPES", "mcp:tools"),
    ("MCP_CORPUS_WATCH", "true"),
    ("MCP_CORPUS_DEBOUNCE_MS", "1000"),
    ("MCP_SEARCH_CACHE_MIB", "16"),
    ("RUST_LOG", "info"),
    ("MCP_AUDIT_QUERIES", "hash"),
    ("MCP_CLOCK_LEEWAY_SECS", "30"),
    ("MCP_JWKS_REFETCH_INTERVAL_SECS", "5"),
    ("MCP_JWKS_MIN_REFRESH_SECS", "60"),
    ("MCP_JWKS_MAX_REFRESH_SECS", "3600"),
    ("MCP_JWKS_MAX_STALE_SECS", "86400"),
    ("MCP_HTTP_TIMEOUT_SECS", "5"),
    ("MCP_TOKEN_CACHE_SIZE", "10000"),
    ("MCP_MAX_BODY_BYTES", "1048576"),
    ("MCP_HEADER_TIMEOUT_SECS", "30"),
    ("MCP_BODY_TIMEOUT_SECS", "30"),
    ("MCP_MAX_CONNECTIONS", "20000"),
    ("MCP_SHUTDOWN_GRACE_SECS", "10"),
    ("MCP_SSE_MAX_SESSIONS", "10000"),
    ("MCP_SSE_MAX_SESSIONS_PER_SUBJECT", "8"),
    ("MCP_SSE_OUTBOX_KIB", "256"),
    ("MCP_SSE_OUTBOX_TOTAL_MIB", "64"),
    ("MCP_MAX_BATCH", "32"),
    ("MCP_RATE_LIMIT_PER_MIN", "600"),
    ("MCP_RATE_LIMIT_BURST", "60"),
    ("MCP_REQUEST_LIMIT_PER_MIN", "6000"),
    ("MCP_REQUEST_LIMIT_BURST", "600"),
    ("MCP_RANKING_QUEUE_PER_CALLER", "16"),
    ("MCP_SSE_IDLE_SECS", "1800"),
    ("MCP_SSE_KEEPALIVE_SECS", "15"),
    ("MCP_DPOP_MAX_AGE_SECS", "300"),
    ("MCP_DPOP_REQUIRED", "false"),
    ("MCP_DPOP_REPLAY_CACHE_SIZE", "200000"),
    ("MCP_DPOP_NONCE", "false"),
    ("MCP_REDIS_TIMEOUT_MS", "250"),
];

/// The default of a setting, as it would be written.
pub fn default_of(env: &str) -> Option<&'static str> {
    DEFAULTS.iter().find(|(e, _)| *e == env).map(|(_, v)| *v)
}

/// The TOML key for an environment name.
pub fn file_key(env: &str) -> String {
    let bare = env
        .strip_prefix("MCP_")
        .or_else(|| env.strip_prefix("KC_"))
        .unwrap_or(env);
    bare.to_ascii_lowercase()
}

/// The environment name for a TOML key (the inverse of [`file_key`]), when the key is a known
/// setting or of the per-tool scopes family.
pub fn env_name(key: &str) -> Option<String> {
    if let Some((env, _)) = SETTINGS.iter().find(|(env, _)| file_key(env) == key) {
        return Some((*env).to_owned());
    }
    tool_of_key(key).map(|_| format!("MCP_{}", key.to_ascii_uppercase()))
}

/// The tool a key of the per-tool scopes family names: `search` for `tools_search_scopes`.
pub fn tool_of_key(key: &str) -> Option<&str> {
    let name = key.strip_prefix("tools_")?.strip_suffix("_scopes")?;
    let fits = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    fits.then_some(name)
}
