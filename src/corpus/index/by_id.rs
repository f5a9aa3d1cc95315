//! Reading one document by its id: what `fetch` returns, whether any document has an id (for
//! the audit trail) and the file a document came from (for an update).

use serde_json::{Map, Value};
use tantivy::Term;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, TantivyDocument, Value as _};

use super::super::access::Access;
use super::super::document::Document;
use super::{Columns, Index};

impl Index {
    /// The file (relative to the corpus folder) of the document with this id, whoever may see
    /// it, read from `files` (see [`Index::files`]); `None` when no document has the id.
    pub fn file_of(&self, id: &str, files: &Columns) -> tantivy::Result<Option<String>> {
        let by_id = self.by_id(id);
        let top = self
            .searcher
            .search(&by_id, &TopDocs::with_limit(1).order_by_score())?;
        top.into_iter()
            .next()
            .map(|(_, address)| files.text(&address))
            .transpose()
    }

    /// Whether a document has this id, whoever may see it.
    pub fn holds(&self, id: &str) -> tantivy::Result<bool> {
        let by_id = self.by_id(id);
        Ok(self.searcher.search(&by_id, &Count)? > 0)
    }

    /// The document with this id, if `access` may see it.
    pub fn get(&self, id: &str, access: &Access) -> tantivy::Result<Option<Document>> {
        let by_id = self.by_id(id);
        let filtered = BooleanQuery::new(vec![
            (Occur::Must, Box::new(by_id)),
            (Occur::Must, self.visible_to(access)),
        ]);
        let searcher = &self.searcher;
        let Some((_, address)) = searcher
            .search(&filtered, &TopDocs::with_limit(1).order_by_score())?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(address)?;
        let metadata = doc
            .get_first(self.store.fields.metadata)
            .and_then(|v| v.as_str())
            .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok());
        Ok(Some(Document {
            id: self.text(&doc, self.store.fields.id),
            title: self.text(&doc, self.store.fields.title),
            text: self.text(&doc, self.store.fields.text),
            url: self.text(&doc, self.store.fields.url),
            metadata,
            acl: Vec::new(),
        }))
    }

    /// Matches the document with this id.
    fn by_id(&self, id: &str) -> TermQuery {
        TermQuery::new(
            Term::from_field_text(self.store.fields.id, id),
            IndexRecordOption::Basic,
        )
    }

    fn text(&self, doc: &TantivyDocument, field: Field) -> String {
        self.str(doc, field).to_owned()
    }

    fn str<'d>(&self, doc: &'d TantivyDocument, field: Field) -> &'d str {
        doc.get_first(field)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }
}
