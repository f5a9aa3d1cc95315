//! The fields of the index, and a document's form in it.

use serde_json::Value;
use tantivy::schema::document::{
    DeserializeError, DocumentDeserialize, DocumentDeserializer, ValueDeserialize,
    ValueDeserializer, ValueVisitor,
};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions,
};

use super::super::access::document_terms;
use super::super::document::Document;
use super::super::snippet;
use super::{rank, visible};

/// The name of the field that holds each document's file.
pub const FILE: &str = "file";

/// The fields of the index.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fields {
    pub(super) id: Field,
    pub(super) title: Field,
    pub(super) text: Field,
    pub(super) url: Field,
    pub(super) metadata: Field,
    pub(super) access: Field,
    /// Where the text splits into snippet passages (see [`snippet`]).
    pub(super) passages: Field,
    /// The file the document came from, relative to the corpus folder, so that a changed file's
    /// documents can be replaced (see `corpus::update`); empty for the built-in sample.
    pub(super) file: Field,
}

impl Fields {
    pub(super) fn schema() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let words = TextOptions::default().set_stored().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Fields {
            id: b.add_text_field(rank::ID, STRING | STORED | FAST),
            title: b.add_text_field("title", words.clone()),
            text: b.add_text_field("text", words),
            url: b.add_text_field("url", STORED),
            metadata: b.add_text_field("metadata", STORED),
            access: b.add_text_field(visible::ACCESS, STRING | FAST),
            passages: b.add_bytes_field("passages", STORED),
            file: b.add_text_field(FILE, STRING | FAST),
        };
        (b.build(), fields)
    }
}

impl Fields {
    /// The index's form of `doc`, read from `file`. The values a hit shows are stored first
    /// (see [`Shown`]).
    pub(super) fn document(&self, file: &str, doc: &Document) -> TantivyDocument {
        let f = self;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, &doc.id);
        d.add_text(f.title, &doc.title);
        d.add_text(f.text, &doc.text);
        d.add_bytes(f.passages, &snippet::passages(&doc.text));
        d.add_text(f.url, &doc.url);
        if let Some(m) = &doc.metadata {
            d.add_text(f.metadata, Value::Object(m.clone()).to_string());
        }
        for term in document_terms(&doc.acl) {
            d.add_text(f.access, term);
        }
        d.add_text(f.file, file);
        d
    }
}

/// How many stored values a hit reads: [`Fields::document`] stores the id, title, text,
/// passages and url before the metadata.
const SHOWN: usize = 5;

/// The stored values of a document that a search hit shows, read from the store without the
/// values after them (the metadata, which only `fetch` returns).
pub(super) struct Shown(Vec<(Field, Stored)>);

/// One stored value.
enum Stored {
    Text(String),
    Bytes(Vec<u8>),
}

impl Shown {
    /// The text stored in `field`; empty when none is.
    pub(super) fn text(&self, field: Field) -> &str {
        self.0
            .iter()
            .find_map(|(f, v)| match v {
                Stored::Text(text) if *f == field => Some(text.as_str()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The bytes stored in `field`; empty when none are.
    pub(super) fn bytes(&self, field: Field) -> &[u8] {
        self.0
            .iter()
            .find_map(|(f, v)| match v {
                Stored::Bytes(bytes) if *f == field => Some(bytes.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The text stored in `field`, taken out.
    pub(super) fn take_text(&mut self, field: Field) -> String {
        self.0
            .iter_mut()
            .find_map(|(f, v)| match v {
                Stored::Text(text) if *f == field => Some(std::mem::take(text)),
                _ => None,
            })
            .unwrap_or_default()
    }
}

impl DocumentDeserialize for Shown {
    fn deserialize<'de, D>(mut document: D) -> Result<Self, DeserializeError>
    where
        D: DocumentDeserializer<'de>,
    {
        let mut values = Vec::with_capacity(SHOWN);
        while values.len() < SHOWN {
            match document.next_field::<Stored>()? {
                Some(value) => values.push(value),
                None => break,
            }
        }
        Ok(Shown(values))
    }
}

impl ValueDeserialize for Stored {
    fn deserialize<'de, D>(value: D) -> Result<Self, DeserializeError>
    where
        D: ValueDeserializer<'de>,
    {
        value.deserialize_any(StoredVisitor)
    }
}

struct StoredVisitor;

impl ValueVisitor for StoredVisitor {
    type Value = Stored;

    fn visit_string(&self, text: String) -> Result<Stored, DeserializeError> {
        Ok(Stored::Text(text))
    }

    fn visit_bytes(&self, bytes: Vec<u8>) -> Result<Stored, DeserializeError> {
        Ok(Stored::Bytes(bytes))
    }
}
