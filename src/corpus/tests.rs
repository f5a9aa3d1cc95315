//! The corpus end to end, below HTTP: loading each file format, skipping bad files, ranking,
//! snippets, access control in search and fetch, the on-disk index and rebuilds.

use std::path::{Path, PathBuf};

use url::Url;

use super::*;

/// A temporary folder removed on drop.
pub(super) struct Temp(pub(super) PathBuf);

impl Temp {
    pub(super) fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mcp-corpus-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Temp(path)
    }

    /// A folder for the index, beside the corpus folder (never inside it), removed with it.
    pub(super) fn index(&self) -> PathBuf {
        let mut name = self.0.file_name().unwrap().to_owned();
        name.push("-index");
        self.0.with_file_name(name)
    }

    pub(super) fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_dir_all(self.index());
    }
}

pub(super) fn source(root: &Path, index_dir: Option<PathBuf>) -> Source {
    Source {
        folder: Some(Folder {
            root: root.to_path_buf(),
            base_url: Some(Url::parse("https://kb.example.com/docs/").unwrap()),
        }),
        index_dir,
        search_cache_bytes: 1 << 20,
    }
}

/// The names of the index folders under `dir`.
pub(super) fn indexes(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("index-"))
        .collect();
    names.sort();
    names
}

pub(super) fn ids(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.id.as_str()).collect()
}

fn roles(names: &[&str]) -> Access {
    Access::new(
        &names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        &[],
    )
}

/// A folder with one file of each format.
pub(super) fn every_format() -> Temp {
    let t = Temp::new("formats");
    t.write(
        "policies/refunds.md",
        "---\nurl: https://wiki.example.com/refunds\nowner: Dana\n---\n# Refund policy\n\nRefunds are paid within 30 days of a cancelled order.\n",
    );
    t.write(
        "notes/oven.txt",
        "The convection oven needs descaling every month.\n",
    );
    t.write(
        "single.json",
        r#"{"id": "faq-1", "title": "Do you deliver?", "text": "We deliver cupcakes within 10 km.", "url": "https://shop.example.com/faq/1", "metadata": {"kind": "faq"}}"#,
    );
    t.write(
        "many.json",
        r#"[{"id": "inv-1", "title": "Invoice for flour", "text": "Flour from Millstone.", "acl": ["finance"]},
            {"id": "inv-2", "title": "Invoice for butter", "text": "Butter from Meadow Dairy.", "acl": ["role:finance", "group:/board"]}]"#,
    );
    t.write(
        "tickets.jsonl",
        "{\"id\": \"t-1\", \"title\": \"Squashed cupcakes\", \"text\": \"The courier dropped the box.\", \"acl\": [\"support\"]}\n\n{\"id\": \"t-2\", \"title\": \"Allergy question\", \"text\": \"Do the cupcakes contain nuts?\"}\n",
    );
    t
}

#[test]
fn every_format_is_loaded_with_ids_titles_and_urls() {
    let t = every_format();
    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    assert_eq!(corpus.len(), 7);
    let all = Access::new(&["finance".into(), "support".into()], &["/board".into()]);
    let md = corpus.get("policies/refunds.md", &all).unwrap().unwrap();
    assert_eq!(md.title, "Refund policy");
    assert_eq!(md.url, "https://wiki.example.com/refunds");
    assert_eq!(md.metadata.unwrap()["owner"], "Dana");
    let txt = corpus.get("notes/oven.txt", &all).unwrap().unwrap();
    assert_eq!(txt.title, "oven");
    assert_eq!(txt.url, "https://kb.example.com/docs/notes/oven.txt");
    let json = corpus.get("faq-1", &all).unwrap().unwrap();
    assert_eq!(json.metadata.unwrap()["kind"], "faq");
    assert_eq!(json.url, "https://shop.example.com/faq/1");
    let from_array = corpus.get("inv-2", &all).unwrap().unwrap();
    assert_eq!(from_array.url, "https://kb.example.com/docs/inv-2");
    assert_eq!(
        corpus.get("t-2", &all).unwrap().unwrap().title,
        "Allergy question"
    );
}

