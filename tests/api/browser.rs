//! Browser clients for real: the MCP Inspector opened in Debian's chromium (driven by
//! playwright-core, both installed by `scripts/test`), against the server behind the
//! repository's Traefik configuration with the Keycloak look-alike as the authorization server.
//! Each run saves a screenshot of the search result under `target/browser/`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::support::edge::Edge;

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The server's own log on the test's standard error, shown when a browser test fails.
fn server_log() {
    mcp_resource_server::telemetry::init_logging(
        Some(mcp_resource_server::config::LogFormat::Pretty),
        "info,mcp_resource_server=debug",
    );
}

/// Runs `tests/clients/inspector_browser.mjs` in `mode` and returns its report.
async fn inspector(edge: &Edge, mode: &str) -> (Value, PathBuf) {
    let shot = screenshots().join(format!("inspector-{mode}.png"));
    let _ = std::fs::remove_file(&shot);
    let args: [&std::ffi::OsStr; 5] = [
        edge.resource.as_ref(),
        edge.ca_file.as_os_str(),
        mode.as_ref(),
        "alice".as_ref(),
        shot.as_os_str(),
    ];
    let (report, stderr) = edge
        .run_client("inspector_browser.mjs", &args, Duration::from_secs(120))
        .await;
    // Shown when a later assertion fails.
    eprintln!("{mode}:\n{stderr}");
    (report, shot)
}

fn assert_searched(report: &Value, shot: &std::path::Path) {
    assert_eq!(
        report["tools"],
        serde_json::json!(["Search documents", "Fetch document"]),
        "{report}"
    );
    let ids = report["result"]["ids"].as_array().expect("search results");
    assert!(!ids.is_empty(), "{report}");
    let titles = report["result"]["titles"].as_array().unwrap();
    assert!(
        titles
            .iter()
            .any(|t| t.as_str().unwrap().to_lowercase().contains("chocolate")),
        "a hit for chocolate: {report}"
    );
    assert!(shot.exists(), "no screenshot at {}", shot.display());
}

/// Inspector v1, the line whose page can connect by itself, in both of its connection types.
#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_inspector_in_a_browser_signs_in_and_searches_directly_and_through_its_proxy() {
    server_log();
    let edge = Edge::start().await;

    // Straight from the page: every call to /mcp carries the Inspector's loopback Origin and
    // is answered, with the default settings.
    let (direct, shot) = inspector(&edge, "direct").await;
    assert_searched(&direct, &shot);
    let calls = direct["browserCallsToMcp"].as_array().unwrap();
    assert!(calls.iter().any(|c| c["status"] == 401), "{direct}");
    assert!(calls.iter().any(|c| c["status"] == 200), "{direct}");
    for call in calls {
        assert_eq!(call["origin"], "http://localhost:6274", "{direct}");
        // A GET for a standing stream gets 405 (the server keeps no sessions); nothing else fails.
        let fine = match call["method"].as_str().unwrap() {
            "GET" => call["status"] == 405,
            _ => [200, 202, 401].iter().any(|s| call["status"] == *s),
        };
        assert!(fine, "{call}: {direct}");
    }

    // Through the Inspector's proxy: the page never calls /mcp itself.
    let (proxied, shot) = inspector(&edge, "proxy").await;
    assert_searched(&proxied, &shot);
    assert_eq!(
        proxied["browserCallsToMcp"],
        serde_json::json!([]),
        "{proxied}"
    );
}

/// Inspector v2, what `npx @modelcontextprotocol/inspector` runs today: its web server holds the
/// connection for the page, at an initialize-based revision and at the stateless 2026-07-28 one.
#[tokio::test(flavor = "multi_thread")]
async fn the_current_mcp_inspector_in_a_browser_signs_in_and_searches_at_both_protocol_eras() {
    server_log();
    let edge = Edge::start().await;
    let (legacy, shot) = inspector(&edge, "latest").await;
    assert_searched(&legacy, &shot);
    assert_eq!(legacy["revision"], "2025-11-25", "{legacy}");
    let (modern, shot) = inspector(&edge, "modern").await;
    assert_searched(&modern, &shot);
    assert_eq!(modern["revision"], "2026-07-28", "{modern}");
}
