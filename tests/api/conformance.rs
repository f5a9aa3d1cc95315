//! The MCP conformance suite (`@modelcontextprotocol/conformance`) against the real server,
//! through the real Traefik adding the bearer token the suite does not send.
//!
//! Every scenario that applies to a server offering tools is run at each revision it covers.
//! A check may fail only if it is listed in [`NOT_APPLICABLE`], each with the reason that
//! `docs/conformance.md` gives; any other failure, and any listed check that starts passing,
//! fails the test, so the list can only shrink.

use serde_json::Value;

use crate::support::peers::{InjectingProxy, TempDir, clients_dir, free_port, node};
use crate::support::*;

/// Scenario, revision.
const SCENARIOS: &[(&str, &str)] = &[
    ("server-initialize", "2025-11-25"),
    ("ping", "2025-11-25"),
    ("tools-list", "2025-11-25"),
    ("tools-list", "2026-07-28"),
    ("server-session-lifecycle", "2025-11-25"),
    ("dns-rebinding-protection", "2025-11-25"),
    ("dns-rebinding-protection", "2026-07-28"),
    ("server-stateless", "2026-07-28"),
    ("http-header-validation", "2026-07-28"),
    ("caching", "2026-07-28"),
    ("server-sse-multiple-streams", "2025-11-25"),
    ("server-sse-multiple-streams", "2026-07-28"),
];

/// Checks that exercise features this server does not offer: (scenario, check id).
const NOT_APPLICABLE: &[(&str, &str)] = &[
    // The suite probes these with its own diagnostic tools (test_missing_capability,
    // test_streaming_elicitation, test_logging_tool), which a production server does not list.
    (
        "server-stateless",
        "sep-2575-server-rejects-undeclared-capability",
    ),
    ("server-stateless", "sep-2575-missing-capability-http-400"),
    (
        "server-stateless",
        "sep-2575-http-server-no-independent-requests-on-stream",
    ),
    (
        "server-stateless",
        "sep-2575-server-no-log-without-loglevel",
    ),
    // This server offers tools only; it declares no prompts or resources capability.
    ("caching", "sep-2549-prompts-list-caching-hints"),
    ("caching", "sep-2549-resources-list-caching-hints"),
    ("caching", "sep-2549-resources-templates-list-caching-hints"),
];

struct Check {
    scenario: String,
    version: String,
    id: String,
    status: String,
    message: String,
}

async fn scenario(url: &str, name: &str, version: &str) -> Vec<Check> {
    let cwd = TempDir::new("conformance");
    let suite = clients_dir().join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    let suite = suite.to_str().unwrap();
    let out = cwd.0.join("results");
    let out = out.to_str().unwrap();
    let args = [
        suite,
        "server",
        "--url",
        url,
        "--scenario",
        name,
        "--spec-version",
        version,
        "-o",
        out,
    ];
    // The suite exits non-zero when a check fails; the checks themselves are judged below.
    let output = tokio::process::Command::new(node())
        .args(args)
        .current_dir(&cwd.0)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run the conformance suite");
    let entries = std::fs::read_dir(out).unwrap_or_else(|_| {
        panic!(
            "{name} {version}: the suite wrote no results:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let mut checks = Vec::new();
    for entry in entries {
        let file = entry.unwrap().path().join("checks.json");
        let list: Vec<Value> = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        for c in list {
            checks.push(Check {
                scenario: name.into(),
                version: version.into(),
                id: c["id"].as_str().unwrap_or("?").into(),
                status: c["status"].as_str().unwrap_or("?").into(),
                message: c["errorMessage"].as_str().unwrap_or("").into(),
            });
        }
    }
    assert!(!checks.is_empty(), "{name} {version}: no checks ran");
    checks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_every_scenario_that_applies() {
    // The defaults: the suite's DNS-rebinding scenario sends `Origin: http://localhost:<port>`,
    // which a loopback page is allowed to, and a foreign origin, which must be refused.
    let s = Stack::start().await;
    let proxy = InjectingProxy::start(free_port(), &s.server.base, &token(&s.keys)).await;
    let url = format!("http://localhost:{}/mcp", proxy.port);
    let mut unexpected = Vec::new();
    let mut seen_na = Vec::new();
    for (name, version) in SCENARIOS {
        let checks = scenario(&url, name, version).await;
        let count = |status: &str| checks.iter().filter(|c| c.status == status).count();
        eprintln!(
            "{name} {version}: {} success, {} failure, {} warning, {} skipped or info",
            count("SUCCESS"),
            count("FAILURE"),
            count("WARNING"),
            count("SKIPPED") + count("INFO")
        );
        for c in checks {
            if c.status == "WARNING" {
                eprintln!("  warning {}: {}", c.id, c.message);
            }
            let listed = NOT_APPLICABLE.contains(&(c.scenario.as_str(), c.id.as_str()));
            match (c.status.as_str(), listed) {
                ("FAILURE", true) => seen_na.push((c.scenario.clone(), c.id.clone())),
                ("FAILURE", false) => unexpected.push(format!(
                    "{} {} {}: {}",
                    c.scenario, c.version, c.id, c.message
                )),
                (_, true) => unexpected.push(format!(
                    "{} {} {} now passes ({}); remove it from NOT_APPLICABLE",
                    c.scenario, c.version, c.id, c.status
                )),
                _ => {}
            }
        }
    }
    for (name, id) in NOT_APPLICABLE {
        if !seen_na.iter().any(|(n, i)| n == name && i == id) {
            unexpected.push(format!(
                "{name} {id} is listed as not applicable but did not fail; remove it from NOT_APPLICABLE"
            ));
        }
    }
    assert!(
        unexpected.is_empty(),
        "conformance failures:\n{}",
        unexpected.join("\n")
    );
}
