//! The signing-key cache and the verified-token cache: rotation, outages, coalescing, bounds.

use std::time::Duration;

use ring::signature::RSA_PKCS1_SHA256;
use serde_json::json;

use mcp_resource_server::auth::KeycloakJwks;
use mcp_resource_server::auth::key_store::JwksSource;

use crate::support::*;

fn rotated_jwks(keys: &Keys, keep_old: bool) -> serde_json::Value {
    let mut jwks = keys.jwks();
    let list = jwks["keys"].as_array_mut().unwrap();
    if !keep_old {
        list.retain(|k| k["kid"] != "rsa-sig");
    }
    list.push(tokens::rsa_jwk(&keys.rotated, "rsa-new", "sig", "RS256"));
    jwks
}

fn rotated_token(keys: &Keys) -> String {
    mint(
        &header("rsa-new"),
        &claims(),
        &Signer::Rsa(&keys.rotated, &RSA_PKCS1_SHA256),
    )
}

#[tokio::test]
async fn a_verified_token_is_not_verified_again_until_it_expires() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    for _ in 0..20 {
        s.assert_accepted(&t).await;
    }
    assert_eq!(
        s.server
            .metric("mcp_token_cache_lookups_total{result=\"miss\"}")
            .await,
        1.0
    );
    assert_eq!(
        s.server
            .metric("mcp_token_cache_lookups_total{result=\"hit\"}")
            .await,
        19.0
    );
    assert_eq!(s.server.metric("mcp_token_cache_entries").await, 1.0);
}

#[tokio::test]
async fn a_cached_token_is_refused_once_it_expires() {
    let s = Stack::with(&[("MCP_CLOCK_LEEWAY_SECS", "0")]).await;
    let t = token_with(&s.keys, |c| c["exp"] = json!(tokens::now() + 2));
    s.assert_accepted(&t).await;
    s.assert_accepted(&t).await;
    // A real sleep: `exp` is a date on the wall clock, which a paused tokio clock does not move.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    s.assert_refused(&t, "expired").await;
}

#[tokio::test]
async fn the_token_cache_is_bounded() {
    let s = Stack::with(&[("MCP_TOKEN_CACHE_SIZE", "5")]).await;
    for i in 0..40 {
        s.assert_accepted(&token_with(&s.keys, |c| c["jti"] = json!(format!("t{i}"))))
            .await;
    }
    let entries = s.server.metric("mcp_token_cache_entries").await;
    assert!(entries <= 5.0, "{entries} entries in a cache of 5");
}

