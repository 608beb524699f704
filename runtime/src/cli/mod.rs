//! The command line: clap definitions and dispatch. Image commands live in
//! [`images`], container commands in [`containers`].

mod containers;
mod images;
mod table;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use runtime::container::lifecycle::LifecycleError;
use runtime::container::process::Failure;
use runtime::container::spec::SpecError;
use runtime::container::state::{ContainerStore, DEFAULT_RUN_ROOT, StateError};
use runtime::image::store::{DEFAULT_ROOT, Store, StoreError};

/// Docker's exit status when the runtime itself fails.
pub const EXIT_PETI_FAILED: u8 = 125;

/// A minimal, daemonless container runtime with Docker's command line.
#[derive(Parser)]
#[command(name = "peti", version, about, long_about = None)]
pub struct Cli {
    // `required = false` keeps clap from listing these two global options in
    // every subcommand's usage line, as if they had to be given.
    /// Where images and containers live.
    #[arg(long, env = "PETI_ROOT", default_value = DEFAULT_ROOT, global = true, value_name = "DIR", required = false)]
    root: PathBuf,
    /// Where run-time state lives.
    #[arg(long, env = "PETI_RUN", default_value = DEFAULT_RUN_ROOT, global = true, value_name = "DIR", required = false)]
    run_root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

// Deferred: clap builds a subcommand's arguments only when that subcommand is
// the one given (or its help is asked for). Building all of them took about
// 0.2 ms of every start, most of it page faults on the memory they fill:
// `peti --version` went from 83 to 53 page faults and from 0.63 to 0.45 ms
// (median of 200, interleaved). Descriptions stay on the variants, which are
// built at once for `peti --help`.
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// Load images from an OCI image layout directory or OCI archive.
    Load {
        /// The OCI layout or archive to read (for example target/lab/images/lab).
        #[arg(short, long, value_name = "PATH")]
        input: PathBuf,
    },
    /// Create an image from a rootfs tarball (tar or tar.gz).
    Import {
        /// The tarball.
        file: PathBuf,
        /// NAME[:TAG] of the new image.
        reference: String,
    },
    /// List images.
    Images {
        /// Output format: a table, or one JSON object per image.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Give an image another name: SOURCE[:TAG] TARGET[:TAG].
    Tag { source: String, target: String },
    /// Remove images.
    Rmi {
        /// Untag even if a container uses it (its layers stay while it does).
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Create and start a container.
    Run(containers::RunArgs),
    /// Create a container without starting it.
    Create(containers::CreateArgs),
    /// Start stopped or created containers.
    Start {
        /// Attach: wait for the container and show its output.
        #[arg(short, long)]
        attach: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Stop running containers: SIGTERM, then SIGKILL after a grace period.
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long = "time", default_value_t = 10, value_name = "SECS")]
        time: u64,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Send a signal to running containers (default KILL).
    Kill {
        #[arg(short, long, default_value = "KILL", value_name = "SIGNAL")]
        signal: String,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// List containers.
    Ps {
        /// Show all containers, not only running ones.
        #[arg(short, long)]
        all: bool,
        /// Only IDs.
        #[arg(short, long)]
        quiet: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run a command in a running container.
    Exec(containers::ExecArgs),
    /// Show what a detached container printed.
    Logs {
        /// Keep following the output until the container stops.
        #[arg(short, long)]
        follow: bool,
        container: String,
    },
    /// Show containers' full records as JSON.
    Inspect {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Wait for containers to stop and print their exit codes.
    Wait {
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Change the resource limits of containers, while they run.
    Update {
        /// Memory limit (like 64m or 1g).
        #[arg(short, long, allow_hyphen_values = true)]
        memory: Option<String>,
        /// CPUs (like 0.5).
        #[arg(long, allow_hyphen_values = true)]
        cpus: Option<String>,
        /// Processes and threads.
        #[arg(long, allow_hyphen_values = true)]
        pids_limit: Option<String>,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Show containers' resource usage (memory now and peak, CPU time).
    Stats {
        /// One snapshot (the only mode so far; accepted for Docker compatibility).
        #[arg(long)]
        no_stream: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(value_name = "CONTAINER")]
        containers: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

// How the process runs: shared by `run`, `create` and `exec`. (A plain
// comment: see `RunArgs` for why.)
#[derive(Args, Clone)]
pub struct ProcessOptions {
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    workdir: Option<String>,
    /// User: UID[:GID] or NAME[:GROUP].
    #[arg(short, long)]
    user: Option<String>,
}

// Options shared by `run` and `create`.
#[derive(Args, Clone)]
pub struct ContainerOptions {
    /// Assign a name.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    process: ProcessOptions,
    /// Container host name (default: the first 12 digits of its ID).
    #[arg(long)]
    hostname: Option<String>,
    /// Memory limit (for example 64m).
    // A value may start with '-' (as Docker's flag parser takes it), so that
    // `-m -5m` is refused for what it is, a negative size, not as a flag.
    #[arg(short, long, value_name = "BYTES", allow_hyphen_values = true)]
    memory: Option<String>,
    /// Number of CPUs (for example 0.5).
    #[arg(long, allow_hyphen_values = true)]
    cpus: Option<String>,
    /// Maximum number of processes (-1 for unlimited).
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pids_limit: Option<String>,
    /// Bind a host path: HOST:CONTAINER[:ro].
    #[arg(short, long = "volume", value_name = "HOST:CTR[:ro]")]
    volume: Vec<String>,
    /// Mount the root file system read-only.
    #[arg(long)]
    read_only: bool,
    /// Network: none (a namespace of its own, loopback only) or host.
    #[arg(long, default_value = "none", value_parser = ["none", "host"])]
    network: String,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Security options: seccomp=unconfined, or seccomp=PROFILE.json.
    #[arg(long = "security-opt", value_name = "OPTION")]
    security_opt: Vec<String>,
}

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Image(#[from] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// A failure to start, with Docker's exit code (125, 126 or 127).
    #[error("{}", .0.message)]
    Start(Failure),
    #[error(
        "conflict: unable to remove image {image:?} (must force): container {container} is using it"
    )]
    ImageInUse { image: String, container: String },
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// Docker's exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Start(failure) => failure.exit_code,
            _ => EXIT_PETI_FAILED,
        }
    }
}

impl From<Failure> for CliError {
    fn from(failure: Failure) -> Self {
        CliError::Start(failure)
    }
}

/// The stores a command works on.
pub struct Context {
    pub root: PathBuf,
    pub run_root: PathBuf,
    pub images: Store,
    pub containers: ContainerStore,
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    let ctx = Context {
        images: Store::open(&cli.root)?,
        containers: ContainerStore::open(&cli.root, &cli.run_root)?,
        root: cli.root,
        run_root: cli.run_root,
    };
    match cli.command {
        Command::Load { input } => images::load(&ctx.images, &input)?,
        Command::Import { file, reference } => images::import(&ctx.images, &file, &reference)?,
        Command::Images { format } => images::print_images(&ctx.images.list()?, format),
        Command::Tag { source, target } => ctx.images.tag(&source, &target)?,
        Command::Rmi { force, images } => {
            images::rmi(&ctx.images, &ctx.containers, &images, force)?
        }
        Command::Run(args) => return containers::run(&ctx, args),
        Command::Create(args) => containers::create(&ctx, args)?,
        Command::Start { attach, containers } => {
            return containers::start(&ctx, &containers, attach);
        }
        Command::Stop { time, containers } => containers::stop(&ctx, &containers, time)?,
        Command::Kill { signal, containers } => containers::kill(&ctx, &containers, &signal)?,
        Command::Rm { force, containers } => containers::rm(&ctx, &containers, force)?,
        Command::Ps { all, quiet, format } => containers::ps(&ctx, all, quiet, format)?,
        Command::Exec(args) => return containers::exec(&ctx, args),
        Command::Logs { follow, container } => containers::logs(&ctx, &container, follow)?,
        Command::Inspect { containers } => containers::inspect(&ctx, &containers)?,
        Command::Wait { containers } => containers::wait(&ctx, &containers)?,
        Command::Update {
            memory,
            cpus,
            pids_limit,
            containers,
        } => containers::update(&ctx, &containers, memory, cpus, pids_limit)?,
        Command::Stats {
            no_stream: _,
            format,
            containers,
        } => containers::stats(&ctx, &containers, format)?,
    }
    Ok(0)
}
