//! Snippets cut from stored passages and index positions, held against tantivy's
//! `SnippetGenerator` (which re-reads each hit's whole text, as the server did before) on the
//! same index and the same queries.

use proptest::prelude::*;
use tantivy::collector::TopDocs;
use tantivy::schema::{TantivyDocument, Value as _};
use tantivy::snippet::SnippetGenerator;

use super::*;
use crate::corpus::Corpus;
use crate::corpus::Document;
use crate::corpus::index::{Builder, Index};

/// tantivy's snippet, written as the server wrote it before: matches in `**bold**`, or the head
/// of the text when no word of the text matched.
fn reference(generator: &SnippetGenerator, text: &str) -> String {
    let s = generator.snippet(text);
    if s.is_empty() {
        return head(text);
    }
    let fragment = s.fragment();
    let mut out = String::new();
    let mut at = 0;
    for range in s.highlighted() {
        out.push_str(&fragment[at..range.start]);
        out.push_str("**");
        out.push_str(&fragment[range.clone()]);
        out.push_str("**");
        at = range.end;
    }
    out.push_str(&fragment[at..]);
    out.trim().to_owned()
}

/// For each query, the snippets of its top hits cut both ways.
fn both_ways(index: &Index, queries: &[&str]) -> Vec<(String, String, String)> {
    let (searcher, fields) = index.parts();
    let (text, passages_field) = fields;
    let mut out = Vec::new();
    for q in queries {
        let query = index.query(q);
        let top = searcher
            .search(&*query, &TopDocs::with_limit(20).order_by_score())
            .unwrap();
        let docs: Vec<(DocAddress, TantivyDocument)> = top
            .iter()
            .map(|(_, a)| (*a, searcher.doc(*a).unwrap()))
            .collect();
        let mut generator = SnippetGenerator::create(&searcher, &*query, text).unwrap();
        generator.set_max_num_chars(SNIPPET_BYTES);
        let ours = Snippets::new(&searcher, &*query, text).unwrap();
        let cuts: Vec<Cut> = docs
            .iter()
            .map(|(address, doc)| Cut {
                address: *address,
                text: doc.get_first(text).and_then(|v| v.as_str()).unwrap(),
                passages: doc
                    .get_first(passages_field)
                    .and_then(|v| v.as_bytes())
                    .unwrap(),
            })
            .collect();
        let cut = ours.cut(&searcher, &cuts).unwrap();
        for (c, mine) in cuts.iter().zip(cut) {
            out.push((q.to_string(), reference(&generator, c.text), mine));
        }
    }
    out
}

fn index_of(texts: &[String]) -> Index {
    let mut builder = Builder::new(None).unwrap();
    for (n, text) in texts.iter().enumerate() {
        builder
            .add_in(
                "",
                &Document {
                    id: format!("d{n}"),
                    title: format!("title {n}"),
                    text: text.clone(),
                    url: String::new(),
                    metadata: None,
                    acl: Vec::new(),
                },
            )
            .unwrap();
    }
    builder.finish().unwrap()
}

fn assert_same(pairs: &[(String, String, String)]) {
    assert!(!pairs.is_empty());
    for (q, theirs, ours) in pairs {
        assert_eq!(ours, theirs, "query {q:?}");
    }
}

#[test]
fn the_sample_corpus_gets_the_snippets_tantivy_cut() {
    let corpus = Corpus::sample();
    let served = corpus.current();
    let pairs = both_ways(
        &served.index,
        &[
            "chocolate orders",
            "chocolate",
            "\"salted caramel\" -lemon +box",
            "title:refund policy",
            "refund policy late delivery",
            "cupcake",
            "+wedding -birthday cake",
            "allergy gluten nuts",
            "customer complaint",
            "the a of",
        ],
    );
    assert!(pairs.iter().any(|(_, _, s)| s.contains("**")));
    assert_same(&pairs);
}

/// Long texts of many passages, with repeated words (passages of equal score), words longer than
/// the index keeps, non-ASCII letters, and text that starts with punctuation.
fn long_texts() -> Vec<String> {
    let words = [
        "order",
        "orders",
        "ordered",
        "Chocolate",
        "cake",
        "déjà",
        "vu",
        "crème",
        "brûlée",
        "lemon",
        "tart",
        "delivery",
        "x",
        "42",
        "straße",
        "naïve",
    ];
    let long_word = "a".repeat(45);
    let mut texts = Vec::new();
    for n in 0..60usize {
        let mut t = String::new();
        if n % 3 == 0 {
            t.push_str("  ...\n— ");
        }
        for i in 0..(40 + n * 7) {
            let w = words[(i * 7 + n * 3 + i / 5) % words.len()];
            t.push_str(w);
            t.push_str(match (i + n) % 6 {
                0 => ", ",
                1 => ". ",
                2 => "\n",
                _ => " ",
            });
            if (i + n) % 37 == 0 {
                t.push_str(&long_word);
                t.push(' ');
            }
        }
        texts.push(t);
    }
    texts.push("order ".repeat(100));
    texts.push(format!("{long_word} order"));
    texts.push(format!("{} order chocolate", "z".repeat(200)));
    texts
}

#[test]
fn long_texts_get_the_snippets_tantivy_cut() {
    let index = index_of(&long_texts());
    let pairs = both_ways(
        &index,
        &[
            "order",
            "chocolate cake",
            "\"crème brûlée\"",
            "lemon -cake",
            "straße naïve",
            "déjà vu order",
            "x 42",
            "delivery tart +lemon",
            "nothing here",
        ],
    );
    assert!(pairs.len() > 60, "{}", pairs.len());
    assert_same(&pairs);
}

#[test]
fn passages_survive_their_encoding() {
    let text = long_texts().concat();
    let passages = decode(&super::passages(&text));
    assert!(passages.len() > 100);
    for pair in passages.windows(2) {
        assert!(pair[0].first < pair[1].first && pair[0].stop <= pair[1].start);
    }
    assert!(
        passages
            .iter()
            .all(|p| (p.stop - p.start) as usize <= SNIPPET_BYTES)
    );
    assert!(
        decode(&[0xff]).is_empty(),
        "a torn varint reads as no passages"
    );
    assert!(decode(&[3, 1]).is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_text_gets_the_snippet_tantivy_cut(
        texts in prop::collection::vec("[a-cA-C ,.\\n]{0,400}", 1..8),
        query in "[a-c]{1,2}( [a-c]{1,2}){0,2}",
    ) {
        let index = index_of(&texts);
        for (q, theirs, ours) in both_ways(&index, &[query.as_str()]) {
            prop_assert_eq!(ours, theirs, "query {:?}", q);
        }
    }
}
