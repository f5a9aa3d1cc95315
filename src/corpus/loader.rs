//! Reads a corpus folder: every `.md`, `.markdown`, `.txt`, `.json` and `.jsonl` file under it,
//! in a stable order. Hidden files and folders (names starting with `.`) and other extensions are
//! passed over. A file or record that cannot be read or parsed, is too large, or repeats an id
//! already seen is reported with its path and reason and skipped; it never stops the load.
//!
//! Nothing outside the folder is ever read. The folder is the one resolved at start-up, and every
//! file is opened through `cap-std` beneath it, so a path that would leave it (a symbolic link to
//! `/etc/passwd` or `/proc/self/environ`, a `..`, a folder swapped for a link between the listing
//! and the read) fails to open instead of being followed. A symbolic link to a file inside the
//! folder is read as that file; a link to a folder is never followed, so no link can loop; a link
//! that leads out of the folder or cannot be resolved is skipped with a problem naming it. Only
//! regular files are read: devices, FIFOs and sockets are opened without blocking, seen for what
//! they are and skipped, and so are files of `/proc` and `/sys`.

use std::collections::HashMap;
use std::io::{BufRead, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;

use super::document::{self, Document, DocumentError};

mod beneath;

/// Why a corpus file, a folder or one record is skipped: the reason a problem gives.
#[derive(Debug, thiserror::Error)]
pub enum Skipped {
    #[error("cannot list the folder: {0}")]
    List(std::io::Error),
    #[error("nested more than {MAX_DEPTH} folders deep")]
    TooDeep,
    #[error(
        "a symbolic link that leads out of the corpus folder or cannot be resolved; it is not followed"
    )]
    LinkOut,
    #[error("a symbolic link to a folder; links to folders are not followed")]
    LinkToFolder,
    #[error("not a regular file (a device, FIFO or socket); it is not read")]
    NotRegular,
    #[error("a file of /proc or /sys; it is not read")]
    Procfs,
    #[error("cannot open it beneath the corpus folder: {0}")]
    Open(std::io::Error),
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    #[error(
        "the file is {0} bytes; files over {MAX_FILE_BYTES} bytes are skipped (split it, or use .jsonl)"
    )]
    TooLarge(u64),
    #[error("not UTF-8 text: {0}")]
    NotUtf8(std::string::FromUtf8Error),
    #[error("not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("a .json file must hold one record (an object) or an array of records")]
    NotRecords,
    #[error("cannot read the line: {0}")]
    Line(std::io::Error),
    #[error(transparent)]
    Document(#[from] DocumentError),
    #[error("the id `{id}` is already used by {first}")]
    DuplicateId { id: String, first: String },
}

/// Largest file read, in bytes.
pub(crate) const MAX_FILE_BYTES: u64 = 64 << 20;
/// Deepest folder nesting followed.
const MAX_DEPTH: usize = 32;
/// Problems kept for the report and logged one by one; all are counted, and the rest are
/// summed up in one line.
const MAX_PROBLEMS_KEPT: usize = 100;

/// Where documents come from.
#[derive(Debug, Clone)]
pub struct Folder {
    /// The folder as resolved at start-up (no symbolic link in it): nothing outside it is read.
    pub root: PathBuf,
    /// Prefix of the urls of documents that do not name their own (`MCP_CORPUS_BASE_URL`).
    pub base_url: Option<Url>,
}

#[cfg(test)]
impl Folder {
    /// The folder at `root`, resolved as start-up resolves it, with no base url.
    pub fn of(root: &Path) -> Folder {
        Folder {
            root: super::build::resolved(root),
            base_url: None,
        }
    }
}

#[cfg(test)]
impl SourceFile {
    /// The text file `rel` beneath `root`, as if a listing had found it.
    pub fn text(root: &Path, rel: &str) -> SourceFile {
        SourceFile {
            dir: Arc::new(beneath::open_root(root).expect("the folder opens")),
            path: PathBuf::from(rel),
            shown: rel.to_owned(),
            kind: SourceFormat::Text,
            size: 0,
            modified: 0,
        }
    }
}

