//! Creating a container and starting it: attached (peti waits for it, relaying
//! its terminal and signals) or detached (a monitor stays with it).

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::unistd::{ForkResult, fork};
use serde::{Deserialize, Serialize};

use super::{Engine, EngineError};
use crate::container::lifecycle::{self, NewContainer};
use crate::container::monitor;
use crate::container::process::StartError;
use crate::container::relay;
use crate::container::spawn::{self, Attach, Started};
use crate::container::spec::{self, Options};
use crate::container::state::{self, Container};
use crate::container::trace::{TraceEvent, Tracer};
use crate::container::tty;
use crate::image::store::Holding;

/// What to create: an image, the options, and a command to replace the image's.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub image: String,
    pub command: Vec<String>,
    pub options: Options,
}

/// A container that [`Engine::create`] made, and the image store's shared lock
/// that keeps its image whole until the container's record names the image
/// (see `image::store`). `peti create` writes the record at once; `peti run`
/// writes it when the container starts, and keeps the lock until then.
pub struct Created {
    pub container: Container,
    image_held: Option<Holding>,
}

impl From<Container> for Created {
    /// A container created earlier, whose record names its image already.
    fn from(container: Container) -> Self {
        Created {
            container,
            image_held: None,
        }
    }
}

impl Engine {
    /// Creates a container: its spec from the image's config and the options,
    /// then its record and writable layer. With `starting_now` (`peti run`) the
    /// record is first written when it starts.
    pub fn create(
        &self,
        request: &CreateRequest,
        starting_now: bool,
    ) -> Result<Created, EngineError> {
        // Before the image is looked up: `rmi` now waits until the record
        // names it, or is done before the look-up, which then fails cleanly.
        let image_held = self.images.hold()?;
        let stored = self.images.image(&request.image)?;
        let id = state::new_id();
        let mut spec = spec::from_image(
            &stored.config,
            &request.options,
            &request.command,
            &id[..12],
            |k| std::env::var(k).ok(),
        )?;
        for volume in &mut spec.volumes {
            match &volume.volume {
                // A named volume is made on first use, as Docker makes it;
                // an anonymous one gets a name of its own.
                Some(name) => {
                    let made = self
                        .volumes
                        .create(Some(name.as_str()).filter(|n| !n.is_empty()))?;
                    volume.host = made.mountpoint;
                    volume.volume = Some(made.name);
                }
                // Docker creates a missing host directory for -v.
                None if !volume.host.exists() => {
                    std::fs::create_dir_all(&volume.host).map_err(EngineError::io(format!(
                        "volume source {}",
                        volume.host.display()
                    )))?;
                }
                None => {}
            }
        }
        let new = NewContainer {
            id,
            image: &request.image,
            stored: &stored,
            name: request.options.name.as_deref(),
            spec,
        };
        let container = lifecycle::create(&self.images, &self.containers, new, starting_now)?;
        Ok(Created {
            container,
            image_held: starting_now.then_some(image_held),
        })
    }

    /// Starts a container attached to this process's terminal and waits for it,
    /// passing on the signals this process gets. Returns its exit code.
    pub fn run_attached(&self, created: Created, tracer: &mut Tracer) -> Result<i32, EngineError> {
        let Created {
            container,
            image_held,
        } = created;
        let id = container.id.clone();
        let spec = container.spec.clone();
        let started = spawn::start(&self.containers, container, Attach::Foreground, tracer);
        // The record names the image now (or the start failed): let go, before
        // a removal below needs the lock exclusively.
        drop(image_held);
        let started = match started {
            Ok(started) => started,
            Err(failure) => {
                if spec.auto_remove {
                    self.remove_quietly(&id);
                }
                return Err(failure.into());
            }
        };
        // Logged as Docker logs an attached container, but for `--rm`.
        let log = || {
            (!spec.auto_remove)
                .then(|| relay::LogWriter::open(&self.containers.log_file(&id)).ok())
                .flatten()
        };
        if let Some(master) = started.pty_master {
            let _ = tty::relay(master, spec.stdin, log());
        }
        // The relay runs beside the wait, which passes signals on meanwhile;
        // it ends when the container's last process closes its pipes.
        let relaying = match (started.output, log()) {
            (Some((stdout, stderr)), Some(log)) => Some(std::thread::spawn(move || {
                relay::relay(stdout, stderr, log)
            })),
            _ => None,
        };
        let exit = tracer.step("wait", "until the container's first process exits", || {
            lifecycle::wait_foreground(&id, started.pid)
        });
        if let Some(relaying) = relaying {
            let _ = relaying.join();
        }
        let exit = exit?;
        let detail = if spec.auto_remove {
            "remove cgroup, upper/, work/, record (--rm)"
        } else {
            "record the exit"
        };
        tracer.step("exit", detail, || {
            lifecycle::finish_foreground(&self.containers, &id, &exit)
        })?;
        if spec.auto_remove {
            self.prune_if_untagged(&started.container);
            // As Docker's --rm: the anonymous volumes go with the container.
            self.remove_anonymous_volumes(&started.container);
        }
        Ok(exit.exit_code())
    }

