//! The audit trail of tool calls (`telemetry::audit`): what a tool notes about its call, and
//! the one event the registry records for each call it runs or refuses.

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
pub fn who(principal: &Principal) -> audit::Who<'_> {
    audit::Who {
        sub: principal.subject.as_deref(),
        username: principal.username.as_deref(),
        azp: principal.client_id.as_deref(),
    }
}

impl Asker<'_> {
    /// Records a call refused before its tool ran, for `reason`.
    pub fn refused(&self, audit: &Audit, tool: Option<&str>, reason: &str) {
        audit.record(&audit::Event {
            request_id: self.request_id.as_str(),
            who: who(self.principal),
            tool,
            outcome: audit::CallOutcome::Refused(reason),
            detail: audit::Detail::None,
        });
    }

    /// Records what came of a call of `tool` that ran, with what the tool noted.
    pub(super) fn ran(&self, audit: &Audit, tool: &str, outcome: &Outcome, noted: &Noted) {
        let outcome = match (outcome, noted) {
            (Outcome::Done(_) | Outcome::Answered(_), _) => audit::CallOutcome::Ok,
            (Outcome::Broken(_) | Outcome::Rank(_), _) => audit::CallOutcome::Error,
            (Outcome::Failed(_), Noted::Fetch { served, .. }) if *served != Served::Served => {
                audit::CallOutcome::Refused("not_found")
            }
            (Outcome::Failed(_), _) => audit::CallOutcome::Refused("invalid_arguments"),
        };
        let detail = match noted {
            Noted::Nothing => audit::Detail::None,
            Noted::Search { query, ids } => audit::Detail::Search { query, ids },
            Noted::Fetch { id, served } => audit::Detail::Fetch {
                id,
                served: Some(*served),
            },
        };
        audit.record(&audit::Event {
            request_id: self.request_id.as_str(),
            who: who(self.principal),
            tool: Some(tool),
            outcome,
            detail,
        });
    }
}
