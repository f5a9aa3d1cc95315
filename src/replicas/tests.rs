use std::time::Duration;

use url::Url;

use super::{FirstUse, Replicas, State};
use crate::config::RedisSettings;

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn without_redis_each_replica_decides_alone_and_counts_no_fallback() {
    let replicas = Replicas::new(None);
    assert!(!replicas.shared());
    assert_eq!(
        replicas.first_use(&[1; 16], Duration::from_secs(60)).await,
        FirstUse::Unknown
    );
    let seen = replicas.seen();
    assert_eq!(seen.redis_up, None);
    assert_eq!(seen.fallbacks, [0, 0, 0]);
}

#[tokio::test]
async fn an_unreachable_redis_is_a_counted_fallback_then_a_pause() {
    let settings = RedisSettings {
        url: Url::parse(&format!("redis://127.0.0.1:{}", closed_port())).unwrap(),
        timeout: Duration::from_millis(200),
    };
    let replicas = Replicas::new(Some(&settings));
    assert!(replicas.shared());
    let first = replicas.first_use(&[2; 16], Duration::from_secs(60)).await;
    assert_eq!(first, FirstUse::Unknown);
    let seen = replicas.seen();
    assert_eq!(seen.redis_up, Some(false));
    assert_eq!(seen.fallbacks[State::DpopReplay as usize], 1);
    let errors = seen.redis_errors;
    assert!(errors >= 1, "{seen:?}");
    // Within the pause Redis is not asked again: the fallback is counted, no new error.
    let second = replicas.first_use(&[3; 16], Duration::from_secs(60)).await;
    assert_eq!(second, FirstUse::Unknown);
    let seen = replicas.seen();
    assert_eq!(seen.fallbacks[State::DpopReplay as usize], 2);
    assert_eq!(
        seen.redis_errors, errors,
        "Redis was asked during its pause"
    );
}