#[test]
fn bad_files_and_records_are_reported_with_their_path_and_skipped() {
    let t = every_format();
    t.write("broken.json", "{\"id\": \"x\", ");
    t.write("wrong-shape.json", "42");
    t.write("bad-lines.jsonl", "{\"id\": \"ok-line\", \"title\": \"Fine\", \"text\": \"fine\"}\nnot json\n{\"id\": \"no-title\", \"text\": \"t\"}\n");
    t.write("binary.txt", [0xff, 0xfe, 0x00, 0x41]);
    t.write(
        "typo.json",
        r#"{"id": "typo", "title": "T", "text": "t", "acls": ["finance"]}"#,
    );
    t.write(
        "dup.json",
        r#"{"id": "faq-1", "title": "Again", "text": "duplicate"}"#,
    );
    t.write("unclosed.md", "---\nurl: https://x.example.com\n# Title\n");
    t.write(".hidden/secret.md", "# Hidden\n");
    t.write("image.png", "not a document");
    let mut kept = Vec::new();
    let folder = source(&t.0, None).folder.unwrap();
    let report = loader::load(&folder, &mut |_: &str, d: Document| {
        kept.push(d.id);
        Ok::<(), ()>(())
    })
    .unwrap();
    let problems: Vec<(&str, &str)> = report
        .first_problems
        .iter()
        .map(|p| (p.path.as_str(), p.reason.as_str()))
        .collect();
    let paths: Vec<&str> = problems.iter().map(|p| p.0).collect();
    assert_eq!(
        paths,
        [
            "bad-lines.jsonl:2",
            "bad-lines.jsonl:3",
            "binary.txt",
            "broken.json",
            "single.json",
            "typo.json",
            "unclosed.md",
            "wrong-shape.json",
        ],
        "{problems:#?}"
    );
    assert_eq!(report.problems, 8);
    assert!(
        problems[1].1.contains("missing field `title`"),
        "{problems:?}"
    );
    assert!(problems[4].1.contains("already used"), "{problems:?}");
    assert!(
        problems[5].1.contains("unknown field `acls`"),
        "{problems:?}"
    );
    assert!(kept.contains(&"ok-line".to_string()));
    assert!(
        !kept
            .iter()
            .any(|id| id.contains("secret") || id.contains("image"))
    );
    assert_eq!(report.documents, 8, "{kept:?}");
}

#[test]
fn search_stems_ranks_titles_first_and_honours_phrases_and_limits() {
    let corpus = Corpus::sample();
    let everyone = Access::public();
    let hits = corpus.search("chocolate orders", &everyone, 5).unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits[0].id.starts_with("order-"), "{:?}", ids(&hits));
    assert!(hits[0].title.to_lowercase().contains("chocolate"));
    let stemmed = corpus.search("squashing", &roles(&["support"]), 5).unwrap();
    assert!(
        ids(&stemmed).contains(&"ticket-2001"),
        "{:?}",
        ids(&stemmed)
    );
    let phrase = corpus.search("\"salted caramel\"", &everyone, 50).unwrap();
    assert!(!phrase.is_empty());
    for h in &phrase {
        let doc = corpus.get(&h.id, &everyone).unwrap().unwrap();
        let all = format!("{} {}", doc.title, doc.text).to_lowercase();
        assert!(all.contains("salted caramel"), "{}", h.id);
    }
    assert!(corpus.search("zeppelin", &everyone, 5).unwrap().is_empty());
}

#[test]
fn snippets_bold_the_matched_words() {
    let corpus = Corpus::sample();
    let hits = corpus.search("squashed", &roles(&["support"]), 3).unwrap();
    let hit = &hits[0];
    assert!(hit.snippet.contains("**squashed**"), "{}", hit.snippet);
    assert!(hit.snippet.chars().count() <= 200, "{}", hit.snippet);
}

#[test]
fn documents_with_an_acl_are_hidden_from_search_and_fetch_without_a_matching_role() {
    let corpus = Corpus::sample();
    let public = corpus.search("invoice", &Access::public(), 50).unwrap();
    assert!(
        public.iter().all(|h| !h.id.starts_with("invoice-")),
        "{:?}",
        ids(&public)
    );
    assert_eq!(corpus.get("invoice-3001", &Access::public()).unwrap(), None);
    assert_eq!(
        corpus.get("invoice-3001", &roles(&["support"])).unwrap(),
        None
    );
    let finance = corpus.search("invoice", &roles(&["finance"]), 50).unwrap();
    assert!(finance.iter().any(|h| h.id.starts_with("invoice-")));
    assert!(
        corpus
            .get("invoice-3001", &roles(&["finance"]))
            .unwrap()
            .is_some()
    );
}

#[test]
fn group_entries_match_the_groups_claim() {
    let t = every_format();
    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    let board = Access::new(&[], &["/board".into()]);
    assert!(corpus.get("inv-2", &board).unwrap().is_some());
    assert_eq!(corpus.get("inv-1", &board).unwrap(), None);
    assert_eq!(
        ids(&corpus.search("invoice", &board, 10).unwrap()),
        ["inv-2"]
    );
}

