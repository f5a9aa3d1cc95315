//! The files that make up the stack (`docker-compose.yml`, `.env.example`, `deploy/Dockerfile`,
//! `keycloak/realm-mcp.json`, `traefik/`), parsed and checked for the settings the stack needs
//! to work with ChatGPT. Each check names what breaks if the setting goes.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn realm() -> Value {
    serde_json::from_str(&read("keycloak/realm-mcp.json")).unwrap()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn named<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|x| x[key] == name))
        .unwrap_or_else(|| panic!("no entry with {key} = {name}"))
}

#[test]
fn the_mcp_scope_puts_the_server_in_the_audience_of_every_clients_tokens() {
    let realm = realm();
    let scope = named(&realm["clientScopes"], "name", "mcp:tools");
    assert_eq!(
        scope["attributes"]["include.in.token.scope"], "true",
        "without it tokens lack `mcp:tools` in `scope` and get 403"
    );
    let audience = named(
        &scope["protocolMappers"],
        "protocolMapper",
        "oidc-audience-mapper",
    );
    assert_eq!(
        audience["config"]["included.custom.audience"],
        "${MCP_RESOURCE}"
    );
    assert_eq!(audience["config"]["access.token.claim"], "true");
    assert!(
        strings(&realm["defaultDefaultClientScopes"]).contains(&"mcp:tools"),
        "a realm default scope, so dynamically registered clients (ChatGPT) get the audience too"
    );
    for client in ["chatgpt", "mcp-inspector", "mcp-gate"] {
        let client = named(&realm["clients"], "clientId", client);
        assert!(
            strings(&client["defaultClientScopes"]).contains(&"mcp:tools"),
            "{}",
            client["clientId"]
        );
    }
}

/// Keycloak's own clients, which it creates before importing any scope unless the file declares
/// them (RealmManager.importRealm), so a file that lists `clientScopes` must list them too.
const BUILT_IN_LOGIN_CLIENTS: [&str; 4] = [
    "account",
    "account-console",
    "admin-cli",
    "security-admin-console",
];

