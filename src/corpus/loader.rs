//! Reads a corpus folder: every `.md`, `.markdown`, `.txt`, `.json` and `.jsonl` file under it,
//! in a stable order. Hidden files and folders (names starting with `.`) and other extensions are
//! passed over; symbolic links to folders are not followed, so a link cannot loop or leave the
//! corpus. A file or record that cannot be read or parsed, is too large, or repeats an id already
//! seen is reported with its path and reason and skipped; it never stops the load.

use std::collections::HashMap;
use std::io::{BufRead, Read as _};
use std::path::{Path, PathBuf};

use url::Url;

use super::document::{self, Document};

/// Largest file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Deepest folder nesting followed.
const MAX_DEPTH: usize = 32;
/// Problems kept for the report and logged one by one; all are counted, and the rest are
/// summed up in one line.
const MAX_PROBLEMS_KEPT: usize = 100;

/// Where documents come from.
#[derive(Debug, Clone)]
pub struct Folder {
    pub root: PathBuf,
    /// Prefix of the urls of documents that do not name their own (`MCP_CORPUS_BASE_URL`).
    pub base_url: Option<Url>,
    /// A folder inside `root` not to read (the on-disk index, when it lives there).
    pub skip: Option<PathBuf>,
}

/// A file or record that was skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file, relative to the corpus folder, with `:line` or `[index]` for one record.
    pub path: String,
    pub reason: String,
}

/// What a load found.
#[derive(Debug, Default)]
pub struct Report {
    pub documents: u64,
    pub problems: u64,
    /// The first problems, in the order found.
    pub first_problems: Vec<Problem>,
}

/// Reads every document under `folder`, handing each to `sink` (which may fail, e.g. when the
/// index cannot be written; that stops the load).
pub fn load<E>(
    folder: &Folder,
    sink: &mut dyn FnMut(Document) -> Result<(), E>,
) -> Result<Report, E> {
    let mut files = Vec::new();
    let mut report = Report::default();
    collect(folder, &folder.root, 0, &mut files, &mut report);
    let mut seen: HashMap<String, String> = HashMap::new();
    for (path, kind) in files {
        let shown = relative(&folder.root, &path);
        let docs = match read(&path, &shown, kind, folder.base_url.as_ref()) {
            Ok(docs) => docs,
            Err(reason) => {
                problem(&mut report, shown, reason);
                continue;
            }
        };
        for (at, doc) in docs {
            match doc {
                Ok(doc) => {
                    if let Some(first) = seen.get(&doc.id) {
                        let reason = format!("the id `{}` is already used by {first}", doc.id);
                        problem(&mut report, at, reason);
                        continue;
                    }
                    seen.insert(doc.id.clone(), at);
                    sink(doc)?;
                    report.documents += 1;
                }
                Err(reason) => problem(&mut report, at, reason),
            }
        }
    }
    if report.problems > report.first_problems.len() as u64 {
        tracing::warn!(
            more = report.problems - report.first_problems.len() as u64,
            "more corpus files or records were skipped than are logged one by one"
        );
    }
    Ok(report)
}

fn problem(report: &mut Report, path: String, reason: String) {
    report.problems += 1;
    if report.first_problems.len() < MAX_PROBLEMS_KEPT {
        tracing::warn!(path = %path, reason = %reason, "skipped a corpus file or record");
        report.first_problems.push(Problem { path, reason });
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Markdown,
    Text,
    Json,
    JsonLines,
}

fn kind(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "md" | "markdown" => Kind::Markdown,
        "txt" => Kind::Text,
        "json" => Kind::Json,
        "jsonl" => Kind::JsonLines,
        _ => return None,
    })
}

/// The files to read under `dir`, sorted by path.
fn collect(
    folder: &Folder,
    dir: &Path,
    depth: usize,
    files: &mut Vec<(PathBuf, Kind)>,
    report: &mut Report,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problem(
                report,
                relative(&folder.root, dir),
                format!("cannot list the folder: {e}"),
            );
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if hidden || folder.skip.as_deref() == Some(path.as_path()) {
            continue;
        }
        let Ok(link) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if link.is_dir() {
            if depth + 1 >= MAX_DEPTH {
                problem(
                    report,
                    relative(&folder.root, &path),
                    format!("nested more than {MAX_DEPTH} folders deep"),
                );
            } else {
                collect(folder, &path, depth + 1, files, report);
            }
        } else if let Some(kind) = kind(&path)
            && (!link.is_symlink() || path.is_file())
        {
            files.push((path, kind));
        }
    }
}

type Read = Vec<(String, Result<Document, String>)>;

/// The documents of one file, each with where it was found.
fn read(path: &Path, shown: &str, kind: Kind, base: Option<&Url>) -> Result<Read, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let size = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "the file is {size} bytes; files over {MAX_FILE_BYTES} bytes are skipped (split it, or use .jsonl)"
        ));
    }
    // Read through the handle just measured, and never past the limit even if the file grows.
    let mut bounded = file.take(MAX_FILE_BYTES);
    if let Kind::JsonLines = kind {
        return read_lines(std::io::BufReader::new(bounded), shown, base);
    }
    let mut bytes = Vec::new();
    bounded
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    Ok(match kind {
        Kind::Markdown => vec![(
            shown.to_owned(),
            document::from_text_file(shown, &text, true, base),
        )],
        Kind::Text => vec![(
            shown.to_owned(),
            document::from_text_file(shown, &text, false, base),
        )],
        Kind::Json => read_json(&text, shown, base)?,
        Kind::JsonLines => unreachable!("read above"),
    })
}

fn read_json(text: &str, shown: &str, base: Option<&Url>) -> Result<Read, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let parse = |v: serde_json::Value| document::from_json(v, base);
    Ok(match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{shown}[{i}]"), parse(v)))
            .collect(),
        object @ serde_json::Value::Object(_) => vec![(shown.to_owned(), parse(object))],
        _ => {
            return Err(
                "a .json file must hold one record (an object) or an array of records".into(),
            );
        }
    })
}

fn read_lines(reader: impl BufRead, shown: &str, base: Option<&Url>) -> Result<Read, String> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let at = format!("{shown}:{}", i + 1);
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                out.push((at, Err(format!("cannot read the line: {e}"))));
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let doc = serde_json::from_str(&line)
            .map_err(|e| format!("not valid JSON: {e}"))
            .and_then(|v| document::from_json(v, base));
        out.push((at, doc));
    }
    Ok(out)
}

/// `path` relative to `root`, with `/` separators.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}
