//! Ranking: the query tree given to tantivy, and the order of equal scores.

use tantivy::Score;
use tantivy::query::QueryParser;

use super::rank::same_score;
use super::*;
use crate::corpus::Corpus;

/// tantivy's own query parser, set up as the index was before it built its own query trees.
fn tantivys_parser(index: &Index) -> QueryParser {
    let searcher = index.searcher.clone();
    let (title, text) = (index.store.fields.title, index.store.fields.text);
    let mut parser = QueryParser::for_index(searcher.index(), vec![title, text]);
    parser.set_field_boost(title, TITLE_BOOST);
    parser
}

/// Every match of `ours` and of tantivy's parser, with its score.
type Matches = Vec<(Score, DocAddress)>;

fn both(index: &Index, q: &str) -> (Matches, Matches) {
    let searcher = index.searcher.clone();
    let all = |query: &dyn Query| {
        searcher
            .search(query, &TopDocs::with_limit(100_000).order_by_score())
            .unwrap()
    };
    let ours = all(&*index.query(q));
    // What the server ran before it built its own trees: its reading of the query, handed to
    // tantivy's parser.
    let parser = tantivys_parser(index);
    let theirs = all(&*parser
        .build_query_from_user_input_ast_lenient(query::parse(q))
        .0);
    (ours, theirs)
}

/// The same documents match, each with the same score up to the order of the additions (the
/// flattened query adds the same term scores in another order).
fn assert_same_ranking(index: &Index, q: &str) {
    let (ours, _) = both(index, q);
    assert!(!ours.is_empty(), "{q} found nothing");
    assert_same_matches(index, q);
}

fn assert_same_matches(index: &Index, q: &str) {
    let (ours, theirs) = both(index, q);
    assert_eq!(ours.len(), theirs.len(), "{q}");
    let scores: std::collections::HashMap<DocAddress, Score> =
        theirs.iter().map(|(s, a)| (*a, *s)).collect();
    for (score, address) in &ours {
        let theirs = scores
            .get(address)
            .unwrap_or_else(|| panic!("{q}: {address:?}"));
        assert!(same_score(*score, *theirs), "{q}: {score} against {theirs}");
    }
}

#[test]
fn queries_rank_as_tantivys_own_parser_ranks_them() {
    let corpus = Corpus::sample();
    let served = corpus.current();
    for q in [
        "chocolate orders",
        "\"salted caramel\" -lemon +box",
        "title:refund policy",
        "cupcake",
        "+wedding -birthday cake",
        "title:\"refund policy\" late",
        "chocolate cake wedding order",
        "\"salted caramel\" chocolate box",
        "\"late delivery\"",
        "+\"chocolate fudge\" -vanilla",
        "\"gluten free\" cupcakes",
    ] {
        assert_same_ranking(&served.index, q);
    }
}

#[test]
fn phrases_match_and_score_as_tantivys_phrases() {
    let long = "x".repeat(45);
    let texts = [
        "salted caramel salted caramel and more salted caramel".to_owned(),
        format!("salted {long} caramel"),
        "caramel salted".to_owned(),
        "the salted butter and the caramel".to_owned(),
        "Salted, caramel. Salted caramel!".to_owned(),
        "a b a b a b c a b".to_owned(),
    ];
    let index = build(texts.iter().enumerate().map(|(n, t)| Document {
        id: format!("d{n}"),
        title: "t".to_owned(),
        text: t.clone(),
        url: String::new(),
        metadata: None,
        acl: Vec::new(),
    }));
    for q in [
        "\"salted caramel\"",
        &format!("\"salted {long} caramel\""),
        "\"a b a b\"",
        "\"b a b c\"",
        "\"caramel salted\"",
    ] {
        assert_same_ranking(&index, q);
    }
}

