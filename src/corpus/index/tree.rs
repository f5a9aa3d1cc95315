//! The query tree a search runs: what `query::parse` read, analysed as the index analyses text
//! and scored as tantivy's own query parser would score it, with two differences.
//!
//! - Optional words are one flat union of their title and text terms, which tantivy ranks with
//!   block-max WAND (skipping documents that cannot reach the top); its parser makes a union of
//!   unions, which is scored document by document.
//! - The phrases of a search take at most [`PHRASE_STEPS`] steps (a word sought in a document).
//!   A phrase of very common words ("of the") would otherwise walk the postings of both words
//!   through the whole index; past the budget it stops, and the search says its answer is
//!   partial. The budget counts work, not time, so a search does the same work on a busy machine
//!   as on an idle one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{
    AllQuery, Bm25Weight, BooleanQuery, BoostQuery, EmptyScorer, EnableScoring, Explanation, Occur,
    Query, Scorer, TermQuery, Weight,
};
use tantivy::query_grammar::{UserInputAst, UserInputLeaf};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, Term};

/// Steps all the phrases of one search may take, a step being one word of a phrase sought in
/// one document (docs/documents.md, "Phrases"): 10 000 documents for a phrase of two words,
/// about 1.5 ms of work on the machine of docs/benchmarks.md, and fewer for longer phrases.
pub(super) const PHRASE_STEPS: u64 = 20_000;

/// A field a query looks in, its analyzer and how much a match in it counts.
#[derive(Clone)]
pub(super) struct Searched {
    pub field: Field,
    pub name: &'static str,
    pub analyzer: TextAnalyzer,
    pub boost: Score,
}

/// What one search may still read of phrase postings, and whether it ran out.
#[derive(Debug)]
pub(super) struct Budget {
    left: AtomicU64,
    cut: AtomicBool,
}

impl Budget {
    pub(super) fn new(steps: u64) -> Arc<Budget> {
        Arc::new(Budget {
            left: AtomicU64::new(steps),
            cut: AtomicBool::new(false),
        })
    }

    /// Whether some phrase stopped before the end of its postings.
    pub(super) fn was_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }

    /// Takes `n` steps; `false` (and the budget marked cut) when fewer are left.
    fn take(&self, n: u64) -> bool {
        let took = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_ok();
        if !took {
            self.cut.store(true, Ordering::Relaxed);
        }
        took
    }
}

/// The tree of `ast` (from `query::parse`) over `fields` (the first is where `title:` looks).
pub(super) fn build(
    ast: UserInputAst,
    fields: &[Searched],
    budget: &Arc<Budget>,
) -> Box<dyn Query> {
    let UserInputAst::Clause(clauses) = ast else {
        return Box::new(BooleanQuery::new(Vec::new()));
    };
    let mut top: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (occur, leaf) in clauses {
        let UserInputAst::Leaf(leaf) = leaf else {
            continue;
        };
        let UserInputLeaf::Literal(literal) = *leaf else {
            continue;
        };
        let mut per_field: Vec<Box<dyn Query>> = fields
            .iter()
            .filter(|f| literal.field_name.as_deref().is_none_or(|n| n == f.name))
            .filter_map(|f| leaf_query(f, &literal.phrase, budget))
            .collect();
        match (occur.unwrap_or(Occur::Should), per_field.len()) {
            (_, 0) => {}
            (Occur::Should, _) => top.extend(per_field.into_iter().map(|q| (Occur::Should, q))),
            (occur, 1) => top.push((occur, per_field.pop().expect("one"))),
            (occur, _) => top.push((occur, Box::new(BooleanQuery::union(per_field)))),
        }
    }
    if !top.is_empty() && top.iter().all(|(o, _)| *o == Occur::MustNot) {
        // Only exclusions: every other document matches, each scoring 1, as tantivy's lenient
        // parser had it.
        top.push((Occur::Should, Box::new(AllQuery)));
    }
    Box::new(BooleanQuery::new(top))
}

/// One word or phrase in one field: a term, a bounded phrase (several words, quoted or not, as
/// tantivy's parser reads them), or nothing when the analyzer keeps no word of it.
fn leaf_query(f: &Searched, text: &str, budget: &Arc<Budget>) -> Option<Box<dyn Query>> {
    let mut analyzer = f.analyzer.clone();
    let mut stream = analyzer.token_stream(text);
    let mut terms: Vec<(usize, Term)> = Vec::new();
    while let Some(token) = stream.next() {
        terms.push((token.position, Term::from_field_text(f.field, &token.text)));
    }
    let query: Box<dyn Query> = match terms.len() {
        0 => return None,
        1 => Box::new(TermQuery::new(
            terms.remove(0).1,
            IndexRecordOption::WithFreqs,
        )),
        _ => Box::new(Phrase {
            terms,
            budget: budget.clone(),
        }),
    };
    Some(if f.boost == 1.0 {
        query
    } else {
        Box::new(BoostQuery::new(query, f.boost))
    })
}

