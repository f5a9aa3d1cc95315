//! Snippets cut from work done once, when a document is indexed.
//!
//! A snippet is the passage of a hit's text where the query's words matter most, with those words
//! in `**bold**`. tantivy's `SnippetGenerator` finds it by running the text analyzer (splitting,
//! lower-casing and stemming) over the whole text of every hit on every search, which was most of
//! the cost of a search asked for the first time. The passage it picks depends on two things:
//!
//! - where the text splits into passages: a passage takes words until the next would end more
//!   than [`SNIPPET_BYTES`] past its start. That depends on the text alone, so it is worked out
//!   once, at indexing time, and stored with the document ([`passages`]);
//! - which words of the query each passage holds, and how rare they are: the index already keeps
//!   the position of every word in every document, so a search reads the positions of the
//!   query's words in its hits from the index ([`Snippets::cut`]) instead of re-reading the text.
//!
//! Only the chosen passage, under 200 bytes, is split into words again (without stemming), to
//! mark the words at the matched positions. The passages, their scores and the choice between
//! them are tantivy's own rules, so the snippets are the ones `SnippetGenerator` cut (a test holds
//! the two side by side).

use std::cmp::Ordering;

use tantivy::postings::Postings;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream, Tokenizer};
use tantivy::{DocAddress, DocSet, Searcher, Term};

/// Longest passage, in bytes of text (tantivy's `max_num_chars` counts bytes).
pub(crate) const SNIPPET_BYTES: usize = 180;
/// Longest word the index keeps, as the `en_stem` analyzer has it.
const LONGEST_WORD: usize = 40;

/// One passage of a text: the byte range it covers and the position of its first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Passage {
    first: u32,
    start: u32,
    stop: u32,
}

/// The passages of `text`, encoded for storing with its document.
///
/// Words are the index's words before lower-casing and stemming, which change neither where a
/// word is nor which words are kept.
pub(crate) fn passages(text: &str) -> Vec<u8> {
    let mut words = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_WORD))
        .build();
    let mut stream = words.token_stream(text);
    let mut out = Vec::new();
    let mut current: Option<Passage> = None;
    let mut start = 0usize;
    while let Some(word) = stream.next() {
        if word.offset_to - start > SNIPPET_BYTES {
            if let Some(p) = current.take() {
                out.push(p);
            }
            start = word.offset_from;
        }
        let p = current.get_or_insert(Passage {
            first: word.position as u32,
            start: start as u32,
            stop: 0,
        });
        p.stop = word.offset_to as u32;
    }
    out.extend(current);
    encode(&out)
}

fn encode(passages: &[Passage]) -> Vec<u8> {
    let mut out = Vec::with_capacity(passages.len() * 5 + 2);
    put(&mut out, passages.len() as u32);
    let (mut first, mut stop) = (0u32, 0u32);
    for p in passages {
        put(&mut out, p.first - first);
        put(&mut out, p.start - stop);
        put(&mut out, p.stop - p.start);
        (first, stop) = (p.first, p.stop);
    }
    out
}

/// The passages stored by [`passages`]; none when the bytes are not what it wrote.
fn decode(mut bytes: &[u8]) -> Vec<Passage> {
    let mut read = || take(&mut bytes);
    let Some(n) = read() else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity((n as usize).min(1 << 16));
    let (mut first, mut stop) = (0u32, 0u32);
    for _ in 0..n {
        let (Some(df), Some(ds), Some(len)) = (read(), read(), read()) else {
            return Vec::new();
        };
        let start = stop.saturating_add(ds);
        first = first.saturating_add(df);
        stop = start.saturating_add(len);
        out.push(Passage { first, start, stop });
    }
    out
}

/// Appends `n` as a LEB128 varint.
fn put(out: &mut Vec<u8>, mut n: u32) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take(bytes: &mut &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for shift in (0..35).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        n |= u32::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// A hit to cut a snippet for: where it is, its text and its stored passages.
pub(crate) struct Cut<'a> {
    pub address: DocAddress,
    pub text: &'a str,
    pub passages: &'a [u8],
}

/// The words of one query in one field, with tantivy's snippet weight of each (rarer counts
/// more), ready to cut snippets of that query's hits.
pub(crate) struct Snippets {
    field: Field,
    terms: Vec<(Term, f32)>,
}

impl Snippets {
    /// The words of `query` in `field`, weighted as tantivy's `SnippetGenerator` weighs them.
    pub(crate) fn new(
        statistics: &dyn Bm25StatisticsProvider,
        query: &dyn tantivy::query::Query,
        field: Field,
    ) -> tantivy::Result<Snippets> {
        let mut seen = std::collections::BTreeSet::new();
        query.query_terms(&mut |term, _| {
            if term.field() == field {
                seen.insert(term.clone());
            }
        });
        let mut terms = Vec::new();
        for term in seen {
            let doc_freq = statistics.doc_freq(&term)?;
            if doc_freq > 0 && term.value().as_str().is_some() {
                terms.push((term, 1.0 / (1.0 + doc_freq as f32)));
            }
        }
        Ok(Snippets { field, terms })
    }

