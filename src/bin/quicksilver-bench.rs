//! `quicksilver-bench`: a load generator for any Mercure hub (see docs/benchmarks.md); the same
//! as `quicksilver bench`.

use std::process::ExitCode;

use clap::Parser;
use quicksilver_bench::cli::{self, BenchCommand};

#[derive(Parser)]
#[command(
    name = "quicksilver-bench",
    version,
    about = "Load generator for Mercure hubs"
)]
struct Cli {
    #[command(subcommand)]
    scenario: BenchCommand,
}

fn main() -> ExitCode {
    cli::run(Cli::parse().scenario, "quicksilver-bench")
}
