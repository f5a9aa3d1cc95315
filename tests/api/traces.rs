//! OpenTelemetry traces from the real binary, received by an OTLP/HTTP (protobuf) receiver run
//! here: the caller's W3C trace continues, the spans nest request > token check and message >
//! tool, with the semantic conventions' attribute names, and no token is in any of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use serde_json::json;

use crate::process::{serve_ready, temp_file, terminate};
use crate::support::mcp::request;
use crate::support::peers::free_port;
use crate::support::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const REFUSED_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4701";
const FAILED_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4702";
const ERROR_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4703";
const UNSAMPLED_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4704";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A span's attributes, as text.
fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => s.clone(),
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// What a receiver keeps: every body, or every `api-key` header, it is sent.
type Kept<T> = Arc<Mutex<Vec<T>>>;

/// An OTLP/HTTP receiver: every `POST /v1/traces` body it is sent.
async fn receiver() -> (String, Kept<Bytes>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (url, received, _) = receive(listener);
    (url, received)
}

/// A receiver on `listener`; also every `api-key` header it is sent.
fn receive(listener: tokio::net::TcpListener) -> (String, Kept<Bytes>, Kept<String>) {
    let received: Kept<Bytes> = Arc::default();
    let keys: Kept<String> = Arc::default();
    let (kept, keys_kept) = (received.clone(), keys.clone());
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: Bytes| async move {
                if let Some(key) = headers.get("api-key").and_then(|v| v.to_str().ok()) {
                    keys_kept.lock().unwrap().push(key.to_owned());
                }
                kept.lock().unwrap().push(body);
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            },
        ),
    );
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received, keys)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_is_one_trace_continuing_the_callers() {
    let (collector, received) = receiver().await;
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let log = temp_file("traces.log");
    let extra = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_SERVICE_NAME", "mcp-test".to_owned()),
    ];
    let (mut child, server) = serve_ready(&kc, &extra, &log).await;
    let token = token(&keys);
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let search = request(
        7,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "chocolate"}}),
    );
    let reply = server
        .rpc(
            &token,
            &search,
            &[
                ("mcp-protocol-version", "2025-11-25"),
                ("traceparent", traceparent.as_str()),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // A refused token, a tool's error result and a JSON-RPC error, each in a trace of its own.
    let traced = |trace: &str| {
        [
            ("mcp-protocol-version", "2025-11-25".to_owned()),
            ("traceparent", format!("00-{trace}-{PARENT_ID}-01")),
        ]
    };
    let calls = [
        (
            REFUSED_TRACE,
            "not-a-token",
            "search",
            json!({"query": "x"}),
            401,
        ),
        (
            FAILED_TRACE,
            token.as_str(),
            "fetch",
            json!({"id": "no-such-document"}),
            200,
        ),
        (ERROR_TRACE, token.as_str(), "no_such_tool", json!({}), 200),
    ];
    // A caller that did not sample its trace: the server follows its decision.
    let unsampled = [
        ("mcp-protocol-version", "2025-11-25"),
        (
            "traceparent",
            &format!("00-{UNSAMPLED_TRACE}-{PARENT_ID}-00"),
        ),
    ];
    let reply = server.rpc(&token, &search, &unsampled).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    for (trace, bearer, tool, arguments, status) in calls {
        let call = request(
            8,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        );
        let headers = traced(trace);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = server.rpc(bearer, &call, &headers).await;
        assert_eq!(reply.status, status, "{}", reply.text);
    }
    // Stopping flushes what is queued.
    assert_eq!(terminate(&mut child), 0);

    let mut spans = Vec::new();
    let mut services = Vec::new();
    for body in received.lock().unwrap().iter() {
        let export = ExportTraceServiceRequest::decode(body.as_ref()).expect("OTLP protobuf");
        for resource in export.resource_spans {
            if let Some(r) = &resource.resource {
                let service = r.attributes.iter().find(|kv| kv.key == "service.name");
                services.extend(service.and_then(|kv| kv.value.clone()));
            }
            spans.extend(resource.scope_spans.into_iter().flat_map(|s| s.spans));
        }
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!spans.is_empty(), "no spans arrived:\n{log_text}");
    assert!(
        services
            .iter()
            .all(|v| matches!(&v.value, Some(Any::StringValue(s)) if s == "mcp-test")),
        "{services:?}"
    );
    let ours: Vec<&Span> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE_ID)
        .collect();
    let named = |name: &str| -> &Span {
        ours.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name}: {:?}",
                ours.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let request_span = named("POST /mcp");
    assert_eq!(
        hex(&request_span.parent_span_id),
        PARENT_ID,
        "the caller's trace continues"
    );
    assert_eq!(request_span.kind, SpanKind::Server as i32);
    let http = attributes(request_span);
    assert_eq!(http["http.request.method"], "POST");
    assert_eq!(http["http.route"], "/mcp");
    assert_eq!(http["http.response.status_code"], "200");

    let check = named("token check");
    assert_eq!(check.parent_span_id, request_span.span_id);
    assert_eq!(check.kind, SpanKind::Internal as i32);
    assert_eq!(attributes(check)["token_cache"], "miss");

    let message = named("tools/call search");
    assert_eq!(message.parent_span_id, request_span.span_id);
    let mcp = attributes(message);
    assert_eq!(mcp["mcp.method.name"], "tools/call");
    assert_eq!(mcp["mcp.protocol.version"], "2025-11-25");
    assert_eq!(mcp["jsonrpc.request.id"], "7");
    assert_eq!(mcp["gen_ai.tool.name"], "search");

    let tool = named("execute_tool search");
    assert_eq!(tool.parent_span_id, message.span_id);
    assert_eq!(attributes(tool)["gen_ai.operation.name"], "execute_tool");

    assert!(
        !spans.iter().any(|s| hex(&s.trace_id) == UNSAMPLED_TRACE),
        "a trace the caller did not sample has no spans"
    );
    // Failures carry error.type and an error status.
    let in_trace = |trace: &str, name: &str| -> &Span {
        spans
            .iter()
            .find(|s| hex(&s.trace_id) == trace && s.name == name)
            .unwrap_or_else(|| panic!("no span {name} in trace {trace}"))
    };
    let failed = |span: &Span, error_type: &str| {
        let attributes = attributes(span);
        assert_eq!(
            attributes.get("error.type").map(String::as_str),
            Some(error_type),
            "{span:?}"
        );
        assert_eq!(
            span.status.as_ref().map(|s| s.code),
            Some(StatusCode::Error as i32),
            "{span:?}"
        );
    };
    failed(in_trace(REFUSED_TRACE, "token check"), "malformed");
    failed(in_trace(FAILED_TRACE, "execute_tool fetch"), "tool_error");
    let error = in_trace(ERROR_TRACE, "tools/call");
    failed(error, "-32602");
    assert_eq!(attributes(error)["rpc.response.status_code"], "-32602");
    assert!(
        !attributes(in_trace(TRACE_ID, "tools/call search")).contains_key("error.type"),
        "a call answered is no error"
    );

    let signature = token.rsplit('.').next().unwrap();
    for span in &spans {
        for value in attributes(span).values() {
            assert!(
                !value.contains(signature),
                "a token reached a span: {span:?}"
            );
            assert!(
                !value.contains("chocolate"),
                "a query reached a span: {span:?}"
            );
        }
    }
    // Spans never reach the log, whose lines keep the request's span.
    assert!(!log_text.contains("token check"), "{log_text}");
    let _ = std::fs::remove_file(log);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_that_is_down_never_holds_up_a_request_and_is_used_once_it_is_back() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let log = temp_file("traces-down.log");
    // Nothing listens on the collector's port yet; the queue of spans waiting to go is small.
    let port = free_port();
    let extra = [
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://127.0.0.1:{port}/v1/traces"),
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=secret%2Dkey".to_owned(),
        ),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "16".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("MCP_RATE_LIMIT_PER_MIN", "0".to_owned()),
    ];
    let (mut child, server) = serve_ready(&kc, &extra, &log).await;
    let token = token(&keys);
    let searches = async |numbers: std::ops::Range<i64>| {
        for n in numbers {
            let query = json!({"name": "search", "arguments": {"query": format!("cupcake {n}")}});
            let reply = server
                .rpc(
                    &token,
                    &request(n, "tools/call", query),
                    &[("mcp-protocol-version", "2025-11-25")],
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text);
        }
    };
    searches(0..200).await;
    // Until the batch processor has tried, and failed, to export.
    let failed = |text: &str| text.matches("trace export failed").count();
    wait_until(|| failed(&std::fs::read_to_string(&log).unwrap_or_default()) > 0).await;

    // The collector comes up on that port: spans reach it, with the header the variable named.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (_, received, api_keys) = receive(listener);
    searches(200..210).await;
    wait_until(|| !received.lock().unwrap().is_empty()).await;
    assert!(api_keys.lock().unwrap().iter().all(|k| k == "secret-key"));
    assert!(!api_keys.lock().unwrap().is_empty());

    assert_eq!(
        terminate(&mut child),
        0,
        "a stop does not wait on a collector for ever"
    );
    // The outage is logged when it begins and when it ends, not at every batch, and the
    // header's value (often a secret) is never in the log.
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(failed(&text), 1, "{text}");
    assert_eq!(
        text.matches("trace export works again").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
    let _ = std::fs::remove_file(log);
}

