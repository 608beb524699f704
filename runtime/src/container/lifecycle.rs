//! The container commands' library side: create, wait, stop, kill, remove.
//! The command line (`peti run`, `peti stop`, ...) is a thin layer over these.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use super::cgroups::{CgroupError, Limits};
use super::spec::ContainerSpec;
use super::state::{
    Container, ContainerStore, ExitRecord, Locked, ProcessId, State, StateError, Status,
    is_full_id, now_rfc3339, random_name,
};
use crate::image::store::{Store, StoreError, StoredImage};

/// What can go wrong in a lifecycle command.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Image(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot remove container \"{0}\": container is running: stop the container before removing or force remove (rm -f)"
    )]
    Running(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("container {0} is already paused")]
    AlreadyPaused(String),
    #[error("container {0} is not paused")]
    NotPaused(String),
    #[error("container {0} is paused, unpause the container before exec")]
    Paused(String),
    #[error("freezing or thawing container {name}: {source}")]
    Freezer {
        name: String,
        source: super::cgroups::CgroupError,
    },
    #[error("signalling container {name}: {source}")]
    Signal { name: String, source: Errno },
    #[error("invalid signal {0:?}: use a name like TERM, SIGKILL or a number")]
    BadSignal(String),
    #[error(
        "cannot lower container {name}'s memory limit to {limit} bytes: it uses more, and the kernel (cgroup v1) refuses a limit it cannot reclaim down to; choose a higher limit or stop the container"
    )]
    MemoryInUse { name: String, limit: u64 },
    #[error("updating container {name}: {source}")]
    Update {
        name: String,
        source: super::cgroups::CgroupError,
    },
}

/// A container about to be created: its ID, the image it is made from (as the
/// user named it, and as stored), the name asked for, and its spec.
pub struct NewContainer<'a> {
    pub id: String,
    pub image: &'a str,
    pub stored: &'a StoredImage,
    pub name: Option<&'a str>,
    pub spec: ContainerSpec,
}

/// Creates a container record and its writable layer from an image. With
/// `starting_now` (`peti run`) the record is first written when it starts.
pub fn create(
    images: &Store,
    containers: &ContainerStore,
    new: NewContainer<'_>,
    starting_now: bool,
) -> Result<Container, LifecycleError> {
    let NewContainer {
        id,
        image,
        stored,
        name,
        spec,
    } = new;
    let manifest = &stored.manifest;
    let layers_dir = images.layers_dir();
    let init_layer =
        super::rootfs::ensure_init_layer(&layers_dir).map_err(|source| LifecycleError::Io {
            path: layers_dir.clone(),
            source,
        })?;
    let lower_dirs: Vec<PathBuf> = std::iter::once(init_layer)
        .chain(images.layer_dirs(stored).into_iter().rev())
        .collect();
    let given_name = name.map(str::to_string);
    let mut container = Container {
        name: given_name.clone().unwrap_or_else(|| random_name(&id, 0)),
        created: now_rfc3339(),
        image: image.to_string(),
        image_id: manifest.config().digest().to_string(),
        manifest_digest: stored.manifest_digest.clone(),
        lower_dirs,
        spec,
        state: State {
            status: Status::Created,
            process: None,
            monitor: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            oom_killed: false,
            error: None,
            paused: false,
        },
        cgroup: None,
        id,
    };
    let lock = containers.lock()?;
    // A name of our choosing that is taken is no error: pick another, as
    // Docker does. A name the user gave must be free.
    let mut attempt = 0;
    loop {
        match containers.insert(&lock, &container, !starting_now) {
            Ok(()) => break,
            Err(StateError::NameInUse { name, id }) => {
                match free_name(containers, &lock, &name, &id) {
                    Ok(true) => continue,
                    Ok(false) if given_name.is_none() => {
                        attempt += 1;
                        container.name = random_name(&container.id, attempt);
                    }
                    Ok(false) => {
                        let _ = containers.forget_unfinished(&lock, &container.id);
                        return Err(StateError::NameInUse { name, id }.into());
                    }
                    Err(e) => {
                        let _ = containers.forget_unfinished(&lock, &container.id);
                        return Err(e.into());
                    }
                }
            }
            Err(e) => {
                let _ = containers.forget_unfinished(&lock, &container.id);
                return Err(e.into());
            }
        }
    }
    Ok(container)
}

