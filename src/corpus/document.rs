//! One document, and how files become documents: JSON records (`.json` holding one record or an
//! array, `.jsonl` holding one per line) and Markdown or plain-text files.
//!
//! A record has `id`, `title`, `text`, optional `url`, `metadata` (an object) and `acl` (a list
//! of realm roles and groups). Fields a record does not define are refused, so a misspelt `acl`
//! never leaves a document open. A Markdown or text file takes its id from its path relative to
//! the corpus folder, its title from front matter, else its first heading, else its file name,
//! and its url from front matter, else from `MCP_CORPUS_BASE_URL` and its path. Front-matter keys
//! other than `id`, `title`, `url` and `acl` become metadata.

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

/// Longest id accepted, in bytes.
pub(crate) const MAX_ID_BYTES: usize = 512;

/// One document as `fetch` returns it, with the roles and groups that may read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub text: String,
    /// An absolute http(s) URL, or empty when the document has none (ChatGPT then shows no
    /// citation link).
    pub url: String,
    pub metadata: Option<Map<String, Value>>,
    /// Empty when everyone may read the document.
    pub acl: Vec<String>,
}

/// Why a record or a file is not a document, in words that name the field to fix.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("a record must be an object with `id`, `title` and `text`, not {0}")]
    NotAnObject(String),
    #[error("unknown field `{0}`; a record has `id`, `title`, `text`, `url`, `metadata` and `acl`")]
    UnknownField(String),
    #[error("`{key}` must be {expected}, not {value}")]
    WrongType {
        key: String,
        expected: &'static str,
        /// The value as written, cut to 40 characters.
        value: String,
    },
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("{0}")]
    Record(serde_json::Error),
    #[error("`id` is empty")]
    EmptyId,
    #[error("`id` is {0} bytes long; the limit is {MAX_ID_BYTES}")]
    LongId(usize),
    #[error("`title` of `{0}` is empty")]
    EmptyTitle(String),
    #[error("`url` must be an absolute http(s) URL, not `{0}`")]
    BadUrl(String),
    #[error(
        "`acl` is empty, which would hide the document from everyone; list the roles or groups that may read it, or remove `acl` to make it public"
    )]
    EmptyAcl,
    #[error(
        "`acl` entry `{0}` names no role or group; write `role-name`, `role:role-name`, `group:name` or `/group/path`"
    )]
    BadAclEntry(String),
    #[error("front matter line `{0}` is not `key: value`")]
    FrontMatterLine(String),
    #[error("front matter opened with `---` is never closed with a `---` line")]
    FrontMatterOpen,
}

/// A record as written in a `.json` or `.jsonl` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    id: String,
    title: String,
    text: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    acl: Option<Vec<String>>,
}

/// Builds a document from one JSON record, with messages that name the field to fix.
pub(crate) fn from_json(value: Value, base: Option<&Url>) -> Result<Document, DocumentError> {
    let Value::Object(fields) = &value else {
        return Err(DocumentError::NotAnObject(format!("{value:.40}")));
    };
    for (key, v) in fields {
        let (ok, expected) = match key.as_str() {
            "id" | "title" | "text" | "url" => (v.is_string(), "a string"),
            "metadata" => (v.is_object(), "an object"),
            "acl" => (
                v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
                "a list of role and group names",
            ),
            _ => {
                return Err(DocumentError::UnknownField(key.clone()));
            }
        };
        if !ok {
            return Err(DocumentError::WrongType {
                key: key.clone(),
                expected,
                value: format!("{v:.40}"),
            });
        }
    }
    if let Some(key) = ["id", "title", "text"]
        .into_iter()
        .find(|k| !fields.contains_key(*k))
    {
        return Err(DocumentError::MissingField(key));
    }
    serde_json::from_value::<Record>(value)
        .map_err(DocumentError::Record)?
        .into_document(base)
}

impl Record {
    /// Checks the record and fills in its url from `base` when it has none.
    pub(crate) fn into_document(self, base: Option<&Url>) -> Result<Document, DocumentError> {
        let url = match self.url {
            Some(url) => checked_url(&url)?,
            None => base.map(|b| join(b, &self.id)).unwrap_or_default(),
        };
        let acl = match self.acl {
            Some(acl) => checked_acl(acl)?,
            None => Vec::new(),
        };
        finish(Document {
            id: self.id,
            title: self.title,
            text: self.text,
            url,
            metadata: self.metadata,
            acl,
        })
    }
}

/// Builds a document from a Markdown (`markdown: true`) or text file at `path` (relative to the
/// corpus folder, with `/` separators).
pub(crate) fn from_text_file(
    path: &str,
    content: &str,
    markdown: bool,
    base: Option<&Url>,
) -> Result<Document, DocumentError> {
    let (front, body) = if markdown {
        front_matter(content)?
    } else {
        (Vec::new(), content)
    };
    let mut id = path.to_owned();
    let mut title = None;
    let mut url = None;
    let mut acl = Vec::new();
    let mut metadata = Map::new();
    for (key, value) in front {
        match key.as_str() {
            "id" => id = value,
            "title" => title = Some(value),
            "url" => url = Some(checked_url(&value)?),
            "acl" => acl = checked_acl(list(&value))?,
            _ => {
                metadata.insert(key, Value::String(value));
            }
        }
    }
    let title = title
        .or_else(|| markdown.then(|| first_heading(body)).flatten())
        .unwrap_or_else(|| file_stem(path));
    let url = url
        .or_else(|| base.map(|b| join(b, path)))
        .unwrap_or_default();
    finish(Document {
        id,
        title,
        text: body.trim().to_owned(),
        url,
        metadata: (!metadata.is_empty()).then_some(metadata),
        acl,
    })
}

