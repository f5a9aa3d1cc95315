use super::*;
use crate::mcp::http::quality;
use axum::http::{HeaderValue, header};

fn headers(accept: &[&'static str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for a in accept {
        h.append(header::ACCEPT, HeaderValue::from_static(a));
    }
    h
}

#[test]
fn the_sdk_accept_value_gets_the_answer_parsing_would_give() {
    let sdk = "application/json, text/event-stream";
    assert_eq!(quality(sdk, "application", "json"), 1.0);
    assert_eq!(quality(sdk, "text", "event-stream"), 1.0);
    assert_eq!(
        check_media(&headers(&[sdk])).unwrap(),
        Accept { prefers_sse: false }
    );
    // Any other spelling goes through the parser.
    assert_eq!(
        check_media(&headers(&["application/json;q=0.5, text/event-stream"])).unwrap(),
        Accept { prefers_sse: true }
    );
    assert_eq!(
        check_media(&headers(&["application/json", "text/event-stream"])).unwrap(),
        Accept { prefers_sse: false }
    );
    assert!(check_media(&headers(&["application/json"])).is_err());
}

#[tokio::test]
async fn a_message_with_a_rendered_result_is_sent_whole_with_its_length() {
    let ping = serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let Ok(Incoming::Request(request)) = jsonrpc::classify(ping) else {
        panic!("a ping is a request");
    };
    let message = jsonrpc::success(
        &request.id,
        jsonrpc::Payload::Rendered(Bytes::from_static(br#"{"content":[]}"#)),
    );
    let text = message.text().into_owned();
    let response = json(StatusCode::OK, message);
    let body = response.into_body();
    assert_eq!(
        axum::body::HttpBody::size_hint(&body).exact(),
        Some(text.len() as u64)
    );
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    assert_eq!(&bytes[..], text.as_bytes());
    assert_eq!(text, r#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#);
}

#[test]
fn the_message_for_the_former_batch_setting_gives_the_bound() {
    let (_, why) = crate::config::known::FORMER
        .iter()
        .find(|(old, _)| *old == "MCP_MAX_BATCH")
        .expect("a former setting");
    let bound = format!("fixed {} messages", dispatch::MAX_BATCH);
    assert!(why.contains(&bound), "{why}");
}
