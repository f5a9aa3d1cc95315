//! Document access control from the caller's token: who may see a document.
//!
//! A document's `acl` lists Keycloak realm roles and groups. Everyone may see a document without
//! an `acl`; otherwise only a caller holding one of its entries, where the caller's roles come
//! from `realm_access.roles` and its groups from the `groups` claim. An entry is `role:<name>`,
//! `group:<name or path>`, a path starting with `/` (a group), or a bare name, which matches a
//! role or a group of that name. Group paths match exactly, with or without the leading `/`
//! (so they work whether Keycloak's group mapper sends full paths or not); membership of a
//! subgroup does not grant its parent's documents.
//!
//! Both sides become index terms, so the index filters hits before ranking and a hidden
//! document is never counted, scored or fetched.

/// The term every document without an `acl` carries, and every caller holds. Role and group
/// terms carry a `role:` or `group:` prefix, so no role or group name can collide with it.
pub(crate) const PUBLIC: &str = "public";

/// The index terms for one `acl` entry; empty when the entry names nothing.
pub(crate) fn entry_terms(entry: &str) -> Vec<String> {
    let entry = entry.trim();
    if let Some(role) = entry.strip_prefix("role:") {
        return term("role:", role).into_iter().collect();
    }
    if let Some(group) = entry.strip_prefix("group:") {
        return term("group:", group.trim_start_matches('/'))
            .into_iter()
            .collect();
    }
    if entry.starts_with('/') {
        return term("group:", entry.trim_start_matches('/'))
            .into_iter()
            .collect();
    }
    term("role:", entry)
        .into_iter()
        .chain(term("group:", entry))
        .collect()
}

fn term(prefix: &str, name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty()).then(|| format!("{prefix}{name}"))
}

/// The index terms of a document's `acl`.
pub(crate) fn document_terms(acl: &[String]) -> Vec<String> {
    if acl.is_empty() {
        return vec![PUBLIC.to_owned()];
    }
    let mut terms: Vec<String> = acl.iter().flat_map(|e| entry_terms(e)).collect();
    terms.sort();
    terms.dedup();
    terms
}

/// What one caller may see: the terms it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    terms: Vec<String>,
}

impl Access {
    /// A caller with no roles and no groups: sees public documents only.
    pub fn public() -> Self {
        Access::new(&[], &[])
    }

    pub fn new(roles: &[String], groups: &[String]) -> Self {
        let mut terms = vec![PUBLIC.to_owned()];
        terms.extend(roles.iter().filter_map(|r| term("role:", r)));
        terms.extend(
            groups
                .iter()
                .filter_map(|g| term("group:", g.trim_start_matches('/'))),
        );
        terms.sort();
        terms.dedup();
        Access { terms }
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether the caller holds this index term.
    pub fn holds(&self, term: &str) -> bool {
        self.terms
            .binary_search_by(|t| t.as_str().cmp(term))
            .is_ok()
    }

    /// Whether a document with this `acl` is visible (the same rule the index applies).
    pub fn allows(&self, acl: &[String]) -> bool {
        document_terms(acl).iter().any(|t| self.holds(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn documents_without_an_acl_are_public() {
        assert!(Access::public().allows(&[]));
        assert!(!Access::public().allows(&strings(&["finance"])));
    }

    #[test]
    fn a_bare_entry_matches_a_role_or_a_group_of_that_name() {
        let acl = strings(&["finance"]);
        assert!(Access::new(&strings(&["finance"]), &[]).allows(&acl));
        assert!(Access::new(&[], &strings(&["/finance"])).allows(&acl));
        assert!(!Access::new(&strings(&["support"]), &[]).allows(&acl));
    }

    #[test]
    fn prefixed_entries_match_only_their_kind() {
        let roles_only = strings(&["role:finance"]);
        assert!(!Access::new(&[], &strings(&["finance"])).allows(&roles_only));
        let group_only = strings(&["group:/staff/kitchen"]);
        assert!(Access::new(&[], &strings(&["/staff/kitchen"])).allows(&group_only));
        assert!(Access::new(&[], &strings(&["staff/kitchen"])).allows(&group_only));
        assert!(!Access::new(&strings(&["staff/kitchen"]), &[]).allows(&group_only));
    }

    #[test]
    fn a_subgroup_does_not_grant_its_parents_documents() {
        let acl = strings(&["/staff"]);
        assert!(!Access::new(&[], &strings(&["/staff/kitchen"])).allows(&acl));
    }

    #[test]
    fn no_role_or_group_name_reaches_the_public_term() {
        assert_eq!(entry_terms("public"), ["role:public", "group:public"]);
        assert!(entry_terms(" ").is_empty() && entry_terms("role:").is_empty());
    }
}