fn finish(doc: Document) -> Result<Document, DocumentError> {
    if doc.id.trim().is_empty() {
        return Err(DocumentError::EmptyId);
    }
    if doc.id.len() > MAX_ID_BYTES {
        return Err(DocumentError::LongId(doc.id.len()));
    }
    if doc.title.trim().is_empty() {
        return Err(DocumentError::EmptyTitle(doc.id));
    }
    Ok(doc)
}

fn checked_url(url: &str) -> Result<String, DocumentError> {
    match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(url.to_owned()),
        _ => Err(DocumentError::BadUrl(url.to_owned())),
    }
}

fn checked_acl(acl: Vec<String>) -> Result<Vec<String>, DocumentError> {
    if acl.is_empty() {
        return Err(DocumentError::EmptyAcl);
    }
    if let Some(bad) = acl
        .iter()
        .find(|e| super::access::entry_terms(e).is_empty())
    {
        return Err(DocumentError::BadAclEntry(bad.clone()));
    }
    Ok(acl)
}

/// `key: value` pairs, in the order written.
type Pairs = Vec<(String, String)>;

/// Splits `---` front matter (`key: value` lines) from a Markdown body.
fn front_matter(content: &str) -> Result<(Pairs, &str), DocumentError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let Some(rest) = content
        .strip_prefix("---\n")
        .or_else(|| content.strip_prefix("---\r\n"))
    else {
        return Ok((Vec::new(), content));
    };
    let mut pairs = Vec::new();
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        let line = line.trim_end();
        if line == "---" {
            return Ok((pairs, &rest[offset..]));
        }
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(DocumentError::FrontMatterLine(line.to_owned()));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        pairs.push((key.trim().to_owned(), value.to_owned()));
    }
    Err(DocumentError::FrontMatterOpen)
}

/// `[a, b]`, `a, b` or `a` as a list.
fn list(value: &str) -> Vec<String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').trim_matches('\'').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn first_heading(body: &str) -> Option<String> {
    body.lines()
        .map(str::trim)
        .find(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn file_stem(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.')
        .map_or(name, |(stem, _)| stem)
        .to_owned()
}

/// `base` followed by `path`, each segment percent-encoded.
fn join(base: &Url, path: &str) -> String {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(path.split('/'));
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://docs.example.com/kb/").unwrap()
    }

    #[test]
    fn markdown_takes_front_matter_then_heading_and_keeps_other_keys_as_metadata() {
        let md = "---\nurl: https://wiki.example.com/refunds\nacl: [finance, /staff/kitchen]\nowner: Dana\n---\n\n# Refund policy\n\nRefunds within 30 days.\n";
        let doc = from_text_file("policies/refunds.md", md, true, Some(&base())).unwrap();
        assert_eq!(doc.id, "policies/refunds.md");
        assert_eq!(doc.title, "Refund policy");
        assert_eq!(doc.url, "https://wiki.example.com/refunds");
        assert_eq!(doc.acl, ["finance", "/staff/kitchen"]);
        assert_eq!(doc.metadata.unwrap()["owner"], "Dana");
        assert!(doc.text.starts_with("# Refund policy"));
    }

    #[test]
    fn a_text_file_is_titled_by_its_name_and_located_under_the_base_url() {
        let doc = from_text_file(
            "notes/oven log.txt",
            "# not a heading\n",
            false,
            Some(&base()),
        )
        .unwrap();
        assert_eq!(doc.title, "oven log");
        assert_eq!(doc.url, "https://docs.example.com/kb/notes/oven%20log.txt");
        assert!(doc.acl.is_empty());
    }

    #[test]
    fn without_a_base_url_a_file_has_no_url() {
        let doc = from_text_file("a.md", "plain", true, None).unwrap();
        assert_eq!((doc.title.as_str(), doc.url.as_str()), ("a", ""));
    }

    #[test]
    fn unclosed_front_matter_is_an_error() {
        let err = from_text_file("a.md", "---\nurl: x\n# Title\n", true, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("never closed"), "{err}");
    }

    #[test]
    fn records_refuse_unknown_fields_empty_acls_and_relative_urls() {
        let parse = |s: &str| from_json(serde_json::from_str(s).unwrap(), None);
        assert!(
            parse(r#"{"id":"a","title":"A","text":"t","acls":["x"]}"#)
                .unwrap_err()
                .to_string()
                .contains("unknown field `acls`")
        );
        assert!(
            parse(r#"{"id":"a","title":"A","text":"t","acl":[]}"#)
                .unwrap_err()
                .to_string()
                .contains("remove `acl`")
        );
        assert!(
            parse(r#"{"id":"a","title":"A","text":"t","url":"/a"}"#)
                .unwrap_err()
                .to_string()
                .contains("absolute http(s)")
        );
        assert_eq!(
            parse(r#"{"id":1,"title":"A","text":"t"}"#)
                .unwrap_err()
                .to_string(),
            "`id` must be a string, not 1"
        );
        assert!(
            parse(r#"{"id":"a","title":"A","text":"t","acl":"finance"}"#)
                .unwrap_err()
                .to_string()
                .starts_with("`acl` must be a list")
        );
        assert!(
            parse("[1]")
                .unwrap_err()
                .to_string()
                .starts_with("a record must be an object")
        );
        let doc = from_json(
            serde_json::from_str(r#"{"id":"o 1","title":"A","text":"t"}"#).unwrap(),
            Some(&base()),
        )
        .unwrap();
        assert_eq!(doc.url, "https://docs.example.com/kb/o%201");
    }
}
