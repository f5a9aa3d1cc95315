//! The order of a search's hits: best score first, and documents of equal score in the order of
//! their ids, so that every index of the same documents (two replicas, two runs, an index
//! updated file by file) answers a query in the same order.
//!
//! tantivy's `TopDocs` keeps the best `n` documents of a query and, among documents of equal
//! score, the ones it met first, which depends on where they lie in the index. So the search
//! collects its best `n` with [`TopWithTies`], which also keeps every document that ties with
//! the last of them, and orders each run of equal scores by id before any of it is used.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{Bm25StatisticsProvider, Query, Weight};
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use super::columns::Columns;
use super::visible::{Seen, Visible};

/// Scores within this fraction of each other are equal (see [`same_score`]).
const SCORE_TOLERANCE: f32 = 1e-5;
/// Most documents of one score read to order them by id; a larger run of equal scores is
/// ordered by id among the first this many tantivy meets.
const MAX_TIED: usize = 1_000;
/// The name of the field that holds each document's id as a fast (columnar) value.
pub(super) const ID: &str = "id";

/// Whether two scores, next to each other in a ranking, count as equal. The same document can
/// score a few units in the last place apart in two indexes of the same documents, because
/// tantivy adds its term scores in an order that depends on where the documents lie in the
/// index; scores this close rank no document above another.
pub(super) fn same_score(a: Score, b: Score) -> bool {
    (a - b).abs() <= SCORE_TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

/// The best `limit` matches of `query`, scored from `statistics`, best first and equal scores
/// in the order of their ids; with `visible`, only the documents it holds are matches.
pub(super) fn top(
    searcher: &Searcher,
    statistics: &dyn Bm25StatisticsProvider,
    ids: &Columns,
    query: &dyn Query,
    limit: usize,
    visible: Option<&Visible>,
) -> tantivy::Result<Vec<DocAddress>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let collector = TopWithTies { k: limit, visible };
    let ranked = searcher.search_with_statistics_provider(query, &collector, statistics)?;
    let mut found = Vec::with_capacity(limit);
    for group in ranked.chunk_by(|a, b| same_score(a.0, b.0)) {
        for address in by_id(ids, group)? {
            found.push(address);
            if found.len() == limit {
                return Ok(found);
            }
        }
    }
    Ok(found)
}

/// The documents of one run of equal scores, in the order of their ids. Within a segment the
/// id column's ordinals are in the order of the ids, so ids are only spelled out to compare
/// documents of different segments.
fn by_id(ids: &Columns, group: &[(Score, DocAddress)]) -> tantivy::Result<Vec<DocAddress>> {
    if group.len() == 1 {
        return Ok(vec![group[0].1]);
    }
    let mut by_segment: Vec<(SegmentOrdinal, u64, DocAddress)> = group
        .iter()
        .map(|(_, address)| {
            let ord = ids.ord(address).unwrap_or(u64::MAX);
            (address.segment_ord, ord, *address)
        })
        .collect();
    by_segment.sort_unstable();
    if by_segment.first().map(|f| f.0) == by_segment.last().map(|l| l.0) {
        return Ok(by_segment.into_iter().map(|(_, _, a)| a).collect());
    }
    let mut keyed = by_segment
        .into_iter()
        .map(|(_, _, address)| Ok((ids.text(&address)?, address)))
        .collect::<tantivy::Result<Vec<_>>>()?;
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, a)| a).collect())
}

/// The best `k` matches, best first, and every further match that ties with the `k`th (within
/// [`same_score`]), at most [`MAX_TIED`] of those. Block-max WAND skips whatever cannot reach
/// the `k`th score. With `visible`, a document it does not hold is no match.
struct TopWithTies<'a> {
    k: usize,
    visible: Option<&'a Visible>,
}

impl TopWithTies<'_> {
    /// Which documents of `segment` are matches.
    fn counted(&self, segment: SegmentOrdinal) -> SegmentMatches {
        match self.visible {
            None => SegmentMatches::All,
            Some(visible) => visible
                .segment(segment)
                .map_or(SegmentMatches::None, |seen| {
                    SegmentMatches::Seen(seen.clone())
                }),
        }
    }

    /// The lowest score a match may have and still tie with `kth`.
    fn floor(kth: Score) -> Score {
        kth - 2.0 * SCORE_TOLERANCE * kth.abs().max(1.0)
    }

    /// `kept`, best first, cut to the best `k` and their ties.
    fn cut(&self, mut kept: Vec<(Score, DocAddress)>) -> Vec<(Score, DocAddress)> {
        let best_first = |a: &(Score, DocAddress), b: &(Score, DocAddress)| {
            b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
        };
        if kept.len() > self.k {
            // Only the best `k` and their ties are sorted.
            let kth = kept.select_nth_unstable_by(self.k - 1, best_first).1.0;
            let floor = Self::floor(kth);
            kept.retain(|(s, _)| *s > floor);
        }
        kept.sort_unstable_by(best_first);
        kept.truncate(self.k + MAX_TIED);
        kept
    }
}

impl Collector for TopWithTies<'_> {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = Everything;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        _: &SegmentReader,
    ) -> tantivy::Result<Everything> {
        Ok(Everything(segment, self.counted(segment), Vec::new()))
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        Ok(self.cut(fruits.into_iter().flatten().collect()))
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Fruit> {
        let counted = self.counted(segment);
        if let SegmentMatches::None = counted {
            return Ok(Vec::new());
        }
        let alive = reader.alive_bitset();
        let mut best: BinaryHeap<Reverse<Ordered>> = BinaryHeap::with_capacity(self.k + 1);
        let mut kept = Vec::new();
        let mut floor = Score::MIN;
        weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
            if alive.is_some_and(|a| !a.is_alive(doc)) || !counted.counts(doc) {
                return floor;
            }
            kept.push((score, DocAddress::new(segment, doc)));
            best.push(Reverse(Ordered(score)));
            if best.len() > self.k {
                best.pop();
            }
            if best.len() == self.k {
                floor = Self::floor(best.peek().map_or(Score::MIN, |b| b.0.0));
            }
            if kept.len() > 2 * (self.k + MAX_TIED) {
                kept.retain(|(s, _)| *s > floor);
            }
            if kept.len() > 2 * (self.k + MAX_TIED) {
                kept = self.cut(std::mem::take(&mut kept));
                if kept.len() == self.k + MAX_TIED {
                    // More ties than are kept: from now on only better matches count.
                    floor = floor.max(kept[kept.len() - 1].0);
                }
            }
            floor
        })?;
        Ok(self.cut(kept))
    }
}

/// A score that sorts (tantivy never gives a NaN score; `total_cmp` orders one anyway).
#[derive(PartialEq)]
struct Ordered(Score);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Which documents of a segment are matches: all, those a caller may see, or none.
#[derive(Clone)]
enum SegmentMatches {
    All,
    Seen(Seen),
    None,
}

impl SegmentMatches {
    fn counts(&self, doc: DocId) -> bool {
        match self {
            SegmentMatches::All => true,
            SegmentMatches::Seen(seen) => seen.sees(doc),
            SegmentMatches::None => false,
        }
    }
}

/// Every match of a segment, for when tantivy collects without [`TopWithTies::collect_segment`].
struct Everything(SegmentOrdinal, SegmentMatches, Vec<(Score, DocAddress)>);

impl SegmentCollector for Everything {
    type Fruit = Vec<(Score, DocAddress)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.1.counts(doc) {
            self.2.push((score, DocAddress::new(self.0, doc)));
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.2
    }
}
