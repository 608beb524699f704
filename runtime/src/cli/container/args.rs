//! What the container commands accept: clap's definitions, and how they become
//! the engine's options. (Plain comments on the Args structs: see `cli::args`.)

use std::path::PathBuf;

use clap::{Args, Subcommand};
use runtime::container::spec::{self, NetworkMode};
use runtime::engine::exec::ExecOptions;

use crate::cli::args::Format;

/// The container commands, top-level and under `peti container`. (Deferred,
/// as `cli::args::Command` is: a flattened group does not inherit it.)
#[derive(Subcommand)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// Create and start a container.
    Run(RunArgs),
    /// Create a container without starting it.
    Create(CreateArgs),
    /// Start stopped or created containers.
    Start(StartArgs),
    /// Stop running containers: SIGTERM, then SIGKILL after a grace period.
    Stop(StopArgs),
    /// Restart containers: stop (SIGTERM, then SIGKILL after -t), then start.
    Restart(StopArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Send a signal to running containers (default KILL).
    Kill(KillArgs),
    /// Remove containers.
    Rm(RemoveArgs),
    /// List containers.
    #[command(alias = "ls", alias = "list")]
    Ps(PsArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Show what a detached container printed.
    Logs(LogsArgs),
    /// Show containers' full records as JSON.
    Inspect(InspectArgs),
    /// Wait for containers to stop and print their exit codes.
    Wait(Containers),
    /// Change the resource limits of containers, while they run.
    Update(UpdateArgs),
    /// Show containers' resource usage (memory now and peak, CPU time).
    Stats(StatsArgs),
    /// Remove all stopped containers.
    Prune(PruneArgs),
    /// Copy files between a container and the host: `cp C:SRC DEST`, `cp SRC C:DEST` (`-` for a tar).
    Cp(CpArgs),
    /// List a container's published ports (none until peti has networks).
    Port(PortArgs),
    /// Show the processes a running container runs, as the host sees them.
    Top(OneContainer),
    /// Freeze every process of running containers.
    Pause(Containers),
    /// Let paused containers' processes go on.
    Unpause(Containers),
    /// List the files a container added (A), changed (C) or deleted (D).
    Diff(OneContainer),
    /// Make a new image of a container's changes.
    Commit(CommitArgs),
    /// Write a container's whole file system as a tar archive.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct CpArgs {
    /// CONTAINER:PATH, a host path, or - (a tar on standard input).
    pub src: String,
    /// CONTAINER:PATH, a host path, or - (a tar on standard output).
    pub dest: String,
}

#[derive(Args)]
pub struct PortArgs {
    pub container: String,
    /// Only this one: PORT or PORT/PROTO (tcp, udp).
    pub private_port: Option<String>,
}

#[derive(Args)]
pub struct OneContainer {
    pub container: String,
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author of the new image (for example "Name <mail>").
    #[arg(short, long)]
    pub author: Option<String>,
    /// A message for the new layer's history.
    #[arg(short, long)]
    pub message: Option<String>,
    pub container: String,
    /// The new image's name. (Docker allows none, for an image known only
    /// by its ID; peti keeps images by name, so one is needed.)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: String,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to this file, not to standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

// Containers named on the command line, at least one.
#[derive(Args)]
pub struct Containers {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// A Go template run on each object (`{{.State.Status}}`), as Docker's.
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    /// Print the container's size fields too (accepted; peti has none).
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Args)]
pub struct StartArgs {
    /// Attach: wait for the container and show its output.
    #[arg(short, long)]
    pub attach: bool,
    #[command(flatten)]
    pub names: Containers,
}

#[derive(Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Args)]
pub struct StopArgs {
    /// Seconds to wait before SIGKILL.
    #[arg(short = 't', long = "time", default_value_t = 10, value_name = "SECS")]
    pub time: u64,
    #[command(flatten)]
    pub names: Containers,
}

#[derive(Args)]
pub struct KillArgs {
    #[arg(short, long, default_value = "KILL", value_name = "SIGNAL")]
    pub signal: String,
    #[command(flatten)]
    pub names: Containers,
}

#[derive(Args)]
pub struct RemoveArgs {
    /// Kill a running container first.
    #[arg(short, long)]
    pub force: bool,
    /// Remove its anonymous volumes too.
    #[arg(short, long)]
    pub volumes: bool,
    #[command(flatten)]
    pub names: Containers,
}

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Only IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\t{{.Status}}`).
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: Format,
    /// Whole IDs and commands, not cut to fit.
    #[arg(long)]
    pub no_trunc: bool,
    /// The size of each container's writable layer, and with its image.
    #[arg(short, long)]
    pub size: bool,
    /// The N containers created last, in every state.
    #[arg(short = 'n', long, value_name = "N")]
    pub last: Option<usize>,
    /// The container created last, in every state.
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Only those that match: status=, name=, id=, ancestor=.
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

#[derive(Args)]
pub struct LogsArgs {
    /// Keep following the output until the container stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines ("all" for every line).
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,
    /// Prefix each line with the time it was logged.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only lines logged since this time: 2026-12-02T07:00:00Z, a Unix
    /// time, or how long ago (10m, 1h30m).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines logged before this time (the same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    pub container: String,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Memory limit (like 64m or 1g).
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// CPUs (like 0.5).
    #[arg(long, allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// Processes and threads.
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    #[command(flatten)]
    pub names: Containers,
}

#[derive(Args)]
pub struct StatsArgs {
    /// One snapshot (the only mode so far; accepted for Docker compatibility).
    #[arg(long)]
    pub no_stream: bool,
    /// table, json, or a Go template (`{{.Name}} {{.MemUsage}}`).
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: Format,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

// `peti run`.
#[derive(Args)]
pub struct RunArgs {
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    pub detach: bool,
    /// Print each step of starting the container, with its duration.
    #[arg(long)]
    pub trace: bool,
    /// Write the same steps as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub trace_json: Option<PathBuf>,
    #[command(flatten)]
    pub container: CreateArgs,
}

// `peti create`, and the part of `peti run` that says what to run.
#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub options: ContainerOptions,
    /// The image to run.
    pub image: String,
    /// The command and its arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

// `peti exec`.
#[derive(Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub terminal: TerminalOptions,
    #[command(flatten)]
    pub process: ProcessOptions,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl ExecArgs {
    pub fn options(&self) -> ExecOptions {
        ExecOptions {
            command: self.command.clone(),
            process: self.process.to_options(),
            interactive: self.terminal.interactive,
            tty: self.terminal.tty,
        }
    }
}

// -i and -t, for run, create and exec.
#[derive(Args, Clone)]
pub struct TerminalOptions {
    /// Keep stdin open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
}

// How the process runs: shared by `run`, `create` and `exec`.
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

impl ProcessOptions {
    fn to_options(&self) -> spec::ProcessOptions {
        spec::ProcessOptions {
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
        }
    }
}

/// `--network`'s values, listed in the help, parsed into the mode.
fn network_mode() -> impl clap::builder::TypedValueParser<Value = NetworkMode> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["none", "host"]).map(|mode| match mode.as_str() {
        "host" => NetworkMode::Host,
        _ => NetworkMode::None,
    })
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
    #[arg(long, default_value = "none", value_parser = network_mode())]
    network: NetworkMode,
    #[command(flatten)]
    pub terminal: TerminalOptions,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Security options: seccomp=unconfined, seccomp=PROFILE.json, no-new-privileges.
    #[arg(long = "security-opt", value_name = "OPTION")]
    security_opt: Vec<String>,
    /// Add a capability to Docker's default set (NET_ADMIN, or ALL).
    #[arg(long = "cap-add", value_name = "CAPABILITY")]
    cap_add: Vec<String>,
    /// Drop a capability from Docker's default set (CHOWN, or ALL).
    #[arg(long = "cap-drop", value_name = "CAPABILITY")]
    cap_drop: Vec<String>,
    /// Every capability, no seccomp filter, no masked kernel paths, /sys
    /// writable and every device usable: the host's root, in a container.
    #[arg(long)]
    privileged: bool,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    init: bool,
    /// Optional parent cgroup for the container (default: peti).
    #[arg(long, value_name = "PATH")]
    cgroup_parent: Option<String>,
    /// Overwrite the image's ENTRYPOINT (and drop its CMD); "" for none.
    #[arg(long, value_name = "COMMAND", allow_hyphen_values = true)]
    entrypoint: Option<String>,
    /// Set metadata on the container (KEY=VALUE).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    label: Vec<String>,
}

impl ContainerOptions {
    /// The options, as the engine takes them.
    pub fn to_options(&self) -> spec::Options {
        spec::Options {
            name: self.name.clone(),
            process: self.process.to_options(),
            hostname: self.hostname.clone(),
            memory: self.memory.clone(),
            cpus: self.cpus.clone(),
            pids_limit: self.pids_limit.clone(),
            volumes: self.volume.clone(),
            read_only: self.read_only,
            network: self.network,
            interactive: self.terminal.interactive,
            tty: self.terminal.tty,
            auto_remove: self.rm,
            security_opt: self.security_opt.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            init: self.init,
            cgroup_parent: self.cgroup_parent.clone(),
            entrypoint: self.entrypoint.clone(),
            labels: self.label.clone(),
        }
    }
}