#[test]
fn several_words_make_one_union_of_terms() {
    let corpus = Corpus::sample();
    let served = corpus.current();
    let query = served.index.query("chocolate cake wedding");
    let top = query
        .downcast_ref::<BooleanQuery>()
        .expect("a boolean query");
    assert_eq!(top.clauses().len(), 6, "{query:?}");
    assert!(
        top.clauses()
            .iter()
            .all(|(o, q)| *o == Occur::Should && q.downcast_ref::<BooleanQuery>().is_none()),
        "{query:?}"
    );
    // A required word keeps its group: it must match in the title or the text.
    let query = served.index.query("+chocolate cake");
    let top = query
        .downcast_ref::<BooleanQuery>()
        .expect("a boolean query");
    assert!(
        top.clauses()
            .iter()
            .any(|(o, q)| *o == Occur::Must && q.downcast_ref::<BooleanQuery>().is_some())
    );
}

/// Documents built so that many score the same: identical texts under different ids.
fn documents() -> Vec<Document> {
    (0..300)
        .map(|n| Document {
            id: format!("doc-{:03}", (n * 7919) % 300),
            title: format!("note {}", n % 3),
            text: match n % 4 {
                0 => "chocolate cake for a wedding".to_owned(),
                1 => "chocolate order".to_owned(),
                2 => "lemon tart and chocolate".to_owned(),
                _ => "an order of bread".to_owned(),
            },
            url: String::new(),
            metadata: None,
            acl: if n % 5 == 0 {
                vec!["finance".into()]
            } else {
                Vec::new()
            },
        })
        .collect()
}

fn build(docs: impl Iterator<Item = Document>) -> Index {
    let mut builder = Builder::new(None).unwrap();
    for doc in docs {
        builder.add_in("", &doc).unwrap();
    }
    builder.finish().unwrap()
}

#[test]
fn equal_scores_are_ordered_by_id_in_every_index_of_the_same_documents() {
    let one = build(documents().into_iter());
    let two = build(documents().into_iter().rev());
    let staff = Access::new(&["staff".to_owned()], &[]);
    for q in [
        "chocolate",
        "chocolate order",
        "order",
        "\"chocolate cake\"",
        "note",
        "wedding tart bread",
    ] {
        for limit in [1, 5, 10, 50] {
            let ids = |index: &Index| -> Vec<String> {
                index
                    .search(q, &staff, limit)
                    .unwrap()
                    .into_iter()
                    .map(|h| h.id)
                    .collect()
            };
            let first = ids(&one);
            assert_eq!(first.len(), limit, "{q} {limit}");
            assert_eq!(first, ids(&two), "{q} with limit {limit}");
        }
        // Within a run of equal scores the ids ascend.
        let hits = one.search(q, &staff, 50).unwrap();
        let same_text = |a: &Hit, b: &Hit| a.snippet == b.snippet && a.title == b.title;
        for pair in hits.windows(2) {
            if same_text(&pair[0], &pair[1]) {
                assert!(
                    pair[0].id < pair[1].id,
                    "{q}: {} before {}",
                    pair[0].id,
                    pair[1].id
                );
            }
        }
    }
}

#[test]
fn a_phrase_reads_no_more_than_its_budget_and_says_so() {
    let texts = (0..400).map(|n| Document {
        id: format!("d{n:03}"),
        title: "t".to_owned(),
        text: if n % 2 == 0 {
            "of the of the"
        } else {
            "the of"
        }
        .to_owned(),
        url: String::new(),
        metadata: None,
        acl: Vec::new(),
    });
    let docs: Vec<Document> = texts.collect();
    let everyone = Access::new(&["staff".to_owned()], &[]);
    let whole = build(docs.clone().into_iter())
        .find("\"of the\"", &everyone, 10)
        .unwrap();
    assert!(!whole.partial);
    assert_eq!(whole.hits.len(), 10);
    let cut = build(docs.clone().into_iter())
        .with_phrase_steps(50)
        .find("\"of the\"", &everyone, 10)
        .unwrap();
    assert!(cut.partial, "50 steps cannot read 200 matches");
    assert!(!cut.hits.is_empty() && cut.hits.len() <= 10);
    // A longer phrase costs more per document: a budget that reads all of "of the" (400
    // documents, two words each) cuts "of the of the" short.
    let index = build(docs.clone().into_iter()).with_phrase_steps(1_000);
    assert!(!index.find("\"of the\"", &everyone, 10).unwrap().partial);
    assert!(
        index
            .find("\"of the of the\"", &everyone, 10)
            .unwrap()
            .partial
    );
    // Plain words are not phrases: no budget applies.
    let words = build(docs.into_iter())
        .with_phrase_steps(50)
        .find("of the", &everyone, 10)
        .unwrap();
    assert!(!words.partial);
    assert_eq!(words.hits.len(), 10);
}

