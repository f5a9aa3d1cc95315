//! Answers one MCP request by method, per era (MCP "Lifecycle", "Tools", 2026-07-28
//! `server/discover` and "Caching").
//!
//! The stateless era serves `server/discover`, `tools/list` and `tools/call`; the
//! initialize-based eras serve `initialize`, `ping`, `tools/list` and `tools/call`. Stateless
//! results carry `resultType: "complete"` and the server's identity in `_meta`; cacheable ones
//! carry `ttlMs` and `cacheScope`.

use std::sync::LazyLock;

use axum::body::Bytes;
use opentelemetry::KeyValue;
use serde_json::{Map, Value, json};

use super::Sender;
use super::era::{self, META_SERVER_INFO, Version};
use super::error::McpError;
use super::jsonrpc::{Members, Payload, Request};
use crate::fair::Fair;
use crate::telemetry::{bounded, traces};
use crate::tools::{self, Call, CallRecord, Progress, Tools};

pub(crate) const SERVER_NAME: &str = "mcp-resource-server";
const SERVER_TITLE: &str = "Organisation documents";
/// How long clients may cache `server/discover` and `tools/list` results.
const DISCOVER_TTL_MS: u64 = 3_600_000;
const TOOLS_TTL_MS: u64 = 300_000;

/// Everything one request may use.
pub(crate) struct RequestContext<'a> {
    pub tools: &'a Tools,
    /// Who sent the message, and the HTTP request it came in.
    pub sender: &'a Sender,
    pub version: Version,
    /// Where progress notifications go, when the response is a stream.
    pub progress: Option<Progress>,
    /// The caller's allowance of tool calls and share of the ranking pool.
    pub fair: &'a Fair,
}

impl RequestContext<'_> {
    /// Writes a tool call's one audit event, as asked by this request's sender.
    fn record(&self, record: &CallRecord) {
        record.write(self.tools.audit(), self.sender.asker());
    }
}

/// The result of `request`, or the error to answer with.
pub(crate) async fn handle(
    ctx: &RequestContext<'_>,
    request: &Request,
) -> Result<Payload, McpError> {
    let span = message_span(ctx, request);
    let answered = answer(ctx, request, &span).await;
    if let Err(e) = &answered {
        span.set("rpc.response.status_code", e.code().to_string());
        span.fail(e.code().to_string());
    }
    span.end();
    answered
}

/// The methods this server answers, in one era or another (see [`stateless`] and
/// [`negotiated`]): the only method names a span is named after.
const ANSWERED: [&str; 5] = [
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
];

/// The span of one JSON-RPC message in a trace (`telemetry::traces`): named
/// `{mcp.method.name} {tool}` with the attributes of OpenTelemetry's MCP conventions. Names come
/// from a fixed set, so they stay few: a method this server does not answer is `unknown`, and the
/// tool is named only when it is one of ours. What the caller sent goes only into attributes,
/// bounded (`telemetry::bounded`).
fn message_span(ctx: &RequestContext<'_>, request: &Request) -> traces::Span {
    let parent = ctx.sender.request_id.span();
    if !parent.is_on() {
        return traces::Span::default();
    }
    let method = request.method.as_str();
    let known = ANSWERED.iter().find(|m| **m == method).copied();
    let tool = (method == "tools/call")
        .then(|| request.params.get("name").and_then(Value::as_str))
        .flatten()
        .and_then(tools::named);
    parent.child(
        || match (known, tool) {
            (Some(method), Some(tool)) => format!("{method} {tool}").into(),
            (Some(method), None) => method.into(),
            (None, _) => "unknown".into(),
        },
        || {
            let mut attributes = vec![
                KeyValue::new("mcp.method.name", bounded(method).into_owned()),
                KeyValue::new("mcp.protocol.version", ctx.version.as_str()),
                KeyValue::new(
                    "jsonrpc.request.id",
                    bounded(&request.id.to_string()).into_owned(),
                ),
            ];
            if let Some(tool) = tool {
                attributes.push(KeyValue::new("gen_ai.tool.name", tool));
                attributes.push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
            }
            attributes
        },
    )
}

