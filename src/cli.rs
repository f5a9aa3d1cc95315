//! The command line: `serve` (the default), `check` and `healthcheck`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The version, the commit it was built from and the build date (from `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILD_COMMIT"),
    ", built ",
    env!("BUILD_DATE"),
    ")"
);

/// An OAuth-protected MCP resource server for Keycloak-issued tokens.
///
/// Configuration comes from environment variables and an optional TOML file named by MCP_CONFIG;
/// `serve --help` lists every setting, and docs/configuration.md explains them.
#[derive(Debug, Parser)]
#[command(name = "mcp-resource-server", version = VERSION)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over HTTP (the default).
    #[command(after_help = crate::config::help(&crate::tools::names()))]
    Serve,
    /// Prove that Keycloak and this configuration agree (the staging gate); exit 0 only when
    /// nothing fails. See docs/validation.md.
    Check {
        /// An access token to check and to call the server with (or MCP_CHECK_TOKEN).
        #[arg(long, env = "MCP_CHECK_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Get a token with this client's credentials (client credentials grant).
        #[arg(long, conflicts_with = "token")]
        client_id: Option<String>,
        /// The client's secret (or MCP_CHECK_CLIENT_SECRET, which keeps it out of `ps`).
        #[arg(
            long,
            env = "MCP_CHECK_CLIENT_SECRET",
            hide_env_values = true,
            requires = "client_id"
        )]
        client_secret: Option<String>,
        /// The public MCP URL to probe, e.g. `https://mcp.example.com/mcp`.
        #[arg(long)]
        url: Option<String>,
        /// Get a DPoP-bound token with a key check makes for itself, and call the server with
        /// DPoP proofs (needs --client-id of a client with DPoP-bound tokens).
        #[arg(long, conflicts_with = "token", requires = "client_id")]
        dpop: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Exit 0 when the local server answers /healthz, 1 otherwise (for container health checks).
    Healthcheck {
        /// The URL to probe; by default /healthz on 127.0.0.1 at the port of MCP_BIND.
        #[arg(long)]
        url: Option<String>,
    },
}

/// How `check` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
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
            .block_on(crate::commands::serve_main())
            .map(|()| ExitCode::SUCCESS),
        Command::Healthcheck { url } => runtime.block_on(crate::commands::healthcheck(url)),
        Command::Check {
            token,
            client_id,
            client_secret,
            url,
            dpop,
            format,
        } => {
            let args = crate::check::Args {
                token,
                client_id,
                client_secret,
                url,
                dpop,
            };
            runtime.block_on(crate::commands::check_main(args, format == Format::Json))
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}
