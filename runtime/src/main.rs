//! `peti`: the command line of the container runtime. Commands and flags follow
//! Docker's; each one is a thin layer over the library.
//!
//! Exit codes follow Docker: 125 for a usage error, and when `run` or `create`
//! fail; 126 when the container's command cannot be executed (for `exec`,
//! whatever the reason), 127 when `run`'s is not found; 1 when any other
//! command fails; and otherwise the container's own status (128 + N when
//! signal N killed it).

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// musl's malloc maps and unmaps memory for small allocations, a cost paid on
/// every start; dlmalloc keeps what it maps (see .cargo/config.toml).
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    let parsed = cli::Cli::try_parse().unwrap_or_else(|e| {
        // Docker exits 125 for a usage error too; help and version are not errors.
        let code = if e.use_stderr() {
            i32::from(cli::EXIT_PETI_FAILED)
        } else {
            0
        };
        let _ = e.print();
        std::process::exit(code)
    });
    let kind = cli::Kind::of(&parsed.command);
    match cli::run(parsed) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            if !error.is_reported() {
                eprintln!("peti: error: {error}");
            }
            ExitCode::from(error.exit_code(kind))
        }
    }
}