/// The answer to `request`, whose span is `span`.
async fn answer(
    ctx: &RequestContext<'_>,
    request: &Request,
    span: &traces::Span,
) -> Result<Payload, McpError> {
    if !ctx.version.is_stateless() {
        return negotiated(ctx, request, span).await;
    }
    let mut result = stateless(ctx, request, span).await?;
    result.extend(&STATELESS_MEMBERS);
    Ok(result)
}

/// What every stateless result carries: `resultType` and the server's identity in `_meta`.
static STATELESS_MEMBERS: LazyLock<Members> = LazyLock::new(|| {
    let mut meta = Map::new();
    meta.insert(META_SERVER_INFO.into(), server_info());
    let mut members = Map::new();
    members.insert("resultType".into(), "complete".into());
    members.insert("_meta".into(), Value::Object(meta));
    Members::new(members)
});

/// The `server/discover` result, serialised once.
static DISCOVER: LazyLock<Bytes> = LazyLock::new(|| {
    json!({
        "supportedVersions": era::SERVED,
        "capabilities": { "tools": {} },
        "instructions": tools::instructions(),
        "ttlMs": DISCOVER_TTL_MS,
        "cacheScope": "public",
    })
    .to_string()
    .into()
});

/// What a stateless `tools/list` result adds: how long it may be cached, and by whom.
static LIST_CACHING: LazyLock<Members> = LazyLock::new(|| {
    let mut members = Map::new();
    members.insert("ttlMs".into(), TOOLS_TTL_MS.into());
    members.insert("cacheScope".into(), "public".into());
    Members::new(members)
});

async fn stateless(
    ctx: &RequestContext<'_>,
    request: &Request,
    span: &traces::Span,
) -> Result<Payload, McpError> {
    match request.method.as_str() {
        "server/discover" => Ok(Payload::Rendered(DISCOVER.clone())),
        "tools/list" => {
            let mut result = tools_list(ctx);
            result.extend(&LIST_CACHING);
            Ok(result)
        }
        "tools/call" => tools_call(ctx, request, span).await,
        other => Err(McpError::MethodNotFound(
            bounded(other).into_owned(),
            "; this server offers server/discover, tools/list and tools/call",
        )),
    }
}

async fn negotiated(
    ctx: &RequestContext<'_>,
    request: &Request,
    span: &traces::Span,
) -> Result<Payload, McpError> {
    match request.method.as_str() {
        "initialize" => Ok(Payload::Value(json!({
            "protocolVersion": ctx.version.as_str(),
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": server_info(),
            "instructions": tools::instructions(),
        }))),
        "ping" => Ok(Payload::Value(json!({}))),
        "tools/list" => Ok(tools_list(ctx)),
        "tools/call" => tools_call(ctx, request, span).await,
        other => Err(McpError::MethodNotFound(
            bounded(other).into_owned(),
            "; this server offers initialize, ping, tools/list and tools/call",
        )),
    }
}

fn tools_list(ctx: &RequestContext) -> Payload {
    Payload::Rendered(
        ctx.tools
            .list_result(ctx.version.has_structured_output())
            .clone(),
    )
}

/// The tool a `tools/call` names, when it is one of ours (a name the caller made up is not
/// recorded).
pub(super) fn named_tool(request: &Request) -> Option<&'static str> {
    match request.params.get("name") {
        Some(Value::String(n)) => tools::named(n),
        _ => None,
    }
}

/// The most messages one JSON-RPC batch may hold. The clients this project is tested with
/// (ChatGPT, the MCP Inspector, the TypeScript and Python SDKs' clients) send one message per
/// POST; a batch comes from a hand-written 2025-03-26 client, and 32 gives it room. It also
/// keeps a whole batch of tool calls inside the default burst of the caller's allowance
/// (`MCP_RATE_LIMIT_BURST`, 60), which a batch takes at once. It was the setting
/// `MCP_MAX_BATCH`, which no deployment, script or benchmark had a reason to change.
pub(crate) const MAX_BATCH: usize = 32;

