//! Gate B: a real access token. It is taken from `--token`, or fetched from the token endpoint
//! with `--client-id`/`--client-secret` (client credentials, asking for `MCP_REQUIRED_SCOPES`
//! and `resource=MCP_RESOURCE`), then judged by the server's own validator and scope rule
//! ([`crate::auth::Validator::verify`]), shown one line per rule.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::issuer::Found;
use super::{Args, Report, Status};
use crate::auth::key_store::FixedKeys;
use crate::auth::principal::{Scheme, require_binding, require_scopes};
use crate::auth::validator::unix_now;
use crate::auth::{AuthError, Policy, Reason, Rule, Validator};
use crate::config::Settings;
use crate::telemetry::Metrics;

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

/// Judges `token` once with the server's own validator (over the keys gate A read) and the
/// server's scope rule, then shows one line per rule: the rule the token broke fails, the rules
/// the validator applies before it pass, and the ones after it are skipped, because the server
/// stops at the first failure too.
pub async fn check(s: &Settings, token: &str, found: &Found, r: &mut Report) {
    let refused = match judge(s, token, found).await {
        Ok(refused) => refused,
        Err(detail) => {
            r.fail(
                'B',
                "token checks",
                detail,
                "a verdict on the token",
                "the keys gate A read could not be used",
            );
            return;
        }
    };
    let shown = Shown::read(token);
    for row in rows(s, &shown) {
        show(r, refused.as_ref(), row);
    }
}

/// The server's verdict: `None` when it admits the token, else the reason and what it said;
/// `Err` when the validator could not judge at all.
async fn judge(
    s: &Settings,
    token: &str,
    found: &Found,
) -> Result<Option<(Reason, String)>, String> {
    let keys = FixedKeys::new(found.keys.keys.clone());
    let validator = Validator::new(
        Policy::from_settings(s),
        Arc::new(keys),
        0,
        Arc::new(Metrics::new()),
    );
    // The token is judged as the gate judges one sent as Bearer.
    let verdict = match validator.verify(token).await {
        Ok(p) => require_binding(Scheme::Bearer, &p, false, |_| Ok(()))
            .and_then(|()| require_scopes(&p, &s.required_scopes)),
        Err(e) => Err(e),
    };
    match verdict {
        Ok(()) => Ok(None),
        Err(e) => match e.reason() {
            Some(reason) => Ok(Some((reason, detail(&e)))),
            None => Err(detail(&e)),
        },
    }
}

/// One rule as gate B shows it: the reasons that break it, the token's value, what the rule
/// expects, and what to change.
struct Row {
    check: &'static str,
    reasons: &'static [Reason],
    actual: String,
    expected: String,
    hint: String,
}

/// The line of one rule, given the server's verdict.
fn show(r: &mut Report, refused: Option<&(Reason, String)>, row: Row) {
    let rule = row.reasons[0].rule();
    let (status, actual, reason) = match refused {
        None => (Status::Pass, row.actual, None),
        Some((reason, detail)) if row.reasons.contains(reason) => {
            // Where the token's own value says little, the validator's finding says more.
            let actual = if rule <= Rule::Signature {
                detail.clone()
            } else {
                row.actual
            };
            (Status::Fail, actual, Some(*reason))
        }
        Some((reason, _)) if rule < reason.rule() => (Status::Pass, row.actual, None),
        Some((reason, _)) => {
            let why = format!(
                "not judged: the server refuses the token for {} first",
                reason.as_str()
            );
            r.push(
                'B',
                row.check,
                Status::Skip,
                row.actual,
                row.expected,
                why,
                None,
            );
            return;
        }
    };
    let reason = reason.map(Reason::as_str);
    r.push(
        'B',
        row.check,
        status,
        actual,
        row.expected,
        row.hint,
        reason,
    );
}

