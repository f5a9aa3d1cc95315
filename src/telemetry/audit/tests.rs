//! The fields of audit events, read back from the JSON log format the server writes.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JSON lines `record` writes for `event` with `queries`, as the server's JSON log has them.
fn recorded(queries: Queries, event: &Event) -> Vec<Value> {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || Audit::new(queries).record(event));
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn alice() -> Who<'static> {
    Who {
        sub: Some("7d3c-alice"),
        username: Some("alice"),
        azp: Some("chatgpt"),
    }
}

fn search(query: &'static str, ids: &'static [String]) -> Event<'static> {
    Event {
        request_id: "r-1",
        who: alice(),
        tool: Some("search"),
        outcome: CallOutcome::Ok,
        detail: Detail::Search { query, ids },
    }
}

#[test]
fn a_search_names_the_caller_the_tool_the_query_and_the_ids_returned() {
    static IDS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| vec!["order-1".into(), "a \"quoted\" id".into()]);
    let lines = recorded(Queries::Text, &search("abc", &IDS));
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["target"], TARGET);
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["request_id"], "r-1");
    assert_eq!(line["sub"], "7d3c-alice");
    assert_eq!(line["preferred_username"], "alice");
    assert_eq!(line["azp"], "chatgpt");
    assert_eq!(line["tool"], "search");
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["query"], "abc");
    assert!(line.get("query_sha256").is_none(), "{line}");
    assert!(line.get("reason").is_none(), "{line}");
    let ids: Vec<String> = serde_json::from_str(line["result_ids"].as_str().unwrap()).unwrap();
    assert_eq!(ids, *IDS);
}

#[test]
fn queries_are_hashed_by_default_and_can_be_left_out() {
    // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let hashed = &recorded(Queries::Hash, &search("abc", &[]))[0];
    assert_eq!(hashed["query_sha256"], abc);
    assert!(hashed.get("query").is_none(), "{hashed}");
    assert_eq!(hashed["result_ids"], "[]");
    let off = &recorded(Queries::Off, &search("abc", &[]))[0];
    assert!(
        off.get("query").is_none() && off.get("query_sha256").is_none(),
        "{off}"
    );
}

#[test]
fn a_fetch_says_whether_the_document_was_served_hidden_or_absent() {
    for (served, said) in [
        (Served::Served, "served"),
        (Served::Hidden, "hidden"),
        (Served::Absent, "absent"),
    ] {
        let event = Event {
            request_id: "r-2",
            who: alice(),
            tool: Some("fetch"),
            outcome: CallOutcome::Ok,
            detail: Detail::Fetch {
                id: "invoice-3001",
                served: Some(served),
            },
        };
        let line = &recorded(Queries::Hash, &event)[0];
        assert_eq!(line["fetch_id"], "invoice-3001");
        assert_eq!(line["fetch"], said);
        assert!(line.get("result_ids").is_none(), "{line}");
    }
}

#[test]
fn a_refused_call_says_why_and_names_no_one_it_could_not_verify() {
    let event = Event {
        request_id: "r-3",
        who: Who::default(),
        tool: None,
        outcome: CallOutcome::Refused("expired"),
        detail: Detail::None,
    };
    let line = &recorded(Queries::Hash, &event)[0];
    assert_eq!(line["outcome"], "refused");
    assert_eq!(line["reason"], "expired");
    for absent in ["sub", "preferred_username", "azp", "tool", "query_sha256"] {
        assert!(line.get(absent).is_none(), "{absent}: {line}");
    }
}
