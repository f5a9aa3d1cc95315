//! `fetch`: reads one document by the id `search` returned (ChatGPT connector contract: input
//! `{id}`, result `{id, title, text, url, metadata?}`). A document the caller may not see gets
//! the same answer as one that does not exist, so ids of hidden documents cannot be probed.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Context, Definition, Outcome, Tool, parse_args};

/// The `fetch` tool.
pub struct Fetch;

/// What `fetch` takes.
#[derive(Deserialize)]
struct Args<'a> {
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
        let Args { id } = match parse_args(args, &DEFINITION) {
            Ok(args) => args,
            Err(why) => return Outcome::Failed(why),
        };
        if id.is_empty() {
            return Outcome::Failed(format!("`id` is required; {}", DEFINITION.hint));
        }
        let doc = match ctx.corpus.get(id, ctx.access) {
            Ok(Some(doc)) => doc,
            Ok(None) => {
                return Outcome::Failed(format!(
                    "no document has the id `{id}`; use an id from the results of `search`"
                ));
            }
            Err(e) => return Outcome::Broken(e.to_string()),
        };
        let mut result =
            json!({ "id": doc.id, "title": doc.title, "text": doc.text, "url": doc.url });
        if let Some(metadata) = doc.metadata {
            result["metadata"] = Value::Object(metadata);
        }
        Outcome::Done(result)
    }
}
