//! Why a request was not let in ([`AuthError`], [`Reason`]), and for each reason the one row
//! ([`Refusal`]) that the challenges ([`super::challenge`]), the metrics, the log and `check`
//! read: its label, the rule it breaks, its error code and scheme, and what the caller should
//! do. This file is the bottom of `auth`: it imports nothing of it.

/// Why a token (or its absence) was refused. Each reason is a label of the
/// `mcp_token_rejections_total` metric and has its own fixed challenge text. The variants are
/// declared in the order of [`Reason::ALL`], so `reason as usize` indexes per-reason tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Missing,
    Malformed,
    BadSignature,
    UnknownKid,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    WrongType,
    /// A DPoP-bound token (`cnf.jkt`, RFC 9449) sent with the Bearer scheme.
    DpopBound,
    /// A token bound some other way (`cnf`, e.g. to a client certificate, RFC 8705) that this
    /// server cannot check.
    SenderConstrained,
    /// A token sent with the DPoP scheme that is not DPoP-bound (no `cnf.jkt`).
    DpopNotBound,
    /// A Bearer token where `MCP_DPOP_REQUIRED` asks for DPoP.
    DpopRequired,
    /// The DPoP proof is missing, doubled or not of the form RFC 9449 §4.2 gives
    /// (`super::dpop`, rule 1).
    DpopProof,
    /// The proof's `alg` or `jwk` is not accepted (rule 2).
    DpopKey,
    DpopSignature,
    DpopMethod,
    DpopUrl,
    /// The proof's `iat` is too old or in the future.
    DpopStale,
    DpopAth,
    /// The proof's key is not the one the token is bound to.
    DpopThumbprint,
    DpopReplayed,
    /// The proof lacks a nonce of this server's, where `MCP_DPOP_NONCE` asks for one.
    DpopNonce,
    InsufficientScope,
}

/// The rules of the module documentation of `validator`, in the order they are applied; every
/// refusal names the first rule its token broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Form,
    Signature,
    Type,
    /// Lifetime, issuer and audience: the crate judges these together, so which of them a
    /// token with several faults is refused for is not fixed.
    Claims,
    Binding,
    /// The DPoP proof of a DPoP-bound token (`super::dpop`).
    Proof,
    /// The scopes `MCP_REQUIRED_SCOPES` names (`super::principal::require_scopes`).
    Scope,
}

/// The `error` code a refusal is answered with, in its challenge and its JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// No credentials: the body says `unauthorized`, the challenges carry no error (RFC 6750 §3.1).
    Unauthorized,
    InvalidToken,
    /// RFC 9449 §7.1.
    InvalidDpopProof,
    /// RFC 9449 §8.
    UseDpopNonce,
    InsufficientScope,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthorized => "unauthorized",
            Code::InvalidToken => "invalid_token",
            Code::InvalidDpopProof => "invalid_dpop_proof",
            Code::UseDpopNonce => "use_dpop_nonce",
            Code::InsufficientScope => "insufficient_scope",
        }
    }
}

/// An authentication scheme: how a token was presented (`Authorization: Bearer` or
/// `Authorization: DPoP`), and the one a refusal's challenge names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    /// RFC 9449 §7.1; the challenge also lists the accepted algorithms.
    Dpop,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "Bearer",
            Scheme::Dpop => "DPoP",
        }
    }
}

/// One reason for a refusal, everything said about it in one place.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    pub reason: Reason,
    /// Its label in `mcp_token_rejections_total`, the log and `check`.
    pub label: &'static str,
    pub rule: Rule,
    pub code: Code,
    pub scheme: Scheme,
    /// What the caller should do, fixed at start-up so no token detail leaks:
    /// `{issuer}`, `{audience}`, `{resource}`, `{server_url}`, `{dpop_max_age}` and `{scopes}`
    /// are filled from the settings ([`super::challenge`]).
    pub description: &'static str,
}