fn texts_index(texts: &[String]) -> Index {
    build(texts.iter().enumerate().map(|(n, t)| Document {
        id: format!("d{n}"),
        title: if n % 3 == 0 {
            "a b".to_owned()
        } else {
            "c".to_owned()
        },
        text: t.clone(),
        url: String::new(),
        metadata: None,
        acl: Vec::new(),
    }))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn any_query_matches_and_scores_as_tantivys(
        texts in proptest::collection::vec("((a|b|c|dd) ){0,30}", 1..12),
        // Phrases are never excluded here: tantivy's own phrase scorer trips a debug assertion
        // when it is asked to exclude from every document (our phrases do not), so the
        // exclusion of a phrase has its own test below.
        query in "((\\+|-)?(a|b|dd)|\\+?\"(a|b|c)( (a|b|c|dd)){1,2}\")( ((\\+|-)?(a|b|c)|\\+?\"(a|b)( (a|b|c)){1,2}\")){0,2}",
    ) {
        assert_same_matches(&texts_index(&texts), &query);
    }
}

#[test]
fn excluding_a_phrase_leaves_every_other_document() {
    let index = build(
        ["a b c", "c b a", "a b", "b c", ""]
            .iter()
            .enumerate()
            .map(|(n, t)| Document {
                id: format!("d{n}"),
                title: "t".to_owned(),
                text: t.to_string(),
                url: String::new(),
                metadata: None,
                acl: Vec::new(),
            }),
    );
    let everyone = Access::new(&["staff".to_owned()], &[]);
    let ids = |q: &str| -> Vec<String> {
        index
            .search(q, &everyone, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect()
    };
    assert_eq!(ids("-\"a b\""), ["d1", "d3", "d4"]);
    assert_eq!(ids("-\"a b\" -c"), ["d4"]);
    assert_eq!(ids("c -\"b c\""), ["d1"]);
    assert_eq!(ids("-\"c b\" -\"b c\""), ["d2", "d4"]);
}

#[test]
fn only_phrase_free_queries_of_few_postings_are_cheap() {
    let corpus = Corpus::sample();
    let served = corpus.current();
    let everyone = Access::new(&["staff".to_owned()], &[]);
    let cheap = |q: &str, max: u64| {
        served
            .index
            .find_if_cheap(q, &everyone, 10, max)
            .unwrap()
            .map(|found| found.hits)
    };
    // A cheap search scores from the statistics read to judge it; the others ask tantivy.
    for q in [
        "chocolate orders",
        "lemon cake order ready",
        "title:cupcakes chocolate",
        "+invoice paid -overdue",
        "Saturday pick-up Main Street",
    ] {
        let hits = cheap(q, 5_000).expect("a cheap search");
        assert!(!hits.is_empty(), "{q}");
        assert_eq!(hits, served.index.search(q, &everyone, 10).unwrap(), "{q}");
    }
    assert!(
        cheap("chocolate orders", 3).is_none(),
        "more than 3 postings"
    );
    assert!(cheap("\"salted caramel\"", 5_000).is_none(), "a phrase");
    assert!(cheap("-lemon", 5_000).is_none(), "every document but some");
}
