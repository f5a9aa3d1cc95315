use clap::Parser;
use mcp_resource_server::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    run(Cli::parse())
}
