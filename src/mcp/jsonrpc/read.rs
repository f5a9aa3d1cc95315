//! Reading a POST body: one message member by member, or a batch.
//!
//! Only the members JSON-RPC defines are kept and the others are skipped unread, so no map is
//! built for the message itself (this runs for every request; docs/benchmarks.md). A member
//! given twice counts with its last value, as when the object is read into a map. This is the one
//! reader of messages: `/mcp`, each item of a batch and `/messages` all go through it.

use serde_json::{Map, Value};

use super::{Id, Incoming, Invalid, Request, invalid};
use crate::mcp::error::McpError;

/// The visits of a JSON value that is neither an object, an array nor a string: each answers
/// `$answer`.
macro_rules! scalars {
    ($value:ty, $answer:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$value, E> {
            Ok($answer)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$value, E> {
            Ok($answer)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$value, E> {
            Ok($answer)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$value, E> {
            Ok($answer)
        }
        fn visit_unit<E>(self) -> Result<$value, E> {
            Ok($answer)
        }
    };
}

/// A POST body as first read: one value, or a batch of them.
#[derive(Debug)]
pub(crate) enum Body {
    One(Item),
    Batch(Vec<Item>),
}

/// One value of a body or of a batch: a message, or a value that is not a JSON object
/// (answered as an invalid request).
#[derive(Debug)]
pub(crate) enum Item {
    Message(Envelope),
    NotAnObject,
}

impl Item {
    /// Classifies the item; what is not an object is an invalid request.
    pub(crate) fn classify(self) -> Result<Incoming, Invalid> {
        match self {
            Item::Message(envelope) => envelope.classify(),
            Item::NotAnObject => Err(super::not_an_object()),
        }
    }
}

impl Body {
    /// Reads a body. A single message is read member by member, keeping only those JSON-RPC
    /// defines and skipping the others unread, so no map is built for the message itself
    /// (this runs for every request; docs/benchmarks.md).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Body, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The members of one message that JSON-RPC defines. As in a JSON object read into a map, a
/// member given twice counts with its last value.
#[derive(Debug, Default)]
pub(crate) struct Envelope {
    /// `"jsonrpc": "2.0"` is there.
    version: bool,
    id: Option<Value>,
    method: Option<Value>,
    params: Option<Value>,
    /// A `result` or an `error` member is there (the message is a response).
    answered: bool,
}

impl Envelope {
    /// Reads the members of one message, skipping those JSON-RPC does not define.
    fn read<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Envelope, A::Error> {
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
        Ok(e)
    }

    /// Classifies the message.
    pub(crate) fn classify(self) -> Result<Incoming, Invalid> {
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
            None => Incoming::Notification,
        })
    }
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

    scalars!(Body, Body::One(Item::NotAnObject));

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON-RPC message or a batch of them")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Body, A::Error> {
        ItemVisitor.visit_map(map).map(Body::One)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Body, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Body::Batch(items))
    }

    fn visit_str<E>(self, _: &str) -> Result<Body, E> {
        Ok(Body::One(Item::NotAnObject))
    }
}

impl<'de> serde::Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
        d.deserialize_any(ItemVisitor)
    }
}

/// Reads one value: an object as a message, anything else (an array inside a batch too) as a
/// value that is not an object.
struct ItemVisitor;

impl<'de> serde::de::Visitor<'de> for ItemVisitor {
    type Value = Item;

    scalars!(Item, Item::NotAnObject);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
        Envelope::read(map).map(Item::Message)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Item::NotAnObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<Item, E> {
        Ok(Item::NotAnObject)
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

    scalars!(IsVersion, IsVersion(false));

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<IsVersion, E> {
        Ok(IsVersion(v == "2.0"))
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
