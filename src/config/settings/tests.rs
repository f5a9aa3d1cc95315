use std::collections::HashMap;

use super::*;
use crate::config::known::{Kind, Setting};
use crate::config::raw::RawConfig;

fn from_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let raw = RawConfig::load_from(env).unwrap();
    Settings::from_raw(&raw)
}

const BASE: [(&str, &str); 2] = [
    ("MCP_SERVER_URL", "https://mcp.localhost"),
    ("KC_ISSUER", "https://auth.localhost/realms/mcp"),
];

fn with(extra: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut pairs = BASE.to_vec();
    pairs.extend_from_slice(extra);
    from_env(&pairs)
}

#[test]
fn the_defaults_follow_the_design_table() {
    let s = with(&[]).unwrap();
    assert_eq!(s.bind.to_string(), "0.0.0.0:8000");
    assert_eq!(s.resource, "https://mcp.localhost/mcp");
    assert_eq!(s.audiences, vec!["https://mcp.localhost/mcp"]);
    assert_eq!(
        s.discovery_url.as_str(),
        "https://auth.localhost/realms/mcp/.well-known/openid-configuration"
    );
    assert_eq!(s.jwks_url, None);
    assert_eq!(s.required_scopes, vec!["mcp:tools"]);
    assert_eq!(
        s.allowed_origins,
        vec![
            "https://chatgpt.com",
            "https://chat.openai.com",
            "https://mcp.localhost",
            "http://localhost:*",
            "http://127.0.0.1:*",
            "http://[::1]:*"
        ]
    );
    assert_eq!(
        s.allowed_hosts,
        vec!["mcp.localhost", "localhost", "127.0.0.1"]
    );
    assert_eq!(s.corpus.folder, None);
    assert!(s.corpus.watch && s.tool_scopes.is_empty());
    assert_eq!(s.log_format, None);
    assert_eq!(s.log_filter, "info");
    assert_eq!(
        s.metadata_url(),
        "https://mcp.localhost/.well-known/oauth-protected-resource/mcp"
    );
}

