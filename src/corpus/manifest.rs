//! What an index was made from, so a restart can reuse it and a change can update it.
//!
//! The manifest names the format of the index (this server's index format version and tantivy's
//! version), where its documents came from (the corpus folder and `MCP_CORPUS_BASE_URL`, which
//! ids and urls depend on), the tantivy commit it describes, and every file read with its size,
//! modification time and what it gave. A file whose size or modification time differs from its
//! entry is read again; a manifest of another format or source is not used at all.
//!
//! Under `MCP_INDEX_DIR` ([`IndexDir`]) each index lives in its own folder, `index-<time>`, with
//! its manifest inside and the marker of an index this server made (`index::store::MARKER`);
//! only folders with that marker are ever used or removed. A file `current` names the one in
//! use. `current` is replaced (written aside, flushed, renamed) only after the index is
//! committed and its manifest written, so an index left half-written by a crash is never named
//! by it, and is removed at the next start. A manifest is likewise written aside and renamed; it
//! records the tantivy commit it describes, so an update committed but not yet recorded (a crash
//! between the two) is noticed and the index rebuilt.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Source;
use super::index::store;
use super::loader::{FileOutcome, LoadReport, SourceFile};

/// The version of what this server writes into an index (its fields, how it analyses and
/// reads documents). An index of another version is rebuilt. Version 3 marks its folders as
/// this server's.
pub(crate) const FORMAT: u32 = 3;

/// The coarsest clock of a file system the index may read (FAT keeps times to 2 s), in
/// nanoseconds.
const CLOCK_TICK: u128 = 2_000_000_000;

const MANIFEST: &str = "manifest.json";
const CURRENT: &str = "current";
const LOCK: &str = "lock";

/// What an index was made from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub tantivy: String,
    pub root: String,
    pub base_url: Option<String>,
    /// The tantivy commit this manifest describes.
    pub opstamp: u64,
    /// Each file read, by its path relative to the corpus folder.
    pub files: BTreeMap<String, Entry>,
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub size: u64,
    pub modified: u128,
    #[serde(flatten)]
    pub outcome: FileOutcome,
}

/// How the files of the folder differ from a manifest's.
#[derive(Debug, Default)]
pub struct Changes {
    /// Files that are new or whose size or modification time changed.
    pub read: Vec<SourceFile>,
    /// Files that are gone.
    pub removed: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.read.is_empty() && self.removed.is_empty()
    }
}

impl Manifest {
    /// An empty manifest for an index of `source` in this server's format.
    pub fn new(source: &Source) -> Manifest {
        Manifest {
            format: FORMAT,
            tantivy: tantivy::version_string().to_owned(),
            root: source
                .folder
                .as_ref()
                .map(|f| f.root.display().to_string())
                .unwrap_or_default(),
            base_url: source
                .folder
                .as_ref()
                .and_then(|f| f.base_url.as_ref())
                .map(|u| u.to_string()),
            opstamp: 0,
            files: BTreeMap::new(),
        }
    }

    /// Whether an index with this manifest was made the way `source` would make it now.
    pub fn fits(&self, source: &Source) -> bool {
        let fresh = Manifest::new(source);
        (&self.format, &self.tantivy, &self.root, &self.base_url)
            == (&fresh.format, &fresh.tantivy, &fresh.root, &fresh.base_url)
    }

    /// Records what a load that listed the folder at `listed` (see `now`) read.
    ///
    /// A file changed just before the listing may change again within the same tick of the file
    /// system's clock, keeping its size and modification time, and the index would never see
    /// it. Such a file is recorded with an unknown time, so the next update reads it again.
    pub fn record(&mut self, files: &[(SourceFile, FileOutcome)], listed: u128) {
        for (file, outcome) in files {
            let settled = file.modified.saturating_add(CLOCK_TICK) < listed;
            self.files.insert(
                file.shown.clone(),
                Entry {
                    size: file.size,
                    modified: if settled { file.modified } else { 0 },
                    outcome: outcome.clone(),
                },
            );
        }
    }

    /// How `files` (the folder as it is) differ from what the index was made from.
    pub fn changes(&self, files: &[SourceFile]) -> Changes {
        let mut changes = Changes::default();
        let mut present = std::collections::HashSet::with_capacity(files.len());
        for file in files {
            present.insert(file.shown.as_str());
            let same = self
                .files
                .get(&file.shown)
                .is_some_and(|e| e.size == file.size && e.modified == file.modified);
            if !same {
                changes.read.push(file.clone());
            }
        }
        changes.removed = self
            .files
            .keys()
            .filter(|k| !present.contains(k.as_str()))
            .cloned()
            .collect();
        changes
    }

