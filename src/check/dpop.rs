//! `check --dpop`: the key `check` makes for itself (ES256, new at each run) and the DPoP
//! proofs it signs with it (RFC 9449 §4.2), to get a DPoP-bound token and use it as a client
//! would. The token it gets is judged by the server's own proof checker (`crate::auth::dpop`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Map, Value, json};

use crate::auth::jwk::{Alg, JwkError, proof_key};
use crate::auth::validator::unix_now;

/// Why `check` could not make its DPoP key.
#[derive(Debug, thiserror::Error)]
pub(super) enum ProofKeyError {
    #[error("cannot make a P-256 key")]
    Make,
    #[error("cannot read the P-256 key just made")]
    Read,
    #[error("the server would refuse the key just made: {0}")]
    Refused(#[from] JwkError),
}

/// A DPoP key of `check`'s own.
pub(super) struct ProofKey {
    pair: EcdsaKeyPair,
    jwk: Map<String, Value>,
    rng: SystemRandom,
}

impl ProofKey {
    pub(super) fn new() -> Result<Self, ProofKeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| ProofKeyError::Make)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| ProofKeyError::Read)?;
        let point = pair.public_key().as_ref();
        let Value::Object(jwk) = json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }) else {
            unreachable!("a JSON object literal")
        };
        // The key as the server will read it from each proof.
        proof_key(&jwk, Alg::ES256)?;
        Ok(ProofKey { pair, jwk, rng })
    }

    /// A fresh proof for `method` on `url`; with `token`, bound to it by `ath`; with `nonce`,
    /// carrying the server's nonce (§8, §9).
    pub(super) fn proof(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut jti = [0u8; 16];
        let _ = self.rng.fill(&mut jti);
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": url,
            "iat": unix_now(),
        });
        if let Some(token) = token {
            let hash = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            claims["ath"] = URL_SAFE_NO_PAD.encode(hash.as_ref()).into();
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{input}.{signature}")
    }
}
