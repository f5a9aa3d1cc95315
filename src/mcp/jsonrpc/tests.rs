use super::*;
use serde_json::json;

fn code(value: Value) -> i64 {
    classify(value).unwrap_err().error.code()
}

#[test]
fn a_rendered_result_reads_exactly_as_the_same_value_would() {
    let value = json!({"content": [{"type": "text", "text": "a \"quoted\" word"}]});
    let mut members = Map::new();
    members.insert("resultType".into(), "complete".into());
    members.insert("_meta".into(), json!({"k": {"name": "x"}}));
    let members = Members::new(members);
    let mut rendered = Payload::Rendered(value.to_string().into());
    rendered.extend(&members);
    let mut tree = Payload::Value(value);
    tree.extend(&members);
    let id = Id(json!("req-1"));
    let rendered = success(&id, rendered);
    let a: Value = serde_json::from_str(&rendered.text()).unwrap();
    let b: Value = serde_json::from_str(&success(&id, tree).text()).unwrap();
    let pieces: Vec<u8> = rendered.into_pieces().concat();
    assert_eq!(serde_json::from_slice::<Value>(&pieces).unwrap(), a);
    assert_eq!(a, b);
    assert_eq!(a["result"]["_meta"]["k"]["name"], "x");
    assert_eq!(a["id"], "req-1");
}

#[test]
fn members_are_added_to_an_empty_rendered_object() {
    let mut empty = Payload::Rendered(Bytes::from_static(b"{}"));
    let mut members = Map::new();
    members.insert("a".into(), 1.into());
    empty.extend(&Members::new(members));
    assert_eq!(empty, Payload::Rendered(Bytes::from_static(br#"{"a":1}"#)));
}

#[test]
fn reading_a_body_member_by_member_classifies_as_reading_it_whole() {
    let bodies = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"q"}}}"#,
        r#"{"method":"ping","id":"a","jsonrpc":"2.0","extra":{"deep":[1,{"x":null}]}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":3,"error":null}"#,
        r#"{"jsonrpc":"2.0","error":{}}"#,
        r#"{"jsonrpc":"1.0","id":9,"method":"x"}"#,
        r#"{"jsonrpc":["2.0"],"id":9,"method":"x"}"#,
        r#"{"jsonrpc":{"v":"2.0"},"id":9,"method":"x"}"#,
        r#"{"jsonrpc":2.0,"id":9,"method":"x"}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"x","params":null}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"a","method":"b","id":2}"#,
        r#"{"jsonrpc":"2.0","jsonrpc":"1.0","id":1,"method":"x"}"#,
        r#"{"json\u0072pc":"2.0","id":1,"method":"escaped name"}"#,
        r#"{}"#,
    ];
    for body in bodies {
        // What a map would hold: the last of repeated members, names unescaped, and only the
        // members JSON-RPC defines.
        let Value::Object(map) = serde_json::from_str(body).unwrap() else {
            panic!("{body} is an object");
        };
        let defined = ["jsonrpc", "id", "method", "params", "result", "error"];
        let kept: Map<String, Value> = map
            .into_iter()
            .filter(|(k, _)| defined.contains(&k.as_str()))
            .collect();
        let whole = classify(Value::Object(kept));
        let Body::One(Item::Message(message)) = Body::parse(body.as_bytes()).unwrap() else {
            panic!("{body} is one message");
        };
        assert_eq!(
            format!("{:?}", message.classify()),
            format!("{whole:?}"),
            "{body}"
        );
    }
    for neither in ["1", "\"text\"", "null", "true", "2.5"] {
        assert!(matches!(
            Body::parse(neither.as_bytes()),
            Ok(Body::One(Item::NotAnObject))
        ));
        let whole = classify(serde_json::from_str(neither).unwrap());
        assert_eq!(
            format!("{whole:?}"),
            format!("{:?}", Err::<Incoming, _>(not_an_object()))
        );
    }
    let Ok(Body::Batch(items)) = Body::parse(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},3]"#)
    else {
        panic!("an array is a batch");
    };
    assert_eq!(items.len(), 2);
    for broken in ["", "{", "{\"id\":1,}", "[1,]", "{} {}", "{\"a\":1}x"] {
        assert!(Body::parse(broken.as_bytes()).is_err(), "{broken}");
    }
}

#[test]
fn requests_notifications_and_responses_are_told_apart() {
    let r = classify(json!({"jsonrpc": "2.0", "id": "a", "method": "ping"})).unwrap();
    assert!(matches!(r, Incoming::Request(Request { ref method, .. }) if method == "ping"));
    let n = classify(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert!(matches!(n, Ok(Incoming::Notification)));
    let s = classify(json!({"jsonrpc": "2.0", "id": 3, "result": {}}));
    assert!(matches!(s, Ok(Incoming::Response)));
}

#[test]
fn ids_must_be_strings_or_integers() {
    assert_eq!(
        code(json!({"jsonrpc": "2.0", "id": null, "method": "ping"})),
        -32600
    );
    assert_eq!(
        code(json!({"jsonrpc": "2.0", "id": 1.5, "method": "ping"})),
        -32600
    );
    assert_eq!(
        code(json!({"jsonrpc": "2.0", "id": [1], "method": "ping"})),
        -32600
    );
    assert!(classify(json!({"jsonrpc": "2.0", "id": u64::MAX, "method": "ping"})).is_ok());
    assert!(classify(json!({"jsonrpc": "2.0", "id": -7, "method": "ping"})).is_ok());
}

#[test]
fn malformed_messages_name_what_is_wrong() {
    assert_eq!(code(json!("ping")), -32600);
    assert_eq!(code(json!({"id": 1, "method": "ping"})), -32600);
    assert_eq!(
        code(json!({"jsonrpc": "2.0", "id": 1, "method": 5})),
        -32600
    );
    assert_eq!(code(json!({"jsonrpc": "2.0", "id": 1})), -32600);
    assert_eq!(
        code(json!({"jsonrpc": "2.0", "id": 1, "method": "x", "params": [1]})),
        -32602
    );
    let e = classify(json!({"jsonrpc": "1.0", "id": 9, "method": "x"})).unwrap_err();
    assert_eq!(
        e.id,
        Some(Id(json!(9))),
        "the readable id is kept for the answer"
    );
}
