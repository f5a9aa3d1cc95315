//! Gate B's token: taken from `--token`, or fetched from the token endpoint with
//! `--client-id`/`--client-secret` (client credentials, asking for `MCP_REQUIRED_SCOPES` and
//! `resource=MCP_RESOURCE`), with `--dpop` bound to check's own key.

use serde_json::Value;

use super::dpop::ProofKey;
use super::issuer::Discovered;
use super::{Args, Report};
use crate::config::Settings;

/// The token to check, or `None` (with a line saying why) when there is none.
pub(super) async fn token(
    s: &Settings,
    args: &Args,
    found: Option<&Discovered>,
    key: Option<&ProofKey>,
    client: &reqwest::Client,
    r: &mut Report,
) -> Option<String> {
    if let Some(t) = &args.token {
        return given(t, key, r);
    }
    let (id, secret) = credentials(args, r)?;
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
    let body = request(s, (id, secret), endpoint, key, client, r).await?;
    let Some(token) = body["access_token"].as_str() else {
        r.fail(
            'B',
            "token obtained",
            "no access_token in the answer",
            "an access token",
            "check the client's settings",
        );
        return None;
    };
    let how = format!("client credentials of {id} at {endpoint}");
    r.pass('B', "token obtained", how, "an access token");
    if key.is_some() {
        let kind = body["token_type"].as_str().unwrap_or("(none)");
        r.expect('B', "token is issued as DPoP", kind.eq_ignore_ascii_case("dpop"), format!("token_type {kind}"), "token_type DPoP",
            "the authorization server did not bind the token to check's key: turn DPoP on for the client (Keycloak 26.4 or later, docs/keycloak.md)");
    }
    Some(token.to_owned())
}

/// The token `--token` gave, unless a DPoP-bound one is wanted.
fn given(token: &str, key: Option<&ProofKey>, r: &mut Report) -> Option<String> {
    if key.is_some() {
        r.fail(
            'B',
            "token obtained",
            "--token with --dpop",
            "--client-id and --client-secret",
            "a DPoP-bound token works only with the key it was issued for: let check get one with its own key",
        );
        return None;
    }
    Some(token.trim().to_owned())
}

/// The client id and secret to get a token with; `None` without them (a FAIL line when the
/// id came without its secret).
fn credentials<'a>(args: &'a Args, r: &mut Report) -> Option<(&'a str, &'a str)> {
    match (&args.client_id, &args.client_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (Some(_), None) => {
            r.fail(
                'B',
                "token obtained",
                "--client-id without a secret",
                "--client-secret (or MCP_CHECK_CLIENT_SECRET)",
                "pass the client's secret",
            );
            None
        }
        (None, _) => None,
    }
}

/// Asks the token endpoint for a token by client credentials, with a DPoP proof of `key` if
/// given (once more with the server's nonce if it asks for one, RFC 9449 §8); the answer's JSON,
/// or `None` after a FAIL line.
async fn request(
    s: &Settings,
    (id, secret): (&str, &str),
    endpoint: &str,
    key: Option<&ProofKey>,
    client: &reqwest::Client,
    r: &mut Report,
) -> Option<Value> {
    let scope = s.required_scopes.join(" ");
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", scope.as_str()),
        ("resource", s.resource.as_str()),
    ];
    let mut nonce: Option<String> = None;
    for _ in 0..2 {
        let mut req = client
            .post(endpoint)
            .basic_auth(id, Some(secret))
            .form(&form);
        if let Some(key) = key {
            req = req.header("dpop", key.proof("POST", endpoint, None, nonce.as_deref()));
        }
        let (status, offered, body) = match answer(req).await {
            Ok(answer) => answer,
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
        if status.is_success() {
            return Some(body);
        }
        if body["error"] == "use_dpop_nonce" && nonce.is_none() && offered.is_some() {
            nonce = offered;
            continue;
        }
        let why = body["error_description"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("no error given");
        r.fail('B', "token obtained", format!("HTTP {status}: {why}"), format!("an access token for client {id}"),
            "the client must exist, be confidential with client credentials enabled, and the secret must match");
        return None;
    }
    r.fail(
        'B',
        "token obtained",
        "the token endpoint asked for a DPoP nonce twice",
        "an access token",
        "the authorization server's DPoP nonces must stay valid for a retry",
    );
    None
}

/// Sends a token request: the answer's status, the DPoP nonce it offers, and its JSON.
async fn answer(
    req: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, Option<String>, Value), reqwest::Error> {
    let resp = req.send().await?;
    let status = resp.status();
    let offered = resp
        .headers()
        .get("dpop-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, offered, super::json_body(resp).await))
}
