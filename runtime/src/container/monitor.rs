//! The monitor of a detached container: `monitor/peti-monitor.c`, built by
//! build.rs and carried inside the peti binary.
//!
//! One monitor stays per running container, so its memory is paid once per
//! container: the labs' density chart counts it. That is why it is a static C
//! program of a few pages (like podman's conmon), while peti itself is Rust. It
//! is installed once under `$PETI_ROOT/libexec/`, named by its own hash, and the
//! process that started the container becomes it by execve: the container is
//! then already its child, which is what lets it collect the exit status.

use std::ffi::CString;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::unistd::{dup2_raw, execv};

/// The monitor executable, compiled by build.rs.
const MONITOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/peti-monitor"));

/// What can go wrong starting the monitor.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("installing the monitor at {path}: {source}")]
    Install {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("starting the monitor: {0}")]
    Exec(nix::errno::Errno),
}

/// Writes the monitor under `root/libexec` if this version is not there yet.
pub fn install(root: &Path) -> Result<PathBuf, MonitorError> {
    let name = format!("peti-monitor-{}", &env!("PETI_MONITOR_SHA256")[..12]);
    let path = root.join("libexec").join(name);
    if !path.exists() {
        let fail = |source| MonitorError::Install {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(root.join("libexec")).map_err(fail)?;
        crate::fsutil::replace_file(&path, MONITOR, 0o755).map_err(fail)?;
    }
    Ok(path)
}

/// The command the monitor of a `--rm` container execs once it has recorded
/// the exit: `peti rm -f -v ID` (its anonymous volumes go too, as Docker's
/// `--rm` removes them), with this store's roots. The monitor is C and
/// small, and removing a container (its cgroup, writable layer, record, under
/// the store's lock) is the engine's work, so the monitor hands it back to
/// peti's binary rather than do it a second way. Empty if peti cannot name its
/// own binary.
pub fn remove_afterwards(root: &Path, run_root: &Path, id: &str) -> Vec<String> {
    match std::env::current_exe() {
        Ok(exe) => vec![
            exe.display().to_string(),
            "--root".into(),
            root.display().to_string(),
            "--run-root".into(),
            run_root.display().to_string(),
            "rm".into(),
            "-f".into(),
            "-v".into(),
            id.to_string(),
        ],
        Err(_) => Vec::new(),
    }
}

/// Becomes the monitor: stdout and stderr pipes on fds 3 and 4, as the monitor's
/// contract says, our own streams on /dev/null so no terminal is held open, and
/// `after` (for `--rm`, `peti rm -f ID`) to be run once the exit is recorded.
pub fn become_monitor(
    monitor: &Path,
    container_pid: i32,
    output: (OwnedFd, OwnedFd),
    log: &Path,
    exit_file: &Path,
    after: &[String],
) -> MonitorError {
    let to_c = |s: &str| CString::new(s).unwrap_or_default();
    let mut argv = vec![
        to_c("peti-monitor"),
        to_c(&container_pid.to_string()),
        to_c(&log.display().to_string()),
        to_c(&exit_file.display().to_string()),
    ];
    argv.extend(after.iter().map(|a| to_c(a)));
    let null = match nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => return MonitorError::Exec(e),
    };
    let (stdout, stderr) = output;
    // Move the pipes above 4 first (close-on-exec), in case they sit on 3 or 4.
    let above_four = |fd: &OwnedFd| {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(5))
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that we alone own.
            .map(|raw| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
    };
    let (stdout, stderr) = match (above_four(&stdout), above_four(&stderr)) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => return MonitorError::Exec(e),
    };
    for (fd, target) in [
        (&null, 0),
        (&null, 1),
        (&null, 2),
        (&stdout, 3),
        (&stderr, 4),
    ] {
        // SAFETY: these targets are the standard streams and the two descriptors
        // the monitor expects; nothing else in this process owns them now.
        match unsafe { dup2_raw(fd, target) } {
            // The new descriptor must outlive this function: it is the monitor's.
            Ok(duplicate) => std::mem::forget(duplicate),
            Err(e) => return MonitorError::Exec(e),
        }
    }
    match execv(&to_c(&monitor.display().to_string()), &argv) {
        Err(e) => MonitorError::Exec(e),
        Ok(never) => match never {},
    }
}
