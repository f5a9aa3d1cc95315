//! MCP over HTTP. For now the authenticated `POST /mcp` answers `initialize`, `ping` and
//! notifications; the full protocol (all eras, tools, SSE) is added on top of this gate.

pub mod origin;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::Principal;

/// Protocol revisions this endpoint negotiates, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];

fn error(status: StatusCode, id: Value, code: i64, message: String) -> Response {
    let body = json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// `POST /mcp`, reached only with a valid token.
pub async fn post(_principal: Principal, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32700,
            "the body is not valid JSON".into(),
        );
    };
    let method = message.get("method").and_then(Value::as_str).unwrap_or("");
    let Some(id) = message
        .get("id")
        .cloned()
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
    else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match method {
        "initialize" => {
            let asked = message
                .pointer("/params/protocolVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            let version = SUPPORTED_VERSIONS
                .iter()
                .find(|v| **v == asked)
                .unwrap_or(&SUPPORTED_VERSIONS[0]);
            json!({
                "protocolVersion": version,
                "capabilities": { "tools": {} },
                "serverInfo": { "name": "mcp-resource-server", "version": env!("CARGO_PKG_VERSION") },
            })
        }
        "ping" => json!({}),
        other => {
            return error(
                StatusCode::NOT_FOUND,
                id,
                -32601,
                format!("method `{other}` is not supported"),
            );
        }
    };
    axum::Json(json!({ "jsonrpc": "2.0", "id": id, "result": result })).into_response()
}

/// `GET` and `DELETE /mcp`: this server keeps no sessions and opens no standalone streams.
pub async fn method_not_allowed(_principal: Principal) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(axum::http::header::ALLOW, "POST")],
        "this endpoint is stateless: send JSON-RPC messages with POST",
    )
        .into_response()
}