#[test]
fn every_design_table_variable_is_read() {
    let s = with(&[
        ("MCP_BIND", "127.0.0.1:9000"),
        ("MCP_RESOURCE", "https://mcp.example.com/mcp"),
        ("MCP_AUDIENCE", "mcp-audience"),
        ("MCP_ALT_AUDIENCE", "a,b , c"),
        (
            "KC_DISCOVERY_URL",
            "http://keycloak:8080/realms/mcp/.well-known/openid-configuration",
        ),
        (
            "KC_JWKS_URL",
            "http://keycloak:8080/realms/mcp/protocol/openid-connect/certs",
        ),
        ("MCP_REQUIRED_SCOPES", "mcp:tools  docs:read"),
        (
            "MCP_ALLOWED_ORIGINS",
            "http://localhost:6274, https://chatgpt.com, http://LocalHost:*",
        ),
        ("MCP_ALLOWED_HOSTS", "MCP.Example.com,localhost:8000"),
        ("MCP_CORPUS", "/srv/docs"),
        ("MCP_LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
    ])
    .unwrap();
    assert_eq!(s.bind.to_string(), "127.0.0.1:9000");
    assert_eq!(s.resource, "https://mcp.example.com/mcp");
    assert_eq!(s.audiences, vec!["mcp-audience", "a", "b", "c"]);
    assert_eq!(s.discovery_url.host_str(), Some("keycloak"));
    assert_eq!(
        s.jwks_url.unwrap().path(),
        "/realms/mcp/protocol/openid-connect/certs"
    );
    assert_eq!(s.required_scopes, vec!["mcp:tools", "docs:read"]);
    assert_eq!(
        s.allowed_origins,
        vec![
            "http://localhost:6274",
            "https://chatgpt.com",
            "http://localhost:*"
        ]
    );
    assert_eq!(s.allowed_hosts, vec!["mcp.example.com", "localhost:8000"]);
    assert_eq!(s.corpus.folder, Some(PathBuf::from("/srv/docs")));
    assert_eq!(s.log_format, Some(LogFormat::Json));
    assert_eq!(s.log_filter, "debug");
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let s = with(&[("KC_JWKS_URL", ""), ("MCP_ALT_AUDIENCE", " ")]).unwrap();
    assert_eq!(s.jwks_url, None);
    assert_eq!(s.audiences.len(), 1);
}

#[test]
fn a_trailing_slash_on_the_server_url_is_dropped() {
    assert_eq!(
        with(&[("MCP_SERVER_URL", "https://mcp.localhost/")])
            .unwrap()
            .server_url,
        "https://mcp.localhost"
    );
}

fn error_of(extra: &[(&str, &str)]) -> String {
    with(extra).unwrap_err().to_string()
}

#[test]
fn missing_required_settings_are_named() {
    assert!(
        from_env(&[])
            .unwrap_err()
            .to_string()
            .starts_with("MCP_SERVER_URL: is required")
    );
    let e = from_env(&[BASE[0]]).unwrap_err().to_string();
    assert!(e.starts_with("KC_ISSUER: is required"), "{e}");
}

#[test]
fn invalid_values_are_named_with_what_to_do() {
    for (env, value, hint) in [
        ("MCP_BIND", "8000", "0.0.0.0:8000"),
        ("MCP_SERVER_URL", "mcp.localhost", "absolute URL"),
        (
            "MCP_SERVER_URL",
            "https://mcp.localhost/mcp",
            "without a path",
        ),
        (
            "MCP_RESOURCE",
            "https://mcp.localhost/mcp/",
            "ends with a slash",
        ),
        ("MCP_RESOURCE", "https://mcp.localhost/mcp?x=1", "query"),
        ("KC_ISSUER", "ftp://auth", "http://"),
        ("KC_JWKS_URL", "/certs", "absolute URL"),
        ("MCP_REQUIRED_SCOPES", "mcp:\"tools\"", "not a valid scope"),
        ("MCP_ALLOWED_ORIGINS", "https://*.example.com", "origin"),
        ("MCP_ALLOWED_ORIGINS", "https://chatgpt.com/path", "origin"),
        (
            "MCP_ALLOWED_ORIGINS",
            "http://localhost:6274:*",
            "only the port",
        ),
        ("MCP_ALLOWED_ORIGINS", "http://*:*", "only the port"),
        ("MCP_ALLOWED_HOSTS", "*.example.com", "host name"),
        ("MCP_LOG_FORMAT", "xml", "json or pretty"),
        ("MCP_AUDIT_QUERIES", "all", "text, hash or off"),
        ("MCP_CLOCK_LEEWAY_SECS", "-1", "0 to 300"),
        ("MCP_CLOCK_LEEWAY_SECS", "3600", "0 to 300"),
        ("MCP_TOKEN_CACHE_SIZE", "lots", "whole number"),
    ] {
        let e = error_of(&[(env, value)]);
        assert!(e.starts_with(&format!("{env}: ")), "{env}={value}: {e}");
        assert!(e.contains(hint), "{env}={value}: {e}");
    }
}

#[test]
fn the_refresh_interval_is_at_most_the_longest_the_key_store_waits() {
    let e = error_of(&[("MCP_JWKS_MIN_REFRESH_SECS", "3601")]);
    assert!(e.starts_with("MCP_JWKS_MIN_REFRESH_SECS"), "{e}");
    let Some(Setting {
        kind: Kind::Number { max, .. },
        ..
    }) = crate::config::known::setting("MCP_JWKS_MIN_REFRESH_SECS")
    else {
        panic!("MCP_JWKS_MIN_REFRESH_SECS is a number setting");
    };
    assert_eq!(*max, crate::auth::key_store::MAX_REFRESH.as_secs());
}

#[test]
fn a_retired_setting_is_refused_with_why_in_the_environment_and_the_file() {
    let e = RawConfig::load_from([("MCP_JWKS_MAX_REFRESH_SECS".to_owned(), "60".to_owned())])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("MCP_JWKS_MAX_REFRESH_SECS: this is no longer a setting: Keycloak sends"),
        "{e}"
    );
    let e = RawConfig::from_toml("jwks_max_refresh_secs = 60", "mcp.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("MCP_CONFIG: `jwks_max_refresh_secs` in mcp.toml is no longer a setting"),
        "{e}"
    );
}

