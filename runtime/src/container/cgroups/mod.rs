//! cgroups: the kernel's way to limit and account for a group of processes.
//!
//! A container's processes live in one cgroup of their own, so that their memory,
//! CPU time and process count can be capped (`--memory`, `--cpus`, `--pids-limit`)
//! and read back (what the labs chart). Linux has two interfaces:
//!
//! - **v1** ([`v1`]): one hierarchy per controller (memory, cpu, pids, ...), each a
//!   separate mount under `/sys/fs/cgroup/<controller>`. A container gets one
//!   directory in each. "Hybrid" hosts (like ours) mount v1 controllers plus an
//!   empty cgroup2 at `/sys/fs/cgroup/unified`; for limits they are v1.
//! - **v2** ([`v2`]): one unified tree, one directory per cgroup, controllers
//!   enabled per subtree through `cgroup.subtree_control`.
//!
//! [`detect_mode`] tells them apart the way youki does: by the file-system magic
//! number of `/sys/fs/cgroup`, then of `/sys/fs/cgroup/unified`.

pub mod v1;
pub mod v2;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, statfs};
use serde::{Deserialize, Serialize};

/// Where cgroup file systems are mounted on every mainstream distribution.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The parent cgroup of every peti container, like Docker's `docker/`, unless
/// `--cgroup-parent` names another.
pub const PARENT: &str = "peti";

/// Where a container's cgroup goes in one hierarchy mounted at `mount`:
/// `<mount>/peti/<name>`, or under `--cgroup-parent`. As in Docker, an
/// absolute parent starts at the hierarchy's root and a relative one at the
/// cgroup of the init process (PID 1: the root, on a host; the container's
/// own, inside one). `controller` picks the v1 hierarchy in `/proc/1/cgroup`;
/// `None` is the unified one. The parent was checked when the container was
/// made ([`check_parent`]): no `..` can climb out of the mount.
pub fn place(mount: &Path, controller: Option<&str>, parent: Option<&str>, name: &str) -> PathBuf {
    let under = match parent {
        None => mount.join(PARENT),
        Some(p) if p.starts_with('/') => mount.join(p.trim_start_matches('/')),
        Some(p) => mount
            .join(init_cgroup(controller).trim_start_matches('/'))
            .join(p),
    };
    under.join(name)
}

/// PID 1's cgroup in one hierarchy, from `/proc/1/cgroup`, whose lines are
/// `ID:CONTROLLERS:PATH` (`0::PATH` for the unified one). The root when the
/// file cannot be read.
fn init_cgroup(controller: Option<&str>) -> String {
    let text = fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    text.lines()
        .find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let wanted = match controller {
                None => controllers.is_empty(),
                Some(c) => controllers.split(',').any(|have| have == c),
            };
            wanted.then(|| path.to_string())
        })
        .unwrap_or_else(|| "/".to_string())
}

/// Checks `--cgroup-parent` before anything is made: a path of names (or `/`),
/// with no `.` or `..` that could leave the cgroup mount, and nothing a cgroup file
/// system refuses in a name (a newline, which `/proc/PID/cgroup` could not
/// show). The error is the offending value.
pub fn check_parent(parent: &str) -> Result<(), String> {
    let names: Vec<&str> = parent.split('/').filter(|n| !n.is_empty()).collect();
    // "/" alone is the root itself, which Docker takes too.
    let bad = (names.is_empty() && parent != "/")
        || names
            .iter()
            .any(|n| *n == "." || *n == ".." || n.contains('\n'))
        || parent.contains('\0');
    if bad { Err(parent.to_string()) } else { Ok(()) }
}

