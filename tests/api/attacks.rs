//! Named attack tokens: each must be refused with 401 `invalid_token` and counted by reason.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use serde_json::json;

use crate::support::tokens;
use crate::support::*;

#[tokio::test]
async fn alg_none_is_refused() {
    let s = Stack::start().await;
    let t = mint(
        &json!({"alg": "none", "typ": "JWT", "kid": "rsa-sig"}),
        &claims(),
        &Signer::Nothing,
    );
    s.assert_refused(&t, "bad_signature").await;
}

#[tokio::test]
async fn alg_none_in_another_case_is_refused() {
    let s = Stack::start().await;
    let t = mint(
        &json!({"alg": "nOnE", "kid": "rsa-sig"}),
        &claims(),
        &Signer::Nothing,
    );
    s.assert_refused(&t, "bad_signature").await;
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let s = Stack::start().await;
    // The classic confusion attack: HMAC keyed with the bytes of the published RSA key.
    let public = serde_json::to_vec(&s.keys.jwks()["keys"][0]).unwrap();
    let t = mint(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-sig"}),
        &claims(),
        &Signer::Hmac(public),
    );
    s.assert_refused(&t, "bad_signature").await;
}

#[tokio::test]
async fn a_token_signed_with_the_encryption_key_is_refused() {
    let s = Stack::start().await;
    let t = mint(
        &header("rsa-enc"),
        &claims(),
        &Signer::Rsa(&s.keys.enc, &RSA_PKCS1_SHA256),
    );
    s.assert_refused(&t, "unknown_kid").await;
}

#[tokio::test]
async fn a_foreign_key_advertised_with_jku_is_refused_and_never_fetched() {
    let s = Stack::start().await;
    let attacker = FakeKeycloak::start(&s.keys).await;
    attacker.set_jwks(json!({"keys": [tokens::rsa_jwk(&s.keys.foreign, "evil", "sig", "RS256")]}));
    let h = json!({"alg": "RS256", "kid": "evil", "jku": attacker.jwks_url(), "x5u": attacker.jwks_url()});
    let t = mint(
        &h,
        &claims(),
        &Signer::Rsa(&s.keys.foreign, &RSA_PKCS1_SHA256),
    );
    s.assert_refused(&t, "unknown_kid").await;
    assert_eq!(attacker.jwks_fetches(), 0, "the jku URL was fetched");
}

#[tokio::test]
async fn a_foreign_key_embedded_as_a_jwk_header_is_refused() {
    let s = Stack::start().await;
    let h = json!({"alg": "RS256", "kid": "rsa-sig", "jwk": tokens::rsa_jwk(&s.keys.foreign, "rsa-sig", "sig", "RS256")});
    let t = mint(
        &h,
        &claims(),
        &Signer::Rsa(&s.keys.foreign, &RSA_PKCS1_SHA256),
    );
    s.assert_refused(&t, "bad_signature").await;
}

#[tokio::test]
async fn a_token_signed_by_a_foreign_key_under_a_published_kid_is_refused() {
    let s = Stack::start().await;
    let t = mint(
        &header("rsa-sig"),
        &claims(),
        &Signer::Rsa(&s.keys.foreign, &RSA_PKCS1_SHA256),
    );
    s.assert_refused(&t, "bad_signature").await;
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let s = Stack::start().await;
    let good = token(&s.keys);
    let parts: Vec<&str> = good.split('.').collect();
    let mut c = claims();
    c["realm_access"]["roles"] = json!(["admin"]);
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
    s.assert_refused(
        &format!("{}.{forged}.{}", parts[0], parts[2]),
        "bad_signature",
    )
    .await;
}

#[tokio::test]
async fn a_stripped_signature_is_refused() {
    let s = Stack::start().await;
    let good = token(&s.keys);
    let unsigned = &good[..good.rfind('.').unwrap() + 1];
    s.assert_refused(unsigned, "bad_signature").await;
}

#[tokio::test]
async fn an_rs256_signature_relabelled_ps256_is_refused() {
    let s = Stack::start().await;
    let h = json!({"alg": "PS256", "typ": "JWT", "kid": "rsa-sig"});
    let t = mint(&h, &claims(), &Signer::Rsa(&s.keys.sig, &RSA_PSS_SHA256));
    s.assert_refused(&t, "bad_signature").await;
}

