//! Who sees what while ranking: each caller gets the best matches it may see, in the order every
//! caller sees them, whether the search passes over hidden matches or visits only the
//! documents the caller may see.

use std::collections::HashMap;

use super::super::{Builder, Index};
use crate::corpus::access::Access;
use crate::corpus::document::Document;

const WORDS: [&str; 6] = ["chocolate", "order", "lemon", "bread", "wedding", "tart"];

/// 400 documents of mixed words: one in 40 for `rare`, one in 40 public, and of the rest half
/// for `finance`, half for `support` and `finance`.
fn documents() -> Vec<Document> {
    (0..400u32)
        .map(|n| Document {
            id: format!("d{n:03}"),
            title: WORDS[(n % 6) as usize].to_owned(),
            text: (0..3 + n % 7)
                .map(|i| WORDS[((n * 31 + i * 17) % 6) as usize])
                .collect::<Vec<_>>()
                .join(" "),
            url: String::new(),
            metadata: None,
            acl: match (n % 40, n % 2) {
                (0, _) => vec!["rare".into()],
                (1, _) => Vec::new(),
                (_, 0) => vec!["finance".into()],
                _ => vec!["support".into(), "finance".into()],
            },
        })
        .collect()
}

fn roles(names: &[&str]) -> Access {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    Access::new(&names, &[])
}

fn ids(index: &Index, q: &str, access: &Access, limit: usize) -> Vec<String> {
    index
        .search(q, access, limit)
        .unwrap()
        .into_iter()
        .map(|hit| hit.id)
        .collect()
}

#[test]
fn every_caller_gets_the_best_matches_it_may_see() {
    let docs = documents();
    let acl: HashMap<String, Vec<String>> =
        docs.iter().map(|d| (d.id.clone(), d.acl.clone())).collect();
    let mut builder = Builder::new(None).unwrap();
    for doc in &docs {
        builder.add_in("", doc).unwrap();
    }
    let index = builder.finish().unwrap();
    let everyone = roles(&["rare", "finance", "support"]);
    let callers = [
        Access::public(),
        roles(&["finance"]),
        roles(&["support"]),
        roles(&["rare"]),
        roles(&["nobody"]),
    ];
    // Both ways of ranking are used: the callers who see many pass over hidden matches, those
    // who see one document in 20 or 40 visit only their own.
    assert!(!index.few_visible(&roles(&["support"])).unwrap());
    assert!(index.few_visible(&roles(&["rare"])).unwrap());
    for q in [
        "chocolate",
        "chocolate order",
        "lemon tart",
        "wedding -bread",
        "\"chocolate tart\"",
    ] {
        let all = ids(&index, q, &everyone, docs.len());
        assert!(!all.is_empty(), "{q}");
        for caller in &callers {
            let visible: Vec<&String> = all.iter().filter(|id| caller.allows(&acl[*id])).collect();
            for limit in [1, 3, 10, 50] {
                let expected: Vec<&String> = visible.iter().take(limit).copied().collect();
                let got = ids(&index, q, caller, limit);
                assert_eq!(
                    got.iter().collect::<Vec<_>>(),
                    expected,
                    "{q} for {caller:?} at limit {limit}"
                );
            }
        }
    }
}
