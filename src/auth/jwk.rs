//! Signature keys: parsing a JWK Set (RFC 7517) into the verifying keys `jsonwebtoken` checks
//! JWS signatures with (RFC 7515, RFC 7518 §3).
//!
//! Only keys published for signing (`use: "sig"`) with an `alg` from [`Alg`] are kept; each key
//! pins its algorithm, so a token can never choose how it is verified (RFC 8725 §3.1). Encryption
//! keys, HMAC, `none` and keys too weak for their algorithm are left out with a reason.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;

/// The longest `kid` a token may name, or a published key may carry (Keycloak's are 43 bytes).
pub const MAX_KID_BYTES: usize = 256;

/// The signature algorithms this server accepts, all asymmetric. Declared in the order of
/// [`Alg::ALL`], so `alg as usize` indexes per-algorithm tables.
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

    /// The same algorithm as `jsonwebtoken` names it.
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Alg::RS256 => J::RS256,
            Alg::RS384 => J::RS384,
            Alg::RS512 => J::RS512,
            Alg::PS256 => J::PS256,
            Alg::PS384 => J::PS384,
            Alg::PS512 => J::PS512,
            Alg::ES256 => J::ES256,
            Alg::ES384 => J::ES384,
            Alg::EdDSA => J::EdDSA,
        }
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

/// A public key that verifies signatures of exactly one algorithm.
#[derive(Debug)]
pub struct VerifyingKey {
    pub kid: String,
    pub alg: Alg,
    /// The key as `jsonwebtoken` takes it: RSA `(n, e)`, an uncompressed EC point
    /// (`0x04 || x || y`), or the 32 bytes of an Ed25519 key.
    pub decoding: DecodingKey,
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
    if kid.len() > MAX_KID_BYTES {
        return Err(format!(
            "kid is longer than {MAX_KID_BYTES} bytes, so no token could name it"
        ));
    }
    if jwk.use_.as_deref() != Some("sig") {
        return Err(format!(
            "use is {:?}, only \"sig\" keys verify tokens",
            jwk.use_.as_deref().unwrap_or("absent")
        ));
    }
    let alg_name = jwk.alg.as_deref().ok_or("no alg to pin")?;
    let alg = Alg::from_name(alg_name).ok_or_else(|| format!("alg {alg_name} is not allowed"))?;
    let kty = jwk.kty.as_deref().unwrap_or("");
    let decoding = match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
            expect(kty, "RSA")?;
            let n = b64(&jwk.n, "n")?;
            let e = b64(&jwk.e, "e")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(format!("RSA modulus of {bits} bits is below 2048"));
            }
            DecodingKey::from_rsa_raw_components(&n, &e)
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
            DecodingKey::from_ec_der(&point)
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
            DecodingKey::from_ed_der(&x)
        }
    };
    Ok(VerifyingKey { kid, alg, decoding })
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
    fn algorithms_are_declared_in_the_order_of_all() {
        for (i, alg) in Alg::ALL.into_iter().enumerate() {
            assert_eq!(alg as usize, i, "{alg:?}");
            assert_eq!(format!("{:?}", alg.jwt()), alg.name());
        }
    }

    #[test]
    fn hs256_and_none_are_not_algorithms_this_server_knows() {
        assert_eq!(Alg::from_name("HS256"), None);
        assert_eq!(Alg::from_name("none"), None);
        assert_eq!(Alg::from_name("rs256"), None);
        assert_eq!(Alg::from_name("RS256"), Some(Alg::RS256));
    }
}