#[tokio::test]
async fn an_es256_token_naming_the_rsa_key_is_refused() {
    let s = Stack::start().await;
    let h = json!({"alg": "ES256", "typ": "JWT", "kid": "rsa-sig"});
    let t = mint(&h, &claims(), &Signer::Ec(&s.keys.ec));
    s.assert_refused(&t, "bad_signature").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["exp"] = json!(tokens::now() - 120));
    s.assert_refused(&t, "expired").await;
}

#[tokio::test]
async fn a_token_with_a_future_nbf_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["nbf"] = json!(tokens::now() + 600));
    s.assert_refused(&t, "not_yet_valid").await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["iat"] = json!(tokens::now() + 600));
    s.assert_refused(&t, "not_yet_valid").await;
}

#[tokio::test]
async fn a_token_from_another_realm_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| {
        c["iss"] = json!("https://auth.localhost/realms/master")
    });
    s.assert_refused(&t, "wrong_issuer").await;
}

#[tokio::test]
async fn an_issuer_with_a_trailing_slash_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["iss"] = json!(format!("{ISSUER}/")));
    s.assert_refused(&t, "wrong_issuer").await;
}

#[tokio::test]
async fn an_issuer_in_another_case_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| {
        c["iss"] = json!("https://auth.localhost/realms/MCP")
    });
    s.assert_refused(&t, "wrong_issuer").await;
}

#[tokio::test]
async fn an_audience_of_account_only_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["aud"] = json!("account"));
    s.assert_refused(&t, "wrong_audience").await;
}

#[tokio::test]
async fn a_token_without_an_audience_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| {
        c.as_object_mut().unwrap().remove("aud");
    });
    s.assert_refused(&t, "wrong_audience").await;
}

#[tokio::test]
async fn an_audience_with_a_trailing_slash_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["aud"] = json!(format!("{RESOURCE}/")));
    s.assert_refused(&t, "wrong_audience").await;
}

#[tokio::test]
async fn an_id_token_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| {
        c["typ"] = json!("ID");
        c["aud"] = json!(RESOURCE);
    });
    s.assert_refused(&t, "wrong_type").await;
}

#[tokio::test]
async fn a_refresh_token_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["typ"] = json!("Refresh"));
    s.assert_refused(&t, "wrong_type").await;
}

#[tokio::test]
async fn an_offline_token_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["typ"] = json!("Offline"));
    s.assert_refused(&t, "wrong_type").await;
}

#[tokio::test]
async fn a_logout_token_by_its_header_type_is_refused() {
    let s = Stack::start().await;
    let h = json!({"alg": "RS256", "typ": "logout+jwt", "kid": "rsa-sig"});
    s.assert_refused(&mint(&h, &claims(), &s.keys.rs256()), "wrong_type")
        .await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    s.assert_refused(&t, "malformed").await;
}

#[tokio::test]
async fn an_exp_written_as_a_string_is_refused() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| c["exp"] = json!("9999999999"));
    s.assert_refused(&t, "malformed").await;
}

#[tokio::test]
async fn a_payload_with_a_duplicate_issuer_is_refused() {
    let s = Stack::start().await;
    // Parsers differ on which duplicate wins; refuse the ambiguity outright.
    let body = serde_json::to_string(&claims()).unwrap();
    let body = body.replacen('{', "{\"iss\":\"https://evil.example/realms/mcp\",", 1);
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header("rsa-sig")).unwrap()),
        URL_SAFE_NO_PAD.encode(body)
    );
    let sig = tokens::sign(input.as_bytes(), &s.keys.rs256());
    s.assert_refused(
        &format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)),
        "malformed",
    )
    .await;
}

#[tokio::test]
async fn a_critical_header_extension_is_refused() {
    let s = Stack::start().await;
    let h = json!({"alg": "RS256", "kid": "rsa-sig", "crit": ["b64"], "b64": false});
    s.assert_refused(&mint(&h, &claims(), &s.keys.rs256()), "malformed")
        .await;
}

#[tokio::test]
async fn a_token_without_kid_is_refused() {
    let s = Stack::start().await;
    let t = mint(
        &json!({"alg": "RS256", "typ": "JWT"}),
        &claims(),
        &s.keys.rs256(),
    );
    s.assert_refused(&t, "malformed").await;
}

