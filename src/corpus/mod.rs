//! The documents `search` and `fetch` serve, and their index.
//!
//! Documents come from the folder `MCP_CORPUS` (see [`loader`] and [`document`]) or, without it,
//! from the sample corpus compiled into the binary: a bakery's orders, recipes, support tickets
//! and policies. They are indexed with tantivy ([`index`]), in memory or under `MCP_INDEX_DIR`,
//! and filtered by the caller's roles and groups ([`access`]).
//!
//! The corpus is rebuilt on request ([`Corpus::reload`], driven by [`reload`]): the new index is
//! built beside the one in use, which keeps answering until the new one replaces it. A failed
//! rebuild leaves the old index in place.

pub mod access;
pub mod document;
pub mod index;
pub mod loader;
pub mod query;
pub mod reload;
pub mod results;
pub mod snippet;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;

pub use access::Access;
pub use document::Document;
pub use index::{Found, Hit, Index};
pub use loader::{Folder, Problem, Report};

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
            search_cache_bytes: crate::config::default_of("MCP_SEARCH_CACHE_MIB")
                .and_then(|mib| mib.parse::<u64>().ok())
                .unwrap_or(0)
                << 20,
        }
    }

    pub fn from_settings(s: &crate::config::CorpusSettings) -> Self {
        Source {
            folder: s.folder.as_ref().map(|root| Folder {
                root: root.canonicalize().unwrap_or_else(|_| root.clone()),
                base_url: s.base_url.clone(),
                skip: None,
            }),
            index_dir: s.index_dir.clone(),
            search_cache_bytes: s.search_cache_mib << 20,
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
pub struct Served {
    pub index: Index,
    results: results::Results,
}

/// The corpus being served; cheap to read from many requests while a rebuild runs.
pub struct Corpus {
    source: Source,
    current: RwLock<Arc<Served>>,
    /// Held while a rebuild runs, so rebuilds never overlap.
    building: Mutex<()>,
    generation: AtomicU64,
    stats: Stats,
}

impl Corpus {
    /// The sample corpus built into the binary.
    pub fn sample() -> Self {
        Self::open(Source::sample()).expect("the built-in sample corpus indexes in memory")
    }

    /// Loads and indexes the corpus once, for start-up.
    pub fn open(mut source: Source) -> Result<Self, CorpusError> {
        if let Some(dir) = &source.index_dir {
            prepare_index_dir(dir)?;
            // An index kept inside the corpus folder must not be read as documents.
            if let Some(folder) = &mut source.folder {
                folder.skip = Some(dir.canonicalize().unwrap_or_else(|_| dir.clone()));
            }
        }
        let started = std::time::Instant::now();
        let (index, report) = build(&source, 1)?;
        let corpus = Corpus {
            current: RwLock::new(Arc::new(corpus_generation(index, &source))),
            source,
            building: Mutex::new(()),
            generation: AtomicU64::new(1),
            stats: Stats::default(),
        };
        corpus.installed(&report, started);
        Ok(corpus)
    }

    /// Builds a new index from the source and serves it; the old one serves until then, and
    /// stays when the build fails. Blocks for as long as the build takes.
    pub fn reload(&self) -> Result<Report, CorpusError> {
        let _one_at_a_time = self.building.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let started = std::time::Instant::now();
        match build(&self.source, generation) {
            Ok((index, report)) => {
                let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
                let served = Arc::new(corpus_generation(index, &self.source));
                let old = std::mem::replace(&mut *current, served);
                drop(current);
                // Dropped outside the lock: removing an on-disk index must not hold up searches.
                drop(old);
                self.installed(&report, started);
                Ok(report)
            }
            Err(error) => {
                self.stats.reloads_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "corpus not rebuilt; the previous index stays in use");
                Err(error)
            }
        }
    }

    /// Records that the index built from `report` is now served.
    fn installed(&self, report: &Report, started: std::time::Instant) {
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
    pub fn current(&self) -> Arc<Served> {
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
    pub fn cached_answer(&self, search: results::Search, access: &Access) -> Option<Bytes> {
        self.current()
            .results
            .cached(search, access, &self.stats.cache)
    }

    /// The answer `answer` makes from what a search found, from the result cache of the index
    /// being served when the same search was answered before (see [`results`]).
    pub fn search_answer(
        &self,
        search: results::Search,
        access: &Access,
        answer: impl FnOnce(Found) -> String,
    ) -> Result<Bytes, CorpusError> {
        let served = self.current();
        served
            .results
            .get_or_answer(search, access, &self.stats.cache, || {
                let found = served.index.find(search.query, access, search.limit)?;
                Ok(answer(found))
            })
    }

    /// The answer to a cheap search (see [`CHEAP_POSTINGS`]), kept in the result cache like any
    /// other; `None` when the search is not cheap.
    pub fn cheap_answer(
        &self,
        search: results::Search,
        access: &Access,
        answer: impl FnOnce(Found) -> String,
    ) -> Option<Result<Bytes, CorpusError>> {
        let served = self.current();
        let found = served
            .index
            .find_if_cheap(search.query, access, search.limit, CHEAP_POSTINGS);
        match found {
            Ok(None) => None,
            Ok(Some(found)) => Some(served.results.get_or_answer(
                search,
                access,
                &self.stats.cache,
                || Ok(answer(found)),
            )),
            Err(e) => Some(Err(e.into())),
        }
    }

    pub fn get(&self, id: &str, access: &Access) -> Result<Option<Document>, CorpusError> {
        Ok(self.current().index.get(id, access)?)
    }
}

/// Builds an index of generation `generation` from `source`.
fn build(source: &Source, generation: u64) -> Result<(Index, Report), CorpusError> {
    let disk = source
        .index_dir
        .as_ref()
        .map(|d| d.join(format!("index-{}-{generation}", std::process::id())));
    if let Some(folder) = &source.folder
        && let Err(e) = std::fs::read_dir(&folder.root)
    {
        return Err(CorpusError::Folder {
            path: folder.root.display().to_string(),
            reason: e.to_string(),
        });
    }
    let mut builder = index::Builder::new(disk.as_deref())?;
    let mut sink = |doc: Document| builder.add(&doc);
    let report = match &source.folder {
        None => sample(&mut sink)?,
        Some(folder) => loader::load(folder, &mut sink)?,
    };
    Ok((builder.finish()?, report))
}

fn corpus_generation(index: Index, source: &Source) -> Served {
    Served {
        index,
        results: results::Results::new(source.search_cache_bytes),
    }
}

/// Indexes the built-in sample.
fn sample(
    sink: &mut dyn FnMut(Document) -> tantivy::Result<()>,
) -> Result<Report, tantivy::TantivyError> {
    let records: Vec<document::Record> =
        serde_json::from_str(SAMPLE).expect("the built-in sample corpus is valid");
    let mut report = Report::default();
    for record in records {
        let doc = record
            .into_document(None)
            .expect("every built-in sample record is valid");
        sink(doc)?;
        report.documents += 1;
    }
    Ok(report)
}

/// Creates the index folder and removes indexes an earlier run of the server left behind.
fn prepare_index_dir(dir: &std::path::Path) -> Result<(), CorpusError> {
    let fail = |e: std::io::Error| CorpusError::IndexDir {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    for entry in std::fs::read_dir(dir).map_err(fail)?.flatten() {
        let stale = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("index-"));
        if stale && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path()).map_err(fail)?;
        }
    }
    Ok(())
}
