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

    /// The names of every accepted algorithm, for metadata and challenges.
    pub fn names() -> [&'static str; 9] {
        Alg::ALL.map(Alg::name)
    }

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

/// Why a JWK Set, or one key of it, or a DPoP proof's key, cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwkError {
    #[error("not a JWK Set: {0}")]
    NotASet(serde_json::Error),
    #[error("no kid")]
    NoKid,
    #[error("kid is longer than {MAX_KID_BYTES} bytes, so no token could name it")]
    LongKid,
    #[error("use is {0:?}, only \"sig\" keys verify tokens")]
    NotForSigning(String),
    #[error("no alg to pin")]
    NoAlg,
    #[error("alg {0} is not allowed")]
    AlgNotAllowed(String),
    #[error("the jwk holds the private or symmetric member `{0}`; send the public key only")]
    PrivateMember(&'static str),
    #[error("the jwk cannot be read: {0}")]
    Unreadable(serde_json::Error),
    #[error("the jwk is for {found}, not {wanted}")]
    OtherAlg { found: String, wanted: &'static str },
    #[error("kty {0:?} has no thumbprint")]
    NoThumbprint(Option<String>),
    #[error("RSA modulus of {0} bits is below 2048")]
    SmallRsa(usize),
    #[error("{alg} needs crv {crv}")]
    WrongCurve {
        alg: &'static str,
        crv: &'static str,
    },
    #[error("EC coordinates have the wrong length")]
    EcLength,
    #[error("EdDSA is accepted with crv Ed25519 only")]
    EdCurve,
    #[error("Ed25519 key must be 32 bytes")]
    EdLength,
    #[error("kty {kty:?} does not match its alg (needs {want})")]
    KtyMismatch { kty: String, want: &'static str },
    #[error("no {0}")]
    Missing(&'static str),
    #[error("{0} is not base64url")]
    NotBase64(&'static str),
}

/// The usable keys of one JWKS document, by `kid`, and what was left out and why.
#[derive(Debug, Default)]
pub struct ParsedKeys {
    pub keys: HashMap<String, Arc<VerifyingKey>>,
    pub skipped: Vec<String>,
}

/// Parses a JWKS document. Fails only when the document itself is not a JWK Set; single keys
/// that cannot be used are listed in [`ParsedKeys::skipped`].
pub fn parse_jwks(body: &[u8]) -> Result<ParsedKeys, JwkError> {
    let set: JwkSet = serde_json::from_slice(body).map_err(JwkError::NotASet)?;
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

fn key_from_jwk(jwk: &Jwk) -> Result<VerifyingKey, JwkError> {
    let kid = jwk
        .kid
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or(JwkError::NoKid)?;
    if kid.len() > MAX_KID_BYTES {
        return Err(JwkError::LongKid);
    }
    if jwk.use_.as_deref() != Some("sig") {
        return Err(JwkError::NotForSigning(
            jwk.use_.as_deref().unwrap_or("absent").to_owned(),
        ));
    }
    let alg_name = jwk.alg.as_deref().ok_or(JwkError::NoAlg)?;
    let alg =
        Alg::from_name(alg_name).ok_or_else(|| JwkError::AlgNotAllowed(alg_name.to_owned()))?;
    let decoding = decoding_key(jwk, alg)?;
    Ok(VerifyingKey { kid, alg, decoding })
}

/// The members of a private or symmetric key (RFC 7518 §6.2.2, §6.3.2, §6.4.1, RFC 8037 §2):
/// a JWK carrying any of them is not a public key.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The key of a DPoP proof (RFC 9449 §4.2): the public `jwk` of its header, to verify the proof
/// with `alg`, and the key's RFC 7638 thumbprint, which the token's `cnf.jkt` must equal.
pub fn proof_key(
    jwk: &serde_json::Map<String, serde_json::Value>,
    alg: Alg,
) -> Result<(DecodingKey, String), JwkError> {
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(JwkError::PrivateMember(member));
    }
    let parsed: Jwk = serde_json::from_value(serde_json::Value::Object(jwk.clone()))
        .map_err(JwkError::Unreadable)?;
    if parsed.alg.as_deref().is_some_and(|a| a != alg.name()) {
        return Err(JwkError::OtherAlg {
            found: parsed.alg.unwrap_or_default(),
            wanted: alg.name(),
        });
    }
    let decoding = decoding_key(&parsed, alg)?;
    Ok((decoding, thumbprint(&parsed)?))
}

/// The RFC 7638 thumbprint: base64url(SHA-256) of the key's required members, in
/// lexicographic order, without white space.
fn thumbprint(jwk: &Jwk) -> Result<String, JwkError> {
    let member = |v: &Option<String>| v.clone().unwrap_or_default();
    let canonical = match jwk.kty.as_deref() {
        Some("RSA") => serde_json::json!({"e": member(&jwk.e), "kty": "RSA", "n": member(&jwk.n)}),
        Some("EC") => serde_json::json!({
            "crv": member(&jwk.crv), "kty": "EC", "x": member(&jwk.x), "y": member(&jwk.y)
        }),
        Some("OKP") => {
            serde_json::json!({"crv": member(&jwk.crv), "kty": "OKP", "x": member(&jwk.x)})
        }
        other => return Err(JwkError::NoThumbprint(other.map(str::to_owned))),
    };
    // serde_json's map keeps its keys sorted, so this is the canonical form.
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.to_string().as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// The verifying key of `jwk` for `alg`, if its type, curve and size fit the algorithm.
fn decoding_key(jwk: &Jwk, alg: Alg) -> Result<DecodingKey, JwkError> {
    let kty = jwk.kty.as_deref().unwrap_or("");
    Ok(match alg {
        Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
            expect(kty, "RSA")?;
            let n = b64(&jwk.n, "n")?;
            let e = b64(&jwk.e, "e")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(JwkError::SmallRsa(bits));
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
                return Err(JwkError::WrongCurve {
                    alg: alg.name(),
                    crv,
                });
            }
            let (x, y) = (b64(&jwk.x, "x")?, b64(&jwk.y, "y")?);
            if x.len() != len || y.len() != len {
                return Err(JwkError::EcLength);
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
                return Err(JwkError::EdCurve);
            }
            let x = b64(&jwk.x, "x")?;
            if x.len() != 32 {
                return Err(JwkError::EdLength);
            }
            DecodingKey::from_ed_der(&x)
        }
    })
}

fn expect(kty: &str, want: &'static str) -> Result<(), JwkError> {
    if kty == want {
        Ok(())
    } else {
        Err(JwkError::KtyMismatch {
            kty: kty.to_owned(),
            want,
        })
    }
}

fn b64(field: &Option<String>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = field.as_deref().ok_or(JwkError::Missing(name))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwkError::NotBase64(name))
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
    fn the_thumbprint_is_the_one_rfc_7638_computes() {
        // RFC 7638 §3.1's example key and thumbprint.
        let jwk: serde_json::Value = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let (_, thumbprint) = proof_key(jwk.as_object().unwrap(), Alg::RS256).unwrap();
        assert_eq!(thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn a_proof_key_must_be_public_and_fit_its_algorithm() {
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"});
        let e = proof_key(ec.as_object().unwrap(), Alg::ES256).unwrap_err();
        assert!(matches!(e, JwkError::PrivateMember("d")), "{e}");
        assert!(e.to_string().contains("`d`"), "{e}");
        let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(proof_key(oct.as_object().unwrap(), Alg::ES256).is_err());
        let rsa = serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        assert!(proof_key(rsa.as_object().unwrap(), Alg::ES256).is_err());
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