#[test]
fn the_built_in_clients_keep_their_usual_scopes_and_roles() {
    let realm = realm();
    for client in BUILT_IN_LOGIN_CLIENTS {
        let c = named(&realm["clients"], "clientId", client);
        let defaults = strings(&c["defaultClientScopes"]);
        for scope in ["basic", "roles", "profile", "email", "web-origins", "acr"] {
            assert!(
                defaults.contains(&scope),
                "{client} lacks the default scope {scope}: without `basic` its tokens have no `sub`"
            );
        }
        let optional = strings(&c["optionalClientScopes"]);
        for scope in [
            "offline_access",
            "address",
            "phone",
            "microprofile-jwt",
            "organization",
        ] {
            assert!(
                optional.contains(&scope),
                "{client} lacks the optional scope {scope}"
            );
        }
        assert!(
            !defaults.contains(&"mcp:tools"),
            "{client} is not an MCP client and gets no MCP audience"
        );
    }
    // Declaring `account` means Keycloak does not set it up: its roles, the default roles that
    // let every user manage their account, and the console's scope mapping come from the file.
    let account_roles: Vec<&str> = realm["roles"]["client"]["account"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for role in [
        "view-profile",
        "manage-account",
        "manage-account-links",
        "view-groups",
    ] {
        assert!(account_roles.contains(&role), "account role {role}");
    }
    let default_roles = named(&realm["roles"]["realm"], "name", "default-roles-mcp");
    assert_eq!(
        strings(&default_roles["composites"]["client"]["account"]),
        ["view-profile", "manage-account"]
    );
    let console = named(
        &realm["clientScopeMappings"]["account"],
        "client",
        "account-console",
    );
    assert!(strings(&console["roles"]).contains(&"manage-account"));
}

#[test]
fn every_scope_a_client_names_exists() {
    let realm = realm();
    let scopes: Vec<&str> = realm["clientScopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    let mut named_scopes = strings(&realm["defaultDefaultClientScopes"]);
    named_scopes.extend(strings(&realm["defaultOptionalClientScopes"]));
    for c in realm["clients"].as_array().unwrap() {
        named_scopes.extend(strings(&c["defaultClientScopes"]));
        named_scopes.extend(strings(&c["optionalClientScopes"]));
    }
    for name in named_scopes {
        assert!(
            scopes.contains(&name),
            "the scope {name} is named but not declared"
        );
    }
}

#[test]
fn pkce_s256_is_required_of_every_client_including_registered_ones() {
    let realm = realm();
    let policy = realm["clientPolicies"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["enabled"] == true
                && p["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["condition"] == "any-client"))
        })
        .expect("an enabled client policy whose condition is any-client");
    let profiles = realm["clientProfiles"]["profiles"].as_array().unwrap();
    let enforced = strings(&policy["profiles"]).iter().any(|name| {
        profiles.iter().any(|p| {
            p["name"] == *name
                && p["executors"].as_array().is_some_and(|e| {
                    e.iter().any(|e| {
                        e["executor"] == "pkce-enforcer"
                            && e["configuration"]["auto-configure"] == "true"
                    })
                })
        })
    });
    assert!(
        enforced,
        "the any-client policy applies a profile with the pkce-enforcer executor (auto-configure)"
    );
}

#[test]
fn the_built_in_client_scopes_are_kept() {
    let realm = realm();
    for name in [
        "basic",
        "acr",
        "profile",
        "email",
        "roles",
        "web-origins",
        "offline_access",
        "address",
        "phone",
        "microprofile-jwt",
    ] {
        named(&realm["clientScopes"], "name", name);
    }
    let basic = named(&realm["clientScopes"], "name", "basic");
    named(
        &basic["protocolMappers"],
        "protocolMapper",
        "oidc-sub-mapper",
    );
    let roles = named(&realm["clientScopes"], "name", "roles");
    let realm_roles = named(
        &roles["protocolMappers"],
        "protocolMapper",
        "oidc-usermodel-realm-role-mapper",
    );
    assert_eq!(realm_roles["config"]["claim.name"], "realm_access.roles");
    let defaults = strings(&realm["defaultDefaultClientScopes"]);
    for name in ["basic", "roles", "profile", "email", "web-origins", "acr"] {
        assert!(defaults.contains(&name), "{name} is a default scope");
    }
}

#[test]
fn the_chatgpt_and_inspector_clients_are_public_with_pkce_s256_and_exact_redirects() {
    let realm = realm();
    let chatgpt = named(&realm["clients"], "clientId", "chatgpt");
    assert_eq!(chatgpt["publicClient"], true);
    assert_eq!(chatgpt["attributes"]["pkce.code.challenge.method"], "S256");
    let redirects = strings(&chatgpt["redirectUris"]);
    assert!(redirects.contains(&"https://chatgpt.com/connector/oauth/*"));
    assert!(redirects.contains(&"https://chatgpt.com/connector_platform_oauth_redirect"));
    let inspector = named(&realm["clients"], "clientId", "mcp-inspector");
    assert_eq!(
        inspector["attributes"]["pkce.code.challenge.method"],
        "S256"
    );
    assert!(
        strings(&inspector["redirectUris"])
            .iter()
            .all(|u| u.starts_with("http://localhost:") || u.starts_with("http://127.0.0.1:"))
    );
    let gate = named(&realm["clients"], "clientId", "mcp-gate");
    assert_eq!(gate["publicClient"], false);
    assert_eq!(gate["serviceAccountsEnabled"], true);
    assert_eq!(gate["standardFlowEnabled"], false);
    assert_eq!(
        gate["secret"], "${MCP_GATE_SECRET}",
        "no secret is committed"
    );
}

#[test]
fn the_admin_clients_see_every_role_and_mcp_clients_are_never_offered_microprofile_jwt() {
    let realm = realm();
    // As Keycloak declares them: with a limited scope a realm admin's token lacks the
    // realm-management roles and the admin console answers 403.
    for client in ["admin-cli", "security-admin-console"] {
        let c = named(&realm["clients"], "clientId", client);
        assert_eq!(c["fullScopeAllowed"], true, "{client}");
    }
    // microprofile-jwt writes role names into `groups`, which the document ACLs read as groups.
    let scope = named(&realm["clientScopes"], "name", "microprofile-jwt");
    assert_eq!(
        scope["attributes"]["include.in.openid.provider.metadata"],
        "false"
    );
    assert!(!strings(&realm["defaultOptionalClientScopes"]).contains(&"microprofile-jwt"));
    for client in ["chatgpt", "mcp-inspector"] {
        let c = named(&realm["clients"], "clientId", client);
        assert!(
            !strings(&c["optionalClientScopes"]).contains(&"microprofile-jwt"),
            "{client}"
        );
    }
}

#[test]
fn anonymous_registration_admits_chatgpt_with_the_scopes_it_asks_for() {
    let realm = realm();
    let policies = &realm["components"]["org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"];
    let anonymous = |provider: &str| -> &Value {
        policies
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["providerId"] == provider && p["subType"] == "anonymous")
            .unwrap_or_else(|| panic!("no anonymous {provider} policy"))
    };
    let hosts = anonymous("trusted-hosts");
    assert!(strings(&hosts["config"]["trusted-hosts"]).contains(&"chatgpt.com"));
    assert_eq!(
        strings(&hosts["config"]["host-sending-registration-request-must-match"]),
        ["false"],
        "ChatGPT registers from hosts other than chatgpt.com"
    );
    // Keycloak advertises in `scopes_supported` every openid-connect client scope whose
    // `include.in.openid.provider.metadata` is not "false", plus `openid`
    // (OIDCWellKnownProvider). ChatGPT asks for all of them when it registers, and the anonymous
    // Allowed Client Scopes policy refuses any scope outside its list, the realm default scopes
    // and the realm optional scopes (ClientScopesClientRegistrationPolicy).
    let mut advertised = vec!["openid"];
    for scope in realm["clientScopes"].as_array().unwrap() {
        if scope["protocol"] == "openid-connect"
            && scope["attributes"]["include.in.openid.provider.metadata"] != "false"
        {
            advertised.push(scope["name"].as_str().unwrap());
        }
    }
    let policy = anonymous("allowed-client-templates");
    let mut allowed = strings(&policy["config"]["allowed-client-scopes"]);
    if strings(&policy["config"]["allow-default-scopes"]) != ["false"] {
        allowed.extend(strings(&realm["defaultDefaultClientScopes"]));
        allowed.extend(strings(&realm["defaultOptionalClientScopes"]));
    }
    for scope in &advertised {
        assert!(
            allowed.contains(scope),
            "`{scope}` is advertised but a registration asking for it gets 403"
        );
    }
    assert!(
        !advertised.contains(&"service_account"),
        "service_account is for client-credentials clients and is not advertised"
    );
    assert!(advertised.contains(&"mcp:tools"), "{advertised:?}");
}

/// Runs `tests/clients/realm_keys.mjs` on a realm file: the keys Keycloak's published
/// representation types do not declare, and how many keys were checked.
fn undeclared_realm_keys(file: &Path) -> (Vec<String>, u64) {
    use crate::support::peers::{clients_dir, node};
    let out = std::process::Command::new(node())
        .arg(clients_dir().join("realm_keys.mjs"))
        .arg(file)
        .output()
        .expect("run realm_keys.mjs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let undeclared = strings(&report["undeclared"])
        .into_iter()
        .map(str::to_owned)
        .collect();
    (undeclared, report["checked"].as_u64().unwrap())
}

#[test]
fn every_key_of_the_realm_file_is_declared_by_keycloaks_published_types() {
    let (undeclared, checked) = undeclared_realm_keys(&repo("keycloak/realm-mcp.json"));
    assert!(
        undeclared.is_empty(),
        "Keycloak's import fails on fields it does not know; these are not in \
         @keycloak/keycloak-admin-client's representation types: {undeclared:?}"
    );
    assert!(checked > 500, "only {checked} keys were checked");

    // The checker finds an unknown key at any depth.
    let mut realm = realm();
    realm["clients"][0]["redirectUri"] = "typo".into();
    realm["clientScopes"][0]["protocolMappers"][0]["consentRequired"] = false.into();
    realm["components"]["org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy"]
        [0]["confg"] = Value::Null;
    let dir = crate::support::peers::TempDir::new("realm-keys");
    let file = dir.0.join("realm.json");
    std::fs::write(&file, realm.to_string()).unwrap();
    let (undeclared, _) = undeclared_realm_keys(&file);
    assert_eq!(
        undeclared,
        [
            "$.clientScopes[0].protocolMappers[0].consentRequired",
            "$.clients[0].redirectUri",
            "$.components.org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy[0].confg",
        ]
    );
}

#[test]
fn the_demo_users_hold_the_roles_the_sample_documents_are_restricted_to() {
    let realm = realm();
    let sample: Value = serde_json::from_str(&read("src/corpus/sample.json")).unwrap();
    let mut acl_entries: Vec<&str> = sample
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| strings(&d["acl"]))
        .collect();
    acl_entries.sort();
    acl_entries.dedup();
    let users = realm["users"].as_array().unwrap();
    let roles_of = |name: &str| strings(&named(&realm["users"], "username", name)["realmRoles"]);
    for entry in &acl_entries {
        assert!(
            users
                .iter()
                .any(|u| strings(&u["realmRoles"]).contains(entry)),
            "no demo user holds `{entry}`"
        );
        let mapped = strings(&named(&realm["scopeMappings"], "clientScope", "mcp:tools")["roles"]);
        assert!(
            mapped.contains(entry),
            "clients without full scope (registered ones) must still see the role `{entry}`"
        );
    }
    assert_ne!(
        roles_of("alice"),
        roles_of("bob"),
        "the two users show different documents"
    );
    for user in users {
        for c in user["credentials"].as_array().into_iter().flatten() {
            assert_eq!(c["value"], "${DEMO_PASSWORD}", "no password is committed");
        }
    }
}

#[test]
fn compose_runs_traefik_keycloak_and_the_server_in_order_with_the_right_urls() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    assert!(
        services["traefik"]["image"]
            .as_str()
            .unwrap()
            .starts_with("traefik:v3.7")
    );
    // Ship what is tested: the image's tag is the minor version of the distribution the tests
    // run (scripts/lib/keycloak.sh).
    let tested = read("scripts/lib/keycloak.sh")
        .lines()
        .find_map(|l| l.strip_prefix("KEYCLOAK_VERSION=").map(str::to_owned))
        .expect("KEYCLOAK_VERSION in scripts/lib/keycloak.sh");
    let minor = tested.rsplit_once('.').unwrap().0;
    assert_eq!(
        services["keycloak"]["image"].as_str().unwrap(),
        format!("quay.io/keycloak/keycloak:{minor}")
    );
    // This machine only, unless .env says otherwise; scripts/stack-test checks where they land.
    let ports = strings(&services["traefik"]["ports"]);
    assert_eq!(
        ports,
        [
            "${PUBLISH_ADDRESS:-127.0.0.1}:${HTTP_PORT:-80}:80",
            "${PUBLISH_ADDRESS:-127.0.0.1}:${HTTPS_PORT:-443}:443"
        ]
    );

    let kc = &services["keycloak"];
    assert_eq!(strings(&kc["command"]), ["start-dev", "--import-realm"]);
    let env = &kc["environment"];
    assert_eq!(
        env["KC_HOSTNAME"],
        "https://${AUTH_HOST:-auth.localhost}${HTTPS_PORT:+:${HTTPS_PORT}}"
    );
    assert_eq!(env["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"], "true");
    assert_eq!(env["KC_PROXY_HEADERS"], "xforwarded");
    assert_eq!(env["KC_HEALTH_ENABLED"], "true");
    let health = serde_json::to_string(&kc["healthcheck"]["test"]).unwrap();
    assert!(health.contains("/dev/tcp/127.0.0.1/9000"), "{health}");

    let mcp = &services["mcp"];
    assert_eq!(mcp["build"]["dockerfile"], "deploy/Dockerfile");
    // Built here, never pulled; every setting in .env reaches it, Keycloak's password blanked.
    assert_eq!(mcp["pull_policy"], "build");
    assert_eq!(mcp["env_file"], ".env");
    let env = &mcp["environment"];
    assert_eq!(env["KC_ADMIN_PASSWORD"], "");
    // /metrics on a port of its own, which nothing publishes.
    assert_eq!(env["MCP_METRICS_BIND"], "0.0.0.0:9100");
    assert!(mcp["ports"].is_null());
    assert_eq!(env["MCP_CHECK_CLIENT_SECRET"], "${MCP_GATE_SECRET}");
    assert_eq!(
        env["KC_ISSUER"],
        "${KC_ISSUER:-https://auth.localhost/realms/mcp}"
    );
    // Keys come from discovery, whose issuer the server checks: a realm name that differs from
    // KC_ISSUER's stops it, where a fixed KC_JWKS_URL would read another realm's keys.
    assert_eq!(
        env["KC_DISCOVERY_URL"],
        "http://keycloak:8080/realms/${KC_REALM:-mcp}/.well-known/openid-configuration"
    );
    assert!(env["KC_JWKS_URL"].is_null(), "{env}");
    assert_eq!(env["KC_REALM"], "");
    assert_eq!(
        mcp["depends_on"]["keycloak"]["condition"],
        "service_healthy"
    );
    let traefik_needs = &services["traefik"]["depends_on"];
    assert_eq!(traefik_needs["mcp"]["condition"], "service_healthy");
    assert_eq!(traefik_needs["keycloak"]["condition"], "service_healthy");
}

