//! The key store's timing rules, on a paused tokio clock: each test moves time on by exactly
//! what a user would wait, so the boundaries are tested to the millisecond and nothing sleeps.
//! tests/api/keys.rs drives the same store through HTTP and the fake Keycloak.

use super::*;
use crate::config::{RawConfig, Settings};

/// What the in-memory Keycloak answers for its JWK Set.
#[derive(Clone)]
enum Publishes {
    /// These kids, with this `Cache-Control: max-age`.
    Keys(&'static [&'static str], Option<Duration>),
    Down,
    Garbage,
    NoSigningKeys,
}

struct Memory {
    answer: Mutex<Publishes>,
    /// When each fetch came, on tokio's clock.
    fetched_at: Mutex<Vec<Instant>>,
}

impl Memory {
    fn set(&self, answer: Publishes) {
        *self.answer.lock().unwrap() = answer;
    }

    fn fetches(&self) -> usize {
        self.fetched_at.lock().unwrap().len()
    }
}

impl JwksSource for Arc<Memory> {
    fn fetch(&self, _rediscover: bool) -> BoxFuture<'_, Result<JwksDocument, FetchError>> {
        self.fetched_at.lock().unwrap().push(Instant::now());
        let url = Url::parse("http://keycloak.test/certs").unwrap();
        let (body, max_age) = match self.answer.lock().unwrap().clone() {
            Publishes::Keys(kids, max_age) => (jwks(kids), max_age),
            Publishes::Down => {
                let down = FetchError::Status {
                    url: url.to_string(),
                    status: 503,
                };
                return Box::pin(std::future::ready(Err(down)));
            }
            Publishes::Garbage => (b"<html>maintenance</html>".to_vec(), None),
            Publishes::NoSigningKeys => {
                (br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.to_vec(), None)
            }
        };
        Box::pin(std::future::ready(Ok(JwksDocument { url, body, max_age })))
    }
}

/// A JWK Set of Ed25519 keys with these kids; the store never verifies with them here.
fn jwks(kids: &[&str]) -> Vec<u8> {
    let keys: Vec<serde_json::Value> = kids
        .iter()
        .map(|kid| {
            serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": "A".repeat(43),
                "kid": kid, "use": "sig", "alg": "EdDSA",
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "keys": keys })).unwrap()
}

/// What Keycloak's JWKS asks of caches: `Cache-Control: no-cache`, read as a `max-age` of 0.
const NO_CACHE: Option<Duration> = Some(Duration::ZERO);

const OLD: &[&str] = &["old"];
const ROTATED: &[&str] = &["old", "new"];

struct Fixture {
    store: Arc<JwksKeyStore>,
    kc: Arc<Memory>,
    metrics: Arc<Metrics>,
}

/// A store with the server's default settings changed by `overrides`, whose Keycloak publishes
/// the key `old` and, as Keycloak does, asks not to be cached.
fn fixture(overrides: &[(&str, &str)]) -> Fixture {
    let mut env = vec![
        ("MCP_SERVER_URL".to_owned(), "https://mcp.test".to_owned()),
        (
            "KC_ISSUER".to_owned(),
            "https://kc.test/realms/mcp".to_owned(),
        ),
    ];
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let settings = Settings::from_raw(&RawConfig::load_from(env).unwrap()).unwrap();
    let kc = Arc::new(Memory {
        answer: Mutex::new(Publishes::Keys(OLD, NO_CACHE)),
        fetched_at: Mutex::new(Vec::new()),
    });
    let metrics = Arc::new(Metrics::new());
    let store = JwksKeyStore::new(Box::new(kc.clone()), settings.jwks, metrics.clone());
    Fixture {
        store: Arc::new(store),
        kc,
        metrics,
    }
}

impl Fixture {
    /// Starts the background refresher as the server does, and lets it make its first fetch
    /// without moving the clock, so the tests' times count from that fetch.
    async fn started(self) -> Self {
        tokio::spawn(refresher(self.store.clone()));
        for _ in 0..100 {
            if self.kc.fetches() >= 1 {
                return self;
            }
            tokio::task::yield_now().await;
        }
        panic!("the refresher made no fetch");
    }

