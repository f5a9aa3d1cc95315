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

use super::error::{AuthError, Code, Reason, Scheme};
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
            let row = reason.refusal();
            let text = description(settings, row.description);
            let mut params = vec![("error", row.code.as_str()), ("error_description", &text)];
            if row.scheme == Scheme::Dpop {
                params.push(("algs", &algs));
            }
            params.push(("resource_metadata", &resource_metadata));
            if row.code == Code::InvalidToken {
                params.push(("scope", &scope));
            }
            (challenge(row.scheme.as_str(), &params), text)
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

/// A reason's description with the settings it names filled in; fixed at start-up, so no
/// token detail leaks.
fn description(s: &Settings, template: &str) -> String {
    template
        .replace("{issuer}", &s.issuer)
        .replace("{audience}", &s.audiences[0])
        .replace("{resource}", &s.resource)
        .replace("{server_url}", &s.server_url)
        .replace("{dpop_max_age}", &s.dpop.max_age.as_secs().to_string())
        .replace("{scopes}", &s.required_scopes.join(" "))
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
                reason.refusal().code.as_str(),
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
    use super::{Challenges, header};
    use crate::auth::Reason;

    #[test]
    fn every_description_is_filled_from_the_settings() {
        let raw = crate::config::RawConfig::load_from([
            (
                "MCP_SERVER_URL".to_owned(),
                "https://mcp.example".to_owned(),
            ),
            (
                "KC_ISSUER".to_owned(),
                "https://auth.example/realms/r".to_owned(),
            ),
        ])
        .unwrap();
        let settings = crate::config::Settings::from_raw(&raw).unwrap();
        let challenges = Challenges::new(&settings);
        for reason in Reason::ALL {
            let text = challenges.description(reason);
            assert!(!text.contains(['{', '}']), "{reason:?}: {text}");
        }
        assert!(
            challenges
                .description(Reason::WrongIssuer)
                .ends_with("https://auth.example/realms/r")
        );
        assert!(
            challenges
                .description(Reason::DpopStale)
                .contains("older than 300 s")
        );
    }

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
