//! Who gets through `/mcp`: the challenge forms of RFC 6750 / RFC 9728 and the accepted tokens.

use ring::signature::RSA_PSS_SHA256;
use serde_json::json;

use crate::support::*;

const PRM: &str = "https://mcp.localhost/.well-known/oauth-protected-resource/mcp";

#[tokio::test]
async fn a_request_without_a_token_gets_401_naming_the_metadata_and_scope() {
    let s = Stack::start().await;
    let response = s.server.mcp(None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("Bearer resource_metadata=\"{PRM}\", scope=\"mcp:tools\"").as_str()
    );
    assert_eq!(s.server.rejections("missing").await, 1.0);
}

#[tokio::test]
async fn a_valid_keycloak_access_token_is_let_in() {
    let s = Stack::start().await;
    let response = s.server.mcp(Some(&token(&s.keys))).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
}

#[tokio::test]
async fn es256_and_eddsa_tokens_are_let_in_by_their_own_keys() {
    let s = Stack::start().await;
    let es = mint(
        &json!({"alg": "ES256", "typ": "JWT", "kid": "ec-sig"}),
        &claims(),
        &Signer::Ec(&s.keys.ec),
    );
    s.assert_accepted(&es).await;
    let ed = mint(
        &json!({"alg": "EdDSA", "typ": "JWT", "kid": "ed-sig"}),
        &claims(),
        &Signer::Ed(&s.keys.ed),
    );
    s.assert_accepted(&ed).await;
}

#[tokio::test]
async fn a_ps256_key_verifies_ps256_tokens() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    kc.set_jwks(json!({"keys": [tokens::rsa_jwk(&keys.rotated, "ps-sig", "sig", "PS256")]}));
    let server = TestServer::ready(&kc, &[]).await;
    let t = mint(
        &json!({"alg": "PS256", "kid": "ps-sig"}),
        &claims(),
        &Signer::Rsa(&keys.rotated, &RSA_PSS_SHA256),
    );
    assert_eq!(server.mcp(Some(&t)).await.status(), 200);
}

#[tokio::test]
async fn an_audience_given_as_a_single_string_is_accepted() {
    let s = Stack::start().await;
    s.assert_accepted(&token_with(&s.keys, |c| c["aud"] = json!(RESOURCE)))
        .await;
}

#[tokio::test]
async fn an_rfc9068_at_jwt_header_type_is_accepted() {
    let s = Stack::start().await;
    let h = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-sig"});
    s.assert_accepted(&mint(&h, &claims(), &s.keys.rs256()))
        .await;
}

#[tokio::test]
async fn a_token_that_expired_within_the_leeway_is_still_accepted() {
    let s = Stack::start().await;
    s.assert_accepted(&token_with(&s.keys, |c| {
        c["exp"] = json!(tokens::now() - 5)
    }))
    .await;
}

#[tokio::test]
async fn the_leeway_is_configurable_and_zero_means_none() {
    let s = Stack::with(&[("MCP_CLOCK_LEEWAY_SECS", "0")]).await;
    s.assert_refused(
        &token_with(&s.keys, |c| c["exp"] = json!(tokens::now() - 5)),
        "expired",
    )
    .await;
}

#[tokio::test]
async fn an_alternative_audience_is_accepted_when_configured() {
    let s = Stack::with(&[("MCP_ALT_AUDIENCE", "mcp-gate, https://old.example/mcp")]).await;
    s.assert_accepted(&token_with(&s.keys, |c| {
        c["aud"] = json!(["account", "mcp-gate"])
    }))
    .await;
    s.assert_accepted(&token_with(&s.keys, |c| {
        c["aud"] = json!("https://old.example/mcp")
    }))
    .await;
    s.assert_refused(
        &token_with(&s.keys, |c| c["aud"] = json!("account")),
        "wrong_audience",
    )
    .await;
}

#[tokio::test]
async fn a_configured_audience_replaces_the_resource_url() {
    let s = Stack::with(&[("MCP_AUDIENCE", "mcp-resource")]).await;
    s.assert_accepted(&token_with(&s.keys, |c| c["aud"] = json!("mcp-resource")))
        .await;
    s.assert_refused(&token(&s.keys), "wrong_audience").await;
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_without_regard_to_case() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let response = s
            .server
            .initialize()
            .header("authorization", format!("{scheme} {t}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "scheme {scheme}");
    }
}

#[tokio::test]
async fn another_authorization_scheme_counts_as_no_token() {
    let s = Stack::start().await;
    let response = s
        .server
        .initialize()
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        !challenge.contains("error="),
        "no error code when no bearer token was sent: {challenge}"
    );
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    let response = s
        .server
        .initialize()
        .header("authorization", format!("Bearer {t}"))
        .header("authorization", format!("Bearer {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_token_without_the_required_scope_gets_403_insufficient_scope() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["scope"] = json!("openid profile email"));
    let response = s.server.mcp(Some(&t)).await;
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(&format!("Bearer error=\"insufficient_scope\", scope=\"mcp:tools\", resource_metadata=\"{PRM}\", error_description=")),
        "{challenge}"
    );
    assert_eq!(s.server.rejections("insufficient_scope").await, 1.0);
}

#[tokio::test]
async fn every_configured_required_scope_is_enforced() {
    let s = Stack::with(&[("MCP_REQUIRED_SCOPES", "mcp:tools docs:read")]).await;
    let response = s.server.mcp(Some(&token(&s.keys))).await;
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"mcp:tools docs:read\"")
    );
    s.assert_accepted(&token_with(&s.keys, |c| {
        c["scope"] = json!("openid mcp:tools docs:read")
    }))
    .await;
}

