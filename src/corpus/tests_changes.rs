//! An index that outlives the server and follows its folder file by file: reuse at start-up,
//! updates of changed files, and the cases where only a full rebuild is right.

use std::path::{Path, PathBuf};

use super::tests::{Temp, every_format, ids, indexes, source};
use super::*;

/// Files written more than the racy window ago, so the manifest trusts their times.
fn settle(t: &Temp) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    for entry in walk(&t.0) {
        let file = std::fs::File::options().write(true).open(&entry).unwrap();
        file.set_modified(old).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("index")
        {
            continue;
        }
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn everyone() -> Access {
    Access::new(&["finance".into(), "support".into()], &["/board".into()])
}

/// Every id the corpus answers `query` with, in order.
fn answer(corpus: &Corpus, query: &str) -> Vec<String> {
    corpus
        .search(query, &everyone(), 50)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[test]
fn a_restart_reuses_the_index_when_no_file_changed() {
    let t = every_format();
    settle(&t);
    let dir = t.index();
    let first = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    let made = indexes(&dir);
    let before = answer(&first, "cupcakes");
    drop(first);
    assert_eq!(
        indexes(&dir),
        made,
        "the index stays on disk when the server stops"
    );
    let second = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    assert_eq!(indexes(&dir), made, "and is used again, not rebuilt");
    assert_eq!(second.len(), 7);
    assert_eq!(answer(&second, "cupcakes"), before);
    assert_eq!(second.stats().skipped.load(Ordering::Relaxed), 0);
}

#[test]
fn a_restart_reads_again_only_what_changed_while_it_was_stopped() {
    let t = every_format();
    settle(&t);
    let dir = t.index();
    drop(Corpus::open(source(&t.0, Some(dir.clone()))).unwrap());
    let made = indexes(&dir);
    t.write("notes/oven.txt", "The oven needs a new thermostat.\n");
    std::fs::remove_file(t.0.join("single.json")).unwrap();
    t.write("new/bread.md", "# Sourdough\n\nFeed the starter daily.\n");
    let corpus = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    assert_eq!(indexes(&dir), made, "updated in place");
    assert_eq!(corpus.len(), 7);
    assert_eq!(answer(&corpus, "thermostat"), ["notes/oven.txt"]);
    assert!(answer(&corpus, "descaling").is_empty());
    assert!(corpus.get("faq-1", &everyone()).unwrap().is_none());
    assert_eq!(answer(&corpus, "starter"), ["new/bread.md"]);
}

#[test]
fn an_index_that_does_not_fit_is_rebuilt_and_a_half_written_one_is_never_used() {
    let t = every_format();
    let dir = t.index();
    drop(Corpus::open(source(&t.0, Some(dir.clone()))).unwrap());
    let made = indexes(&dir);
    let manifest_path = dir.join(&made[0]).join("manifest.json");

    // Another format: rebuilt.
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let ours = format!("\"format\":{}", super::manifest::FORMAT);
    assert!(text.contains(&ours), "{text}");
    let other = format!("\"format\":{}", super::manifest::FORMAT + 1);
    std::fs::write(&manifest_path, text.replace(&ours, &other)).unwrap();
    let corpus = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    let rebuilt = indexes(&dir);
    assert_eq!(rebuilt.len(), 1);
    assert_ne!(rebuilt, made);
    assert_eq!(corpus.len(), 7);
    drop(corpus);

    // Another base url: rebuilt (urls depend on it).
    let mut other = source(&t.0, Some(dir.clone()));
    other.folder.as_mut().unwrap().base_url = Some("https://elsewhere.example/".parse().unwrap());
    let corpus = Corpus::open(other).unwrap();
    assert_ne!(indexes(&dir), rebuilt);
    assert_eq!(
        corpus.get("inv-2", &everyone()).unwrap().unwrap().url,
        "https://elsewhere.example/inv-2"
    );
    drop(corpus);

    // A crash while writing a new index: a folder of this server's that `current` does not
    // name. Removed, not used.
    let in_use = indexes(&dir);
    let marked = dir.join(&in_use[0]).join(index::store::MARKER);
    std::fs::create_dir_all(dir.join("index-1")).unwrap();
    std::fs::copy(marked, dir.join("index-1").join(index::store::MARKER)).unwrap();
    std::fs::write(dir.join("index-1/meta.json"), "{").unwrap();
    let corpus = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    assert_eq!(corpus.len(), 7);
    assert!(!indexes(&dir).contains(&"index-1".to_owned()));
    drop(corpus);

    // A manifest that cannot be read, or one behind its index: rebuilt.
    let current = dir.join(&indexes(&dir)[0]);
    std::fs::write(current.join("manifest.json"), "{\"format\":").unwrap();
    let corpus = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    assert_eq!(corpus.len(), 7);
    assert_ne!(indexes(&dir), in_use);
}

#[test]
fn an_update_committed_but_not_recorded_is_never_trusted() {
    let t = every_format();
    settle(&t);
    let dir = t.index();
    drop(Corpus::open(source(&t.0, Some(dir.clone()))).unwrap());
    let made = indexes(&dir);
    let manifest_path = dir.join(&made[0]).join("manifest.json");
    let mut manifest: Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest.opstamp += 1;
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let corpus = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    assert_ne!(indexes(&dir), made, "rebuilt");
    assert_eq!(corpus.len(), 7);
}

#[test]
fn two_servers_cannot_share_an_index_folder() {
    let t = every_format();
    let dir = t.index();
    let first = Corpus::open(source(&t.0, Some(dir.clone()))).unwrap();
    let err = Corpus::open(source(&t.0, Some(dir.clone())))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("MCP_INDEX_DIR") && err.contains("its own"),
        "{err}"
    );
    drop(first);
    assert!(Corpus::open(source(&t.0, Some(dir))).is_ok());
}

#[test]
fn a_changed_file_is_read_again_and_a_removed_one_forgotten() {
    for on_disk in [false, true] {
        let t = every_format();
        settle(&t);
        let dir = on_disk.then(|| t.index());
        let corpus = Corpus::open(source(&t.0, dir.clone())).unwrap();
        assert_eq!(
            corpus.refresh().unwrap().map(|r| r.documents),
            None,
            "nothing changed"
        );
        let served = corpus.current();
        assert_eq!(answer(&corpus, "descaling"), ["notes/oven.txt"]);

        t.write("notes/oven.txt", "The oven needs a new thermostat.\n");
        std::fs::remove_file(t.0.join("many.json")).unwrap();
        let report = corpus.refresh().unwrap().expect("updated");
        assert_eq!(report.documents, 5);
        assert_eq!(corpus.len(), 5);
        assert!(
            answer(&corpus, "descaling").is_empty(),
            "a new result cache"
        );
        assert_eq!(answer(&corpus, "thermostat"), ["notes/oven.txt"]);
        assert!(corpus.get("inv-1", &everyone()).unwrap().is_none());
        // The generation in use before still answers as it did.
        assert_eq!(
            ids(&served.index.search("descaling", &everyone(), 5).unwrap()),
            ["notes/oven.txt"]
        );
        if let Some(dir) = &dir {
            assert_eq!(indexes(dir).len(), 1, "updated in place");
        }
        // The same answers as an index built from scratch.
        let fresh = Corpus::open(source(&t.0, None)).unwrap();
        for q in [
            "cupcakes",
            "oven",
            "refund order",
            "\"new thermostat\"",
            "nuts -courier",
        ] {
            assert_eq!(answer(&corpus, q), answer(&fresh, q), "{q}");
        }
    }
}

#[test]
fn ids_shared_by_files_make_a_full_rebuild_with_the_full_loads_winner() {
    let t = every_format();
    settle(&t);
    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    // A new file that reuses an id of a file that did not change.
    t.write(
        "a-first.json",
        r#"{"id": "faq-1", "title": "Shadow", "text": "Shadowing record."}"#,
    );
    corpus.refresh().unwrap().expect("rebuilt");
    // "a-first.json" sorts before "single.json", so a full load keeps its record.
    let faq = corpus.get("faq-1", &everyone()).unwrap().unwrap();
    assert_eq!(faq.title, "Shadow");
    assert_eq!(corpus.stats().skipped.load(Ordering::Relaxed), 1);
    // Removing it gives the other file's record back, which only a rebuild knows.
    std::fs::remove_file(t.0.join("a-first.json")).unwrap();
    corpus.refresh().unwrap().expect("rebuilt");
    let faq = corpus.get("faq-1", &everyone()).unwrap().unwrap();
    assert_eq!(faq.title, "Do you deliver?");
    assert_eq!(corpus.stats().skipped.load(Ordering::Relaxed), 0);
}

#[test]
fn a_file_changed_within_a_tick_of_being_listed_is_read_again() {
    let t = every_format();
    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    // Same size, and (on a coarse clock) the same modification time as when it was listed.
    let path = t.0.join("notes/oven.txt");
    let time = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(
        &path,
        &b"The convection oven needs polishing every month.\n"[..49],
    )
    .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(time)
        .unwrap();
    corpus.refresh().unwrap().expect("read again");
    assert_eq!(answer(&corpus, "polishing"), ["notes/oven.txt"]);
}