/// Waits up to 10 s for `done`.
async fn wait_until(done: impl Fn() -> bool) {
    let held = async || done();
    assert!(
        wait::comes_true(std::time::Duration::from_secs(10), held).await,
        "waited 10 s in vain"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_caller_sends_never_names_a_span_and_is_bounded_in_spans_and_logs() {
    let (collector, received) = receiver().await;
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let log = temp_file("traces-hostile.log");
    let extra = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("MCP_AUDIT_QUERIES", "text".to_owned()),
    ];
    let (mut child, server) = serve_ready(&kc, &extra, &log).await;
    let token = token(&keys);
    let era = [("mcp-protocol-version", "2025-11-25")];
    let logged = || std::fs::metadata(&log).map_or(0, |m| m.len());

    // A fetch id of a megabyte: refused before any work, and not written whole anywhere.
    let before = logged();
    let id = "x".repeat(1_000_000);
    let call = request(
        1,
        "tools/call",
        json!({"name": "fetch", "arguments": {"id": id}}),
    );
    let reply = server.rpc(&token, &call, &era).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        reply.text.contains("no document id is longer than 512"),
        "{}",
        &reply.text[..300.min(reply.text.len())]
    );
    assert!(
        reply.text.len() < 2_000,
        "the answer quotes the id: {} bytes",
        reply.text.len()
    );
    // A method of 20 kB and fifty made-up ones.
    let long_method = "m".repeat(20_000);
    let reply = server
        .rpc(&token, &request(2, &long_method, json!({})), &era)
        .await;
    // Method not found: a JSON-RPC error, quoting the method cut short.
    assert_eq!(reply.status, 200);
    assert!(reply.text.contains("-32601"), "{}", &reply.text[..200]);
    assert!(reply.text.len() < 3_000, "{} bytes", reply.text.len());
    for i in 0..50 {
        let method = format!("made/up-{i}-{}", "z".repeat(i * 40));
        let reply = server
            .rpc(&token, &request(3 + i as i64, &method, json!({})), &era)
            .await;
        assert!(reply.text.contains("-32601"), "{}", reply.text);
    }
    assert_eq!(terminate(&mut child), 0);
    let grown = logged() - before;
    assert!(grown < 200_000, "the log grew by {grown} bytes");

    let mut spans = Vec::new();
    for body in received.lock().unwrap().iter() {
        let export = ExportTraceServiceRequest::decode(body.as_ref()).expect("OTLP protobuf");
        for resource in export.resource_spans {
            spans.extend(resource.scope_spans.into_iter().flat_map(|s| s.spans));
        }
    }
    let names: std::collections::BTreeSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let fixed = [
        "GET /readyz",
        "POST /mcp",
        "token check",
        "unknown",
        "tools/call fetch",
        "execute_tool fetch",
    ];
    assert!(
        names.iter().all(|n| fixed.contains(n)),
        "span names: {names:?}"
    );
    assert!(names.contains("unknown"), "{names:?}");
    for span in &spans {
        for (key, value) in attributes(span) {
            assert!(
                value.chars().count() <= 1_200,
                "{key} of {} is {} long",
                span.name,
                value.len()
            );
        }
    }
    let _ = std::fs::remove_file(log);
}

