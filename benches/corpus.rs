//! Corpus benchmark: what users wait for with an index on disk (`MCP_INDEX_DIR`). A folder of
//! generated JSON Lines files (100 documents each) is indexed once; then the server restarts
//! and reuses the index, one file is edited and the index updated, one file is deleted, and, for
//! comparison, the whole index is rebuilt.
//!
//!     cargo bench --bench corpus                       # 100k and 1M documents
//!     cargo bench --bench corpus -- 100000             # chosen sizes
//!
//! Each step is timed through `corpus::Corpus`, as the server runs it; the edited document must
//! be found by its new word and the deleted file's documents must be gone, or the run stops.
//! Results go to standard output as a Markdown table (see docs/benchmarks.md).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use mcp_resource_server::corpus::{Access, Corpus, Folder, Source};

mod generated;
use generated::{Rng, document, sizes, vocabulary};

const PER_FILE: usize = 100;

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

/// Writes `size` documents as JSON Lines files under `root`, dated a minute ago (a corpus that
/// was there before the server started).
fn write_corpus(root: &Path, size: usize) {
    let words = vocabulary();
    let mut rng = Rng(0x51_7CC1_B727_220A ^ size as u64);
    let old = SystemTime::now() - Duration::from_secs(60);
    for f in 0..size.div_ceil(PER_FILE) {
        let path = root.join(format!("part-{:03}/file-{f:06}.jsonl", f / 1000));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for n in f * PER_FILE..((f + 1) * PER_FILE).min(size) {
            let d = document(&mut rng, &words, n);
            let mut line = serde_json::json!({
                "id": d.id, "title": d.title, "text": d.text, "url": d.url,
            });
            if !d.acl.is_empty() {
                line["acl"] = d.acl.into();
            }
            writeln!(out, "{line}").unwrap();
        }
        out.into_inner().unwrap().set_modified(old).unwrap();
    }
}

fn source(root: &Path, index: &Path) -> Source {
    Source {
        folder: Some(Folder {
            root: root.to_path_buf(),
            base_url: None,
        }),
        index_dir: Some(index.to_path_buf()),
        search_cache_bytes: 16 << 20,
    }
}

fn hits(corpus: &Corpus, query: &str) -> usize {
    let staff = Access::new(&["staff".into(), "finance".into()], &[]);
    corpus.search(query, &staff, 10).expect("search").len()
}

fn run(size: usize) {
    let base: PathBuf =
        std::env::temp_dir().join(format!("mcp-bench-corpus-{}-{size}", std::process::id()));
    let (root, index) = (base.join("corpus"), base.join("index"));
    let _ = std::fs::remove_dir_all(&base);
    write_corpus(&root, size);

    let t = Instant::now();
    let corpus = Corpus::open(source(&root, &index)).expect("build");
    let build = t.elapsed();
    assert_eq!(
        corpus.len(),
        size as u64,
        "skipped: {:?}",
        corpus.stats().skipped
    );
    drop(corpus);

    // A restart: open the folder again and answer a first search.
    let t = Instant::now();
    let corpus = Corpus::open(source(&root, &index)).expect("reuse");
    let reopened = t.elapsed();
    assert!(hits(&corpus, "chocolate order") > 0);
    let first_search = t.elapsed();

    // One file edited: its first document gains a word no other document has.
    let edited = root.join("part-000/file-000001.jsonl");
    let text = std::fs::read_to_string(&edited).unwrap();
    let changed = text.replacen("\"text\":\"", "\"text\":\"zeppelinword ", 1);
    std::fs::write(&edited, changed).unwrap();
    let t = Instant::now();
    corpus.refresh().expect("update").expect("a change");
    let update = t.elapsed();
    assert_eq!(hits(&corpus, "zeppelinword"), 1, "the edit is searchable");

    // One file deleted.
    std::fs::remove_file(root.join("part-000/file-000002.jsonl")).unwrap();
    let t = Instant::now();
    corpus.refresh().expect("update").expect("a change");
    let delete = t.elapsed();
    assert_eq!(
        corpus.len(),
        (size - PER_FILE) as u64,
        "its documents are gone"
    );

    // The same corpus rebuilt whole, as SIGHUP does.
    let t = Instant::now();
    corpus.reload().expect("rebuild");
    let rebuild = t.elapsed();
    drop(corpus);
    let _ = std::fs::remove_dir_all(&base);

    println!(
        "| {size} | {} | {} | {} | {} | {} | {} |",
        ms(build),
        ms(reopened),
        ms(first_search),
        ms(update),
        ms(delete),
        ms(rebuild),
    );
}

fn main() {
    let sizes = sizes(&[100_000, 1_000_000]);
    println!(
        "corpus benchmark: JSON Lines files of {PER_FILE} documents, index on disk; {} CPUs; times in ms",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    println!(
        "| documents | first build | restart: index reused | restart to first search | one file edited: update | one file deleted: update | whole rebuild (SIGHUP) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for size in sizes {
        run(size);
    }
}
