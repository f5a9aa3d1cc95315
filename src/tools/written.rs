//! How a `tools/call` result is written: the structured value as `structuredContent` and the
//! same JSON as text in `content[0]` (the ChatGPT contract), or a message with `isError`.

use serde_json::{Value, json};

/// The `tools/call` result for a structured value: its JSON text as the content, and the value
/// itself as `structuredContent` when the era has it.
pub fn result(value: Value, structured: bool) -> Value {
    let text = value.to_string();
    let envelope = ResultShape {
        content: [Text {
            kind: "text",
            text: &text,
        }],
        structured: structured.then_some(value),
    };
    serde_json::to_value(envelope).expect("a result is JSON")
}

/// [`result`], written straight to its JSON text from any serialisable value, for answers that
/// are sent as they are (a search's): the value is written to text once, and that text is both
/// the content (escaped as a JSON string) and, when the era has it, the structured content
/// beside it, so the value is never built as a tree nor written twice. sonic-rs writes it:
/// escaping the answer's text as a JSON string was a tenth of a new search's cost with
/// serde_json, which escapes byte by byte (docs/benchmarks.md).
pub fn rendered(value: &impl serde::Serialize, structured: bool) -> String {
    let text = sonic_rs::to_string(value).expect("a result is JSON");
    let content = ResultShape::<()> {
        content: [Text {
            kind: "text",
            text: &text,
        }],
        structured: None,
    };
    let mut out = sonic_rs::to_string(&content).expect("a result is JSON");
    if structured {
        // The envelope's closing brace gives way to the structured content: the same text,
        // which is the value's JSON, in the place `ResultShape::structured` has in `result`.
        out.pop();
        out.reserve(text.len() + STRUCTURED.len() + 1);
        out.push_str(STRUCTURED);
        out.push_str(&text);
        out.push('}');
    }
    out
}

/// What precedes the structured content in a written result, after the content.
const STRUCTURED: &str = ",\"structuredContent\":";

/// The shape of a `tools/call` result.
#[derive(serde::Serialize)]
struct ResultShape<'a, S> {
    content: [Text<'a>; 1],
    #[serde(rename = "structuredContent", skip_serializing_if = "Option::is_none")]
    structured: Option<S>,
}

#[derive(serde::Serialize)]
struct Text<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

pub(super) fn failed(message: String) -> Value {
    json!({ "content": [{ "type": "text", "text": message }], "isError": true })
}
