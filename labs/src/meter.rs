//! A memory meter made of cgroups: how much memory a whole tree of processes
//! really costs, daemons and containers included.
//!
//! What `wait4` reports (`ru_maxrss`) is the wrong figure for a lab: it is
//! the high-water mark of one process, and the one the lab starts carries the
//! forked lab's own pages from before its `execve`. It leaves out everything
//! else that did the work: runc's container process, dockerd, containerd and
//! the shim, podman's conmon. A cgroup counts all of it. Every page a process
//! in it touches, and every page of kernel memory it allocates (page tables,
//! a guest's memory, a namespace's structures), is charged to the cgroup and
//! to every cgroup above it. And the kernel keeps the peak (v1
//! `memory.max_usage_in_bytes`, v2 `memory.peak`).
//!
//! So a lab gives each side a [`Group`]. A run goes in a child made for it:
//!
//! ```text
//! <memory hierarchy>/labs-compare-PID/      the meter
//!     docker/                                one side (a Group)
//!         daemons/                           dockerd, containerd, shims
//!         run-7/                             one run
//!             cli/                           the command the lab started
//!             box/                           --cgroup-parent: its containers
//! ```
//!
//! A run's figure is the peak of its own cgroup ([`Group::peak`]), plus what
//! the daemons grew by while it ran ([`Group::watch_peak`], less their
//! [`Group::usage`] before). The memory the daemons hold anyway is a figure
//! of its own, their anonymous memory ([`Group::anonymous`]): what a first
//! run charges them for their programs' files depends on what the page cache
//! held before.
//!
//! What it cannot see: a page of a file already in the page cache is charged
//! to the cgroup that first read it, so a run that finds its binaries cached
//! pays nothing for them (which is what a second start costs). And the kernel
//! charges in batches of up to 64 pages per CPU, so a figure may include up
//! to 256 KiB per CPU that were charged but not yet used.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

/// What can go wrong metering.
#[derive(Debug, thiserror::Error)]
pub enum MeterError {
    #[error(
        "no memory cgroup to measure in: mount cgroup2 at /sys/fs/cgroup, or the v1 memory controller under it"
    )]
    NoMemoryController,
    #[error("cgroup {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cgroup file {path} holds {text:?}, not a number")]
    Parse { path: PathBuf, text: String },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> MeterError + '_ {
    move |source| MeterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which cgroup interface holds the memory controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The meter's top cgroup, `labs-<name>-<pid>`, removed with everything below
/// it, in every hierarchy, when dropped.
pub struct Meter {
    top: Group,
}

/// One cgroup of the meter, in the memory hierarchy.
pub struct Group {
    /// The directory, in the memory hierarchy.
    dir: PathBuf,
    /// The same cgroup as a path from the hierarchy's root, as
    /// `--cgroup-parent` and runc's `cgroupsPath` take it.
    path: String,
    version: Version,
}

impl Meter {
    /// Makes the meter's top cgroup, `labs-<name>-<pid>`.
    pub fn new(name: &str) -> Result<Meter, MeterError> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(io_at(Path::new("/proc/self/mountinfo")))?;
        let mounts = cgroup_mounts(&mountinfo);
        let root = Path::new("/sys/fs/cgroup");
        let (memory, version) = match statfs(root) {
            Ok(fs) if fs.filesystem_type() == CGROUP2_SUPER_MAGIC => {
                (root.to_path_buf(), Version::V2)
            }
            _ => (
                mounts
                    .iter()
                    .find(|(_, options)| options.split(',').any(|o| o == "memory"))
                    .map(|(point, _)| point.clone())
                    .ok_or(MeterError::NoMemoryController)?,
                Version::V1,
            ),
        };
        let root = Group {
            dir: memory,
            path: String::new(),
            version,
        };
        let top = root.child(&format!("labs-{name}-{}", std::process::id()))?;
        Ok(Meter { top })
    }

    /// A group of its own for one side of a comparison.
    pub fn group(&self, name: &str) -> Result<Group, MeterError> {
        self.top.child(name)
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        remove_everywhere(&self.top.path);
    }
}

