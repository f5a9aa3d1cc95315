//! Keys and Keycloak-shaped tokens for the tests: RSA keys from fixtures (ring cannot generate
//! RSA keys), EC and Ed25519 keys generated per run, and a minter for any header and claims.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use super::keycloak::ISSUER;

pub(crate) const RESOURCE: &str = "https://mcp.localhost/mcp";

fn rsa(pem: &str) -> RsaKeyPair {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(body).unwrap()).unwrap()
}

/// Ways to sign a token.
pub(crate) enum Signer<'a> {
    Rsa(&'a RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ec(&'a EcdsaKeyPair),
    Ed(&'a Ed25519KeyPair),
    Hmac(Vec<u8>),
    /// No signature at all (`alg: none`).
    Nothing,
}

/// Every key the tests use.
pub(crate) struct Keys {
    pub sig: RsaKeyPair,
    pub enc: RsaKeyPair,
    pub foreign: RsaKeyPair,
    pub rotated: RsaKeyPair,
    pub ec: EcdsaKeyPair,
    pub ed: Ed25519KeyPair,
}

impl Keys {
    pub(crate) fn new() -> Self {
        let rng = SystemRandom::new();
        let ec_doc =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .unwrap();
        let ed_doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Keys {
            sig: rsa(include_str!("../keys/sig.pem")),
            enc: rsa(include_str!("../keys/enc.pem")),
            foreign: rsa(include_str!("../keys/foreign.pem")),
            rotated: rsa(include_str!("../keys/rotated.pem")),
            ec: EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                ec_doc.as_ref(),
                &rng,
            )
            .unwrap(),
            ed: Ed25519KeyPair::from_pkcs8(ed_doc.as_ref()).unwrap(),
        }
    }

    /// A Keycloak-like JWKS: an RS256 signing key, an RSA-OAEP encryption key (which Keycloak
    /// publishes beside it), an ES256 key and an EdDSA key.
    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": [
            rsa_jwk(&self.sig, "rsa-sig", "sig", "RS256"),
            rsa_jwk(&self.enc, "rsa-enc", "enc", "RSA-OAEP"),
            ec_jwk(&self.ec, "ec-sig"),
            ed_jwk(&self.ed, "ed-sig"),
        ]})
    }

    /// The default signer: RS256 with the published signing key.
    pub(crate) fn rs256(&self) -> Signer<'_> {
        Signer::Rsa(&self.sig, &signature::RSA_PKCS1_SHA256)
    }
}

pub(crate) fn rsa_jwk(key: &RsaKeyPair, kid: &str, use_: &str, alg: &str) -> Value {
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
    json!({
        "kid": kid, "kty": "RSA", "alg": alg, "use": use_,
        "n": URL_SAFE_NO_PAD.encode(&public.n),
        "e": URL_SAFE_NO_PAD.encode(&public.e),
        "x5c": ["MIIC"], "x5t": "x", "x5t#S256": "y",
    })
}

fn ec_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
    let point = key.public_key().as_ref();
    json!({
        "kid": kid, "kty": "EC", "alg": "ES256", "use": "sig", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    })
}

fn ed_jwk(key: &Ed25519KeyPair, kid: &str) -> Value {
    json!({
        "kid": kid, "kty": "OKP", "alg": "EdDSA", "use": "sig", "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.public_key().as_ref()),
    })
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The header Keycloak puts on access tokens.
pub(crate) fn header(kid: &str) -> Value {
    json!({ "alg": "RS256", "typ": "JWT", "kid": kid })
}

/// The claims of a Keycloak access token for a user who linked ChatGPT.
pub(crate) fn claims() -> Value {
    let now = now();
    json!({
        "exp": now + 300,
        "iat": now,
        "jti": format!("onrtac:{now}-test"),
        "iss": ISSUER,
        "aud": [RESOURCE, "account"],
        "sub": "0f4a7a1e-1111-4c2b-9d7e-alice",
        "typ": "Bearer",
        "azp": "chatgpt",
        "sid": "5c1d0e0b-session",
        "acr": "1",
        "allowed-origins": ["https://chatgpt.com"],
        "realm_access": { "roles": ["default-roles-mcp", "offline_access", "staff"] },
        "resource_access": { "account": { "roles": ["manage-account", "view-profile"] } },
        "scope": "openid mcp:tools profile email",
        "email_verified": true,
        "preferred_username": "alice",
        "groups": ["/bakers"],
    })
}

/// Encodes and signs a token. The header is used as given, so it can lie about `alg`.
pub(crate) fn mint(header: &Value, claims: &Value, signer: &Signer) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(sign(input.as_bytes(), signer))
    )
}

