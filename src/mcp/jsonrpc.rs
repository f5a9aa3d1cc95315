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

/// A POST body as first read: one message, a batch, or a value that is neither (answered as an
/// invalid request).
#[derive(Debug)]
pub enum Body {
    One(Envelope),
    Batch(Vec<Value>),
    Neither,
}

impl Body {
    /// Reads a body. A single message is read member by member, keeping only those JSON-RPC
    /// defines and skipping the others unread, so no map is built for the message itself
    /// (this runs for every request; docs/benchmarks.md).
    pub fn parse(bytes: &[u8]) -> Result<Body, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The members of one message that JSON-RPC defines. As in a JSON object read into a map, a
/// member given twice counts with its last value.
#[derive(Debug, Default)]
pub struct Envelope {
    /// `"jsonrpc": "2.0"` is there.
    version: bool,
    id: Option<Value>,
    method: Option<Value>,
    params: Option<Value>,
    /// A `result` or an `error` member is there (the message is a response).
    answered: bool,
}

impl Envelope {
    fn of(mut object: Map<String, Value>) -> Envelope {
        Envelope {
            version: object.get("jsonrpc").and_then(Value::as_str) == Some("2.0"),
            id: object.remove("id"),
            method: object.remove("method"),
            params: object.remove("params"),
            answered: object.contains_key("result") || object.contains_key("error"),
        }
    }

