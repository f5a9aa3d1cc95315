//! JSON-RPC 2.0 messages as MCP carries them (JSON-RPC 2.0 §4–5; MCP "Base Protocol", Messages).
//!
//! Incoming messages are classified once into requests, notifications and responses; anything
//! else becomes an [`McpError`] that says what to change. MCP narrows JSON-RPC: request ids are
//! strings or integers (never null), and `params`, when present, is an object.

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::McpError;

/// A request id: a string or an integer, as the client sent it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Id(Value);

impl Id {
    fn parse(value: &Value) -> Option<Id> {
        let ok = value.is_string() || value.is_i64() || value.is_u64();
        ok.then(|| Id(value.clone()))
    }

    /// The id as text, for logs.
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

/// A request: it has an id and expects a response.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: Id,
    pub method: String,
    pub params: Map<String, Value>,
}

impl Request {
    /// A string parameter, if present and a string.
    pub fn str_param(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }

    /// The request's `_meta` object, if any.
    pub fn meta(&self) -> Option<&Map<String, Value>> {
        self.params.get("_meta").and_then(Value::as_object)
    }
}

/// What a client may send.
#[derive(Debug, Clone)]
pub enum Incoming {
    Request(Request),
    /// A notification (no id); answered with 202 and no body.
    Notification {
        method: String,
    },
    /// A response to a server request; this server sends none, so it is acknowledged and dropped.
    Response,
}

/// A message that could not be classified, with the id to answer under when one was readable.
#[derive(Debug)]
pub struct Invalid {
    pub id: Option<Id>,
    pub error: McpError,
}

/// Classifies one JSON value as a JSON-RPC message.
pub fn classify(value: Value) -> Result<Incoming, Invalid> {
    let Value::Object(mut object) = value else {
        return Err(invalid(None, "a JSON-RPC message must be a JSON object"));
    };
    let id = match object.get("id") {
        None => None,
        Some(raw) => match Id::parse(raw) {
            Some(id) => Some(id),
            None => {
                return Err(invalid(
                    None,
                    "the request id must be a string or an integer; null and other types are not allowed",
                ));
            }
        },
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(id, "the message must have \"jsonrpc\": \"2.0\""));
    }
    let method = match object.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => return Err(invalid(id, "\"method\" must be a string")),
        None if object.contains_key("result") || object.contains_key("error") => {
            return if id.is_some() {
                Ok(Incoming::Response)
            } else {
                Err(invalid(None, "a response must carry the id of its request"))
            };
        }
        None => return Err(invalid(id, "the message has no \"method\"")),
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err(Invalid {
                id,
                error: McpError::InvalidParams("\"params\" must be an object".into()),
            });
        }
    };
    Ok(match id {
        Some(id) => Incoming::Request(Request { id, method, params }),
        None => Incoming::Notification { method },
    })
}

fn invalid(id: Option<Id>, why: &str) -> Invalid {
    Invalid {
        id,
        error: McpError::InvalidRequest(why.into()),
    }
}

/// A success response.
pub fn success(id: &Id, result: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error response; `id` is null when the request's id could not be read.
pub fn failure(id: Option<&Id>, error: &McpError) -> Value {
    let mut body = Map::new();
    body.insert("code".into(), error.code().into());
    body.insert("message".into(), error.to_string().into());
    if let Some(data) = error.data() {
        body.insert("data".into(), data);
    }
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": body })
}

/// A notification the server sends (progress, on an SSE response).
pub fn notification(method: &str, params: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(value: Value) -> i64 {
        classify(value).unwrap_err().error.code()
    }

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        let r = classify(json!({"jsonrpc": "2.0", "id": "a", "method": "ping"})).unwrap();
        assert!(matches!(r, Incoming::Request(Request { ref method, .. }) if method == "ping"));
        let n = classify(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert!(matches!(n, Ok(Incoming::Notification { .. })));
        let s = classify(json!({"jsonrpc": "2.0", "id": 3, "result": {}}));
        assert!(matches!(s, Ok(Incoming::Response)));
    }

    #[test]
    fn ids_must_be_strings_or_integers() {
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": null, "method": "ping"})),
            -32600
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1.5, "method": "ping"})),
            -32600
        );
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": [1], "method": "ping"})),
            -32600
        );
        assert!(classify(json!({"jsonrpc": "2.0", "id": u64::MAX, "method": "ping"})).is_ok());
        assert!(classify(json!({"jsonrpc": "2.0", "id": -7, "method": "ping"})).is_ok());
    }

    #[test]
    fn malformed_messages_name_what_is_wrong() {
        assert_eq!(code(json!("ping")), -32600);
        assert_eq!(code(json!({"id": 1, "method": "ping"})), -32600);
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1, "method": 5})),
            -32600
        );
        assert_eq!(code(json!({"jsonrpc": "2.0", "id": 1})), -32600);
        assert_eq!(
            code(json!({"jsonrpc": "2.0", "id": 1, "method": "x", "params": [1]})),
            -32602
        );
        let e = classify(json!({"jsonrpc": "1.0", "id": 9, "method": "x"})).unwrap_err();
        assert_eq!(
            e.id,
            Some(Id(json!(9))),
            "the readable id is kept for the answer"
        );
    }
}