/// What can go wrong with cgroups.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup file could not be read or written.
    #[error("cgroup file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// The host has no usable cgroup file system.
    #[error(
        "no cgroup file system at {0}: mount cgroup2 there (or v1 controllers under it) and try again"
    )]
    NotMounted(PathBuf),
    /// A v1 controller the container needs is not mounted.
    #[error(
        "the cgroup v1 controller {0:?} is not mounted: mount it under /sys/fs/cgroup, or drop the option that needs it"
    )]
    MissingController(&'static str),
    /// `peti update` asked for a limit in a v1 hierarchy the container has no
    /// cgroup in (peti joins the cpu and pids hierarchies only for a limit).
    #[error(
        "the container was started without a {0} limit, so it has no cgroup in the v1 {0} hierarchy: set one with `peti run --{1}` instead"
    )]
    NotLimited(&'static str, &'static str),
    /// A cgroup file held something we could not parse.
    #[error("cgroup file {path} holds {text:?}, not a number")]
    Parse { path: PathBuf, text: String },
    /// The kernel did not finish freezing or thawing in 5 seconds.
    #[error("the cgroup's tasks did not stop (or go on) within 5 s: try again")]
    Timeout,
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which cgroup interface the host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Pure v2: `/sys/fs/cgroup` is cgroup2.
    Unified,
    /// v1 controllers plus an (almost empty) cgroup2 at `/sys/fs/cgroup/unified`.
    Hybrid,
    /// v1 only.
    Legacy,
}

impl CgroupMode {
    /// The name the labs record in `machine.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupMode::Unified => "v2",
            CgroupMode::Hybrid => "v1-hybrid",
            CgroupMode::Legacy => "v1",
        }
    }
}

/// Tells v2 from v1 by file-system magic, as youki does.
pub fn detect_mode(root: &Path) -> Result<CgroupMode, CgroupError> {
    let not_mounted = |_| CgroupError::NotMounted(root.to_path_buf());
    let fs_type = statfs(root).map_err(not_mounted)?.filesystem_type();
    if fs_type == CGROUP2_SUPER_MAGIC {
        return Ok(CgroupMode::Unified);
    }
    if fs_type != TMPFS_MAGIC {
        return Err(CgroupError::NotMounted(root.to_path_buf()));
    }
    match statfs(&root.join("unified")) {
        Ok(unified) if unified.filesystem_type() == CGROUP2_SUPER_MAGIC => Ok(CgroupMode::Hybrid),
        _ => Ok(CgroupMode::Legacy),
    }
}

/// What a container may use. `None` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory (`--memory`).
    pub memory_bytes: Option<u64>,
    /// CPU time per period, in microseconds (`--cpus 0.5` is 50 000 of 100 000).
    pub cpu_quota_us: Option<u64>,
    /// Number of processes and threads (`--pids-limit`).
    pub pids: Option<u64>,
}

/// The scheduler period for `--cpus`, as Docker uses it: 100 ms.
pub const CPU_PERIOD_US: u64 = 100_000;

/// What a container has used, for `peti stats` and the labs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Memory charged to the cgroup now, in bytes (page cache included).
    pub memory_bytes: u64,
    /// The most it was ever charged, if the kernel keeps that.
    pub memory_peak_bytes: Option<u64>,
    /// CPU time used by all its processes, in nanoseconds.
    pub cpu_nanos: u64,
    /// How many times the OOM killer killed one of its processes.
    pub oom_kills: u64,
    /// Page cache the kernel could drop first (memory.stat's inactive_file):
    /// Docker leaves it out of MEM USAGE.
    pub inactive_file_bytes: u64,
    /// Its tasks now: processes and threads, as Docker's PIDS column counts.
    pub pids: u64,
    /// Bytes read from and written to block devices, where the cgroup has
    /// an I/O controller that counts them (0 where it has none).
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}

/// One container's cgroup, in whichever interface the host has. It is recorded in
/// the container's state, so later commands (`exec`, `stats`, `rm`) find it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum Cgroup {
    V1(v1::CgroupV1),
    V2(v2::CgroupV2),
}

impl Cgroup {
    /// Works out where the cgroup `<parent>/<name>` goes on this host (see
    /// [`place`]), without creating anything yet: the container's first
    /// process needs the paths while peti creates the directories in parallel.
    pub fn plan(name: &str, parent: Option<&str>, limits: &Limits) -> Result<Self, CgroupError> {
        Self::on_this_host(name, parent, |h| {
            v1::CgroupV1::plan(h, parent, name, limits)
        })
    }

    /// The cgroup `<parent>/<name>` wherever it could be on this host,
    /// whatever its limits: what a start that was cut short (peti killed
    /// between making the cgroup and recording it) may have left, for
    /// `teardown` to remove.
    pub fn everywhere(name: &str, parent: Option<&str>) -> Result<Self, CgroupError> {
        Self::on_this_host(name, parent, |h| {
            Ok(v1::CgroupV1::everywhere(h, parent, name))
        })
    }

