//! Gate B: a real access token. It is taken from `--token`, or fetched from the token endpoint
//! with `--client-id`/`--client-secret` (client credentials, asking for `MCP_REQUIRED_SCOPES`
//! and `resource=MCP_RESOURCE`), then checked claim by claim against the configuration: the
//! signature with the published key, `iss`, `aud`, `typ`, `exp`/`nbf` and the scopes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::issuer::Found;
use super::{Args, Report};
use crate::auth::keys::Alg;
use crate::auth::validator::unix_now;
use crate::config::Settings;

/// The token to check, or `None` (with a line saying why) when there is none.
pub async fn obtain(
    s: &Settings,
    args: &Args,
    found: Option<&Found>,
    client: &reqwest::Client,
    r: &mut Report,
) -> Option<String> {
    if let Some(t) = &args.token {
        return Some(t.trim().to_owned());
    }
    let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) else {
        if args.client_id.is_some() {
            r.fail(
                'B',
                "token obtained",
                "--client-id without a secret",
                "--client-secret (or MCP_CHECK_CLIENT_SECRET)",
                "pass the client's secret",
            );
        }
        return None;
    };
    let Some(endpoint) = found.and_then(|f| f.metadata["token_endpoint"].as_str()) else {
        r.fail(
            'B',
            "token obtained",
            "no token endpoint",
            "discovery's token_endpoint",
            "fix gate A first",
        );
        return None;
    };
    let body = request(s, id, secret, endpoint, client, r).await?;
    match body["access_token"].as_str() {
        Some(t) => {
            r.pass(
                'B',
                "token obtained",
                format!("client credentials of {id} at {endpoint}"),
                "an access token",
            );
            Some(t.to_owned())
        }
        None => {
            r.fail(
                'B',
                "token obtained",
                "no access_token in the answer",
                "an access token",
                "check the client's settings",
            );
            None
        }
    }
}

/// Asks the token endpoint for a token by client credentials; the answer's JSON, or `None` after
/// a FAIL line.
async fn request(
    s: &Settings,
    id: &str,
    secret: &str,
    endpoint: &str,
    client: &reqwest::Client,
    r: &mut Report,
) -> Option<Value> {
    let scope = s.required_scopes.join(" ");
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", scope.as_str()),
        ("resource", s.resource.as_str()),
    ];
    let response = client
        .post(endpoint)
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await;
    let body: Value = match response {
        Ok(resp) => {
            let status = resp.status();
            let body = super::json_body(resp).await;
            if !status.is_success() {
                let why = body["error_description"]
                    .as_str()
                    .or(body["error"].as_str())
                    .unwrap_or("no error given");
                r.fail('B', "token obtained", format!("HTTP {status}: {why}"), format!("an access token for client {id}"),
                    "the client must exist, be confidential with client credentials enabled, and the secret must match");
                return None;
            }
            body
        }
        Err(e) => {
            r.fail(
                'B',
                "token obtained",
                super::describe(e),
                format!("an answer from {endpoint}"),
                "the token endpoint must be reachable from here",
            );
            return None;
        }
    };
    Some(body)
}

/// Checks each property of `token` on its own line.
pub fn check(s: &Settings, token: &str, found: &Found, r: &mut Report) {
    let parts: Vec<&str> = token.split('.').collect();
    let (header, claims) = match parts.as_slice() {
        [h, p, _] => (decode(h), decode(p)),
        _ => (None, None),
    };
    let (Some(header), Some(claims)) = (header, claims) else {
        r.fail(
            'B',
            "token is a signed JWT",
            format!("{} dot-separated parts", parts.len()),
            "three base64url JSON parts (a signed JWT)",
            "Keycloak issues JWT access tokens; pass the access token, not a refresh or ID token",
        );
        return;
    };
    signature(&parts, &header, found, r);
    let iss = claims["iss"].as_str().unwrap_or("(none)");
    r.expect('B', "iss equals KC_ISSUER", iss == s.issuer, format!("\"{iss}\""), format!("\"{}\"", s.issuer),
        "the token comes from another issuer than KC_ISSUER: fix KC_ISSUER or Keycloak's KC_HOSTNAME");
    let aud = match &claims["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    r.expect('B', "aud contains MCP_AUDIENCE", aud.iter().any(|a| s.audiences.contains(a)), format!("{aud:?}"), format!("one of {:?}", s.audiences),
        format!("add an Audience mapper for {} to the client scope `mcp:tools` (docs/keycloak.md), or set MCP_AUDIENCE to the audience Keycloak sends", s.audiences[0]));
    let typ = claims["typ"].as_str();
    r.expect(
        'B',
        "typ is an access token",
        typ.is_none_or(|t| t.eq_ignore_ascii_case("Bearer")),
        typ.map_or("(absent)".to_owned(), |t| format!("\"{t}\"")),
        "\"Bearer\" or absent",
        "pass the access token, not an ID or refresh token",
    );
    let now = unix_now();
    let leeway = s.leeway.as_secs() as i64;
    let exp = claims["exp"].as_i64();
    let nbf = claims["nbf"].as_i64();
    let live = exp.is_some_and(|e| e + leeway > now) && nbf.is_none_or(|n| n - leeway <= now);
    r.expect(
        'B',
        "exp and nbf admit now",
        live,
        format!(
            "exp {} s from now{}",
            exp.map_or("(none)".into(), |e| (e - now).to_string()),
            nbf.map_or(String::new(), |n| format!(", nbf {} s from now", n - now))
        ),
        format!("exp in the future, nbf not (±{leeway} s)"),
        "get a fresh token; if it was fresh, synchronise the clocks",
    );
    let scopes: Vec<&str> = claims["scope"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let missing: Vec<&String> = s
        .required_scopes
        .iter()
        .filter(|w| !scopes.contains(&w.as_str()))
        .collect();
    r.expect('B', "scope holds MCP_REQUIRED_SCOPES", missing.is_empty(), format!("\"{}\"", scopes.join(" ")), format!("contains {}", s.required_scopes.join(" ")),
        format!("the client must get the scope(s) {missing:?}: make `mcp:tools` a default client scope (docs/keycloak.md) or change MCP_REQUIRED_SCOPES"));
}

fn signature(parts: &[&str], header: &Value, found: &Found, r: &mut Report) {
    let alg = header["alg"].as_str().unwrap_or("(none)");
    let kid = header["kid"].as_str().unwrap_or("(none)");
    let expected = "signed by a published use=sig key with its pinned alg";
    let Some(key) = found.keys.keys.get(kid) else {
        r.fail('B', "signature verifies", format!("kid {kid} is not published"), expected, "the token was signed by another realm or a rotated-out key; get a fresh token from KC_ISSUER");
        return;
    };
    if Alg::from_name(alg) != Some(key.alg) {
        r.fail(
            'B',
            "signature verifies",
            format!("alg {alg}"),
            format!("{} (pinned by key {kid})", key.alg.name()),
            "the token's alg must match the published key",
        );
        return;
    }
    let signed = format!("{}.{}", parts[0], parts[1]);
    let ok = URL_SAFE_NO_PAD
        .decode(parts[2])
        .is_ok_and(|sig| key.verify(signed.as_bytes(), &sig));
    r.expect(
        'B',
        "signature verifies",
        ok,
        format!("{alg} with key {kid}"),
        expected,
        "the signature is wrong: the token was altered or signed by another key",
    );
}

fn decode(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}
