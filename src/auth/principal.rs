//! The authenticated caller, and the [`Gate`] every protected route passes (RFC 6750 §2.1).
//!
//! The front layer runs the gate on every request for a protected route (`routes::Route`)
//! before any handler: a request gets through only if it carried exactly one bearer token in
//! the header, the token validated, and it holds every scope in `MCP_REQUIRED_SCOPES`. The gate
//! leaves the [`Principal`] in the request, where handlers take it from; no handler reads
//! `Authorization` itself. Tokens in the query string are refused (RFC 6750 §2.3 is not
//! supported, as the MCP authorization spec requires).

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::challenge::{AuthRejection, Challenges};
use super::error::AuthError;
use super::validator::Validator;
use crate::corpus::Access;
use crate::telemetry::Metrics;

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

/// The bearer-token check of protected routes, and what its answers need.
pub struct Gate {
    validator: Arc<Validator>,
    required_scopes: Vec<String>,
    challenges: Arc<Challenges>,
    metrics: Arc<Metrics>,
}

impl Gate {
    pub fn new(
        validator: Arc<Validator>,
        required_scopes: Vec<String>,
        challenges: Arc<Challenges>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Gate {
            validator,
            required_scopes,
            challenges,
            metrics,
        }
    }

    /// Lets the request in, leaving its [`Principal`] in it, or says why not.
    pub async fn admit(&self, req: &mut Request) -> Result<(), AuthRejection> {
        match self.authenticate(req.headers(), req.uri()).await {
            Ok(p) => {
                tracing::debug!(sub = p.subject.as_deref().unwrap_or(""), kid = %p.kid, jti = p.token_id.as_deref().unwrap_or(""), "authenticated");
                req.extensions_mut().insert(p);
                Ok(())
            }
            Err(error) => {
                if let Some(reason) = error.reason() {
                    self.metrics.rejection(reason);
                }
                match &error {
                    AuthError::Unavailable(_) => tracing::warn!(%error, "cannot verify tokens"),
                    AuthError::Missing => tracing::debug!("no bearer token"),
                    _ => tracing::info!(%error, "token refused"),
                }
                Err(AuthRejection {
                    error,
                    challenges: self.challenges.clone(),
                })
            }
        }
    }

    async fn authenticate(&self, headers: &HeaderMap, uri: &Uri) -> Result<Principal, AuthError> {
        if let Some(query) = uri.query()
            && url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
        {
            return Err(AuthError::InvalidRequest(
                "send the access token in the Authorization header; tokens in the URL are refused",
            ));
        }
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(AuthError::Missing);
        };
        if values.next().is_some() {
            return Err(AuthError::InvalidRequest(
                "send exactly one Authorization header",
            ));
        }
        let token = bearer_token(value.as_bytes()).ok_or(AuthError::Missing)?;
        let token = std::str::from_utf8(token)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AuthError::invalid(
                    super::error::Reason::Malformed,
                    "empty or non-ASCII bearer token",
                )
            })?;
        let principal = self.validator.validate(token).await?;
        require_scopes(&principal, &self.required_scopes)?;
        Ok(principal)
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

/// The credentials of a `Bearer` authorization header; the scheme is case-insensitive
/// (RFC 9110 §11.1). `None` for other schemes.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    Some(rest.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_matched_without_regard_to_case() {
        assert_eq!(bearer_token(b"bEaReR abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
    }
}
