//! `fetch`: reads one document by the id `search` returned (ChatGPT connector contract: input
//! `{id}`, result `{id, title, text, url, metadata?}`). A document the caller may not see gets
//! the same answer as one that does not exist, so ids of hidden documents cannot be probed.

use serde_json::{Map, Value, json};

use super::{Context, Definition, Outcome, only_known_args};

pub fn definition() -> Definition {
    Definition {
        title: "Fetch document",
        description: "Read the full text of one document by the id that `search` returned.",
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
    }
}

pub fn call(args: &Map<String, Value>, ctx: &Context) -> Outcome {
    if let Err(why) = only_known_args(args, &["id"]) {
        return Outcome::Failed(why);
    }
    let id = match args.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id,
        Some(Value::String(_)) | None => {
            return Outcome::Failed(
                "`id` is required; send an id from the results of `search`".into(),
            );
        }
        Some(other) => return Outcome::Failed(format!("`id` must be a string, not {other}")),
    };
    let doc = match ctx.corpus.get(id, ctx.access) {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            return Outcome::Failed(format!(
                "no document has the id `{id}`; use an id from the results of `search`"
            ));
        }
        Err(e) => return Outcome::Broken(e.to_string()),
    };
    let mut result = json!({ "id": doc.id, "title": doc.title, "text": doc.text, "url": doc.url });
    if let Some(metadata) = doc.metadata {
        result["metadata"] = Value::Object(metadata);
    }
    Outcome::Done(result)
}
