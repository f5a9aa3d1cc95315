//! The `mcp-resource-server` binary: the command line (`cli`) over the library, with mimalloc
//! as its allocator (`alloc` says why).

use clap::Parser;
use mcp_resource_server::alloc::MiMalloc;
use mcp_resource_server::cli::{Cli, run};

#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;

fn main() -> std::process::ExitCode {
    run(Cli::parse())
}