/// The row of each reason, in the order of [`Reason::ALL`].
pub(crate) const REFUSALS: [Refusal; Reason::ALL.len()] = [
    Refusal {
        reason: Reason::Missing,
        label: "missing",
        rule: Rule::Form,
        code: Code::Unauthorized,
        scheme: Scheme::Bearer,
        description: "send an access token in the Authorization header as Bearer <token>",
    },
    Refusal {
        reason: Reason::Malformed,
        label: "malformed",
        rule: Rule::Form,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token is not a well-formed signed JWT",
    },
    Refusal {
        reason: Reason::BadSignature,
        label: "bad_signature",
        rule: Rule::Signature,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token's signature or algorithm is not accepted",
    },
    Refusal {
        reason: Reason::UnknownKid,
        label: "unknown_kid",
        rule: Rule::Signature,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token was signed with a key the issuer does not publish; obtain a new token",
    },
    Refusal {
        reason: Reason::Expired,
        label: "expired",
        rule: Rule::Claims,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token has expired; obtain a new one",
    },
    Refusal {
        reason: Reason::NotYetValid,
        label: "not_yet_valid",
        rule: Rule::Claims,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token is not valid yet; check the clocks of the issuer and this server",
    },
    Refusal {
        reason: Reason::WrongIssuer,
        label: "wrong_issuer",
        rule: Rule::Claims,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token was not issued by {issuer}",
    },
    Refusal {
        reason: Reason::WrongAudience,
        label: "wrong_audience",
        rule: Rule::Claims,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token's audience does not include {audience}; request it with resource={resource} or add an audience mapper",
    },
    Refusal {
        reason: Reason::WrongType,
        label: "wrong_type",
        rule: Rule::Type,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the token is not an access token; send the access token, not an ID or refresh token",
    },
    Refusal {
        reason: Reason::DpopBound,
        label: "dpop_bound",
        rule: Rule::Binding,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token is DPoP-bound (cnf.jkt) and cannot be used as a Bearer token; request a token without DPoP for this resource",
    },
    Refusal {
        reason: Reason::SenderConstrained,
        label: "sender_constrained",
        rule: Rule::Binding,
        code: Code::InvalidToken,
        scheme: Scheme::Bearer,
        description: "the access token is bound to a key or certificate (cnf) this server cannot check; request an unbound token for this resource",
    },
    Refusal {
        reason: Reason::DpopNotBound,
        label: "dpop_not_bound",
        rule: Rule::Binding,
        code: Code::InvalidToken,
        scheme: Scheme::Dpop,
        description: "the access token sent with the DPoP scheme is not DPoP-bound (no cnf.jkt); send it as Bearer, or request a DPoP-bound token",
    },
    Refusal {
        reason: Reason::DpopRequired,
        label: "dpop_required",
        rule: Rule::Binding,
        code: Code::InvalidToken,
        scheme: Scheme::Dpop,
        description: "this resource takes DPoP-bound access tokens only; request a token with DPoP and send it as DPoP <token> with a DPoP proof",
    },
    Refusal {
        reason: Reason::DpopProof,
        label: "dpop_proof",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "send exactly one DPoP header holding a proof JWT of typ dpop+jwt with jti, htm, htu, iat and ath (RFC 9449 §4.2)",
    },
    Refusal {
        reason: Reason::DpopKey,
        label: "dpop_key",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "the DPoP proof must be signed with an accepted asymmetric algorithm and carry the public key only in jwk",
    },
    Refusal {
        reason: Reason::DpopSignature,
        label: "dpop_signature",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "the DPoP proof's signature does not verify with its jwk",
    },
    Refusal {
        reason: Reason::DpopMethod,
        label: "dpop_method",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "the DPoP proof's htm is not this request's method",
    },
    Refusal {
        reason: Reason::DpopUrl,
        label: "dpop_url",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "the DPoP proof's htu is not this request's URL; send {server_url}<path> without query or fragment",
    },
    Refusal {
        reason: Reason::DpopStale,
        label: "dpop_stale",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "the DPoP proof's iat is older than {dpop_max_age} s or in the future; make a fresh proof for each request",
    },
    Refusal {
        reason: Reason::DpopAth,
        label: "dpop_ath",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "the DPoP proof's ath is not the SHA-256 of the access token it comes with",
    },
    Refusal {
        reason: Reason::DpopThumbprint,
        label: "dpop_thumbprint",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "the DPoP proof is signed with another key than the one the access token is bound to (cnf.jkt)",
    },
    Refusal {
        reason: Reason::DpopReplayed,
        label: "dpop_replayed",
        rule: Rule::Proof,
        code: Code::InvalidDpopProof,
        scheme: Scheme::Dpop,
        description: "this DPoP proof was used before; make a fresh proof, with a new jti, for each request",
    },
    Refusal {
        reason: Reason::DpopNonce,
        label: "dpop_nonce",
        rule: Rule::Proof,
        code: Code::UseDpopNonce,
        scheme: Scheme::Dpop,
        description: "make the DPoP proof again with the nonce this answer's DPoP-Nonce header gives",
    },
    Refusal {
        reason: Reason::InsufficientScope,
        label: "insufficient_scope",
        rule: Rule::Scope,
        code: Code::InsufficientScope,
        scheme: Scheme::Bearer,
        description: "the access token lacks a required scope; request the scopes {scopes}",
    },
];

