//! JSON-RPC 2.0 messages as MCP carries them (JSON-RPC 2.0 §4–5; MCP "Base Protocol", Messages).
//!
//! Incoming messages are classified once into requests, notifications and responses; anything
//! else becomes an [`McpError`] that says what to change. MCP narrows JSON-RPC: request ids are
//! strings or integers (never null), and `params`, when present, is an object.

use std::borrow::Cow;

use axum::body::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::McpError;
pub(crate) use crate::tools::Payload;

mod read;
pub(crate) use read::{Body, Item};

/// A request id: a string or an integer, as the client sent it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub(crate) struct Id(Value);

/// The id as text: a string id as it is, a number in decimal.
impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Value::String(s) => f.write_str(s),
            other => write!(f, "{other}"),
        }
    }
}

impl Id {
    fn parse(value: &Value) -> Option<Id> {
        let ok = value.is_string() || value.is_i64() || value.is_u64();
        ok.then(|| Id(value.clone()))
    }
}

/// A request: it has an id and expects a response.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub id: Id,
    pub method: String,
    pub params: Map<String, Value>,
}

impl Request {
    /// A string parameter, if present and a string.
    pub(crate) fn str_param(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }

    /// The request's `_meta` object, if any.
    pub(crate) fn meta(&self) -> Option<&Map<String, Value>> {
        self.params.get("_meta").and_then(Value::as_object)
    }
}

/// What a client may send.
#[derive(Debug, Clone)]
pub(crate) enum Incoming {
    Request(Request),
    /// A notification (no id); answered with 202 and no body.
    Notification,
    /// A response to a server request; this server sends none, so it is acknowledged and dropped.
    Response,
}

/// A message that could not be classified, with the id to answer under when one was readable.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub id: Option<Id>,
    pub error: McpError,
}

/// Classifies one JSON value as a JSON-RPC message, through the reader of POST bodies: for
/// tests, which write their messages with `json!`.
#[cfg(test)]
pub(crate) fn classify(value: Value) -> Result<Incoming, Invalid> {
    use serde::Deserialize;
    Item::deserialize(value).map_or_else(|_| Err(not_an_object()), Item::classify)
}

/// What a message that is not a JSON object gets.
pub(crate) fn not_an_object() -> Invalid {
    invalid(None, "a JSON-RPC message must be a JSON object")
}

fn invalid(id: Option<Id>, why: &str) -> Invalid {
    Invalid {
        id,
        error: McpError::InvalidRequest(why.into()),
    }
}

/// Members to add to result objects, kept as values and as JSON text so that adding them to a
/// rendered result costs no serialising.
#[derive(Debug, Clone)]
pub struct Members {
    map: Map<String, Value>,
    text: String,
}

impl Members {
    pub fn new(map: Map<String, Value>) -> Self {
        let text = map
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
            .collect::<Vec<_>>()
            .join(",");
        Members { map, text }
    }
}

impl Payload {
    /// Adds members to a result object (the stateless era's `resultType` and `_meta`); an
    /// object member already there is merged one level deep. A rendered object must not
    /// already have them: rendered results are tool and list results, which carry neither.
    pub fn extend(&mut self, members: &Members) {
        match self {
            Payload::Value(Value::Object(object)) => {
                for (k, v) in &members.map {
                    match (object.get_mut(k), v) {
                        (Some(Value::Object(old)), Value::Object(new)) => {
                            old.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())))
                        }
                        (_, v) => {
                            object.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            Payload::Value(_) => {}
            Payload::Rendered(text) => {
                debug_assert!(text.ends_with(b"}"));
                if members.text.is_empty() {
                    return;
                }
                let mut out = Vec::with_capacity(text.len() + members.text.len() + 1);
                out.extend_from_slice(&text[..text.len() - 1]);
                if text.len() > 2 {
                    out.push(b',');
                }
                out.extend_from_slice(members.text.as_bytes());
                out.push(b'}');
                *text = Bytes::from(out);
            }
        }
    }
}

/// One outgoing JSON-RPC message, serialised once: the body of a JSON answer or the data of an
/// SSE event. A result rendered before is not copied into it: the message is its head (up to
/// `"result":`), that result, and the closing brace.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    head: String,
    result: Option<Bytes>,
}

impl Message {
    /// The whole text (copied together only when the message has a rendered result).
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match &self.result {
            None => Cow::Borrowed(&self.head),
            Some(_) => {
                // Rendered results are made from `String`s, so this never replaces anything.
                let whole = self.pieces().concat();
                Cow::Owned(
                    String::from_utf8(whole)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                )
            }
        }
    }

    /// The message as up to three pieces of bytes to send one after the other, without copying
    /// a rendered result.
    pub(crate) fn into_pieces(self) -> [Bytes; 3] {
        match self.result {
            None => [Bytes::from(self.head), Bytes::new(), Bytes::new()],
            Some(result) => [Bytes::from(self.head), result, Bytes::from_static(b"}")],
        }
    }

    /// The message as up to three pieces of bytes, borrowed: what [`Message::into_pieces`]
    /// gives, for writing the message into a buffer of one's own.
    pub(crate) fn pieces(&self) -> [&[u8]; 3] {
        match &self.result {
            None => [self.head.as_bytes(), b"", b""],
            Some(result) => [self.head.as_bytes(), result, b"}"],
        }
    }

    /// Its length in bytes, as sent.
    pub(crate) fn len(&self) -> usize {
        self.pieces().iter().map(|p| p.len()).sum()
    }

    /// A message already written out, as another replica relays it.
    pub(crate) fn text_of(text: String) -> Message {
        Message {
            head: text,
            result: None,
        }
    }

    fn of(value: &Value) -> Message {
        Message {
            head: value.to_string(),
            result: None,
        }
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.text() == other.text()
    }
}

impl Eq for Message {}

/// A success response.
pub(crate) fn success(id: &Id, result: Payload) -> Message {
    match result {
        Payload::Value(result) => {
            Message::of(&serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result }))
        }
        Payload::Rendered(result) => {
            let id = serde_json::to_string(id).expect("an id serialises");
            let mut head = String::with_capacity(id.len() + 34);
            head.push_str(r#"{"jsonrpc":"2.0","id":"#);
            head.push_str(&id);
            head.push_str(r#","result":"#);
            Message {
                head,
                result: Some(result),
            }
        }
    }
}

/// An error response; `id` is null when the request's id could not be read.
pub(crate) fn failure(id: Option<&Id>, error: &McpError) -> Message {
    let mut body = Map::new();
    body.insert("code".into(), error.code().into());
    body.insert("message".into(), error.to_string().into());
    if let Some(data) = error.data() {
        body.insert("data".into(), data);
    }
    Message::of(&serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": body }))
}

/// A notification the server sends (progress, on an SSE response).
pub(crate) fn notification(method: &str, params: Value) -> Message {
    Message::of(&serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params }))
}

#[cfg(test)]
mod tests;
