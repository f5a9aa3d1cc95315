//! Authentication: who gets in. Implements the resource-server side of the MCP authorization
//! spec (2025-06-18 and later), RFC 6750 bearer tokens, RFC 9728 challenges and RFC 8725 JWT
//! validation against Keycloak's keys.
//!
//! - [`outbound`]: the one HTTP client to Keycloak, OpenID discovery and bounded fetches;
//! - [`jwk`]: JWK parsing into the keys `jsonwebtoken` verifies with;
//! - `crypto`: the verify-only `ring` backend of `jsonwebtoken`;
//! - [`key_store`]: the [`KeyStore`] trait and the cached, self-refreshing JWKS store, fed by
//!   Keycloak through the [`key_store::JwksSource`] trait;
//! - `validator`: token validation and the verified-token cache, with `claims` (what it reads
//!   out of a token and the checks that need only the token);
//! - `gate`: the check every protected route passes; `principal`: the caller it leaves;
//! - [`challenge`] and `error`: the 401/403/503 answers.

pub mod challenge;
mod claims;
pub(crate) mod crypto;
pub mod dpop;
pub(crate) mod error;
pub(crate) mod gate;
pub mod jwk;
mod jws;
pub mod key_store;
pub mod outbound;
pub(crate) mod principal;
pub(crate) mod validator;

pub use error::{AuthError, Reason, Rule};
pub use gate::Gate;
pub use key_store::{JwksKeyStore, KeyStore, KeycloakJwks};
pub use principal::{Identity, Principal};
pub use validator::{Policy, Validator};