    /// The cgroup `<parent>/<name>` in this host's mode: v2's one directory,
    /// or what `v1` picks from the v1 hierarchies mounted.
    fn on_this_host(
        name: &str,
        parent: Option<&str>,
        v1: impl FnOnce(&v1::Hierarchies) -> Result<v1::CgroupV1, CgroupError>,
    ) -> Result<Self, CgroupError> {
        let root = Path::new(CGROUP_ROOT);
        match detect_mode(root)? {
            CgroupMode::Unified => Ok(Cgroup::V2(v2::CgroupV2::plan(root, parent, name))),
            CgroupMode::Hybrid | CgroupMode::Legacy => {
                let mounts = fs::read_to_string("/proc/self/mountinfo")
                    .map_err(io_at(Path::new("/proc/self/mountinfo")))?;
                v1(&v1::Hierarchies::from_mountinfo(&mounts)).map(Cgroup::V1)
            }
        }
    }

    /// Creates the planned directories and applies `limits`. On failure, whatever
    /// was made is removed again.
    pub fn create(&self, limits: &Limits) -> Result<(), CgroupError> {
        let made = match self {
            Cgroup::V1(c) => c.create(limits),
            Cgroup::V2(c) => c.create(limits),
        };
        if made.is_err() {
            let _ = self.remove();
        }
        made
    }

    /// The files that take a pid, to move a process in. Writing "0" means "the
    /// writer", which stays right inside a new PID namespace, where its pid is 1.
    ///
    /// On v1 this is `tasks`, not `cgroup.procs`, and that choice is worth 10 to
    /// 30 ms a start on our hosts. Moving a whole process (`cgroup.procs`) takes
    /// the kernel's global threadgroup lock for writing, and that waits for an RCU
    /// grace period. Moving one thread, the caller itself, through `tasks` skips
    /// that lock (see `cgroup_procs_write_start` in kernel/cgroup/cgroup.c). Our
    /// caller is single-threaded, so moving its one thread moves the process.
    /// Moving any other thread, even through `tasks`, takes the lock again: that
    /// is why the container's first process joins by itself rather than peti
    /// writing its pid (we measured 1 to 20 ms for that).
    /// v2 has no such shortcut for a process; `clone3(CLONE_INTO_CGROUP)` is the
    /// v2 way to avoid the cost.
    pub fn join_files(&self) -> Vec<PathBuf> {
        match self {
            Cgroup::V1(c) => c.dirs().map(|d| d.join("tasks")).collect(),
            Cgroup::V2(c) => vec![c.dir.join("cgroup.procs")],
        }
    }

    /// Moves the calling (single-threaded) process into the cgroup.
    pub fn join_self(&self) -> Result<(), CgroupError> {
        for file in self.join_files() {
            fs::write(&file, "0").map_err(io_at(&file))?;
        }
        Ok(())
    }

