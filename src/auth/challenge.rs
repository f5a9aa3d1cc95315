//! `WWW-Authenticate: Bearer` challenges (RFC 6750 §3, RFC 9728 §5.1), built once at start-up,
//! and [`AuthRejection`], the one place where authentication failures become status codes,
//! challenge headers and JSON bodies.
//!
//! Every challenge names the protected-resource metadata URL so clients can discover the
//! authorization server, and the scopes they should ask for. Descriptions are fixed per reason
//! and say what the caller should do; the specifics of a rejection go to the log only.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{AuthError, Reason};
use crate::config::Settings;

/// Precomputed header values, cloned per response.
#[derive(Debug)]
pub struct Challenges {
    /// The challenges of a request without credentials: `Bearer` (unless `MCP_DPOP_REQUIRED`)
    /// and `DPoP` with the accepted algorithms (RFC 9449 §7.1), one header line each.
    pub missing: Vec<HeaderValue>,
    pub insufficient_scope: HeaderValue,
    /// The `invalid_token` challenge and description of each reason, indexed by the reason.
    invalid: [(HeaderValue, String); Reason::ALL.len()],
    resource_metadata: String,
}

impl Challenges {
    pub fn new(settings: &Settings) -> Self {
        let resource_metadata = settings.metadata_url();
        let scope = settings.required_scopes.join(" ");
        let algs = dpop_algs();
        let invalid = Reason::ALL.map(|reason| {
            let text = description(settings, reason);
            let value = match reason {
                Reason::DpopNonce => challenge(
                    "DPoP",
                    &[
                        ("error", "use_dpop_nonce"),
                        ("error_description", &text),
                        ("algs", &algs),
                        ("resource_metadata", &resource_metadata),
                    ],
                ),
                _ if reason.is_proof() => challenge(
                    "DPoP",
                    &[
                        ("error", "invalid_dpop_proof"),
                        ("error_description", &text),
                        ("algs", &algs),
                        ("resource_metadata", &resource_metadata),
                    ],
                ),
                Reason::DpopNotBound | Reason::DpopRequired => challenge(
                    "DPoP",
                    &[
                        ("error", "invalid_token"),
                        ("error_description", &text),
                        ("algs", &algs),
                        ("resource_metadata", &resource_metadata),
                        ("scope", &scope),
                    ],
                ),
                _ => header(&[
                    ("error", "invalid_token"),
                    ("error_description", &text),
                    ("resource_metadata", &resource_metadata),
                    ("scope", &scope),
                ]),
            };
            (value, text)
        });
        let bearer = header(&[("resource_metadata", &resource_metadata), ("scope", &scope)]);
        let dpop = challenge(
            "DPoP",
            &[
                ("algs", &algs),
                ("resource_metadata", &resource_metadata),
                ("scope", &scope),
            ],
        );
        Challenges {
            missing: if settings.dpop.required {
                vec![dpop]
            } else {
                vec![bearer, dpop]
            },
            insufficient_scope: insufficient_scope_header(
                &resource_metadata,
                &settings.required_scopes,
                &invalid[Reason::InsufficientScope as usize].1,
            ),
            invalid,
            resource_metadata,
        }
    }

    /// The 401 challenge for a refused token.
    pub fn invalid_token(&self, reason: Reason) -> HeaderValue {
        self.invalid[reason as usize].0.clone()
    }

    /// The fixed description for a reason, also sent in the JSON body.
    pub fn description(&self, reason: Reason) -> &str {
        &self.invalid[reason as usize].1
    }

    /// The 400 challenge for a malformed request.
    pub fn invalid_request(&self, why: &str) -> HeaderValue {
        header(&[
            ("error", "invalid_request"),
            ("error_description", why),
            ("resource_metadata", &self.resource_metadata),
        ])
    }