/// Refuses a batch of more than [`MAX_BATCH`] messages, before any of it is read further. A
/// refused batch is one audit event, whatever it holds: one per item would let a caller write
/// thousands of lines with one request.
pub(crate) fn within_batch_bound(ctx: &RequestContext<'_>, len: usize) -> Result<(), McpError> {
    if len <= MAX_BATCH {
        return Ok(());
    }
    ctx.record(&CallRecord::refused(None, "batch_too_large"));
    Err(McpError::BatchTooLarge(len, MAX_BATCH))
}

/// Takes the tool calls among `requests`, what one POST carries, from the caller's allowance
/// all at once, before any of them is answered: the one place tool calls are admitted, for
/// `/mcp` (a message alone or a batch) and `/messages` alike. A refused call is one audit
/// event, named by its tool.
pub(crate) async fn admit<'r>(
    ctx: &RequestContext<'_>,
    requests: impl Iterator<Item = &'r Request> + Clone,
) -> Result<(), McpError> {
    let calls = requests.filter(|r| r.method == "tools/call");
    let count = calls.clone().count() as u32;
    if count == 0 {
        return Ok(());
    }
    let Err(limited) = ctx.fair.admit(ctx.sender.caller, count).await else {
        return Ok(());
    };
    for call in calls {
        ctx.record(&CallRecord::refused(named_tool(call), "limited"));
    }
    Err(McpError::Limited(limited.held().await))
}

/// `tools/call`, already admitted by [`admit`] (which records the calls it refuses). Every
/// admitted call, answered or refused, is one event in the audit trail, written here: from the
/// record the registry makes of a call it ran or refused for a scope, or from the refusal here
/// before a tool runs.
async fn tools_call(
    ctx: &RequestContext<'_>,
    request: &Request,
    span: &traces::Span,
) -> Result<Payload, McpError> {
    let (answer, record) = run_call(ctx, request, span).await;
    ctx.record(&record);
    answer
}

/// Runs an admitted tool call: its answer, and the record of it for the audit trail.
async fn run_call(
    ctx: &RequestContext<'_>,
    request: &Request,
    span: &traces::Span,
) -> (Result<Payload, McpError>, CallRecord) {
    let named = named_tool(request);
    let refused = |reason, error| (Err(error), CallRecord::refused(named, reason));
    let (name, args) = match call_params(request) {
        Ok(params) => params,
        Err(e) => return refused("invalid_params", e),
    };
    let Some(call) = ctx.tools.call(
        name,
        args,
        &ctx.sender.principal,
        span,
        ctx.progress.as_ref(),
        ctx.version.has_structured_output(),
    ) else {
        return refused(
            "unknown_tool",
            McpError::InvalidParams(format!(
                "unknown tool `{name}`; the tools are {}",
                tools::listed("and")
            )),
        );
    };
    match call {
        Call::Done(payload, record) => (Ok(payload), record),
        Call::Rank(work) => match ctx.fair.rank(ctx.sender.caller, work).await {
            Ok((payload, record)) => (Ok(payload), record),
            Err(limited) => refused("limited", McpError::Limited(limited.held().await)),
        },
    }
}

/// The tool a `tools/call` names and the arguments it passes (none is an empty object).
fn call_params(request: &Request) -> Result<(&str, &Map<String, Value>), McpError> {
    static NO_ARGUMENTS: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);
    let name = match request.params.get("name") {
        Some(Value::String(n)) => n,
        Some(_) => {
            return Err(McpError::InvalidParams(
                "params.name must be a string".into(),
            ));
        }
        None => {
            return Err(McpError::InvalidParams(format!(
                "params.name is required: the tool to call, {}",
                tools::listed("or")
            )));
        }
    };
    let args = match request.params.get("arguments") {
        None | Some(Value::Null) => &NO_ARGUMENTS,
        Some(Value::Object(a)) => a,
        Some(_) => {
            return Err(McpError::InvalidParams(
                "params.arguments must be an object".into(),
            ));
        }
    };
    Ok((name, args))
}

fn server_info() -> Value {
    json!({ "name": SERVER_NAME, "title": SERVER_TITLE, "version": env!("CARGO_PKG_VERSION") })
}

/// The `progressToken` of a request, if it asked for progress.
pub(crate) fn progress_token(request: &Request) -> Option<Value> {
    request
        .meta()
        .and_then(|m| m.get("progressToken"))
        .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
        .cloned()
}