#[test]
fn every_mcp_or_kc_name_of_env_example_is_a_setting_or_blanked_for_the_server() {
    // The mcp service takes the whole of .env, and the server refuses a set MCP_ variable it
    // does not know: the stack's own names must be blanked for it, or the stack never starts.
    let compose = yaml("docker-compose.yml");
    let env = &compose["services"]["mcp"]["environment"];
    // The server's own reading: a name it would not call unknown.
    let known = |name: &str| {
        mcp_resource_server::config::RawConfig::load_from([(name.to_owned(), "x".to_owned())])
            .is_ok_and(|raw| raw.unknown().is_empty())
    };
    let mut checked = 0;
    for line in read(".env.example").lines() {
        let Some((name, _)) = line.trim_start_matches("# ").split_once('=') else {
            continue;
        };
        if !(name.starts_with("MCP_") || name.starts_with("KC_")) || name.contains(' ') {
            continue;
        }
        checked += 1;
        assert!(
            known(name) || env[name] == "",
            "{name} in .env.example is no setting and not blanked for the mcp service"
        );
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn compose_commits_no_secret_and_env_example_names_every_required_one() {
    let text = read("docker-compose.yml");
    let example = read(".env.example");
    let mut required = 0;
    for part in text.split("${").skip(1) {
        let name = part.split([':', '}', '-']).next().unwrap();
        if part[name.len()..].starts_with(":?") {
            required += 1;
            assert!(
                example.lines().any(|l| l.starts_with(&format!("{name}="))),
                ".env.example lacks {name}"
            );
        }
    }
    assert!(
        required >= 3,
        "the admin password and both secrets come from .env"
    );
    for secret in ["PASSWORD", "SECRET"] {
        for line in text
            .lines()
            .filter(|l| l.contains(secret) && l.contains(':'))
        {
            let value = line.split_once(':').unwrap().1.trim();
            assert!(
                value.is_empty() || value == "\"\"" || value.starts_with("${"),
                "literal secret: {line}"
            );
        }
    }
}

/// Runs `scripts/setup` in `root`, a copy of the files it reads; returns whether it succeeded
/// and what it printed.
fn run_setup(root: &Path) -> (bool, String) {
    let out = std::process::Command::new("sh")
        .arg(root.join("scripts/setup"))
        .output()
        .expect("run scripts/setup");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn env_value(root: &Path, name: &str) -> String {
    let env = std::fs::read_to_string(root.join(".env")).unwrap();
    env.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!(".env lacks {name}"))
        .to_owned()
}

#[test]
fn setup_writes_fresh_url_safe_secrets_keeps_existing_ones_and_the_realm_imports_with_them() {
    let dir = crate::support::peers::TempDir::new("setup");
    let root = &dir.0;
    for file in [
        "scripts/setup",
        ".env.example",
        "traefik/generate-certs.sh",
        "keycloak/realm-mcp.json",
    ] {
        std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
        std::fs::copy(repo(file), root.join(file)).unwrap();
    }
    let (ok, text) = run_setup(root);
    assert!(ok, "{text}");
    assert!(root.join("traefik/certs/local.crt").exists(), "{text}");
    let names = [
        "KC_ADMIN_PASSWORD",
        "MCP_GATE_SECRET",
        "DEMO_PASSWORD",
        "MCP_DPOP_DEMO_SECRET",
    ];
    let secrets: Vec<String> = names.iter().map(|n| env_value(root, n)).collect();
    for (name, secret) in names.iter().zip(&secrets) {
        assert!(secret.len() >= 32, "{name} is short: {secret}");
        assert!(
            secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{name} is not URL-safe: {secret}"
        );
    }
    let mut distinct = secrets.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), secrets.len(), "two secrets are the same");

    // Keycloak pastes ${VAR} into the file text before parsing it; the result must still parse.
    let mut text_of_realm = read("keycloak/realm-mcp.json");
    for name in ["MCP_GATE_SECRET", "MCP_DPOP_DEMO_SECRET", "DEMO_PASSWORD"] {
        text_of_realm = text_of_realm.replace(&format!("${{{name}}}"), &env_value(root, name));
    }
    let imported: Value = serde_json::from_str(&text_of_realm).expect("the realm parses");
    assert_eq!(
        named(&imported["clients"], "clientId", "mcp-gate")["secret"],
        secrets[1].as_str()
    );
    assert_eq!(
        named(&imported["clients"], "clientId", "mcp-dpop-demo")["secret"],
        secrets[3].as_str()
    );

    // A second run keeps every value and the certificate authority.
    let ca = std::fs::read(root.join("traefik/certs/local-ca.crt")).unwrap();
    let (ok, text) = run_setup(root);
    assert!(ok, "{text}");
    for (name, secret) in names.iter().zip(&secrets) {
        assert_eq!(&env_value(root, name), secret, "{name} was replaced");
    }
    assert_eq!(
        std::fs::read(root.join("traefik/certs/local-ca.crt")).unwrap(),
        ca
    );

    // A value that would break the import is refused with the variable named.
    let env = std::fs::read_to_string(root.join(".env")).unwrap();
    std::fs::write(root.join(".env"), format!("{env}DEMO_PASSWORD=pa\"ss\n")).unwrap();
    let (ok, text) = run_setup(root);
    assert!(!ok, "{text}");
    assert!(
        text.contains("DEMO_PASSWORD") && text.contains("realm import"),
        "{text}"
    );
}

