//! The [`Gate`] every protected route passes (RFC 6750 §2.1, RFC 9449 §7).
//!
//! The front layer runs the gate on every request for a protected route (`routes::Route`)
//! before any handler: a request gets through only if it carried exactly one access token in
//! the header, the token validated, its binding held (a `Bearer` token unbound, a `DPoP` token
//! DPoP-bound with a valid proof in the one `DPoP` header), and it holds every scope in
//! `MCP_REQUIRED_SCOPES`. The gate leaves the [`Principal`] in the request, where handlers take
//! it from; no handler reads `Authorization` itself. Tokens in the query string are refused (RFC 6750 §2.3 is not
//! supported, as the MCP authorization spec requires).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};

use super::challenge::{AuthRejection, Challenges};
use super::dpop::{Fresh, Presented, Proofs};
use super::error::Scheme;
use super::error::{AuthError, Reason};
use super::principal::{Principal, require_binding, require_scopes};
use super::validator::{Validator, unix_now};
use crate::replicas::{FirstUse, Replicas};
use crate::telemetry::audit::{self, Audit};
use crate::telemetry::{Metrics, RequestId, traces};

/// What the gate decided of a request it let in: the nonce to hand out, and the proof still to
/// be remembered once the caller's allowance is taken ([`Gate::remember`]).
#[must_use = "an admitted request's proof must be remembered before it is served"]
pub struct Admitted {
    pub nonce: Option<HeaderValue>,
    proof: Option<Fresh>,
}

/// The bearer-token check of protected routes, and what its answers need.
pub struct Gate {
    validator: Arc<Validator>,
    required_scopes: Vec<String>,
    /// DPoP proofs, and whether Bearer tokens are refused (`MCP_DPOP_REQUIRED`).
    proofs: Arc<Proofs>,
    /// The replay window the replicas share, when they share one.
    replicas: Arc<Replicas>,
    dpop_required: bool,
    challenges: Arc<Challenges>,
    metrics: Arc<Metrics>,
    audit: Audit,
}

impl Gate {
    pub fn new(
        validator: Arc<Validator>,
        settings: &crate::config::Settings,
        proofs: Arc<Proofs>,
        replicas: Arc<Replicas>,
        challenges: Arc<Challenges>,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.declare_rejections(Reason::ALL.map(Reason::as_str));
        Gate {
            validator,
            required_scopes: settings.required_scopes.clone(),
            proofs,
            replicas,
            dpop_required: settings.dpop.required,
            challenges,
            metrics,
            audit: Audit::new(settings.audit_queries),
        }
    }

    /// Lets the request in, leaving its [`Principal`] in it, or says why not. With
    /// `MCP_DPOP_NONCE`, a request with the DPoP scheme is given a nonce for its next proof,
    /// which the caller sends in `DPoP-Nonce` with the answer. A DPoP proof is checked here but
    /// remembered only by [`Gate::remember`], which the front layer calls once the caller's
    /// allowance admits the request, so a refused request takes no room in the replay cache.
    pub async fn admit(&self, req: &mut Request) -> Result<Admitted, AuthRejection> {
        let nonce = self.nonce_for(req.headers());
        // In a trace: whether the token came from the cache, and why it was refused.
        let span = match req.extensions().get::<RequestId>() {
            Some(id) => id.span().child(|| "token check".into(), Vec::new),
            None => traces::Span::default(),
        };
        let checked = self
            .authenticate(req.method(), req.headers(), req.uri(), &span)
            .await;
        match checked {
            Ok((p, proof)) => {
                span.end();
                tracing::debug!(sub = p.subject.as_deref().unwrap_or(""), kid = %p.kid, jti = p.token_id.as_deref().unwrap_or(""), "authenticated");
                req.extensions_mut().insert(p);
                Ok(Admitted { nonce, proof })
            }
            Err(error) => {
                let reason = error.reason().map(Reason::as_str);
                span.fail(reason.unwrap_or("unavailable"));
                span.end();
                Err(self.refuse(&RequestId::of(req), error, nonce))
            }
        }
    }

    /// The replay rule, for a request [`Gate::admit`] let in and its caller's allowance
    /// admitted: its proof, if any, must not have been used before, here or at another replica,
    /// and `caller` (one user through one client) must have room left in its share of the
    /// replay cache. Gives back the nonce to hand out.
    pub async fn remember(
        &self,
        request_id: &RequestId,
        admitted: Admitted,
        caller: u64,
    ) -> Result<Option<HeaderValue>, AuthRejection> {
        let Some(fresh) = admitted.proof else {
            return Ok(admitted.nonce);
        };
        let remembered = match self.proofs.remember(&fresh, caller) {
            Ok(()) => self.first_use(fresh).await,
            Err(e) => Err(e),
        };
        match remembered {
            Ok(()) => Ok(admitted.nonce),
            Err(error) => Err(self.refuse(request_id, error, admitted.nonce)),
        }
    }