impl Reason {
    /// This reason's row of `REFUSALS`.
    pub fn refusal(self) -> &'static Refusal {
        &REFUSALS[self as usize]
    }

    /// The rule a refusal for this reason broke.
    pub fn rule(self) -> Rule {
        self.refusal().rule
    }

    /// Whether the reason is a fault of the DPoP proof, answered with `invalid_dpop_proof` or
    /// `use_dpop_nonce` (RFC 9449 §7.1, §8) rather than `invalid_token`.
    pub fn is_proof(self) -> bool {
        self.rule() == Rule::Proof
    }

    pub fn as_str(self) -> &'static str {
        self.refusal().label
    }

    pub const ALL: [Reason; 24] = [
        Reason::Missing,
        Reason::Malformed,
        Reason::BadSignature,
        Reason::UnknownKid,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::WrongType,
        Reason::DpopBound,
        Reason::SenderConstrained,
        Reason::DpopNotBound,
        Reason::DpopRequired,
        Reason::DpopProof,
        Reason::DpopKey,
        Reason::DpopSignature,
        Reason::DpopMethod,
        Reason::DpopUrl,
        Reason::DpopStale,
        Reason::DpopAth,
        Reason::DpopThumbprint,
        Reason::DpopReplayed,
        Reason::DpopNonce,
        Reason::InsufficientScope,
    ];
}

/// A failure to authenticate a request.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No bearer token in the `Authorization` header.
    #[error("no bearer token")]
    Missing,
    /// The request itself is wrong (token in the query string, two `Authorization` headers).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The token was refused; `detail` is for the log only, never for the client.
    #[error("{}: {detail}", reason.as_str())]
    InvalidToken { reason: Reason, detail: String },
    /// The token is valid but lacks scopes.
    #[error("insufficient scope; missing {}", missing.join(" "))]
    InsufficientScope { missing: Vec<String> },
    /// No usable keys: Keycloak is unreachable and nothing usable is cached.
    #[error("signing keys unavailable: {0}")]
    Unavailable(String),
    /// The server cannot take the request now for want of room (the DPoP replay cache is full
    /// of proofs still inside their window); the text says so to the caller.
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
    /// The caller holds its whole share of the DPoP replay cache; its next proof is taken once
    /// one of its proofs goes stale, in `retry_after` seconds.
    #[error("this caller holds its whole share of the DPoP replay cache")]
    TooManyProofs { retry_after: u64 },
}

impl AuthError {
    /// A refusal for `reason`; the detail, which may quote the caller's token or proof, is
    /// bounded as every log field is (`telemetry::bounded`).
    pub fn invalid(reason: Reason, detail: impl Into<String>) -> Self {
        let detail: String = detail.into();
        let detail = match crate::telemetry::bounded(&detail) {
            std::borrow::Cow::Borrowed(_) => detail,
            std::borrow::Cow::Owned(cut) => cut,
        };
        AuthError::InvalidToken { reason, detail }
    }

    /// The metric label for this failure, if it is a token rejection.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            AuthError::Missing => Some(Reason::Missing),
            AuthError::InvalidRequest(_) => Some(Reason::Malformed),
            AuthError::InvalidToken { reason, .. } => Some(*reason),
            AuthError::InsufficientScope { .. } => Some(Reason::InsufficientScope),
            AuthError::Unavailable(_)
            | AuthError::Overloaded(_)
            | AuthError::TooManyProofs { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Code, REFUSALS, Reason, Rule, Scheme};

    #[test]
    fn reasons_are_declared_in_the_order_of_all_and_of_their_rows() {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason as usize, i, "{reason:?}");
            assert_eq!(REFUSALS[i].reason, reason, "row {i}");
        }
        let mut labels: Vec<&str> = REFUSALS.iter().map(|r| r.label).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), REFUSALS.len(), "two reasons share a label");
    }

    #[test]
    fn a_proof_fault_is_answered_as_one_and_under_the_dpop_scheme() {
        for row in REFUSALS {
            let proof = matches!(row.code, Code::InvalidDpopProof | Code::UseDpopNonce);
            assert_eq!(proof, row.rule == Rule::Proof, "{:?}", row.reason);
            if proof {
                assert_eq!(row.scheme, Scheme::Dpop, "{:?}", row.reason);
            }
        }
    }
}