#[test]
fn the_image_is_multi_stage_non_root_and_checks_its_own_health() {
    let docker = read("deploy/Dockerfile");
    assert!(docker.matches("\nFROM ").count() + usize::from(docker.starts_with("FROM ")) >= 2);
    assert!(docker.contains("USER nonroot"));
    let health = docker
        .split("HEALTHCHECK")
        .nth(1)
        .expect("a HEALTHCHECK instruction");
    assert!(health.contains("\"healthcheck\"") && health.contains("mcp-resource-server"));
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|l| l.trim() == "target/"));
}

#[test]
fn traefik_never_buffers_or_cuts_event_streams_and_routes_well_known_to_keycloak() {
    let static_ = yaml("traefik/traefik.yml");
    let secure = &static_["entryPoints"]["websecure"];
    assert_eq!(
        secure["transport"]["respondingTimeouts"]["writeTimeout"],
        "0s"
    );
    assert!(secure["forwardedHeaders"]["trustedIPs"].is_array());
    let redirect = &static_["entryPoints"]["web"]["http"]["redirections"]["entryPoint"];
    assert_eq!(
        (redirect["to"].as_str(), redirect["scheme"].as_str()),
        (Some("websecure"), Some("https"))
    );

    let dynamic = yaml("traefik/dynamic.yml");
    let routers = &dynamic["http"]["routers"];
    assert!(
        routers["mcp"]["middlewares"].is_null(),
        "no compress (or any) middleware on /mcp"
    );
    assert!(dynamic["http"]["middlewares"].is_null());
    let well_known = &routers["auth-well-known"];
    assert_eq!(well_known["service"], "keycloak");
    assert!(
        well_known["rule"]
            .as_str()
            .unwrap()
            .contains("PathPrefix(`/.well-known/`)")
    );
    for name in ["mcp", "auth", "auth-well-known"] {
        assert!(
            routers[name]["rule"].as_str().unwrap().contains("{{ env "),
            "{name}"
        );
        assert!(
            routers[name]["tls"].is_object(),
            "{name} is served over TLS"
        );
    }
}