#[tokio::test]
async fn a_scope_that_only_starts_like_the_required_one_is_not_enough() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["scope"] = json!("mcp:tools-admin mcp:tool"));
    assert_eq!(s.server.mcp(Some(&t)).await.status(), 403);
}

#[tokio::test]
async fn get_and_delete_on_mcp_need_a_token_too() {
    let s = Stack::start().await;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let url = format!("{}/mcp", s.server.base);
        let response = s
            .server
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method}");
        let response = s
            .server
            .client
            .request(method.clone(), &url)
            .bearer_auth(token(&s.keys))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
    }
}

#[tokio::test]
async fn without_usable_keys_a_token_gets_503_not_401() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    kc.set_mode(Mode::Down);
    let server = TestServer::start(&kc, &[]).await;
    let response = server.mcp(Some(&token(&keys))).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        !response.headers().contains_key("www-authenticate"),
        "a server fault must not send the client to log in again"
    );
    // A request without a token is still told how to authenticate.
    assert_eq!(server.mcp(None).await.status(), 401);
}

#[tokio::test]
async fn challenge_headers_match_the_snapshot() {
    let s = Stack::start().await;
    let mut seen = serde_json::Map::new();
    let mut record = |name: &str, response: &reqwest::Response| {
        let value = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        seen.insert(
            name.to_owned(),
            json!({ "status": response.status().as_u16(), "www-authenticate": value }),
        );
    };
    record("missing", &s.server.mcp(None).await);
    record(
        "expired",
        &s.server
            .mcp(Some(&token_with(&s.keys, |c| c["exp"] = json!(1))))
            .await,
    );
    record(
        "wrong_audience",
        &s.server
            .mcp(Some(&token_with(&s.keys, |c| c["aud"] = json!("account"))))
            .await,
    );
    record(
        "wrong_issuer",
        &s.server
            .mcp(Some(&token_with(&s.keys, |c| c["iss"] = json!("x"))))
            .await,
    );
    record(
        "insufficient_scope",
        &s.server
            .mcp(Some(&token_with(&s.keys, |c| c["scope"] = json!("openid"))))
            .await,
    );
    let query = s
        .server
        .client
        .post(format!("{}/mcp?access_token=x", s.server.base))
        .send()
        .await
        .unwrap();
    record("token_in_query", &query);
    insta::assert_json_snapshot!("challenges", seen);
}

/// The routes anyone may call, as README.md and docs/architecture.md list them.
const DOCUMENTED_PUBLIC: [&str; 5] = [
    "/.well-known/oauth-protected-resource",
    "/healthz",
    "/readyz",
    "/metrics",
    "/",
];

#[tokio::test]
async fn every_route_outside_the_documented_public_list_refuses_a_request_without_a_token() {
    use mcp_resource_server::routes::Route;
    let s = Stack::start().await;
    let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let metadata_paths = [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ];
    // The router registers exactly the routes of this table.
    for route in Route::ALL {
        let public = DOCUMENTED_PUBLIC.contains(&route.path());
        assert_eq!(
            route.protected(),
            !public,
            "{} is {} but the documentation says otherwise",
            route.path(),
            if route.protected() {
                "protected"
            } else {
                "public"
            }
        );
        let paths: Vec<&str> = if route == Route::Metadata {
            metadata_paths.to_vec()
        } else {
            vec![route.path()]
        };
        for path in paths {
            for method in methods {
                let response = s
                    .server
                    .client
                    .request(method.parse().unwrap(), format!("{}{path}", s.server.base))
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(if method == "POST" { "{}" } else { "" })
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                if route.protected() {
                    assert_eq!(status, 401, "{method} {path} answered without a token");
                    assert!(response.headers().contains_key("www-authenticate"));
                } else if method == "GET" {
                    assert!(
                        status < 400 || path == "/readyz",
                        "{method} {path}: {status}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn numeric_dates_with_a_fraction_are_read_by_their_whole_seconds() {
    let s = Stack::with(&[("MCP_CLOCK_LEEWAY_SECS", "0")]).await;
    let now = tokens::now() as f64;
    // RFC 7519 §2: a NumericDate may carry a fraction; the whole seconds count.
    s.assert_accepted(&token_with(&s.keys, |c| c["exp"] = json!(now + 300.5)))
        .await;
    s.assert_refused(
        &token_with(&s.keys, |c| c["exp"] = json!(now - 100.5)),
        "expired",
    )
    .await;
    s.assert_refused(
        &token_with(&s.keys, |c| c["nbf"] = json!(now + 100.5)),
        "not_yet_valid",
    )
    .await;
}
