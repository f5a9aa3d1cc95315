//! `search`: finds documents for a query (ChatGPT connector contract: input `{query}`, result
//! `{results: [{id, title, url}]}`). An optional `limit` (1–50, default 10) leaves `query` the
//! only required input. Each result also carries `text`, a short snippet with the matched words
//! in `**bold**`, which the contract allows and which helps the model pick what to fetch.
//!
//! Queries are words, ranked by BM25 with title matches counting more and English word forms
//! folded together ("orders" finds "order"). `"quoted words"` match as a phrase, `+word` and
//! `-word` require or exclude a word, and `title:word` looks only in titles. Only documents the
//! caller may see are searched.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Context, Definition, Note, Noted, Outcome, Tool, parse_args};
use crate::corpus::results::SearchKey;
use crate::corpus::{self, Found};

pub(crate) const DEFAULT_LIMIT: u64 = 10;
pub(crate) const MAX_LIMIT: u64 = 50;
/// Longest query accepted, in characters.
pub(crate) const MAX_QUERY_CHARS: usize = 1000;

/// The `search` tool.
pub(crate) struct Search;

/// What `search` takes.
#[derive(Deserialize)]
struct SearchArgs<'a> {
    query: &'a str,
    limit: Option<u64>,
}

static DEFINITION: LazyLock<Definition> = LazyLock::new(|| Definition {
    name: "search",
    title: "Search documents",
    description: "Search the organisation's documents. Returns the best matches with their \
                  id, title and url; pass an id to `fetch` to read the whole document.",
    purpose: "to find documents about a topic",
    hint: "send the words to search for, e.g. {\"query\": \"chocolate orders\"}",
    input_schema: json!({
        "type": "object",
        "properties": {
            "query": {
                "type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS,
                "description": "What to look for, in words. \"Quoted words\" match as a phrase."
            },
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
                        "url": { "type": "string" },
                        "text": { "type": "string", "description": "A short passage with the matched words in **bold**." }
                    },
                    "required": ["id", "title", "url"]
                }
            },
            "partial": {
                "type": "boolean",
                "description": "Present and true when a quoted phrase matched in more places than one search reads: the results are the best of the places read."
            },
            "note": { "type": "string", "description": "What to change for a complete answer, when `partial`." }
        },
        "required": ["results"]
    }),
});

impl Tool for Search {
    fn definition(&self) -> &'static Definition {
        &DEFINITION
    }

    fn call(&self, args: &Map<String, Value>, ctx: &Context) -> Outcome {
        let args: SearchArgs = match parse_args(args, &DEFINITION) {
            Ok(args) => args,
            Err(why) => return Outcome::Failed(why.to_string()),
        };
        let query = args.query.trim();
        if query.is_empty() {
            return Outcome::Failed(format!("`query` is empty; {}", DEFINITION.hint));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Outcome::Failed(format!(
                "`query` is longer than {MAX_QUERY_CHARS} characters; send a few words to search for"
            ));
        }
        if !query.chars().any(char::is_alphanumeric) {
            return Outcome::Failed(format!(
                "`query` {query:?} has no words to search for; send words, e.g. {{\"query\": \"chocolate orders\"}}"
            ));
        }
        rank(query, args.limit.unwrap_or(DEFAULT_LIMIT) as usize, ctx)
    }
}

/// What `search` answers: the results and, when a phrase matched in more places than one search
/// reads, `partial` with a note saying what to change.
#[derive(Serialize)]
pub(super) struct Answer<'a> {
    results: Vec<Listed<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    partial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
}

/// One result: the ChatGPT connector contract's `id`, `title` and `url`, and the snippet.
#[derive(Serialize)]
struct Listed<'a> {
    id: &'a str,
    title: &'a str,
    url: &'a str,
    text: &'a str,
}

pub(super) fn answer(found: &Found) -> Answer<'_> {
    Answer {
        results: found
            .hits
            .iter()
            .map(|h| Listed {
                id: &h.id,
                title: &h.title,
                url: &h.url,
                text: &h.snippet,
            })
            .collect(),
        partial: found.partial,
        note: found.partial.then_some(PARTIAL_NOTE),
    }
}

/// The note of a partial answer.
pub(crate) const PARTIAL_NOTE: &str = "A quoted phrase of very common words matched in more places \
    than one search reads; these are the best matches among the places read. Add a rarer word \
    or drop the quotes for a complete answer.";

/// The answer from the cache, or ranking work that makes it.
fn rank(query: &str, limit: usize, ctx: &Context) -> Outcome {
    // Answers are cached whole, serialised, per form; see corpus::results. A cached answer is
    // sent at once, a cheap new search (corpus::CHEAP_POSTINGS) is ranked at once, and any other
    // is ranked on the ranking pool (crate::fair).
    let form = u8::from(ctx.structured);
    let cached = SearchKey { query, limit, form };
    if let Some(answer) = ctx.corpus.cached_answer(cached, ctx.access) {
        return answered(query, answer, ctx.note);
    }
    if let Some(p) = ctx.progress {
        p.report(0, 1, "searching");
    }
    let structured = ctx.structured;
    let text = |found: &Found| super::rendered(&answer(found), structured);
    if let Some(answer) = ctx.corpus.cheap_answer(cached, ctx.access, text) {
        if let Some(p) = ctx.progress {
            p.report(1, 1, "done");
        }
        return match answer {
            Ok(answer) => answered(query, answer, ctx.note),
            Err(e) => Outcome::Broken(e.to_string()),
        };
    }
    let (corpus, access, progress) = (
        ctx.corpus.clone(),
        ctx.access.clone(),
        ctx.progress.cloned(),
    );
    let query = query.to_owned();
    Outcome::Rank(Box::new(move |note| {
        let search = SearchKey {
            query: &query,
            limit,
            form,
        };
        let answer = corpus.search_answer(search, &access, |found| {
            super::rendered(&answer(found), structured)
        });
        if let Some(p) = progress {
            p.report(1, 1, "done");
        }
        match answer {
            Ok(answer) => answered(&query, answer, note),
            Err(e) => Outcome::Broken(e.to_string()),
        }
    }))
}

/// The outcome of an answered search, noting the query and the ids answered.
fn answered(query: &str, answer: corpus::Rendered, note: &Note) -> Outcome {
    *note.borrow_mut() = Noted::Search {
        query: query.to_owned(),
        ids: answer.ids,
    };
    Outcome::Answered(answer.text)
}
