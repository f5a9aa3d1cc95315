//! DPoP-bound tokens (RFC 9449): a token bound to the client's key gets in with a fresh proof of
//! that key, and each way of forging, stretching or replaying a proof is refused under a reason
//! of its own.

use serde_json::{Value, json};

use crate::support::Stack;
use crate::support::tokens::{DpopKey, Keys, now, token, token_with};

const URL: &str = "https://mcp.localhost/mcp";

/// What the server answered one DPoP request: its status, its first challenge, the reason it
/// counted the refusal under, if any.
struct Answer {
    status: u16,
    challenge: String,
    reason: Option<String>,
}

impl Stack {
    /// POSTs `initialize` to /mcp with `Authorization: DPoP <token>` and the given `DPoP`
    /// headers.
    async fn dpop(&self, token: &str, proofs: &[&str]) -> Answer {
        let before = self.server.rejection_counts().await;
        let mut req = self
            .server
            .initialize()
            .header("authorization", format!("DPoP {token}"));
        for proof in proofs {
            req = req.header("dpop", *proof);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let after = self.server.rejection_counts().await;
        let counted: Vec<String> = after
            .into_iter()
            .filter(|(reason, n)| before.get(reason) != Some(n))
            .map(|(reason, _)| reason)
            .collect();
        assert!(counted.len() <= 1, "counted under {counted:?}");
        Answer {
            status,
            challenge,
            reason: counted.into_iter().next(),
        }
    }
}

#[tokio::test]
async fn a_bound_token_with_a_fresh_proof_gets_in_and_the_same_proof_again_is_refused() {
    let s = Stack::start().await;
    let key = DpopKey::new();
    let t = key.bound_token(&s.keys);
    let proof = key.proof("POST", URL, &t);
    let first = s.dpop(&t, &[&proof]).await;
    assert_eq!((first.status, first.reason.as_deref()), (200, None));
    let again = s.dpop(&t, &[&proof]).await;
    assert_eq!(again.status, 401);
    assert_eq!(again.reason.as_deref(), Some("dpop_replayed"));
    assert!(
        again
            .challenge
            .starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{}",
        again.challenge
    );
    // A fresh proof lets the same (now cached) token in again.
    let fresh = s.dpop(&t, &[&key.proof("POST", URL, &t)]).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(s.server.metric("mcp_dpop_replay_entries").await, 2.0);
}

#[tokio::test]
async fn a_cached_token_never_skips_its_proof() {
    let s = Stack::start().await;
    let key = DpopKey::new();
    let t = key.bound_token(&s.keys);
    assert_eq!(s.dpop(&t, &[&key.proof("POST", URL, &t)]).await.status, 200);
    // The token is in the verified-token cache now; a proof for another URL still fails.
    let wrong = s
        .dpop(&t, &[&key.proof("POST", "https://mcp.localhost/sse", &t)])
        .await;
    assert_eq!(wrong.reason.as_deref(), Some("dpop_url"));
    assert_eq!(s.dpop(&t, &[]).await.reason.as_deref(), Some("dpop_proof"));
}

/// Makes the `DPoP` headers of one request from the client's key, the test keys and the token.
type MakeProofs = Box<dyn Fn(&DpopKey, &Keys, &str) -> Vec<String>>;

/// One forged or stretched proof: how it is made from a valid one, and the reason it must get.
struct Forgery {
    name: &'static str,
    reason: &'static str,
    make: MakeProofs,
}

/// A proof made from a valid one with its header and claims changed by `edit`.
fn edited(edit: impl Fn(&mut Value, &mut Value) + 'static) -> MakeProofs {
    Box::new(move |key, _, token| {
        let (mut header, mut claims) = key.proof_parts("POST", URL, token);
        edit(&mut header, &mut claims);
        vec![key.sign(&header, &claims)]
    })
}

fn forgeries() -> Vec<Forgery> {
    let f = |name, reason, make| Forgery { name, reason, make };
    vec![
        f(
            "wrong method",
            "dpop_method",
            edited(|_, c| c["htm"] = json!("GET")),
        ),
        f(
            "method in lower case",
            "dpop_method",
            edited(|_, c| c["htm"] = json!("post")),
        ),
        f(
            "another path",
            "dpop_url",
            edited(|_, c| c["htu"] = json!("https://mcp.localhost/messages")),
        ),
        f(
            "another host",
            "dpop_url",
            edited(|_, c| c["htu"] = json!("https://evil.example/mcp")),
        ),
        f(
            "http instead of https",
            "dpop_url",
            edited(|_, c| c["htu"] = json!("http://mcp.localhost/mcp")),
        ),
        f(
            "a query in htu",
            "dpop_url",
            edited(|_, c| c["htu"] = json!("https://mcp.localhost/mcp?x=1")),
        ),
        f(
            "a fragment in htu",
            "dpop_url",
            edited(|_, c| c["htu"] = json!("https://mcp.localhost/mcp#x")),
        ),
        f(
            "an old iat",
            "dpop_stale",
            edited(|_, c| c["iat"] = json!(now() - 400)),
        ),
        f(
            "an iat in the future",
            "dpop_stale",
            edited(|_, c| c["iat"] = json!(now() + 120)),
        ),
        f(
            "no ath",
            "dpop_proof",
            edited(|_, c| {
                c.as_object_mut().unwrap().remove("ath");
            }),
        ),
        f(
            "a wrong ath",
            "dpop_ath",
            edited(|_, c| c["ath"] = json!("AAAA")),
        ),
        f(
            "no jti",
            "dpop_proof",
            edited(|_, c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        f(
            "a jti of 300 bytes",
            "dpop_proof",
            edited(|_, c| c["jti"] = json!("j".repeat(300))),
        ),
        f(
            "typ JWT",
            "dpop_proof",
            edited(|h, _| h["typ"] = json!("JWT")),
        ),
        f(
            "no jwk",
            "dpop_proof",
            edited(|h, _| {
                h.as_object_mut().unwrap().remove("jwk");
            }),
        ),
        f(
            "a private key in jwk",
            "dpop_key",
            edited(|h, _| h["jwk"]["d"] = json!("AAAA")),
        ),
        f(
            "alg none",
            "dpop_key",
            edited(|h, _| h["alg"] = json!("none")),
        ),
        f(
            "alg HS256",
            "dpop_key",
            edited(|h, _| h["alg"] = json!("HS256")),
        ),
        f(
            "an RSA alg on an EC key",
            "dpop_key",
            edited(|h, _| h["alg"] = json!("RS256")),
        ),
        f(
            "claims changed after signing",
            "dpop_signature",
            Box::new(|key, _, token| {
                let proof = key.proof("POST", URL, token);
                let (head, rest) = proof.split_once('.').unwrap();
                let (_, signature) = rest.split_once('.').unwrap();
                let (_, mut claims) = key.proof_parts("GET", URL, token);
                claims["htm"] = json!("POST");
                let body = base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    serde_json::to_vec(&claims).unwrap(),
                );
                vec![format!("{head}.{body}.{signature}")]
            }),
        ),
        f(
            "a proof for another token",
            "dpop_ath",
            Box::new(|key, keys, _| {
                let jkt = key.thumbprint();
                let other = token_with(keys, |c| {
                    c["cnf"] = json!({ "jkt": jkt });
                    c["jti"] = json!("another-token");
                });
                vec![key.proof("POST", URL, &other)]
            }),
        ),
        f(
            "a proof by another key",
            "dpop_thumbprint",
            Box::new(|_, _, token| vec![DpopKey::new().proof("POST", URL, token)]),
        ),
        f(
            "two DPoP headers",
            "dpop_proof",
            Box::new(|key, _, token| {
                vec![key.proof("POST", URL, token), key.proof("POST", URL, token)]
            }),
        ),
        f(
            "no DPoP header",
            "dpop_proof",
            Box::new(|_, _, _| Vec::new()),
        ),
        f(
            "not a JWS",
            "dpop_proof",
            Box::new(|_, _, _| vec!["not-a-proof".to_owned()]),
        ),
    ]
}

#[tokio::test]
async fn every_forged_or_stretched_proof_is_refused_under_its_own_reason() {
    let s = Stack::start().await;
    let key = DpopKey::new();
    let t = key.bound_token(&s.keys);
    for forgery in forgeries() {
        let proofs = (forgery.make)(&key, &s.keys, &t);
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let answer = s.dpop(&t, &proofs).await;
        assert_eq!(answer.status, 401, "{}", forgery.name);
        assert_eq!(
            answer.reason.as_deref(),
            Some(forgery.reason),
            "{}",
            forgery.name
        );
        assert!(
            answer
                .challenge
                .starts_with("DPoP error=\"invalid_dpop_proof\""),
            "{}: {}",
            forgery.name,
            answer.challenge
        );
    }
    // None of them used up the token: a valid proof still gets in.
    assert_eq!(s.dpop(&t, &[&key.proof("POST", URL, &t)]).await.status, 200);
}

#[tokio::test]
async fn a_bound_token_needs_the_dpop_scheme_and_an_unbound_one_the_bearer_scheme() {
    let s = Stack::start().await;
    let key = DpopKey::new();
    let bound = key.bound_token(&s.keys);
    assert_eq!(
        s.server.verdict(&bound).await.as_deref(),
        Some("dpop_bound")
    );
    let unbound = token(&s.keys);
    let answer = s.dpop(&unbound, &[&key.proof("POST", URL, &unbound)]).await;
    assert_eq!(answer.reason.as_deref(), Some("dpop_not_bound"));
    assert!(
        answer.challenge.starts_with("DPoP error=\"invalid_token\""),
        "{}",
        answer.challenge
    );
    // A token bound to a certificate is refused either way: this server cannot check it.
    let cert = token_with(&s.keys, |c| c["cnf"] = json!({"x5t#S256": "abc"}));
    assert_eq!(
        s.server.verdict(&cert).await.as_deref(),
        Some("sender_constrained")
    );
}

#[tokio::test]
async fn without_credentials_both_schemes_are_offered_with_the_dpop_algorithms() {
    let s = Stack::start().await;
    let response = s.server.mcp(None).await;
    assert_eq!(response.status(), 401);
    let challenges: Vec<&str> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(
        challenges[0].starts_with("Bearer resource_metadata="),
        "{challenges:?}"
    );
    assert!(
        challenges[1]
            .starts_with("DPoP algs=\"RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA\""),
        "{challenges:?}"
    );
    let metadata = s
        .server
        .get_json("/.well-known/oauth-protected-resource/mcp")
        .await;
    assert_eq!(metadata["dpop_bound_access_tokens_required"], false);
    assert_eq!(metadata["dpop_signing_alg_values_supported"][6], "ES256");
}

#[tokio::test]
async fn when_dpop_is_required_bearer_tokens_are_refused_and_only_dpop_is_offered() {
    let s = Stack::with(&[("MCP_DPOP_REQUIRED", "true")]).await;
    let response = s.server.mcp(None).await;
    let challenges: Vec<&str> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(challenges[0].starts_with("DPoP algs="), "{challenges:?}");
    assert_eq!(
        s.server.verdict(&token(&s.keys)).await.as_deref(),
        Some("dpop_required")
    );
    let key = DpopKey::new();
    let t = key.bound_token(&s.keys);
    assert_eq!(s.dpop(&t, &[&key.proof("POST", URL, &t)]).await.status, 200);
    let metadata = s
        .server
        .get_json("/.well-known/oauth-protected-resource/mcp")
        .await;
    assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
}

#[tokio::test]
async fn with_nonces_on_a_proof_needs_the_servers_nonce_which_every_dpop_answer_hands_out() {
    let s = Stack::with(&[("MCP_DPOP_NONCE", "true")]).await;
    let key = DpopKey::new();
    let t = key.bound_token(&s.keys);
    let send = |proof: String| {
        s.server
            .initialize()
            .header("authorization", format!("DPoP {t}"))
            .header("dpop", proof)
            .send()
    };
    // Without a nonce: 401 use_dpop_nonce, with a nonce to use.
    let first = send(key.proof("POST", URL, &t)).await.unwrap();
    assert_eq!(first.status(), 401);
    let challenge = first.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("DPoP error=\"use_dpop_nonce\""),
        "{challenge}"
    );
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(s.server.rejections("dpop_nonce").await, 1.0);
    // With it: let in, and handed a nonce again.
    let with = |nonce: &str| {
        let (header, mut claims) = key.proof_parts("POST", URL, &t);
        claims["nonce"] = json!(nonce);
        key.sign(&header, &claims)
    };
    let second = send(with(&nonce)).await.unwrap();
    assert_eq!(second.status(), 200);
    assert!(second.headers().contains_key("dpop-nonce"));
    // A nonce the server did not make is refused like none at all.
    let forged = nonce.chars().rev().collect::<String>();
    let third = send(with(&forged)).await.unwrap();
    assert_eq!(third.status(), 401);
    assert_eq!(s.server.rejections("dpop_nonce").await, 2.0);
    // Bearer requests are not handed nonces.
    let bearer = s.server.mcp(Some(&token(&s.keys))).await;
    assert_eq!(bearer.status(), 200);
    assert!(!bearer.headers().contains_key("dpop-nonce"));
}

#[tokio::test]
async fn a_browser_client_may_send_a_proof_and_read_the_nonce() {
    let s = Stack::start().await;
    let response = s
        .server
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/mcp", s.server.base))
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, dpop")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.split(", ").any(|h| h == "dpop"), "{allowed}");
    let answer = s
        .server
        .initialize()
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("dpop-nonce"), "{exposed}");
}

