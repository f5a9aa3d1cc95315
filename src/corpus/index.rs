//! The full-text index of one generation of the corpus (tantivy: BM25 ranking, English
//! stemming, phrase queries, title matches boosted).
//!
//! Every document is stored in the index, so one structure answers both `search` and `fetch`:
//! in memory for small corpora, on disk under `MCP_INDEX_DIR` for large ones. Each document also
//! carries its access terms (see `super::access`); every search and fetch is filtered by the
//! caller's terms inside the index, so hidden documents are never ranked or returned. A
//! generation ([`Index`]) reads one committed state of its [`Store`]: an update commits a new
//! state and makes a new generation, and searches already running finish on the old one.

use std::path::Path;
use std::sync::Arc;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, IndexWriter, Searcher, Term};

use super::access::Access;
use super::document::Document;
use super::query;
use super::snippet::{self, Snippets};

mod by_id;
mod columns;
mod fields;
mod rank;
mod statistics;
pub(crate) mod store;
mod tree;
mod visible;

use fields::{Fields, Shown};
use statistics::{Statistics, Tokens};
use visible::Visible;

pub use columns::Columns;
pub use store::Store;

pub use fields::FILE;
/// How much more a match in the title counts than one in the text.
const TITLE_BOOST: f32 = 3.0;
/// A caller whose access terms are held by fewer than one in this many documents sees few:
/// see [`Index::run`].
const FEW_VISIBLE: u64 = 8;
/// Indexing memory, shared by the indexing threads.
const WRITER_BYTES: usize = 128 << 20;

/// A search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub url: String,
    /// A short passage of the text with the matched words in `**bold**`.
    pub snippet: String,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// A phrase of the query matched in more places than one search reads
    /// (20 000 words sought in documents); the hits are the best of the places read.
    pub partial: bool,
}

/// One generation of the index: what searches and fetches read, fixed when it was made. A
/// later generation of the same [`Store`] sees documents added or replaced since.
pub struct Index {
    /// Declared before the store, so its files close before an unkept folder is removed.
    searcher: Searcher,
    /// The id column of each segment, for ordering equal scores.
    ids: Columns,
    /// The access column of each segment, for who may see what.
    access: Columns,
    /// The words in each searched field, for BM25.
    tokens: Tokens,
    store: Arc<Store>,
    /// Postings entries the phrases of one search may read.
    phrase_steps: u64,
    documents: u64,
}

/// Adds documents to a new index.
pub struct Builder {
    index: tantivy::Index,
    writer: IndexWriter,
    fields: Fields,
    folder: Option<store::IndexFolder>,
}

impl Builder {
    /// A new index in memory, or on disk in `folder` (which must not exist yet; it is removed
    /// again when the index is dropped, unless the index is kept with [`Store::keep`]).
    pub fn new(folder: Option<&Path>) -> tantivy::Result<Builder> {
        let (schema, fields) = Fields::schema();
        let (index, folder) = match folder {
            None => (tantivy::Index::create_in_ram(schema), None),
            Some(path) => {
                // Marked before tantivy writes a byte, so a crash leaves a folder known as ours.
                let owned = store::IndexFolder::create(path.to_path_buf())?;
                (tantivy::Index::create_in_dir(path, schema)?, Some(owned))
            }
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let writer: IndexWriter = index.writer_with_num_threads(threads, WRITER_BYTES)?;
        // One merge, at the end, of every segment: a merge tantivy starts on its own meanwhile
        // would take segments from under it.
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        Ok(Builder {
            index,
            writer,
            fields,
            folder,
        })
    }

    /// Adds a document read from `file` (relative to the corpus folder).
    pub fn add_in(&mut self, file: &str, doc: &Document) -> tantivy::Result<()> {
        self.writer.add_document(self.fields.document(file, doc))?;
        Ok(())
    }

    /// Commits, merges into one segment for fast searches, and opens the index for reading.
    pub fn finish(mut self) -> tantivy::Result<Index> {
        self.writer.commit()?;
        let segments = self.index.searchable_segment_ids()?;
        if segments.len() > 1 {
            self.writer.merge(&segments).wait()?;
        }
        self.writer.wait_merging_threads()?;
        Store::new(self.index, self.fields, self.folder)?.generation()
    }
}

impl Index {
    /// The tantivy index this generation reads.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The file column of each segment, for [`Index::file_of`]; open it once for many lookups.
    pub fn files(&self) -> tantivy::Result<Columns> {
        Columns::of(&self.searcher, FILE)
    }

    pub fn len(&self) -> u64 {
        self.documents
    }

    pub fn is_empty(&self) -> bool {
        self.documents == 0
    }

    /// The best `limit` documents `access` may see for `query`, best first.
    pub fn search(&self, query: &str, access: &Access, limit: usize) -> tantivy::Result<Vec<Hit>> {
        Ok(self.find(query, access, limit)?.hits)
    }

    /// The best `limit` documents `access` may see for `query`, best first, and whether a phrase
    /// ran out of its budget before the end of its matches.
    pub fn find(&self, typed: &str, access: &Access, limit: usize) -> tantivy::Result<Found> {
        let (query, budget) = self.tree(typed);
        let statistics = Statistics::asked(&self.searcher, &self.tokens);
        self.run(&*query, &budget, access, limit, &statistics)
    }

