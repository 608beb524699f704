//! The container commands: run, create, start, stop, kill, rm, ps, exec, logs,
//! inspect, wait, stats.

use std::io::{BufRead, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use nix::unistd::{ForkResult, fork};
use runtime::container::cgroups::Limits;
use runtime::container::exec::{self, ExecRequest};
use runtime::container::lifecycle::{self, LifecycleError};
use runtime::container::monitor;
use runtime::container::process::Failure;
use runtime::container::spawn::{self, Attach};
use runtime::container::spec::{self, ContainerSpec, NetworkMode, Volume};
use runtime::container::state::{Container, StateError, Status};
use runtime::container::trace::{Trace, TraceEvent, Tracer};
use runtime::container::tty;
use runtime::image::store::StoredImage;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CliError, ContainerOptions, Context, Format, ProcessOptions};

// `peti run`. (Plain comments, not doc comments, on the CLI's Args structs:
// clap reads a doc comment as the command's description, and with the
// subcommands' arguments deferred (see `Command` in cli/mod.rs) it would
// replace the description written on the subcommand.)
#[derive(Args)]
pub struct RunArgs {
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    detach: bool,
    /// Print each step of starting the container, with its duration.
    #[arg(long)]
    trace: bool,
    /// Write the same steps as JSON to this file.
    #[arg(long, value_name = "FILE")]
    trace_json: Option<PathBuf>,
    #[command(flatten)]
    container: CreateArgs,
}

// `peti create`, and the part of `peti run` that says what to run.
#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    options: ContainerOptions,
    /// The image to run.
    image: String,
    /// The command and its arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

