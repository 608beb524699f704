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
    /// Some of the names given failed, and each failure has been printed
    /// already (Docker goes on to the next name, and exits 1 at the end).
    #[error("{0} of the names given failed")]
    Reported(usize),
}

/// Which of Docker's rules a failed command's exit status follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `run` and `create`: 125 when they fail, or 126 and 127 when the
    /// container's command cannot be run.
    Runtime,
    /// `exec`: 126 when its command cannot be started, whatever the reason
    /// (1 when the container is missing or not running).
    Exec,
    /// Every other command: 1, for a missing container as for a refusal.
    Other,
}

impl Kind {
    /// The rule for a command line.
    pub fn of(command: &Command) -> Kind {
        use container::ContainerCommand as C;
        match command {
            Command::Container(c) | Command::Containers { command: c } => match c {
                C::Run(_) | C::Create(_) => Kind::Runtime,
                C::Exec(_) => Kind::Exec,
                _ => Kind::Other,
            },
            _ => Kind::Other,
        }
    }
}

/// Docker's exit status for an error it reports itself (not a container's).
pub const EXIT_COMMAND_FAILED: u8 = 1;

/// Docker's exit status for `exec` when the process cannot start.
pub const EXIT_EXEC_FAILED: u8 = 126;

impl CliError {
    /// Docker's exit status for this failure of a command of `kind`.
    pub fn exit_code(&self, kind: Kind) -> u8 {
        match (self, kind) {
            (CliError::Reported(_), _) => EXIT_COMMAND_FAILED,
            (CliError::Engine(e), Kind::Runtime) => e.exit_code(),
            // What runc reports as "OCI runtime exec failed": the process
            // could not start, or its settings (a relative -w) were refused.
            (CliError::Engine(EngineError::Start(_) | EngineError::Spec(_)), Kind::Exec) => {
                EXIT_EXEC_FAILED
            }
            (CliError::TraceFile { .. }, Kind::Runtime) => EXIT_PETI_FAILED,
            // A flag's value that does not parse (`update --memory 12q`):
            // Docker's flag parser refuses it, with 125, in every command.
            (CliError::Engine(EngineError::Spec(_)), Kind::Other) => EXIT_PETI_FAILED,
            _ => EXIT_COMMAND_FAILED,
        }
    }

    /// Whether the error is still to be printed.
    pub fn is_reported(&self) -> bool {
        matches!(self, CliError::Reported(_))
    }
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    let engine = Engine::open(&cli.root, &cli.run_root)?;
    match cli.command {
        Command::Image(command) => image::run(&engine, command.into())?,
        Command::Images { command } => image::run(&engine, command)?,
        Command::Container(command) => return container::run(&engine, command, true),
        Command::Containers { command } => return container::run(&engine, command, false),
    }
    Ok(0)
}
