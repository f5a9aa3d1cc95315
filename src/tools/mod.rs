//! The tools this server offers and the registry that lists and calls them (MCP "Tools";
//! OpenAI's `search`/`fetch` contract for ChatGPT connectors and deep research).
//!
//! Each tool is one file with its [`Definition`] and its call, and one entry of [`TOOLS`];
//! nothing else names it. A tool reads its arguments into a struct of its own with
//! [`parse_args`], receives the caller's [`Principal`] and reports progress through an optional
//! [`Progress`] sink.
//!
//! Results follow the ChatGPT contract: the structured object as `structuredContent` and the
//! same JSON as text in `content[0]`. Bad arguments and business errors are results with
//! `isError: true` whose text says what to change; an unknown tool is a JSON-RPC error.
//!
//! A tool may need scopes beyond `MCP_REQUIRED_SCOPES` (`MCP_TOOLS_<NAME>_SCOPES`, or
//! `[tools.<name>] scopes` in the configuration file). A call without them is answered with an error result carrying the
//! tool-level challenge in `_meta["mcp/www_authenticate"]`, as ChatGPT expects, so the client
//! can ask the user to grant more.

mod args;
pub(crate) mod fetch;
mod noted;
mod progress;
pub(crate) mod search;
mod written;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use opentelemetry::KeyValue;
use serde_json::{Map, Value, json};

use crate::auth::Principal;
use crate::auth::challenge::Challenges;
pub use crate::corpus::{Access, Corpus};
use crate::telemetry::audit::Audit;
use crate::telemetry::traces;
pub use args::parse as parse_args;
pub use noted::{Asker, CallRecord, Note, Noted};
pub use progress::Progress;
use written::failed;
pub use written::{rendered, result};

/// Every tool, in the order `tools/list` shows them. Adding a tool is a new file and one entry
/// here: its scope setting (`MCP_TOOLS_<NAME>_SCOPES`), its messages, `check`'s expectations
/// and the server's instructions all come from this list.
pub static TOOLS: &[&dyn Tool] = &[&search::Search, &fetch::Fetch];

/// A tool: what it declares about itself, and its call.
pub trait Tool: Sync {
    fn definition(&self) -> &'static Definition;
    fn call(&self, args: &Map<String, Value>, ctx: &Context) -> Outcome;
}

/// What a tool file declares about itself.
pub struct Definition {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// What the tool is for, after its name in the server's instructions ("Use `search` to
    /// find documents about a topic").
    pub purpose: &'static str,
    /// What to send, told to a caller who left out a required argument.
    pub hint: &'static str,
    pub input_schema: Value,
    pub output_schema: Value,
}

/// The names of the tools, in order.
pub fn names() -> Vec<&'static str> {
    TOOLS.iter().map(|t| t.definition().name).collect()
}

/// The name of the tool called `name`, when there is one: a name a caller sent, as the
/// server's own `&'static str` (for labels that must stay few).
pub fn named(name: &str) -> Option<&'static str> {
    TOOLS
        .iter()
        .map(|t| t.definition().name)
        .find(|t| *t == name)
}

/// The tool names for a message, quoted and joined: "`search` and `fetch`" (`conjunction`
/// "and"), "`search` or `fetch`" ("or").
pub fn listed(conjunction: &str) -> String {
    joined(
        names().iter().map(|n| format!("`{n}`")).collect(),
        conjunction,
    )
}

/// Items as a sentence lists them: "a, b and c".
fn joined(items: Vec<String>, conjunction: &str) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} {conjunction} {last}", rest.join(", "))
        }
        _ => items.concat(),
    }
}

/// The server's instructions to the model (`initialize`, `server/discover`), made from what each
/// tool is for.
pub fn instructions() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        let uses: Vec<String> = TOOLS
            .iter()
            .map(|t| format!("`{}` {}", t.definition().name, t.definition().purpose))
            .collect();
        format!("Use {}. Cite documents by their url.", joined(uses, "and"))
    });
    &TEXT
}

/// What a tool call produced.
pub enum Outcome {
    /// The structured result.
    Done(Value),
    /// The whole `tools/call` result, already serialised (see [`result`]); a cached answer.
    Answered(Bytes),
    /// A message telling the caller what to change.
    Failed(String),
    /// The server could not do its part (e.g. the index could not be read); logged, and told
    /// to the caller without internal detail.
    Broken(String),
    /// Ranking work that gives the outcome, to be run where ranking runs (`crate::fair`), off
    /// the async workers; it notes what the call was about in the note it is given.
    Rank(Box<dyn FnOnce(&Note) -> Outcome + Send>),
}