impl Group {
    /// Makes a child cgroup. On v2 the memory controller is enabled for the
    /// children first (a group that has children holds no process itself).
    pub fn child(&self, name: &str) -> Result<Group, MeterError> {
        if self.version == Version::V2 {
            let control = self.dir.join("cgroup.subtree_control");
            fs::write(&control, "+memory").map_err(io_at(&control))?;
        }
        let dir = self.dir.join(name);
        match fs::create_dir(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io_at(&dir)(e)),
            _ => {}
        }
        Ok(Group {
            dir,
            path: format!("{}/{name}", self.path),
            version: self.version,
        })
    }

    /// The cgroup as a path from the hierarchy's root: `/labs-compare-1/peti`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Removes the cgroup and everything below it, in every hierarchy: a
    /// container runtime given a cgroup parent makes it in each v1
    /// hierarchy, and all of those must go too.
    pub fn remove(self) {
        remove_everywhere(&self.path);
    }

    /// Makes `command` start in this cgroup: the child moves itself in,
    /// between fork and exec, so that all it ever runs is charged here.
    pub fn hold(&self, command: &mut Command) -> Result<(), MeterError> {
        // On v1, `tasks` takes one thread, and writing "0" moves the writer,
        // a forked child that has one thread. That skips the global lock a
        // move through `cgroup.procs` waits on (see peti's cgroups module),
        // which would cost milliseconds inside the timed run. v2 has no such
        // file for a whole process.
        let file = match self.version {
            Version::V1 => self.dir.join("tasks"),
            Version::V2 => self.dir.join("cgroup.procs"),
        };
        let join = fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .map_err(io_at(&file))?;
        // SAFETY: the closure runs in the forked child, before exec, where
        // only async-signal-safe calls are allowed: it makes one write(2) to
        // a file descriptor opened before the fork, and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                use std::os::fd::AsRawFd;
                let written = libc::write(join.as_raw_fd(), b"0".as_ptr().cast(), 1);
                if written == 1 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        Ok(())
    }

    /// What is charged to the cgroup now, in bytes, everything below it
    /// included.
    pub fn usage(&self) -> Result<u64, MeterError> {
        read_number(&self.dir.join(match self.version {
            Version::V1 => "memory.usage_in_bytes",
            Version::V2 => "memory.current",
        }))
    }

    /// The anonymous memory of the cgroup's processes (heaps, stacks), in
    /// bytes, everything below it included: what the processes hold for
    /// themselves. Pages of their programs' files are page cache, which
    /// other readers share, and are charged to the first reader.
    pub fn anonymous(&self) -> Result<u64, MeterError> {
        let (file, key) = match self.version {
            Version::V1 => ("memory.stat", "total_rss"),
            Version::V2 => ("memory.stat", "anon"),
        };
        let path = self.dir.join(file);
        let text = fs::read_to_string(&path).map_err(io_at(&path))?;
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .unwrap_or("");
        parse(&path, value)
    }

    /// The highest charge the cgroup has had since it was made, in bytes,
    /// everything below it included.
    pub fn peak(&self) -> Result<u64, MeterError> {
        read_number(&self.dir.join(match self.version {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        }))
    }

    /// Starts watching the cgroup's peak from now.
    ///
    /// v1: writing 0 to `memory.max_usage_in_bytes` sets the peak to the
    /// usage now. v2 (Linux 6.12 and later): writing to `memory.peak` starts
    /// a peak of the writer's own, read back through the same open file.
    pub fn watch_peak(&self) -> Result<Peak, MeterError> {
        let path = self.dir.join(match self.version {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        });
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let reset: &[u8] = match self.version {
            Version::V1 => b"0",
            Version::V2 => b"reset",
        };
        file.write_all(reset).map_err(io_at(&path))?;
        Ok(Peak { file, path })
    }
}

/// A peak being watched ([`Group::watch_peak`]).
pub struct Peak {
    file: fs::File,
    path: PathBuf,
}

