//! A bounded cache of recent search answers, kept with one generation of the index.
//!
//! An entry is the answer as sent, serialised, and the ids it lists (which the audit trail
//! records for every answer, cached or not).
//!
//! A search costs tens to hundreds of microseconds of ranking, snippet cutting and JSON
//! writing, while the same question tends to come again (a model retrying, several people
//! asking about the same thing). The cache holds the finished answer of a search, already
//! serialised, keyed by everything the answer depends on: the query as sent, the limit, the
//! form of the answer (with or without structured content), and every access term of the
//! caller. Two callers
//! share an entry only when they hold exactly the same terms, so an entry can never show a
//! document to someone the index would hide it from. It lives and dies with its index, so a
//! rebuilt corpus never answers from results of the old one.
//!
//! It is bounded by the bytes of the entries it holds (`MCP_SEARCH_CACHE_MIB`; 0 turns it off)
//! and evicts the least useful entries first.

use axum::body::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::access::Access;

/// What an entry is assumed to cost beyond its key, text and ids: the map's own records.
const ENTRY_OVERHEAD: usize = 128;
/// What each listed id is assumed to cost beyond its bytes.
const ID_OVERHEAD: usize = 24;

/// A search's answer: the serialised answer, and the ids it lists, best first.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub text: Bytes,
    pub ids: Arc<[String]>,
}

impl Rendered {
    /// The bytes the cache counts for this answer.
    fn weight(&self) -> usize {
        self.text.len()
            + self
                .ids
                .iter()
                .map(|id| id.len() + ID_OVERHEAD)
                .sum::<usize>()
    }
}

/// Counts of lookups, shown in `/metrics`.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

/// What a search is answered for: everything but the caller's terms.
#[derive(Debug, Clone, Copy)]
pub struct SearchKey<'a> {
    pub query: &'a str,
    pub limit: usize,
    /// Which form of answer is cached (e.g. with or without structured content).
    pub form: u8,
}

/// Search answers of one index generation.
pub(crate) struct Results {
    cache: Option<moka::sync::Cache<Vec<u8>, Rendered>>,
}

impl Results {
    /// A cache of at most `bytes`; `0` keeps nothing.
    pub(crate) fn new(bytes: u64) -> Self {
        let cache = (bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(bytes)
                .weigher(|key: &Vec<u8>, answer: &Rendered| {
                    let total = key.len() + answer.weight() + ENTRY_OVERHEAD;
                    u32::try_from(total).unwrap_or(u32::MAX)
                })
                .build()
        });
        Results { cache }
    }

    /// The cached answer to this search, if there is one (counted as a hit; a miss is counted
    /// by the [`Results::get_or_answer`] that answers it).
    pub(crate) fn cached(
        &self,
        search: SearchKey,
        access: &Access,
        stats: &CacheStats,
    ) -> Option<Rendered> {
        let found = self.cache.as_ref()?.get(&key(search, access))?;
        stats.hits.fetch_add(1, Ordering::Relaxed);
        Some(found)
    }

    /// The cached answer to this search, or the one `answer` makes (kept for next time when
    /// it succeeds).
    pub(crate) fn get_or_answer<E>(
        &self,
        search: SearchKey,
        access: &Access,
        stats: &CacheStats,
        answer: impl FnOnce() -> Result<Rendered, E>,
    ) -> Result<Rendered, E> {
        let Some(cache) = &self.cache else {
            return answer();
        };
        let key = key(search, access);
        if let Some(found) = cache.get(&key) {
            stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(found);
        }
        stats.misses.fetch_add(1, Ordering::Relaxed);
        let made = answer()?;
        cache.insert(key, made.clone());
        Ok(made)
    }

    /// Keeps the answer to a search that [`Results::cached`] did not find (counted as a miss),
    /// for an answer made without looking again.
    pub(crate) fn keep(
        &self,
        search: SearchKey,
        access: &Access,
        stats: &CacheStats,
        answer: &Rendered,
    ) {
        let Some(cache) = &self.cache else {
            return;
        };
        stats.misses.fetch_add(1, Ordering::Relaxed);
        cache.insert(key(search, access), answer.clone());
    }
}

