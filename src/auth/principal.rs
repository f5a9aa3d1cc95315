//! The authenticated caller ([`Principal`]), as the gate (`super::gate`) leaves it in the
//! request, and the scope rule.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::{AuthError, Scheme};
use crate::corpus::Access;

/// The claims of a validated access token that tools and logs use.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub scopes: Vec<String>,
    pub realm_roles: Vec<String>,
    pub client_roles: HashMap<String, Vec<String>>,
    pub groups: Vec<String>,
    pub session_id: Option<String>,
    pub token_id: Option<String>,
    /// The key that signed the token.
    pub kid: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// The thumbprint of the key a DPoP-bound token is bound to (`cnf.jkt`).
    pub jkt: Option<String>,
    /// The document access terms of the caller, worked out by the tools on the first call and
    /// then kept with the verified token for as long as it stays in the token cache.
    pub access: OnceLock<Access>,
}

impl Identity {
    /// Who the token speaks for, `sub` and `azp`, as SHA-256: the same on every replica, and
    /// nothing a client sent in the clear.
    pub fn caller_digest(&self) -> [u8; 32] {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        for name in [&self.subject, &self.client_id] {
            // Unset and empty names differ; the separator keeps ("ab", "c") from ("a", "bc").
            match name {
                Some(name) => {
                    digest.update(b"+");
                    digest.update(name.as_bytes());
                }
                None => digest.update(b"-"),
            }
            digest.update(&[0]);
        }
        digest
            .finish()
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes")
    }
}

/// A validated caller; cheap to clone.
#[derive(Debug, Clone)]
pub struct Principal(Arc<Identity>);

impl Principal {
    pub fn new(identity: Identity) -> Self {
        Principal(Arc::new(identity))
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl Deref for Principal {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.0
    }
}

/// Handlers take the [`Principal`] the gate left in the request. A handler on a route the
/// gate does not guard finds none and refuses the request: being reachable without the gate
/// is a bug in the route table, never a way in.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a handler that needs a caller is on a route the gate does not guard");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({
                    "error": "server_error",
                    "error_description": "this route is misconfigured on the server; tell the operator",
                })),
            )
                .into_response()
        })
    }
}

/// The binding rule, for the gate and `check` alike. A DPoP-bound token is useless to a thief
/// only if its proof is checked, so one sent as `Bearer` is refused, and with `dpop_required`
/// (`MCP_DPOP_REQUIRED`) every Bearer token is. A token sent as `DPoP` must be DPoP-bound, and
/// `proof` must accept the request's proof of the key it is bound to (its `cnf.jkt`).
pub(crate) fn require_binding<T>(
    scheme: Scheme,
    principal: &Principal,
    dpop_required: bool,
    proof: impl FnOnce(&str) -> Result<T, AuthError>,
) -> Result<Option<T>, AuthError> {
    use super::error::Reason;
    match (scheme, principal.jkt.as_deref()) {
        (Scheme::Bearer, Some(_)) => Err(AuthError::invalid(
            Reason::DpopBound,
            "the token is DPoP-bound (cnf.jkt) and was sent as a Bearer token",
        )),
        (Scheme::Bearer, None) if dpop_required => Err(AuthError::invalid(
            Reason::DpopRequired,
            "a Bearer token where MCP_DPOP_REQUIRED asks for DPoP",
        )),
        (Scheme::Bearer, None) => Ok(None),
        (Scheme::Dpop, None) => Err(AuthError::invalid(
            Reason::DpopNotBound,
            "the DPoP scheme with a token without cnf.jkt",
        )),
        (Scheme::Dpop, Some(jkt)) => proof(jkt).map(Some),
    }
}

/// The scope rule: a token must carry every scope in `required` (`MCP_REQUIRED_SCOPES`).
pub(crate) fn require_scopes(principal: &Principal, required: &[String]) -> Result<(), AuthError> {
    let missing: Vec<String> = required
        .iter()
        .filter(|s| !principal.has_scope(s))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(AuthError::InsufficientScope { missing })
    }
}