/// `iat` values no arithmetic on a proof may overflow on, each with whether a proof carrying it
/// is fresh.
fn hostile_iats() -> Vec<(&'static str, Value, bool)> {
    vec![
        ("i64::MIN", json!(i64::MIN), false),
        ("i64::MAX", json!(i64::MAX), false),
        ("u64::MAX", json!(u64::MAX), false),
        ("beyond 64 bits", json!(1e30), false),
        ("far in the past as a float", json!(-1e30), false),
        ("an old fraction", json!(now() as f64 - 400.5), false),
        (
            "a fraction in the future",
            json!(now() as f64 + 120.25),
            false,
        ),
        ("a fresh fraction", json!(now() as f64 - 0.5), true),
    ]
}

#[tokio::test]
async fn a_proof_iat_of_any_size_is_refused_as_stale_every_time_and_a_fresh_fraction_is_taken_once()
{
    let s = Stack::start().await;
    let key = DpopKey::new();
    let t = key.bound_token(&s.keys);
    for (name, iat, fresh) in hostile_iats() {
        let (header, mut claims) = key.proof_parts("POST", URL, &t);
        claims["iat"] = iat;
        let proof = key.sign(&header, &claims);
        let first = s.dpop(&t, &[&proof]).await;
        let again = s.dpop(&t, &[&proof]).await;
        if fresh {
            assert_eq!(
                (first.status, first.reason.as_deref()),
                (200, None),
                "{name}"
            );
            assert_eq!(again.reason.as_deref(), Some("dpop_replayed"), "{name}");
        } else {
            for answer in [first, again] {
                assert_eq!(
                    (answer.status, answer.reason.as_deref()),
                    (401, Some("dpop_stale")),
                    "{name}"
                );
            }
        }
    }
    assert_eq!(s.server.metric("mcp_dpop_replay_entries").await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_caller_cannot_take_the_replay_cache_from_the_others() {
    // The attack run's cache size, and a short window so that the flood outlasts it.
    let s = Stack::with(&[
        ("MCP_DPOP_REPLAY_CACHE_SIZE", "1000"),
        ("MCP_DPOP_MAX_AGE_SECS", "2"),
        ("MCP_CLOCK_LEEWAY_SECS", "1"),
    ])
    .await;
    let (attacker, other) = (DpopKey::new(), DpopKey::new());
    let attacker_token = attacker.bound_token_for(&s.keys, "mallory");
    let other_token = other.bound_token_for(&s.keys, "alice");
    // jtis that all fell into one shard when shards were picked by the proof's digest alone.
    let crafted: Vec<String> = (0..)
        .map(|i| format!("ground-{i}"))
        .filter(|jti| attacker.unkeyed_shard(jti) == 0)
        .take(3_000)
        .collect();
    let flood_for = std::time::Duration::from_secs(4);
    let started = std::time::Instant::now();
    let server = crate::support::TestServer::at(s.server.base.clone(), s.server.client.clone());
    let flood = tokio::spawn(async move {
        let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
        for jti in crafted.iter().cycle() {
            if started.elapsed() > flood_for {
                break;
            }
            let (header, mut claims) = attacker.proof_parts("POST", URL, &attacker_token);
            claims["jti"] = json!(jti);
            let response = server
                .initialize()
                .header("authorization", format!("DPoP {attacker_token}"))
                .header("dpop", attacker.sign(&header, &claims))
                .send()
                .await
                .unwrap();
            *statuses.entry(response.status().as_u16()).or_default() += 1;
        }
        statuses
    });
    let mut others = 0;
    while started.elapsed() < flood_for {
        let proof = other.proof("POST", URL, &other_token);
        let answer = s.dpop(&other_token, &[&proof]).await;
        assert_eq!(
            answer.status, 200,
            "another caller's fresh proof was refused"
        );
        others += 1;
        // A real sleep: this caller's pace, against a flood that lasts a span of real time.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let statuses = flood.await.unwrap();
    assert!(others > 20, "{others}");
    // The attacker's proofs were taken up to its share (a quarter of the cache) at a time, and
    // the rest refused with 429, never with the 503 of a full cache.
    let taken = statuses.get(&200).copied().unwrap_or(0);
    assert!((250..=750).contains(&taken), "{statuses:?}");
    assert!(statuses.get(&429).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [200, 429],
        "{statuses:?}"
    );
    assert!(
        s.server
            .metric("mcp_fair_use_refusals_total{limit=\"dpop_proofs\"}")
            .await
            > 0.0
    );
}

#[tokio::test]
async fn a_bound_token_typed_dpop_as_keycloak_issues_it_gets_in_and_an_unbound_one_does_not() {
    let s = Stack::start().await;
    let key = DpopKey::new();
    // Keycloak sets the access token's `typ` claim to `DPoP` when it binds the token.
    let jkt = key.thumbprint();
    let t = token_with(&s.keys, |c| {
        c["cnf"] = json!({ "jkt": jkt });
        c["typ"] = json!("DPoP");
    });
    let answer = s.dpop(&t, &[&key.proof("POST", URL, &t)]).await;
    assert_eq!((answer.status, answer.reason.as_deref()), (200, None));
    // The same type on a token bound to no key is not an access token this server knows.
    s.assert_refused(
        &token_with(&s.keys, |c| c["typ"] = json!("DPoP")),
        "wrong_type",
    )
    .await;
}

#[tokio::test]
async fn keycloaks_note_beside_the_key_is_read_and_any_other_binding_is_refused() {
    let s = Stack::start().await;
    let key = DpopKey::new();
    let jkt = key.thumbprint();
    // What Keycloak 26.7 writes into a DPoP-bound token's `cnf`.
    let t = token_with(&s.keys, |c| {
        c["cnf"] = json!({ "jkt": jkt, "kc-jkt-type": "DPoP" });
        c["typ"] = json!("DPoP");
    });
    let answer = s.dpop(&t, &[&key.proof("POST", URL, &t)]).await;
    assert_eq!((answer.status, answer.reason.as_deref()), (200, None));
    // The note naming another kind of key, or a client certificate beside the key: bindings
    // this server cannot check.
    for cnf in [
        json!({ "jkt": key.thumbprint(), "kc-jkt-type": "mTLS" }),
        json!({ "jkt": key.thumbprint(), "x5t#S256": "abc" }),
        json!({ "jkt": key.thumbprint(), "kc-jkt-type": "DPoP", "x5t#S256": "abc" }),
    ] {
        let t = token_with(&s.keys, |c| c["cnf"] = cnf.clone());
        let answer = s.dpop(&t, &[&key.proof("POST", URL, &t)]).await;
        assert_eq!(
            (answer.status, answer.reason.as_deref()),
            (401, Some("sender_constrained")),
            "{cnf}"
        );
    }
}