#[tokio::test]
async fn keys_are_fetched_once_for_many_requests() {
    let s = Stack::start().await;
    let fetches = s.kc.jwks_fetches();
    for i in 0..30 {
        s.assert_accepted(&token_with(&s.keys, |c| c["jti"] = json!(format!("t{i}"))))
            .await;
    }
    assert_eq!(s.kc.jwks_fetches(), fetches);
    assert_eq!(
        s.server
            .metric("mcp_jwks_fetches_total{outcome=\"success\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_within_one_request_without_restart() {
    let s = Stack::start().await;
    s.kc.set_jwks(rotated_jwks(&s.keys, true));
    s.assert_accepted(&rotated_token(&s.keys)).await;
    // Tokens signed by the old key stay valid while it is still published.
    s.assert_accepted(&token(&s.keys)).await;
}

#[tokio::test]
async fn concurrent_requests_with_a_new_kid_share_one_fetch() {
    let s = Stack::start().await;
    s.kc.set_jwks(rotated_jwks(&s.keys, true));
    let before = s.kc.jwks_fetches();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = mint(
            &header("rsa-new"),
            &{
                let mut c = claims();
                c["jti"] = json!(format!("t{i}"));
                c
            },
            &Signer::Rsa(&s.keys.rotated, &RSA_PKCS1_SHA256),
        );
        let req = s.server.initialize().bearer_auth(t);
        tasks.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(s.kc.jwks_fetches() - before, 1);
}

#[tokio::test]
async fn an_over_long_kid_is_refused_before_any_lookup() {
    let s = Stack::start().await;
    let fetches = s.kc.jwks_fetches();
    for kid in ["k".repeat(257), "k".repeat(12_000)] {
        let t = mint(&header(&kid), &claims(), &s.keys.rs256());
        s.assert_refused(&t, "malformed").await;
    }
    assert_eq!(
        s.kc.jwks_fetches(),
        fetches,
        "an over-long kid caused a fetch"
    );
    // 256 bytes is still a kid: unknown here, so it is looked up.
    let t = mint(&header(&"k".repeat(256)), &claims(), &s.keys.rs256());
    s.assert_refused(&t, "unknown_kid").await;
}

#[tokio::test]
async fn a_removed_key_is_refused_after_the_next_refresh_even_for_cached_tokens() {
    let s = Stack::start().await;
    let old = token(&s.keys);
    s.assert_accepted(&old).await;
    s.kc.set_jwks(rotated_jwks(&s.keys, false));
    s.assert_accepted(&rotated_token(&s.keys)).await;
    s.assert_refused(&old, "unknown_kid").await;
}

#[tokio::test]
async fn cached_keys_keep_verifying_while_keycloak_is_down() {
    let s = Stack::start().await;
    s.kc.set_mode(Mode::Down);
    // An unknown kid makes the store try Keycloak, which fails; the known keys stay.
    s.assert_refused(&rotated_token(&s.keys), "unknown_kid")
        .await;
    s.assert_accepted(&token_with(&s.keys, |c| c["jti"] = json!("fresh")))
        .await;
    assert_eq!(s.server.get("/readyz").await.status(), 200);
    assert!(
        s.server
            .metric("mcp_jwks_fetches_total{outcome=\"http_error\"}")
            .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_keycloak_never_holds_a_request_past_the_fetch_timeout() {
    let s = Stack::with(&[("MCP_HTTP_TIMEOUT_SECS", "1")]).await;
    s.kc.set_mode(Mode::Slow(Duration::from_secs(30)));
    let before = s.kc.jwks_fetches();
    // An unknown kid waits for the refetch, which gives up after MCP_HTTP_TIMEOUT_SECS; the
    // bound of 10 s here is far below Keycloak's 30 s, so a stall would fail the test.
    let unknown = tokio::spawn({
        let server = s.server.base.clone();
        let token = rotated_token(&s.keys);
        async move {
            let client = reqwest::Client::new();
            let started = tokio::time::Instant::now();
            let r = client
                .post(format!("{server}/mcp"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
                .send()
                .await
                .unwrap();
            (r.status(), started.elapsed())
        }
    });
    // Meanwhile, once the refetch is under way, tokens signed by known keys are answered
    // without waiting for it.
    let fetching = async || (s.kc.jwks_fetches() > before).then_some(());
    wait::until(Duration::from_secs(5), fetching)
        .await
        .expect("the unknown kid caused no refetch");
    let known = tokio::time::timeout(
        Duration::from_millis(900),
        s.server
            .mcp(Some(&token_with(&s.keys, |c| c["jti"] = json!("during")))),
    )
    .await
    .expect("a known key waited for a refetch of other keys");
    assert_eq!(known.status(), 200);
    let (status, took) = tokio::time::timeout(Duration::from_secs(10), unknown)
        .await
        .expect("a request stalled behind a slow Keycloak")
        .unwrap();
    assert_eq!(status, 401);
    assert!(took < Duration::from_secs(10), "{took:?}");
    // The timed-out fetch is counted as a network error.
    assert!(
        s.server
            .metric("mcp_jwks_fetches_total{outcome=\"network_error\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn the_server_starts_without_keycloak_and_serves_once_keys_arrive() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    kc.set_mode(Mode::Down);
    let server = TestServer::start(&kc, &[]).await;
    let (status, body) = server.readyz_after_first_fetch().await;
    assert_eq!(server.get("/healthz").await.status(), 200);
    assert_eq!(status, 503);
    assert!(body.contains("503"), "the reason names Keycloak's answer");
    // Without keys no token can be checked: the answer says so, it does not refuse the token.
    assert_eq!(server.mcp(Some(&token(&keys))).await.status(), 503);
    kc.set_mode(Mode::Up);
    server.wait_ready().await;
    assert_eq!(server.mcp(Some(&token(&keys))).await.status(), 200);
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_keeps_the_server_unready() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    kc.set_discovery_issuer("http://keycloak:8080/realms/mcp");
    let server = TestServer::start(&kc, &[]).await;
    let (status, body) = server.readyz_after_first_fetch().await;
    assert_eq!(status, 503);
    assert!(body.contains("KC_ISSUER"), "{body}");
    assert_eq!(
        kc.jwks_fetches(),
        0,
        "keys from a mismatched discovery document were fetched"
    );
}

#[tokio::test]
async fn kc_jwks_url_skips_discovery() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    let jwks = kc.jwks_url();
    let server = TestServer::ready(
        &kc,
        &[
            ("KC_DISCOVERY_URL", "http://127.0.0.1:9/unused"),
            ("KC_JWKS_URL", &jwks),
        ],
    )
    .await;
    assert_eq!(server.mcp(Some(&token(&keys))).await.status(), 200);
    assert_eq!(
        kc.state
            .discovery_fetches
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn a_garbage_jwks_does_not_replace_good_keys() {
    // Through HTTP, once per kind of bad document; the store's tests go on to the next round.
    for mode in [Mode::Garbage, Mode::NoSigningKeys] {
        let s = Stack::start().await;
        s.kc.set_mode(mode);
        s.assert_refused(&rotated_token(&s.keys), "unknown_kid")
            .await;
        s.assert_accepted(&token_with(&s.keys, |c| c["jti"] = json!("after")))
            .await;
        assert_eq!(
            s.server
                .metric("mcp_jwks_fetches_total{outcome=\"invalid\"}")
                .await,
            1.0
        );
    }
}

#[tokio::test]
async fn keycloaks_jwks_comes_through_discovery_with_its_max_age() {
    let keys = Keys::new();
    let kc = FakeKeycloak::start(&keys).await;
    kc.set_cache_control("public, max-age=86400");
    let source = KeycloakJwks::new(
        mcp_resource_server::auth::outbound::http_client(Duration::from_secs(10)),
        kc.discovery_url().parse().unwrap(),
        None,
        ISSUER.to_owned(),
    );
    let discoveries = || {
        kc.state
            .discovery_fetches
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    let doc = source.fetch(false).await.unwrap();
    assert_eq!(doc.url.as_str(), kc.jwks_url());
    assert_eq!(doc.max_age, Some(Duration::from_secs(86_400)));
    assert_eq!(discoveries(), 1);
    // The URL found is used again; a scheduled refresh reads discovery again.
    source.fetch(false).await.unwrap();
    assert_eq!(discoveries(), 1);
    source.fetch(true).await.unwrap();
    assert_eq!(discoveries(), 2);
    assert_eq!(kc.jwks_fetches(), 3);
}
