//! The command line: it parses arguments ([`args`], [`container::args`]) and
//! prints what the engine (`runtime::engine`) returns. No container, image or
//! monitor logic lives here.
//!
//! - [`container`]: run, create, start, stop, kill, rm, ps, exec, logs, inspect,
//!   wait, update, stats (also as `peti container ...`);
//! - [`image`]: load, import, images, tag, rmi (also as `peti image ...`);
//! - [`table`]: Docker's column layout;
//! - [`out`]: standard output, which ends peti quietly when its reader goes.

pub mod args;
pub mod container;
mod image;
mod out;
mod table;

use runtime::engine::{EXIT_RUNTIME_FAILED, Engine, EngineError};

pub use args::Cli;
use args::Command;

/// Docker's exit status when the runtime itself fails.
pub const EXIT_PETI_FAILED: u8 = EXIT_RUNTIME_FAILED;

/// Everything that can make a command fail: the engine's reasons, and the few
/// of the command line's own.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("--trace-json {path}: {source}")]
    TraceFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl CliError {
    /// Docker's exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Engine(e) => e.exit_code(),
            CliError::TraceFile { .. } => EXIT_PETI_FAILED,
        }
    }
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    let engine = Engine::open(&cli.root, &cli.run_root)?;
    match cli.command {
        Command::Image(command) => image::run(&engine, command.into())?,
        Command::Images { command } => image::run(&engine, command)?,
        Command::Container(command) | Command::Containers { command } => {
            return container::run(&engine, command);
        }
    }
    Ok(0)
}
