//! The audit trail of tool calls (`telemetry::audit`): what a tool notes about its call, and
//! the record of each call that `mcp::dispatch` writes as the call's one event.

use std::cell::RefCell;
use std::sync::Arc;

use super::Outcome;
use crate::auth::Principal;
use crate::telemetry::RequestId;
use crate::telemetry::audit::{self, Audit, Served};

/// What a tool call was about, noted by the tool.
#[derive(Debug, Default)]
pub enum Noted {
    #[default]
    Nothing,
    Search {
        query: String,
        /// The ids answered, best first.
        ids: Arc<[String]>,
    },
    Fetch {
        id: String,
        served: Served,
    },
}

/// Where a tool notes what its call was about.
pub type Note = RefCell<Noted>;

/// Who asked for a call, for its audit event.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub principal: &'a Principal,
    pub request_id: &'a RequestId,
}

/// The caller of a call, as its verified token names it.
fn who(principal: &Principal) -> audit::Who<'_> {
    audit::Who {
        sub: principal.subject.as_deref(),
        username: principal.username.as_deref(),
        azp: principal.client_id.as_deref(),
    }
}

/// What the audit trail records of one tool call: made where the call ends (the registry, or
/// dispatch when the call is refused before a tool runs) and written by `mcp::dispatch`, the
/// one place a tool call's event is written.
#[derive(Debug)]
pub struct CallRecord {
    /// The tool, when the call named one this server has.
    tool: Option<&'static str>,
    outcome: audit::CallOutcome<'static>,
    noted: Noted,
}

impl CallRecord {
    /// A call refused before its tool ran, for `reason`.
    pub fn refused(tool: Option<&'static str>, reason: &'static str) -> Self {
        CallRecord {
            tool,
            outcome: audit::CallOutcome::Refused(reason),
            noted: Noted::Nothing,
        }
    }

    /// A call of `tool` that ran to `outcome`, with what the tool noted.
    pub(super) fn ran(tool: &'static str, outcome: &Outcome, noted: Noted) -> Self {
        let outcome = match (outcome, &noted) {
            (Outcome::Done(_) | Outcome::Answered(_), _) => audit::CallOutcome::Ok,
            (Outcome::Broken(_) | Outcome::Rank(_), _) => audit::CallOutcome::Error,
            (Outcome::Failed(_), Noted::Fetch { served, .. }) if *served != Served::Served => {
                audit::CallOutcome::Refused("not_found")
            }
            (Outcome::Failed(_), _) => audit::CallOutcome::Refused("invalid_arguments"),
        };
        CallRecord {
            tool: Some(tool),
            outcome,
            noted,
        }
    }

    /// Writes the call's one event, as asked by `asker`.
    pub fn write(&self, audit: &Audit, asker: Asker) {
        let detail = match &self.noted {
            Noted::Nothing => audit::Detail::None,
            Noted::Search { query, ids } => audit::Detail::Search { query, ids },
            Noted::Fetch { id, served } => audit::Detail::Fetch {
                id,
                served: Some(*served),
            },
        };
        audit.record(&audit::Event {
            request_id: asker.request_id.as_str(),
            who: who(asker.principal),
            tool: self.tool,
            outcome: self.outcome,
            detail,
        });
    }
}
