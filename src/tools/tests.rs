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
