//! The documentation holds together: every link between docs resolves, every doc a text names is
//! a link to it, and the index lists every doc.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every Markdown file under docs/, with their text.
fn documents() -> Vec<(PathBuf, String)> {
    let mut files = vec![repo().join("README.md")];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    text.split("\n```")
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, part)| part)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The targets of the Markdown links `[text](target)` in `text`.
fn links(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

fn shown(path: &Path) -> String {
    path.strip_prefix(repo()).unwrap().display().to_string()
}

#[test]
fn every_link_between_docs_resolves() {
    let mut checked = 0;
    for (path, text) in documents() {
        for target in links(&prose(&text)) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap();
            let resolved = path.parent().unwrap().join(file);
            assert!(
                resolved.exists(),
                "{}: the link to {target} leads nowhere",
                shown(&path)
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
}

#[test]
fn every_doc_a_text_names_is_a_link_to_it() {
    for (path, text) in documents() {
        let text = prose(&text);
        for (at, _) in text.match_indices("docs/") {
            let name: String = text[at + 5..]
                .chars()
                .take_while(|c| {
                    c.is_ascii_lowercase() || *c == '-' || *c == '.' || c.is_ascii_uppercase()
                })
                .collect();
            let Some(stem) = name.strip_suffix(".md") else {
                continue;
            };
            if !repo().join("docs").join(format!("{stem}.md")).exists() {
                continue;
            }
            // A link's text `[docs/x.md](…)` or its target `](docs/x.md)`.
            let before = &text[..at];
            let after = &text[at + 5 + name.len()..];
            let linked = (before.ends_with('[') && after.starts_with("]("))
                || before.ends_with("](")
                || before.ends_with("](../");
            // A path inside an inline code span (a command) is not a mention.
            let in_code = before.matches('`').count() % 2 == 1 && !after.starts_with('`');
            assert!(
                linked || in_code,
                "{} names docs/{name} without linking it",
                shown(&path)
            );
        }
    }
}

#[test]
fn the_index_lists_every_doc() {
    let index = std::fs::read_to_string(repo().join("docs/README.md")).unwrap();
    let listed = links(&index);
    for (path, _) in documents() {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.parent() == Some(&repo().join("docs")) && name != "README.md" {
            assert!(
                listed.contains(&name),
                "docs/README.md does not list {name}"
            );
        }
    }
}
