//! The documents `search` and `fetch` serve: for now the sample corpus compiled into the binary
//! (a bakery's orders, recipes, tickets and policies), searched by term frequency with title
//! matches weighted higher. Results are ordered by score, then by id, so they are deterministic.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// One document.
#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub text: String,
    pub url: String,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
}

/// A search hit.
#[derive(Debug, Clone)]
pub struct Hit<'a> {
    pub document: &'a Document,
    pub score: u32,
}

/// An in-memory set of documents with a term index.
#[derive(Debug)]
pub struct Corpus {
    documents: Vec<Document>,
    by_id: HashMap<String, usize>,
    /// Per document: term -> weighted count (title terms count three times).
    terms: Vec<HashMap<String, u32>>,
}

const TITLE_WEIGHT: u32 = 3;

impl Corpus {
    /// The sample corpus built into the binary.
    pub fn sample() -> Self {
        let documents: Vec<Document> = serde_json::from_str(include_str!("sample.json"))
            .expect("the built-in sample corpus is valid JSON");
        Self::new(documents)
    }

    pub fn new(documents: Vec<Document>) -> Self {
        let by_id = documents
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        let terms = documents
            .iter()
            .map(|d| {
                let mut counts = HashMap::new();
                for t in tokens(&d.title) {
                    *counts.entry(t).or_default() += TITLE_WEIGHT;
                }
                for t in tokens(&d.text) {
                    *counts.entry(t).or_default() += 1;
                }
                counts
            })
            .collect();
        Corpus {
            documents,
            by_id,
            terms,
        }
    }

    pub fn len(&self) -> usize {
        self.documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Document> {
        self.by_id.get(id).map(|i| &self.documents[*i])
    }

    /// The best `limit` documents matching any term of `query`.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit<'_>> {
        let wanted: Vec<String> = tokens(query).collect();
        let mut hits: Vec<Hit> = self
            .terms
            .iter()
            .enumerate()
            .filter_map(|(i, counts)| {
                let score: u32 = wanted.iter().filter_map(|t| counts.get(t)).sum();
                (score > 0).then(|| Hit {
                    document: &self.documents[i],
                    score,
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then_with(|| a.document.id.cmp(&b.document.id))
        });
        hits.truncate(limit);
        hits
    }
}

/// Lower-case alphanumeric words, with a trailing plural `s` removed from longer words so that
/// "orders" finds "order".
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            match w.strip_suffix('s') {
                Some(stem) if stem.len() > 3 && !stem.ends_with('s') => stem.to_owned(),
                _ => w,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_has_unique_ids_and_absolute_urls() {
        let corpus = Corpus::sample();
        assert!(corpus.len() >= 10);
        assert_eq!(corpus.by_id.len(), corpus.len(), "ids are unique");
        for d in &corpus.documents {
            assert!(d.url.starts_with("https://"), "{}", d.id);
        }
    }

    #[test]
    fn title_matches_rank_above_text_matches_and_plurals_match() {
        let corpus = Corpus::sample();
        let hits = corpus.search("chocolate orders", 5);
        assert!(!hits.is_empty());
        assert!(hits[0].document.title.to_lowercase().contains("chocolate"));
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(hits.len() <= 5);
        assert!(corpus.search("zeppelin", 5).is_empty());
    }
}
