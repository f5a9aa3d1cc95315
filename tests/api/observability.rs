//! deploy/observability: every metric the Grafana dashboard and the Prometheus alert rules name
//! is one the server exports (scraped from its `/metrics` here), with the labels they select
//! on; the rules pass `promtool check rules` and their own unit tests (`promtool test rules`);
//! each alert has its runbook line in docs/operations.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::mcp::request;
use crate::support::*;

const FOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/observability");

/// Each metric a PromQL expression names (only the server's, `mcp_...`), with the label names
/// its selector uses.
fn named(expr: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let bytes = expr.as_bytes();
    let mut at = 0;
    while let Some(start) = expr[at..].find("mcp_").map(|i| at + i) {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut end = start;
        while end < bytes.len() && word(bytes[end]) {
            end += 1;
        }
        at = end;
        if start > 0 && word(bytes[start - 1]) {
            continue;
        }
        let name = expr[start..end].to_owned();
        let mut labels = Vec::new();
        if expr[end..].starts_with('{') {
            let close = end + expr[end..].find('}').expect("a closed selector");
            for matcher in expr[end + 1..close].split(',') {
                let key: String = matcher
                    .trim()
                    .chars()
                    .take_while(|c| !"=!~".contains(*c))
                    .collect();
                labels.push(key.trim().to_owned());
            }
            at = close;
        }
        found.push((name, labels));
    }
    found
}

/// Every sample name the server exports, with the label names its samples carry.
async fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let s = Stack::start().await;
    let t = token(&s.keys);
    // A search and a refused token, so that the request and rejection series exist.
    let search = request(
        1,
        "tools/call",
        json!({"name": "search", "arguments": {"query": "cupcake"}}),
    );
    s.server.rpc_at(&t, &search, "2025-11-25").await;
    s.server.rpc_at("not.a.token", &search, "2025-11-25").await;
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in s.server.metrics().await.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let series = line.split(' ').next().unwrap();
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let keys = names.entry(name.to_owned()).or_default();
        for pair in labels
            .trim_end_matches('}')
            .split(',')
            .filter(|p| !p.is_empty())
        {
            keys.insert(pair.split('=').next().unwrap().to_owned());
        }
    }
    names
}

fn assert_exported(exprs: &[String], exported: &BTreeMap<String, BTreeSet<String>>, from: &str) {
    for expr in exprs {
        let metrics = named(expr);
        assert!(
            !metrics.is_empty() || expr.contains("up{"),
            "{from}: `{expr}` names no metric of the server"
        );
        for (name, labels) in metrics {
            let Some(keys) = exported.get(&name) else {
                panic!("{from}: `{expr}` names {name}, which /metrics does not have: {exported:?}");
            };
            // Prometheus adds `job` and `instance` to every series it scrapes.
            for label in labels.into_iter().filter(|l| l != "job" && l != "instance") {
                assert!(
                    keys.contains(&label),
                    "{from}: `{expr}` selects {name} on `{label}`, which it does not carry ({keys:?})"
                );
            }
        }
    }
}

fn promtool() -> String {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    let found = Command::new(&promtool).arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "{promtool} is missing: apt-get install prometheus (scripts/test installs it), or set PROMTOOL"
    );
    promtool
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_and_the_alerts_name_only_metrics_the_server_exports() {
    let exported = exported().await;

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FOLDER).join("dashboard.json")).unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    let mut exprs = Vec::new();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        exprs.extend(
            targets
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_owned()),
        );
    }
    assert_exported(&exprs, &exported, "dashboard.json");
    // What the dashboard must show.
    let shown: BTreeSet<String> = exprs
        .iter()
        .flat_map(|e| named(e))
        .map(|(n, _)| n)
        .collect();
    for needed in [
        "mcp_http_requests_total",
        "mcp_http_request_duration_seconds_bucket",
        "mcp_token_rejections_total",
        "mcp_jwks_age_seconds",
        "mcp_jwks_fetches_total",
        "mcp_search_cache_total",
        "mcp_sse_sessions",
        "mcp_fair_use_refusals_total",
    ] {
        assert!(
            shown.contains(needed),
            "the dashboard does not show {needed}"
        );
    }

    let rules: Value = serde_norway::from_str(
        &std::fs::read_to_string(Path::new(FOLDER).join("alerts.yaml")).unwrap(),
    )
    .unwrap();
    let operations =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
            .unwrap();
    let mut alerts = Vec::new();
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        alerts.push(rule["expr"].as_str().unwrap().to_owned());
        assert_eq!(
            rule["annotations"]["runbook_url"], "docs/operations.md#alerts",
            "{name}"
        );
        assert!(
            operations
                .lines()
                .any(|l| l.starts_with(&format!("- `{name}`"))),
            "docs/operations.md has no runbook line for {name}"
        );
    }
    assert!(alerts.len() >= 6, "{alerts:?}");
    assert_exported(&alerts, &exported, "alerts.yaml");
}

#[test]
fn promtool_accepts_the_rules_and_each_alert_fires_when_it_should() {
    let promtool = promtool();
    for args in [
        ["check", "rules", "alerts.yaml"],
        ["test", "rules", "alerts.test.yaml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(FOLDER)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
