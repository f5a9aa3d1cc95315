//! The tools this server offers and the registry that lists and calls them (MCP "Tools";
//! OpenAI's `search`/`fetch` contract for ChatGPT connectors and deep research).
//!
//! Each tool is one file with its definition and its call; adding a tool is a new file, one
//! variant of [`Tool`] and one match arm in each of its methods. Tools receive the caller's
//! [`Principal`] and report progress through an optional [`Progress`] sink.
//!
//! Results follow the ChatGPT contract: the structured object as `structuredContent` and the
//! same JSON as text in `content[0]`. Bad arguments and business errors are results with
//! `isError: true` whose text says what to change; an unknown tool is a JSON-RPC error.
//!
//! A tool may need scopes beyond `MCP_REQUIRED_SCOPES` (`[tools.<name>] scopes` in the
//! configuration file). A call without them is answered with an error result carrying the
//! tool-level challenge in `_meta["mcp/www_authenticate"]`, as ChatGPT expects, so the client
//! can ask the user to grant more.

pub mod fetch;
pub mod search;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use serde_json::{Map, Value, json};

use crate::auth::Principal;
use crate::auth::challenge::Challenges;
pub use crate::corpus::{Access, Corpus};

/// Every tool, in the order `tools/list` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Search,
    Fetch,
}

impl Tool {
    pub const ALL: [Tool; 2] = [Tool::Search, Tool::Fetch];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Search => "search",
            Tool::Fetch => "fetch",
        }
    }

    pub fn by_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    fn definition(self) -> Definition {
        match self {
            Tool::Search => search::definition(),
            Tool::Fetch => fetch::definition(),
        }
    }

    fn call(self, args: &Map<String, Value>, ctx: &Context) -> Outcome {
        match self {
            Tool::Search => search::call(args, ctx),
            Tool::Fetch => fetch::call(args, ctx),
        }
    }
}

/// What a tool file declares about itself.
pub struct Definition {
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    pub output_schema: Value,
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
    /// the async workers.
    Rank(Box<dyn FnOnce() -> Outcome + Send>),
}

/// A tool call: answered, or work for the ranking pool that answers it.
pub enum Call {
    Done(Payload),
    Rank(Box<dyn FnOnce() -> Payload + Send>),
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
    pub principal: &'a Principal,
    /// What the caller may see.
    pub access: &'a Access,
    pub progress: Option<&'a Progress>,
    /// Whether results carry `structuredContent` (the era has it).
    pub structured: bool,
}

/// Reports progress for one request (MCP "Progress"): the `notifications/progress` params go to
/// a sink the transport provides. The sink must never block: a notification the client is too
/// slow to take is skipped, never the result.
#[derive(Clone)]
pub struct Progress {
    token: Value,
    sink: Arc<dyn Fn(Value) + Send + Sync>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("token", &self.token)
            .finish()
    }
}

impl Progress {
    pub fn new(token: Value, sink: impl Fn(Value) + Send + Sync + 'static) -> Self {
        Progress {
            token,
            sink: Arc::new(sink),
        }
    }

    pub fn report(&self, progress: u64, total: u64, message: &str) {
        (self.sink)(json!({
            "progressToken": self.token, "progress": progress, "total": total, "message": message,
        }));
    }
}

/// The scopes each tool needs, and the challenge sent when a token lacks them.
struct Gate {
    scopes: Vec<String>,
    challenge: String,
}

/// The registry: the tool list, built once per output style, the scopes each tool needs, and
/// the documents.
pub struct Tools {
    corpus: Arc<Corpus>,
    gates: BTreeMap<&'static str, Gate>,
    /// The `tools/list` result for 2025-06-18 and later (tools with `title` and
    /// `outputSchema`), serialised once.
    structured_result: Bytes,
    /// The `tools/list` result for 2024-11-05 and 2025-03-26.
    plain_result: Bytes,
}

