//! Reading a tool's arguments into its typed struct. The arguments are first held against the
//! tool's input schema, so that every refusal names the argument and says what to send: one the
//! schema does not declare, a required one left out, a value of the wrong type or out of range.
//! Only then does `serde` fill the struct, which therefore cannot disagree with the schema the
//! client was shown.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Definition;

/// Why a call's arguments were refused, in words that name the argument and what to send. What
/// the caller wrote is quoted cut to [`QUOTED_CHARS`] characters, so a refusal is never larger
/// than a sentence however large the argument.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ArgsError {
    #[error("unknown argument `{key}`; this tool takes {known}")]
    Unknown { key: String, known: String },
    #[error("`{key}` must be a whole number from {min} to {max}, not {value}")]
    OutOfRange {
        key: String,
        min: u64,
        max: u64,
        value: String,
    },
    #[error("`{key}` must be {kind}, not {value}")]
    WrongType {
        key: String,
        kind: &'static str,
        value: String,
    },
    #[error("`{key}` is required; {hint}")]
    Missing { key: String, hint: &'static str },
    #[error("the arguments do not fit the `{tool}` tool: {reason}")]
    Shape { tool: &'static str, reason: String },
}

/// How much of an argument's name or value a refusal quotes.
pub(super) const QUOTED_CHARS: usize = 60;

/// `text` cut to [`QUOTED_CHARS`] characters, marked when cut.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The arguments of one call as the tool's struct `T` (which may borrow its strings from
/// them), or the refusal telling the caller what to change.
pub fn parse<'a, T: Deserialize<'a>>(
    args: &'a Map<String, Value>,
    definition: &Definition,
) -> Result<T, ArgsError> {
    let schema = &definition.input_schema;
    let empty = Map::new();
    let properties = schema["properties"].as_object().unwrap_or(&empty);
    let required = schema["required"].as_array().map_or(&[][..], Vec::as_slice);
    let is_required = |key: &str| required.iter().any(|r| r == key);
    if let Some(unknown) = args.keys().find(|k| !properties.contains_key(*k)) {
        return Err(unknown_argument(unknown, properties, required));
    }
    for (key, value) in args {
        let property = &properties[key];
        // An optional argument sent as null counts as left out; a required one must have its
        // type.
        if !value.is_null() || is_required(key) {
            check_value(key, property, value)?;
        }
    }
    let missing = required
        .iter()
        .filter_map(Value::as_str)
        .find(|k| !args.contains_key(*k));
    if let Some(missing) = missing {
        return Err(ArgsError::Missing {
            key: missing.to_owned(),
            hint: definition.hint,
        });
    }
    T::deserialize(args).map_err(|e| ArgsError::Shape {
        tool: definition.name,
        reason: quoted(&e.to_string()),
    })
}

/// The refusal of an argument the tool does not declare, listing those it does (required
/// ones first).
fn unknown_argument(key: &str, properties: &Map<String, Value>, required: &[Value]) -> ArgsError {
    let required: Vec<&str> = required.iter().filter_map(Value::as_str).collect();
    let mut known: Vec<&str> = required.clone();
    known.extend(
        properties
            .keys()
            .map(String::as_str)
            .filter(|k| !required.contains(k)),
    );
    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    ArgsError::Unknown {
        key: quoted(key),
        known: known.join(", "),
    }
}

/// Holds one value against its property's `type` (and `minimum`/`maximum` for integers).
fn check_value(key: &str, property: &Value, value: &Value) -> Result<(), ArgsError> {
    let fits = match property["type"].as_str() {
        Some("string") => value.is_string(),
        Some("integer") => {
            let min = property["minimum"].as_u64().unwrap_or(0);
            let max = property["maximum"].as_u64().unwrap_or(u64::MAX);
            return match value.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(ArgsError::OutOfRange {
                    key: key.to_owned(),
                    min,
                    max,
                    value: quoted(&value.to_string()),
                }),
            };
        }
        Some("boolean") => value.is_boolean(),
        Some("number") => value.is_number(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        _ => true,
    };
    if fits {
        return Ok(());
    }
    let kind = match property["type"].as_str() {
        Some("string") => "a string",
        Some("boolean") => "true or false",
        Some("number") => "a number",
        Some("array") => "a list",
        _ => "an object",
    };
    Err(ArgsError::WrongType {
        key: key.to_owned(),
        kind,
        value: quoted(&value.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sample<'a> {
        query: &'a str,
        limit: Option<u64>,
    }

    fn definition() -> Definition {
        Definition {
            name: "find",
            title: "Find",
            description: "",
            purpose: "",
            hint: "send the words to look for",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 50 }
                },
                "required": ["query"]
            }),
            output_schema: json!({}),
        }
    }

    fn parsed(args: Value) -> Result<Sample<'static>, String> {
        let args: &'static Value = Box::leak(Box::new(args));
        parse(args.as_object().unwrap(), &definition()).map_err(|e| e.to_string())
    }

    #[test]
    fn arguments_that_fit_the_schema_fill_the_struct() {
        assert_eq!(
            parsed(json!({"query": "tea", "limit": 5})),
            Ok(Sample {
                query: "tea",
                limit: Some(5)
            })
        );
        assert_eq!(
            parsed(json!({"query": "tea", "limit": null}))
                .unwrap()
                .limit,
            None
        );
    }

    #[test]
    fn every_refusal_names_the_argument_and_what_to_send() {
        for (args, message) in [
            (json!({}), "`query` is required; send the words to look for"),
            (json!({"query": null}), "`query` must be a string, not null"),
            (json!({"query": 7}), "`query` must be a string, not 7"),
            (
                json!({"query": "x", "limit": 0}),
                "`limit` must be a whole number from 1 to 50, not 0",
            ),
            (
                json!({"query": "x", "limit": "5"}),
                "`limit` must be a whole number from 1 to 50, not \"5\"",
            ),
            (
                json!({"query": "x", "q": 1}),
                "unknown argument `q`; this tool takes `query`, `limit`",
            ),
        ] {
            assert_eq!(parsed(args.clone()), Err(message.to_owned()), "{args}");
        }
    }

    #[test]
    fn a_refusal_quotes_at_most_a_few_words_of_what_was_sent() {
        let long = "x".repeat(100_000);
        let e = parsed(json!({"query": "x", "limit": long})).unwrap_err();
        assert!(
            e.starts_with("`limit` must be a whole number from 1 to 50, not \"xxx"),
            "{e}"
        );
        assert!(e.ends_with('…') && e.chars().count() < 120, "{e}");
        let e = parsed(json!({"query": "x", long.as_str(): 1})).unwrap_err();
        assert!(
            e.starts_with("unknown argument `xxx") && e.len() < 200,
            "{e}"
        );
    }
}
