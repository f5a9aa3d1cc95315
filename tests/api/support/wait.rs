//! Waiting for what the server, Keycloak, Traefik, Redis or the file system do in their own
//! time. They run on the real clock, so a paused tokio clock cannot stand in (and it jumps ahead
//! while a socket waits); the key store's timing rules are tested on a paused clock in
//! src/auth/key_store/tests.rs instead. These two functions hold the only sleeps of the waits:
//! they ask again after 10 ms, then after twice as long each time, up to 250 ms.

use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_millis(10);
const LONGEST: Duration = Duration::from_millis(250);

/// The pauses between two asks, until `within` has passed.
struct Pauses {
    deadline: Instant,
    next: Duration,
}

impl Pauses {
    fn within(within: Duration) -> Pauses {
        Pauses {
            deadline: Instant::now() + within,
            next: FIRST,
        }
    }

    /// The next pause, or `None` once the time is up.
    fn next(&mut self) -> Option<Duration> {
        let pause = self.next;
        self.next = (pause * 2).min(LONGEST);
        (Instant::now() < self.deadline).then_some(pause)
    }
}

/// Asks `probe` until it answers `Some`, for at most `within`; `None` if it never did.
pub(crate) async fn until<T>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let mut pauses = Pauses::within(within);
    loop {
        if let Some(found) = probe().await {
            return Some(found);
        }
        tokio::time::sleep(pauses.next()?).await;
    }
}

/// [`until`] for a probe that blocks, in code that cannot await.
pub(crate) fn until_blocking<T>(
    within: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let mut pauses = Pauses::within(within);
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        std::thread::sleep(pauses.next()?);
    }
}

/// Whether `holds` comes true within `within`.
pub(crate) async fn comes_true(within: Duration, mut holds: impl AsyncFnMut() -> bool) -> bool {
    until(within, async || holds().await.then_some(()))
        .await
        .is_some()
}

/// Whether a GET of `url` answers 200 within `within`: the wait for a server, a proxy or
/// Keycloak to be up.
pub(crate) async fn answers(client: &reqwest::Client, url: &str, within: Duration) -> bool {
    let ok = async || {
        let answer = client.get(url).send().await;
        answer.is_ok_and(|r| r.status() == 200)
    };
    comes_true(within, ok).await
}
