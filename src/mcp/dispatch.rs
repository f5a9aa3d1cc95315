//! Answers one MCP request by method, per era (MCP "Lifecycle", "Tools", 2026-07-28
//! `server/discover` and "Caching").
//!
//! The stateless era serves `server/discover`, `tools/list` and `tools/call`; the
//! initialize-based eras serve `initialize`, `ping`, `tools/list` and `tools/call`. Stateless
//! results carry `resultType: "complete"` and the server's identity in `_meta`; cacheable ones
//! carry `ttlMs` and `cacheScope`.

use serde_json::{Map, Value, json};

use super::era::{self, META_SERVER_INFO, Version};
use super::error::McpError;
use super::jsonrpc::Request;
use crate::auth::Principal;
use crate::tools::{Progress, Tools};

pub const SERVER_NAME: &str = "mcp-resource-server";
const SERVER_TITLE: &str = "Organisation documents";
const INSTRUCTIONS: &str = "Use `search` to find documents about a topic and `fetch` with a \
                            result's id to read one in full. Cite documents by their url.";
/// How long clients may cache `server/discover` and `tools/list` results.
const DISCOVER_TTL_MS: u64 = 3_600_000;
const TOOLS_TTL_MS: u64 = 300_000;

/// Everything one request may use.
pub struct Context<'a> {
    pub tools: &'a Tools,
    pub principal: &'a Principal,
    pub version: Version,
    /// Where progress notifications go, when the response is a stream.
    pub progress: Option<Progress>,
}

/// The result of `request`, or the error to answer with.
pub fn handle(ctx: &Context, request: &Request) -> Result<Value, McpError> {
    let mut result = if ctx.version.is_stateless() {
        stateless(ctx, request)?
    } else {
        negotiated(ctx, request)?
    };
    if ctx.version.is_stateless() {
        result.insert("resultType".into(), "complete".into());
        let meta = result
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        meta[META_SERVER_INFO] = server_info();
    }
    Ok(Value::Object(result))
}

fn stateless(ctx: &Context, request: &Request) -> Result<Map<String, Value>, McpError> {
    match request.method.as_str() {
        "server/discover" => Ok(object(json!({
            "supportedVersions": era::SERVED,
            "capabilities": { "tools": {} },
            "instructions": INSTRUCTIONS,
            "ttlMs": DISCOVER_TTL_MS,
            "cacheScope": "public",
        }))),
        "tools/list" => {
            let mut result = tools_list(ctx);
            result.insert("ttlMs".into(), TOOLS_TTL_MS.into());
            result.insert("cacheScope".into(), "public".into());
            Ok(result)
        }
        "tools/call" => tools_call(ctx, request),
        other => Err(McpError::MethodNotFound(
            other.to_owned(),
            "; this server offers server/discover, tools/list and tools/call",
        )),
    }
}

fn negotiated(ctx: &Context, request: &Request) -> Result<Map<String, Value>, McpError> {
    match request.method.as_str() {
        "initialize" => Ok(object(json!({
            "protocolVersion": ctx.version.as_str(),
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": server_info(),
            "instructions": INSTRUCTIONS,
        }))),
        "ping" => Ok(Map::new()),
        "tools/list" => Ok(tools_list(ctx)),
        "tools/call" => tools_call(ctx, request),
        other => Err(McpError::MethodNotFound(
            other.to_owned(),
            "; this server offers initialize, ping, tools/list and tools/call",
        )),
    }
}

fn tools_list(ctx: &Context) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("tools".into(), ctx.tools.list(ctx.version).clone());
    result
}

fn tools_call(ctx: &Context, request: &Request) -> Result<Map<String, Value>, McpError> {
    let name = match request.params.get("name") {
        Some(Value::String(n)) => n,
        Some(_) => {
            return Err(McpError::InvalidParams(
                "params.name must be a string".into(),
            ));
        }
        None => {
            return Err(McpError::InvalidParams(
                "params.name is required: the tool to call, `search` or `fetch`".into(),
            ));
        }
    };
    let empty = Map::new();
    let args = match request.params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(a)) => a,
        Some(_) => {
            return Err(McpError::InvalidParams(
                "params.arguments must be an object".into(),
            ));
        }
    };
    let result = ctx
        .tools
        .call(
            name,
            args,
            ctx.principal,
            ctx.progress.as_ref(),
            ctx.version,
        )
        .ok_or_else(|| {
            McpError::InvalidParams(format!(
                "unknown tool `{name}`; the tools are `search` and `fetch`"
            ))
        })?;
    Ok(object(result))
}

fn server_info() -> Value {
    json!({ "name": SERVER_NAME, "title": SERVER_TITLE, "version": env!("CARGO_PKG_VERSION") })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The `progressToken` of a request, if it asked for progress.
pub fn progress_token(request: &Request) -> Option<Value> {
    request
        .meta()
        .and_then(|m| m.get("progressToken"))
        .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
        .cloned()
}