    /// [`Index::find`], when ranking the query reads at most `max_postings` postings entries
    /// and holds no phrase; `None` otherwise (for the caller to rank it where long work runs).
    pub fn find_if_cheap(
        &self,
        typed: &str,
        access: &Access,
        limit: usize,
        max_postings: u64,
    ) -> tantivy::Result<Option<Found>> {
        let (query, budget) = self.tree(typed);
        let statistics = Statistics::of(&*query, &self.searcher, &self.tokens)?;
        match statistics.postings() {
            Some(n) if n <= max_postings => Ok(Some(self.run(
                &*query,
                &budget,
                access,
                limit,
                &statistics,
            )?)),
            _ => Ok(None),
        }
    }

    /// What the search engine alone does for what a caller typed: tantivy ranks the same query
    /// tree with its own `TopDocs` (no access filter, no order among equal scores) and reads
    /// what the `limit` best documents show from the store, as a search does; no snippet is cut
    /// and no answer written. The server never calls it: it is the floor
    /// benches/tool_call.rs sets beside a search.
    pub fn engine_alone(&self, typed: &str, limit: usize) -> tantivy::Result<Vec<DocAddress>> {
        let (query, _) = self.tree(typed);
        let top = self
            .searcher
            .search(&*query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut read = Vec::with_capacity(top.len());
        for (_, address) in top {
            self.searcher.doc::<Shown>(address)?;
            read.push(address);
        }
        Ok(read)
    }

    /// The query tree of what a caller typed, with its budget for phrases.
    fn tree(&self, typed: &str) -> (Box<dyn Query>, Arc<tree::Budget>) {
        let budget = tree::Budget::new(self.phrase_steps);
        let query = tree::build(query::parse(typed), &self.store.searched, &budget);
        (query, budget)
    }

    fn run(
        &self,
        query: &dyn Query,
        budget: &tree::Budget,
        access: &Access,
        limit: usize,
        statistics: &Statistics,
    ) -> tantivy::Result<Found> {
        let searcher = &self.searcher;
        let found = if self.few_visible(access)? {
            // Rank only the documents this caller may see: tantivy skips to them through
            // their access terms' postings.
            let filtered = BooleanQuery::new(vec![
                (Occur::Must, query.box_clone()),
                (Occur::Must, self.visible_to(access)),
            ]);
            rank::top(searcher, statistics, &self.ids, &filtered, limit, None)?
        } else {
            // Rank the query alone, which tantivy answers with block-max WAND, passing over
            // the hidden documents it meets.
            let visible = Visible::of(&self.access, access)?;
            rank::top(
                searcher,
                statistics,
                &self.ids,
                query,
                limit,
                Some(&visible),
            )?
        };
        Ok(Found {
            hits: self.hits(searcher, statistics, query, &found)?,
            partial: budget.was_cut(),
        })
    }

    /// Whether `access` may see so few documents (its terms held by fewer than one in
    /// [`FEW_VISIBLE`]) that a search should visit only those rather than pass over the
    /// hidden matches.
    fn few_visible(&self, access: &Access) -> tantivy::Result<bool> {
        let mut visible = 0u64;
        for term in access.terms() {
            let term = Term::from_field_text(self.store.fields.access, term);
            visible = visible.saturating_add(self.searcher.doc_freq(&term)?);
        }
        Ok(visible.saturating_mul(FEW_VISIBLE) < self.documents)
    }

    /// The query tree of what a caller typed, for tests.
    #[cfg(test)]
    pub(crate) fn query(&self, typed: &str) -> Box<dyn Query> {
        self.tree(typed).0
    }

    /// The hits of these documents, with their snippets for `query`.
    fn hits(
        &self,
        searcher: &Searcher,
        statistics: &Statistics,
        query: &dyn Query,
        found: &[DocAddress],
    ) -> tantivy::Result<Vec<Hit>> {
        let snippets = Snippets::new(statistics, query, self.store.fields.text)?;
        let fields = &self.store.fields;
        let mut shown = found
            .iter()
            .map(|address| searcher.doc::<Shown>(*address))
            .collect::<tantivy::Result<Vec<Shown>>>()?;
        let cuts: Vec<snippet::Cut> = found
            .iter()
            .zip(&shown)
            .map(|(address, doc)| snippet::Cut {
                address: *address,
                text: doc.text(fields.text),
                passages: doc.bytes(fields.passages),
            })
            .collect();
        let cut = snippets.cut(searcher, &cuts)?;
        Ok(shown
            .iter_mut()
            .zip(cut)
            .map(|(doc, snippet)| Hit {
                id: doc.take_text(fields.id),
                title: doc.take_text(fields.title),
                url: doc.take_text(fields.url),
                snippet,
            })
            .collect())
    }

    /// Matches the documents `access` may see: a union of term postings, which a search can
    /// skip through, rather than a set query that marks every visible document on each query.
    fn visible_to(&self, access: &Access) -> Box<dyn Query> {
        let terms: Vec<(Occur, Box<dyn Query>)> = access
            .terms()
            .iter()
            .map(|t| {
                let term = Term::from_field_text(self.store.fields.access, t);
                let query: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                (Occur::Should, query)
            })
            .collect();
        Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(terms)),
            0.0,
        ))
    }
}

#[cfg(test)]
impl Index {
    /// The same index with another budget for phrases.
    pub(crate) fn with_phrase_steps(mut self, steps: u64) -> Index {
        self.phrase_steps = steps;
        self
    }

    /// A searcher, and the text and passages fields, for tests of snippets.
    pub(crate) fn parts(&self) -> (Searcher, (tantivy::schema::Field, tantivy::schema::Field)) {
        (
            self.searcher.clone(),
            (self.store.fields.text, self.store.fields.passages),
        )
    }
}

#[cfg(test)]
mod tests;
