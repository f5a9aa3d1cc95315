//! Token verification benchmark: what one uncached access token costs the server, per signing
//! algorithm, through the same `Validator::validate` a request goes through on a token-cache
//! miss (hash, cache lookup, header, key, signature, claims, cache insert).
//!
//!     cargo bench --bench verify                 # RS256, PS256, ES256, EdDSA
//!     cargo bench --bench verify -- RS256 ES256  # chosen algorithms
//!
//! A second table shows what the check of one DPoP proof costs (`auth::dpop::Proofs::check`:
//! the form, the key, one signature verification, the claims, a SHA-256 of the token, the
//! thumbprint and the replay cache), per proof algorithm, each proof new.
//!
//! Every token is distinct (its own `jti`), so each call is a cache miss. Tokens are signed
//! before the clock starts. Each algorithm runs `ROUNDS` rounds of `TOKENS` verifications after
//! a warm-up; the table shows the median and the fastest round in microseconds per token.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use mcp_resource_server::auth::dpop::{Presented, ProofPolicy, Proofs};
use mcp_resource_server::auth::jwk::{Alg, parse_jwks, proof_key};
use mcp_resource_server::auth::key_store::FixedKeys;
use mcp_resource_server::auth::{Policy, Validator};
use mcp_resource_server::telemetry::{Metrics, traces};

const ISSUER: &str = "https://auth.localhost/realms/mcp";
const AUDIENCE: &str = "https://mcp.localhost/mcp";
const TOKENS: usize = 1000;
/// The URL the DPoP proofs are made for.
const URL: &str = "https://mcp.localhost/mcp";
const ROUNDS: usize = 5;

enum Signer {
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rsa(key, encoding) => {
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(*encoding, &rng, input, &mut sig).unwrap();
                sig
            }
            Signer::Ec(key) => key.sign(&rng, input).unwrap().as_ref().to_vec(),
            Signer::Ed(key) => key.sign(input).as_ref().to_vec(),
        }
    }
}

fn rsa_key() -> RsaKeyPair {
    let pem = include_str!("../tests/api/keys/sig.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(body).unwrap()).unwrap()
}

/// The signer and the JWK the key store publishes for `alg`.
fn key_pair(alg: &str) -> (Signer, Value) {
    let rng = SystemRandom::new();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match alg {
        "RS256" | "PS256" => {
            let key = rsa_key();
            let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
            let jwk = json!({"kid": alg, "kty": "RSA", "use": "sig", "alg": alg,
                "n": b64(&public.n), "e": b64(&public.e)});
            let encoding: &'static dyn signature::RsaEncoding = if alg == "RS256" {
                &signature::RSA_PKCS1_SHA256
            } else {
                &signature::RSA_PSS_SHA256
            };
            (Signer::Rsa(key, encoding), jwk)
        }
        "ES256" => {
            let alg_ = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let doc = EcdsaKeyPair::generate_pkcs8(alg_, &rng).unwrap();
            let key = EcdsaKeyPair::from_pkcs8(alg_, doc.as_ref(), &rng).unwrap();
            let point = key.public_key().as_ref().to_vec();
            let jwk = json!({"kid": alg, "kty": "EC", "use": "sig", "alg": alg, "crv": "P-256",
                "x": b64(&point[1..33]), "y": b64(&point[33..65])});
            (Signer::Ec(key), jwk)
        }
        "EdDSA" => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let key = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
            let jwk = json!({"kid": alg, "kty": "OKP", "use": "sig", "alg": alg, "crv": "Ed25519",
                "x": b64(key.public_key().as_ref())});
            (Signer::Ed(key), jwk)
        }
        other => panic!("no key for {other}; choose RS256, PS256, ES256 or EdDSA"),
    }
}

/// Keycloak-shaped access tokens, each with its own `jti`.
fn tokens(alg: &str, signer: &Signer, n: usize, tag: &str) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT", "kid": alg}).to_string());
    (0..n)
        .map(|i| {
            let claims = json!({
                "exp": now + 3600, "iat": now, "jti": format!("{tag}-{i}"), "iss": ISSUER,
                "aud": [AUDIENCE, "account"], "sub": "0f4a7a1e-1111-4c2b-9d7e-alice",
                "typ": "Bearer", "azp": "chatgpt", "sid": "5c1d0e0b-session",
                "realm_access": {"roles": ["default-roles-mcp", "offline_access", "staff"]},
                "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
                "scope": "openid mcp:tools profile email", "preferred_username": "alice",
                "groups": ["/bakers"],
            });
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
            let sig = URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()));
            format!("{input}.{sig}")
        })
        .collect()
}

