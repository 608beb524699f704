//! `peti`: the command line of the container runtime.
//!
//! The container commands (run, ps, exec, ...) arrive with the runtime issue; until
//! then `peti` says so plainly instead of pretending.

use clap::Parser;

/// A minimal, daemonless container runtime with Docker's command line.
#[derive(Parser)]
#[command(name = "peti", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("peti: no container commands yet; they arrive with the runtime issue (see README)");
    std::process::exit(125);
}
