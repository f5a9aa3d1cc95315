//! Gate A: the authorization server. Discovery answers at `KC_DISCOVERY_URL`, its `issuer` is
//! `KC_ISSUER` byte for byte, PKCE S256 is offered, registration is possible (or a client is
//! pre-registered), the JWKS answers with a usable signing key, and the clocks agree.

use url::Url;

use super::Report;
use crate::auth::jwk::{ParsedKeys, parse_jwks};
use crate::auth::outbound;
use crate::config::Settings;

/// What gate A found that the later gates need.
pub(super) struct Discovered {
    pub metadata: serde_json::Value,
    pub keys: ParsedKeys,
}

pub(super) async fn check(
    s: &Settings,
    client: &reqwest::Client,
    r: &mut Report,
) -> Option<Discovered> {
    let url = &s.discovery_url;
    let metadata: serde_json::Value = match outbound::get(client, url).await {
        Ok(doc) => match serde_json::from_slice(&doc.body) {
            Ok(v) => {
                r.pass(
                    'A',
                    "discovery reachable",
                    url.as_str(),
                    "OpenID configuration JSON",
                );
                v
            }
            Err(e) => {
                r.fail(
                    'A',
                    "discovery reachable",
                    format!("{url} answered with no JSON ({e})"),
                    "OpenID configuration JSON",
                    "KC_DISCOVERY_URL must point at <issuer>/.well-known/openid-configuration",
                );
                return None;
            }
        },
        Err(e) => {
            r.fail('A', "discovery reachable", e.to_string(), format!("200 from {url}"), "KC_DISCOVERY_URL (or KC_ISSUER, from which it is derived) must be reachable from this machine");
            return None;
        }
    };
    let issuer = metadata["issuer"].as_str().unwrap_or("(none)");
    r.expect('A', "issuer equals KC_ISSUER", issuer == s.issuer, quoted(issuer), quoted(&s.issuer),
        "set KC_ISSUER to exactly the issuer Keycloak publishes (Keycloak takes it from KC_HOSTNAME); case, scheme, port and trailing slash all count");
    let methods = strings(&metadata["code_challenge_methods_supported"]);
    r.expect(
        'A',
        "PKCE S256 offered",
        methods.iter().any(|m| m == "S256"),
        format!("{methods:?}"),
        "contains \"S256\"",
        "ChatGPT and the MCP SDKs require PKCE S256; enable it on the authorization server",
    );
    match metadata["registration_endpoint"].as_str() {
        Some(reg) => r.pass('A', "client registration", format!("dynamic registration at {reg}"), "a registration endpoint or a pre-registered client"),
        None => r.skip('A', "client registration", "no registration endpoint: clients such as ChatGPT need a pre-registered client (docs/chatgpt.md)"),
    }
    let keys = signing_keys(s, &metadata, client, r).await?;
    Some(Discovered { metadata, keys })
}

/// Reads the JWKS (from `KC_JWKS_URL` or discovery) and checks it holds a usable signing key and
/// that the clocks agree.
async fn signing_keys(
    s: &Settings,
    metadata: &serde_json::Value,
    client: &reqwest::Client,
    r: &mut Report,
) -> Option<ParsedKeys> {
    let jwks_url = jwks_url(s, metadata, r)?;
    let doc = match outbound::get(client, &jwks_url).await {
        Ok(doc) => {
            r.pass('A', "JWKS reachable", jwks_url.as_str(), "a JWK Set");
            doc
        }
        Err(e) => {
            r.fail(
                'A',
                "JWKS reachable",
                e.to_string(),
                format!("200 from {jwks_url}"),
                "KC_JWKS_URL (or discovery's jwks_uri) must be reachable from this server",
            );
            return None;
        }
    };
    let keys = match parse_jwks(&doc.body) {
        Ok(keys) => keys,
        Err(e) => {
            r.fail(
                'A',
                "signing key published",
                e.to_string(),
                "a JWK Set",
                "KC_JWKS_URL must point at the realm's certs endpoint",
            );
            return None;
        }
    };
    let mut kids: Vec<String> = keys
        .keys
        .values()
        .map(|k| format!("{} ({})", k.kid, k.alg.name()))
        .collect();
    kids.sort();
    r.expect(
        'A',
        "signing key published",
        !kids.is_empty(),
        if kids.is_empty() {
            format!("none usable; skipped: {}", keys.skipped.join("; "))
        } else {
            kids.join(", ")
        },
        "at least one use=sig key with an allowed algorithm",
        "the realm must publish an active signing key (RS256, PS256, ES256, ES384 or EdDSA)",
    );
    clock(s, doc.date.as_deref(), r);
    Some(keys)
}

/// Where the keys are: `KC_JWKS_URL`, or discovery's `jwks_uri`.
fn jwks_url(s: &Settings, metadata: &serde_json::Value, r: &mut Report) -> Option<Url> {
    let (actual, expected) = match (&s.jwks_url, metadata["jwks_uri"].as_str()) {
        (Some(u), _) => return Some(u.clone()),
        (None, Some(u)) => match Url::parse(u) {
            Ok(u) => return Some(u),
            Err(e) => (format!("jwks_uri {u} ({e})"), "an absolute URL"),
        },
        (None, None) => ("discovery has no jwks_uri".to_owned(), "a jwks_uri"),
    };
    r.fail('A', "JWKS reachable", actual, expected, "set KC_JWKS_URL");
    None
}

/// Compares this machine's clock with the JWKS server's `Date` header.
fn clock(s: &Settings, date: Option<&str>, r: &mut Report) {
    match date.and_then(http_date) {
        Some(theirs) => {
            let skew = crate::auth::validator::unix_now() - theirs;
            let leeway = s.leeway.as_secs() as i64;
            r.expect('A', "clock agrees with the JWKS server", skew.abs() <= leeway,
                format!("{skew:+} s"), format!("within ±{leeway} s (MCP_CLOCK_LEEWAY_SECS)"),
                "synchronise this machine's clock (NTP); tokens would look expired or not yet valid");
        }
        None => r.skip(
            'A',
            "clock agrees with the JWKS server",
            "the JWKS response had no readable Date header",
        ),
    }
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Seconds since the epoch of an HTTP date: the IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// or one of the two obsolete forms a recipient must read too (RFC 9110 §5.6.7).
fn http_date(text: &str) -> Option<i64> {
    let when = httpdate::parse_http_date(text.trim()).ok()?;
    let secs = when.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates_are_read() {
        assert_eq!(
            super::http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            super::http_date("Mon, 23 Nov 2026 12:00:00 GMT"),
            Some(1_795_435_200)
        );
        assert_eq!(
            super::http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(super::http_date("yesterday"), None);
    }
}