/// DPoP proofs for a request to `URL` with `token`, each with its own `jti`.
fn proofs(
    alg: &str,
    signer: &Signer,
    jwk: &Value,
    token: &str,
    n: usize,
    tag: &str,
) -> Vec<String> {
    let mut public = jwk.clone();
    for member in ["kid", "use", "alg"] {
        public.as_object_mut().unwrap().remove(member);
    }
    let header =
        URL_SAFE_NO_PAD.encode(json!({"typ": "dpop+jwt", "alg": alg, "jwk": public}).to_string());
    let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (0..n)
        .map(|i| {
            let claims = json!({"jti": format!("{tag}-{i}"), "htm": "POST", "htu": URL, "iat": now, "ath": ath});
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
            let sig = URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()));
            format!("{input}.{sig}")
        })
        .collect()
}

/// µs per proof check for `alg`, the median and the fastest of the rounds.
fn proof_rounds(alg: &str) -> (f64, f64) {
    let (signer, jwk) = key_pair(alg);
    let (_, jkt) = proof_key(jwk.as_object().unwrap(), Alg::from_name(alg).unwrap()).unwrap();
    let checker = Proofs::new(ProofPolicy {
        server_url: "https://mcp.localhost".into(),
        max_age: std::time::Duration::from_secs(300),
        leeway: std::time::Duration::from_secs(30),
        replay_capacity: TOKENS * (ROUNDS + 1) * 2,
        replay_per_caller: TOKENS * (ROUNDS + 1) * 2,
        nonce: false,
    });
    let token = &tokens(alg, &signer, 1, "dpop")[0];
    let mut per_proof = Vec::new();
    for round in 0..=ROUNDS {
        let batch = proofs(alg, &signer, &jwk, token, TOKENS, &format!("r{round}"));
        let started = Instant::now();
        for proof in &batch {
            let presented = Presented {
                proof,
                method: "POST",
                path: "/mcp",
                token,
                jkt: &jkt,
            };
            let fresh = checker
                .check(&presented)
                .unwrap_or_else(|e| panic!("{alg} proof refused: {e}"));
            checker
                .remember(&fresh, 1)
                .unwrap_or_else(|e| panic!("{alg} proof refused: {e}"));
        }
        if round > 0 {
            per_proof.push(started.elapsed().as_secs_f64() * 1e6 / TOKENS as f64);
        }
    }
    per_proof.sort_by(f64::total_cmp);
    (per_proof[ROUNDS / 2], per_proof[0])
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let algs: Vec<&str> = if args.is_empty() {
        vec!["RS256", "PS256", "ES256", "EdDSA"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    println!("| algorithm | µs per token, median of {ROUNDS} rounds | fastest round |");
    println!("|---|---:|---:|");
    for &alg in &algs {
        let (signer, jwk) = key_pair(alg);
        let parsed = parse_jwks(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
        assert_eq!(parsed.keys.len(), 1, "{:?}", parsed.skipped);
        let policy = Policy {
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            leeway: std::time::Duration::from_secs(30),
        };
        let validator = Validator::new(
            policy,
            Arc::new(FixedKeys::new(parsed.keys)),
            (TOKENS * (ROUNDS + 1)) as u64,
            Arc::new(Metrics::new()),
        );
        let mut per_token = Vec::new();
        for round in 0..=ROUNDS {
            let batch = tokens(alg, &signer, TOKENS, &format!("r{round}"));
            let started = Instant::now();
            for t in &batch {
                runtime
                    .block_on(validator.validate(t, &traces::Span::default()))
                    .unwrap_or_else(|e| panic!("{alg} token refused: {e}"));
            }
            // Round 0 warms caches and the allocator; it is not counted.
            if round > 0 {
                per_token.push(started.elapsed().as_secs_f64() * 1e6 / TOKENS as f64);
            }
        }
        per_token.sort_by(f64::total_cmp);
        println!(
            "| {alg} | {:.1} | {:.1} |",
            per_token[ROUNDS / 2],
            per_token[0]
        );
    }
    println!();
    println!("| DPoP proof algorithm | µs per proof, median of {ROUNDS} rounds | fastest round |");
    println!("|---|---:|---:|");
    for alg in &algs {
        let (median, fastest) = proof_rounds(alg);
        println!("| {alg} | {median:.1} | {fastest:.1} |");
    }
}