    /// The report of the index this manifest describes: its files' documents and problems,
    /// after the problems of listing the folder (`listing`).
    pub fn report(&self, mut listing: LoadReport) -> LoadReport {
        for entry in self.files.values() {
            listing.documents += entry.outcome.documents;
            listing.problems += entry.outcome.problems;
            for p in &entry.outcome.first_problems {
                if listing.first_problems.len() < 100 {
                    listing.first_problems.push(p.clone());
                }
            }
        }
        listing
    }

    /// Whether some file lost records to an earlier file's ids: then a change to one file can
    /// change what another gives, and only a full rebuild says what.
    pub fn shadowed(&self) -> bool {
        self.files.values().any(|e| e.outcome.shadowed)
    }
}

/// Nanoseconds since the Unix epoch, as modification times are kept.
pub(crate) fn now() -> u128 {
    super::loader::nanos(std::time::SystemTime::now())
}

/// The folder `MCP_INDEX_DIR`: the index in use and its manifest, held by this server alone.
pub struct IndexDir {
    path: PathBuf,
    /// Held for the life of the server: two servers must not share the folder.
    _lock: std::fs::File,
}

impl IndexDir {
    /// Creates the folder if needed, takes it for this server, and removes every index of this
    /// server's in it but the one `current` names (older ones, and any a crash left
    /// half-written). A file `current` that this server did not write stops it: the folder is
    /// someone else's.
    pub fn prepare(path: &Path) -> std::io::Result<IndexDir> {
        std::fs::create_dir_all(path)?;
        if let Ok(meta) = std::fs::symlink_metadata(path.join(CURRENT))
            && (!meta.is_file() || meta.len() > 4096 || current_name(path).is_none())
        {
            return Err(std::io::Error::other(format!(
                "it holds a file `{CURRENT}` that this server did not write; give the server a folder of its own"
            )));
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK))?;
        if lock.try_lock().is_err() {
            return Err(std::io::Error::other(
                "another server is using this folder; give each server (each replica) its own MCP_INDEX_DIR",
            ));
        }
        let dir = IndexDir {
            path: path.to_path_buf(),
            _lock: lock,
        };
        dir.remove_unused()?;
        Ok(dir)
    }

    /// Removes every index folder of this server's but the one `current` names; folders
    /// without its marker are left as they are (`store::remove`).
    pub fn remove_unused(&self) -> std::io::Result<()> {
        let keep = current_name(&self.path);
        for entry in std::fs::read_dir(&self.path)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("index-") && Some(&name) != keep.as_ref() {
                store::remove(&entry.path())?;
            }
        }
        Ok(())
    }

    /// The folder of the index in use and its manifest, when there is one of this server's that
    /// can be read.
    pub fn current(&self) -> Option<(PathBuf, Manifest)> {
        let folder = self.path.join(current_name(&self.path)?);
        if !store::is_ours(&folder) {
            return None;
        }
        let text = std::fs::read(folder.join(MANIFEST)).ok()?;
        let manifest = serde_json::from_slice(&text).ok()?;
        Some((folder, manifest))
    }

    /// A folder for a new index, not yet in use.
    pub fn new_index(&self) -> PathBuf {
        self.path.join(format!("index-{}", now()))
    }

    /// Makes the index in `folder`, with `manifest`, the one in use.
    pub fn commit(&self, folder: &Path, manifest: &Manifest) -> std::io::Result<()> {
        save_manifest(folder, manifest)?;
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        replace(&self.path, CURRENT, name.as_bytes())
    }
}

/// The index folder the file `current` of `dir` names, when it names one.
fn current_name(dir: &Path) -> Option<String> {
    let name = std::fs::read_to_string(dir.join(CURRENT)).ok()?;
    let name = name.trim();
    (name.starts_with("index-") && !name.contains(['/', '\\'])).then(|| name.to_owned())
}

/// Writes the manifest of the index in `folder` (aside, then renamed over the old one).
pub(crate) fn save_manifest(folder: &Path, manifest: &Manifest) -> std::io::Result<()> {
    let text = serde_json::to_vec(manifest).map_err(std::io::Error::other)?;
    replace(folder, MANIFEST, &text)
}

/// Replaces `dir/name` with `bytes` so that a reader sees the old bytes or the new, never a
/// part: written to a file beside it, flushed to disk, renamed over it, and the folder flushed.
fn replace(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let aside = dir.join(format!(".{name}.new"));
    let mut file = std::fs::File::create(&aside)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&aside, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}
