//! Gates C and D: the running server at its public URL. Without a token it must answer 401 with
//! a challenge naming its metadata (RFC 9728 §5.1); the metadata must be served at the
//! path-specific and the root well-known URL with `resource` equal to the URL and
//! `authorization_servers` equal to the issuer; with a token, `tools/list` must offer every tool
//! of [`crate::tools::TOOLS`] with the inputs this build declares, as ChatGPT expects them.

use serde_json::{Value, json};
use url::Url;

use super::Report;
use super::dpop::ProofKey;
use crate::config::Settings;

const ACCEPT: &str = "application/json, text/event-stream";

/// How gate D calls the server: with the token, and with `--dpop` the key it is bound to.
#[derive(Clone, Copy)]
pub(super) struct GateCaller<'a> {
    pub token: Option<&'a str>,
    pub key: Option<&'a ProofKey>,
}

pub(super) async fn check(
    s: &Settings,
    url: &str,
    caller: GateCaller<'_>,
    client: &reqwest::Client,
    r: &mut Report,
) {
    let Ok(parsed) = Url::parse(url) else {
        r.fail(
            'C',
            "challenge names the metadata",
            format!("--url {url}"),
            "an absolute URL such as https://mcp.example.com/mcp",
            "pass the URL clients connect to",
        );
        return;
    };
    challenge(url, caller.key.is_some(), client, r).await;
    let path = parsed.path().trim_end_matches('/');
    let origin = parsed.origin().ascii_serialization();
    for (check, at) in [
        (
            "metadata at the resource's well-known path",
            format!("{origin}/.well-known/oauth-protected-resource{path}"),
        ),
        (
            "metadata at the root well-known path",
            format!("{origin}/.well-known/oauth-protected-resource"),
        ),
    ] {
        metadata(s, url, check, &at, client, r).await;
    }
    match caller.token {
        Some(t) => {
            tools(url, t, caller.key, client, r).await;
            if caller.key.is_some() {
                stolen(url, t, client, r).await;
            }
        }
        None => r.skip(
            'D',
            "tools/list",
            "pass --token or client credentials to call the server",
        ),
    }
}

async fn challenge(url: &str, dpop: bool, client: &reqwest::Client, r: &mut Report) {
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let response = client
        .post(url)
        .header("accept", ACCEPT)
        .json(&ping)
        .send()
        .await;
    let check = "challenge names the metadata";
    let expected = "401 with WWW-Authenticate: Bearer (or DPoP) resource_metadata=\"…\"";
    match response {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers: Vec<String> = resp
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect();
            let names_metadata = |scheme: &str| {
                headers
                    .iter()
                    .any(|h| h.starts_with(scheme) && h.contains("resource_metadata=\""))
            };
            let ok = status == 401 && (names_metadata("Bearer ") || names_metadata("DPoP "));
            let shown = format!("{status} {}", headers.join(" | "));
            if dpop {
                r.expect('C', "challenge offers DPoP", status == 401 && names_metadata("DPoP "), shown.clone(),
                    "401 with WWW-Authenticate: DPoP algs=\"…\" resource_metadata=\"…\"",
                    "the server in front of this URL does not offer DPoP: run a server version with DPoP support");
            }
            r.expect('C', check, ok, shown, expected,
                "the URL must reach this server's /mcp (through the proxy) and nothing in front may swallow WWW-Authenticate");
        }
        Err(e) => r.fail(
            'C',
            check,
            super::describe(e),
            expected,
            "the public URL must be reachable from here (DNS, TLS, proxy routes)",
        ),
    }
}

async fn metadata(
    s: &Settings,
    url: &str,
    check: &'static str,
    at: &str,
    client: &reqwest::Client,
    r: &mut Report,
) {
    let expected = format!(
        "resource \"{url}\", authorization_servers [\"{}\"]",
        s.issuer
    );
    let doc: Value = match client.get(at).send().await {
        Ok(resp) if resp.status().is_success() => super::json_body(resp).await,
        Ok(resp) => {
            r.fail(
                'C',
                check,
                format!("{} from {at}", resp.status()),
                expected,
                "route /.well-known/oauth-protected-resource* on the MCP host to this server",
            );
            return;
        }
        Err(e) => {
            r.fail(
                'C',
                check,
                super::describe(e),
                expected,
                "route /.well-known/oauth-protected-resource* on the MCP host to this server",
            );
            return;
        }
    };
    let resource = doc["resource"].as_str().unwrap_or("(none)");
    let servers = &doc["authorization_servers"];
    let ok = resource == url && *servers == json!([s.issuer]);
    r.expect('C', check, ok, format!("resource \"{resource}\", authorization_servers {servers}"), expected,
        "MCP_RESOURCE (or MCP_SERVER_URL) must be exactly the URL clients connect to, and KC_ISSUER the issuer");
}

