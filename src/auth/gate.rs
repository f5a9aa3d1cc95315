//! The [`Gate`] every protected route passes (RFC 6750 §2.1).
//!
//! The front layer runs the gate on every request for a protected route (`routes::Route`)
//! before any handler: a request gets through only if it carried exactly one bearer token in
//! the header, the token validated, and it holds every scope in `MCP_REQUIRED_SCOPES`. The gate
//! leaves the [`Principal`] in the request, where handlers take it from; no handler reads
//! `Authorization` itself. Tokens in the query string are refused (RFC 6750 §2.3 is not
//! supported, as the MCP authorization spec requires).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Uri};

use super::challenge::{AuthRejection, Challenges};
use super::error::AuthError;
use super::principal::{Principal, require_scopes};
use super::validator::Validator;
use crate::telemetry::Metrics;

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
        metrics.declare_rejections(super::error::Reason::ALL.map(super::error::Reason::as_str));
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
                    self.metrics.rejection(reason.as_str());
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