/// Frees `name`, held by container `id`, if its holder is gone in all but
/// its files; returns whether it did. A name is free when its file names no
/// container (a kill between making the file and writing the ID in it), when
/// its container was never finished, when it is a `--rm` container that
/// ended with nobody left to remove it (its peti was killed), which Docker's
/// daemon would have removed by now, and when its container was renamed.
fn free_name(
    containers: &ContainerStore,
    lock: &Locked,
    name: &str,
    id: &str,
) -> Result<bool, StateError> {
    if !is_full_id(id) {
        containers.release_name(lock, name)?;
        return Ok(true);
    }
    if containers.is_unfinished(lock, id) {
        super::teardown::reclaim(containers, lock, id)?;
        return Ok(true);
    }
    match containers.refresh_under(lock, id) {
        Ok(holder) if super::teardown::is_abandoned(&holder) => {
            super::teardown::release(containers, lock, &holder)?;
            Ok(true)
        }
        // The old name of a rename cut short: its container has another now.
        Ok(holder) if holder.name != name => {
            containers.release_name(lock, name)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The pid that the signal handler forwards to: the container's first process.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(signal: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe, and an atomic load is too.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Signals that `run` passes on to the container, as Docker's `--sig-proxy` does.
const FORWARDED: [Signal; 5] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
];

/// Waits for a child, passing on the signals peti receives, as Docker's
/// `--sig-proxy` does. Returns the raw wait status.
pub fn wait_forwarding(pid: Pid) -> Result<i32, Errno> {
    FORWARD_TO.store(pid.as_raw(), Ordering::Relaxed);
    for sig in FORWARDED {
        // SAFETY: the handler only reads an atomic and calls kill(2).
        let _ = unsafe { signal(sig, SigHandler::Handler(forward_signal)) };
    }
    let status = loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            Ok(WaitStatus::Exited(_, code)) => break Ok(code << 8),
            Ok(WaitStatus::Signaled(_, sig, core)) => {
                break Ok(sig as i32 | if core { 0x80 } else { 0 });
            }
            Ok(_) => continue,
            Err(e) => break Err(e),
        }
    };
    FORWARD_TO.store(0, Ordering::Relaxed);
    for sig in FORWARDED {
        // SAFETY: restoring the default disposition has no preconditions.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
    status
}

/// Waits for a foreground container's first process, passing on signals.
pub fn wait_foreground(id: &str, pid: Pid) -> Result<ExitRecord, LifecycleError> {
    let status = wait_forwarding(pid).map_err(|source| LifecycleError::Signal {
        name: id.to_string(),
        source,
    })?;
    Ok(ExitRecord {
        wait_status: status,
        finished_unix_nanos: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    })
}

/// Ends a foreground container whose exit peti collected itself: with `--rm` it is
/// removed at once (nothing to record); otherwise its final state is saved.
pub fn finish_foreground(
    containers: &ContainerStore,
    id: &str,
    exit: &ExitRecord,
) -> Result<(), LifecycleError> {
    let mut container = containers.find(id)?;
    let lock = containers.lock()?;
    if container.spec.auto_remove {
        super::teardown::release(containers, &lock, &container)?;
    } else {
        super::state::mark_exited(&mut container, exit.exit_code(), exit.finished_at(), None);
        containers.save(&lock, &container)?;
    }
    Ok(())
}

/// Parses a signal as `kill -s` and Docker take it: KILL, SIGKILL, 9.
pub fn parse_signal(text: &str) -> Result<Signal, LifecycleError> {
    let bad = || LifecycleError::BadSignal(text.to_string());
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().map_err(|_| bad())
}

/// `peti update`: new limits for a container, applied to its cgroup at once if
/// it has one (the kernel enforces a lowered memory limit right away, down to
/// killing the container), and kept in its record for `inspect` and restarts.
/// Only the limits given change.
pub fn update(
    containers: &ContainerStore,
    container: &Container,
    limits: &Limits,
) -> Result<Container, LifecycleError> {
    let lock = containers.lock()?;
    // Under the lock: a concurrent update or stop sees this one whole.
    let mut container = containers.find(&container.id)?;
    if let Some(cgroup) = &container.cgroup {
        cgroup.set_limits(limits).map_err(|source| match source {
            // cgroup v1 answers EBUSY to a memory limit below what the group
            // uses and cannot reclaim (anonymous memory, no swap); v2 takes the
            // limit and lets the OOM killer act.
            CgroupError::Io { source: e, .. } if e.raw_os_error() == Some(libc::EBUSY) => {
                LifecycleError::MemoryInUse {
                    name: container.name.clone(),
                    limit: limits.memory_bytes.unwrap_or(0),
                }
            }
            source => LifecycleError::Update {
                name: container.name.clone(),
                source,
            },
        })?;
    }
    let recorded = &mut container.spec.limits;
    recorded.memory_bytes = limits.memory_bytes.or(recorded.memory_bytes);
    recorded.cpu_quota_us = limits.cpu_quota_us.or(recorded.cpu_quota_us);
    recorded.pids = limits.pids.or(recorded.pids);
    containers.save(&lock, &container)?;
    Ok(container)
}

/// Sends a signal to a running container's first process.
pub fn kill_container(
    containers: &ContainerStore,
    container: &Container,
    sig: Signal,
) -> Result<(), LifecycleError> {
    let container = containers.refresh(container.clone())?;
    let process = match (container.state.status, container.state.process) {
        (Status::Running, Some(p)) if p.is_alive() => p,
        _ => return Err(LifecycleError::NotRunning(container.name.clone())),
    };
    kill(Pid::from_raw(process.pid), sig).map_err(|source| LifecycleError::Signal {
        name: container.name.clone(),
        source,
    })?;
    thaw_for_signal(containers, &container)
}

/// `peti pause` (`frozen`) and `peti unpause`: the freezer stops every
/// process of the container where it is, without a signal it could catch,
/// and lets them go on; the record says so, for `ps` and `inspect`.
pub fn set_paused(
    containers: &ContainerStore,
    container: &Container,
    frozen: bool,
) -> Result<Container, LifecycleError> {
    let lock = containers.lock()?;
    let mut container = containers.refresh_under(&lock, &container.id)?;
    let name = container.name.clone();
    let running = container.state.status == Status::Running
        && container.state.process.is_some_and(|p| p.is_alive());
    match (running, container.state.paused, frozen) {
        (false, _, _) => return Err(LifecycleError::NotRunning(name)),
        (true, true, true) => return Err(LifecycleError::AlreadyPaused(name)),
        (true, false, false) => return Err(LifecycleError::NotPaused(name)),
        _ => {}
    }
    let cgroup = container
        .cgroup
        .as_ref()
        .ok_or_else(|| LifecycleError::NotRunning(name.clone()))?;
    cgroup
        .freeze(frozen)
        .map_err(|source| LifecycleError::Freezer { name, source })?;
    container.state.paused = frozen;
    containers.save(&lock, &container)?;
    Ok(container)
}

/// A signal sent to a paused container waits until its tasks are thawed
/// (on cgroup v1 even SIGKILL does): Docker thaws it after signalling, so
/// `stop` and `kill` work on a paused container. So does peti.
fn thaw_for_signal(
    containers: &ContainerStore,
    container: &Container,
) -> Result<(), LifecycleError> {
    if !container.state.paused {
        return Ok(());
    }
    match set_paused(containers, container, false) {
        // The signal ended it already (a frozen task dies of SIGKILL on v2).
        Ok(_) | Err(LifecycleError::NotRunning(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `peti stop`: SIGTERM, then SIGKILL after `timeout`; returns once the exit is
/// recorded. A stopped container is left alone, as in Docker.
pub fn stop(
    containers: &ContainerStore,
    container: &Container,
    timeout: Duration,
) -> Result<Container, LifecycleError> {
    let container = containers.refresh(container.clone())?;
    let Some(process) = container
        .state
        .process
        .filter(|_| container.state.status == Status::Running)
    else {
        return Ok(container);
    };
    let pid = Pid::from_raw(process.pid);
    let _ = kill(pid, Signal::SIGTERM);
    let _ = thaw_for_signal(containers, &container);
    if !wait_process_exit(&process, timeout) {
        let _ = kill(pid, Signal::SIGKILL);
        wait_process_exit(&process, Duration::from_secs(30));
    }
    wait_recorded(containers, &container.id)
}

/// Waits until a process is gone (and reaped), or `timeout` passes. Uses a pidfd:
/// it becomes readable when the process exits, so there is no polling of /proc.
pub fn wait_process_exit(process: &ProcessId, timeout: Duration) -> bool {
    let Some(pidfd) = pidfd_open(process.pid).filter(|_| process.is_alive()) else {
        return true;
    };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(Errno::EINTR) => continue,
            Err(_) => return !process.is_alive(),
        }
    }
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a non-negative result is a descriptor that we alone own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits until the container's record shows it exited (the monitor writes the
/// exit file right after reaping it).
pub fn wait_recorded(containers: &ContainerStore, id: &str) -> Result<Container, LifecycleError> {
    loop {
        let container = containers.refresh(containers.find(id)?)?;
        if container.state.status != Status::Running {
            return Ok(container);
        }
        if let Some(p) = container.state.process.filter(ProcessId::is_alive) {
            wait_process_exit(&p, Duration::from_secs(3600));
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// `peti rm`: removes a container that is not running (or, with `force`, kills it
/// first): its cgroup, writable layer, log, run-time files and record.
pub fn remove(
    containers: &ContainerStore,
    container: &Container,
    force: bool,
) -> Result<(), LifecycleError> {
    let mut container = containers.refresh(container.clone())?;
    if container.state.status == Status::Running {
        if !force {
            return Err(LifecycleError::Running(container.name.clone()));
        }
        if let Some(p) = container.state.process {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            let _ = thaw_for_signal(containers, &container);
            wait_process_exit(&p, Duration::from_secs(30));
        }
        container = wait_recorded(containers, &container.id)?;
    }
    let lock = containers.lock()?;
    super::teardown::release(containers, &lock, &container)?;
    Ok(())
}
