//! The documents `search` and `fetch` serve, and their index.
//!
//! Documents come from the folder `MCP_CORPUS` (see `loader` and `document`) or, without it,
//! from the sample corpus compiled into the binary: a bakery's orders, recipes, support tickets
//! and policies. They are indexed with tantivy ([`index`]), in memory or under `MCP_INDEX_DIR`,
//! and filtered by the caller's roles and groups (`access`).
//!
//! A change to the folder updates the index file by file ([`Corpus::refresh`], see `update`);
//! SIGHUP rebuilds it whole ([`Corpus::reload`]); both are driven by `reload`. The index in use
//! keeps answering until the new state replaces it, and a failure leaves it in place. Under
//! `MCP_INDEX_DIR` the index and its `manifest` outlive the server, and a restart reuses them
//! (`corpus::build`).

pub(crate) mod access;
mod build;
pub(crate) mod document;
pub mod index;
pub(crate) mod loader;
pub(crate) mod manifest;
pub(crate) mod query;
pub(crate) mod reload;
pub(crate) mod results;
pub(crate) mod snippet;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_changes;
#[cfg(test)]
mod tests_files;
pub(crate) mod update;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;

pub use access::Access;
pub use document::Document;
pub use index::{Found, Hit, Index};
pub use loader::{Folder, LoadReport, Problem};
pub use manifest::{IndexDir, Manifest};
pub use results::Rendered;

/// A search whose ranking reads at most this many postings entries, and holds no phrase, is
/// cheap: tens of microseconds (docs/benchmarks.md), answered where the request is read instead
/// of on the ranking pool, since handing it over would cost more than the work.
pub const CHEAP_POSTINGS: u64 = 5_000;

/// Above this many documents an in-memory index earns a hint to use `MCP_INDEX_DIR`.
const LARGE_IN_MEMORY: u64 = 200_000;

/// The built-in sample: a JSON array of records.
const SAMPLE: &str = include_str!("sample.json");

/// Where the corpus comes from and where its index lives.
#[derive(Debug, Clone)]
pub struct Source {
    /// `None` serves the built-in sample.
    pub folder: Option<Folder>,
    /// Keep the index on disk here (`MCP_INDEX_DIR`) instead of in memory.
    pub index_dir: Option<PathBuf>,
    /// Bytes of search results kept per index generation (`MCP_SEARCH_CACHE_MIB`); 0 keeps none.
    pub search_cache_bytes: u64,
}

impl Source {
    pub fn sample() -> Self {
        Source {
            folder: None,
            index_dir: None,
            search_cache_bytes: crate::config::default_bytes("MCP_SEARCH_CACHE_MIB").unwrap_or(0),
        }
    }

    pub fn from_settings(s: &crate::config::CorpusSettings) -> Self {
        Source {
            folder: s.folder.as_ref().map(|root| Folder {
                root: build::resolved(root),
                base_url: s.base_url.clone(),
            }),
            index_dir: s.index_dir.clone(),
            search_cache_bytes: s.search_cache_bytes,
        }
    }
}

/// Why the corpus could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("MCP_CORPUS: {path} is not a folder that can be read: {reason}")]
    Folder { path: String, reason: String },
    #[error("MCP_INDEX_DIR: cannot use {path}: {reason}")]
    IndexDir { path: String, reason: String },
    #[error(
        "MCP_INDEX_DIR: {index} is {place} the corpus folder MCP_CORPUS ({corpus}), where the index would sit among the documents; set MCP_INDEX_DIR to a folder of its own outside the corpus, such as /var/lib/mcp-resource-server/index"
    )]
    IndexInCorpus {
        index: String,
        corpus: String,
        place: &'static str,
    },
    #[error("the search index failed: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// Counts shown in `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Documents in the index being served.
    pub documents: AtomicU64,
    /// Files and records skipped by the load that built it.
    pub skipped: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Searches answered from the result cache, and those that were run.
    pub cache: results::CacheStats,
}

/// One generation of the index and the results of searches run on it.
pub struct Generation {
    pub index: Index,
    results: results::Results,
}

/// The corpus being served; cheap to read from many requests while a rebuild runs.
pub struct Corpus {
    source: Source,
    current: RwLock<Arc<Generation>>,
    /// What the served index was made from; held while the index changes (a rebuild or an
    /// update), so changes never overlap.
    made_from: Mutex<Manifest>,
    /// `MCP_INDEX_DIR`, held by this server.
    dir: Option<IndexDir>,
    stats: Stats,
}

