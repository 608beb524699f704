//! The command line: it parses arguments ([`args`], [`container::args`]) and
//! prints what the engine (`runtime::engine`) returns. No container, image or
//! monitor logic lives here.
//!
//! - [`container`]: run, create, start, stop, kill, rm, ps, exec, logs, inspect,
//!   wait, update, stats (also as `peti container ...`);
//! - [`image`]: load, import, images, tag, rmi (also as `peti image ...`);
//! - [`registry`]: pull and push, with Docker's progress lines;
//! - [`volume`]: `peti volume create|ls|inspect|rm|prune`;
//! - [`system`]: `peti system df|prune`;
//! - [`format`]: `--format`: Docker's tables, JSON and Go templates;
//! - [`out`]: standard output, which ends peti quietly when its reader goes.

pub mod args;
pub mod container;
mod format;
pub(crate) mod image;
mod login;
mod out;
mod registry;
mod system;
mod volume;

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
    /// A file to write cannot be made (`export -o`).
    #[error("{path}: {source}")]
    Output {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// `--platform` is not OS/ARCH[/VARIANT].
    #[error(transparent)]
    Platform(runtime::image::platform::PlatformError),
    /// `login` could not ask for the password.
    #[error(transparent)]
    Login(login::LoginError),
    /// `port C PORT` for a port that is not published.
    #[error("No public port '{0}' published for {1}")]
    NoPublicPort(String, String),
    /// `cp` with no container side.
    #[error("must specify at least one container source (CONTAINER:PATH)")]
    NoContainerSide,
    /// `cp` with a container on both sides.
    #[error("copying between containers is not supported: copy to the host, then on")]
    TwoContainerSides,
    /// `export` with no `-o` and standard output a terminal.
    #[error("cowardly refusing to save to a terminal: use the -o flag or redirect")]
    TarToTerminal,
    /// `logs --since` or `--until` is not a time.
    #[error(
        "invalid {0} {1:?}: give a time (2026-12-02T07:00:00Z, a Unix time) or how long ago (10m, 1h30m)"
    )]
    BadTime(&'static str, String),
    /// `logs --tail` is neither a count nor "all".
    #[error("invalid --tail {0:?}: give a number of lines, or all")]
    BadTail(String),
    /// A `--format` template that does not parse or run.
    #[error(transparent)]
    Format(#[from] format::FormatError),
    /// inspect's `-f` template that does not parse or run (Docker exits 64
    /// for it, as for a bad command-line usage).
    #[error(transparent)]
    InspectTemplate(format::FormatError),
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

/// Docker's exit status for an inspect template it cannot use (sysexits'
/// EX_USAGE).
pub const EXIT_BAD_TEMPLATE: u8 = 64;

/// Docker's exit status for `exec` when the process cannot start.
pub const EXIT_EXEC_FAILED: u8 = 126;

impl CliError {
    /// Docker's exit status for this failure of a command of `kind`.
    pub fn exit_code(&self, kind: Kind) -> u8 {
        match (self, kind) {
            (CliError::Reported(_), _) => EXIT_COMMAND_FAILED,
            (CliError::InspectTemplate(_), _) => EXIT_BAD_TEMPLATE,
            // A flag's value that does not parse, as Docker's flag parser.
            (CliError::BadTail(_) | CliError::BadTime(..), _) => EXIT_PETI_FAILED,
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
    // Opened by the commands that use a store: `version` must not make one.
    let open = || Engine::open(&cli.root, &cli.run_root);
    match cli.command {
        Command::Version => version(),
        Command::Login(args) => login::login(&args)?,
        Command::Logout(args) => login::logout(&args)?,
        Command::Info => info(&open()?.info()?),
        Command::Image(command) => image::run(&open()?, command.into())?,
        Command::Images { command } => image::run(&open()?, command)?,
        Command::Volumes { command } => volume::run(&open()?, command)?,
        Command::System { command } => system::run(&open()?, command)?,
        Command::Container(command) => return container::run(&open()?, command, true),
        Command::Containers { command } => return container::run(&open()?, command, false),
    }
    Ok(0)
}

/// `peti version`, in Docker's layout. There is no "Server:" part: peti has
/// no daemon, and every command does its own work.
fn version() {
    out::outln!("Client:");
    out::outln!(" Version:           {}", env!("CARGO_PKG_VERSION"));
    out::outln!(
        " OS/Arch:           linux/{}",
        go_arch(std::env::consts::ARCH)
    );
    out::outln!(" Runtime:           peti, daemonless (no server)");
}

/// Rust's name of the CPU as Docker (Go) spells it.
fn go_arch(rust: &str) -> &str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `peti info`, in Docker's layout and words.
fn info(info: &runtime::engine::view::Info) {
    let gib = info.mem_total as f64 / (1u64 << 30) as f64;
    out::outln!("Server:");
    out::outln!(" Containers: {}", info.containers);
    out::outln!("  Running: {}", info.containers_running);
    out::outln!("  Paused: {}", info.containers_paused);
    out::outln!("  Stopped: {}", info.containers_stopped);
    out::outln!(" Images: {}", info.images);
    out::outln!(
        " Server Version: {} (peti, daemonless)",
        info.server_version
    );
    out::outln!(" Storage Driver: {}", info.driver);
    out::outln!(" Logging Driver: {}", info.logging_driver);
    out::outln!(" Cgroup Driver: {}", info.cgroup_driver);
    out::outln!(" Cgroup Version: {}", info.cgroup_version);
    out::outln!(" Kernel Version: {}", info.kernel_version);
    out::outln!(" Operating System: {}", info.operating_system);
    out::outln!(" OSType: {}", info.os_type);
    out::outln!(" Architecture: {}", info.architecture);
    out::outln!(" CPUs: {}", info.ncpu);
    out::outln!(" Total Memory: {gib:.2}GiB");
    out::outln!(" Docker Root Dir: {}", info.docker_root_dir.display());
}
