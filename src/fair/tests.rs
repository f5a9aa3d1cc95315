use super::*;
use std::sync::Mutex;

fn fair(threads: usize, per_caller: usize, queue: usize) -> Arc<Fair> {
    let settings = FairSettings {
        rate_per_minute: 60,
        rate_burst: 3,
        requests_per_minute: 600,
        requests_burst: 5,
        ranking_threads: threads,
        ranking_per_caller: per_caller,
        ranking_queue_per_caller: queue,
    };
    Arc::new(Fair::new(
        &settings,
        Arc::new(Replicas::alone()),
        Arc::new(Metrics::new()),
    ))
}

#[tokio::test]
async fn an_allowance_lets_its_burst_through_then_says_when_to_retry() {
    let f = fair(1, 1, 0);
    let (a, b) = (Caller(1), Caller(2));
    assert_eq!(f.admit(a, 2).await, Ok(()));
    assert_eq!(f.admit(a, 1).await, Ok(()));
    let Err(Limited::Rate { retry_after, .. }) = f.admit(a, 1).await else {
        panic!("a fourth call in a burst of three went through");
    };
    assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
    assert_eq!(
        f.admit(b, 3).await,
        Ok(()),
        "another caller has its own allowance"
    );
    assert!(
        f.admit(b, 4).await.is_err(),
        "more than the burst at once never fits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_with_many_searches_waiting_never_stands_before_another_callers_one() {
    // Two threads, one per caller: the second caller's search starts while the first
    // caller's others wait for its share.
    let f = fair(2, 1, 8);
    let started = Arc::new(Mutex::new(Vec::new()));
    let job = |who: &'static str| {
        let started = started.clone();
        move || {
            started.lock().unwrap().push(who);
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (f, job) = (f.clone(), job("a"));
        tasks.push(tokio::spawn(async move { f.rank(Caller(1), job).await }));
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (g, job_b) = (f.clone(), job("b"));
    tasks.push(tokio::spawn(async move { g.rank(Caller(2), job_b).await }));
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let order = started.lock().unwrap().clone();
    assert_eq!(order, ["a", "b", "a", "a", "a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_queue_a_caller_is_refused_at_once() {
    let f = fair(1, 1, 1);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Arc::new(Mutex::new(rx));
    let mut held = Vec::new();
    for _ in 0..2 {
        let (f, rx) = (f.clone(), rx.clone());
        held.push(tokio::spawn(async move {
            f.rank(Caller(7), move || rx.lock().unwrap().recv().unwrap())
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // One ranking, one waiting: a third is over the queue of one.
    assert_eq!(
        f.rank(Caller(7), || ()).await,
        Err(Limited::Queue { in_flight: 2 })
    );
    // Another caller is not refused: it waits for the pool like everyone else.
    let other = tokio::spawn({
        let f = f.clone();
        async move { f.rank(Caller(8), || 5).await }
    });
    tx.send(()).unwrap();
    tx.send(()).unwrap();
    for h in held {
        h.await.unwrap().unwrap();
    }
    assert_eq!(other.await.unwrap(), Ok(5));
    assert_eq!(f.rank(Caller(7), || 3).await, Ok(3), "the queue empties");
}

#[tokio::test(flavor = "current_thread")]
async fn ranking_runs_beside_the_async_workers_not_on_them() {
    // On a runtime of one thread, a search that takes 300 ms must not stop a timer task.
    let f = fair(1, 1, 0);
    let search = tokio::spawn({
        let f = f.clone();
        async move {
            f.rank(Caller(1), || std::thread::sleep(Duration::from_millis(300)))
                .await
        }
    });
    let ticks = tokio::spawn(async {
        let mut n = 0;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            n += 1;
        }
        n
    });
    let ticked = tokio::time::timeout(Duration::from_millis(250), ticks).await;
    assert_eq!(
        ticked.map(|t| t.unwrap()),
        Ok(5),
        "the timer waited for the search"
    );
    search.await.unwrap().unwrap();
}
