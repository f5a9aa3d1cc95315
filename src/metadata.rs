//! OAuth 2.0 Protected Resource Metadata (RFC 9728 §2–3), built once at start-up.
//!
//! The same document is served, unauthenticated and with `Access-Control-Allow-Origin: *`, at
//! `/.well-known/oauth-protected-resource/mcp` (the RFC 9728 location for the `/mcp` resource),
//! at `/.well-known/oauth-protected-resource` (where older clients look), and at the location
//! derived from `MCP_RESOURCE` if that differs.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::config::Settings;

/// The serialised metadata document and where it is published.
#[derive(Debug)]
pub struct Metadata {
    body: Bytes,
    /// Paths the document is served at.
    pub paths: Vec<String>,
    documentation: String,
}

#[derive(Serialize)]
struct MetadataDocument<'a> {
    resource: &'a str,
    authorization_servers: [&'a str; 1],
    scopes_supported: &'a [String],
    bearer_methods_supported: [&'a str; 1],
    resource_name: &'a str,
    resource_documentation: &'a str,
    dpop_signing_alg_values_supported: &'a [&'a str],
    dpop_bound_access_tokens_required: bool,
}

impl Metadata {
    /// `dpop_algs` are the algorithms a DPoP proof may be signed with.
    pub fn new(settings: &Settings, dpop_algs: &[&str]) -> Self {
        // The required scopes first, then those single tools need, so clients that request every
        // advertised scope (as ChatGPT does) get a token that can call every tool.
        let mut scopes = settings.required_scopes.clone();
        for s in settings.tool_scopes.values().flatten() {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        let doc = MetadataDocument {
            resource: &settings.resource,
            authorization_servers: [&settings.issuer],
            scopes_supported: &scopes,
            bearer_methods_supported: ["header"],
            resource_name: &settings.resource_name,
            resource_documentation: &settings.resource_documentation,
            dpop_signing_alg_values_supported: dpop_algs,
            dpop_bound_access_tokens_required: settings.dpop.required,
        };
        let body = serde_json::to_vec_pretty(&doc).expect("the document serialises");
        let mut paths = vec![
            "/.well-known/oauth-protected-resource".to_owned(),
            "/.well-known/oauth-protected-resource/mcp".to_owned(),
        ];
        let own = settings.metadata_path();
        if !paths.contains(&own) {
            paths.push(own);
        }
        let documentation = format!(
            "{name}\n\nThis is an MCP server protected by OAuth 2.0.\n\n\
             MCP endpoint:       {resource}\n\
             Resource metadata:  {metadata}\n\
             Authorization:      {issuer}\n\
             Scopes:             {scopes}\n\n\
             Connect an MCP client (for example a ChatGPT connector) to the MCP endpoint; it will be\n\
             sent to the authorization server to sign in.\n",
            name = settings.resource_name,
            resource = settings.resource,
            metadata = settings.metadata_url(),
            issuer = settings.issuer,
            scopes = scopes.join(" "),
        );
        Metadata {
            body: body.into(),
            paths,
            documentation,
        }
    }
}

/// The CORS headers every `/.well-known/` answer carries: any origin may read them.
pub(crate) fn cors(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
}

/// `GET` (and `HEAD`) of the metadata document.
pub(crate) async fn document(State(meta): State<Arc<Metadata>>) -> Response {
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        meta.body.clone(),
    )
        .into_response();
    cors(&mut response);
    response
}

/// `OPTIONS` of the metadata document: a CORS preflight answer.
pub(crate) async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    cors(&mut response);
    response
}

/// `GET /`: a short text for people who open the server's URL, the default
/// `resource_documentation`.
pub(crate) async fn documentation(State(meta): State<Arc<Metadata>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        meta.documentation.clone(),
    )
        .into_response()
}
