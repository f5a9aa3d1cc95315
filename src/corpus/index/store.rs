//! The tantivy index behind the generations of [`Index`]: one for the life of a corpus
//! folder's index, from which each change (a rebuild aside) makes a new generation.

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
    folder: Option<Folder>,
}

impl Store {
    pub(super) fn new(
        index: tantivy::Index,
        fields: Fields,
        folder: Option<Folder>,
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
        let folder = Folder::new(path.to_path_buf());
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
pub struct Folder {
    path: PathBuf,
    keep: AtomicBool,
}

impl Folder {
    pub(super) fn new(path: PathBuf) -> Folder {
        Folder {
            path,
            keep: AtomicBool::new(false),
        }
    }

    fn keep(&self, keep: bool) {
        self.keep.store(keep, Ordering::Relaxed);
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        if self.keep.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(folder = %self.path.display(), error = %e, "cannot remove an old index");
        }
    }
}
