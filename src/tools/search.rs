//! `search`: finds documents for a query (ChatGPT connector contract: input `{query}`, result
//! `{results: [{id, title, url}]}`). An optional `limit` (1–50, default 10) leaves `query` the
//! only required input.

use serde_json::{Map, Value, json};

use super::{Context, Definition, Outcome, integer_arg, only_known_args};

pub const DEFAULT_LIMIT: u64 = 10;
pub const MAX_LIMIT: u64 = 50;

pub fn definition() -> Definition {
    Definition {
        title: "Search documents",
        description: "Search the organisation's documents. Returns the best matches with their \
                      id, title and url; pass an id to `fetch` to read the whole document.",
        input_schema: json!({
            "type": "object",
            "properties": {
                "query": { "type": "string", "minLength": 1, "description": "What to look for, in words." },
                "limit": {
                    "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT,
                    "description": "How many results to return at most."
                }
            },
            "required": ["query"],
            "additionalProperties": false
        }),
        output_schema: json!({
            "type": "object",
            "properties": {
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": { "type": "string" },
                            "title": { "type": "string" },
                            "url": { "type": "string" }
                        },
                        "required": ["id", "title", "url"]
                    }
                }
            },
            "required": ["results"]
        }),
    }
}

pub fn call(args: &Map<String, Value>, ctx: &Context) -> Outcome {
    if let Err(why) = only_known_args(args, &["query", "limit"]) {
        return Outcome::Failed(why);
    }
    let query = match args.get("query") {
        Some(Value::String(q)) if !q.trim().is_empty() => q.trim(),
        Some(Value::String(_)) => {
            return Outcome::Failed(
                "`query` is empty; send the words to search for, e.g. {\"query\": \"chocolate orders\"}"
                    .into(),
            );
        }
        Some(other) => {
            return Outcome::Failed(format!("`query` must be a string, not {other}"));
        }
        None => {
            return Outcome::Failed(
                "`query` is required; send the words to search for, e.g. {\"query\": \"chocolate orders\"}"
                    .into(),
            );
        }
    };
    let limit = match integer_arg(args, "limit", DEFAULT_LIMIT, MAX_LIMIT) {
        Ok(n) => n as usize,
        Err(why) => return Outcome::Failed(why),
    };
    let total = ctx.corpus.len() as u64;
    if let Some(p) = ctx.progress {
        p.report(0, total, "searching");
    }
    let results: Vec<Value> = ctx
        .corpus
        .search(query, limit)
        .into_iter()
        .map(|hit| json!({ "id": hit.document.id, "title": hit.document.title, "url": hit.document.url }))
        .collect();
    if let Some(p) = ctx.progress {
        p.report(total, total, "done");
    }
    Outcome::Done(json!({ "results": results }))
}