#[tokio::test]
async fn an_encrypted_token_with_five_parts_is_refused() {
    let s = Stack::start().await;
    s.assert_refused("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", "malformed")
        .await;
}

#[tokio::test]
async fn garbage_is_refused() {
    let s = Stack::start().await;
    s.assert_refused("not-a-jwt", "malformed").await;
    s.assert_refused("a.b.c", "malformed").await;
    s.assert_refused("....", "malformed").await;
}

#[tokio::test]
async fn a_70_kb_token_is_refused_before_parsing() {
    let s = Stack::start().await;
    let fetches = s.kc.jwks_fetches();
    // A well-formed token whose unknown kid would otherwise cause a key lookup.
    let mut c = claims();
    c["padding"] = json!("x".repeat(70_000));
    let t = mint(&header("never-seen"), &c, &s.keys.rs256());
    assert!(t.len() > 70_000);
    s.assert_refused(&t, "malformed").await;
    assert_eq!(
        s.kc.jwks_fetches(),
        fetches,
        "an oversized token reached the key store"
    );
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused() {
    let s = Stack::start().await;
    let t = token(&s.keys);
    for url in [
        format!("{}/mcp?access_token={t}", s.server.base),
        format!("{}/mcp?x=1&access_token={t}", s.server.base),
    ] {
        let response = s.server.initialize().send().await.unwrap();
        assert_eq!(response.status(), 401, "plain request without credentials");
        let response = s
            .server
            .client
            .post(url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_request\""),
            "{challenge}"
        );
    }
    // Even alongside a valid header, a token in the URL is refused: it may already be logged.
    let response = s
        .server
        .client
        .post(format!("{}/mcp?access_token={t}", s.server.base))
        .bearer_auth(&t)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_flood_of_random_unknown_kids_causes_at_most_one_jwks_fetch() {
    // The load at start-up does not count against the refetch interval (5 s by default), so the
    // flood is allowed exactly one refetch however soon it comes.
    let s = Stack::start().await;
    let before = s.kc.jwks_fetches();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let t = mint(&header(&format!("random-{i}")), &claims(), &s.keys.rs256());
        let req = s.server.initialize().bearer_auth(t);
        tasks.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 401);
    }
    assert_eq!(
        s.kc.jwks_fetches() - before,
        1,
        "one flood, one cooldown window: one fetch"
    );
    assert_eq!(s.server.rejections("unknown_kid").await, 200.0);
    // Repeating the same unknown kids is answered from the negative cache.
    let t = mint(&header("random-7"), &claims(), &s.keys.rs256());
    s.assert_refused(&t, "unknown_kid").await;
    assert_eq!(s.kc.jwks_fetches() - before, 1);
}

#[tokio::test]
async fn every_token_of_the_attack_corpus_gets_the_verdict_it_names() {
    let s = Stack::start().await;
    for attack in crate::support::corpus::attacks(&s.keys) {
        assert_eq!(
            s.server.verdict(&attack.token).await.as_deref(),
            attack.verdict,
            "{}",
            attack.name
        );
    }
}

#[tokio::test]
async fn a_dpop_bound_token_sent_as_bearer_is_refused_and_the_description_says_why() {
    let s = Stack::start().await;
    let t = token_with(&s.keys, |c| {
        c["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
    });
    s.assert_refused(&t, "dpop_bound").await;
    let response = s.server.mcp(Some(&t)).await;
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("DPoP-bound"), "{description}");
    assert!(challenge.contains("DPoP-bound"), "{challenge}");
}

#[tokio::test]
async fn scopes_are_split_on_spaces_only() {
    let s = Stack::start().await;
    for scope in [
        "openid\tmcp:tools",
        "openid\nmcp:tools",
        "openid\u{a0}mcp:tools",
    ] {
        let t = token_with(&s.keys, |c| c["scope"] = json!(scope));
        let response = s.server.mcp(Some(&t)).await;
        assert_eq!(
            response.status(),
            403,
            "{scope:?} was read as holding mcp:tools"
        );
    }
    let t = token_with(&s.keys, |c| c["scope"] = json!("  openid  mcp:tools "));
    s.assert_accepted(&t).await;
}