#[test]
fn a_toml_file_sets_the_same_things_with_lists_as_arrays() {
    let raw = RawConfig::from_toml(
        r#"
        server_url = "https://mcp.example.com"
        issuer = "https://auth.example.com/realms/docs"
        jwks_url = "http://keycloak:8080/realms/docs/protocol/openid-connect/certs"
        alt_audience = ["mcp-gate"]
        required_scopes = ["mcp:tools", "docs:read"]
        clock_leeway_secs = 10
        rust_log = "debug"
        "#,
        "mcp.toml",
    )
    .unwrap();
    let s = Settings::from_raw(&raw).unwrap();
    assert_eq!(s.resource, "https://mcp.example.com/mcp");
    assert_eq!(s.issuer, "https://auth.example.com/realms/docs");
    assert_eq!(s.audiences, vec!["https://mcp.example.com/mcp", "mcp-gate"]);
    assert_eq!(s.required_scopes, vec!["mcp:tools", "docs:read"]);
    assert_eq!(s.leeway.as_secs(), 10);
    assert_eq!(s.log_filter, "debug");
}

#[test]
fn an_error_in_the_file_names_the_variable_the_key_and_the_file() {
    let raw = RawConfig::from_toml(
        "server_url = \"https://x\"\nissuer = \"https://i\"\nclock_leeway_secs = 9000\n",
        "/etc/mcp.toml",
    )
    .unwrap();
    let e = Settings::from_raw(&raw).unwrap_err().to_string();
    assert!(
        e.starts_with("MCP_CLOCK_LEEWAY_SECS (clock_leeway_secs in /etc/mcp.toml): "),
        "{e}"
    );
}

#[test]
fn an_unknown_key_in_the_file_is_an_error_not_ignored() {
    let e = RawConfig::from_toml("issuer_url = \"https://i\"\n", "mcp.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown key `issuer_url`") && e.contains("issuer"),
        "{e}"
    );
    let e = RawConfig::from_toml("issuer = 1.5\n", "mcp.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("KC_ISSUER (issuer in mcp.toml)"), "{e}");
}

#[test]
fn the_environment_wins_over_the_file() {
    let dir = std::env::temp_dir().join(format!("mcp-config-test-{}", std::process::id()));
    std::fs::write(
        &dir,
        "server_url = \"https://from-file\"\nissuer = \"https://auth/realms/a\"\n",
    )
    .unwrap();
    let path = dir.display().to_string();
    let raw = RawConfig::load_from([
        ("MCP_CONFIG".to_owned(), path.clone()),
        (
            "KC_ISSUER".to_owned(),
            "https://auth/realms/from-env".to_owned(),
        ),
    ])
    .unwrap();
    let s = Settings::from_raw(&raw).unwrap();
    assert_eq!(s.server_url, "https://from-file");
    assert_eq!(s.issuer, "https://auth/realms/from-env");
    let _ = std::fs::remove_file(dir);
}

#[test]
fn every_setting_has_a_distinct_file_key() {
    let mut keys: Vec<String> = crate::config::raw::SETTINGS
        .iter()
        .map(|s| crate::config::raw::file_key(s.env))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), crate::config::raw::SETTINGS.len());
}