/// The resident memory of process `pid`, in bytes.
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_that_never_answers_and_hostile_methods_leave_memory_bounded() {
    // A collector that takes connections and never answers them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(10_000) {
            held.push(stream);
        }
    });
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let log = temp_file("traces-silent.log");
    // The defaults otherwise: the queue, its batches and the export timeout. One caller sends
    // all the requests, past the default allowance of requests.
    let extra = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
        ("MCP_REQUEST_LIMIT_PER_MIN", "0".to_owned()),
    ];
    let (mut child, server) = serve_ready(&kc, &extra, &log).await;
    let token = token(&keys);
    let era = [("mcp-protocol-version", "2025-11-25")];
    let idle = resident(child.id());
    let logged_before = std::fs::metadata(&log).map_or(0, |m| m.len());
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..1_000_i64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let method = format!("{seed:x}/{}", "q".repeat(20_000));
        let reply = server
            .rpc(&token, &request(i, &method, json!({})), &era)
            .await;
        assert!(reply.text.contains("-32601"), "{}", reply.status);
    }
    let busy = resident(child.id());
    let dropped = server.metric("mcp_trace_spans_dropped_total").await;
    assert_eq!(terminate(&mut child), 0);
    let logged = std::fs::metadata(&log).map_or(0, |m| m.len()) - logged_before;
    // 20 MB of method names went in; what the log holds of them is bounded.
    assert!(logged < 1_000_000, "the log grew by {logged} bytes");
    let grown = busy.saturating_sub(idle);
    println!(
        "resident: idle {idle} B, after 1 000 hostile methods {busy} B (+{grown}); {dropped} spans dropped; log +{logged} B"
    );
    assert!(grown < 64 << 20, "memory grew by {grown} bytes");
    // 3 000 spans (request, token check, message), a batch of 512 stuck in an export that
    // never ends and a queue of 2 048 behind it: the rest was dropped, and counted.
    assert!(
        (400.0..=3_000.0).contains(&dropped),
        "{dropped} spans dropped"
    );
    let _ = std::fs::remove_file(log);
}

