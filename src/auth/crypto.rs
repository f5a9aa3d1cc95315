//! The one cryptographic backend of `jsonwebtoken` in this server: a verify-only
//! [`CryptoProvider`] on `ring`, the library rustls already uses here (RFC 7518 §3).
//!
//! `jsonwebtoken` is built without its own backends (`default-features = false`), so the binary
//! carries one crypto library, and nothing can decode a token until [`install`] has run:
//! [`super::Validator::new`] calls it, and the validator is the only code that decodes tokens.
//! The provider verifies RS256..512, PS256..512, ES256, ES384 and EdDSA (Ed25519); it refuses
//! HMAC outright (a server that holds only public keys has no business verifying a MAC) and
//! signs nothing.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self as sig, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

/// The provider: verification and digests on `ring`; signing and private-key helpers refuse.
pub(crate) static RING: CryptoProvider = CryptoProvider {
    signer_factory: refuse_signing,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(verify_only()),
        rsa_pub_components_from_public_key: |_| Err(verify_only()),
        ec_pub_components_from_private_key: |_, _| Err(verify_only()),
        ed_pub_components_from_private_key: |_: &[u8], _: &EllipticCurve| Err(verify_only()),
        compute_digest: digest,
    },
};

/// Makes [`RING`] the process-wide provider of `jsonwebtoken`. Calling it again is harmless;
/// it fails only if some other provider was installed first, which this crate never does.
pub(crate) fn install() -> std::result::Result<(), &'static str> {
    match RING.install_default() {
        Ok(()) => Ok(()),
        Err(installed) if std::ptr::eq(installed, &RING) => Ok(()),
        Err(_) => Err("another jsonwebtoken crypto provider was installed before this server's"),
    }
}

fn verify_only() -> Error {
    ErrorKind::Provider("this server only verifies tokens".into()).into()
}

fn refuse_signing(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Err(verify_only())
}

fn digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(ErrorKind::Provider("unknown thumbprint hash".into()).into()),
    };
    Ok(ring::digest::digest(algorithm, data).as_ref().to_vec())
}

/// How `ring` checks one algorithm; RSA moduli under 2048 bits fail inside `ring`.
enum RingScheme {
    Rsa(&'static signature::RsaParameters),
    /// ECDSA with fixed-length `r || s` signatures (RFC 7518 §3.4), or Ed25519.
    Point(&'static dyn signature::VerificationAlgorithm),
}

fn scheme(alg: Algorithm) -> Option<RingScheme> {
    use RingScheme::*;
    Some(match alg {
        Algorithm::RS256 => Rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => Rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => Rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => Rsa(&signature::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => Rsa(&signature::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => Rsa(&signature::RSA_PSS_2048_8192_SHA512),
        Algorithm::ES256 => Point(&signature::ECDSA_P256_SHA256_FIXED),
        Algorithm::ES384 => Point(&signature::ECDSA_P384_SHA384_FIXED),
        Algorithm::EdDSA => Point(&signature::ED25519),
        _ => return None,
    })
}

/// A public key and the one algorithm it verifies.
struct RingVerifier {
    alg: Algorithm,
    scheme: RingScheme,
    key: DecodingKey,
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let scheme = scheme(*alg).ok_or(ErrorKind::InvalidAlgorithm)?;
    // The key's form must fit the algorithm: RSA keys as (n, e), curve points as bytes.
    let fits = match (&scheme, key.kind()) {
        (RingScheme::Rsa(_), DecodingKeyKind::RsaModulusExponent { .. }) => true,
        (RingScheme::Point(_), DecodingKeyKind::SecretOrDer(_)) => key.family() == alg.family(),
        _ => false,
    };
    if !fits {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        scheme,
        key: key.clone(),
    }))
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), sig::Error> {
        let verified = match (&self.scheme, self.key.kind()) {
            (RingScheme::Rsa(params), DecodingKeyKind::RsaModulusExponent { n, e }) => {
                RsaPublicKeyComponents { n, e }.verify(params, message, signature)
            }
            (RingScheme::Point(alg), DecodingKeyKind::SecretOrDer(point)) => {
                UnparsedPublicKey::new(*alg, point).verify(message, signature)
            }
            _ => return Err(sig::Error::new()),
        };
        verified.map_err(|_| sig::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_refused_before_any_key_is_read() {
        let key = DecodingKey::from_secret(b"a shared secret").unwrap();
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let error = verifier(&alg, &key).err().expect("HMAC verifier built");
            assert!(
                matches!(error.kind(), ErrorKind::InvalidAlgorithm),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn a_key_of_another_form_than_its_algorithm_is_refused() {
        let rsa = DecodingKey::from_rsa_raw_components(&[0xc5; 256], &[1, 0, 1]);
        let point = DecodingKey::from_ec_der(&[4; 65]);
        assert!(verifier(&Algorithm::ES256, &rsa).is_err());
        assert!(verifier(&Algorithm::RS256, &point).is_err());
        assert!(verifier(&Algorithm::EdDSA, &point).is_err());
        assert!(verifier(&Algorithm::ES256, &point).is_ok());
    }

    #[test]
    fn the_provider_signs_nothing() {
        let key = EncodingKey::from_secret(b"k").unwrap();
        assert!(refuse_signing(&Algorithm::HS256, &key).is_err());
    }

    #[test]
    fn ring_is_the_only_crypto_library_in_the_build() {
        let lock = include_str!("../../Cargo.lock");
        assert!(lock.contains("name = \"ring\""));
        for other in [
            "aws-lc-rs",
            "aws-lc-sys",
            "rsa",
            "p256",
            "p384",
            "ed25519-dalek",
            "openssl-sys",
            "boring-sys",
        ] {
            assert!(
                !lock.contains(&format!("name = \"{other}\"")),
                "{other} is in Cargo.lock: jsonwebtoken must stay without its own backends"
            );
        }
    }

    #[test]
    fn installing_twice_is_harmless() {
        install().unwrap();
        install().unwrap();
    }
}