impl Tools {
    /// Builds the registry. `required` are the scopes every request needs; `per_tool` adds
    /// scopes for single tools, by tool name.
    pub fn new(
        corpus: Arc<Corpus>,
        required: &[String],
        per_tool: &BTreeMap<String, Vec<String>>,
        challenges: &Challenges,
    ) -> Self {
        let gates: BTreeMap<&'static str, Gate> = Tool::ALL
            .iter()
            .map(|t| {
                let mut scopes = required.to_vec();
                for s in per_tool.get(t.name()).into_iter().flatten() {
                    if !scopes.contains(s) {
                        scopes.push(s.clone());
                    }
                }
                let description = format!(
                    "the access token lacks a scope the `{}` tool needs; request the scopes {}",
                    t.name(),
                    scopes.join(" ")
                );
                let challenge = challenges.insufficient_scope_for(&scopes, &description);
                let challenge = challenge.to_str().unwrap_or("Bearer").to_owned();
                (t.name(), Gate { scopes, challenge })
            })
            .collect();
        let list = |structured: bool| -> Value {
            Tool::ALL
                .iter()
                .map(|t| describe(*t, &gates[t.name()].scopes, structured))
                .collect()
        };
        Tools {
            structured_result: json!({ "tools": list(true) }).to_string().into(),
            plain_result: json!({ "tools": list(false) }).to_string().into(),
            gates,
            corpus,
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

    /// Calls a tool; `None` when there is no tool of that name.
    pub fn call(
        &self,
        name: &str,
        args: &Map<String, Value>,
        principal: &Principal,
        progress: Option<&Progress>,
        structured: bool,
    ) -> Option<Call> {
        let tool = Tool::by_name(name)?;
        let gate = &self.gates[tool.name()];
        if let Some(missing) = gate.scopes.iter().find(|s| !principal.has_scope(s)) {
            tracing::info!(sub = principal.subject.as_deref().unwrap_or(""), tool = name, scope = %missing, "tool refused: scope missing");
            return Some(Call::Done(Payload::Value(json!({
                "content": [{ "type": "text", "text": format!(
                    "the `{name}` tool needs the scope `{missing}`, which this access token does not carry; sign in again granting the scopes {}",
                    gate.scopes.join(" ")
                ) }],
                "isError": true,
                "_meta": { "mcp/www_authenticate": [gate.challenge] },
            }))));
        }
        let ctx = Context {
            corpus: &self.corpus,
            principal,
            access: access_of(principal),
            progress,
            structured,
        };
        Some(match tool.call(args, &ctx) {
            Outcome::Rank(work) => {
                Call::Rank(Box::new(move || payload(tool.name(), work(), structured)))
            }
            outcome => Call::Done(payload(tool.name(), outcome, structured)),
        })
    }
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
        Outcome::Rank(work) => payload(name, work(), structured),
    }
}

/// The `tools/call` result for a structured value: its JSON text as the content, and the value
/// itself as `structuredContent` when the era has it.
pub fn result(value: Value, structured: bool) -> Value {
    let text = value.to_string();
    let mut result = json!({ "content": [{ "type": "text", "text": text }] });
    if structured {
        result["structuredContent"] = value;
    }
    result
}

fn failed(message: String) -> Value {
    json!({ "content": [{ "type": "text", "text": message }], "isError": true })
}

/// One entry of `tools/list`.
fn describe(tool: Tool, scopes: &[String], structured: bool) -> Value {
    let d = tool.definition();
    let schemes = json!([{ "type": "oauth2", "scopes": scopes }]);
    let mut entry = json!({
        "name": tool.name(),
        "description": d.description,
        "inputSchema": d.input_schema,
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
        entry["outputSchema"] = d.output_schema;
    }
    entry
}

/// Reads an optional whole number argument within bounds.
pub fn integer_arg(
    args: &Map<String, Value>,
    key: &str,
    default: u64,
    max: u64,
) -> Result<u64, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("`{key}` must be a whole number from 1 to {max}, not {v}")),
    }
}

/// Refuses arguments the tool does not declare, so nothing a caller sent is silently ignored.
pub fn only_known_args(args: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match args.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown argument `{k}`; this tool takes {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => Ok(()),
    }
}