/// A `tools/list` request of the 2025-11-25 era, without credentials.
fn tools_list(client: &reqwest::Client, url: &str, id: u64) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}))
}

async fn tools(
    url: &str,
    token: &str,
    key: Option<&ProofKey>,
    client: &reqwest::Client,
    r: &mut Report,
) {
    let request = tools_list(client, url, 2);
    let request = match key {
        Some(key) => request
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", key.proof("POST", url, Some(token), None)),
        None => request.bearer_auth(token),
    };
    let response = request.send().await;
    let body: Value = match response {
        Ok(resp) if resp.status().is_success() => super::json_body(resp).await,
        Ok(resp) => {
            let status = resp.status();
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            r.fail('D', "tools/list", format!("{status} {challenge}"), "200 with the tools", "the server refused the token: the challenge's error_description says why (gate B shows the claims)");
            return;
        }
        Err(e) => {
            r.fail(
                'D',
                "tools/list",
                super::describe(e),
                "200 with the tools",
                "the URL must be reachable",
            );
            return;
        }
    };
    let tools = body["result"]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    r.pass(
        'D',
        "tools/list",
        format!("tools {names:?}"),
        crate::tools::listed("and").replace('`', ""),
    );
    for expected in crate::tools::TOOLS {
        tool_contract(expected.definition(), &tools, r);
    }
}

/// With `--dpop`: the DPoP-bound token sent as a Bearer token, as a thief without the key
/// would send it, must be refused.
async fn stolen(url: &str, token: &str, client: &reqwest::Client, r: &mut Report) {
    let response = tools_list(client, url, 3).bearer_auth(token).send().await;
    let check = "the token without its key is refused";
    let expected = "401: the token is DPoP-bound and was sent as Bearer";
    match response {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let header = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            r.expect('D', check, status == 401 && header.contains("DPoP-bound"), format!("{status} {header}"), expected,
                "the server let a DPoP-bound token in without its proof: a stolen token would work there");
        }
        Err(e) => r.fail(
            'D',
            check,
            super::describe(e),
            expected,
            "the URL must be reachable",
        ),
    }
}

/// Gate D for one tool: the server lists it with the required inputs of this build's
/// definition, of the same types, and as read-only.
fn tool_contract(definition: &crate::tools::Definition, listed: &[Value], r: &mut Report) {
    let name = definition.name;
    let check = format!("{name} follows the ChatGPT contract");
    let schema = &definition.input_schema;
    let required: Vec<(&str, &str)> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|k| (k, schema["properties"][k]["type"].as_str().unwrap_or("any")))
        .collect();
    let inputs: Vec<String> = required.iter().map(|(k, t)| format!("{k}: {t}")).collect();
    let expected = format!(
        "input {{{}}} required, readOnlyHint true",
        inputs.join(", ")
    );
    let Some(tool) = listed.iter().find(|t| t["name"] == name) else {
        r.fail(
            'D',
            check,
            "not listed",
            expected,
            format!(
                "the server must offer {} for ChatGPT",
                crate::tools::listed("and")
            ),
        );
        return;
    };
    let served = &tool["inputSchema"];
    let ok = required.iter().all(|(k, t)| {
        served["properties"][k]["type"] == *t
            && served["required"]
                .as_array()
                .is_some_and(|req| req.iter().any(|x| x == k))
    }) && tool["annotations"]["readOnlyHint"] == true;
    let calls: Vec<String> = required.iter().map(|(k, _)| format!("{{{k}}}")).collect();
    r.expect(
        'D',
        check,
        ok,
        format!(
            "input {}, annotations {}",
            served["properties"], tool["annotations"]
        ),
        expected,
        format!(
            "ChatGPT calls {name} with {}, and treats tools without readOnlyHint as write actions",
            calls.join(" and ")
        ),
    );
}