/// A tool call: answered, or work for the ranking pool that answers it; either way with the
/// record of the call that the audit trail keeps (written by `mcp::dispatch`).
pub enum Call {
    Done(Payload, CallRecord),
    Rank(Box<dyn FnOnce() -> (Payload, CallRecord) + Send>),
}

/// A result to answer with: a value, or an object the server serialised before (a cached
/// search answer, the tool list), written out as it is. The MCP layer adds what its protocol
/// revision needs (`mcp::jsonrpc`).
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Value(Value),
    /// The UTF-8 text of a JSON object, made by `serde_json` from the server's own data; shared
    /// with the cache it came from, so answering with it copies nothing.
    Rendered(Bytes),
}

/// What a tool call may use.
pub struct Context<'a> {
    pub corpus: &'a Arc<Corpus>,
    /// What the caller may see.
    pub access: &'a Access,
    pub progress: Option<&'a Progress>,
    /// Whether results carry `structuredContent` (the era has it).
    pub structured: bool,
    /// Where the tool notes what the call was about, for the audit trail.
    pub note: &'a Note,
}

/// One tool as the registry keeps it: the tool, the scopes it needs, and the challenge sent
/// when a token lacks them.
struct ToolEntry {
    tool: &'static dyn Tool,
    /// Every scope a call needs: `MCP_REQUIRED_SCOPES`, then the tool's own. The list the tool
    /// advertises and its refusal names.
    scopes: Vec<String>,
    /// The tool's own scopes beyond `MCP_REQUIRED_SCOPES`, the only ones judged here: the gate
    /// has judged the required ones before any call is read (`auth::principal::require_scopes`).
    own: Vec<String>,
    challenge: String,
}

/// The registry: the tool list, built once per output style, the scopes each tool needs, the
/// documents, and the audit trail every call is recorded in.
pub struct Tools {
    corpus: Arc<Corpus>,
    audit: Audit,
    entries: Vec<ToolEntry>,
    /// The `tools/list` result for 2025-06-18 and later (tools with `title` and
    /// `outputSchema`), serialised once.
    structured_result: Bytes,
    /// The `tools/list` result for 2024-11-05 and 2025-03-26.
    plain_result: Bytes,
}

impl Tools {
    /// Builds the registry. `required` are the scopes every request needs; `per_tool` adds
    /// scopes for single tools, by tool name (the configuration refuses names of no tool).
    pub fn new(
        corpus: Arc<Corpus>,
        required: &[String],
        per_tool: &BTreeMap<String, Vec<String>>,
        challenges: &Challenges,
        audit: Audit,
    ) -> Self {
        let entries: Vec<ToolEntry> = TOOLS
            .iter()
            .map(|&tool| {
                let name = tool.definition().name;
                let mut own: Vec<String> = Vec::new();
                for s in per_tool.get(name).into_iter().flatten() {
                    if !required.contains(s) && !own.contains(s) {
                        own.push(s.clone());
                    }
                }
                let scopes = [required, &own].concat();
                let description = format!(
                    "the access token lacks a scope the `{name}` tool needs; request the scopes {}",
                    scopes.join(" ")
                );
                let challenge = challenges.insufficient_scope_for(&scopes, &description);
                let challenge = challenge.to_str().unwrap_or("Bearer").to_owned();
                ToolEntry {
                    tool,
                    scopes,
                    own,
                    challenge,
                }
            })
            .collect();
        let list = |structured: bool| -> Value {
            entries
                .iter()
                .map(|e| describe(e.tool.definition(), &e.scopes, structured))
                .collect()
        };
        Tools {
            structured_result: json!({ "tools": list(true) }).to_string().into(),
            plain_result: json!({ "tools": list(false) }).to_string().into(),
            entries,
            corpus,
            audit,
        }
    }

    /// The `tools/list` result object, serialised; `structured` for the revisions whose tools
    /// have `title` and `outputSchema`.
    pub fn list_result(&self, structured: bool) -> &Bytes {
        if structured {
            &self.structured_result
        } else {
            &self.plain_result
        }
    }

    pub fn corpus(&self) -> &Arc<Corpus> {
        &self.corpus
    }

