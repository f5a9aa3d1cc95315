//! The attack corpus: every kind of token the tests throw at the gate, named, with the verdict
//! the server gives it (`None`: let in; otherwise the `mcp_token_rejections_total` reason).
//! `check.rs` runs all of it through the server and through `check` and compares the verdicts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use serde_json::{Value, json};

use super::keycloak::ISSUER;
use super::tokens::{self, Keys, RESOURCE, Signer, claims, header, mint, token, token_with};

/// One token of the corpus.
pub(crate) struct Attack {
    pub name: &'static str,
    pub token: String,
    pub verdict: Option<&'static str>,
}

fn signed_with_claims_text(keys: &Keys, body: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header("rsa-sig")).unwrap()),
        URL_SAFE_NO_PAD.encode(body)
    );
    let sig = tokens::sign(input.as_bytes(), &keys.rs256());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn with_header(keys: &Keys, h: Value) -> String {
    mint(&h, &claims(), &keys.rs256())
}

/// Every token, good and bad.
pub(crate) fn attacks(keys: &Keys) -> Vec<Attack> {
    let now = tokens::now();
    let good = token(keys);
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims();
    forged["realm_access"]["roles"] = json!(["admin"]);
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let duplicate_iss = serde_json::to_string(&claims()).unwrap().replacen(
        '{',
        "{\"iss\":\"https://evil.example/realms/mcp\",",
        1,
    );
    let hmac_key = serde_json::to_vec(&keys.jwks()["keys"][0]).unwrap();
    let mut padded = claims();
    padded["padding"] = json!("x".repeat(70_000));

    let list: Vec<(&'static str, String, Option<&'static str>)> = vec![
        ("a valid RS256 token", good.clone(), None),
        (
            "a valid ES256 token",
            mint(
                &json!({"alg": "ES256", "typ": "JWT", "kid": "ec-sig"}),
                &claims(),
                &Signer::Ec(&keys.ec),
            ),
            None,
        ),
        (
            "a valid EdDSA token",
            mint(
                &json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed-sig"}),
                &claims(),
                &Signer::Ed(&keys.ed),
            ),
            None,
        ),
        (
            "an at+jwt header type",
            with_header(
                keys,
                json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-sig"}),
            ),
            None,
        ),
        (
            "a fractional exp",
            token_with(keys, |c| c["exp"] = json!(now as f64 + 300.5)),
            None,
        ),
        (
            "alg none",
            mint(
                &json!({"alg": "none", "typ": "JWT", "kid": "rsa-sig"}),
                &claims(),
                &Signer::Nothing,
            ),
            Some("bad_signature"),
        ),
        (
            "alg nOnE",
            mint(
                &json!({"alg": "nOnE", "kid": "rsa-sig"}),
                &claims(),
                &Signer::Nothing,
            ),
            Some("bad_signature"),
        ),
        (
            "HS256 keyed with the public key",
            mint(
                &json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-sig"}),
                &claims(),
                &Signer::Hmac(hmac_key),
            ),
            Some("bad_signature"),
        ),
        (
            "signed with the encryption key",
            mint(
                &header("rsa-enc"),
                &claims(),
                &Signer::Rsa(&keys.enc, &RSA_PKCS1_SHA256),
            ),
            Some("unknown_kid"),
        ),
        (
            "a foreign key behind jku and x5u",
            mint(
                &json!({"alg": "RS256", "kid": "evil", "jku": "http://127.0.0.1:9/jwks", "x5u": "http://127.0.0.1:9/x5u"}),
                &claims(),
                &Signer::Rsa(&keys.foreign, &RSA_PKCS1_SHA256),
            ),
            Some("unknown_kid"),
        ),
        (
            "a foreign key embedded as jwk",
            mint(
                &json!({"alg": "RS256", "kid": "rsa-sig", "jwk": tokens::rsa_jwk(&keys.foreign, "rsa-sig", "sig", "RS256")}),
                &claims(),
                &Signer::Rsa(&keys.foreign, &RSA_PKCS1_SHA256),
            ),
            Some("bad_signature"),
        ),
        (
            "a foreign key under a published kid",
            mint(
                &header("rsa-sig"),
                &claims(),
                &Signer::Rsa(&keys.foreign, &RSA_PKCS1_SHA256),
            ),
            Some("bad_signature"),
        ),
        (
            "a tampered payload",
            format!("{}.{forged}.{}", parts[0], parts[2]),
            Some("bad_signature"),
        ),
        (
            "a stripped signature",
            good[..good.rfind('.').unwrap() + 1].to_owned(),
            Some("bad_signature"),
        ),
        (
            "RS256 relabelled PS256",
            mint(
                &json!({"alg": "PS256", "typ": "JWT", "kid": "rsa-sig"}),
                &claims(),
                &Signer::Rsa(&keys.sig, &RSA_PSS_SHA256),
            ),
            Some("bad_signature"),
        ),
        (
            "ES256 naming the RSA key",
            mint(
                &json!({"alg": "ES256", "typ": "JWT", "kid": "rsa-sig"}),
                &claims(),
                &Signer::Ec(&keys.ec),
            ),
            Some("bad_signature"),
        ),
        (
            "expired",
            token_with(keys, |c| c["exp"] = json!(now - 120)),
            Some("expired"),
        ),
        (
            "a future nbf",
            token_with(keys, |c| c["nbf"] = json!(now + 600)),
            Some("not_yet_valid"),
        ),
        (
            "issued in the future",
            token_with(keys, |c| c["iat"] = json!(now + 600)),
            Some("not_yet_valid"),
        ),
        (
            "another realm",
            token_with(keys, |c| {
                c["iss"] = json!("https://auth.localhost/realms/master")
            }),
            Some("wrong_issuer"),
        ),
        (
            "an issuer with a trailing slash",
            token_with(keys, |c| c["iss"] = json!(format!("{ISSUER}/"))),
            Some("wrong_issuer"),
        ),
        (
            "an issuer in another case",
            token_with(keys, |c| {
                c["iss"] = json!("https://auth.localhost/realms/MCP")
            }),
            Some("wrong_issuer"),
        ),
        (
            "no issuer",
            token_with(keys, |c| {
                c.as_object_mut().unwrap().remove("iss");
            }),
            Some("wrong_issuer"),
        ),
        (
            "an issuer written as an array",
            token_with(keys, |c| c["iss"] = json!([ISSUER])),
            Some("malformed"),
        ),
        (
            "audience account only",
            token_with(keys, |c| c["aud"] = json!("account")),
            Some("wrong_audience"),
        ),
        (
            "no audience",
            token_with(keys, |c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            Some("wrong_audience"),
        ),
        (
            "an audience with a trailing slash",
            token_with(keys, |c| c["aud"] = json!(format!("{RESOURCE}/"))),
            Some("wrong_audience"),
        ),
        (
            "an empty audience list",
            token_with(keys, |c| c["aud"] = json!([])),
            Some("wrong_audience"),
        ),
        (
            "an ID token",
            token_with(keys, |c| {
                c["typ"] = json!("ID");
                c["aud"] = json!("chatgpt");
            }),
            Some("wrong_type"),
        ),
        (
            "a refresh token",
            token_with(keys, |c| {
                c["typ"] = json!("Refresh");
                c["aud"] = json!(ISSUER);
            }),
            Some("wrong_type"),
        ),
        (
            "an offline token",
            token_with(keys, |c| c["typ"] = json!("Offline")),
            Some("wrong_type"),
        ),
        (
            "typ bearer in lower case",
            token_with(keys, |c| c["typ"] = json!("bearer")),
            Some("wrong_type"),
        ),
        (
            "a logout token by its header type",
            with_header(
                keys,
                json!({"alg": "RS256", "typ": "logout+jwt", "kid": "rsa-sig"}),
            ),
            Some("wrong_type"),
        ),
        (
            "no exp",
            token_with(keys, |c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            Some("malformed"),
        ),
        (
            "exp written as a string",
            token_with(keys, |c| c["exp"] = json!("9999999999")),
            Some("malformed"),
        ),
        (
            "a duplicate issuer",
            signed_with_claims_text(keys, &duplicate_iss),
            Some("malformed"),
        ),
        (
            "a critical header extension",
            with_header(
                keys,
                json!({"alg": "RS256", "kid": "rsa-sig", "crit": ["b64"], "b64": false}),
            ),
            Some("malformed"),
        ),
        (
            "no kid",
            with_header(keys, json!({"alg": "RS256", "typ": "JWT"})),
            Some("malformed"),
        ),
        (
            "a kid of 12 000 bytes",
            with_header(keys, header(&"k".repeat(12_000))),
            Some("malformed"),
        ),
        (
            "five parts",
            "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".into(),
            Some("malformed"),
        ),
        ("not a JWT", "not-a-jwt".into(), Some("malformed")),
        ("three garbage parts", "a.b.c".into(), Some("malformed")),
        (
            "a 70 kB token",
            mint(&header("never-seen"), &padded, &keys.rs256()),
            Some("malformed"),
        ),
        (
            "DPoP-bound",
            token_with(keys, |c| {
                c["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
            }),
            Some("dpop_bound"),
        ),
        (
            "certificate-bound",
            token_with(keys, |c| {
                c["cnf"] = json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
            }),
            Some("sender_constrained"),
        ),
        (
            "without mcp:tools",
            token_with(keys, |c| c["scope"] = json!("openid profile")),
            Some("insufficient_scope"),
        ),
        (
            "scopes separated by a tab",
            token_with(keys, |c| c["scope"] = json!("openid\tmcp:tools")),
            Some("insufficient_scope"),
        ),
    ];
    list.into_iter()
        .map(|(name, token, verdict)| Attack {
            name,
            token,
            verdict,
        })
        .collect()
}
