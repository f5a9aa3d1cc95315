//! Gate B: a real access token (from `super::obtain`), judged by the server's own validator,
//! binding rule, proof checker and scope rule ([`crate::auth::Validator::verify`]), shown one
//! line per rule.

use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::dpop::ProofKey;
use super::issuer::Discovered;
use super::{Report, Status};
use crate::auth::dpop::{Presented, ProofPolicy, Proofs};
use crate::auth::error::Scheme;
use crate::auth::key_store::FixedKeys;
use crate::auth::principal::{require_binding, require_scopes};
use crate::auth::validator::unix_now;
use crate::auth::{AuthError, Policy, Reason, Rule, Validator};
use crate::config::Settings;
use crate::telemetry::Metrics;

/// Judges `token` once with the server's own validator (over the keys gate A read) and the
/// server's scope rule, then shows one line per rule: the rule the token broke fails, the rules
/// the validator applies before it pass, and the ones after it are skipped, because the server
/// stops at the first failure too.
pub(super) async fn check(
    s: &Settings,
    token: &str,
    found: &Discovered,
    key: Option<&ProofKey>,
    r: &mut Report,
) {
    let refused = match judge(s, token, found, key).await {
        Ok(refused) => refused,
        Err(e) => {
            r.fail(
                'B',
                "token checks",
                detail(&e),
                "a verdict on the token",
                "the keys gate A read could not be used",
            );
            return;
        }
    };
    let shown = AsWritten::read(token);
    for row in rows(s, &shown, key.is_some()) {
        show(r, refused.as_ref(), row);
    }
}

/// The server's verdict: `None` when it admits the token, else the reason and what it said;
/// `Err` when the validator could not judge at all (the error carries no refusal reason).
async fn judge(
    s: &Settings,
    token: &str,
    found: &Discovered,
    key: Option<&ProofKey>,
) -> Result<Option<(Reason, String)>, AuthError> {
    let keys = FixedKeys::new(found.keys.keys.clone());
    let validator = Validator::new(
        Policy::from_settings(s),
        Arc::new(keys),
        0,
        Arc::new(Metrics::new()),
    );
    // The token is judged as the gate judges one sent as Bearer, or with --dpop as one sent
    // as DPoP with a proof of check's key, by the server's own proof checker.
    let scheme = if key.is_some() {
        Scheme::Dpop
    } else {
        Scheme::Bearer
    };
    let verdict = match validator.verify(token).await {
        Ok(p) => require_binding(scheme, &p, false, |jkt| prove(s, token, jkt, key))
            .and_then(|_| require_scopes(&p, &s.required_scopes)),
        Err(e) => Err(e),
    };
    match verdict {
        Ok(()) => Ok(None),
        Err(e) => match e.reason() {
            Some(reason) => Ok(Some((reason, detail(&e)))),
            None => Err(e),
        },
    }
}

/// Runs the server's proof checker over a proof of check's key for a request to
/// `MCP_RESOURCE`, as the gate would for that request.
fn prove(s: &Settings, token: &str, jkt: &str, key: Option<&ProofKey>) -> Result<(), AuthError> {
    let Some(key) = key else {
        return Ok(());
    };
    let proofs = Proofs::new(ProofPolicy::from_settings(s));
    // A client is handed the nonce with its first answer; check has the server's own.
    let nonce = proofs.wants_nonce().then(|| proofs.nonce());
    let path = url::Url::parse(&s.resource)
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    proofs
        .check(&Presented {
            proof: &key.proof("POST", &s.resource, Some(token), nonce.as_deref()),
            method: "POST",
            path: &path,
            token,
            jkt,
        })
        .map(drop)
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
fn rows(s: &Settings, shown: &AsWritten, dpop: bool) -> Vec<Row> {
    use Reason::*;
    let row = |check, reasons, actual, expected: &str, hint: &str| Row {
        check,
        reasons,
        actual,
        expected: expected.to_owned(),
        hint: hint.to_owned(),
    };
    let mut rows = vec![
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
        binding(shown, dpop),
        row(
            "scope holds MCP_REQUIRED_SCOPES",
            &[InsufficientScope],
            shown.text("scope"),
            &format!("contains {}", s.required_scopes.join(" ")),
            "the client must get the required scope(s): make `mcp:tools` a default client scope (docs/keycloak.md) or change MCP_REQUIRED_SCOPES",
        ),
    ];
    if dpop {
        // The proof rule comes after the binding rule and before the scopes, as in the gate.
        rows.insert(rows.len() - 1, proof(shown));
    }
    rows
}

/// Every reason the proof rule refuses for.
static PROOF_REASONS: LazyLock<Vec<Reason>> = LazyLock::new(|| {
    Reason::ALL
        .into_iter()
        .filter(|r| r.rule() == Rule::Proof)
        .collect()
});

/// With `--dpop`, the proof rule's row: the server's proof checker over a proof of check's key.
fn proof(shown: &AsWritten) -> Row {
    Row {
        check: "DPoP proof of check's key accepted",
        reasons: &PROOF_REASONS,
        actual: shown.text("cnf"),
        expected: "the server's proof checker accepts a fresh proof of check's key for MCP_RESOURCE".into(),
        hint: "the token must be bound to the key of the proof that came with its request (the authorization server must put that key's thumbprint in cnf.jkt), and MCP_SERVER_URL with the resource's path must be the URL clients use".into(),
    }
}

/// The binding rule's row: a Bearer token must be unbound; with `--dpop` the token must be
/// bound to check's key.
fn binding(shown: &AsWritten, dpop: bool) -> Row {
    use Reason::*;
    if dpop {
        return Row {
            check: "token is DPoP-bound",
            reasons: &[DpopNotBound, SenderConstrained],
            actual: shown.text("cnf"),
            expected: "cnf.jkt, the thumbprint of the key of the token request's proof".into(),
            hint: "the client must have DPoP-bound tokens on (Keycloak: dpop.bound.access.tokens, docs/keycloak.md), and the token must come from check --dpop's own request".into(),
        };
    }
    Row {
        check: "token is not sender-constrained",
        reasons: &[DpopBound, SenderConstrained],
        actual: shown.text("cnf"),
        expected: "no cnf claim (a bearer token)".into(),
        hint: "check judges the token as a Bearer token: pass a token without DPoP or certificate binding, or use --dpop with --client-id for a DPoP client".into(),
    }
}

/// What a refusal says, without the reason label in front.
fn detail(e: &AuthError) -> String {
    match e {
        AuthError::InvalidToken { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

/// The token's header and claims as written, for display only: nothing here judges them.
struct AsWritten {
    header: Value,
    claims: Value,
}

impl AsWritten {
    fn read(token: &str) -> Self {
        let mut parts = token.split('.');
        let mut part = || parts.next().and_then(decode).unwrap_or(Value::Null);
        AsWritten {
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
