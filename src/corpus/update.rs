//! Brings an index up to date with its folder file by file: the documents of changed and removed
//! files are deleted, changed and new files are read again, and one tantivy commit makes all of
//! it visible at once. The generation in use keeps answering until then.
//!
//! The result is the index a full rebuild would make, with one exception handled by rebuilding
//! instead: ids used by two files. A full load keeps the record of the first file (in path order)
//! and skips the other's; when an id of a changed file is already used by a file that did not
//! change, or some file lost records that way before, which record wins depends on files not
//! read again, so [`update`] asks for a full rebuild.

use std::collections::{HashMap, HashSet};

use tantivy::IndexWriter;

use super::document::Document;

use super::index::Index;
use super::loader::{self, FileOutcome, Folder, LoadReport, SourceFile};
use super::manifest::{self, Manifest};

/// What an update did.
pub(crate) enum Updated {
    /// No file changed. `listing` has the problems of listing the folder.
    Unchanged { listing: LoadReport },
    /// The update made.
    Changed(Box<Update>),
    /// Only a full rebuild gives the right index, for the reason given.
    Rebuild(String),
}

/// An update made: the index as the folder is now, its manifest, the problems of listing the
/// folder, and how many files were read or removed.
pub(crate) struct Update {
    pub index: Index,
    pub manifest: Manifest,
    pub listing: LoadReport,
    pub files: usize,
}

/// Why reading the changed files stopped.
enum Stop {
    Rebuild(String),
    Index(tantivy::TantivyError),
}

impl From<tantivy::TantivyError> for Stop {
    fn from(e: tantivy::TantivyError) -> Stop {
        Stop::Index(e)
    }
}

/// Adds the documents of `files` to `writer`, where the documents of `replaced` were deleted.
/// A record whose id a file that is not read again already uses stops the update.
fn read_again(
    folder: &Folder,
    current: &Index,
    writer: &mut IndexWriter,
    files: &[SourceFile],
    replaced: &HashSet<&str>,
) -> Result<Vec<(SourceFile, FileOutcome)>, Stop> {
    let store = current.store();
    let mut report = LoadReport::default();
    let mut read = Vec::with_capacity(files.len());
    let mut seen = HashMap::new();
    let owners = current.files()?;
    for file in files {
        let mut add = |shown: &str, doc: Document| -> Result<(), Stop> {
            if let Some(owner) = current.file_of(&doc.id, &owners)?
                && !replaced.contains(owner.as_str())
            {
                return Err(Stop::Rebuild(format!(
                    "the id `{}` of {shown} is also used by {owner}",
                    doc.id
                )));
            }
            writer.add_document(store.document(shown, &doc))?;
            Ok(())
        };
        let base = folder.base_url.as_ref();
        let outcome = loader::read_into(file, base, &mut seen, &mut report, &mut add)?;
        read.push((file.clone(), outcome));
    }
    Ok(read)
}

/// Updates the index behind `current` (made as `manifest` says) to the files of `folder`.
pub(crate) fn update(
    folder: &Folder,
    current: &Index,
    manifest: &Manifest,
) -> tantivy::Result<Updated> {
    let mut listing = LoadReport::default();
    let listed = manifest::now();
    let files = loader::files(folder, &mut listing);
    let changes = manifest.changes(&files);
    if changes.is_empty() {
        return Ok(Updated::Unchanged { listing });
    }
    if manifest.shadowed() {
        return Ok(Updated::Rebuild(
            "some records repeat ids of other files".to_owned(),
        ));
    }
    let store = current.store();
    let mut writer = store.writer()?;
    let replaced: HashSet<&str> = changes
        .read
        .iter()
        .map(|f| f.shown.as_str())
        .chain(changes.removed.iter().map(String::as_str))
        .collect();
    for file in &replaced {
        writer.delete_term(store.file_term(file));
    }
    let read = match read_again(folder, current, &mut writer, &changes.read, &replaced) {
        Ok(read) => read,
        Err(Stop::Rebuild(why)) => return Ok(Updated::Rebuild(why)),
        Err(Stop::Index(e)) => return Err(e),
    };
    let opstamp = writer.commit()?;
    writer.wait_merging_threads()?;
    let mut next = manifest.clone();
    for gone in &changes.removed {
        next.files.remove(gone);
    }
    next.record(&read, listed);
    next.opstamp = opstamp;
    Ok(Updated::Changed(Box::new(Update {
        index: store.generation()?,
        manifest: next,
        listing,
        files: replaced.len(),
    })))
}