    /// The audit trail calls are recorded in.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Calls a tool for `principal`, in a trace in a span inside `within` (the message's);
    /// `None` when there is no tool of that name. The call comes with its record for the audit
    /// trail, which the caller writes.
    pub fn call(
        &self,
        name: &str,
        args: &Map<String, Value>,
        principal: &Principal,
        within: &traces::Span,
        progress: Option<&Progress>,
        structured: bool,
    ) -> Option<Call> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.tool.definition().name == name)?;
        let name = entry.tool.definition().name;
        if let Some(refused) = self.lacks_scope(entry, principal) {
            return Some(Call::Done(
                refused,
                CallRecord::refused(Some(name), "scope_missing"),
            ));
        }
        let note = Note::default();
        let ctx = Context {
            corpus: &self.corpus,
            access: access_of(principal),
            progress,
            structured,
            note: &note,
        };
        let span = tool_span(within, name);
        Some(match entry.tool.call(args, &ctx) {
            Outcome::Rank(work) => Call::Rank(Box::new(move || {
                let note = Note::default();
                let outcome = work(&note);
                ended(&span, &outcome);
                let record = CallRecord::ran(name, &outcome, note.into_inner());
                (payload(name, outcome, structured), record)
            })),
            outcome => {
                ended(&span, &outcome);
                let record = CallRecord::ran(name, &outcome, note.into_inner());
                Call::Done(payload(name, outcome, structured), record)
            }
        })
    }

    /// The error result for a call of `entry`'s tool by a token without a scope it needs;
    /// `None` when the token has them all.
    fn lacks_scope(&self, entry: &ToolEntry, principal: &Principal) -> Option<Payload> {
        let missing = entry.own.iter().find(|s| !principal.has_scope(s))?;
        let name = entry.tool.definition().name;
        tracing::info!(sub = principal.subject.as_deref().unwrap_or(""), tool = name, scope = %missing, "tool refused: scope missing");
        Some(Payload::Value(json!({
            "content": [{ "type": "text", "text": format!(
                "the `{name}` tool needs the scope `{missing}`, which this access token does not carry; sign in again granting the scopes {}",
                entry.scopes.join(" ")
            ) }],
            "isError": true,
            "_meta": { "mcp/www_authenticate": [entry.challenge] },
        })))
    }
}

/// In a trace, the span of a tool's run, ranking included, inside the message's span.
fn tool_span(within: &traces::Span, name: &'static str) -> traces::Span {
    within.child(
        || format!("execute_tool {name}").into(),
        || {
            vec![
                KeyValue::new("gen_ai.operation.name", "execute_tool"),
                KeyValue::new("gen_ai.tool.name", name),
            ]
        },
    )
}

/// Ends a tool's span, marked failed when the call ended as an error result (`isError`).
fn ended(span: &traces::Span, outcome: &Outcome) {
    match outcome {
        Outcome::Failed(_) => span.fail("tool_error"),
        Outcome::Broken(_) => span.fail("server_error"),
        _ => {}
    }
    span.end();
}

/// The caller's document access, worked out once per verified token and kept with it.
fn access_of(principal: &Principal) -> &Access {
    principal
        .access
        .get_or_init(|| Access::new(&principal.realm_roles, &principal.groups))
}

/// The `tools/call` result of an outcome.
fn payload(name: &str, outcome: Outcome, structured: bool) -> Payload {
    match outcome {
        Outcome::Done(value) => Payload::Value(result(value, structured)),
        Outcome::Answered(text) => Payload::Rendered(text),
        Outcome::Failed(message) => Payload::Value(failed(message)),
        Outcome::Broken(detail) => {
            tracing::error!(tool = name, error = %detail, "tool failed");
            Payload::Value(failed(format!(
                "the `{name}` tool could not complete because of a server problem; try again later, and tell the operator if it persists"
            )))
        }
        // A tool's work gives a final outcome; more work from it would be a bug in the tool.
        Outcome::Rank(work) => payload(name, work(&Note::default()), structured),
    }
}

/// One entry of `tools/list`.
fn describe(d: &Definition, scopes: &[String], structured: bool) -> Value {
    let schemes = json!([{ "type": "oauth2", "scopes": scopes }]);
    let mut entry = json!({
        "name": d.name,
        "description": d.description,
        "inputSchema": d.input_schema.clone(),
        "annotations": {
            "title": d.title,
            "readOnlyHint": true,
            "destructiveHint": false,
            "idempotentHint": true,
            "openWorldHint": false,
        },
        "securitySchemes": schemes,
        "_meta": { "securitySchemes": schemes },
    });
    if structured {
        entry["title"] = d.title.into();
        entry["outputSchema"] = d.output_schema.clone();
    }
    entry
}

#[cfg(test)]
mod tests;