/// Every document of every manifest under `deploy/kubernetes/`, by kind.
fn manifests() -> Vec<Value> {
    let dir = repo("deploy/kubernetes");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for doc in serde_norway::Deserializer::from_str(&text) {
                let value: Value = serde::Deserialize::deserialize(doc)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                docs.push(value);
            }
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in deploy/kubernetes"))
}

#[test]
fn the_kubernetes_manifests_run_probed_replicas_behind_traefik() {
    let docs = manifests();
    let deployment = of_kind(&docs, "Deployment");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["requests"]["memory"].is_string());
    let config_name = &container["envFrom"][0]["configMapRef"]["name"];

    let config = of_kind(&docs, "ConfigMap");
    assert_eq!(&config["metadata"]["name"], config_name);
    for key in ["MCP_SERVER_URL", "KC_ISSUER"] {
        assert!(config["data"][key].is_string(), "{key}");
    }
    let service = of_kind(&docs, "Service");
    assert_eq!(&service["spec"]["selector"], labels);
    let route = of_kind(&docs, "IngressRoute");
    let routes = route["spec"]["routes"].as_array().unwrap();
    assert!(
        routes
            .iter()
            .all(|r| r["services"][0]["name"] == service["metadata"]["name"])
    );
    assert!(
        routes.iter().all(|r| r["middlewares"].is_null()),
        "no compress on MCP routes"
    );
    // /metrics: on the port MCP_METRICS_BIND names, which the Service offers to Prometheus
    // and no public route reaches.
    let metrics_port: u64 = config["data"]["MCP_METRICS_BIND"]
        .as_str()
        .and_then(|b| b.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .expect("MCP_METRICS_BIND with a port");
    let ports = container["ports"].as_array().unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p["name"] == "metrics" && p["containerPort"] == metrics_port)
    );
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], metrics_port.to_string());
    assert!(
        service["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "metrics" && p["targetPort"] == "metrics")
    );
    assert!(routes.iter().all(|r| r["services"][0]["port"] == "http"));
    let catch_all = routes[0]["match"].as_str().unwrap();
    assert!(catch_all.contains("!PathPrefix(`/metrics`)"), "{catch_all}");
    let pdb = of_kind(&docs, "PodDisruptionBudget");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);

    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    let listed = strings(&kustomization["resources"]);
    for entry in std::fs::read_dir(repo("deploy/kubernetes")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            assert!(
                listed.contains(&name.as_str()),
                "kustomization.yaml lacks {name}"
            );
        }
    }
}

