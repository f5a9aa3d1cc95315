use tantivy::query::Bm25StatisticsProvider;

use super::Statistics;
use crate::corpus::Corpus;

#[test]
fn a_search_reads_the_figures_tantivy_would_read() {
    let corpus = Corpus::sample();
    let served = corpus.current();
    let index = &served.index;
    let searcher = &index.searcher;
    // Words in the text, in titles only, an unknown word and one word twice (title and text).
    let query = index.query("chocolate Orders title:cupcakes q1n2 chocolate");
    let statistics = Statistics::of(&*query, searcher, &index.tokens).unwrap();
    let mut terms = Vec::new();
    query.query_terms(&mut |term, _| terms.push(term.clone()));
    assert_eq!(terms.len(), 9, "{terms:?}");
    let mut postings = 0;
    for term in &terms {
        let freq = searcher.doc_freq(term).unwrap();
        assert_eq!(statistics.doc_freq(term).unwrap(), freq, "{term:?}");
        postings += freq;
    }
    assert!(postings > 0);
    assert_eq!(statistics.postings(), Some(postings));
    for searched in &index.store.searched {
        let tokens = searcher.total_num_tokens(searched.field).unwrap();
        assert!(tokens > 0);
        assert_eq!(statistics.total_num_tokens(searched.field).unwrap(), tokens);
    }
    assert_eq!(
        statistics.total_num_docs().unwrap(),
        searcher.total_num_docs().unwrap()
    );
    // A term the search did not read is asked of the searcher.
    let other = tantivy::Term::from_field_text(index.store.fields.text, "lemon");
    assert!(searcher.doc_freq(&other).unwrap() > 0);
    assert_eq!(
        statistics.doc_freq(&other).unwrap(),
        searcher.doc_freq(&other).unwrap()
    );
}

#[test]
fn a_phrase_or_an_exclusion_alone_is_not_judged() {
    let corpus = Corpus::sample();
    let served = corpus.current();
    let index = &served.index;
    for typed in ["\"salted caramel\" cake", "-lemon"] {
        let query = index.query(typed);
        let statistics = Statistics::of(&*query, &index.searcher, &index.tokens).unwrap();
        assert_eq!(statistics.postings(), None, "{typed}");
    }
    let query = index.query("salted caramel");
    let statistics = Statistics::of(&*query, &index.searcher, &index.tokens).unwrap();
    assert!(statistics.postings().is_some_and(|n| n > 0));
}