    /// A 403 challenge naming other scopes, for tools with scopes of their own.
    pub fn insufficient_scope_for(&self, scopes: &[String], description: &str) -> HeaderValue {
        insufficient_scope_header(&self.resource_metadata, scopes, description)
    }
}

fn insufficient_scope_header(
    resource_metadata: &str,
    scopes: &[String],
    description: &str,
) -> HeaderValue {
    header(&[
        ("error", "insufficient_scope"),
        ("scope", &scopes.join(" ")),
        ("resource_metadata", resource_metadata),
        ("error_description", description),
    ])
}

/// What the caller should do about each reason; fixed at start-up, so no token detail leaks.
fn description(s: &Settings, reason: Reason) -> String {
    match reason {
        Reason::Missing => {
            "send an access token in the Authorization header as Bearer <token>".into()
        }
        Reason::Malformed => "the access token is not a well-formed signed JWT".into(),
        Reason::BadSignature => "the access token's signature or algorithm is not accepted".into(),
        Reason::UnknownKid => {
            "the access token was signed with a key the issuer does not publish; obtain a new token"
                .into()
        }
        Reason::Expired => "the access token has expired; obtain a new one".into(),
        Reason::NotYetValid => {
            "the access token is not valid yet; check the clocks of the issuer and this server"
                .into()
        }
        Reason::WrongIssuer => format!("the access token was not issued by {}", s.issuer),
        Reason::WrongAudience => format!(
            "the access token's audience does not include {}; request it with resource={} or add an audience mapper",
            s.audiences[0], s.resource
        ),
        Reason::WrongType => {
            "the token is not an access token; send the access token, not an ID or refresh token"
                .into()
        }
        Reason::DpopBound => {
            "the access token is DPoP-bound (cnf.jkt) and cannot be used as a Bearer token; request a token without DPoP for this resource"
                .into()
        }
        Reason::SenderConstrained => {
            "the access token is bound to a key or certificate (cnf) this server cannot check; request an unbound token for this resource"
                .into()
        }
        Reason::DpopNotBound => "the access token sent with the DPoP scheme is not DPoP-bound (no cnf.jkt); send it as Bearer, or request a DPoP-bound token".into(),
        Reason::DpopRequired => "this resource takes DPoP-bound access tokens only; request a token with DPoP and send it as DPoP <token> with a DPoP proof".into(),
        Reason::DpopProof => "send exactly one DPoP header holding a proof JWT of typ dpop+jwt with jti, htm, htu, iat and ath (RFC 9449 §4.2)".into(),
        Reason::DpopKey => "the DPoP proof must be signed with an accepted asymmetric algorithm and carry the public key only in jwk".into(),
        Reason::DpopSignature => "the DPoP proof's signature does not verify with its jwk".into(),
        Reason::DpopMethod => "the DPoP proof's htm is not this request's method".into(),
        Reason::DpopUrl => format!("the DPoP proof's htu is not this request's URL; send {}<path> without query or fragment", s.server_url),
        Reason::DpopStale => format!("the DPoP proof's iat is older than {} s or in the future; make a fresh proof for each request", s.dpop.max_age.as_secs()),
        Reason::DpopAth => "the DPoP proof's ath is not the SHA-256 of the access token it comes with".into(),
        Reason::DpopThumbprint => "the DPoP proof is signed with another key than the one the access token is bound to (cnf.jkt)".into(),
        Reason::DpopReplayed => "this DPoP proof was used before; make a fresh proof, with a new jti, for each request".into(),
        Reason::DpopNonce => "make the DPoP proof again with the nonce this answer's DPoP-Nonce header gives".into(),
        Reason::InsufficientScope => format!(
            "the access token lacks a required scope; request the scopes {}",
            s.required_scopes.join(" ")
        ),
    }
}

/// The algorithms a DPoP proof may use, for the `algs` parameter.
fn dpop_algs() -> String {
    super::jwk::Alg::names().join(" ")
}

