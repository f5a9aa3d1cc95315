//! The tantivy index behind the generations of [`Index`]: one for the life of a corpus
//! folder's index, from which each change (a rebuild aside) makes a new generation.
//!
//! On disk each index has a folder of its own, which this server makes (`IndexFolder::create`) and
//! marks before anything else is written into it: a file [`MARKER`] of known content. A folder is
//! removed only when it carries that marker ([`remove`]), so a folder the server did not make is
//! never removed, whatever its name and wherever `MCP_INDEX_DIR` points.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tantivy::{IndexReader, IndexWriter, ReloadPolicy};

use super::{Fields, Index, TITLE_BOOST, query, tree};

/// Indexing memory of an update (a few files), on one thread.
const UPDATE_WRITER_BYTES: usize = 32 << 20;

/// A tantivy index, its reader, and how searches read it.
pub struct Store {
    index: tantivy::Index,
    reader: IndexReader,
    pub(super) fields: Fields,
    /// Where a query looks: titles (what `title:` names, matches boosted) and texts.
    pub(super) searched: Vec<tree::Searched>,
    /// Declared last so the reader closes its files before the folder is removed.
    folder: Option<IndexFolder>,
}

impl Store {
    pub(super) fn new(
        index: tantivy::Index,
        fields: Fields,
        folder: Option<IndexFolder>,
    ) -> tantivy::Result<Arc<Store>> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let analyzer = |field| index.tokenizer_for_field(field);
        let searched = vec![
            tree::Searched {
                field: fields.title,
                name: query::TITLE,
                analyzer: analyzer(fields.title)?,
                boost: TITLE_BOOST,
            },
            tree::Searched {
                field: fields.text,
                name: "text",
                analyzer: analyzer(fields.text)?,
                boost: 1.0,
            },
        ];
        Ok(Arc::new(Store {
            index,
            reader,
            fields,
            searched,
            folder,
        }))
    }

    /// Opens the index a server left in `path`, if its fields are this server's; kept on disk
    /// when dropped.
    pub fn open(path: &Path) -> tantivy::Result<Arc<Store>> {
        let index = tantivy::Index::open_in_dir(path)?;
        let (schema, fields) = Fields::schema();
        if index.schema() != schema {
            return Err(tantivy::TantivyError::SchemaError(
                "the index in the folder was written with other fields".into(),
            ));
        }
        let folder = IndexFolder::new(path.to_path_buf());
        folder.keep(true);
        Store::new(index, fields, Some(folder))
    }

    /// A generation of what is committed now.
    pub fn generation(self: &Arc<Self>) -> tantivy::Result<Index> {
        self.reader.reload()?;
        let searcher = self.reader.searcher();
        Ok(Index {
            documents: searcher.num_docs(),
            ids: super::Columns::of(&searcher, super::rank::ID)?,
            access: super::Columns::of(&searcher, super::visible::ACCESS)?,
            tokens: super::Tokens::of(&searcher, self.searched.iter().map(|s| s.field))?,
            store: self.clone(),
            searcher,
            phrase_steps: tree::PHRASE_STEPS,
        })
    }

    /// The tantivy commit the index is at.
    pub fn opstamp(&self) -> tantivy::Result<u64> {
        Ok(self.index.load_metas()?.opstamp)
    }

    /// A writer for an update: one thread, and the index's documents in their form.
    pub fn writer(&self) -> tantivy::Result<IndexWriter> {
        self.index.writer_with_num_threads(1, UPDATE_WRITER_BYTES)
    }

    /// The index's form of `doc`, read from `file`.
    pub fn document(&self, file: &str, doc: &super::Document) -> tantivy::schema::TantivyDocument {
        self.fields.document(file, doc)
    }

    /// The term that names every document of `file`.
    pub fn file_term(&self, file: &str) -> tantivy::Term {
        tantivy::Term::from_field_text(self.fields.file, file)
    }

    /// The folder the index lives in, when on disk.
    pub fn folder(&self) -> Option<&Path> {
        self.folder.as_ref().map(|f| f.path.as_path())
    }

    /// Whether the folder stays on disk when the index is dropped (a committed index the next
    /// start may reuse) or is removed (a build that was never committed, or was replaced).
    pub fn keep(&self, keep: bool) {
        if let Some(folder) = &self.folder {
            folder.keep(keep);
        }
    }
}

/// The folder of an on-disk index, removed when its index is dropped unless kept.
pub(crate) struct IndexFolder {
    path: PathBuf,
    keep: AtomicBool,
}

/// The file that marks a folder as an index this server made.
pub(crate) const MARKER: &str = ".mcp-resource-server-index";
/// What the marker holds.
const MARKER_TEXT: &str = "This folder is a search index made by mcp-resource-server, which removes it when it is no longer used.\n";

/// Whether `path` is a folder (not a link to one) that this server made: it carries the marker,
/// a regular file with the marker's text.
pub(crate) fn is_ours(path: &Path) -> bool {
    let folder = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    let marker = path.join(MARKER);
    folder
        && std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file() && m.len() < 4096)
        && std::fs::read_to_string(&marker).is_ok_and(|text| text == MARKER_TEXT)
}

/// Removes the index folder `path` if this server made it; a folder without the marker is left
/// as it is, with a warning. Returns whether it was removed.
pub(crate) fn remove(path: &Path) -> std::io::Result<bool> {
    if !is_ours(path) {
        tracing::warn!(
            folder = %path.display(),
            "a folder named like an index was not made by this server (it has no marker {MARKER}); it is left in place"
        );
        return Ok(false);
    }
    std::fs::remove_dir_all(path)?;
    Ok(true)
}

impl IndexFolder {
    /// Makes the folder of a new index and marks it as this server's. A folder already at
    /// `path` is an error: it is not this server's to write into.
    pub(super) fn create(path: PathBuf) -> std::io::Result<IndexFolder> {
        std::fs::create_dir(&path)?;
        let folder = IndexFolder::new(path);
        let mut marker = std::fs::File::create_new(folder.path.join(MARKER))?;
        std::io::Write::write_all(&mut marker, MARKER_TEXT.as_bytes())?;
        marker.sync_all()?;
        Ok(folder)
    }

    fn new(path: PathBuf) -> IndexFolder {
        IndexFolder {
            path,
            keep: AtomicBool::new(false),
        }
    }

    fn keep(&self, keep: bool) {
        self.keep.store(keep, Ordering::Relaxed);
    }
}

impl Drop for IndexFolder {
    fn drop(&mut self) {
        if self.keep.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = remove(&self.path) {
            tracing::warn!(folder = %self.path.display(), error = %e, "cannot remove an old index");
        }
    }
}