/// Every rule of the validator, in the order it applies them.
fn rows(s: &Settings, shown: &Shown) -> Vec<Row> {
    use Reason::*;
    let row = |check, reasons, actual, expected: &str, hint: &str| Row {
        check,
        reasons,
        actual,
        expected: expected.to_owned(),
        hint: hint.to_owned(),
    };
    vec![
        row(
            "token is a signed JWT",
            &[Malformed],
            shown.form(),
            "three base64url parts, a JSON header with alg and kid, at most 16 KiB",
            "Keycloak issues JWT access tokens; pass the access token, not a refresh or ID token",
        ),
        row(
            "signature verifies",
            &[BadSignature, UnknownKid],
            shown.signer(),
            "signed by a published use=sig key with its pinned alg",
            "the token was altered, or signed by another realm or a rotated-out key; get a fresh token from KC_ISSUER",
        ),
        row(
            "typ is an access token",
            &[WrongType],
            shown.text("typ"),
            "\"Bearer\" or absent (header typ JWT or at+jwt)",
            "pass the access token, not an ID or refresh token",
        ),
        row(
            "exp and nbf admit now",
            &[Expired, NotYetValid],
            shown.lifetime(),
            &format!(
                "exp in the future, nbf and iat not (±{} s)",
                s.leeway.as_secs()
            ),
            "get a fresh token; if it was fresh, synchronise the clocks",
        ),
        row(
            "iss equals KC_ISSUER",
            &[WrongIssuer],
            shown.text("iss"),
            &format!("\"{}\"", s.issuer),
            "the token comes from another issuer than KC_ISSUER: fix KC_ISSUER or Keycloak's KC_HOSTNAME",
        ),
        row(
            "aud contains MCP_AUDIENCE",
            &[WrongAudience],
            shown.audiences(),
            &format!("one of {:?}", s.audiences),
            &format!(
                "add an Audience mapper for {} to the client scope `mcp:tools` (docs/keycloak.md), or set MCP_AUDIENCE to the audience Keycloak sends",
                s.audiences[0]
            ),
        ),
        row(
            "token is not sender-constrained",
            &[DpopBound, SenderConstrained],
            shown.text("cnf"),
            "no cnf claim (a bearer token)",
            "check judges the token as a Bearer token: pass a token without DPoP or certificate binding (a DPoP-bound token is accepted by the server with the DPoP scheme and a proof)",
        ),
        row(
            "scope holds MCP_REQUIRED_SCOPES",
            &[InsufficientScope],
            shown.text("scope"),
            &format!("contains {}", s.required_scopes.join(" ")),
            "the client must get the required scope(s): make `mcp:tools` a default client scope (docs/keycloak.md) or change MCP_REQUIRED_SCOPES",
        ),
    ]
}

/// What a refusal says, without the reason label in front.
fn detail(e: &AuthError) -> String {
    match e {
        AuthError::InvalidToken { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

/// The token's header and claims as written, for display only: nothing here judges them.
struct Shown {
    header: Value,
    claims: Value,
}

impl Shown {
    fn read(token: &str) -> Self {
        let mut parts = token.split('.');
        let mut part = || parts.next().and_then(decode).unwrap_or(Value::Null);
        Shown {
            header: part(),
            claims: part(),
        }
    }

    fn text(&self, claim: &str) -> String {
        match &self.claims[claim] {
            Value::Null => "(absent)".into(),
            value => value.to_string(),
        }
    }

    fn form(&self) -> String {
        match &self.header {
            Value::Null => "(no readable header)".into(),
            header => header.to_string(),
        }
    }

    fn signer(&self) -> String {
        let field = |name: &str| self.header[name].as_str().unwrap_or("(none)").to_owned();
        format!("{} with key {}", field("alg"), field("kid"))
    }

    fn audiences(&self) -> String {
        let aud: Vec<&str> = match &self.claims["aud"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        format!("{aud:?}")
    }

    fn lifetime(&self) -> String {
        let now = unix_now() as f64;
        let from_now = |name: &str| {
            self.claims[name]
                .as_f64()
                .map(|t| format!(", {name} {} s from now", (t - now).round()))
                .unwrap_or_default()
        };
        let text = format!("{}{}{}", from_now("exp"), from_now("nbf"), from_now("iat"));
        match text.strip_prefix(", ") {
            Some(text) => text.to_owned(),
            None => "no exp".into(),
        }
    }
}

fn decode(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}