    /// Starts a container in the background: a forked process starts it, reports
    /// back (with its part of the trace), then becomes its monitor.
    pub fn start_detached(&self, created: Created, tracer: &mut Tracer) -> Result<(), EngineError> {
        let Created {
            container,
            image_held,
        } = created;
        let monitor = monitor::install(&self.root)?;
        let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| EngineError::io("pipe")(e.into()))?;
        // SAFETY: peti is single-threaded; the child runs our own code, then execs.
        match unsafe { fork() }.map_err(|e| EngineError::io("fork")(e.into()))? {
            ForkResult::Child => {
                drop(report_r);
                let report = std::fs::File::from(report_w);
                let code =
                    self.become_monitor(container, image_held, &monitor, report, tracer.enabled);
                // SAFETY: _exit leaves without running destructors twice in a fork.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop(report_w);
                let mut text = String::new();
                let _ =
                    std::io::Read::read_to_string(&mut std::fs::File::from(report_r), &mut text);
                drop(image_held);
                // The child has setsid'd and will exec; reap only if it already ended.
                let _ = nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
                let result: DetachedResult =
                    serde_json::from_str(&text).map_err(|_| EngineError::MonitorLost)?;
                tracer.events.extend(result.trace);
                match result.error {
                    Some(failure) => Err(failure.into()),
                    None => Ok(()),
                }
            }
        }
    }

    /// In the forked child: start the container, report, exec the monitor.
    fn become_monitor(
        &self,
        container: Container,
        image_held: Option<Holding>,
        monitor_path: &Path,
        mut report: std::fs::File,
        trace: bool,
    ) -> i32 {
        let _ = nix::unistd::setsid();
        let id = container.id.clone();
        let auto_remove = container.spec.auto_remove;
        let mut tracer = Tracer::new(trace, "peti");
        let started = spawn::start(&self.containers, container, Attach::Detached, &mut tracer);
        // Unlocks for the parent too (one lock, shared by fork): the record
        // names the image now, or the start failed.
        drop(image_held);
        let error = started.as_ref().err().cloned();
        let result = DetachedResult {
            error,
            trace: tracer.events,
        };
        let _ = report.write_all(&serde_json::to_vec(&result).expect("a report serialises"));
        drop(report);
        let Ok(started) = started else {
            if auto_remove {
                self.remove_quietly(&id);
            }
            return 1;
        };
        let pid = started.pid;
        let output = match detached_output(started) {
            Ok(output) => output,
            Err(e) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                eprintln!("peti: error: {e}");
                return 125;
            }
        };
        let after = if auto_remove {
            monitor::remove_afterwards(&self.root, &self.run_root, &id)
        } else {
            Vec::new()
        };
        let error = monitor::become_monitor(
            monitor_path,
            pid.as_raw(),
            output,
            &self.containers.log_file(&id),
            &self.containers.exit_file(&id),
            &after,
        );
        // Without a monitor nobody would collect the container: stop it.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        eprintln!("peti: error: {error}");
        125
    }

    /// Removes a container that failed to start or finished, ignoring errors:
    /// for `--rm`, whose container should not outlive its run.
    pub(super) fn remove_quietly(&self, id: &str) {
        if let Ok(container) = self.containers.find(id) {
            let _ = lifecycle::remove(&self.containers, &container, true);
            self.prune_if_untagged(&container);
            self.remove_anonymous_volumes(&container);
        }
    }
}

/// `-it` relays this terminal to the container's, so stdin must be one: Docker
/// refuses the same way. A detached `-dit` needs no terminal here.
pub fn check_terminal(attached_tty: bool) -> Result<(), EngineError> {
    if attached_tty && !nix::unistd::isatty(std::io::stdin().as_fd()).unwrap_or(false) {
        return Err(EngineError::NotATerminal);
    }
    Ok(())
}

/// What the process that becomes the monitor tells `peti run -d`.
#[derive(Serialize, Deserialize)]
struct DetachedResult {
    error: Option<StartError>,
    trace: Vec<TraceEvent>,
}

/// What the monitor reads: the stdout and stderr pipes, or with `-dt` the
/// terminal, whose output is all logged as stdout (Docker does the same). The
/// stderr slot then gets /dev/null, which reads as an empty stream.
fn detached_output(started: Started) -> Result<(OwnedFd, OwnedFd), EngineError> {
    match (started.output, started.pty_master) {
        (Some(pipes), _) => Ok(pipes),
        (None, Some(master)) => {
            let empty = nix::fcntl::open(
                "/dev/null",
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| EngineError::io("/dev/null")(e.into()))?;
            Ok((master, empty))
        }
        (None, None) => Err(EngineError::io("a detached container's output")(
            std::io::Error::other("it started without output streams"),
        )),
    }
}
