//! Making the index a corpus serves: a whole new one ([`build`]), or, at start-up under
//! `MCP_INDEX_DIR`, the one the last run left when it was made from the same source in the
//! same format ([`reuse`]), brought up to date file by file.

use std::path::{Path, PathBuf};

use super::index::{self, Index, Store};
use super::loader::{self, LoadReport};
use super::manifest::{IndexDir, Manifest};
use super::update::{self, Updated};
use super::{CorpusError, Document, Folder, SAMPLE, Source, document};

/// An index, what it was made from, and what making it found.
pub(super) struct Built {
    pub index: Index,
    pub manifest: Manifest,
    pub report: LoadReport,
}

/// Builds a whole new index of `source`: in memory, or in a new folder of `dir`, which becomes
/// the one in use once complete.
pub(super) fn build(source: &Source, dir: Option<&IndexDir>) -> Result<Built, CorpusError> {
    if let Some(folder) = &source.folder
        && let Err(e) = std::fs::read_dir(&folder.root)
    {
        return Err(CorpusError::Folder {
            path: folder.root.display().to_string(),
            reason: e.to_string(),
        });
    }
    let disk = dir.map(IndexDir::new_index);
    let listed = super::manifest::now();
    let mut builder = index::Builder::new(disk.as_deref())?;
    let mut sink = |file: &str, doc: Document| builder.add_in(file, &doc);
    let report = match &source.folder {
        None => sample(&mut sink)?,
        Some(folder) => loader::load(folder, &mut sink)?,
    };
    let index = builder.finish()?;
    let mut manifest = Manifest::new(source);
    manifest.record(&report.files, listed);
    manifest.opstamp = index.store().opstamp()?;
    if let (Some(dir), Some(folder)) = (dir, &disk) {
        commit(dir, folder, &manifest)?;
        index.store().keep(true);
    }
    Ok(Built {
        index,
        manifest,
        report,
    })
}

/// The index the last run left in `dir`, when it was made from `source` in this server's format,
/// updated to the folder as it is now; `None` (with the reason logged) when there is none to use.
pub(super) fn reuse(source: &Source, dir: &IndexDir) -> Option<Built> {
    let (path, manifest) = dir.current()?;
    let why = match open(source, &path, &manifest) {
        Ok(Some(built)) => return Some(built),
        Ok(None) => "it was made from another folder, base url or version of the server".to_owned(),
        Err(e) => e.to_string(),
    };
    tracing::info!(folder = %path.display(), reason = %why, "the index on disk is not reused; building a new one");
    None
}

fn open(source: &Source, path: &Path, manifest: &Manifest) -> Result<Option<Built>, CorpusError> {
    if !manifest.fits(source) {
        return Ok(None);
    }
    let store = Store::open(path)?;
    if store.opstamp()? != manifest.opstamp {
        return Err(CorpusError::IndexDir {
            path: path.display().to_string(),
            reason: "its last change was not recorded in its manifest".into(),
        });
    }
    let index = store.generation()?;
    let Some(folder) = &source.folder else {
        let report = manifest.report(LoadReport::default());
        return Ok(Some(Built {
            index,
            manifest: manifest.clone(),
            report,
        }));
    };
    match update::update(folder, &index, manifest)? {
        Updated::Unchanged { listing } => Ok(Some(Built {
            report: manifest.report(listing),
            index,
            manifest: manifest.clone(),
        })),
        Updated::Changed(update) => {
            super::manifest::save_manifest(path, &update.manifest).map_err(|e| io(path, e))?;
            tracing::info!(
                files = update.files,
                "files changed while the server was stopped; the index on disk was updated"
            );
            Ok(Some(Built {
                report: update.manifest.report(update.listing),
                index: update.index,
                manifest: update.manifest,
            }))
        }
        Updated::Rebuild(why) => Err(CorpusError::IndexDir {
            path: path.display().to_string(),
            reason: why,
        }),
    }
}

/// Makes the index in `folder` the one in use under `dir`.
pub(super) fn commit(
    dir: &IndexDir,
    folder: &Path,
    manifest: &Manifest,
) -> Result<(), CorpusError> {
    dir.commit(folder, manifest).map_err(|e| io(folder, e))
}

pub(super) fn io(path: &Path, e: std::io::Error) -> CorpusError {
    CorpusError::IndexDir {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Indexes the built-in sample.
fn sample(
    sink: &mut dyn FnMut(&str, Document) -> tantivy::Result<()>,
) -> Result<LoadReport, tantivy::TantivyError> {
    let records: Vec<document::Record> =
        serde_json::from_str(SAMPLE).expect("the built-in sample corpus is valid");
    let mut report = LoadReport::default();
    for record in records {
        let doc = record
            .into_document(None)
            .expect("every built-in sample record is valid");
        sink("", doc)?;
        report.documents += 1;
    }
    Ok(report)
}

/// `path` with every symbolic link resolved, as far as it exists (the rest appended as given),
/// so that two names of one folder compare equal.
pub(super) fn resolved(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = at.canonicalize() {
            return missing.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                at = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// An index folder equal to or inside the corpus folder would be read as documents and would
/// write and remove files among the user's: refused.
pub(super) fn refuse_index_in_corpus(
    index: &Path,
    corpus: Option<&Folder>,
) -> Result<(), CorpusError> {
    let Some(corpus) = corpus else {
        return Ok(());
    };
    let index = resolved(index);
    let place = if index == corpus.root {
        "the same folder as"
    } else if index.starts_with(&corpus.root) {
        "inside"
    } else {
        return Ok(());
    };
    Err(CorpusError::IndexInCorpus {
        index: index.display().to_string(),
        corpus: corpus.root.display().to_string(),
        place,
    })
}