    /// The snippet of each hit, in the order given: its best passage with the query's words in
    /// `**bold**`, or the start of its text when the words are not in it.
    pub(crate) fn cut(&self, searcher: &Searcher, hits: &[Cut]) -> tantivy::Result<Vec<String>> {
        let matches = self.matches(searcher, hits)?;
        Ok(hits
            .iter()
            .zip(matches)
            .map(|(hit, found)| match best(&decode(hit.passages), &found) {
                Some((p, end)) => marked(hit.text, p, &found[..end]),
                None => head(hit.text),
            })
            .collect())
    }

    /// For each hit, the positions of the query's words in its text with their weights, in
    /// text order. Each word's postings are read once per segment, the hits in document order.
    fn matches(&self, searcher: &Searcher, hits: &[Cut]) -> tantivy::Result<Vec<Vec<(u32, f32)>>> {
        let mut found = vec![Vec::new(); hits.len()];
        if self.terms.is_empty() {
            return Ok(found);
        }
        let mut order: Vec<usize> = (0..hits.len()).collect();
        order.sort_by_key(|&i| hits[i].address);
        let mut positions = Vec::new();
        for group in
            order.chunk_by(|&a, &b| hits[a].address.segment_ord == hits[b].address.segment_ord)
        {
            let segment = searcher.segment_reader(hits[group[0]].address.segment_ord);
            let inverted = segment.inverted_index(self.field)?;
            for (term, weight) in &self.terms {
                let Some(mut postings) =
                    inverted.read_postings(term, IndexRecordOption::WithFreqsAndPositions)?
                else {
                    continue;
                };
                for &i in group {
                    let doc = hits[i].address.doc_id;
                    if postings.doc() <= doc && postings.seek(doc) == doc {
                        postings.positions(&mut positions);
                        found[i].extend(positions.iter().map(|&p| (p, *weight)));
                    }
                }
            }
        }
        for f in &mut found {
            f.sort_by_key(|&(p, _)| p);
        }
        Ok(found)
    }
}

/// The passage `p` of `text` with the query's words in `**bold**`: the words at the positions
/// `found` (sorted, none past the passage) holds. Only splitting into words is needed to find them, no stemming: a
/// passage starts at the start of the text or at a word, so the words of the passage, counted
/// from its start, sit at known positions.
fn marked(text: &str, p: Passage, found: &[(u32, f32)]) -> String {
    let passage = &text[p.start as usize..p.stop as usize];
    let base = if p.start == 0 { 0 } else { p.first };
    let mut words = SimpleTokenizer::default();
    let mut stream = words.token_stream(passage);
    let mut out = String::with_capacity(passage.len() + 16);
    let mut at = 0;
    // The passage's words are read up to its last matched word only.
    let last = found.last().map_or(0, |&(position, _)| position);
    while let Some(word) = stream.next() {
        let position = base + word.position as u32;
        if position > last {
            break;
        }
        if found.binary_search_by_key(&position, |&(p, _)| p).is_ok() {
            out.push_str(&passage[at..word.offset_from]);
            out.push_str("**");
            out.push_str(&passage[word.offset_from..word.offset_to]);
            out.push_str("**");
            at = word.offset_to;
        }
    }
    out.push_str(&passage[at..]);
    out.trim().to_owned()
}

/// The passage with the highest score (the sum of the weights of the words it holds, added in
/// text order), the earliest of equals, as tantivy chooses, and how many entries of `found`
/// lie before its end; `None` when no passage holds a word.
fn best(passages: &[Passage], found: &[(u32, f32)]) -> Option<(Passage, usize)> {
    let mut scored: Vec<(Passage, f32, usize)> = Vec::new();
    let mut next = 0;
    for (i, p) in passages.iter().enumerate() {
        let end = passages.get(i + 1).map_or(u32::MAX, |n| n.first);
        let mut score = 0.0f32;
        while let Some(&(position, weight)) = found.get(next) {
            if position >= end {
                break;
            }
            if position >= p.first {
                score += weight;
            }
            next += 1;
        }
        if score > 0.0 {
            scored.push((*p, score, next));
        }
    }
    scored
        .iter()
        .max_by(|(left, l, _), (right, r, _)| match l.partial_cmp(r) {
            Some(Ordering::Equal) | None => (right.start, right.stop).cmp(&(left.start, left.stop)),
            Some(other) => other,
        })
        .map(|(p, _, before)| (*p, *before))
}

/// The start of `text`, for a hit whose text does not hold the query's words (a title match).
fn head(text: &str) -> String {
    let mut end = text.len().min(SNIPPET_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = text[..end].trim();
    if end < text.len() {
        format!("{head}…")
    } else {
        head.to_owned()
    }
}

#[cfg(test)]
mod tests;