pub(crate) fn sign(input: &[u8], signer: &Signer) -> Vec<u8> {
    let rng = SystemRandom::new();
    match signer {
        Signer::Rsa(key, encoding) => {
            let mut sig = vec![0; key.public().modulus_len()];
            key.sign(*encoding, &rng, input, &mut sig).unwrap();
            sig
        }
        Signer::Ec(key) => key.sign(&rng, input).unwrap().as_ref().to_vec(),
        Signer::Ed(key) => key.sign(input).as_ref().to_vec(),
        Signer::Hmac(secret) => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
            ring::hmac::sign(&key, input).as_ref().to_vec()
        }
        Signer::Nothing => Vec::new(),
    }
}

/// A valid RS256 access token with the default claims, changed by `edit`.
pub(crate) fn token_with(keys: &Keys, edit: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    edit(&mut c);
    mint(&header("rsa-sig"), &c, &keys.rs256())
}

/// A valid RS256 access token.
pub(crate) fn token(keys: &Keys) -> String {
    token_with(keys, |_| {})
}

/// A client's DPoP key (ES256) and the proofs it signs (RFC 9449 §4).
pub(crate) struct DpopKey {
    key: EcdsaKeyPair,
}

impl DpopKey {
    pub(crate) fn new() -> Self {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        DpopKey {
            key: EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                doc.as_ref(),
                &rng,
            )
            .unwrap(),
        }
    }

    /// The public key as a JWK, without `kid`, `alg` or `use`.
    pub(crate) fn jwk(&self) -> Value {
        let point = self.key.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// The RFC 7638 thumbprint, computed here from the members in their canonical order.
    pub(crate) fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    /// A valid access token bound to this key.
    pub(crate) fn bound_token(&self, keys: &Keys) -> String {
        let jkt = self.thumbprint();
        token_with(keys, |c| c["cnf"] = json!({ "jkt": jkt }))
    }

    /// A valid access token of the user `sub`, bound to this key.
    pub(crate) fn bound_token_for(&self, keys: &Keys, sub: &str) -> String {
        let jkt = self.thumbprint();
        token_with(keys, |c| {
            c["cnf"] = json!({ "jkt": jkt });
            c["sub"] = json!(sub);
        })
    }

    /// The replay-cache shard a proof of this key with `jti` fell into when shards were picked
    /// by the first byte of the proof's digest, SHA-256(jkt, 0, jti): what an attacker could
    /// grind `jti`s against.
    pub(crate) fn unkeyed_shard(&self, jti: &str) -> usize {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(self.thumbprint().as_bytes());
        ctx.update(&[0]);
        ctx.update(jti.as_bytes());
        ctx.finish().as_ref()[0] as usize % 16
    }

    /// The header and claims of a fresh proof for `method` on `url` with `token`.
    pub(crate) fn proof_parts(&self, method: &str, url: &str, token: &str) -> (Value, Value) {
        let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            token.as_bytes(),
        ));
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk() });
        let claims = json!({
            "jti": format!("{:x}", rand_u64()),
            "htm": method, "htu": url, "iat": now(), "ath": ath,
        });
        (header, claims)
    }

    /// A fresh, valid proof.
    pub(crate) fn proof(&self, method: &str, url: &str, token: &str) -> String {
        let (header, claims) = self.proof_parts(method, url, token);
        self.sign(&header, &claims)
    }

    /// Signs any header and claims with this key.
    pub(crate) fn sign(&self, header: &Value, claims: &Value) -> String {
        mint(header, claims, &Signer::Ec(&self.key))
    }
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).unwrap();
    u64::from_le_bytes(bytes)
}
