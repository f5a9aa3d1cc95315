//! The identity provider of `bench/run`: serves OpenID discovery and a JWKS for realm `mcp` as
//! Keycloak would, counts JWKS fetches (`GET /stats`), and writes RS256 access tokens for the
//! benchmark: a valid one, and one signed with a key id it never publishes.
//!
//!     bench_idp <port> <out-dir>      writes <out-dir>/token, <out-dir>/other-user-token-0..3
//!                                     (four other `sub`s) and <out-dir>/unknown-kid-token
//!     bench_idp <port> <out-dir> <mcp-url> <runs> <proofs>
//!                                     also, for each of <runs> runs, <out-dir>/dpop-token-<run>,
//!                                     bound to an ES256 key, with a `sub` of its own, and for each
//!                                     of wrk's two threads a file <out-dir>/dpop-proofs-<run>-<thread>
//!                                     of <proofs> fresh DPoP proofs of that key and token for
//!                                     POST <mcp-url>, one a line, so that no proof is sent twice

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

const KEY: &str = include_str!("../tests/api/keys/sig.pem");

struct Idp {
    base: String,
    jwks: Value,
    fetches: AtomicUsize,
}

fn token(key: &RsaKeyPair, kid: &str, issuer: &str, sub: &str) -> String {
    token_with(key, kid, issuer, sub, json!({}))
}

/// A token with `extra` claims added.
fn token_with(key: &RsaKeyPair, kid: &str, issuer: &str, sub: &str, extra: Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
    let claims = json!({
        "iss": issuer, "aud": ["http://127.0.0.1/mcp", "account"], "sub": sub, "typ": "Bearer",
        "azp": "bench", "scope": "openid mcp:tools", "iat": now, "exp": now + 86_400,
        "realm_access": { "roles": ["default-roles-mcp"] },
    });
    let mut claims = claims;
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Writes, for each run, a token bound to a new ES256 key and, for each wrk thread, a file of
/// `count` proofs of that key. Each run's token has a `sub` of its own: the server keeps a
/// caller's proofs for their whole window and lets one caller hold at most a quarter of its
/// replay cache (`auth::dpop`), so the runs must not all be one caller's.
fn dpop(
    key: &RsaKeyPair,
    issuer: &str,
    url: &str,
    out: &std::path::Path,
    runs: usize,
    count: usize,
) {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..65]),
    );
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let jkt = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ));
    let header = URL_SAFE_NO_PAD.encode(
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": { "kty": "EC", "crv": "P-256", "x": x, "y": y } })
            .to_string(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for run in 1..=runs {
        let token = token_with(
            key,
            "bench-rs256",
            issuer,
            &format!("bench-dpop-{run}"),
            json!({ "cnf": { "jkt": jkt } }),
        );
        std::fs::write(out.join(format!("dpop-token-{run}")), &token).unwrap();
        let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            token.as_bytes(),
        ));
        for thread in 1..=2 {
            let file = format!("{run}-{thread}");
            let mut lines = String::with_capacity(count * 400);
            for i in 0..count {
                let claims = json!({ "jti": format!("{file}-{i}"), "htm": "POST", "htu": url, "iat": now, "ath": ath });
                let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
                let sig = pair.sign(&rng, input.as_bytes()).unwrap();
                lines.push_str(&format!(
                    "{input}.{}\n",
                    URL_SAFE_NO_PAD.encode(sig.as_ref())
                ));
            }
            std::fs::write(out.join(format!("dpop-proofs-{file}")), lines).unwrap();
        }
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: bench_idp <port> <out-dir>");
    let out = std::path::PathBuf::from(args.next().expect("usage: bench_idp <port> <out-dir>"));
    let der: String = KEY.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = RsaKeyPair::from_pkcs8(&STANDARD.decode(der).unwrap()).unwrap();
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
    let base = format!("http://127.0.0.1:{port}/realms/mcp");
    std::fs::write(
        out.join("token"),
        token(&key, "bench-rs256", &base, "bench-user"),
    )
    .unwrap();
    for n in 0..4 {
        std::fs::write(
            out.join(format!("other-user-token-{n}")),
            token(&key, "bench-rs256", &base, &format!("other-user-{n}")),
        )
        .unwrap();
    }
    std::fs::write(
        out.join("unknown-kid-token"),
        token(&key, "never-published", &base, "bench-user"),
    )
    .unwrap();
    if let (Some(url), Some(runs), Some(count)) = (args.next(), args.next(), args.next()) {
        let runs: usize = runs.parse().expect("a number of runs");
        let count: usize = count.parse().expect("a number of proofs per file");
        dpop(&key, &base, &url, &out, runs, count);
    }
    let idp = Arc::new(Idp {
        jwks: json!({ "keys": [{
            "kid": "bench-rs256", "kty": "RSA", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
        }]}),
        base,
        fetches: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/realms/mcp/.well-known/openid-configuration", get(|State(i): State<Arc<Idp>>| async move {
            axum::Json(json!({ "issuer": i.base, "jwks_uri": format!("{}/protocol/openid-connect/certs", i.base),
                "token_endpoint": format!("{}/protocol/openid-connect/token", i.base),
                "code_challenge_methods_supported": ["S256"] }))
        }))
        .route("/realms/mcp/protocol/openid-connect/certs", get(|State(i): State<Arc<Idp>>| async move {
            i.fetches.fetch_add(1, Ordering::SeqCst);
            ([("cache-control", "max-age=3600")], axum::Json(i.jwks.clone()))
        }))
        .route("/stats", get(|State(i): State<Arc<Idp>>| async move { i.fetches.load(Ordering::SeqCst).to_string() }))
        .with_state(idp);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