#[test]
fn per_tool_scopes_and_corpus_settings_can_be_written_in_tables() {
    let file = r#"
server_url = "https://mcp.localhost"
issuer = "https://auth.localhost/realms/mcp"

[corpus]
watch = false
debounce_ms = 250
base_url = "https://kb.example.com/"

[search]
cache_mib = 4

[tools.search]
scopes = ["docs:search"]

[tools.fetch]
scopes = ["docs:read", "docs:search"]
"#;
    let raw = RawConfig::from_toml(file, "mcp.toml").unwrap();
    let s = Settings::from_raw(&raw).unwrap();
    assert_eq!(s.tool_scopes["search"], ["docs:search"]);
    assert_eq!(s.tool_scopes["fetch"], ["docs:read", "docs:search"]);
    assert!(!s.corpus.watch);
    assert_eq!(s.corpus.debounce, Duration::from_millis(250));
    assert_eq!(s.corpus.search_cache_bytes, 4 << 20);
    assert_eq!(
        s.corpus.base_url.unwrap().as_str(),
        "https://kb.example.com/"
    );

    // Which names are tools is the tool list's to say, so the name is judged when the
    // settings are made for that list (as `serve` and `check` do), not when the file is read.
    let raw = RawConfig::from_toml("[tools.serch]\nscopes = [\"x\"]\n", "mcp.toml").unwrap();
    let e = crate::config::settings_for(&raw, &crate::tools::names())
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown key `tools.serch.scopes`"), "{e}");
    let e = with(&[("MCP_TOOLS_FETCH_SCOPES", "docs:read \"x")])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MCP_TOOLS_FETCH_SCOPES: "), "{e}");
}

#[test]
fn a_former_name_is_refused_saying_what_replaced_it_in_the_environment_and_the_file() {
    // The oldest name of the refetch interval names its later name and what it is now.
    let e = RawConfig::load_from([("MCP_JWKS_COOLDOWN_SECS".to_owned(), "3".to_owned())])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "MCP_JWKS_COOLDOWN_SECS: this is no longer a setting: it was renamed \
         MCP_JWKS_REFETCH_INTERVAL_SECS, and that is now a fixed 5 s between JWKS fetches caused \
         by unknown key ids; remove it (docs/configuration.md)"
    );
    let e = RawConfig::from_toml("[jwks]\ncooldown_secs = 3\n", "mcp.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("MCP_CONFIG: `jwks.cooldown_secs` in mcp.toml is no longer a setting: it was renamed MCP_JWKS_REFETCH_INTERVAL_SECS"),
        "{e}"
    );
    for (env, key) in [
        (
            "MCP_JWKS_REFETCH_INTERVAL_SECS",
            "jwks_refetch_interval_secs",
        ),
        ("MCP_MAX_BATCH", "max_batch"),
    ] {
        let e = RawConfig::load_from([(env.to_owned(), "2".to_owned())])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("{env}: this is no longer a setting: ")),
            "{e}"
        );
        assert!(e.contains("fixed"), "{e}");
        let e = RawConfig::from_toml(&format!("{key} = 2"), "mcp.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("`{key}` in mcp.toml is no longer a setting")),
            "{e}"
        );
    }
    // An empty variable counts as unset, former name or not.
    assert!(RawConfig::load_from([("MCP_JWKS_COOLDOWN_SECS".to_owned(), String::new())]).is_ok());
}

#[test]
fn fair_use_defaults_leave_room_for_any_real_client() {
    let s = with(&[]).unwrap();
    assert_eq!((s.fair.rate_per_minute, s.fair.rate_burst), (600, 60));
    assert!(s.fair.ranking_threads >= 1);
    assert_eq!(
        s.fair.ranking_per_caller,
        s.fair.ranking_threads.div_ceil(2)
    );
    assert_eq!(s.fair.ranking_queue_per_caller, 16);
    assert_eq!(s.sse.max_sessions_per_subject, 8);
    let e = with(&[
        ("MCP_RANKING_THREADS", "2"),
        ("MCP_RANKING_PER_CALLER", "3"),
    ])
    .unwrap_err();
    assert!(e.to_string().starts_with("MCP_RANKING_PER_CALLER"), "{e}");
    let off = with(&[("MCP_RATE_LIMIT_PER_MIN", "0")]).unwrap();
    assert_eq!(off.fair.rate_per_minute, 0);
}

