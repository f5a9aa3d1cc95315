//! Search benchmark: builds indexes of generated documents and reports index build time, memory,
//! and search latency (p50/p99) through the same code `search` and `fetch` use, with the
//! per-caller access filter on.
//!
//!     cargo bench --bench search                       # 1k, 100k and 1M documents
//!     cargo bench --bench search -- 1000 100000        # chosen sizes
//!
//! Indexes up to 100k documents are built in memory, larger ones on disk (as with
//! `MCP_INDEX_DIR`), under the system temporary folder. Documents are made of words drawn from a
//! skewed vocabulary so that common and rare words behave as in real text; one in ten carries an
//! `acl`. Results go to standard output as a Markdown table (see docs/benchmarks.md).

use std::time::{Duration, Instant};

use mcp_resource_server::corpus::Access;
use mcp_resource_server::corpus::index::{Builder, Index};

mod generated;
use generated::{Rng, document, sizes, vocabulary};

const WARM_UP: usize = 200;
const QUERIES: usize = 3000;
const ON_DISK_FROM: usize = 200_000;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Kinds of query, with how many in ten queries are of that kind.
const KINDS: [(&str, usize); 4] = [
    ("one word", 3),
    ("two words", 3),
    ("three words", 3),
    ("quoted phrase", 1),
];

/// The kind of the `i`th query.
fn kind(i: usize) -> usize {
    match i % 10 {
        0..=2 => 0,
        3..=5 => 1,
        6..=8 => 2,
        _ => 3,
    }
}

fn queries(rng: &mut Rng, words: &[String]) -> Vec<String> {
    (0..WARM_UP + QUERIES)
        .map(|i| {
            let mut w = || words[rng.skewed(words.len())].clone();
            match kind(i) {
                0 => w(),
                1 => format!("{} {}", w(), w()),
                2 => format!("{} {} {}", w(), w(), w()),
                _ => format!("\"{} {}\"", w(), w()),
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(size: usize, words: &[String]) {
    let folder = (size >= ON_DISK_FROM).then(|| {
        std::env::temp_dir().join(format!("mcp-bench-index-{}-{size}", std::process::id()))
    });
    let before = rss_kib("VmRSS:");
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ size as u64);
    let mut builder = Builder::new(folder.as_deref()).expect("index builder");
    for n in 0..size {
        builder
            .add_in("", &document(&mut rng, words, n))
            .expect("add");
    }
    let index: Index = builder.finish().expect("finish");
    let build = started.elapsed();
    let after = rss_kib("VmRSS:");

    let access = Access::new(&["staff".into()], &[]);
    let qs = queries(&mut rng, words);
    let mut hits = 0usize;
    let mut partial = 0usize;
    let mut times: Vec<(Duration, usize)> = Vec::with_capacity(QUERIES);
    for (i, q) in qs.iter().enumerate() {
        let t = Instant::now();
        let found = index.find(q, &access, 10).expect("search");
        hits += found.hits.len();
        if i >= WARM_UP && found.partial {
            partial += 1;
        }
        if i >= WARM_UP {
            times.push((t.elapsed(), kind(i)));
        }
    }
    let by_kind: Vec<String> = KINDS
        .iter()
        .enumerate()
        .map(|(k, (name, _))| {
            let mut d: Vec<Duration> = times.iter().filter(|t| t.1 == k).map(|t| t.0).collect();
            d.sort();
            format!(
                "{name} {:.2}/{:.2}",
                ms(percentile(&d, 0.5)),
                ms(percentile(&d, 0.99))
            )
        })
        .collect();
    let mut times: Vec<Duration> = times.into_iter().map(|t| t.0).collect();
    let fetch_started = Instant::now();
    for n in (0..size).step_by((size / 1000).max(1)).take(1000) {
        let _ = index.get(&format!("doc-{n}"), &access).expect("fetch");
    }
    let fetch = fetch_started.elapsed() / 1000.min(size as u32);
    times.sort();
    println!(
        "| {size} | {} | {:.1} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {partial} | {} |",
        if folder.is_some() { "disk" } else { "memory" },
        build.as_secs_f64(),
        after.saturating_sub(before) / 1024,
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap()),
        ms(fetch),
        hits as f64 / (qs.len() as f64),
        by_kind.join(", "),
    );
    drop(index);
}

fn main() {
    let sizes = sizes(&[1_000, 100_000, 1_000_000]);
    let words = vocabulary();
    let mix: Vec<String> = KINDS
        .iter()
        .map(|(n, tenths)| format!("{}0% {n}", tenths))
        .collect();
    println!(
        "search benchmark: {QUERIES} queries per size after {WARM_UP} warm-up ({}), limit 10, caller sees 90% of documents; {} CPUs",
        mix.join(", "),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    println!(
        "| documents | index | build s | RSS growth MiB | search p50 ms | search p99 ms | search max ms | fetch mean ms | hits/query | partial answers | p50/p99 ms by query kind |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for size in sizes {
        run(size, &words);
    }
    println!();
    println!(
        "peak RSS of the whole run: {} MiB",
        rss_kib("VmHWM:") / 1024
    );
}
