//! The fields of the index, and a document's form in it.

use serde_json::Value;
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions,
};

use super::super::access::document_terms;
use super::super::document::Document;
use super::super::snippet;
use super::rank;

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
            access: b.add_text_field("access", STRING | STORED),
            passages: b.add_bytes_field("passages", STORED),
            file: b.add_text_field(FILE, STRING | FAST),
        };
        (b.build(), fields)
    }
}

impl Fields {
    /// The index's form of `doc`, read from `file`.
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