#[test]
fn the_scope_setting_of_each_tool_follows_the_tool_list() {
    let env = |pairs: &[(&str, &str)]| {
        let mut all = BASE.to_vec();
        all.extend_from_slice(pairs);
        RawConfig::load_from(all.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    };
    let tools = crate::tools::names();
    for tool in &tools {
        let name = format!("MCP_TOOLS_{}_SCOPES", tool.to_uppercase());
        let s = crate::config::settings_for(&env(&[(&name, "docs:read")]), &tools).unwrap();
        assert_eq!(s.tool_scopes[*tool], ["docs:read"], "{name}");
    }
    // A tool added to the list gets its setting with nothing else to change.
    let raw = env(&[("MCP_TOOLS_SUMMARISE_SCOPES", "docs:summarise")]);
    let s = crate::config::settings_for(&raw, &["search", "fetch", "summarise"]).unwrap();
    assert_eq!(s.tool_scopes["summarise"], ["docs:summarise"]);
    // A variable for no tool is refused by name, where before it was silently ignored.
    let e = crate::config::settings_for(&env(&[("MCP_TOOLS_SERCH_SCOPES", "x")]), &tools)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "MCP_TOOLS_SERCH_SCOPES: there is no tool `serch`; the tools are search, fetch"
    );
}

#[test]
fn every_row_of_docs_configuration_md_is_the_settings_table() {
    use crate::config::known::{Default, Kind, SETTINGS};
    let docs = include_str!("../../../docs/configuration.md");
    let (docs, former) = docs
        .split_once("### Fixed limits that were settings")
        .expect("docs/configuration.md lists the former settings under their own heading");
    let rows: Vec<&str> = docs
        .lines()
        .filter(|l| {
            l.starts_with("| `MCP_") || l.starts_with("| `KC_") || l.starts_with("| `RUST_")
        })
        .collect();
    // Each former name has a row of its own there, and only those.
    let former: Vec<&str> = former
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split('`').nth(1).unwrap())
        .collect();
    let names: Vec<&str> = crate::config::known::FORMER.iter().map(|f| f.0).collect();
    assert_eq!(former, names, "docs/configuration.md's former settings");
    for s in SETTINGS {
        let row = rows
            .iter()
            .find(|l| l.starts_with(&format!("| `{}` |", s.env)))
            .unwrap_or_else(|| panic!("{} has no row in docs/configuration.md", s.env));
        let cells: Vec<&str> = row.split(" | ").collect();
        let key = crate::config::raw::file_key(s.env);
        assert!(
            cells[1].starts_with(&format!("`{key}`")),
            "{}: the file key is {key}, the docs show {}",
            s.env,
            cells[1]
        );
        let shown = cells[2];
        match s.default {
            Default::Required => assert_eq!(shown, "required", "{}", s.env),
            Default::Unset => assert!(shown.starts_with("unset"), "{}: {shown}", s.env),
            Default::Value(v) => assert!(
                shown.starts_with(&format!("`{v}`")),
                "{}: the default is {v}, the docs show {shown}",
                s.env
            ),
            Default::Derived(_) => assert!(
                !["", "required", "unset"].contains(&shown),
                "{}: its default is worked out, the docs show {shown}",
                s.env
            ),
        }
        // A tuning value stays a setting only with a reason an operator has to change it, which
        // its row gives in the table's words.
        if let Some(reason) = s.reason {
            assert!(
                row.contains(&format!("Change it when {reason}")),
                "{}: the row does not give the reason of the settings table: {reason}",
                s.env
            );
        }
        if let Kind::Number { min, max, .. } = s.kind {
            assert!(
                s.reason.is_some(),
                "{}: a tuning value with no reason to change it should be a constant",
                s.env
            );
            assert!(
                shown.contains(&format!("({min}–{max}")),
                "{}: the bounds are {min}–{max}, the docs show {shown}",
                s.env
            );
        }
    }
    // And no row names a setting the table does not have (the per-tool scopes excepted).
    for row in rows {
        let env = row.split('`').nth(1).unwrap();
        assert!(
            crate::config::known::setting(env).is_some()
                || crate::config::known::env_name(&crate::config::raw::file_key(env)).is_some(),
            "docs/configuration.md has a row for {env}, which is no setting"
        );
    }
}

#[test]
fn one_setting_written_twice_in_the_file_is_an_error_not_a_silent_choice() {
    let e = RawConfig::from_toml(
        "tools_fetch_scopes = [\"a\"]\n[tools.fetch]\nscopes = [\"b\"]\n",
        "mcp.toml",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "MCP_CONFIG: `tools.fetch.scopes` and `tools_fetch_scopes` in mcp.toml are the same \
         setting (MCP_TOOLS_FETCH_SCOPES); keep one"
    );
}

