//! The figures BM25 and the snippets of one search read from the index, each read once.
//!
//! tantivy looks up a term's document frequency whenever it is asked for it, and a search asked
//! three times for each of its terms: to judge whether ranking it is cheap, to weigh its scores
//! and to weigh its snippets' words. The search now reads them once, when it is judged
//! ([`Statistics::of`]), and answers tantivy from them. The number of words in each searched
//! field, which sets BM25's average field length, is fixed for a generation and read when the
//! generation is made ([`Tokens`]). The figures are tantivy's own, so the scores are the same.

use tantivy::query::{AllQuery, Bm25StatisticsProvider, BooleanQuery, Query};
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

/// The number of words in each searched field of one generation.
pub(super) struct Tokens(Vec<(Field, u64)>);

impl Tokens {
    pub(super) fn of(
        searcher: &Searcher,
        fields: impl Iterator<Item = Field>,
    ) -> tantivy::Result<Tokens> {
        fields
            .map(|field| Ok((field, searcher.total_num_tokens(field)?)))
            .collect::<tantivy::Result<_>>()
            .map(Tokens)
    }
}

/// What one search reads of the index's statistics; anything it has not read is asked of the
/// searcher, as tantivy would ask it.
pub(super) struct Statistics<'s> {
    searcher: &'s Searcher,
    tokens: &'s Tokens,
    /// The document frequency of each term of the search, when it was judged.
    freqs: Vec<(Term, u64)>,
    postings: Option<u64>,
}

impl<'s> Statistics<'s> {
    /// Statistics read when asked, for a search that was not judged first.
    pub(super) fn asked(searcher: &'s Searcher, tokens: &'s Tokens) -> Statistics<'s> {
        Statistics {
            searcher,
            tokens,
            freqs: Vec::new(),
            postings: None,
        }
    }

    /// The statistics of `query`: the document frequency of each of its terms, read once, unless
    /// it holds a phrase (whose work its budget bounds instead) or matches every document.
    pub(super) fn of(
        query: &dyn Query,
        searcher: &'s Searcher,
        tokens: &'s Tokens,
    ) -> tantivy::Result<Statistics<'s>> {
        let mut statistics = Statistics::asked(searcher, tokens);
        let everything = query
            .downcast_ref::<BooleanQuery>()
            .is_some_and(|b| b.clauses().iter().any(|(_, q)| q.is::<AllQuery>()));
        let mut terms = Vec::new();
        let mut phrase = false;
        query.query_terms(&mut |term, positions| {
            phrase |= positions;
            terms.push(term);
        });
        if everything || phrase {
            return Ok(statistics);
        }
        let mut total = 0u64;
        for term in terms {
            let freq = match statistics.known(term) {
                Some(freq) => freq,
                None => {
                    let freq = searcher.doc_freq(term)?;
                    statistics.freqs.push((term.clone(), freq));
                    freq
                }
            };
            total = total.saturating_add(freq);
        }
        statistics.postings = Some(total);
        Ok(statistics)
    }

    /// The postings entries ranking the query reads at most, counting every entry of every
    /// term; `None` when it was not judged, holds a phrase or matches every document.
    pub(super) fn postings(&self) -> Option<u64> {
        self.postings
    }

    fn known(&self, term: &Term) -> Option<u64> {
        self.freqs.iter().find(|(t, _)| t == term).map(|(_, n)| *n)
    }
}

impl Bm25StatisticsProvider for Statistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        match self.tokens.0.iter().find(|(f, _)| *f == field) {
            Some((_, n)) => Ok(*n),
            None => self.searcher.total_num_tokens(field),
        }
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        self.searcher.total_num_docs()
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        match self.known(term) {
            Some(n) => Ok(n),
            None => self.searcher.doc_freq(term),
        }
    }
}

#[cfg(test)]
mod tests;