impl Peak {
    /// The highest charge since the watch began, in bytes.
    pub fn read(mut self) -> Result<u64, MeterError> {
        let mut text = String::new();
        self.file
            .rewind()
            .and_then(|_| self.file.read_to_string(&mut text))
            .map_err(io_at(&self.path))?;
        parse(&self.path, &text)
    }
}

fn read_number(path: &Path) -> Result<u64, MeterError> {
    let text = fs::read_to_string(path).map_err(io_at(path))?;
    parse(path, &text)
}

fn parse(path: &Path, text: &str) -> Result<u64, MeterError> {
    text.trim().parse().map_err(|_| MeterError::Parse {
        path: path.to_path_buf(),
        text: text.trim().to_string(),
    })
}

/// Every cgroup mount in a mountinfo text, with its super options (which
/// name a v1 hierarchy's controllers).
fn cgroup_mounts(mountinfo: &str) -> Vec<(PathBuf, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let mut fs = fs.split(' ');
            let kind = fs.next()?;
            let options = fs.nth(1).unwrap_or("").to_string();
            let point = mount.split(' ').nth(4)?;
            matches!(kind, "cgroup" | "cgroup2").then(|| (PathBuf::from(point), options))
        })
        .collect()
}

/// Removes the cgroup at `path` (from a hierarchy's root) and all below it,
/// deepest first, in every cgroup mount. Best effort: a cgroup whose last
/// process is still leaving is tried again for a moment, and what stays is
/// reported.
fn remove_everywhere(path: &str) {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for (mount, _) in cgroup_mounts(&mountinfo) {
        let top = mount.join(path.trim_start_matches('/'));
        if top.is_dir() {
            remove_tree(&top);
        }
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    for _ in 0..200 {
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                eprintln!("labs: could not remove cgroup {}: {e}", dir.display());
                return;
            }
            _ => return,
        }
    }
    eprintln!(
        "labs: cgroup {} is still busy; left in place",
        dir.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real cgroup on this machine: a shell whose child touches 24 MiB
    /// is counted, the child included (which `wait4`'s figure for the shell
    /// would not be), and the meter leaves no cgroup behind.
    #[test]
    fn a_tree_of_processes_is_charged_to_its_group_and_removed_after() {
        let test = "a_tree_of_processes_is_charged_to_its_group_and_removed_after";
        if !testkit::is_root() {
            return testkit::skip(test, "making cgroups needs root");
        }
        let meter = match Meter::new("meter-test") {
            Ok(m) => m,
            Err(e) => return testkit::skip_for_machine(test, &e.to_string()),
        };
        let top = meter.top.dir.clone();
        let side = meter.group("side").unwrap();
        let run = side.child("run-1").unwrap();
        let cli = run.child("cli").unwrap();
        let before = side.usage().unwrap();
        let peak = side.watch_peak().unwrap();
        // The shell's child, not the shell, holds the memory: dd reads
        // 24 MiB into one buffer, which touches every page of it.
        let mut command = Command::new("sh");
        command.args(["-c", "dd if=/dev/zero of=/dev/null bs=24M count=1 && true"]);
        cli.hold(&mut command).unwrap();
        let out = command.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let grew = peak.read().unwrap().saturating_sub(before);
        assert!(
            grew >= 24 << 20,
            "the side's peak grew by {grew} bytes only"
        );
        assert!(grew < 200 << 20, "the side's peak grew by {grew} bytes");
        run.remove();
        drop(meter);
        assert!(!top.exists(), "{} is left", top.display());
    }

    #[test]
    fn cgroup_mounts_are_found_with_their_controllers() {
        let text = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                    22 1 8:1 / / rw - ext4 /dev/sda1 rw\n";
        let found = cgroup_mounts(text);
        assert_eq!(
            found,
            vec![
                (
                    PathBuf::from("/sys/fs/cgroup/memory"),
                    "rw,memory".to_string()
                ),
                (PathBuf::from("/sys/fs/cgroup/unified"), "rw".to_string()),
            ]
        );
    }
}
