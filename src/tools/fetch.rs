//! `fetch`: reads one document by the id `search` returned (ChatGPT connector contract: input
//! `{id}`, result `{id, title, text, url, metadata?}`). A document the caller may not see gets
//! the same answer as one that does not exist, so ids of hidden documents cannot be probed.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Context, Definition, Noted, Outcome, Tool, parse_args};
use crate::corpus::document::MAX_ID_BYTES;
use crate::telemetry::audit::Served;

/// The `fetch` tool.
pub(crate) struct Fetch;

/// What `fetch` takes.
#[derive(Deserialize)]
struct FetchArgs<'a> {
    id: &'a str,
}

static DEFINITION: LazyLock<Definition> = LazyLock::new(|| Definition {
    name: "fetch",
    title: "Fetch document",
    description: "Read the full text of one document by the id that `search` returned.",
    purpose: "with a result's id to read one in full",
    hint: "send an id from the results of `search`",
    input_schema: json!({
        "type": "object",
        "properties": {
            "id": { "type": "string", "minLength": 1, "description": "A document id from search results." }
        },
        "required": ["id"],
        "additionalProperties": false
    }),
    output_schema: json!({
        "type": "object",
        "properties": {
            "id": { "type": "string" },
            "title": { "type": "string" },
            "text": { "type": "string" },
            "url": { "type": "string" },
            "metadata": { "type": "object" }
        },
        "required": ["id", "title", "text", "url"]
    }),
});

impl Tool for Fetch {
    fn definition(&self) -> &'static Definition {
        &DEFINITION
    }

    fn call(&self, args: &Map<String, Value>, ctx: &Context) -> Outcome {
        let FetchArgs { id } = match parse_args(args, &DEFINITION) {
            Ok(args) => args,
            Err(why) => return Outcome::Failed(why.to_string()),
        };
        if id.is_empty() {
            return Outcome::Failed(format!("`id` is required; {}", DEFINITION.hint));
        }
        // No document can have a longer id, so there is nothing to look up or to note.
        if id.len() > MAX_ID_BYTES {
            return Outcome::Failed(format!(
                "`id` is {} bytes long, and no document id is longer than {MAX_ID_BYTES}; {}",
                id.len(),
                DEFINITION.hint
            ));
        }
        let note = |served| {
            *ctx.note.borrow_mut() = Noted::Fetch {
                id: id.to_owned(),
                served,
            };
        };
        let doc = match ctx.corpus.get(id, ctx.access) {
            Ok(Some(doc)) => doc,
            Ok(None) => {
                // The caller is told the same either way; only the audit trail tells them apart.
                match ctx.corpus.holds(id) {
                    Ok(true) => note(Served::Hidden),
                    Ok(false) => note(Served::Absent),
                    Err(e) => return Outcome::Broken(e.to_string()),
                }
                return Outcome::Failed(format!(
                    "no document has the id `{id}`; use an id from the results of `search`"
                ));
            }
            Err(e) => return Outcome::Broken(e.to_string()),
        };
        note(Served::Served);
        let mut result =
            json!({ "id": doc.id, "title": doc.title, "text": doc.text, "url": doc.url });
        if let Some(metadata) = doc.metadata {
            result["metadata"] = Value::Object(metadata);
        }
        Outcome::Done(result)
    }
}
