//! The server against the real Keycloak: Keycloak's own server distribution, started by
//! scripts/test (scripts/lib/keycloak.sh) with `keycloak/realm-mcp.json` imported exactly as
//! docker-compose.yml imports it, under the same public name (`https://auth.localhost`). The
//! server reads discovery and keys from Keycloak's loopback address, as the compose service reads
//! them from `http://keycloak:8080`, and holds tokens to the public issuer.
//!
//! Users sign in on Keycloak's real login page: the test fetches the authorization endpoint,
//! posts the form the page holds, and exchanges the code, as a browser and ChatGPT would.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::mcp::request;
use crate::support::{TestServer, settings, wait};

const RESOURCE: &str = "https://mcp.localhost/mcp";
const CHATGPT_CALLBACK: &str = "https://chatgpt.com/connector_platform_oauth_redirect";

/// The running Keycloak scripts/test started.
struct RealKeycloak {
    base: String,
    gate_secret: String,
    demo_password: String,
    http: reqwest::Client,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test, which starts the real Keycloak")
    })
}

impl RealKeycloak {
    /// The Keycloak of scripts/test, once its realm answers (it starts while the tests build).
    async fn ready() -> RealKeycloak {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let kc = RealKeycloak {
            base: env("KEYCLOAK_BASE"),
            gate_secret: env("KEYCLOAK_GATE_SECRET"),
            demo_password: env("KEYCLOAK_DEMO_PASSWORD"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let discovery = kc.discovery_url();
        if wait::answers(&kc.http, &discovery, Duration::from_secs(300)).await {
            return kc;
        }
        let log = std::fs::read_to_string(env("KEYCLOAK_LOG")).unwrap_or_default();
        panic!("Keycloak did not serve the realm within 300 s; its log:\n{log}");
    }

    /// Where realm `realm` serves its discovery document, on the loopback address.
    fn discovery_url_of(&self, realm: &str) -> String {
        format!(
            "{}/realms/{realm}/.well-known/openid-configuration",
            self.base
        )
    }

    fn discovery_url(&self) -> String {
        self.discovery_url_of("mcp")
    }

    /// An OpenID Connect endpoint of realm `realm`.
    fn endpoint_of(&self, realm: &str, name: &str) -> String {
        format!(
            "{}/realms/{realm}/protocol/openid-connect/{name}",
            self.base
        )
    }

    fn endpoint(&self, name: &str) -> String {
        self.endpoint_of("mcp", name)
    }

    /// The server, configured as the compose file configures it, ready (keys loaded).
    async fn server(&self) -> TestServer {
        self.server_of("mcp", &[]).await
    }

    /// A token of the staging gate's client (client credentials).
    async fn gate_token(&self) -> String {
        self.gate_token_of("mcp").await
    }

    /// The authorization endpoint's answer for the ChatGPT client with `challenge` (PKCE S256)
    /// or none.
    async fn authorize(&self, challenge: Option<&str>, scope: &str) -> reqwest::Response {
        self.authorize_at("chatgpt", CHATGPT_CALLBACK, challenge, scope)
            .await
    }

    async fn authorize_at(
        &self,
        client: &str,
        callback: &str,
        challenge: Option<&str>,
        scope: &str,
    ) -> reqwest::Response {
        let mut query = vec![
            ("client_id", client),
            ("redirect_uri", callback),
            ("response_type", "code"),
            ("scope", scope),
            ("state", "state-1"),
            ("resource", RESOURCE),
        ];
        if let Some(challenge) = challenge {
            query.extend([
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ]);
        }
        let mut url = url::Url::parse(&self.endpoint("auth")).unwrap();
        url.query_pairs_mut().extend_pairs(query);
        self.http.get(url).send().await.unwrap()
    }

    /// Signs `user` in on Keycloak's login page as the ChatGPT connector does (authorization
    /// code with PKCE S256 and `resource`), and gives back the token endpoint's answer.
    async fn sign_in(&self, user: &str, scope: &str) -> Value {
        self.sign_in_with("chatgpt", user, scope).await
    }

    /// The same with the client `client`; a consent screen (what Keycloak shows for clients
    /// that registered themselves) is accepted, as the user would.
    async fn sign_in_with(&self, client: &str, user: &str, scope: &str) -> Value {
        self.sign_in_at(client, CHATGPT_CALLBACK, user, scope).await
    }

    /// The same with the client's callback `callback`.
    async fn sign_in_at(&self, client: &str, callback: &str, user: &str, scope: &str) -> Value {
        let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
        let challenge = URL_SAFE_NO_PAD
            .encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
        let mut jar = Jar::default();
        let page = self
            .authorize_at(client, callback, Some(&challenge), scope)
            .await;
        assert_eq!(page.status(), 200, "the login page");
        jar.keep(&page);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("id=\"kc-form-login\""),
            "not Keycloak's login form:\n{html}"
        );
        let action = self.local(&form_action(&html));
        let mut answer = self
            .http
            .post(action)
            .header("cookie", jar.header())
            .form(&[("username", user), ("password", &self.demo_password)])
            .send()
            .await
            .unwrap();
        jar.keep(&answer);
        let mut location = redirected(&answer, user);
        if location.contains("/login-actions/required-action") {
            // The consent screen: its form posts the code it holds, with "accept".
            let page = self
                .http
                .get(self.local(&location))
                .header("cookie", jar.header())
                .send()
                .await
                .unwrap();
            jar.keep(&page);
            let html = page.text().await.unwrap();
            assert!(
                html.contains("name=\"accept\""),
                "not the consent screen:\n{html}"
            );
            let code = html
                .split("name=\"code\" value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("the consent form's code");
            answer = self
                .http
                .post(self.local(&form_action(&html)))
                .header("cookie", jar.header())
                .form(&[("code", code), ("accept", "")])
                .send()
                .await
                .unwrap();
            location = redirected(&answer, user);
        }
        let returned = url::Url::parse(&location).unwrap();
        assert!(returned.as_str().starts_with(callback), "{returned}");
        let code = returned
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {returned}"));
        let tokens: Value = self
            .http
            .post(self.endpoint("token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", client),
                ("code", &code),
                ("redirect_uri", callback),
                ("code_verifier", &verifier),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(tokens["access_token"].is_string(), "{tokens}");
        tokens
    }

    /// A URL of Keycloak's pages, public or relative, on its loopback address.
    fn local(&self, url: &str) -> String {
        match url.strip_prefix("https://auth.localhost") {
            Some(path) => format!("{}{path}", self.base),
            None if url.starts_with('/') => format!("{}{url}", self.base),
            None => url.to_owned(),
        }
    }

    async fn refresh(&self, refresh_token: &str) -> Value {
        self.http
            .post(self.endpoint("token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "chatgpt"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The session cookies of one sign-in. They are Secure (the public origin is https), so they are
/// kept and sent by hand over the loopback address, as a browser sends them to
/// https://auth.localhost.
#[derive(Default)]
struct Jar(HashMap<String, String>);

impl Jar {
    fn keep(&mut self, answer: &reqwest::Response) {
        for value in answer.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            if let Some((name, value)) = pair.split_once('=') {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("; ")
    }
}

/// The action of the first form of a Keycloak page.
fn form_action(html: &str) -> String {
    html.split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form's action")
        .replace("&amp;", "&")
}

/// Where a sign-in step redirected to; a page instead of a redirect fails with its title.
fn redirected(answer: &reqwest::Response, user: &str) -> String {
    if answer.status() != 302 {
        panic!("{user} was not signed in: {}", answer.status());
    }
    answer.headers()["location"].to_str().unwrap().to_owned()
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    bytes
}

/// The ids a search through the server gives the holder of `token`.
async fn found(server: &TestServer, token: &str, query: &str) -> Vec<String> {
    let call = request(
        1,
        "tools/call",
        json!({"name": "search", "arguments": {"query": query, "limit": 50}}),
    );
    let reply = server
        .rpc(token, &call, &[("mcp-protocol-version", "2025-11-25")])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let results = reply.body["result"]["structuredContent"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a search result: {}", reply.text));
    results
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A search and the prefix of the ids of the documents it finds: support tickets (role
/// `support`) and invoices (role `finance`).
type Documents = (&'static str, &'static str);
const TICKETS: Documents = ("support ticket", "ticket-");
const INVOICES: Documents = ("invoice", "invoice-");

/// Asserts that the holder of `token` finds the documents `seen` and none of `hidden`.
async fn sees_only(
    server: &TestServer,
    token: &str,
    seen: Documents,
    hidden: Documents,
    who: &str,
) {
    let ids = found(server, token, seen.0).await;
    assert!(any_of(&ids, seen.1), "{who} finds no {}: {ids:?}", seen.1);
    let ids = found(server, token, hidden.0).await;
    assert!(!any_of(&ids, hidden.1), "{who} finds {}: {ids:?}", hidden.1);
}

fn any_of(ids: &[String], prefix: &str) -> bool {
    ids.iter().any(|id| id.starts_with(prefix))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_staging_gates_token_from_keycloak_is_accepted_though_its_account_holds_no_role() {
    let kc = RealKeycloak::ready().await;
    let server = kc.server().await;
    let token = kc.gate_token().await;
    // Public documents only: the gate's service account holds no document role.
    let ids = found(&server, &token, "cupcake order").await;
    assert!(any_of(&ids, "order-"), "{ids:?}");
    assert!(
        !any_of(&ids, "ticket-") && !any_of(&ids, "invoice-"),
        "{ids:?}"
    );
}

/// One test signs each user in once: Keycloak's brute-force protection (on in the realm) was
/// seen to lock a user out for a minute (`user_temporarily_disabled`) when two tests signed the
/// same user in at the same moment.
#[tokio::test(flavor = "multi_thread")]
async fn alice_and_bob_sign_in_on_keycloaks_login_page_see_only_their_documents_and_refresh() {
    let kc = RealKeycloak::ready().await;
    let server = kc.server().await;
    let alice_tokens = kc.sign_in("alice", "mcp:tools").await;
    let alice = alice_tokens["access_token"].as_str().unwrap();
    let bob = kc.sign_in("bob", "mcp:tools").await;
    let bob = bob["access_token"].as_str().unwrap();

    sees_only(&server, alice, TICKETS, INVOICES, "alice").await;
    sees_only(&server, bob, INVOICES, TICKETS, "bob").await;

    // The refresh token gives a new access token that works like the first.
    let refreshed = kc
        .refresh(alice_tokens["refresh_token"].as_str().unwrap())
        .await;
    let token = refreshed["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refreshed token: {refreshed}"));
    assert_ne!(token, alice);
    sees_only(&server, token, TICKETS, INVOICES, "alice, refreshed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authorization_request_without_pkce_s256_is_refused() {
    let kc = RealKeycloak::ready().await;
    let answer = kc.authorize(None, "mcp:tools").await;
    let status = answer.status().as_u16();
    let location = answer
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = answer.text().await.unwrap();
    assert!(
        !body.contains("kc-form-login"),
        "a login form was offered without PKCE"
    );
    assert!(
        (status == 302 && location.contains("error=invalid_request")) || status == 400,
        "{status} {location}"
    );
}

impl RealKeycloak {
    /// A token of the master realm's admin, for Keycloak's admin API.
    async fn admin_token(&self) -> String {
        let answer: Value = self
            .http
            .post(self.endpoint_of("master", "token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", "admin"),
                ("password", &env("KEYCLOAK_ADMIN_PASSWORD")),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().unwrap().to_owned()
    }

    /// `method` on the admin API path `path` of realm `realm`, with `body` as JSON; the status
    /// and the body.
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/admin/realms{path}", self.base))
            .bearer_auth(self.admin_token().await);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let answer = req.send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A copy of the stack's realm under another name, so a test may change it: the file with
    /// its variables filled in as scripts/test fills them for the import.
    async fn copy_of_the_realm(&self, name: &str) {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/keycloak/realm-mcp.json"
        ))
        .unwrap()
        .replace("${MCP_RESOURCE}", RESOURCE)
        .replace("${MCP_GATE_SECRET}", &self.gate_secret)
        .replace("${MCP_DPOP_DEMO_SECRET}", "test-dpop-demo-secret")
        .replace("${DEMO_PASSWORD}", &self.demo_password);
        let mut realm: Value = serde_json::from_str(&text).unwrap();
        realm["realm"] = json!(name);
        let _ = self
            .admin(reqwest::Method::DELETE, &format!("/{name}"), None)
            .await;
        let (status, body) = self.admin(reqwest::Method::POST, "", Some(realm)).await;
        assert_eq!(status, 201, "the realm copy was not created: {body}");
    }

    /// The server, holding tokens to realm `name`, with `extra` settings.
    async fn server_of(&self, name: &str, extra: &[(&str, &str)]) -> TestServer {
        let mut env: HashMap<String, String> = [
            ("MCP_SERVER_URL", "https://mcp.localhost".to_owned()),
            ("KC_ISSUER", format!("https://auth.localhost/realms/{name}")),
            (
                "KC_DISCOVERY_URL",
                format!(
                    "{}/realms/{name}/.well-known/openid-configuration",
                    self.base
                ),
            ),
            ("MCP_LOG_FORMAT", "pretty".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let server = TestServer::start_with(settings(&env)).await;
        let ready = format!("{}/readyz", server.base);
        if wait::answers(&server.client, &ready, Duration::from_secs(10)).await {
            return server;
        }
        panic!("the server did not load the keys of realm {name}");
    }

    /// A token of the staging gate's client in realm `name`.
    async fn gate_token_of(&self, name: &str) -> String {
        let answer: Value = self
            .http
            .post(self.endpoint_of(name, "token"))
            .basic_auth("mcp-gate", Some(&self.gate_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token for mcp-gate: {answer}"))
            .to_owned()
    }
}

/// The `kid` of a token's header.
fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The status a search answers for `token`.
async fn status(server: &TestServer, token: &str) -> u16 {
    let call = request(
        1,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "cupcake"}}),
    );
    server
        .rpc(token, &call, &[("mcp-protocol-version", "2025-11-25")])
        .await
        .status
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rotated_in_keycloak_is_taken_on_its_first_token_and_a_deleted_key_is_refused() {
    let kc = RealKeycloak::ready().await;
    let realm = "rotation";
    kc.copy_of_the_realm(realm).await;
    // Keycloak asks not to cache its keys, so the refresh that notices a deleted key comes
    // every MCP_JWKS_MIN_REFRESH_SECS: a second here rather than a minute.
    let server = kc
        .server_of(realm, &[("MCP_JWKS_MIN_REFRESH_SECS", "1")])
        .await;
    let old = kc.gate_token_of(realm).await;
    assert_eq!(status(&server, &old).await, 200);

    // As an operator rotates: a new RSA key provider of higher priority, through the admin API.
    let (_, realm_doc) = kc
        .admin(reqwest::Method::GET, &format!("/{realm}"), None)
        .await;
    let (_, providers) = kc
        .admin(
            reqwest::Method::GET,
            &format!("/{realm}/components?type=org.keycloak.keys.KeyProvider"),
            None,
        )
        .await;
    let first: Vec<String> = providers
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["providerId"] == "rsa-generated")
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(first.len(), 1, "{providers}");
    let (created, body) = kc
        .admin(
            reqwest::Method::POST,
            &format!("/{realm}/components"),
            Some(json!({
                "name": "rsa-rotated",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_doc["id"],
                "config": { "priority": ["200"], "keySize": ["2048"], "algorithm": ["RS256"] },
            })),
        )
        .await;
    assert_eq!(created, 201, "{body}");
    let new = kc.gate_token_of(realm).await;
    assert_ne!(kid(&new), kid(&old), "the new key signs new tokens");
    assert_eq!(
        status(&server, &new).await,
        200,
        "the new key on its first token"
    );
    assert_eq!(
        status(&server, &old).await,
        200,
        "the old key is still published"
    );

    // The old key deleted: its tokens are refused once the server has refreshed its keys.
    let (deleted, body) = kc
        .admin(
            reqwest::Method::DELETE,
            &format!("/{realm}/components/{}", first[0]),
            None,
        )
        .await;
    assert_eq!(deleted, 204, "{body}");
    let old_refused = async || status(&server, &old).await == 401;
    let refused = wait::comes_true(Duration::from_secs(10), old_refused).await;
    assert!(refused, "a token of the deleted key is still accepted");
    assert!(server.rejections("unknown_kid").await >= 1.0);
    assert_eq!(status(&server, &new).await, 200);
    let _ = kc
        .admin(reqwest::Method::DELETE, &format!("/{realm}"), None)
        .await;
}

/// Runs the real binary's `check` against realm `name` with the staging gate's client, as
/// docs/validation.md tells operators to; the exit code and the JSON report.
async fn check(kc: &RealKeycloak, name: &str) -> (i32, Value) {
    check_as(kc, name, &["--client-id", "mcp-gate"], &kc.gate_secret).await
}

/// `check` with `args` and the client secret `secret`.
async fn check_as(kc: &RealKeycloak, name: &str, args: &[&str], secret: &str) -> (i32, Value) {
    let env: HashMap<String, String> = [
        ("MCP_SERVER_URL", "https://mcp.localhost".to_owned()),
        ("KC_ISSUER", format!("https://auth.localhost/realms/{name}")),
        ("KC_DISCOVERY_URL", kc.discovery_url_of(name)),
        ("MCP_CHECK_CLIENT_SECRET", secret.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let args: Vec<&str> = args.iter().copied().chain(["--format", "json"]).collect();
    let (code, text) = crate::check::run_binary(&env, &args).await;
    let report = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (code, report)
}

/// The lines of a `check` report that failed, as `gate check: actual`.
fn failed(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .map(|c| format!("{} {}: {}", c["gate"], c["check"], c["actual"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_against_keycloak_and_fails_gate_b_when_the_audience_mapper_is_removed() {
    let kc = RealKeycloak::ready().await;
    let realm = "gate";
    kc.copy_of_the_realm(realm).await;
    let (code, report) = check(&kc, realm).await;
    assert_eq!(code, 0, "{:?}", failed(&report));

    // The audience mapper removed from mcp:tools, as an operator might by mistake.
    let (_, scopes) = kc
        .admin(
            reqwest::Method::GET,
            &format!("/{realm}/client-scopes"),
            None,
        )
        .await;
    let scope = scopes
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "mcp:tools")
        .unwrap();
    let mapper = scope["protocolMappers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["protocolMapper"] == "oidc-audience-mapper")
        .unwrap();
    let path = format!(
        "/{realm}/client-scopes/{}/protocol-mappers/models/{}",
        scope["id"].as_str().unwrap(),
        mapper["id"].as_str().unwrap()
    );
    let (deleted, _) = kc.admin(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(deleted, 204);
    let (code, report) = check(&kc, realm).await;
    assert_eq!(code, 1, "{report}");
    // Gate B names the rule the server would refuse the token under, and what the token holds.
    assert_eq!(
        failed(&report),
        ["\"B\" \"aud contains MCP_AUDIENCE\": \"[\\\"account\\\"]\""],
    );
    let _ = kc
        .admin(reqwest::Method::DELETE, &format!("/{realm}"), None)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn check_dpop_passes_with_a_dpop_bound_token_issued_by_keycloak() {
    let kc = RealKeycloak::ready().await;
    let args = ["--dpop", "--client-id", "mcp-dpop-demo"];
    let (code, report) = check_as(&kc, "mcp", &args, "test-dpop-demo-secret").await;
    assert_eq!(code, 0, "{:?}", failed(&report));
    let passed: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "PASS")
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(passed.contains(&"token is issued as DPoP"), "{passed:?}");
}

impl RealKeycloak {
    /// Registers a client as ChatGPT does (RFC 7591, anonymous): both of its callbacks, no
    /// secret, the authorization code and refresh token grants, and `scope` when given. The
    /// status and the answer.
    async fn register(&self, scope: Option<&str>, callbacks: &[&str]) -> (u16, Value) {
        let mut body = json!({
            "client_name": "ChatGPT",
            "redirect_uris": callbacks,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        });
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        self.register_as(&body).await
    }

    /// Registers a client with the registration request `body`; the status and the answer.
    async fn register_as(&self, body: &Value) -> (u16, Value) {
        let answer = self
            .http
            .post(format!(
                "{}/realms/mcp/clients-registrations/openid-connect",
                self.base
            ))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }
}

const CHATGPT_CALLBACKS: [&str; 2] = [
    CHATGPT_CALLBACK,
    "https://chatgpt.com/connector/oauth/Zm9vYmFy",
];

#[tokio::test(flavor = "multi_thread")]
async fn a_client_registered_as_chatgpt_registers_signs_alice_in_and_searches_three_ways() {
    let kc = RealKeycloak::ready().await;
    let server = kc.server().await;
    let metadata: Value = server
        .get("/.well-known/oauth-protected-resource/mcp")
        .await
        .json()
        .await
        .unwrap();
    let ours = strings_of(&metadata["scopes_supported"]).join(" ");
    let discovery: Value = kc
        .http
        .get(kc.discovery_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let advertised = strings_of(&discovery["scopes_supported"]).join(" ");
    for scope in [Some(ours.as_str()), Some(advertised.as_str()), None] {
        let (status, client) = kc.register(scope, &CHATGPT_CALLBACKS).await;
        assert_eq!(status, 201, "registering with scope {scope:?}: {client}");
        let id = client["client_id"].as_str().unwrap();
        // One sign-in at a time: Keycloak's brute-force check locks out quick repeated ones. A
        // real sleep: the pause is Keycloak's rule, on Keycloak's clock.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let tokens = kc.sign_in_with(id, "alice", &ours).await;
        let token = tokens["access_token"].as_str().unwrap();
        let who = format!("alice through a client registered with {scope:?}");
        sees_only(&server, token, TICKETS, INVOICES, &who).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_with_a_callback_outside_the_trusted_hosts_is_refused() {
    let kc = RealKeycloak::ready().await;
    let (status, answer) = kc.register(None, &["https://evil.example/callback"]).await;
    assert_eq!(status, 403, "{answer}");
}

fn strings_of(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_inspector_registers_itself_as_it_does_and_bob_signs_in_through_it() {
    let kc = RealKeycloak::ready().await;
    let server = kc.server().await;
    let callback = "http://localhost:6274/oauth/callback";
    // The Inspector's own registration, word for word, with its project page as client_uri.
    let body = json!({
        "redirect_uris": [callback, "http://localhost:6274/oauth/callback/debug"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "MCP Inspector",
        "client_uri": "https://github.com/modelcontextprotocol/inspector",
    });
    let (status, client) = kc.register_as(&body).await;
    assert_eq!(status, 201, "{client}");
    let id = client["client_id"].as_str().unwrap();
    let tokens = kc.sign_in_at(id, callback, "bob", "mcp:tools").await;
    let token = tokens["access_token"].as_str().unwrap();
    sees_only(
        &server,
        token,
        INVOICES,
        TICKETS,
        "bob through the Inspector",
    )
    .await;
}