/// A gRPC collector: every export request it is sent, and the `grpc-encoding` of each.
async fn grpc_receiver() -> (String, Kept<(ExportTraceServiceRequest, String)>) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };

    struct Collector(Kept<(ExportTraceServiceRequest, String)>);
    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let encoding = request
                .metadata()
                .get("grpc-encoding")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("identity")
                .to_owned();
            self.0
                .lock()
                .unwrap()
                .push((request.into_inner(), encoding));
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Kept<(ExportTraceServiceRequest, String)> = Arc::default();
    let service = TraceServiceServer::new(Collector(received.clone()))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    (url, received)
}

/// One search through a server started with `extra`, then a stop, which flushes its spans.
async fn one_search_exports(extra: &[(&str, String)], log: &std::path::PathBuf) {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let (mut child, server) = serve_ready(&kc, extra, log).await;
    let search = request(
        7,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "chocolate"}}),
    );
    let reply = server
        .rpc(
            &token(&keys),
            &search,
            &[("mcp-protocol-version", "2025-11-25")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Stopping flushes what is queued.
    assert_eq!(terminate(&mut child), 0);
}

/// Asserts that `exports` hold the spans of one search (the server's log says why when they do
/// not), then removes the log.
fn assert_one_search(exports: Vec<ExportTraceServiceRequest>, log: std::path::PathBuf) {
    let names: Vec<String> = exports
        .into_iter()
        .flat_map(|e| e.resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(|s| s.name)
        .collect();
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        names.iter().any(|n| n == "POST /mcp"),
        "{names:?}\n{}",
        said()
    );
    assert!(
        names.iter().any(|n| n == "tools/call search"),
        "{names:?}\n{}",
        said()
    );
    let _ = std::fs::remove_file(log);
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_go_gzipped_or_by_grpc_as_the_standard_variables_ask() {
    // OTLP/HTTP with gzip: the body says so and is gzip.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let bodies: Kept<(String, Bytes)> = Arc::default();
    let kept = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: Bytes| async move {
                let encoding = headers
                    .get("content-encoding")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("identity")
                    .to_owned();
                kept.lock().unwrap().push((encoding, body));
                "".to_owned()
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let log = temp_file("traces-gzip.log");
    let extra = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    one_search_exports(&extra, &log).await;
    let bodies = bodies.lock().unwrap().clone();
    let exports = bodies.iter().map(|(encoding, body)| {
        assert_eq!(encoding, "gzip");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body.as_ref()), &mut plain)
            .expect("a gzip body");
        ExportTraceServiceRequest::decode(plain.as_slice()).expect("OTLP protobuf")
    });
    assert_one_search(exports.collect(), log);

    // gRPC, gzipped too, on the general endpoint as it is.
    let (url, received) = grpc_receiver().await;
    let log = temp_file("traces-grpc.log");
    let extra = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    one_search_exports(&extra, &log).await;
    let received = received.lock().unwrap().clone();
    assert!(received.iter().all(|(_, encoding)| encoding == "gzip"));
    assert_one_search(
        received.into_iter().map(|(export, _)| export).collect(),
        log,
    );
}