#[test]
fn a_reload_picks_up_changes_and_a_failed_one_keeps_the_old_index() {
    let t = every_format();
    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    let cached_ids = || {
        let search = super::results::SearchKey {
            query: "sourdough",
            limit: 5,
            form: 0,
        };
        let answer = corpus.search_answer(search, &Access::public(), |found| {
            ids(&found.hits).join(",")
        });
        String::from_utf8(answer.unwrap().text.to_vec()).unwrap()
    };
    assert_eq!(cached_ids(), "");
    assert_eq!(cached_ids(), "");
    // The second search came from the result cache; the reload must not answer from it.
    assert_eq!(corpus.stats().cache.hits.load(Ordering::Relaxed), 1);
    t.write(
        "new/sourdough.md",
        "# Sourdough starter\n\nFeed it daily.\n",
    );
    std::fs::remove_file(t.0.join("notes/oven.txt")).unwrap();
    let report = corpus.reload().unwrap();
    assert_eq!(report.documents, 7);
    assert_eq!(cached_ids(), "new/sourdough.md");
    assert_eq!(
        corpus.get("notes/oven.txt", &Access::public()).unwrap(),
        None
    );

    let moved = t.0.with_extension("moved");
    std::fs::rename(&t.0, &moved).unwrap();
    let err = corpus.reload().unwrap_err().to_string();
    std::fs::rename(&moved, &t.0).unwrap();
    assert!(err.starts_with("MCP_CORPUS: "), "{err}");
    assert_eq!(corpus.len(), 7, "the old index still serves");
    assert_eq!(corpus.stats().reloads_failed.load(Ordering::Relaxed), 1);
}

#[test]
fn an_on_disk_index_lives_in_the_index_dir_and_old_generations_are_removed() {
    let t = every_format();
    let index_dir = t.index();
    let corpus = Corpus::open(source(&t.0, Some(index_dir.clone()))).unwrap();
    let generations = || indexes(&index_dir);
    let first = generations();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(corpus.len(), 7);
    corpus.reload().unwrap();
    let second = generations();
    assert_eq!(
        second.len(),
        1,
        "the replaced generation is removed: {second:?}"
    );
    assert_ne!(first, second);
    assert_eq!(
        ids(&corpus.search("descaling", &Access::public(), 5).unwrap()),
        ["notes/oven.txt"]
    );
}

#[test]
fn the_sample_has_hundreds_of_unique_records_with_absolute_urls() {
    let records: Vec<serde_json::Value> = serde_json::from_str(SAMPLE).unwrap();
    let unique: std::collections::HashSet<&str> =
        records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(records.len() >= 300, "{}", records.len());
    assert_eq!(unique.len(), records.len(), "ids are unique");
    assert!(
        records
            .iter()
            .all(|r| r["url"].as_str().unwrap().starts_with("https://"))
    );
    assert_eq!(Corpus::sample().len(), records.len() as u64);
}

#[test]
fn a_caller_who_may_see_few_of_many_matches_still_gets_every_visible_one() {
    let t = Temp::new("few-visible");
    let hidden: Vec<String> = (0..80)
        .map(|n| format!(r#"{{"id": "h{n}", "title": "Budget {n}", "text": "budget budget budget line {n}", "acl": ["finance"]}}"#))
        .collect();
    t.write("hidden.jsonl", hidden.join("\n"));
    t.write(
        "open.json",
        r#"[{"id": "p1", "title": "Canteen", "text": "the canteen budget is small"},
            {"id": "p2", "title": "Garden", "text": "a budget for plants"}]"#,
    );
    let corpus = Corpus::open(source(&t.0, None)).unwrap();
    let mut public = ids(&corpus.search("budget", &Access::public(), 5).unwrap())
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    public.sort();
    assert_eq!(public, ["p1", "p2"]);
    let finance = corpus.search("budget", &roles(&["finance"]), 5).unwrap();
    assert_eq!(finance.len(), 5);
    assert!(
        finance.iter().all(|h| h.id.starts_with('h')),
        "{:?}",
        ids(&finance)
    );
}

#[test]
fn query_syntax_cannot_reach_hidden_documents_or_fail_the_search() {
    let corpus = Corpus::sample();
    for q in [
        "access:role:finance",
        "id:invoice-3001",
        "title:invoice",
        "invoice AND supplier",
        "text:[a TO z]",
        "title:/.*/",
        "*",
        "\"unclosed phrase",
        "((((",
        "invoice^100",
        "-cupcake",
        "Ünïcödé 🧁 cupcakes",
    ] {
        let hits = corpus
            .search(q, &Access::public(), 50)
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        assert!(
            hits.iter()
                .all(|h| !h.id.starts_with("invoice-") && !h.id.starts_with("sales-")),
            "{q}: {:?}",
            ids(&hits)
        );
    }
}

#[test]
fn a_range_written_as_a_query_is_searched_as_its_words() {
    let corpus = Corpus::sample();
    let everyone = roles(&["support", "finance"]);
    let search = |q: &str| corpus.search(q, &everyone, 50).unwrap();
    // Read as a range, `title:>aardvark` would match nearly every document; as a word, none.
    assert!(search("title:>aardvark").is_empty(), "the range ran");
    assert_eq!(
        ids(&search("title:{aardvark TO *}")),
        ids(&search("title:aardvark TO"))
    );
    assert_eq!(
        ids(&search("title:IN [aardvark zebu]")),
        ids(&search("title:IN aardvark zebu"))
    );
    assert_eq!(ids(&search("title:>refund")), ids(&search("title:refund")));
}
