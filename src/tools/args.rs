//! Reading a tool's arguments into its typed struct. The arguments are first held against the
//! tool's input schema, so that every refusal names the argument and says what to send: one the
//! schema does not declare, a required one left out, a value of the wrong type or out of range.
//! Only then does `serde` fill the struct, which therefore cannot disagree with the schema the
//! client was shown.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Definition;

/// The arguments of one call as the tool's struct `T` (which may borrow its strings from
/// them), or the message telling the caller what to change.
pub fn parse<'a, T: Deserialize<'a>>(
    args: &'a Map<String, Value>,
    definition: &Definition,
) -> Result<T, String> {
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
        return Err(format!("`{missing}` is required; {}", definition.hint));
    }
    T::deserialize(args).map_err(|e| {
        format!(
            "the arguments do not fit the `{}` tool: {e}",
            definition.name
        )
    })
}

/// The refusal of an argument the tool does not declare, listing those it does (required
/// ones first).
fn unknown_argument(key: &str, properties: &Map<String, Value>, required: &[Value]) -> String {
    let required: Vec<&str> = required.iter().filter_map(Value::as_str).collect();
    let mut known: Vec<&str> = required.clone();
    known.extend(
        properties
            .keys()
            .map(String::as_str)
            .filter(|k| !required.contains(k)),
    );
    let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    format!(
        "unknown argument `{key}`; this tool takes {}",
        known.join(", ")
    )
}

/// Holds one value against its property's `type` (and `minimum`/`maximum` for integers).
fn check_value(key: &str, property: &Value, value: &Value) -> Result<(), String> {
    let fits = match property["type"].as_str() {
        Some("string") => value.is_string(),
        Some("integer") => {
            let min = property["minimum"].as_u64().unwrap_or(0);
            let max = property["maximum"].as_u64().unwrap_or(u64::MAX);
            return match value.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(format!(
                    "`{key}` must be a whole number from {min} to {max}, not {value}"
                )),
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
    Err(format!("`{key}` must be {kind}, not {value}"))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Args<'a> {
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

    fn parsed(args: Value) -> Result<Args<'static>, String> {
        let args: &'static Value = Box::leak(Box::new(args));
        parse(args.as_object().unwrap(), &definition())
    }

    #[test]
    fn arguments_that_fit_the_schema_fill_the_struct() {
        assert_eq!(
            parsed(json!({"query": "tea", "limit": 5})),
            Ok(Args {
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
}