    /// Moves the clock on in steps of 10 ms until `done` holds.
    async fn until(&self, done: impl Fn(&Self) -> bool) {
        while !done(self) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn accepts(&self, kid: &str) -> bool {
        self.store.key(kid).await.is_ok()
    }

    /// One sample of the metrics, e.g. `mcp_jwks_refetches_limited_total`; 0 if absent.
    fn metric(&self, sample: &str) -> f64 {
        let text = self.metrics.render();
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }
}

/// The refresher's loop, without the `JoinHandle` (the test runtime ends it).
async fn refresher(store: Arc<JwksKeyStore>) {
    let _ = spawn_refresher(store).await;
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

// A key Keycloak has just started publishing must be accepted on the first token it signed,
// whatever the key store did just before: each timing below is one a user meets.

#[tokio::test(start_paused = true)]
async fn a_new_key_is_accepted_on_its_first_token_100_ms_after_start_up() {
    let f = fixture(&[]).started().await;
    f.kc.set(Publishes::Keys(ROTATED, NO_CACHE));
    tokio::time::sleep(millis(100)).await;
    let before = f.kc.fetches();
    assert!(f.accepts("new").await);
    assert_eq!(f.kc.fetches() - before, 1, "one refetch for the new kid");
}

#[tokio::test(start_paused = true)]
async fn a_new_key_is_accepted_on_its_first_token_100_ms_after_a_scheduled_refresh() {
    let f = fixture(&[("MCP_JWKS_MIN_REFRESH_SECS", "1")])
        .started()
        .await;
    // Wait for a scheduled refresh to happen, then publish the new key just after it.
    f.until(|f| f.kc.fetches() >= 2).await;
    f.kc.set(Publishes::Keys(ROTATED, NO_CACHE));
    tokio::time::sleep(millis(100)).await;
    assert!(f.accepts("new").await);
}

#[tokio::test(start_paused = true)]
async fn a_new_key_is_accepted_on_its_first_token_right_after_keycloak_comes_back() {
    let f = fixture(&[("MCP_JWKS_MIN_REFRESH_SECS", "1")])
        .started()
        .await;
    f.kc.set(Publishes::Down);
    // The scheduled refreshes fail while Keycloak is down; none of them may hold back the
    // refetch the new key needs once it is back.
    f.until(|f| f.metric("mcp_jwks_fetches_total{outcome=\"http_error\"}") >= 2.0)
        .await;
    f.kc.set(Publishes::Keys(ROTATED, NO_CACHE));
    tokio::time::sleep(millis(100)).await;
    assert!(f.accepts("new").await);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_kid_is_tried_again_as_soon_as_the_refetch_interval_has_passed() {
    let f = fixture(&[]).started().await;
    assert_eq!(f.store.key("new").await.err(), Some(KeyError::UnknownKid));
    // Published now, but the refetch its first token caused was under 5 s ago.
    f.kc.set(Publishes::Keys(ROTATED, NO_CACHE));
    tokio::time::sleep(REFETCH_INTERVAL - millis(1)).await;
    let fetches = f.kc.fetches();
    assert_eq!(f.store.key("new").await.err(), Some(KeyError::UnknownKid));
    assert_eq!(f.kc.fetches(), fetches, "refetched within the interval");
    assert_eq!(f.metric("mcp_jwks_refetches_limited_total"), 1.0);
    tokio::time::sleep(millis(1)).await;
    assert!(f.accepts("new").await);
}

#[tokio::test(start_paused = true)]
async fn a_thousand_random_kids_over_ten_seconds_cause_one_fetch_per_refetch_interval() {
    // The interval is 5 s: the first kid at 0 s and the one at 5 s may refetch.
    assert_eq!(REFETCH_INTERVAL, millis(5000));
    let f = fixture(&[]).started().await;
    let before = f.kc.fetches();
    let started = Instant::now();
    for i in 0..1000u64 {
        // 100 tokens a second for 10 s, each naming a kid never seen before.
        tokio::time::sleep_until(started + millis(i * 10)).await;
        let kid = format!("random-{i}");
        assert_eq!(f.store.key(&kid).await.err(), Some(KeyError::UnknownKid));
    }
    assert_eq!(f.kc.fetches() - before, 2);
    assert_eq!(f.metric("mcp_jwks_refetches_limited_total"), 998.0);
}

#[tokio::test(start_paused = true)]
async fn a_garbage_jwks_does_not_replace_good_keys() {
    // Each round's unknown kid needs a refetch of its own, an interval after the last (and
    // both come before the first scheduled refresh, at 60 s).
    let f = fixture(&[]).started().await;
    for (answer, n) in [(Publishes::Garbage, 1.0), (Publishes::NoSigningKeys, 2.0)] {
        f.kc.set(answer);
        tokio::time::sleep(REFETCH_INTERVAL).await;
        assert_eq!(f.store.key("new").await.err(), Some(KeyError::UnknownKid));
        assert!(f.accepts("old").await);
        assert_eq!(f.metric("mcp_jwks_fetches_total{outcome=\"invalid\"}"), n);
    }
}

#[tokio::test(start_paused = true)]
async fn stale_keys_are_dropped_after_the_configured_bound() {
    let f = fixture(&[("MCP_JWKS_MAX_STALE_SECS", "2")]).started().await;
    f.kc.set(Publishes::Down);
    tokio::time::sleep(millis(2000)).await;
    assert!(f.accepts("old").await, "dropped before the bound");
    assert_eq!(f.store.status().keys, 1);
    tokio::time::sleep(millis(1)).await;
    match f.store.key("old").await {
        Err(KeyError::Unavailable(why)) => assert!(why.contains("503"), "{why}"),
        other => panic!("stale keys still used: {other:?}"),
    }
    assert_eq!(f.store.status().keys, 0, "/readyz would still answer ready");
}

#[tokio::test(start_paused = true)]
async fn a_long_max_age_is_lowered_to_an_hour() {
    // Asked to cache for a day (as a proxy in front of Keycloak might), the store still
    // refreshes every hour.
    let f = fixture(&[]);
    f.kc.set(Publishes::Keys(OLD, Some(Duration::from_secs(86_400))));
    let f = f.started().await;
    let before = f.kc.fetches();
    tokio::time::sleep(MAX_REFRESH * 2 + millis(1)).await;
    assert_eq!(
        f.kc.fetches() - before,
        2,
        "refreshes in two hours and 1 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn keycloaks_no_cache_means_a_refresh_every_min_refresh_secs() {
    let f = fixture(&[]).started().await;
    let before = f.kc.fetches();
    tokio::time::sleep(Duration::from_secs(600) + millis(1)).await;
    assert_eq!(
        f.kc.fetches() - before,
        10,
        "refreshes in ten minutes at the default 60 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_short_max_age_is_raised_to_the_configured_minimum() {
    let f = fixture(&[("MCP_JWKS_MIN_REFRESH_SECS", "60")]);
    f.kc.set(Publishes::Keys(OLD, Some(Duration::from_secs(10))));
    let f = f.started().await;
    let before = f.kc.fetches();
    tokio::time::sleep(millis(59_999)).await;
    assert_eq!(
        f.kc.fetches(),
        before,
        "refreshed before the minimum interval"
    );
    tokio::time::sleep(millis(1)).await;
    // The refresher's timer fired with the test's; let it run before looking.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        f.kc.fetches(),
        before + 1,
        "not refreshed at the minimum interval"
    );
}

#[tokio::test(start_paused = true)]
async fn failed_refreshes_back_off_from_one_second_to_a_minute() {
    let f = fixture(&[]).started().await;
    f.kc.set(Publishes::Down);
    // The next scheduled refresh comes after 60 s (no-cache) and fails; the retries follow.
    f.until(|f| f.kc.fetches() >= 10).await;
    let at = f.kc.fetched_at.lock().unwrap().clone();
    let gaps: Vec<u64> = at.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(gaps, [60, 1, 2, 4, 8, 16, 32, 60, 60]);
    assert!(f.accepts("old").await, "the last good keys were dropped");
}

#[test]
fn every_text_that_gives_the_refetch_interval_gives_its_value() {
    // The interval is a constant here; the metric's help and the message for its former
    // setting names (config::known::FORMER) write it out and must not drift from it.
    let value = format!("{} s", REFETCH_INTERVAL.as_secs());
    let help = Metrics::new().render();
    let help = help
        .lines()
        .find(|l| l.starts_with("# HELP mcp_jwks_refetches_limited"))
        .expect("the metric has a help line");
    assert!(help.contains(&value), "{help}");
    for name in ["MCP_JWKS_COOLDOWN_SECS", "MCP_JWKS_REFETCH_INTERVAL_SECS"] {
        let (_, why) = crate::config::known::FORMER
            .iter()
            .find(|(old, _)| *old == name)
            .expect("a former setting");
        assert!(why.contains(&format!("fixed {value}")), "{name}: {why}");
    }
}