impl Corpus {
    /// The sample corpus built into the binary.
    pub fn sample() -> Self {
        Self::open(Source::sample()).expect("the built-in sample corpus indexes in memory")
    }

    /// Loads and indexes the corpus for start-up, or reuses (and updates) the index the last
    /// run left under `MCP_INDEX_DIR` when it was made from the same source.
    pub fn open(source: Source) -> Result<Self, CorpusError> {
        let dir = match &source.index_dir {
            Some(path) => {
                build::refuse_index_in_corpus(path, source.folder.as_ref())?;
                Some(IndexDir::prepare(path).map_err(|e| build::io(path, e))?)
            }
            None => None,
        };
        let started = std::time::Instant::now();
        let reused = dir.as_ref().and_then(|d| build::reuse(&source, d));
        let (built, how) = match reused {
            Some(built) => (built, "reused"),
            None => {
                let built = build::build(&source, dir.as_ref())?;
                // The index the last run left, when it could not be used.
                if let (Some(dir), Some(path)) = (&dir, &source.index_dir) {
                    dir.remove_unused().map_err(|e| build::io(path, e))?;
                }
                (built, "built")
            }
        };
        let corpus = Corpus {
            current: RwLock::new(Arc::new(corpus_generation(built.index, &source))),
            made_from: Mutex::new(built.manifest),
            source,
            dir,
            stats: Stats::default(),
        };
        corpus.installed(&built.report, started, how);
        Ok(corpus)
    }

    /// Builds a whole new index from the source and serves it; the old one serves until then,
    /// and stays when the build fails. Blocks for as long as the build takes.
    pub fn reload(&self) -> Result<LoadReport, CorpusError> {
        let mut made_from = self.made_from.lock().unwrap_or_else(|e| e.into_inner());
        self.rebuild(&mut made_from)
    }

