//! The authenticated caller ([`Principal`]), as the gate (`super::gate`) leaves it in the
//! request, and the scope rule.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::AuthError;
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

/// The binding rule for a token sent as `Bearer`: a DPoP-bound token is useless to a thief only
/// if its proof is checked, so it must come with the DPoP scheme and a proof.
pub fn require_bearer(principal: &Principal) -> Result<(), AuthError> {
    match principal.jkt {
        Some(_) => Err(AuthError::invalid(
            super::error::Reason::DpopBound,
            "the token is DPoP-bound (cnf.jkt) and was sent as a Bearer token",
        )),
        None => Ok(()),
    }
}

/// The scope rule: a token must carry every scope in `required` (`MCP_REQUIRED_SCOPES`).
pub fn require_scopes(principal: &Principal, required: &[String]) -> Result<(), AuthError> {
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