#[test]
fn a_redis_url_is_checked_and_its_password_never_shown() {
    assert!(with(&[]).unwrap().redis.is_none(), "no Redis by default");
    let s = with(&[("MCP_REDIS_URL", "rediss://:s3cret@redis.internal:6380/2")]).unwrap();
    let redis = s.redis.expect("a Redis");
    assert_eq!(redis.timeout, std::time::Duration::from_millis(250));
    let shown = format!("{redis:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("redis.internal:6380"), "{shown}");
    for bad in [
        "http://:s3cret@redis.internal",
        "redis-at-s3cret",
        "redis://:s3cret@",
    ] {
        let e = error_of(&[("MCP_REDIS_URL", bad)]);
        assert!(e.starts_with("MCP_REDIS_URL: "), "{e}");
        assert!(!e.contains("s3cret"), "a password reached the message: {e}");
    }
    let e = error_of(&[
        ("MCP_REDIS_URL", "redis://r"),
        ("MCP_REDIS_TIMEOUT_MS", "5"),
    ]);
    assert!(e.starts_with("MCP_REDIS_TIMEOUT_MS"), "{e}");
}

/// `settings_for` as `serve` calls it, with the tools `search` and `fetch`.
fn judged(extra: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut pairs = BASE.to_vec();
    pairs.extend_from_slice(extra);
    let env: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    crate::config::settings_for(&RawConfig::load_from(env).unwrap(), &["search", "fetch"])
}

#[test]
fn a_misspelt_mcp_variable_stops_start_up_naming_the_nearest_setting() {
    for (typo, meant) in [
        ("MCP_CORPSU", "MCP_CORPUS"),
        ("MCP_TOOLS_FETCH_SCOPE", "MCP_TOOLS_FETCH_SCOPES"),
        ("MCP_DPOP_REQUIRE", "MCP_DPOP_REQUIRED"),
        ("MCP_JWKS_MAX_STALE", "MCP_JWKS_MAX_STALE_SECS"),
    ] {
        let e = judged(&[(typo, "x")]).unwrap_err();
        assert_eq!(e.setting, typo);
        assert!(
            e.message.contains(&format!("did you mean {meant}?")),
            "{typo}: {e}"
        );
        assert!(e.message.contains("MCP_UNKNOWN_VARIABLES=warn"), "{e}");
    }
    // Nothing near: no guess, the same refusal.
    let e = judged(&[("MCP_SOMETHING_ELSE_ENTIRELY", "1")]).unwrap_err();
    assert!(!e.message.contains("did you mean"), "{e}");
}

#[test]
fn unknown_variables_are_warned_about_when_the_switch_says_so_and_kc_ones_always() {
    let s = judged(&[
        ("MCP_UNKNOWN_VARIABLES", "warn"),
        ("MCP_CORPSU", "/x"),
        ("KC_ADMIN_PASSWORD", "secret"),
    ])
    .unwrap();
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    assert!(s.warnings[0].starts_with("KC_ADMIN_PASSWORD is not a setting"));
    assert!(s.warnings[0].contains("Keycloak's own settings"));
    assert!(s.warnings[1].contains("MCP_CORPSU") && s.warnings[1].contains("MCP_CORPUS"));
    // The corpus stays the built-in one: nothing of the unknown name was used.
    assert_eq!(s.corpus.folder, None);
    // A KC_ name alone is a warning even without the switch; an empty unknown one is unset.
    let s = judged(&[("KC_HOSTNAME", "https://auth.localhost"), ("MCP_HOST", "")]).unwrap();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    // What the binary reads besides settings is not unknown.
    let s = judged(&[("MCP_CHECK_TOKEN", "t"), ("MCP_CHECK_CLIENT_SECRET", "s")]).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let e = RawConfig::load_from([("MCP_UNKNOWN_VARIABLES".to_owned(), "maybe".to_owned())])
        .unwrap_err();
    assert!(e.to_string().contains("neither refuse nor warn"), "{e}");
}

#[test]
fn rust_log_must_name_levels() {
    for bad in ["verbose", "info,chatty", "mcp_resource_server=loud"] {
        let e = with(&[("RUST_LOG", bad)]).unwrap_err();
        assert_eq!(e.setting, "RUST_LOG", "{bad}");
    }
    assert!(
        with(&[("RUST_LOG", "verbose")])
            .unwrap_err()
            .message
            .contains("is not a level")
    );
    for good in [
        "debug",
        "WARN",
        "info,mcp_resource_server=debug",
        "off",
        "tower_http[request]=trace",
    ] {
        assert_eq!(with(&[("RUST_LOG", good)]).unwrap().log_filter, good);
    }
}

#[test]
fn the_required_settings_are_the_ones_help_lists_first() {
    let required: Vec<&str> = crate::config::known::required().map(|s| s.env).collect();
    assert_eq!(BASE.map(|(env, _)| env).to_vec(), required);
    for missing in &required {
        let rest: Vec<_> = BASE
            .iter()
            .filter(|(env, _)| env != missing)
            .copied()
            .collect();
        assert_eq!(from_env(&rest).unwrap_err().setting, *missing);
    }
    let help = crate::config::help(&["search", "fetch"]);
    let first_optional = help.find("Other settings").unwrap();
    for env in &required {
        assert!(help.find(env).unwrap() < first_optional, "{env}");
    }
    for s in crate::config::raw::SETTINGS {
        assert!(
            help.contains(&format!("  {} ", s.env)),
            "{} missing from serve --help",
            s.env
        );
    }
    assert!(
        help.contains("[default: 0.0.0.0:8000; address:port]"),
        "{help}"
    );
    assert!(help.contains("[default: 30; 0–300 s]"), "{help}");
    assert!(help.contains("MCP_TOOLS_FETCH_SCOPES"));
}

/// The fenced blocks of `lang` in a Markdown text.
fn blocks<'a>(markdown: &'a str, lang: &str) -> Vec<&'a str> {
    let open = format!("```{lang}\n");
    markdown
        .split(open.as_str())
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or(""))
        .collect()
}

