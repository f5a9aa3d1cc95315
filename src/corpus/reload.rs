//! Keeps the served index in step with the corpus folder: a change to its files (once no change
//! has been seen for the debounce interval) updates the index file by file (see
//! [`super::update`]), and a SIGHUP rebuilds it whole. Both run on the blocking pool, one at a
//! time; changes seen while one runs cause one more.

use std::path::{Component, Path};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Corpus;

/// How the folder is watched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    /// Watch the folder for changes (`MCP_CORPUS_WATCH`); SIGHUP works either way.
    pub enabled: bool,
    /// Quiet time after the last change before rebuilding (`MCP_CORPUS_DEBOUNCE_MS`).
    pub debounce: Duration,
}

/// A rebuild waits at most this many debounce intervals while changes keep coming.
const MAX_DEBOUNCES: u32 = 20;

/// Starts the task that rebuilds the corpus; it runs until aborted. Nothing is started for the
/// built-in sample, which never changes.
pub(crate) fn spawn(corpus: Arc<Corpus>, watch: Watch) -> Option<tokio::task::JoinHandle<()>> {
    let folder = corpus.source().folder.clone()?;
    Some(tokio::spawn(async move {
        let (tx, mut changes) = mpsc::channel::<()>(1);
        let _watcher = if watch.enabled {
            start_watcher(&folder.root, tx)
        } else {
            None
        };
        let mut hangups = hangups();
        loop {
            let full = tokio::select! {
                Some(()) = changes.recv() => {
                    settle(&mut changes, watch.debounce).await;
                    false
                }
                Some(()) = next_hangup(&mut hangups) => {
                    tracing::info!("SIGHUP received; rebuilding the whole index");
                    true
                }
                else => return,
            };
            let corpus = corpus.clone();
            // A failure is logged and counted by the corpus; the old index stays.
            let _ = tokio::task::spawn_blocking(move || {
                if full {
                    corpus.reload().map(Some)
                } else {
                    corpus.refresh()
                }
            })
            .await;
        }
    }))
}

/// Waits until no change has arrived for `debounce`, or for a bounded time if they keep coming.
async fn settle(changes: &mut mpsc::Receiver<()>, debounce: Duration) {
    let give_up = Instant::now() + debounce * MAX_DEBOUNCES;
    while Instant::now() < give_up {
        match tokio::time::timeout(debounce, changes.recv()).await {
            Ok(Some(())) => continue,
            _ => return,
        }
    }
}

fn start_watcher(root: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let base = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let watched = base.clone();
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) => {
            let relevant = !matches!(event.kind, EventKind::Access(_))
                && event
                    .paths
                    .iter()
                    .any(|p| !hidden(p.strip_prefix(&base).unwrap_or(p)));
            if relevant {
                // A full channel already holds a pending rebuild.
                let _ = tx.try_send(());
            }
        }
        Err(error) => tracing::warn!(%error, "corpus watcher error"),
    };
    let started = notify::recommended_watcher(handler)
        .and_then(|mut w| w.watch(&watched, RecursiveMode::Recursive).map(|()| w));
    match started {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(%error, folder = %root.display(), "cannot watch the corpus folder; send SIGHUP to rebuild the index after changes");
            None
        }
    }
}

/// Whether any part of the path (relative to the corpus folder) is hidden (starts with `.`), as the loader skips those.
fn hidden(path: &Path) -> bool {
    path.components().any(|c| match c {
        Component::Normal(name) => name.to_str().is_some_and(|n| n.starts_with('.')),
        _ => false,
    })
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

#[cfg(unix)]
async fn next_hangup(h: &mut Hangups) -> Option<()> {
    match h {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}