/// The optional Redis component: a Redis the server's setting names, without persistence, and
/// whose pods the server's Service never selects.
#[test]
fn the_optional_redis_component_is_what_mcp_redis_url_names() {
    let component = yaml("deploy/kubernetes/redis/kustomization.yaml");
    assert_eq!(component["kind"], "Component");
    let text = std::fs::read_to_string(repo("deploy/kubernetes/redis/redis.yaml")).unwrap();
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    let listed = strings(&component["resources"]);
    assert_eq!(listed, ["redis.yaml"]);
    let deployment = of_kind(&docs, "Deployment");
    let service = of_kind(&docs, "Service");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = strings(&container["args"]);
    assert!(
        args.windows(2).any(|w| w == ["--appendonly", "no"]),
        "{args:?}"
    );
    assert!(
        args.windows(2)
            .any(|w| w == ["--maxmemory-policy", "noeviction"]),
        "{args:?}"
    );

    let patch = yaml("deploy/kubernetes/redis/configmap-patch.yaml");
    let server_config = of_kind(&manifests(), "ConfigMap").clone();
    assert_eq!(patch["metadata"]["name"], server_config["metadata"]["name"]);
    let url = url::Url::parse(patch["data"]["MCP_REDIS_URL"].as_str().unwrap()).unwrap();
    assert_eq!(url.scheme(), "redis");
    assert_eq!(url.host_str(), service["metadata"]["name"].as_str());
    assert_eq!(
        url.port().map(u64::from),
        service["spec"]["ports"][0]["port"].as_u64()
    );
    // The server's Service must never send MCP traffic to Redis.
    let server_service = of_kind(&manifests(), "Service").clone();
    let selector = server_service["spec"]["selector"].as_object().unwrap();
    assert!(
        !selector.iter().all(|(k, v)| labels[k] == *v),
        "the server's Service selects the Redis pods"
    );

    // With the sessions shared, the component drops the sticky route for /sse and /messages
    // and keeps the plain one, which then takes them.
    let route = of_kind(&manifests(), "IngressRoute").clone();
    let patches = component["patches"].as_array().unwrap();
    let entry = patches
        .iter()
        .find(|p| p["path"] == "ingressroute-patch.yaml")
        .expect("the component patches the IngressRoute");
    assert_eq!(entry["target"]["kind"], "IngressRoute");
    assert_eq!(entry["target"]["name"], route["metadata"]["name"]);
    let mut patched = route.clone();
    for op in yaml("deploy/kubernetes/redis/ingressroute-patch.yaml")
        .as_array()
        .unwrap()
    {
        let path = op["path"].as_str().unwrap();
        match op["op"].as_str().unwrap() {
            "test" => assert_eq!(patched.pointer(path), Some(&op["value"]), "{path}"),
            "remove" => {
                let (parent, index) = path.rsplit_once('/').unwrap();
                let list = patched.pointer_mut(parent).unwrap().as_array_mut().unwrap();
                list.remove(index.parse().unwrap());
            }
            other => panic!("unexpected op {other}"),
        }
    }
    let routes = patched["spec"]["routes"].as_array().unwrap();
    assert!(!patched.to_string().contains("sticky"), "{patched}");
    assert_eq!(routes.len(), 1, "{patched}");
    assert_eq!(routes[0], route["spec"]["routes"][0]);
}
