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
    for client in realm["clients"].as_array().unwrap() {
        assert!(
            strings(&client["defaultClientScopes"]).contains(&"mcp:tools"),
            "{}",
            client["clientId"]
        );
    }
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
    let scopes = strings(&anonymous("allowed-client-templates")["config"]["allowed-client-scopes"]);
    assert!(
        scopes.contains(&"openid") && scopes.contains(&"mcp:tools"),
        "{scopes:?}"
    );
}

#[test]
fn the_demo_users_hold_the_roles_the_sample_documents_are_restricted_to() {
    let realm = realm();
    let sample: Value = serde_json::from_str(&read("src/tools/corpus/sample.json")).unwrap();
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
    assert!(
        services["keycloak"]["image"]
            .as_str()
            .unwrap()
            .ends_with("keycloak:26.8")
    );
    let ports = strings(&services["traefik"]["ports"]);
    assert_eq!(ports, ["80:80", "443:443"]);

    let kc = &services["keycloak"];
    assert_eq!(strings(&kc["command"]), ["start-dev", "--import-realm"]);
    let env = &kc["environment"];
    assert_eq!(env["KC_HOSTNAME"], "https://${AUTH_HOST:-auth.localhost}");
    assert_eq!(env["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"], "true");
    assert_eq!(env["KC_PROXY_HEADERS"], "xforwarded");
    assert_eq!(env["KC_HEALTH_ENABLED"], "true");
    let health = serde_json::to_string(&kc["healthcheck"]["test"]).unwrap();
    assert!(health.contains("/dev/tcp/127.0.0.1/9000"), "{health}");

    let mcp = &services["mcp"];
    assert_eq!(mcp["build"]["dockerfile"], "deploy/Dockerfile");
    let env = &mcp["environment"];
    assert_eq!(
        env["KC_ISSUER"],
        "${KC_ISSUER:-https://auth.localhost/realms/mcp}"
    );
    assert!(
        env["KC_JWKS_URL"]
            .as_str()
            .unwrap()
            .starts_with("http://keycloak:8080/realms/mcp/")
    );
    assert_eq!(
        mcp["depends_on"]["keycloak"]["condition"],
        "service_healthy"
    );
    let traefik_needs = &services["traefik"]["depends_on"];
    assert_eq!(traefik_needs["mcp"]["condition"], "service_healthy");
    assert_eq!(traefik_needs["keycloak"]["condition"], "service_healthy");
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
                value.is_empty() || value.starts_with("${"),
                "literal secret: {line}"
            );
        }
    }
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
