//! The compact serialization of a JWS (RFC 7515 §7.1), read one way for access tokens
//! (`claims.rs`) and DPoP proofs (`dpop.rs`): three base64url parts, of which the first two are
//! JSON. Nothing here verifies a signature; each caller words its own refusals.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;

/// A compact JWS split at its dots, nothing decoded yet.
pub(super) struct CompactJws<'a> {
    pub(super) header: &'a str,
    pub(super) payload: &'a str,
    pub(super) signature: &'a str,
}

/// Why a part of a compact JWS could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum PartError {
    #[error("not base64url")]
    NotBase64,
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

impl<'a> CompactJws<'a> {
    /// Splits `text` into exactly three dot-separated parts; `None` for any other count (an
    /// encrypted JWT has five).
    pub(super) fn split(text: &'a str) -> Option<Self> {
        let mut parts = text.split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(header), Some(payload), Some(signature), None) => Some(CompactJws {
                header,
                payload,
                signature,
            }),
            _ => None,
        }
    }

    /// The signing input: the header and payload as sent, joined by their dot.
    pub(super) fn signed(&self, text: &'a str) -> &'a str {
        &text[..self.header.len() + 1 + self.payload.len()]
    }

    /// Whether a part is base64url (unpadded), as every part must be.
    pub(super) fn is_base64url(part: &str) -> bool {
        URL_SAFE_NO_PAD.decode(part).is_ok()
    }

    /// The JSON of a base64url part, read as `T`.
    pub(super) fn json<T: DeserializeOwned>(part: &str) -> Result<T, PartError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| PartError::NotBase64)?;
        Ok(serde_json::from_slice(&bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::CompactJws;

    #[test]
    fn only_three_parts_are_a_compact_jws() {
        for bad in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e"] {
            assert!(CompactJws::split(bad).is_none(), "{bad}");
        }
        let text = "eyJh.eyJi.c2ln";
        let jws = CompactJws::split(text).unwrap();
        assert_eq!(
            (jws.header, jws.payload, jws.signature),
            ("eyJh", "eyJi", "c2ln")
        );
        assert_eq!(jws.signed(text), "eyJh.eyJi");
    }

    #[test]
    fn a_part_must_be_base64url_json() {
        let e = CompactJws::json::<serde_json::Value>("not base64!").unwrap_err();
        assert_eq!(e.to_string(), "not base64url");
        assert!(CompactJws::json::<serde_json::Value>("bm90IGpzb24").is_err());
        let ok: serde_json::Value = CompactJws::json("eyJhIjoxfQ").unwrap();
        assert_eq!(ok["a"], 1);
    }
}