/// A file or record that was skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The file, relative to the corpus folder, with `:line` or `[index]` for one record.
    pub path: String,
    pub reason: String,
}

/// What a load found.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub documents: u64,
    pub problems: u64,
    /// The first problems, in the order found.
    pub first_problems: Vec<Problem>,
    /// Each file read, with what it gave.
    pub files: Vec<(SourceFile, FileOutcome)>,
}

/// A file of the corpus, with what tells whether it changed: its size and modification time.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The corpus folder the file was listed in, opened once for the listing: the file is read
    /// beneath it.
    dir: Arc<cap_std::fs::Dir>,
    /// The file's path relative to the corpus folder.
    path: PathBuf,
    /// The path relative to the corpus folder, with `/` separators: the file's name in ids,
    /// problems and the index.
    pub shown: String,
    kind: SourceFormat,
    pub size: u64,
    /// Nanoseconds since the Unix epoch (0 where the file system keeps no time).
    pub modified: u128,
}

/// What one file gave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileOutcome {
    pub documents: u64,
    pub problems: u64,
    /// Its first problems (at most [`MAX_PROBLEMS_PER_FILE`]).
    pub first_problems: Vec<Problem>,
    /// Whether a record of it was skipped because an earlier file used its id.
    pub shadowed: bool,
}

/// Problems remembered per file, for reports of an index that is reused or updated.
pub(crate) const MAX_PROBLEMS_PER_FILE: usize = 10;

/// Reads every document under `folder`, handing each to `sink` with its file (which may fail,
/// e.g. when the index cannot be written; that stops the load).
pub(crate) fn load<E>(
    folder: &Folder,
    sink: &mut dyn FnMut(&str, Document) -> Result<(), E>,
) -> Result<LoadReport, E> {
    let mut report = LoadReport::default();
    let files = files(folder, &mut report);
    let mut seen: HashMap<String, String> = HashMap::new();
    for file in files {
        let outcome = read_into(
            &file,
            folder.base_url.as_ref(),
            &mut seen,
            &mut report,
            sink,
        )?;
        report.files.push((file, outcome));
    }
    report.summarise();
    Ok(report)
}

/// Reads the documents of `file` into `sink`. A record whose id `seen` holds (an earlier record,
/// in path order) is skipped as a problem, as is a record that cannot be read; `seen` gains the
/// ids of the records taken, and `report` the file's documents and problems. A failing `sink`
/// stops the reading.
pub(crate) fn read_into<E>(
    file: &SourceFile,
    base: Option<&Url>,
    seen: &mut HashMap<String, String>,
    report: &mut LoadReport,
    sink: &mut dyn FnMut(&str, Document) -> Result<(), E>,
) -> Result<FileOutcome, E> {
    let mut outcome = FileOutcome::default();
    for (at, doc) in read_file(file, base) {
        let doc = doc.and_then(|doc| match seen.get(&doc.id) {
            Some(first) => {
                outcome.shadowed = true;
                Err(Skipped::DuplicateId {
                    id: doc.id.clone(),
                    first: first.clone(),
                })
            }
            None => Ok(doc),
        });
        match doc {
            Ok(doc) => {
                seen.insert(doc.id.clone(), at);
                sink(&file.shown, doc)?;
                outcome.documents += 1;
            }
            Err(reason) => outcome.problem(report, at, reason),
        }
    }
    report.documents += outcome.documents;
    Ok(outcome)
}

impl FileOutcome {
    /// Counts a problem of this file, in the file's outcome and in the report.
    pub fn problem(&mut self, report: &mut LoadReport, path: String, reason: Skipped) {
        self.problems += 1;
        let reason = reason.to_string();
        if self.first_problems.len() < MAX_PROBLEMS_PER_FILE {
            self.first_problems.push(Problem {
                path: path.clone(),
                reason: reason.clone(),
            });
        }
        report.add(path, reason);
    }
}

