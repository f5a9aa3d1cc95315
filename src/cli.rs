//! The command line: `serve` (the default) and `healthcheck`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// An OAuth-protected MCP resource server for Keycloak-issued tokens.
///
/// Configuration comes from environment variables and an optional TOML file named by MCP_CONFIG;
/// see docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "mcp-resource-server", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over HTTP (the default).
    Serve,
    /// Exit 0 when the local server answers /healthz, 1 otherwise (for container health checks).
    Healthcheck {
        /// The URL to probe; by default /healthz on 127.0.0.1 at the port of MCP_BIND.
        #[arg(long)]
        url: Option<String>,
    },
}

/// Runs the chosen command: 0 ok, 1 a check failed, 2 usage, configuration or I/O error.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime
            .block_on(crate::serve_main())
            .map(|()| ExitCode::SUCCESS),
        Command::Healthcheck { url } => runtime.block_on(crate::healthcheck(url)),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}
