//! Which documents a caller may see, read from the access column (a fast field) while a search
//! collects its matches, so that hidden documents are passed over without reading them from
//! the store and the ranking keeps exactly as many visible ones as the caller asked for.

use tantivy::columnar::StrColumn;
use tantivy::{DocId, SegmentOrdinal};

use super::super::access::Access;
use super::columns::Columns;

/// The name of the field that holds each document's access terms.
pub(super) const ACCESS: &str = "access";

/// The documents one caller may see, segment by segment.
pub(super) struct Visible {
    segments: Vec<Option<Seen>>,
}

/// The documents one caller may see in one segment: those holding one of `ords`, the ordinals
/// (in the segment's access column) of the caller's access terms.
#[derive(Clone)]
pub(super) struct Seen {
    column: StrColumn,
    ords: Vec<u64>,
}

impl Visible {
    /// What `access` may see, from the access column of each segment (see [`Columns::of`]).
    pub(super) fn of(columns: &Columns, access: &Access) -> tantivy::Result<Visible> {
        let segments = columns
            .segments()
            .iter()
            .map(|column| {
                let Some(column) = column else {
                    return Ok(None);
                };
                let mut ords = Vec::with_capacity(access.terms().len());
                for term in access.terms() {
                    if let Some(ord) = column.dictionary().term_ord(term)? {
                        ords.push(ord);
                    }
                }
                ords.sort_unstable();
                Ok((!ords.is_empty()).then(|| Seen {
                    column: column.clone(),
                    ords,
                }))
            })
            .collect::<tantivy::Result<_>>()?;
        Ok(Visible { segments })
    }

    /// What the caller may see in `segment`; `None` when it may see nothing there.
    pub(super) fn segment(&self, segment: SegmentOrdinal) -> Option<&Seen> {
        self.segments.get(segment as usize)?.as_ref()
    }
}

impl Seen {
    /// Whether the caller may see `doc`; a document without access terms is seen by no one.
    pub(super) fn sees(&self, doc: DocId) -> bool {
        self.column
            .term_ords(doc)
            .any(|ord| self.ords.binary_search(&ord).is_ok())
    }
}

#[cfg(test)]
mod tests;