impl LoadReport {
    /// Logs how many problems were not logged one by one.
    pub fn summarise(&self) {
        if self.problems > self.first_problems.len() as u64 {
            tracing::warn!(
                more = self.problems - self.first_problems.len() as u64,
                "more corpus files or records were skipped than are logged one by one"
            );
        }
    }
}

fn problem(report: &mut LoadReport, path: String, reason: Skipped) {
    report.add(path, reason.to_string());
}

impl LoadReport {
    fn add(&mut self, path: String, reason: String) {
        self.problems += 1;
        if self.first_problems.len() < MAX_PROBLEMS_KEPT {
            tracing::warn!(path = %path, reason = %reason, "skipped a corpus file or record");
            self.first_problems.push(Problem { path, reason });
        }
    }
}

pub(crate) use beneath::files;

/// The documents of one file, each with where it was found; one problem for the whole file when
/// it cannot be read.
pub(crate) fn read_file(file: &SourceFile, base: Option<&Url>) -> Read {
    read(file, base).unwrap_or_else(|reason| vec![(file.shown.clone(), Err(reason))])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceFormat {
    Markdown,
    Text,
    Json,
    JsonLines,
}

fn kind(path: &Path) -> Option<SourceFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "md" | "markdown" => SourceFormat::Markdown,
        "txt" => SourceFormat::Text,
        "json" => SourceFormat::Json,
        "jsonl" => SourceFormat::JsonLines,
        _ => return None,
    })
}

/// A time as modification times are kept: nanoseconds since the Unix epoch (0 before it).
pub(crate) fn nanos(time: std::time::SystemTime) -> u128 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

pub(crate) type Read = Vec<(String, Result<Document, Skipped>)>;

/// The documents of one file, each with where it was found.
fn read(file: &SourceFile, base: Option<&Url>) -> Result<Read, Skipped> {
    let (shown, kind) = (file.shown.as_str(), file.kind);
    let file = beneath::open(&file.dir, &file.path)?;
    let size = file.metadata().map_err(Skipped::Read)?.len();
    if size > MAX_FILE_BYTES {
        return Err(Skipped::TooLarge(size));
    }
    // Read through the handle just measured, and never past the limit even if the file grows.
    let mut bounded = file.take(MAX_FILE_BYTES);
    if let SourceFormat::JsonLines = kind {
        return read_lines(std::io::BufReader::new(bounded), shown, base);
    }
    let mut bytes = Vec::new();
    bounded.read_to_end(&mut bytes).map_err(Skipped::Read)?;
    let text = String::from_utf8(bytes).map_err(Skipped::NotUtf8)?;
    Ok(match kind {
        SourceFormat::Markdown => vec![(
            shown.to_owned(),
            document::from_text_file(shown, &text, true, base).map_err(Skipped::from),
        )],
        SourceFormat::Text => vec![(
            shown.to_owned(),
            document::from_text_file(shown, &text, false, base).map_err(Skipped::from),
        )],
        SourceFormat::Json => read_json(&text, shown, base)?,
        SourceFormat::JsonLines => unreachable!("read above"),
    })
}

fn read_json(text: &str, shown: &str, base: Option<&Url>) -> Result<Read, Skipped> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(Skipped::NotJson)?;
    let parse = |v: serde_json::Value| document::from_json(v, base).map_err(Skipped::from);
    Ok(match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{shown}[{i}]"), parse(v)))
            .collect(),
        object @ serde_json::Value::Object(_) => vec![(shown.to_owned(), parse(object))],
        _ => return Err(Skipped::NotRecords),
    })
}

fn read_lines(reader: impl BufRead, shown: &str, base: Option<&Url>) -> Result<Read, Skipped> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let at = format!("{shown}:{}", i + 1);
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                out.push((at, Err(Skipped::Line(e))));
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let doc = serde_json::from_str(&line)
            .map_err(Skipped::NotJson)
            .and_then(|v| document::from_json(v, base).map_err(Skipped::from));
        out.push((at, doc));
    }
    Ok(out)
}