    /// The processes in the cgroup now (`cgroup.procs`: thread-group
    /// leaders, not every thread), for `top`.
    pub fn processes(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = match self {
            Cgroup::V1(c) => c.dirs().next().map(Path::to_path_buf),
            Cgroup::V2(c) => Some(c.dir.clone()),
        };
        let Some(dir) = dir else {
            return Ok(Vec::new());
        };
        let path = dir.join("cgroup.procs");
        let text = fs::read_to_string(&path).map_err(io_at(&path))?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// Stops every task of the cgroup where it is (`pause`), or lets them
    /// go on (`unpause`): the freezer, which a task cannot notice or refuse.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.freeze(frozen),
            Cgroup::V2(c) => c.freeze(frozen),
        }
    }

    /// Current usage.
    pub fn usage(&self) -> Result<Usage, CgroupError> {
        match self {
            Cgroup::V1(c) => c.usage(),
            Cgroup::V2(c) => c.usage(),
        }
    }

    /// Changes limits on a live cgroup (what `peti update` would do; the
    /// resources lab raises and lowers memory this way).
    pub fn set_limits(&self, limits: &Limits) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.set_limits(limits),
            Cgroup::V2(c) => c.set_limits(limits),
        }
    }

    /// Removes the cgroup's directories. Its processes must have exited.
    pub fn remove(&self) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(c) => c.dirs().try_for_each(remove_dir),
            Cgroup::V2(c) => remove_dir(&c.dir),
        }
    }

    /// What the container sees at /sys/fs/cgroup: each of its directories,
    /// and the name it has there (`memory`, `cpu,cpuacct`...: the name of the
    /// host's mount of that hierarchy, as in Docker's containers). On v2 the
    /// one directory is /sys/fs/cgroup itself, named "".
    pub fn views(&self) -> Vec<(String, PathBuf)> {
        match self {
            Cgroup::V2(c) => vec![(String::new(), c.dir.clone())],
            Cgroup::V1(c) => {
                let mut views: Vec<(String, PathBuf)> = Vec::new();
                let dirs = [
                    (&c.memory, "memory"),
                    (&c.cpu, "cpu"),
                    (&c.cpuacct, "cpuacct"),
                    (&c.pids, "pids"),
                    (&c.devices, "devices"),
                    (&c.freezer, "freezer"),
                ];
                for (dir, controller) in dirs {
                    let Some(dir) = dir else { continue };
                    let name = dir
                        .strip_prefix("/sys/fs/cgroup")
                        .ok()
                        .and_then(|rest| rest.components().next())
                        .map_or(controller.to_string(), |c| {
                            c.as_os_str().to_string_lossy().into_owned()
                        });
                    if !views.iter().any(|(n, _)| *n == name) {
                        views.push((name, dir.clone()));
                    }
                }
                views
            }
        }
    }

    /// `--privileged`: no devices cgroup of its own, so the container can use
    /// every device, as Docker's privileged containers can.
    pub fn with_every_device(self) -> Self {
        match self {
            Cgroup::V1(mut c) => {
                c.devices = None;
                Cgroup::V1(c)
            }
            v2 => v2,
        }
    }

    /// Whether the device cgroup guards device nodes. On v2 that needs an eBPF
    /// program, which peti does not load, so the caller drops CAP_MKNOD instead.
    pub fn guards_devices(&self) -> bool {
        matches!(self, Cgroup::V1(c) if c.devices.is_some())
    }
}

/// Reads `done` until it says true, for up to a few seconds: what the
/// kernel does for a write to a cgroup file can take a moment to finish.
fn wait_until(mut done: impl FnMut() -> Result<bool, CgroupError>) -> Result<(), CgroupError> {
    for _ in 0..500 {
        if done()? {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(CgroupError::Timeout)
}

/// Removes a cgroup directory. A process that was just killed can take a moment to
/// leave its cgroup, so EBUSY is retried briefly; a missing directory is fine.
fn remove_dir(dir: &Path) -> Result<(), CgroupError> {
    for attempt in 0.. {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 200 => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(io_at(dir)(e)),
        }
    }
    unreachable!("the loop returns")
}

/// Writes one value to one cgroup file.
pub(crate) fn write_file(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(io_at(&path))
}

/// Reads a cgroup file that holds one number.
pub(crate) fn read_number(path: &Path) -> Result<u64, CgroupError> {
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    text.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        text: text.trim().to_string(),
    })
}

/// The lines of a cgroup's list file (`tasks`, `cgroup.threads`): how many
/// tasks it holds.
pub(crate) fn count_lines(path: &Path) -> Result<u64, CgroupError> {
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()).count() as u64)
}

/// Reads `key N` from a flat-keyed cgroup file (`memory.events`, `cpu.stat`, ...).
pub(crate) fn read_keyed(path: &Path, key: &str) -> Result<Option<u64>, CgroupError> {
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    Ok(text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_is_a_path_of_names_that_cannot_climb_out() {
        for good in ["/", "labs", "/labs/run-1", "a/b/c", "/docker"] {
            assert_eq!(check_parent(good), Ok(()), "{good}");
        }
        for bad in ["", "..", "/../etc", "a/../../b", "./a", "a\nb", "a\0b"] {
            assert_eq!(check_parent(bad), Err(bad.to_string()), "{bad:?}");
        }
    }

    #[test]
    fn an_absolute_parent_starts_at_the_mount_and_none_is_peti() {
        let mount = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(
            place(mount, Some("memory"), None, "id"),
            mount.join("peti/id")
        );
        assert_eq!(
            place(mount, Some("memory"), Some("/labs/run"), "id"),
            mount.join("labs/run/id")
        );
        assert_eq!(
            place(mount, Some("memory"), Some("/"), "id"),
            mount.join("id")
        );
    }
}