    /// Classifies the message.
    pub fn classify(self) -> Result<Incoming, Invalid> {
        let id = match &self.id {
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
        if !self.version {
            return Err(invalid(id, "the message must have \"jsonrpc\": \"2.0\""));
        }
        let method = match self.method {
            Some(Value::String(m)) => m,
            Some(_) => return Err(invalid(id, "\"method\" must be a string")),
            None if self.answered => {
                return if id.is_some() {
                    Ok(Incoming::Response)
                } else {
                    Err(invalid(None, "a response must carry the id of its request"))
                };
            }
            None => return Err(invalid(id, "the message has no \"method\"")),
        };
        let params = match self.params {
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
}

/// Classifies one JSON value as a JSON-RPC message.
pub fn classify(value: Value) -> Result<Incoming, Invalid> {
    match value {
        Value::Object(object) => Envelope::of(object).classify(),
        _ => Err(not_an_object()),
    }
}

/// What a message that is not a JSON object gets.
pub fn not_an_object() -> Invalid {
    invalid(None, "a JSON-RPC message must be a JSON object")
}

impl<'de> serde::Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Body, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

/// The members of a message, by name; `Other` for names JSON-RPC does not define.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Member {
    Jsonrpc,
    Id,
    Method,
    Params,
    Result,
    Error,
    #[serde(other)]
    Other,
}

impl<'de> serde::de::Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON-RPC message or a batch of them")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        use serde::de::IgnoredAny;
        let mut e = Envelope::default();
        while let Some(member) = map.next_key::<Member>()? {
            match member {
                Member::Jsonrpc => e.version = map.next_value::<IsVersion>()?.0,
                Member::Id => e.id = Some(map.next_value()?),
                Member::Method => e.method = Some(map.next_value()?),
                Member::Params => e.params = Some(map.next_value()?),
                Member::Result | Member::Error => {
                    map.next_value::<IgnoredAny>()?;
                    e.answered = true;
                }
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Body::One(e))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Body, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Body::Batch(items))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Body, E> {
        Ok(Body::Neither)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Body, E> {
        Ok(Body::Neither)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Body, E> {
        Ok(Body::Neither)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Body, E> {
        Ok(Body::Neither)
    }
    fn visit_str<E>(self, _: &str) -> Result<Body, E> {
        Ok(Body::Neither)
    }
    fn visit_unit<E>(self) -> Result<Body, E> {
        Ok(Body::Neither)
    }
}

/// Whether a `jsonrpc` member is the string `2.0`; any other value, of any type, is read and
/// answers no.
struct IsVersion(bool);

impl<'de> serde::Deserialize<'de> for IsVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<IsVersion, D::Error> {
        d.deserialize_any(IsVersionVisitor)
    }
}

struct IsVersionVisitor;

impl<'de> serde::de::Visitor<'de> for IsVersionVisitor {
    type Value = IsVersion;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<IsVersion, E> {
        Ok(IsVersion(v == "2.0"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<IsVersion, E> {
        Ok(IsVersion(false))
    }
    fn visit_i64<E>(self, _: i64) -> Result<IsVersion, E> {
        Ok(IsVersion(false))
    }
    fn visit_u64<E>(self, _: u64) -> Result<IsVersion, E> {
        Ok(IsVersion(false))
    }
    fn visit_f64<E>(self, _: f64) -> Result<IsVersion, E> {
        Ok(IsVersion(false))
    }
    fn visit_unit<E>(self) -> Result<IsVersion, E> {
        Ok(IsVersion(false))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<IsVersion, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(IsVersion(false))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<IsVersion, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(IsVersion(false))
    }
}

fn invalid(id: Option<Id>, why: &str) -> Invalid {
    Invalid {
        id,
        error: McpError::InvalidRequest(why.into()),
    }
}

/// A result to answer with: a value, or an object the server serialised before (a cached
/// search answer, the tool list), written out as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Value(Value),
    /// The UTF-8 text of a JSON object, made by `serde_json` from the server's own data; shared
    /// with the cache it came from, so answering with it copies nothing.
    Rendered(Bytes),
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
pub struct Message {
    head: String,
    result: Option<Bytes>,
}

impl Message {
    /// The whole text (copied together only when the message has a rendered result).
    pub fn text(&self) -> Cow<'_, str> {
        match &self.result {
            None => Cow::Borrowed(&self.head),
            Some(result) => {
                let mut out = String::with_capacity(self.head.len() + result.len() + 1);
                out.push_str(&self.head);
                // Rendered results are made from `String`s, so this never replaces anything.
                out.push_str(&String::from_utf8_lossy(result));
                out.push('}');
                Cow::Owned(out)
            }
        }
    }

    /// The message as up to three pieces of bytes to send one after the other, without copying
    /// a rendered result.
    pub fn into_pieces(self) -> [Bytes; 3] {
        match self.result {
            None => [Bytes::from(self.head), Bytes::new(), Bytes::new()],
            Some(result) => [Bytes::from(self.head), result, Bytes::from_static(b"}")],
        }
    }

    /// A JSON array of messages (a batch answer).
    pub fn batch(messages: &[Message]) -> String {
        let texts: Vec<Cow<str>> = messages.iter().map(Message::text).collect();
        let mut out = String::with_capacity(texts.iter().map(|t| t.len() + 1).sum::<usize>() + 2);
        out.push('[');
        for (n, text) in texts.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(text);
        }
        out.push(']');
        out
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
pub fn success(id: &Id, result: Payload) -> Message {
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
pub fn failure(id: Option<&Id>, error: &McpError) -> Message {
    let mut body = Map::new();
    body.insert("code".into(), error.code().into());
    body.insert("message".into(), error.to_string().into());
    if let Some(data) = error.data() {
        body.insert("data".into(), data);
    }
    Message::of(&serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": body }))
}

/// A notification the server sends (progress, on an SSE response).
pub fn notification(method: &str, params: Value) -> Message {
    Message::of(&serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(value: Value) -> i64 {
        classify(value).unwrap_err().error.code()
    }

    #[test]
    fn a_rendered_result_reads_exactly_as_the_same_value_would() {
        let value = json!({"content": [{"type": "text", "text": "a \"quoted\" word"}]});
        let mut members = Map::new();
        members.insert("resultType".into(), "complete".into());
        members.insert("_meta".into(), json!({"k": {"name": "x"}}));
        let members = Members::new(members);
        let mut rendered = Payload::Rendered(value.to_string().into());
        rendered.extend(&members);
        let mut tree = Payload::Value(value);
        tree.extend(&members);
        let id = Id(json!("req-1"));
        let rendered = success(&id, rendered);
        let a: Value = serde_json::from_str(&rendered.text()).unwrap();
        let b: Value = serde_json::from_str(&success(&id, tree).text()).unwrap();
        let pieces: Vec<u8> = rendered.into_pieces().concat();
        assert_eq!(serde_json::from_slice::<Value>(&pieces).unwrap(), a);
        assert_eq!(a, b);
        assert_eq!(a["result"]["_meta"]["k"]["name"], "x");
        assert_eq!(a["id"], "req-1");
    }

    #[test]
    fn members_are_added_to_an_empty_rendered_object() {
        let mut empty = Payload::Rendered(Bytes::from_static(b"{}"));
        let mut members = Map::new();
        members.insert("a".into(), 1.into());
        empty.extend(&Members::new(members));
        assert_eq!(empty, Payload::Rendered(Bytes::from_static(br#"{"a":1}"#)));
    }

    #[test]
    fn a_batch_is_a_json_array_of_its_messages() {
        let id = Id(json!(1));
        let batch = Message::batch(&[
            success(&id, Payload::Value(json!({}))),
            failure(None, &McpError::InvalidRequest("x".into())),
        ]);
        let parsed: Value = serde_json::from_str(&batch).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 2);
    }

    #[test]
    fn reading_a_body_member_by_member_classifies_as_reading_it_whole() {
        let bodies = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"q"}}}"#,
            r#"{"method":"ping","id":"a","jsonrpc":"2.0","extra":{"deep":[1,{"x":null}]}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":null}"#,
            r#"{"jsonrpc":"2.0","error":{}}"#,
            r#"{"jsonrpc":"1.0","id":9,"method":"x"}"#,
            r#"{"jsonrpc":["2.0"],"id":9,"method":"x"}"#,
            r#"{"jsonrpc":{"v":"2.0"},"id":9,"method":"x"}"#,
            r#"{"jsonrpc":2.0,"id":9,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","method":"b","id":2}"#,
            r#"{"jsonrpc":"2.0","jsonrpc":"1.0","id":1,"method":"x"}"#,
            r#"{"json\u0072pc":"2.0","id":1,"method":"escaped name"}"#,
            r#"{}"#,
        ];
        for body in bodies {
            let whole = classify(serde_json::from_str(body).unwrap());
            let Body::One(message) = Body::parse(body.as_bytes()).unwrap() else {
                panic!("{body} is one message");
            };
            assert_eq!(
                format!("{:?}", message.classify()),
                format!("{whole:?}"),
                "{body}"
            );
        }
        for neither in ["1", "\"text\"", "null", "true", "2.5"] {
            assert!(matches!(Body::parse(neither.as_bytes()), Ok(Body::Neither)));
            let whole = classify(serde_json::from_str(neither).unwrap());
            assert_eq!(
                format!("{whole:?}"),
                format!("{:?}", Err::<Incoming, _>(not_an_object()))
            );
        }
        let Ok(Body::Batch(items)) =
            Body::parse(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},3]"#)
        else {
            panic!("an array is a batch");
        };
        assert_eq!(items.len(), 2);
        for broken in ["", "{", "{\"id\":1,}", "[1,]", "{} {}", "{\"a\":1}x"] {
            assert!(Body::parse(broken.as_bytes()).is_err(), "{broken}");
        }
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
