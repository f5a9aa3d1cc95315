//! Why a request was not let in ([`AuthError`], [`Reason`]); [`super::challenge`] turns each
//! into its HTTP answer (RFC 6750 §3).

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

impl Reason {
    /// Whether the reason is a fault of the DPoP proof (its rule is
    /// [`super::validator::Rule::Proof`]), answered with `invalid_dpop_proof` (RFC 9449 §7.1)
    /// rather than `invalid_token`.
    pub fn is_proof(self) -> bool {
        self.rule() == super::validator::Rule::Proof
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

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Malformed => "malformed",
            Reason::BadSignature => "bad_signature",
            Reason::UnknownKid => "unknown_kid",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::WrongType => "wrong_type",
            Reason::DpopBound => "dpop_bound",
            Reason::SenderConstrained => "sender_constrained",
            Reason::DpopNotBound => "dpop_not_bound",
            Reason::DpopRequired => "dpop_required",
            Reason::DpopProof => "dpop_proof",
            Reason::DpopKey => "dpop_key",
            Reason::DpopSignature => "dpop_signature",
            Reason::DpopMethod => "dpop_method",
            Reason::DpopUrl => "dpop_url",
            Reason::DpopStale => "dpop_stale",
            Reason::DpopAth => "dpop_ath",
            Reason::DpopThumbprint => "dpop_thumbprint",
            Reason::DpopReplayed => "dpop_replayed",
            Reason::DpopNonce => "dpop_nonce",
            Reason::InsufficientScope => "insufficient_scope",
        }
    }
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
    use super::Reason;

    #[test]
    fn reasons_are_declared_in_the_order_of_all() {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason as usize, i, "{reason:?}");
        }
    }
}
