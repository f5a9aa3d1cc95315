//! The query language callers may use, and nothing more: words, `"phrases"`, `+` (required),
//! `-` (excluded) and `title:` (titles only), as docs/documents.md describes it.
//!
//! The query is read here and handed to tantivy as its own query tree
//! (`QueryParser::build_query_from_user_input_ast`), never as text for tantivy's query language,
//! so no range, set, regular expression, wildcard, boost, other field or boolean keyword can
//! reach the index, however the query is written. A word is a run of letters and digits (as
//! the index's tokenizer splits text); everything else between words is a separator.

use tantivy::query::Occur;
use tantivy::query_grammar::{Delimiter, UserInputAst, UserInputLeaf, UserInputLiteral};

/// The only field a query may name.
pub(crate) const TITLE: &str = "title";

/// Reads a query into tantivy's query tree: one clause per word or phrase.
pub(crate) fn parse(query: &str) -> UserInputAst {
    let mut clauses = Vec::new();
    let mut rest = query;
    loop {
        rest = rest.trim_start();
        let Some(first) = rest.chars().next() else {
            break;
        };
        let occur = match first {
            '+' => Some(Occur::Must),
            '-' => Some(Occur::MustNot),
            _ => None,
        };
        if occur.is_some() {
            rest = &rest[1..];
        }
        let field = match rest.get(..TITLE.len() + 1) {
            Some(p) if p.eq_ignore_ascii_case("title:") => {
                rest = &rest[TITLE.len() + 1..];
                Some(TITLE.to_owned())
            }
            _ => None,
        };
        let literal = |phrase: String, delimiter| {
            let leaf = UserInputLeaf::Literal(UserInputLiteral {
                field_name: field.clone(),
                phrase,
                delimiter,
                slop: 0,
                prefix: false,
            });
            (occur, UserInputAst::Leaf(Box::new(leaf)))
        };
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            let words: Vec<&str> = words(&quoted[..end]).collect();
            if !words.is_empty() {
                clauses.push(literal(words.join(" "), Delimiter::DoubleQuotes));
            }
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            // A bare item ends at white space or at a quote, which opens a phrase.
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            for word in words(&rest[..end]) {
                clauses.push(literal(word.to_owned(), Delimiter::None));
            }
            rest = &rest[end..];
        }
    }
    UserInputAst::Clause(clauses)
}

/// The runs of letters and digits in `text`.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The clauses of a parsed query as `(sign, field, text, quoted)`.
    fn read(query: &str) -> Vec<(char, &'static str, String, bool)> {
        let UserInputAst::Clause(clauses) = parse(query) else {
            panic!("not a clause list")
        };
        clauses
            .into_iter()
            .map(|(occur, ast)| {
                let UserInputAst::Leaf(leaf) = ast else {
                    panic!("not a leaf: {ast:?}")
                };
                let UserInputLeaf::Literal(l) = *leaf else {
                    panic!("not a literal")
                };
                let sign = match occur {
                    None => ' ',
                    Some(Occur::Must) => '+',
                    Some(Occur::MustNot) => '-',
                    Some(Occur::Should) => '?',
                };
                let field = if l.field_name.is_some() { "title" } else { "" };
                (
                    sign,
                    field,
                    l.phrase,
                    l.delimiter == Delimiter::DoubleQuotes,
                )
            })
            .collect()
    }

    #[test]
    fn words_phrases_signs_and_title_are_read() {
        assert_eq!(
            read("\"salted caramel\" -lemon +Title:box"),
            vec![
                (' ', "", "salted caramel".to_owned(), true),
                ('-', "", "lemon".to_owned(), false),
                ('+', "title", "box".to_owned(), false),
            ]
        );
        assert_eq!(
            read("crème brûlée\tnext"),
            vec![
                (' ', "", "crème".to_owned(), false),
                (' ', "", "brûlée".to_owned(), false),
                (' ', "", "next".to_owned(), false),
            ]
        );
    }

    #[test]
    fn every_other_operator_is_read_as_plain_words() {
        let plain = |q: &str| -> Vec<String> { read(q).into_iter().map(|c| c.2).collect() };
        // Ranges, sets, other fields, regular expressions, wildcards, boosts, slop, keywords.
        assert_eq!(plain("title:>a"), ["a"]);
        assert_eq!(read("title:>a")[0].1, "title");
        assert_eq!(plain("text:[a TO z]"), ["text", "a", "TO", "z"]);
        assert_eq!(
            plain("access:IN [public finance]"),
            ["access", "IN", "public", "finance"]
        );
        assert_eq!(plain("title:/.*/ *"), Vec::<String>::new());
        assert_eq!(
            plain("cake^9 \"a b\"~3 NOT lemon"),
            ["cake", "9", "a b", "3", "NOT", "lemon"]
        );
        assert_eq!(plain("(a OR b) AND c"), ["a", "OR", "b", "AND", "c"]);
        assert_eq!(plain("what's e-mail"), ["what", "s", "e", "mail"]);
        assert_eq!(plain("id:*"), ["id"]);
        assert!(read("+ - title: \"\" \"").is_empty());
    }

    proptest! {
        #[test]
        fn a_parsed_query_holds_only_words_phrases_signs_and_title(
            query in "[a-zA-Z0-9 \"+\\-:<>=\\[\\]{}()^~*?/\\\\!'`.,$@é\t]{0,80}|.{0,80}"
        ) {
            let UserInputAst::Clause(clauses) = parse(&query) else {
                panic!("not a clause list");
            };
            for (occur, ast) in clauses {
                prop_assert!(occur != Some(Occur::Should));
                let UserInputAst::Leaf(leaf) = ast else {
                    panic!("{query:?} gave {ast:?}");
                };
                let UserInputLeaf::Literal(l) = *leaf else {
                    panic!("{query:?} gave a leaf that is not a word or phrase");
                };
                prop_assert!(l.field_name.is_none() || l.field_name.as_deref() == Some(TITLE));
                prop_assert_eq!(l.slop, 0);
                prop_assert!(!l.prefix);
                prop_assert!(l.delimiter != Delimiter::SingleQuotes);
                prop_assert!(!l.phrase.is_empty());
                for word in l.phrase.split(' ') {
                    prop_assert!(!word.is_empty() && word.chars().all(char::is_alphanumeric),
                        "{:?} gave the word {:?}", query, word);
                }
                if l.delimiter == Delimiter::None {
                    prop_assert!(!l.phrase.contains(' '));
                }
            }
        }
    }
}
