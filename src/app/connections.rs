//! Accepting and serving client connections (HTTP/1.1, hyper): limits on how many are open, how
//! long a client may take to send headers (slow-loris) or sit idle, and the graceful stop.
//!
//! On the shutdown signal the listener closes, every connection is told to finish the request
//! it is serving and close, `/sse` streams get their final event, and the server waits for all
//! of this for at most `MCP_SHUTDOWN_GRACE_SECS` before returning anyway.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::ConnectionSettings;

/// How long to wait before accepting again after an error such as running out of file
/// descriptors, so a full process does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes, then stops gracefully; `stopping`
/// runs once new connections are no longer accepted (it ends long-lived streams).
pub(super) async fn run(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionSettings,
    shutdown: impl Future<Output = ()>,
    stopping: impl FnOnce(),
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "cannot accept connections; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            // Errors here are the client's doing (reset, timeout, malformed request) and have
            // been answered where HTTP allows; there is nothing more to do with them.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    stop(graceful, limits, &open, stopping).await;
    Ok(())
}

/// The graceful stop, once no connection is accepted any more: `stopping` runs, then the open
/// connections get `MCP_SHUTDOWN_GRACE_SECS` to finish.
async fn stop(
    graceful: GracefulShutdown,
    limits: &ConnectionSettings,
    open: &Semaphore,
    stopping: impl FnOnce(),
) {
    let open_now = limits.max_connections - open.available_permits();
    tracing::info!(
        connections = open_now,
        grace_secs = limits.shutdown_grace.as_secs(),
        "no longer accepting; finishing requests in flight"
    );
    stopping();
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        let left = limits.max_connections - open.available_permits();
        tracing::warn!(
            connections = left,
            "the shutdown grace period ended with connections still open; closing them"
        );
    }
}

/// Accept errors that concern one connection only (it was reset before it was accepted).
fn is_per_connection(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
