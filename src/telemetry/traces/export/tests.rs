use std::collections::HashMap;
use std::time::Duration;

use super::Destination;

fn read(vars: &[(&str, &str)]) -> Result<Option<Destination>, String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Destination::from_env(|name| vars.get(name).cloned())
}

fn url(vars: &[(&str, &str)]) -> String {
    read(vars).unwrap().unwrap().url.to_string()
}

#[test]
fn the_general_endpoint_gets_the_traces_path_and_the_traces_endpoint_is_used_as_it_is() {
    assert!(read(&[]).unwrap().is_none());
    assert!(
        read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")])
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
fn headers_are_merged_the_traces_ones_winning_and_values_are_percent_decoded() {
    let d = read(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=general, x-team = search%20team ,",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=tr%3Daces+1"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(d.headers.len(), 2);
    assert_eq!(d.headers["api-key"], "tr=aces+1");
    assert_eq!(d.headers["x-team"], "search team");
    assert_eq!(d.timeout, Duration::from_secs(10));
}

#[test]
fn the_timeout_is_in_milliseconds_and_the_traces_one_wins() {
    let timeout = |vars: &[(&str, &str)]| {
        let mut all = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
        all.extend_from_slice(vars);
        read(&all).map(|d| d.unwrap().timeout)
    };
    assert_eq!(
        timeout(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]),
        Ok(Duration::from_millis(2500))
    );
    assert_eq!(
        timeout(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300")
        ]),
        Ok(Duration::from_millis(300))
    );
    assert_eq!(
        timeout(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]),
        Ok(Duration::from_secs(10))
    );
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
    wrong(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "ftp://collector/v1/traces",
    );
    wrong("OTEL_EXPORTER_OTLP_TIMEOUT", "10s");
    wrong("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0");
    wrong("OTEL_EXPORTER_OTLP_TIMEOUT", "99");
    wrong("OTEL_EXPORTER_OTLP_TIMEOUT", "600000");
    wrong("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    wrong("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json");
    wrong("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    wrong("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd");
    wrong("OTEL_EXPORTER_OTLP_HEADERS", "api-key");
    wrong("OTEL_EXPORTER_OTLP_HEADERS", "bad key=1");
    let why = wrong("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=secret%0Aline");
    assert!(!why.contains("secret"), "{why}");
}
