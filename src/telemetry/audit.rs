//! The audit trail: who called which tool, with what, and what came of it.
//!
//! One event per tool call and per refused call, at `info` on its own tracing target,
//! [`TARGET`] (`audit`), so that a filter (`RUST_LOG=info,audit=off`) or a log shipper (the
//! `target` member of a JSON line) can route it apart from the application log. An event names
//! the request, the caller as its verified token says (`sub`, `preferred_username`, `azp`), the
//! tool and the outcome; for `search` the query (as text, as its SHA-256, or not at all, per
//! `MCP_AUDIT_QUERIES`) and the ids returned, for `fetch` the id asked for and whether it was
//! served, hidden from this caller or absent. A token never reaches an event: only claims of a
//! verified token do, and nothing of a refused one.

use ring::digest;

pub use crate::config::AuditQueries as Queries;

/// The tracing target of audit events.
pub const TARGET: &str = "audit";

/// Who made a call, from the claims of a verified token; all `None` when the call was refused
/// before a token was verified.
#[derive(Debug, Clone, Copy, Default)]
pub struct Who<'a> {
    pub sub: Option<&'a str>,
    pub username: Option<&'a str>,
    pub azp: Option<&'a str>,
}

/// What came of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome<'a> {
    /// Answered.
    Ok,
    /// Not run, for this reason (a token rejection reason, `scope_missing`, `limited`,
    /// `invalid_params`, `unknown_tool`, `invalid_arguments`).
    Refused(&'a str),
    /// Run, but the server could not complete it.
    Error,
}

/// What a fetch found for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Served,
    /// The document exists, and this caller may not see it.
    Hidden,
    /// No document has the id.
    Absent,
}

impl Served {
    fn as_str(self) -> &'static str {
        match self {
            Served::Served => "served",
            Served::Hidden => "hidden",
            Served::Absent => "absent",
        }
    }
}

/// What a tool call was about.
#[derive(Debug, Clone, Copy, Default)]
pub enum Detail<'a> {
    #[default]
    None,
    Search {
        query: &'a str,
        /// The ids returned, best first; empty when the search was not answered.
        ids: &'a [String],
    },
    Fetch {
        id: &'a str,
        served: Option<Served>,
    },
}

/// One audit event.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub request_id: &'a str,
    pub who: Who<'a>,
    /// The tool, when the call named one this server has.
    pub tool: Option<&'a str>,
    pub outcome: CallOutcome<'a>,
    pub detail: Detail<'a>,
}

/// Writes audit events.
#[derive(Debug, Clone, Copy)]
pub struct Audit {
    queries: Queries,
}

impl Audit {
    pub fn new(queries: Queries) -> Audit {
        Audit { queries }
    }

    /// Records `event` on the [`TARGET`] target.
    pub fn record(&self, event: &Event) {
        // Nothing is worked out for a trail filtered off (`RUST_LOG=...,audit=off`).
        if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
            return;
        }
        let (outcome, reason) = match event.outcome {
            CallOutcome::Ok => ("ok", None),
            CallOutcome::Refused(reason) => ("refused", Some(reason)),
            CallOutcome::Error => ("error", None),
        };
        let (mut query, mut query_sha256, mut result_ids) = (None, None, None);
        let (mut fetch_id, mut fetch) = (None, None);
        match event.detail {
            Detail::None => {}
            Detail::Search { query: q, ids } => {
                match self.queries {
                    Queries::Text => query = Some(super::bounded(q)),
                    Queries::Hash => query_sha256 = Some(sha256_hex(q)),
                    Queries::Off => {}
                }
                result_ids = Some(serde_json::to_string(ids).expect("strings are JSON"));
            }
            Detail::Fetch { id, served } => {
                fetch_id = Some(super::bounded(id));
                fetch = served.map(Served::as_str);
            }
        }
        tracing::info!(
            target: TARGET,
            request_id = event.request_id,
            sub = event.who.sub.map(super::bounded).as_deref(),
            preferred_username = event.who.username.map(super::bounded).as_deref(),
            azp = event.who.azp.map(super::bounded).as_deref(),
            tool = event.tool,
            outcome,
            reason,
            query = query.as_deref(),
            query_sha256 = query_sha256.as_deref(),
            result_ids = result_ids.as_deref(),
            fetch_id = fetch_id.as_deref(),
            fetch,
            "audit"
        );
    }
}

fn sha256_hex(text: &str) -> String {
    super::hex(digest::digest(&digest::SHA256, text.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests;
