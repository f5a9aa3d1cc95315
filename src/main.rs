use clap::Parser;
use mcp_resource_server::cli::{Cli, run};

/// mimalloc instead of the system allocator: a request allocates and frees many small JSON
/// values, and glibc's malloc spent about a fifth of the server's time on them (measured in
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    run(Cli::parse())
}