/// The key of a search: each part preceded by its length, so no query, role or group name can
/// make two different searches share a key.
fn key(search: SearchKey, access: &Access) -> Vec<u8> {
    let terms = access.terms();
    let size = 17 + search.query.len() + terms.iter().map(|t| t.len() + 8).sum::<usize>();
    let mut key = Vec::with_capacity(size);
    key.push(search.form);
    key.extend_from_slice(&(search.limit as u64).to_le_bytes());
    let mut part = |bytes: &[u8]| {
        key.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        key.extend_from_slice(bytes);
    };
    part(search.query.as_bytes());
    for term in terms {
        part(term.as_bytes());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Access {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        Access::new(&names, &[])
    }

    fn text(text: &str) -> Rendered {
        Rendered {
            text: Bytes::from(text.to_owned()),
            ids: Arc::new([]),
        }
    }

    fn search(query: &str, limit: usize) -> SearchKey<'_> {
        SearchKey {
            query,
            limit,
            form: 0,
        }
    }

    #[test]
    fn a_repeated_search_is_answered_from_the_cache() {
        let results = Results::new(1 << 20);
        let stats = CacheStats::default();
        let mut runs = 0;
        for _ in 0..3 {
            let answer = results
                .get_or_answer(search("cake", 10), &Access::public(), &stats, || {
                    runs += 1;
                    Ok::<_, ()>(text("a"))
                })
                .unwrap();
            assert_eq!(&answer.text[..], b"a");
        }
        assert_eq!(runs, 1);
        assert_eq!(stats.hits.load(Ordering::Relaxed), 2);
        assert_eq!(stats.misses.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn callers_with_other_terms_limits_or_forms_never_share_an_entry() {
        let results = Results::new(1 << 20);
        let stats = CacheStats::default();
        let ask = |s: SearchKey, access: &Access, made: &str| {
            let answer = results
                .get_or_answer(s, access, &stats, || Ok::<_, ()>(text(made)))
                .unwrap();
            String::from_utf8(answer.text.to_vec()).unwrap()
        };
        let finance = roles(&["finance"]);
        assert_eq!(ask(search("invoice", 10), &finance, "secret"), "secret");
        assert_eq!(
            ask(search("invoice", 10), &Access::public(), "public"),
            "public"
        );
        assert_eq!(
            ask(
                search("invoice", 10),
                &roles(&["finance", "support"]),
                "both"
            ),
            "both"
        );
        assert_eq!(ask(search("invoice", 5), &finance, "five"), "five");
        let other_form = SearchKey {
            form: 1,
            ..search("invoice", 10)
        };
        assert_eq!(ask(other_form, &finance, "form"), "form");
        assert_eq!(ask(search("invoice", 10), &finance, "again"), "secret");
    }

    #[test]
    fn names_cannot_be_shaped_to_collide() {
        // Without length prefixes these two would join to the same bytes.
        let one = key(search("a", 10), &roles(&["x\u{0}role:y"]));
        let two = key(search("a", 10), &roles(&["x", "y"]));
        assert_ne!(one, two);
        assert_ne!(
            key(search("ab", 1), &Access::public()),
            key(search("a", 1), &Access::public())
        );
    }

    #[test]
    fn failures_are_not_cached() {
        let results = Results::new(1 << 20);
        let stats = CacheStats::default();
        let failed =
            results.get_or_answer(search("q", 10), &Access::public(), &stats, || Err("broken"));
        assert!(failed.is_err());
        let answer = results
            .get_or_answer(search("q", 10), &Access::public(), &stats, || {
                Ok::<_, &str>(text("b"))
            })
            .unwrap();
        assert_eq!(&answer.text[..], b"b");
    }

    #[test]
    fn a_zero_size_cache_keeps_nothing() {
        let results = Results::new(0);
        let stats = CacheStats::default();
        let mut runs = 0;
        for _ in 0..2 {
            results
                .get_or_answer(search("cake", 10), &Access::public(), &stats, || {
                    runs += 1;
                    Ok::<_, ()>(text("a"))
                })
                .unwrap();
        }
        assert_eq!(runs, 2);
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let results = Results::new(64 << 10);
        let stats = CacheStats::default();
        for n in 0..2_000 {
            let q = format!("query {n}");
            results
                .get_or_answer(search(&q, 10), &Access::public(), &stats, || {
                    // Half of each answer's bytes are in the ids it lists.
                    Ok::<_, ()>(Rendered {
                        ids: (0..10).map(|i| format!("{i:0>50}")).collect(),
                        ..text(&"x".repeat(500))
                    })
                })
                .unwrap();
        }
        let cache = results.cache.as_ref().unwrap();
        cache.run_pending_tasks();
        assert!(
            cache.weighted_size() <= 64 << 10,
            "{}",
            cache.weighted_size()
        );
        assert!(cache.entry_count() > 0);
    }
}