    /// Counts, audits and logs a refusal, and makes its answer.
    fn refuse(
        &self,
        request_id: &RequestId,
        error: AuthError,
        dpop_nonce: Option<HeaderValue>,
    ) -> AuthRejection {
        let reason = error.reason().map(Reason::as_str);
        if let Some(reason) = reason {
            self.metrics.rejection(reason);
        }
        let outcome = match (&error, reason) {
            (AuthError::TooManyProofs { .. }, _) => {
                self.metrics.fair_use_refusal("dpop_proofs");
                audit::CallOutcome::Refused("limited")
            }
            (_, Some(reason)) => audit::CallOutcome::Refused(reason),
            (_, None) => audit::CallOutcome::Error,
        };
        // Nothing of a refused token is trusted, so the event names no one.
        self.audit.record(&audit::Event {
            request_id: request_id.as_str(),
            who: audit::Who::default(),
            tool: None,
            outcome,
            detail: audit::Detail::None,
        });
        match &error {
            AuthError::Unavailable(_) => tracing::warn!(%error, "cannot verify tokens"),
            AuthError::Missing => tracing::debug!("no bearer token"),
            _ => tracing::info!(%error, "token refused"),
        }
        AuthRejection {
            error,
            challenges: self.challenges.clone(),
            dpop_nonce,
        }
    }

    /// A nonce for the next proof, when nonces are asked for and the request used DPoP.
    fn nonce_for(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        if !self.proofs.wants_nonce() {
            return None;
        }
        let value = headers.get(AUTHORIZATION)?;
        let (Scheme::Dpop, _) = credentials(value.as_bytes())? else {
            return None;
        };
        HeaderValue::from_str(&self.proofs.nonce()).ok()
    }

    async fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
        uri: &Uri,
        span: &traces::Span,
    ) -> Result<(Principal, Option<Fresh>), AuthError> {
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
        let (scheme, token) = credentials(value.as_bytes()).ok_or(AuthError::Missing)?;
        let token = std::str::from_utf8(token)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AuthError::invalid(Reason::Malformed, "empty or non-ASCII access token")
            })?;
        let principal = self.validator.validate(token, span).await?;
        let fresh = require_binding(scheme, &principal, self.dpop_required, |jkt| {
            self.check_proof(method, headers, uri, token, jkt)
        })?;
        require_scopes(&principal, &self.required_scopes)?;
        Ok((principal, fresh))
    }

    /// The replay rule across replicas: a proof this replica had not seen must not have been
    /// used at another one either (`crate::replicas`; without shared state this replica's
    /// window is the whole rule).
    async fn first_use(&self, fresh: Fresh) -> Result<(), AuthError> {
        let left = fresh.until.saturating_sub(unix_now()).max(1);
        let ttl = Duration::from_secs(u64::try_from(left).unwrap_or(1));
        match self.replicas.first_use(&fresh.key, ttl).await {
            FirstUse::Replayed => Err(AuthError::invalid(
                Reason::DpopReplayed,
                "this proof's jti was used before, at another replica; make a fresh proof for each request",
            )),
            FirstUse::First | FirstUse::Unknown => Ok(()),
        }
    }

    /// The proof of a DPoP-bound token: the one `DPoP` header must hold a valid proof of the key
    /// the token is bound to.
    fn check_proof(
        &self,
        method: &Method,
        headers: &HeaderMap,
        uri: &Uri,
        token: &str,
        jkt: &str,
    ) -> Result<Fresh, AuthError> {
        let mut proofs = headers.get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return Err(AuthError::invalid(
                Reason::DpopProof,
                "not exactly one DPoP header",
            ));
        };
        let proof = proof
            .to_str()
            .map_err(|_| AuthError::invalid(Reason::DpopProof, "the DPoP header is not ASCII"))?;
        self.proofs.check(&Presented {
            proof: proof.trim(),
            method: method.as_str(),
            path: uri.path(),
            token,
            jkt,
        })
    }
}

/// The scheme and credentials of an authorization header; the scheme is case-insensitive
/// (RFC 9110 §11.1). `None` for schemes other than `Bearer` and `DPoP`.
fn credentials(value: &[u8]) -> Option<(Scheme, &[u8])> {
    let space = value.iter().position(|b| *b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    Some((scheme, rest.trim_ascii()))
}

impl crate::telemetry::Scraped for Gate {
    fn scrape(&self, s: &mut crate::telemetry::Scrape<'_>) -> std::fmt::Result {
        let help =
            "DPoP proofs remembered to refuse their replay (at most MCP_DPOP_REPLAY_CACHE_SIZE)";
        s.gauge("dpop_replay_entries", help, self.proofs.remembered() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::{Scheme, credentials};

    #[test]
    fn the_scheme_is_matched_without_regard_to_case() {
        let token = |v: &'static [u8]| credentials(v).map(|(_, t)| t);
        assert_eq!(token(b"bEaReR abc"), Some(&b"abc"[..]));
        assert_eq!(token(b"Bearer   abc "), Some(&b"abc"[..]));
        assert!(matches!(
            credentials(b"dpop abc"),
            Some((Scheme::Dpop, b"abc"))
        ));
        assert_eq!(token(b"Basic abc"), None);
        assert_eq!(token(b"Bearer"), None);
    }
}
