//! Signature keys: parsing a JWK Set (RFC 7517) into verifying keys and checking JWS signatures
//! (RFC 7515, RFC 7518 §3) with `ring`.
//!
//! Only keys published for signing (`use: "sig"`) with an `alg` from [`Alg`] are kept; each key
//! pins its algorithm, so a token can never choose how it is verified (RFC 8725 §3.1). Encryption
//! keys, HMAC, `none` and keys too weak for their algorithm are left out with a reason.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

/// The signature algorithms this server accepts, all asymmetric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 9] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// The algorithm for a JOSE `alg` name, if it is one this server accepts.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }
}

#[derive(Debug)]
enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed SEC1 point, `0x04 || x || y`.
    Ec(Vec<u8>),
    Ed25519(Vec<u8>),
}

/// A public key that verifies signatures of exactly one algorithm.
#[derive(Debug)]
pub struct VerifyingKey {
    pub kid: String,
    pub alg: Alg,
    material: Material,
}

impl VerifyingKey {
    /// Checks `signature` over `message` (the JWS signing input).
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Rsa { n, e } => {
                let params = match self.alg {
                    Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            Material::Ec(point) => {
                let alg: &dyn signature::VerificationAlgorithm = match self.alg {
                    Alg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Alg::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
                    _ => return false,
                };
                UnparsedPublicKey::new(alg, point)
                    .verify(message, sig)
                    .is_ok()
            }
            Material::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
        }
    }
}

/// The fields of a JWK this server reads; everything else (`x5c`, `x5t`, ...) is ignored.
#[derive(Debug, Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of one JWKS document, by `kid`, and what was left out and why.
#[derive(Debug, Default)]
pub struct ParsedKeys {
    pub keys: HashMap<String, Arc<VerifyingKey>>,
    pub skipped: Vec<String>,
}

/// Parses a JWKS document. Fails only when the document itself is not a JWK Set; single keys
/// that cannot be used are listed in [`ParsedKeys::skipped`].
pub fn parse_jwks(body: &[u8]) -> Result<ParsedKeys, String> {
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| format!("not a JWK Set: {e}"))?;
    let mut parsed = ParsedKeys::default();
    let mut duplicates = Vec::new();
    for value in set.keys {
        let jwk: Jwk = match serde_json::from_value(value) {
            Ok(jwk) => jwk,
            Err(e) => {
                parsed.skipped.push(format!("unreadable key: {e}"));
                continue;
            }
        };
        match key_from_jwk(&jwk) {
            Ok(key) => {
                if parsed.keys.insert(key.kid.clone(), Arc::new(key)).is_some() {
                    duplicates.push(jwk.kid.unwrap_or_default());
                }
            }
            Err(reason) => parsed.skipped.push(format!(
                "kid {}: {reason}",
                jwk.kid.as_deref().unwrap_or("(none)")
            )),
        }
    }
    // Two signing keys with one kid make the choice ambiguous: use neither.
    for kid in duplicates {
        parsed.keys.remove(&kid);
        parsed
            .skipped
            .push(format!("kid {kid}: published more than once"));
    }
    Ok(parsed)
}

fn key_from_jwk(jwk: &Jwk) -> Result<VerifyingKey, String> {
    let kid = jwk.kid.clone().filter(|k| !k.is_empty()).ok_or("no kid")?;
    if jwk.use_.as_deref() != Some("sig") {
        return Err(format!(
            "use is {:?}, only \"sig\" keys verify tokens",
            jwk.use_.as_deref().unwrap_or("absent")
        ));
    }
    let alg_name = jwk.alg.as_deref().ok_or("no alg to pin")?;
    let alg = Alg::from_name(alg_name).ok_or_else(|| format!("alg {alg_name} is not allowed"))?;
    let kty = jwk.kty.as_deref().unwrap_or("");
    let material = match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
            expect(kty, "RSA")?;
            let n = b64(&jwk.n, "n")?;
            let e = b64(&jwk.e, "e")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(format!("RSA modulus of {bits} bits is below 2048"));
            }
            Material::Rsa { n, e }
        }
        Alg::ES256 | Alg::ES384 => {
            expect(kty, "EC")?;
            let (crv, len) = if alg == Alg::ES256 {
                ("P-256", 32)
            } else {
                ("P-384", 48)
            };
            if jwk.crv.as_deref() != Some(crv) {
                return Err(format!("{} needs crv {crv}", alg.name()));
            }
            let (x, y) = (b64(&jwk.x, "x")?, b64(&jwk.y, "y")?);
            if x.len() != len || y.len() != len {
                return Err("EC coordinates have the wrong length".into());
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            Material::Ec(point)
        }
        Alg::EdDSA => {
            expect(kty, "OKP")?;
            if jwk.crv.as_deref() != Some("Ed25519") {
                return Err("EdDSA is accepted with crv Ed25519 only".into());
            }
            let x = b64(&jwk.x, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 key must be 32 bytes".into());
            }
            Material::Ed25519(x)
        }
    };
    Ok(VerifyingKey { kid, alg, material })
}

fn expect(kty: &str, want: &str) -> Result<(), String> {
    if kty == want {
        Ok(())
    } else {
        Err(format!("kty {kty:?} does not match its alg (needs {want})"))
    }
}

fn b64(field: &Option<String>, name: &str) -> Result<Vec<u8>, String> {
    let text = field.as_deref().ok_or_else(|| format!("no {name}"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("{name} is not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_keys_and_hmac_keys_are_left_out() {
        let body = br#"{"keys":[
            {"kid":"enc","kty":"RSA","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"},
            {"kid":"hmac","kty":"oct","use":"sig","alg":"HS256","k":"c2VjcmV0"},
            {"kid":"noalg","kty":"RSA","use":"sig","n":"AQAB","e":"AQAB"}
        ]}"#;
        let parsed = parse_jwks(body).unwrap();
        assert!(parsed.keys.is_empty());
        assert_eq!(parsed.skipped.len(), 3, "{:?}", parsed.skipped);
    }

    #[test]
    fn a_short_rsa_modulus_is_refused() {
        let n = URL_SAFE_NO_PAD.encode([0xffu8; 128]);
        let body = format!(
            r#"{{"keys":[{{"kid":"k","kty":"RSA","use":"sig","alg":"RS256","n":"{n}","e":"AQAB"}}]}}"#
        );
        let parsed = parse_jwks(body.as_bytes()).unwrap();
        assert!(parsed.keys.is_empty());
        assert!(
            parsed.skipped[0].contains("1024 bits"),
            "{:?}",
            parsed.skipped
        );
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert!(parse_jwks(b"<html>").is_err());
        assert!(parse_jwks(b"{}").is_err());
    }

    #[test]
    fn hs256_and_none_are_not_algorithms_this_server_knows() {
        assert_eq!(Alg::from_name("HS256"), None);
        assert_eq!(Alg::from_name("none"), None);
        assert_eq!(Alg::from_name("rs256"), None);
        assert_eq!(Alg::from_name("RS256"), Some(Alg::RS256));
    }
}