#[test]
fn every_example_in_docs_configuration_md_is_read_as_written() {
    let docs = include_str!("../../../docs/configuration.md");
    let toml = blocks(docs, "toml");
    assert!(!toml.is_empty());
    for example in toml {
        let raw = RawConfig::from_toml(example, "the example")
            .unwrap_or_else(|e| panic!("{e}\n{example}"));
        Settings::from_raw(&raw).unwrap_or_else(|e| panic!("{e}\n{example}"));
    }
    // The shell examples are settings as a shell (or .env) writes them: each is a known one.
    let shell = blocks(docs, "sh");
    assert!(!shell.is_empty());
    for example in shell {
        let mut env: Vec<(String, String)> = BASE
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for line in example.lines().filter(|l| !l.trim().is_empty()) {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not NAME=value: {line}"));
            env.push((name.to_owned(), value.to_owned()));
        }
        let raw = RawConfig::load_from(env).unwrap();
        assert!(raw.unknown().is_empty(), "{:?}\n{example}", raw.unknown());
        crate::config::settings_for(&raw, &["search", "fetch"])
            .unwrap_or_else(|e| panic!("{e}\n{example}"));
    }
}

#[test]
fn metrics_bind_is_an_address_with_a_port_of_its_own() {
    assert_eq!(with(&[]).unwrap().metrics_bind, None);
    let s = with(&[("MCP_METRICS_BIND", "0.0.0.0:9100")]).unwrap();
    assert_eq!(s.metrics_bind.unwrap().to_string(), "0.0.0.0:9100");
    let e = with(&[("MCP_METRICS_BIND", "9100")]).unwrap_err();
    assert_eq!(e.setting, "MCP_METRICS_BIND");
    let e = with(&[("MCP_METRICS_BIND", "127.0.0.1:8000")]).unwrap_err();
    assert!(e.message.contains("port of its own"), "{e}");
}
