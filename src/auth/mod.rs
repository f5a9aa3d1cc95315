//! Authentication: who gets in. Implements the resource-server side of the MCP authorization
//! spec (2025-06-18 and later), RFC 6750 bearer tokens, RFC 9728 challenges and RFC 8725 JWT
//! validation against Keycloak's keys.
//!
//! - [`discovery`]: the outbound client, OpenID discovery and bounded document fetches;
//! - [`keys`]: JWK parsing into the keys `jsonwebtoken` verifies with;
//! - [`crypto`]: the verify-only `ring` backend of `jsonwebtoken`;
//! - [`jwks`]: the [`KeyStore`] trait and the cached, self-refreshing JWKS store;
//! - [`validator`]: token validation and the verified-token cache;
//! - [`principal`]: the [`Principal`] extractor that guards routes;
//! - [`challenge`] and [`error`]: the 401/403/503 answers.

pub mod challenge;
pub mod crypto;
pub mod discovery;
pub mod error;
pub mod gate;
pub mod jwks;
pub mod keys;
pub mod principal;
pub mod validator;

pub use error::{AuthError, Reason};
pub use gate::Gate;
pub use jwks::{JwksKeyStore, KeyStore};
pub use principal::{Identity, Principal};
pub use validator::{Policy, Rule, Validator};
