//! The container commands: what they accept ([`args`]), and the thin handlers
//! that call the engine and print ([`start`]: run, create, start and the other
//! commands that change a container; [`show`]: ps, inspect, logs, stats).

pub mod args;
mod rows;
mod show;
mod start;

use runtime::engine::Engine;

pub use args::ContainerCommand;
pub use show::inspect_each;

use super::CliError;
use crate::cli::out::{self, outln};

/// Runs one container command; returns the process exit status. `top_level`
/// is the command given without `container` before it: then `inspect` looks
/// for an image too, when no container has the name, as Docker's does.
pub fn run(engine: &Engine, command: ContainerCommand, top_level: bool) -> Result<u8, CliError> {
    match command {
        ContainerCommand::Run(a) => return start::run(engine, a),
        ContainerCommand::Create(a) => start::create(engine, a)?,
        ContainerCommand::Start(a) => return start::start(engine, &a.names.containers, a.attach),
        ContainerCommand::Stop(a) => start::each(&a.names.containers, |n| {
            engine
                .stop(n, std::time::Duration::from_secs(a.time))
                .map(drop)
        })?,
        ContainerCommand::Restart(a) => start::each(&a.names.containers, |n| {
            engine.restart(n, std::time::Duration::from_secs(a.time))
        })?,
        ContainerCommand::Rename(a) => engine.rename(&a.container, &a.new_name)?,
        ContainerCommand::Kill(a) => {
            start::each(&a.names.containers, |n| engine.kill(n, &a.signal))?
        }
        ContainerCommand::Rm(a) => start::each(&a.names.containers, |n| {
            engine.remove(n, a.force, a.volumes)
        })?,
        ContainerCommand::Update(a) => start::each(&a.names.containers, |n| {
            let (m, c, p) = (
                a.memory.as_deref(),
                a.cpus.as_deref(),
                a.pids_limit.as_deref(),
            );
            engine.update(n, m, c, p).map(drop)
        })?,
        ContainerCommand::Wait(a) => {
            for name in &a.containers {
                outln!("{}", engine.wait(name)?);
            }
        }
        ContainerCommand::Exec(a) => return Ok(engine.exec(&a.container, &a.options())? as u8),
        ContainerCommand::Ps(a) => show::ps(engine, &a)?,
        ContainerCommand::Logs(a) => show::logs(engine, &a)?,
        ContainerCommand::Inspect(a) => show::inspect(engine, &a, top_level)?,
        ContainerCommand::Stats(a) => show::stats(engine, &a)?,
        ContainerCommand::Prune(a) => prune(engine, a.force)?,
        ContainerCommand::Cp(a) => copy(engine, &a)?,
        // peti publishes no ports yet (`-p` comes with its networks): every
        // container has none, which Docker prints as nothing, and a port
        // asked for by name is not published.
        ContainerCommand::Port(a) => {
            engine.container(&a.container)?;
            if let Some(port) = a.private_port {
                let port = if port.contains('/') {
                    port
                } else {
                    format!("{port}/tcp")
                };
                return Err(CliError::NoPublicPort(port, a.container));
            }
        }
        ContainerCommand::Top(a) => {
            let mut text = String::from("UID\tPID\tPPID\tC\tSTIME\tTTY\tTIME\tCMD\n");
            for r in engine.top(&a.container)? {
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    r.uid, r.pid, r.ppid, r.cpu, r.stime, r.tty, r.time, r.cmd
                ));
            }
            // As Docker's CLI prints it: columns at least 20 wide.
            out::write(format_args!(
                "{}",
                crate::cli::format::tabwriter::align_with(&text, 20)
            ));
        }
        ContainerCommand::Pause(a) => start::each(&a.containers, |n| engine.pause(n, true))?,
        ContainerCommand::Unpause(a) => start::each(&a.containers, |n| engine.pause(n, false))?,
        ContainerCommand::Diff(a) => {
            for change in engine.diff(&a.container)? {
                outln!("{} {}", change.kind.letter(), change.path.display());
            }
        }
        ContainerCommand::Commit(a) => {
            let request = runtime::engine::changes::CommitRequest {
                container: a.container,
                reference: a.reference,
                author: a.author,
                message: a.message,
            };
            outln!("{}", engine.commit(&request)?);
        }
        ContainerCommand::Export(a) => export(engine, &a)?,
    }
    Ok(0)
}

/// `peti container prune [-f]`, with Docker's question and report.
/// Docker's reading of a `cp` argument: `CONTAINER:PATH`, unless it is a
/// path (starting with `/` or `.`), where a colon is part of a name.
fn container_side(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty())
}

/// `peti cp`: exactly one side is a container's.
fn copy(engine: &Engine, args: &args::CpArgs) -> Result<(), CliError> {
    use runtime::engine::copy::HostSide;
    use std::path::Path;
    let copied = match (container_side(&args.src), container_side(&args.dest)) {
        (Some((name, path)), None) => {
            let path = Path::new(path);
            if args.dest == "-" {
                engine.copy_from(name, path, HostSide::Writer(&mut out::Stdout))?
            } else {
                engine.copy_from(name, path, HostSide::Path(Path::new(&args.dest)))?
            }
        }
        (None, Some((name, path))) => {
            let path = Path::new(path);
            if args.src == "-" {
                engine.copy_to(name, HostSide::Reader(&mut std::io::stdin().lock()), path)?
            } else {
                engine.copy_to(name, HostSide::Path(Path::new(&args.src)), path)?
            }
        }
        (None, None) => return Err(CliError::NoContainerSide),
        (Some(_), Some(_)) => return Err(CliError::TwoContainerSides),
    };
    // Docker says how much it copied, when someone is there to read it.
    if nix::unistd::isatty(std::io::stderr()).unwrap_or(false) {
        eprintln!(
            "Successfully copied {} to {}",
            crate::cli::format::units::decimal(copied, 4),
            args.dest
        );
    }
    Ok(())
}

/// `peti export [-o FILE] CONTAINER`. As Docker's, it will not write a tar
/// to a terminal.
fn export(engine: &Engine, args: &args::ExportArgs) -> Result<(), CliError> {
    match &args.output {
        Some(path) => {
            let mut file = std::fs::File::create(path).map_err(|source| CliError::Output {
                path: path.clone(),
                source,
            })?;
            engine.export(&args.container, &mut file)?;
        }
        None => {
            if nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
                return Err(CliError::TarToTerminal);
            }
            engine.export(&args.container, &mut out::Stdout)?;
        }
    }
    Ok(())
}

fn prune(engine: &Engine, force: bool) -> Result<(), CliError> {
    if !force && !out::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let removed = engine.prune_containers()?;
    let ids: Vec<String> = removed.iter().map(|(id, _)| id.clone()).collect();
    out::pruned(
        "Deleted Containers:",
        &ids,
        removed.iter().map(|(_, b)| b).sum(),
    );
    Ok(())
}
