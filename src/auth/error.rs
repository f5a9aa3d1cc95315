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
    InsufficientScope,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
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
}

impl AuthError {
    pub fn invalid(reason: Reason, detail: impl Into<String>) -> Self {
        AuthError::InvalidToken {
            reason,
            detail: detail.into(),
        }
    }

    /// The metric label for this failure, if it is a token rejection.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            AuthError::Missing => Some(Reason::Missing),
            AuthError::InvalidRequest(_) => Some(Reason::Malformed),
            AuthError::InvalidToken { reason, .. } => Some(*reason),
            AuthError::InsufficientScope { .. } => Some(Reason::InsufficientScope),
            AuthError::Unavailable(_) => None,
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
