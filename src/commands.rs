//! What each command does: `serve`, `check` and `healthcheck`, over the rest of the library.
//! [`crate::cli`] parses the command line and calls these.

use std::process::ExitCode;

use anyhow::Context;

/// How long a stop waits for the spans still queued to be exported.
const TRACES_STOP: std::time::Duration = std::time::Duration::from_secs(2);

/// `serve`: reads the configuration, binds, logs what it uses, and serves until SIGINT/SIGTERM.
pub(crate) async fn serve_main() -> anyhow::Result<()> {
    let settings = crate::config::load(&crate::tools::names())?;
    // Made off the async workers: the exporter's HTTP client runs a runtime of its own.
    let traces = tokio::task::spawn_blocking(crate::telemetry::traces::provider).await??;
    crate::telemetry::init_logging(settings.log_format, &settings.log_filter);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let served = serve_with(settings).await;
    if let Some(provider) = traces {
        // Export what is queued, off the async workers (the exporter's client blocks), for at
        // most TRACES_STOP: a collector that never answers must not hold up a stop.
        let _ =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(TRACES_STOP)).await;
    }
    served
}

async fn serve_with(settings: crate::config::Settings) -> anyhow::Result<()> {
    let state = crate::app::AppState::new(settings)?;
    let settings = state.settings.clone();
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("MCP_BIND: cannot listen on {}", settings.bind))?;
    let jwks_url = match &settings.jwks_url {
        Some(url) => url.to_string(),
        None => format!("from discovery at {}", settings.discovery_url),
    };
    tracing::info!(
        bind = %listener.local_addr()?,
        resource = %settings.resource,
        issuer = %settings.issuer,
        jwks_url = %jwks_url,
        audiences = %settings.audiences.join(" "),
        metadata = %settings.metadata_url(),
        "mcp-resource-server listening"
    );
    crate::app::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

/// `check`: runs the staging gate with the configuration `serve` would use and prints the
/// report; 0 when nothing failed, 1 otherwise.
pub(crate) async fn check_main(args: crate::check::Args, json: bool) -> anyhow::Result<ExitCode> {
    let settings = crate::config::load(&crate::tools::names())?;
    for warning in &settings.warnings {
        eprintln!("warning: {warning}");
    }
    let report = crate::check::run(&settings, &args, &crate::check::client(&settings)).await;
    if json {
        println!("{:#}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `healthcheck`: GET /healthz on the local server; 0 when it answers 200, else 1.
pub(crate) async fn healthcheck(url: Option<String>) -> anyhow::Result<ExitCode> {
    let url = match url {
        Some(u) => u,
        None => {
            let addr = crate::config::bind_address(&crate::config::RawConfig::load()?)?;
            let host = if addr.ip().is_unspecified() {
                if addr.is_ipv6() {
                    "[::1]".to_owned()
                } else {
                    "127.0.0.1".to_owned()
                }
            } else if addr.is_ipv6() {
                format!("[{}]", addr.ip())
            } else {
                addr.ip().to_string()
            };
            format!("http://{host}:{}/healthz", addr.port())
        }
    };
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => anyhow::bail!(
            "healthcheck --url: `{url}` is not an http(s) URL, e.g. http://127.0.0.1:8000/healthz"
        ),
    }
    let client = crate::auth::outbound::http_client(std::time::Duration::from_secs(3));
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(r) => {
            eprintln!("unhealthy: {url} answered {}", r.status());
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
