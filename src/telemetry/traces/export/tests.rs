use std::collections::HashMap;

use super::check;

fn read(vars: &[(&str, &str)]) -> Result<Option<String>, String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    check(|name| vars.get(name).cloned()).map_err(|e| e.to_string())
}

fn url(vars: &[(&str, &str)]) -> String {
    read(vars).unwrap().unwrap()
}

#[test]
fn the_general_endpoint_gets_the_traces_path_and_the_traces_endpoint_is_used_as_it_is() {
    assert!(read(&[]).unwrap().is_none());
    assert!(
        read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])
            .unwrap()
            .is_none()
    );
    assert_eq!(
        url(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]),
        "http://collector:4318/v1/traces"
    );
    assert_eq!(
        url(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector/otlp/")]),
        "https://collector/otlp/v1/traces"
    );
    assert_eq!(
        url(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:9999/custom"
            ),
        ]),
        "http://traces:9999/custom"
    );
}

#[test]
fn grpc_uses_the_general_endpoint_as_it_is() {
    assert_eq!(
        url(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]),
        "http://collector:4317/"
    );
    assert_eq!(
        url(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ]),
        "http://collector:4317/v1/traces",
        "the traces protocol wins"
    );
}

#[test]
fn the_url_logs_show_has_no_credentials() {
    assert_eq!(
        url(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://user:secret@collector:4318/v1/traces"
        )]),
        "https://collector:4318/v1/traces"
    );
}

#[test]
fn what_the_exporter_honours_passes() {
    let fine = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=general, x-team = search%20team ,",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=tr%3Daces+1"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ];
    assert_eq!(url(&fine), "http://collector:4318/v1/traces");
}

#[test]
fn settings_that_cannot_be_honoured_stop_start_up_naming_the_variable_and_never_a_header_value() {
    let wrong = |var: &str, value: &str| {
        let mut all = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            (var, value),
        ];
        if var == "OTEL_EXPORTER_OTLP_ENDPOINT" {
            all.remove(0);
        }
        let why = read(&all).unwrap_err();
        assert!(why.starts_with(var), "{why}");
        why
    };
    wrong("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318");
    wrong("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url");
    wrong("OTEL_EXPORTER_OTLP_ENDPOINT", "  ");
    wrong("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318 ");
    wrong(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "ftp://collector/v1/traces",
    );
    wrong("OTEL_EXPORTER_OTLP_TIMEOUT", "10s");
    wrong("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0");
    wrong("OTEL_EXPORTER_OTLP_TIMEOUT", "99");
    wrong("OTEL_EXPORTER_OTLP_TIMEOUT", "600000");
    wrong("OTEL_EXPORTER_OTLP_TIMEOUT", " 500");
    wrong("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    wrong("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift");
    wrong("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd");
    wrong("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "deflate");
    wrong("OTEL_EXPORTER_OTLP_HEADERS", "api-key");
    wrong("OTEL_EXPORTER_OTLP_HEADERS", "bad key=1");
    wrong("OTEL_EXPORTER_OTLP_HEADERS", "api-key=");
    let why = wrong("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=secret%0Aline");
    assert!(!why.contains("secret"), "{why}");
}