/// Words that must stand next to each other, scored as tantivy scores a phrase (BM25 over the
/// phrase's words, with the number of times the phrase occurs as its frequency), read from
/// postings that stop when the search's budget is spent.
#[derive(Clone, Debug)]
struct Phrase {
    terms: Vec<(usize, Term)>,
    budget: Arc<Budget>,
}

impl Query for Phrase {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let words: Vec<Term> = self.terms.iter().map(|(_, t)| t.clone()).collect();
        let similarity = match scoring {
            EnableScoring::Enabled {
                statistics_provider,
                ..
            } => Some(Bm25Weight::for_terms(statistics_provider, &words)?),
            EnableScoring::Disabled { .. } => None,
        };
        Ok(Box::new(PhraseWeight {
            terms: self.terms.clone(),
            similarity,
            budget: self.budget.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (_, term) in &self.terms {
            visitor(term, true);
        }
    }
}

struct PhraseWeight {
    terms: Vec<(usize, Term)>,
    similarity: Option<Bm25Weight>,
    budget: Arc<Budget>,
}

impl Weight for PhraseWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let field = self.terms[0].1.field();
        let last = self.terms.iter().map(|(o, _)| *o).max().unwrap_or(0);
        let mut words = Vec::with_capacity(self.terms.len());
        for (offset, term) in &self.terms {
            let Some(postings) = reader
                .inverted_index(field)?
                .read_postings(term, IndexRecordOption::WithFreqsAndPositions)?
            else {
                return Ok(Box::new(EmptyScorer));
            };
            // Shifted so that the words of one occurrence share a position.
            words.push((postings, (last - offset) as u32));
        }
        // The rarest word leads; the others are sought at its documents.
        words.sort_by_key(|(p, _)| p.doc_freq());
        let norms = match reader.fieldnorms_readers().get_field(field)? {
            Some(norms) if self.similarity.is_some() => norms,
            _ => FieldNormReader::constant(reader.max_doc(), 1),
        };
        let mut scorer = PhraseScorer {
            words,
            similarity: self.similarity.as_ref().map(|s| s.boost_by(boost)),
            norms,
            budget: self.budget.clone(),
            doc: 0,
            count: 0,
            left: Vec::new(),
            right: Vec::new(),
        };
        scorer.settle(scorer.words[0].0.doc());
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.doc() > doc || scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match the phrase"
            )));
        }
        Ok(Explanation::new("phrase", scorer.score()))
    }
}

/// The documents where a phrase occurs, in order.
struct PhraseScorer {
    /// Each word's postings and the shift that lines its positions up with the phrase's end.
    words: Vec<(SegmentPostings, u32)>,
    similarity: Option<Bm25Weight>,
    norms: FieldNormReader,
    budget: Arc<Budget>,
    doc: DocId,
    /// How often the phrase occurs in `doc`.
    count: u32,
    left: Vec<u32>,
    right: Vec<u32>,
}

impl PhraseScorer {
    /// Moves to the first document at or after `candidate` (a document of the leading word)
    /// where the phrase occurs, or to the end.
    fn settle(&mut self, mut candidate: DocId) -> DocId {
        'next: while candidate != TERMINATED {
            // A document examined costs a step for each word: each is sought and its
            // positions read.
            if !self.budget.take(self.words.len() as u64) {
                break;
            }
            for i in 1..self.words.len() {
                let found = forward(&mut self.words[i].0, candidate);
                if found != candidate {
                    candidate = forward(&mut self.words[0].0, found);
                    continue 'next;
                }
            }
            self.count = self.occurrences();
            if self.count > 0 {
                self.doc = candidate;
                return candidate;
            }
            candidate = self.words[0].0.advance();
        }
        self.doc = TERMINATED;
        TERMINATED
    }

    /// How many times the words stand in a row in the current document.
    fn occurrences(&mut self) -> u32 {
        let (first, rest) = self.words.split_first_mut().expect("a phrase has words");
        first.0.positions_with_offset(first.1, &mut self.left);
        for (postings, shift) in rest {
            postings.positions_with_offset(*shift, &mut self.right);
            let right = &self.right;
            let mut j = 0;
            self.left.retain(|p| {
                while j < right.len() && right[j] < *p {
                    j += 1;
                }
                j < right.len() && right[j] == *p
            });
            if self.left.is_empty() {
                return 0;
            }
        }
        self.left.len() as u32
    }
}

/// Moves `postings` to its first document at or after `target`; postings already there stay.
fn forward(postings: &mut SegmentPostings, target: DocId) -> DocId {
    if postings.doc() >= target {
        postings.doc()
    } else {
        postings.seek(target)
    }
}

impl DocSet for PhraseScorer {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        let next = self.words[0].0.advance();
        self.settle(next)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        let next = forward(&mut self.words[0].0, target);
        self.settle(next)
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.words[0].0.size_hint()
    }
}

impl Scorer for PhraseScorer {
    fn score(&mut self) -> Score {
        match &self.similarity {
            Some(s) => s.score(self.norms.fieldnorm_id(self.doc), self.count),
            None => 1.0,
        }
    }
}