// `peti exec`.
#[derive(Args)]
pub struct ExecArgs {
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    #[command(flatten)]
    process: ProcessOptions,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// `peti update`: new limits, printed container by container as Docker does.
pub fn update(
    ctx: &Context,
    names: &[String],
    memory: Option<String>,
    cpus: Option<String>,
    pids_limit: Option<String>,
) -> Result<(), CliError> {
    if memory.is_none() && cpus.is_none() && pids_limit.is_none() {
        return Err(CliError::Other(
            "you must provide one or more flags when using this command".into(),
        ));
    }
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limits = Limits {
        memory_bytes: memory.as_deref().map(spec::parse_memory).transpose()?,
        cpu_quota_us: cpus
            .as_deref()
            .map(|c| spec::parse_cpus(c, host_cpus))
            .transpose()?,
        pids: pids_limit
            .as_deref()
            .map(spec::parse_pids_limit)
            .transpose()?
            .flatten(),
    };
    for name in names {
        let container = ctx.containers.find(name)?;
        lifecycle::update(&ctx.containers, &container, &limits)?;
        println!("{name}");
    }
    Ok(())
}

/// Combines the image's config with the command line.
fn build_spec(
    image: &StoredImage,
    o: &ContainerOptions,
    command: &[String],
) -> Result<ContainerSpec, CliError> {
    let config = image.config.config().clone().unwrap_or_default();
    let strings = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let args = spec::command_line(
        &strings(config.entrypoint()),
        &strings(config.cmd()),
        command,
    )?;
    let env = spec::merge_env(&strings(config.env()), &o.process.env, |k| {
        std::env::var(k).ok()
    })?;
    let workdir = o
        .process
        .workdir
        .clone()
        .or_else(|| config.working_dir().clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    spec::check_workdir(&workdir)?;
    let user = o
        .process
        .user
        .clone()
        .or_else(|| config.user().clone())
        .unwrap_or_default();
    if !user.is_empty() {
        spec::check_user(&user)?;
    }
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limits = Limits {
        memory_bytes: o.memory.as_deref().map(spec::parse_memory).transpose()?,
        cpu_quota_us: o
            .cpus
            .as_deref()
            .map(|c| spec::parse_cpus(c, host_cpus))
            .transpose()?,
        pids: o
            .pids_limit
            .as_deref()
            .map(spec::parse_pids_limit)
            .transpose()?
            .flatten(),
    };
    let volumes = o
        .volume
        .iter()
        .map(|v| Volume::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    for volume in &volumes {
        // Docker creates a missing host directory for -v.
        if !volume.host.exists() {
            std::fs::create_dir_all(&volume.host).map_err(|e| {
                CliError::Other(format!("volume source {}: {e}", volume.host.display()))
            })?;
        }
    }
    let network = if o.network == "host" {
        NetworkMode::Host
    } else {
        NetworkMode::None
    };
    let hostname = match (&o.hostname, network) {
        (Some(h), _) => {
            spec::check_hostname(h)?;
            h.clone()
        }
        (None, NetworkMode::Host) => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        (None, NetworkMode::None) => String::new(),
    };
    Ok(ContainerSpec {
        args,
        env,
        workdir,
        user,
        hostname,
        tty: o.tty,
        stdin: o.interactive,
        limits,
        volumes,
        read_only: o.read_only,
        network,
        auto_remove: o.rm,
        seccomp: spec::parse_security_opts(&o.security_opt)?,
    })
}

fn create_container(
    ctx: &Context,
    image: &str,
    o: &ContainerOptions,
    command: &[String],
    starting_now: bool,
) -> Result<Container, CliError> {
    let stored = ctx.images.image(image)?;
    let spec = build_spec(&stored, o, command)?;
    Ok(lifecycle::create(
        &ctx.images,
        &ctx.containers,
        image,
        &stored,
        o.name.as_deref(),
        spec,
        starting_now,
    )?)
}

/// `peti create`: prints the new container's ID.
pub fn create(ctx: &Context, args: CreateArgs) -> Result<(), CliError> {
    let container = create_container(ctx, &args.image, &args.options, &args.command, false)?;
    println!("{}", container.id);
    Ok(())
}

/// `peti run`: create, then start in the foreground or (`-d`) detached.
pub fn run(ctx: &Context, args: RunArgs) -> Result<u8, CliError> {
    let options = &args.container.options;
    if !args.detach {
        check_terminal(options.tty && options.interactive)?;
    }
    let mut tracer = Tracer::new(args.trace || args.trace_json.is_some(), "peti");
    let container = tracer.step(
        "create",
        &format!("record, upper/ and work/ for {}", args.container.image),
        || {
            let what = &args.container;
            create_container(ctx, &what.image, &what.options, &what.command, true)
        },
    )?;
    let id = container.id.clone();
    let result = if args.detach {
        start_detached(ctx, container, &mut tracer).map(|()| {
            println!("{id}");
            0
        })
    } else {
        run_foreground(ctx, container, &mut tracer)
    };
    if tracer.enabled {
        emit_trace(
            &id,
            std::mem::take(&mut tracer.events),
            args.trace,
            args.trace_json.as_deref(),
        )?;
    }
    result
}

fn emit_trace(
    id: &str,
    events: Vec<TraceEvent>,
    print: bool,
    json_file: Option<&Path>,
) -> Result<(), CliError> {
    let origin_ns = events.iter().map(|e| e.start_ns).min().unwrap_or(0);
    let trace = Trace {
        container: id.to_string(),
        origin_ns,
        events,
    };
    if print {
        let _ = trace.print(&mut std::io::stderr().lock());
    }
    if let Some(path) = json_file {
        let bytes = serde_json::to_vec_pretty(&trace).expect("a trace serialises");
        std::fs::write(path, bytes)
            .map_err(|e| CliError::Other(format!("--trace-json {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Starts a container attached to this terminal and waits for it.
fn run_foreground(
    ctx: &Context,
    container: Container,
    tracer: &mut Tracer,
) -> Result<u8, CliError> {
    let id = container.id.clone();
    let spec = container.spec.clone();
    let started = match spawn::start(&ctx.containers, container, Attach::Foreground, tracer) {
        Ok(started) => started,
        Err(failure) => {
            if spec.auto_remove {
                remove_quietly(ctx, &id);
            }
            return Err(failure.into());
        }
    };
    if let Some(master) = started.pty_master {
        let _ = tty::relay(master, spec.stdin);
    }
    let exit = tracer.step("wait", "until the container's first process exits", || {
        lifecycle::wait_foreground(&id, started.pid)
    })?;
    let detail = if spec.auto_remove {
        "remove cgroup, upper/, work/, record (--rm)"
    } else {
        "record the exit"
    };
    tracer.step("exit", detail, || {
        lifecycle::finish_foreground(&ctx.containers, &id, &exit)
    })?;
    if spec.auto_remove {
        prune_if_untagged(ctx, &started.container);
    }
    Ok(exit.exit_code() as u8)
}

fn remove_quietly(ctx: &Context, id: &str) {
    if let Ok(container) = ctx.containers.find(id) {
        let _ = lifecycle::remove(&ctx.containers, &container, true);
        prune_if_untagged(ctx, &container);
    }
}

/// What the process that becomes the monitor tells `peti run -d`.
#[derive(Serialize, Deserialize)]
struct DetachedResult {
    error: Option<(u8, String)>,
    trace: Vec<TraceEvent>,
}

/// Starts a container in the background: a forked process starts it, reports back,
/// then becomes its monitor.
fn start_detached(
    ctx: &Context,
    container: Container,
    tracer: &mut Tracer,
) -> Result<(), CliError> {
    let monitor = monitor::install(&ctx.root).map_err(|e| CliError::Other(e.to_string()))?;
    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| CliError::Other(format!("pipe: {e}")))?;
    // SAFETY: peti is single-threaded; the child runs our own code, then execs.
    match unsafe { fork() }.map_err(|e| CliError::Other(format!("fork: {e}")))? {
        ForkResult::Child => {
            drop(report_r);
            let code = become_monitor(
                ctx,
                container,
                &monitor,
                std::fs::File::from(report_w),
                tracer.enabled,
            );
            // SAFETY: _exit leaves without running destructors twice in a fork.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(report_w);
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut std::fs::File::from(report_r), &mut text);
            // The child has setsid'd and will exec; reap only if it already ended.
            let _ = nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            let result: DetachedResult = serde_json::from_str(&text).map_err(|_| {
                CliError::Other(
                    "the container's monitor died while starting it: see `peti ps -a`".into(),
                )
            })?;
            tracer.events.extend(result.trace);
            match result.error {
                Some((exit_code, message)) => Err(Failure { exit_code, message }.into()),
                None => Ok(()),
            }
        }
    }
}

/// In the forked child: start the container, report, exec the monitor.
fn become_monitor(
    ctx: &Context,
    container: Container,
    monitor_path: &Path,
    mut report: std::fs::File,
    trace: bool,
) -> i32 {
    let _ = nix::unistd::setsid();
    let id = container.id.clone();
    let auto_remove = container.spec.auto_remove;
    let mut tracer = Tracer::new(trace, "peti");
    let started = spawn::start(&ctx.containers, container, Attach::Detached, &mut tracer);
    let (result, started) = match started {
        Ok(started) => (
            DetachedResult {
                error: None,
                trace: tracer.events,
            },
            Some(started),
        ),
        Err(f) => (
            DetachedResult {
                error: Some((f.exit_code, f.message)),
                trace: tracer.events,
            },
            None,
        ),
    };
    let _ = report.write_all(&serde_json::to_vec(&result).expect("a report serialises"));
    drop(report);
    let Some(started) = started else {
        if auto_remove {
            remove_quietly(ctx, &id);
        }
        return 1;
    };
    let after: Vec<String> = match (auto_remove, std::env::current_exe()) {
        (true, Ok(exe)) => vec![
            exe.display().to_string(),
            "--root".into(),
            ctx.root.display().to_string(),
            "--run-root".into(),
            ctx.run_root.display().to_string(),
            "rm".into(),
            "-f".into(),
            id.clone(),
        ],
        _ => Vec::new(),
    };
    let output = match detached_output(started.output, started.pty_master) {
        Ok(output) => output,
        Err(e) => {
            let _ = nix::sys::signal::kill(started.pid, nix::sys::signal::Signal::SIGKILL);
            eprintln!("peti: error: {e}");
            return 125;
        }
    };
    let error = monitor::become_monitor(
        monitor_path,
        started.pid.as_raw(),
        output,
        &ctx.containers.log_file(&id),
        &ctx.containers.exit_file(&id),
        &after,
    );
    // Without a monitor nobody would collect the container: stop it.
    let _ = nix::sys::signal::kill(started.pid, nix::sys::signal::Signal::SIGKILL);
    eprintln!("peti: error: {error}");
    125
}

/// What the monitor reads: the stdout and stderr pipes, or with `-dt` the
/// terminal, whose output is all logged as stdout (Docker does the same). The
/// stderr slot then gets /dev/null, which reads as an empty stream.
fn detached_output(
    pipes: Option<(OwnedFd, OwnedFd)>,
    pty_master: Option<OwnedFd>,
) -> Result<(OwnedFd, OwnedFd), CliError> {
    match (pipes, pty_master) {
        (Some(pipes), _) => Ok(pipes),
        (None, Some(master)) => {
            let empty = nix::fcntl::open(
                "/dev/null",
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| CliError::Other(format!("/dev/null: {e}")))?;
            Ok((master, empty))
        }
        (None, None) => Err(CliError::Other(
            "a detached container started without output streams".into(),
        )),
    }
}

/// `-it` relays this terminal to the container's, so stdin must be one: Docker
/// refuses the same way. A detached `-dit` needs no terminal here.
fn check_terminal(attached_tty: bool) -> Result<(), CliError> {
    if attached_tty && !nix::unistd::isatty(std::io::stdin().as_fd()).unwrap_or(false) {
        return Err(CliError::Other(
            "the input device is not a TTY: drop -t, or run from a terminal".into(),
        ));
    }
    Ok(())
}

/// `peti start [-a]`.
pub fn start(ctx: &Context, names: &[String], attach: bool) -> Result<u8, CliError> {
    let mut last = 0;
    for name in names {
        let container = ctx.containers.refresh(ctx.containers.find(name)?)?;
        if container.state.status == Status::Running {
            if attach {
                return Err(LifecycleError::AlreadyRunning(name.clone()).into());
            }
            println!("{name}");
            continue;
        }
        let mut tracer = Tracer::new(false, "peti");
        if attach {
            check_terminal(container.spec.tty && container.spec.stdin)?;
            last = run_foreground(ctx, container, &mut tracer)?;
        } else {
            start_detached(ctx, container, &mut tracer)?;
            println!("{name}");
        }
    }
    Ok(last)
}

/// `peti stop`.
pub fn stop(ctx: &Context, names: &[String], seconds: u64) -> Result<(), CliError> {
    for name in names {
        let container = ctx.containers.find(name)?;
        lifecycle::stop(&ctx.containers, &container, Duration::from_secs(seconds))?;
        println!("{name}");
    }
    Ok(())
}

/// `peti kill`.
pub fn kill(ctx: &Context, names: &[String], signal: &str) -> Result<(), CliError> {
    let signal = lifecycle::parse_signal(signal)?;
    for name in names {
        let container = ctx.containers.find(name)?;
        lifecycle::kill_container(&ctx.containers, &container, signal)?;
        println!("{name}");
    }
    Ok(())
}

/// `peti rm`.
pub fn rm(ctx: &Context, names: &[String], force: bool) -> Result<(), CliError> {
    for name in names {
        let container = ctx.containers.find(name)?;
        lifecycle::remove(&ctx.containers, &container, force)?;
        prune_if_untagged(ctx, &container);
        println!("{name}");
    }
    Ok(())
}

/// After `rmi -f` untagged an image a container used, its layers were kept for
/// that container; once no container needs them, they go.
fn prune_if_untagged(ctx: &Context, container: &Container) {
    // Only an untagged image needs the (costlier) look at every container's
    // record: the common case, a tagged image, stops at repositories.json.
    if !matches!(ctx.images.is_tagged(&container.manifest_digest), Ok(false)) {
        return;
    }
    if let Ok(in_use) = ctx.containers.images_in_use() {
        let _ = ctx.images.prune(&in_use);
    }
}

/// A container as it is now, or `None` if refreshing found it gone: removed by
/// another command meanwhile, or a lost `--rm` container that the refresh removed.
fn refreshed(ctx: &Context, container: Container) -> Result<Option<Container>, CliError> {
    match ctx.containers.refresh(container) {
        Ok(c) => Ok(Some(c)),
        Err(StateError::NoSuchContainer(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `peti ps`.
pub fn ps(ctx: &Context, all: bool, quiet: bool, format: Format) -> Result<(), CliError> {
    let mut rows = Vec::new();
    for container in ctx.containers.all()? {
        let Some(container) = refreshed(ctx, container)? else {
            continue;
        };
        if all || container.state.status == Status::Running {
            rows.push(container);
        }
    }
    rows.reverse(); // newest first, as Docker lists them
    if quiet {
        rows.iter().for_each(|c| println!("{}", &c.id[..12]));
        return Ok(());
    }
    if format == Format::Json {
        for c in &rows {
            let row = json!({
                "ID": &c.id[..12],
                "Image": c.image,
                "Command": quoted_command(&c.spec.args),
                "CreatedAt": c.created,
                "State": c.state.status.as_str(),
                "Status": status_text(c),
                "Names": c.name,
                "ExitCode": c.state.exit_code,
            });
            println!("{row}");
        }
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                c.id[..12].to_string(),
                c.image.clone(),
                format!("\"{}\"", truncate(&c.spec.args.join(" "), 20)),
                format!("{} ago", human_duration(since(&c.created))),
                status_text(c),
                c.name.clone(),
            ]
        })
        .collect();
    super::table::print_table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
        &table,
    );
    Ok(())
}

fn quoted_command(args: &[String]) -> String {
    format!("\"{}\"", args.join(" "))
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let cut: String = text.chars().take(width - 1).collect();
    format!("{cut}…")
}

fn since(rfc3339: &str) -> Duration {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Docker's Status column.
fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Created => "Created".to_string(),
        Status::Running => format!(
            "Up {}",
            human_duration(since(c.state.started_at.as_deref().unwrap_or("")))
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            human_duration(since(c.state.finished_at.as_deref().unwrap_or("")))
        ),
    }
}

/// Docker's HumanDuration (go-units): "Less than a second", "5 seconds",
/// "About a minute", "3 hours", ...
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, s / 3600);
    match s {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        2..=59 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".to_string(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".to_string(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 3 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

/// `peti exec`.
pub fn exec(ctx: &Context, args: ExecArgs) -> Result<u8, CliError> {
    let container = ctx
        .containers
        .refresh(ctx.containers.find(&args.container)?)?;
    let env = spec::merge_env(&container.spec.env, &args.process.env, |k| {
        std::env::var(k).ok()
    })?;
    if let Some(user) = &args.process.user {
        spec::check_user(user)?;
    }
    if let Some(workdir) = &args.process.workdir {
        spec::check_workdir(workdir)?;
    }
    let request = ExecRequest {
        args: &args.command,
        env,
        workdir: args
            .process
            .workdir
            .as_deref()
            .unwrap_or(&container.spec.workdir),
        user: args.process.user.as_deref().unwrap_or(&container.spec.user),
        tty: args.tty,
        stdin: args.interactive,
    };
    let executed = exec::exec(&container, request)?;
    if let Some(master) = executed.pty_master {
        let _ = tty::relay(master, args.interactive);
    }
    let status = lifecycle::wait_forwarding(executed.pid)
        .map_err(|e| CliError::Other(format!("wait: {e}")))?;
    let exit = runtime::container::state::ExitRecord {
        wait_status: status,
        finished_unix_nanos: 0,
    };
    Ok(exit.exit_code() as u8)
}

/// `peti logs [-f]`: the monitor's JSON lines, back on stdout and stderr.
pub fn logs(ctx: &Context, name: &str, follow: bool) -> Result<(), CliError> {
    let container = ctx.containers.find(name)?;
    let path = ctx.containers.log_file(&container.id);
    let mut offset = 0u64;
    loop {
        offset = print_log_from(&path, offset)?;
        if !follow {
            return Ok(());
        }
        let container = match ctx.containers.find(&container.id) {
            Ok(c) => match refreshed(ctx, c)? {
                Some(c) => c,
                None => return Ok(()),
            },
            Err(_) => return Ok(()),
        };
        if container.state.status != Status::Running {
            print_log_from(&path, offset)?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[derive(Deserialize)]
struct LogLine {
    log: String,
    stream: String,
}

/// Prints complete log lines after `offset`; returns the new offset.
fn print_log_from(path: &Path, offset: u64) -> Result<u64, CliError> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(offset);
    };
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))
        .map_err(|e| CliError::Other(e.to_string()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut offset = offset;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut line = String::new();
    while reader
        .read_line(&mut line)
        .map_err(|e| CliError::Other(e.to_string()))?
        > 0
    {
        if !line.ends_with('\n') {
            break; // the monitor is still writing it
        }
        offset += line.len() as u64;
        if let Ok(entry) = serde_json::from_str::<LogLine>(&line) {
            let target: &mut dyn Write = if entry.stream == "stderr" {
                &mut err
            } else {
                &mut out
            };
            let _ = target.write_all(entry.log.as_bytes());
        }
        line.clear();
    }
    let _ = out.flush();
    Ok(offset)
}

/// `peti inspect`: a JSON array, with Docker's field names where Docker has one.
pub fn inspect(ctx: &Context, names: &[String]) -> Result<(), CliError> {
    let mut all = Vec::new();
    for name in names {
        let c = ctx.containers.refresh(ctx.containers.find(name)?)?;
        let dir = ctx.containers.dir(&c.id);
        let running = c.state.status == Status::Running;
        all.push(json!({
            "Id": c.id,
            "Created": c.created,
            "Path": c.spec.args.first(),
            "Args": c.spec.args.get(1..).unwrap_or_default(),
            "State": {
                "Status": c.state.status.as_str(),
                "Running": running,
                "Paused": false,
                "Restarting": false,
                "OOMKilled": c.state.oom_killed,
                "Dead": false,
                "Pid": c.state.process.filter(|_| running).map_or(0, |p| p.pid),
                "ExitCode": c.state.exit_code.unwrap_or(0),
                "Error": c.state.error.clone().unwrap_or_default(),
                "StartedAt": c.state.started_at,
                "FinishedAt": c.state.finished_at,
            },
            "Image": c.image_id,
            "Name": format!("/{}", c.name),
            "LogPath": ctx.containers.log_file(&c.id),
            "HostConfig": {
                "Memory": c.spec.limits.memory_bytes.unwrap_or(0),
                "NanoCpus": c.spec.limits.cpu_quota_us.map_or(0, |q| q * 10_000),
                "PidsLimit": c.spec.limits.pids,
                "ReadonlyRootfs": c.spec.read_only,
                "NetworkMode": c.spec.network.as_str(),
                "AutoRemove": c.spec.auto_remove,
                "Binds": c.spec.volumes.iter().map(|v| format!(
                    "{}:{}{}", v.host.display(), v.container.display(), if v.read_only { ":ro" } else { "" }
                )).collect::<Vec<_>>(),
            },
            "Config": {
                "Hostname": c.spec.hostname,
                "User": c.spec.user,
                "Env": c.spec.env,
                "Cmd": c.spec.args,
                "Image": c.image,
                "WorkingDir": c.spec.workdir,
                "Tty": c.spec.tty,
                "OpenStdin": c.spec.stdin,
            },
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDir": c.lower_dirs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
                    "UpperDir": dir.join("upper"),
                    "WorkDir": dir.join("work"),
                },
            },
            "Peti": {
                "Cgroup": c.cgroup,
                "MonitorPid": c.state.monitor.filter(|_| running).map(|p| p.pid),
                "RunDir": ctx.containers.run_dir(&c.id),
            },
        }));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&all).expect("JSON values serialise")
    );
    Ok(())
}

/// `peti wait`: blocks until each container stops; prints its exit code.
pub fn wait(ctx: &Context, names: &[String]) -> Result<(), CliError> {
    for name in names {
        let container = ctx.containers.find(name)?;
        let container = lifecycle::wait_recorded(&ctx.containers, &container.id)?;
        println!("{}", container.state.exit_code.unwrap_or(0));
    }
    Ok(())
}

/// `peti stats --no-stream`: what each container's cgroup has counted.
pub fn stats(ctx: &Context, names: &[String], format: Format) -> Result<(), CliError> {
    let containers: Vec<Container> = if names.is_empty() {
        let mut running = Vec::new();
        for c in ctx.containers.all()? {
            let Some(c) = refreshed(ctx, c)? else {
                continue;
            };
            if c.state.status == Status::Running {
                running.push(c);
            }
        }
        running
    } else {
        names
            .iter()
            .map(|n| ctx.containers.find(n))
            .collect::<Result<_, _>>()?
    };
    let mut table = Vec::new();
    for c in containers {
        let Some(cgroup) = &c.cgroup else {
            return Err(CliError::Other(format!(
                "container {} has never run: no usage to show",
                c.name
            )));
        };
        let usage = cgroup.usage().map_err(|e| CliError::Other(e.to_string()))?;
        if format == Format::Json {
            let row = json!({
                "ID": &c.id[..12],
                "Name": c.name,
                "MemoryBytes": usage.memory_bytes,
                "MemoryPeakBytes": usage.memory_peak_bytes,
                "MemoryLimitBytes": c.spec.limits.memory_bytes,
                "CpuNanos": usage.cpu_nanos,
                "OomKills": usage.oom_kills,
            });
            println!("{row}");
        } else {
            let mib = |b: u64| format!("{:.1}MiB", b as f64 / (1 << 20) as f64);
            table.push(vec![
                c.id[..12].to_string(),
                c.name.clone(),
                format!("{:.3}s", usage.cpu_nanos as f64 / 1e9),
                mib(usage.memory_bytes),
                usage.memory_peak_bytes.map_or("-".into(), mib),
                c.spec.limits.memory_bytes.map_or("none".into(), mib),
            ]);
        }
    }
    if format == Format::Table {
        super::table::print_table(
            &[
                "CONTAINER ID",
                "NAME",
                "CPU TIME",
                "MEM",
                "MEM PEAK",
                "LIMIT",
            ],
            &table,
        );
    }
    Ok(())
}
