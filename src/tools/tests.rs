use super::*;

#[test]
fn names_messages_and_instructions_come_from_the_list() {
    assert_eq!(names(), ["search", "fetch"]);
    assert_eq!(listed("or"), "`search` or `fetch`");
    assert_eq!(joined(vec!["a".into()], "and"), "a");
    assert_eq!(
        joined(vec!["a".into(), "b".into(), "c".into()], "and"),
        "a, b and c"
    );
    assert_eq!(
        instructions(),
        "Use `search` to find documents about a topic and `fetch` with a result's id to \
         read one in full. Cite documents by their url."
    );
}

#[test]
fn every_tool_declares_a_unique_name_and_an_object_schema_naming_its_required_inputs() {
    let mut seen = Vec::new();
    for tool in TOOLS {
        let d = tool.definition();
        assert!(!seen.contains(&d.name), "{} twice", d.name);
        seen.push(d.name);
        assert!(
            d.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}: a tool name is lower-case letters, digits and `_`, so that its scope \
             setting MCP_TOOLS_<NAME>_SCOPES can be written in the environment",
            d.name
        );
        let schema = &d.input_schema;
        assert_eq!(schema["type"], "object", "{}", d.name);
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap();
            assert!(
                schema["properties"][key].is_object(),
                "{}: `{key}` is required but not declared",
                d.name
            );
        }
    }
}

#[test]
fn a_partial_search_says_so_in_fields_its_output_schema_declares() {
    use crate::corpus::{Found, Hit};
    let hit = Hit {
        id: "a".into(),
        title: "A".into(),
        url: String::new(),
        snippet: "x".into(),
    };
    let value = |found: Found| serde_json::to_value(super::search::answer(&found)).unwrap();
    let whole = value(Found {
        hits: vec![hit.clone()],
        partial: false,
    });
    assert_eq!(whole.as_object().unwrap().len(), 1, "{whole}");
    let cut = value(Found {
        hits: vec![hit],
        partial: true,
    });
    assert_eq!(cut["partial"], true);
    assert!(cut["note"].as_str().unwrap().contains("rarer word"));
    let declared = &super::search::Search.definition().output_schema["properties"];
    for key in cut.as_object().unwrap().keys() {
        assert!(
            declared.get(key).is_some(),
            "{key} is not in the output schema"
        );
    }
}

#[test]
fn a_rendered_result_is_the_result_of_its_value() {
    let value = serde_json::json!({"results": [{"id": "a\"b", "title": "é \n", "url": "", "text": "**x**"}]});
    for structured in [false, true] {
        let rendered: serde_json::Value =
            serde_json::from_str(&super::rendered(&value, structured)).unwrap();
        assert_eq!(
            rendered,
            super::result(value.clone(), structured),
            "{structured}"
        );
    }
}