/// Builds `Bearer k="v", k="v"`, escaping quotes and backslashes (RFC 9110 §5.6.4) and
/// replacing anything a header cannot carry.
pub fn header(params: &[(&str, &str)]) -> HeaderValue {
    challenge("Bearer", params)
}

/// Builds `<scheme> k="v", k="v"` as [`header`] does.
fn challenge(scheme: &str, params: &[(&str, &str)]) -> HeaderValue {
    let mut out = String::from(scheme);
    for (i, (key, value)) in params.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        out.push_str(key);
        out.push_str("=\"");
        for ch in value.chars() {
            match ch {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(ch);
                }
                ' '..='~' => out.push(ch),
                _ => out.push('?'),
            }
        }
        out.push('"');
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// An [`AuthError`] ready to be sent, with the challenges it needs.
pub struct AuthRejection {
    pub error: AuthError,
    pub challenges: Arc<Challenges>,
    /// A nonce for the client's next DPoP proof (`DPoP-Nonce`, RFC 9449 §8).
    pub dpop_nonce: Option<HeaderValue>,
}

impl AuthRejection {
    /// The status, the challenge, the error code and the description of the answer.
    fn parts(&self) -> (StatusCode, Option<HeaderValue>, &'static str, &str) {
        let c = &self.challenges;
        match &self.error {
            AuthError::Missing => (
                StatusCode::UNAUTHORIZED,
                None,
                "unauthorized",
                c.description(Reason::Missing),
            ),
            AuthError::InvalidRequest(why) => (
                StatusCode::BAD_REQUEST,
                Some(c.invalid_request(why)),
                "invalid_request",
                *why,
            ),
            AuthError::InvalidToken { reason, .. } => (
                StatusCode::UNAUTHORIZED,
                Some(c.invalid_token(*reason)),
                match reason {
                    Reason::DpopNonce => "use_dpop_nonce",
                    _ if reason.is_proof() => "invalid_dpop_proof",
                    _ => "invalid_token",
                },
                c.description(*reason),
            ),
            AuthError::InsufficientScope { .. } => (
                StatusCode::FORBIDDEN,
                Some(c.insufficient_scope.clone()),
                "insufficient_scope",
                c.description(Reason::InsufficientScope),
            ),
            AuthError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "temporarily_unavailable",
                "the server cannot reach its authorization server to verify tokens; retry shortly",
            ),
            AuthError::Overloaded(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "temporarily_unavailable",
                *why,
            ),
            AuthError::TooManyProofs { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                None,
                "too_many_requests",
                "this client holds as many recent DPoP proofs as one caller may; wait Retry-After seconds or send fewer requests",
            ),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let c = &self.challenges;
        let (status, challenge, code, description) = self.parts();
        let body = serde_json::json!({ "error": code, "error_description": description });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(value) = challenge {
            headers.insert(axum::http::header::WWW_AUTHENTICATE, value);
        }
        if matches!(self.error, AuthError::Missing) {
            for value in &c.missing {
                headers.append(axum::http::header::WWW_AUTHENTICATE, value.clone());
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from_static("5"),
            );
        }
        if let AuthError::TooManyProofs { retry_after } = self.error {
            headers.insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(retry_after),
            );
        }
        headers.insert(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        if let Some(nonce) = self.dpop_nonce {
            headers.insert("dpop-nonce", nonce);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::header;

    #[test]
    fn quotes_and_backslashes_in_values_are_escaped() {
        let value = header(&[("error_description", r#"say "hi" \ bye"#)]);
        assert_eq!(
            value.to_str().unwrap(),
            r#"Bearer error_description="say \"hi\" \\ bye""#
        );
    }

    #[test]
    fn characters_a_header_cannot_carry_are_replaced() {
        let value = header(&[("scope", "a\r\nb é")]);
        assert_eq!(value.to_str().unwrap(), r#"Bearer scope="a??b ?""#);
    }
}
