//! Text columns (fast fields) of one generation, segment by segment.

use tantivy::columnar::StrColumn;
use tantivy::{DocAddress, Searcher};

/// One text column (a fast field) of each segment of one generation, opened once: the ids, for
/// ordering equal scores, the access terms, for who may see what, or the files, for updates.
pub struct Columns(Vec<Option<StrColumn>>);

impl Columns {
    pub fn of(searcher: &Searcher, field: &str) -> tantivy::Result<Columns> {
        let columns = searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.fast_fields().str(field))
            .collect::<tantivy::Result<_>>()?;
        Ok(Columns(columns))
    }

    /// The column of each segment, in segment order; `None` for a segment without values.
    pub(super) fn segments(&self) -> &[Option<StrColumn>] {
        &self.0
    }

    fn column(&self, address: &DocAddress) -> Option<&StrColumn> {
        self.0.get(address.segment_ord as usize)?.as_ref()
    }

    /// The ordinal of the document's value within its segment (values sort as their ordinals).
    pub(super) fn ord(&self, address: &DocAddress) -> Option<u64> {
        self.column(address)?.term_ords(address.doc_id).next()
    }

    /// The document's value; empty when it has none.
    pub fn text(&self, address: &DocAddress) -> tantivy::Result<String> {
        let mut text = String::new();
        if let (Some(column), Some(ord)) = (self.column(address), self.ord(address)) {
            column.ord_to_str(ord, &mut text)?;
        }
        Ok(text)
    }
}