    /// Brings the index up to date with the folder, reading only the files that changed (see
    /// `update`); a full rebuild when only that gives the right index. Returns `None` when no
    /// file changed.
    pub fn refresh(&self) -> Result<Option<LoadReport>, CorpusError> {
        let mut made_from = self.made_from.lock().unwrap_or_else(|e| e.into_inner());
        let Some(folder) = &self.source.folder else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let current = self.current();
        match update::update(folder, &current.index, &made_from) {
            Ok(update::Updated::Unchanged { .. }) => Ok(None),
            Ok(update::Updated::Changed(update)) => {
                if let (Some(_), Some(path)) = (&self.dir, update.index.store().folder())
                    && let Err(e) = manifest::save_manifest(path, &update.manifest)
                {
                    // The next start sees the commit unrecorded and rebuilds.
                    tracing::warn!(error = %e, "cannot record the update in the index's manifest");
                }
                let report = update.manifest.report(update.listing);
                *made_from = update.manifest;
                self.serve(update.index);
                tracing::info!(
                    files = update.files,
                    "corpus files changed; the index was updated"
                );
                self.installed(&report, started, "updated");
                Ok(Some(report))
            }
            Ok(update::Updated::Rebuild(why)) => {
                tracing::info!(reason = %why, "corpus files changed; rebuilding the whole index");
                self.rebuild(&mut made_from).map(Some)
            }
            Err(error) => {
                self.stats.reloads_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "corpus not updated; the previous index stays in use");
                Err(error.into())
            }
        }
    }

    fn rebuild(&self, made_from: &mut Manifest) -> Result<LoadReport, CorpusError> {
        let started = std::time::Instant::now();
        match build::build(&self.source, self.dir.as_ref()) {
            Ok(built) => {
                let old = self.current();
                *made_from = built.manifest;
                self.serve(built.index);
                // The replaced index's folder goes once its last search is done.
                old.index.store().keep(false);
                self.installed(&built.report, started, "built");
                Ok(built.report)
            }
            Err(error) => {
                self.stats.reloads_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "corpus not rebuilt; the previous index stays in use");
                Err(error)
            }
        }
    }

    /// Serves `index` from now on, with a new result cache.
    fn serve(&self, index: Index) {
        let served = Arc::new(corpus_generation(index, &self.source));
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::replace(&mut *current, served);
        drop(current);
        // Dropped outside the lock: removing an on-disk index must not hold up searches.
        drop(old);
    }

    /// Records that the index `how` (built, reused or updated) from `report` is now served.
    fn installed(&self, report: &LoadReport, started: std::time::Instant, how: &'static str) {
        self.stats
            .documents
            .store(report.documents, Ordering::Relaxed);
        self.stats.skipped.store(report.problems, Ordering::Relaxed);
        self.stats.reloads_ok.fetch_add(1, Ordering::Relaxed);
        let from = match &self.source.folder {
            Some(f) => f.root.display().to_string(),
            None => "the built-in sample".to_owned(),
        };
        tracing::info!(
            from = %from,
            documents = report.documents,
            skipped = report.problems,
            on_disk = self.source.index_dir.is_some(),
            index = how,
            millis = started.elapsed().as_millis() as u64,
            "corpus indexed"
        );
        if self.source.index_dir.is_none() && report.documents > LARGE_IN_MEMORY {
            tracing::warn!(
                documents = report.documents,
                "a large corpus is indexed in memory; set MCP_INDEX_DIR to keep the index on disk"
            );
        }
    }

    /// The index being served.
    pub fn current(&self) -> Arc<Generation> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn len(&self) -> u64 {
        self.current().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn search(
        &self,
        query: &str,
        access: &Access,
        limit: usize,
    ) -> Result<Vec<Hit>, CorpusError> {
        Ok(self.current().index.search(query, access, limit)?)
    }

    /// The answer to a search from the result cache of the index being served, if it was
    /// answered before; cheap enough for the async workers.
    pub fn cached_answer(&self, search: results::SearchKey, access: &Access) -> Option<Rendered> {
        self.current()
            .results
            .cached(search, access, &self.stats.cache)
    }

    /// The answer `answer` makes from what a search found, from the result cache of the index
    /// being served when the same search was answered before (see `results`).
    pub fn search_answer(
        &self,
        search: results::SearchKey,
        access: &Access,
        answer: impl FnOnce(&Found) -> String,
    ) -> Result<Rendered, CorpusError> {
        let served = self.current();
        served
            .results
            .get_or_answer(search, access, &self.stats.cache, || {
                let found = served.index.find(search.query, access, search.limit)?;
                Ok(answered(&found, answer))
            })
    }

    /// The answer to a cheap search (see [`CHEAP_POSTINGS`]) that [`Corpus::cached_answer`] did
    /// not find, kept in the result cache like any other; `None` when the search is not cheap.
    pub fn cheap_answer(
        &self,
        search: results::SearchKey,
        access: &Access,
        answer: impl FnOnce(&Found) -> String,
    ) -> Option<Result<Rendered, CorpusError>> {
        let served = self.current();
        let found = served
            .index
            .find_if_cheap(search.query, access, search.limit, CHEAP_POSTINGS);
        match found {
            Ok(None) => None,
            Ok(Some(found)) => {
                let made = answered(&found, answer);
                served
                    .results
                    .keep(search, access, &self.stats.cache, &made);
                Some(Ok(made))
            }
            Err(e) => Some(Err(e.into())),
        }
    }

    pub fn get(&self, id: &str, access: &Access) -> Result<Option<Document>, CorpusError> {
        Ok(self.current().index.get(id, access)?)
    }

    /// Whether any document has this id, whoever may see it (for the audit trail; never for
    /// an answer, which must not tell a hidden document from a missing one).
    pub fn holds(&self, id: &str) -> Result<bool, CorpusError> {
        Ok(self.current().index.holds(id)?)
    }
}

/// The answer `answer` writes for what a search found, with the ids it lists.
fn answered(found: &Found, answer: impl FnOnce(&Found) -> String) -> Rendered {
    Rendered {
        text: Bytes::from(answer(found)),
        ids: found.hits.iter().map(|hit| hit.id.clone()).collect(),
    }
}

fn corpus_generation(index: Index, source: &Source) -> Generation {
    Generation {
        index,
        results: results::Results::new(source.search_cache_bytes),
    }
}

impl crate::telemetry::Scraped for Corpus {
    fn scrape(&self, s: &mut crate::telemetry::Scrape<'_>) -> std::fmt::Result {
        let stats = self.stats();
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        s.gauge(
            "corpus_documents",
            "Documents in the search index being served",
            count(&stats.documents) as i64,
        )?;
        let skipped =
            "Corpus files and records skipped by the load that built the index being served";
        s.gauge("corpus_skipped", skipped, count(&stats.skipped) as i64)?;
        s.counters(
            "corpus_reloads",
            "Index builds by outcome (ok, failed)",
            "outcome",
            &[
                ("ok", count(&stats.reloads_ok)),
                ("failed", count(&stats.reloads_failed)),
            ],
        )?;
        let cache = "Searches answered from the result cache (hit) and run on the index (miss)";
        s.counters(
            "search_cache",
            cache,
            "result",
            &[
                ("hit", count(&stats.cache.hits)),
                ("miss", count(&stats.cache.misses)),
            ],
        )
    }
}
