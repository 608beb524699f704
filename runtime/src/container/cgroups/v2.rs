//! cgroup v2: one unified tree. A container's cgroup is a single directory,
//! `<root>/peti/<id>` (or under `--cgroup-parent`). Controllers work in a
//! directory only if its parent lists them in `cgroup.subtree_control`, so
//! creating one means enabling memory, cpu and pids at each level on the way
//! down, but only those the kernel offers (`cgroup.controllers`). And a level
//! that enables controllers for children may hold no process itself (the "no
//! internal processes" rule): a parent with processes in it makes the write
//! fail with EBUSY.
//!
//! Every path here starts from a root given by the caller, so the code runs
//! against a plain directory tree as well as `/sys/fs/cgroup`: that is how it is
//! tested on hosts, like ours, where a pure v2 hierarchy cannot be mounted.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    CPU_PERIOD_US, CgroupError, Limits, Usage, count_lines, io_at, place, read_keyed, read_number,
    write_file,
};

/// The controllers peti uses.
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// A container's cgroup directory in the unified tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupV2 {
    pub dir: PathBuf,
}

impl CgroupV2 {
    /// Names `<root>/<parent>/<name>` (see [`place`]).
    pub fn plan(root: &Path, parent: Option<&str>, name: &str) -> Self {
        CgroupV2 {
            dir: place(root, None, parent, name),
        }
    }

    /// Creates the directory with the controllers enabled at every level
    /// above it, from the mount's root down, then sets limits.
    pub fn create(&self, limits: &Limits) -> Result<(), CgroupError> {
        let parent = self.dir.parent().expect("planned under a parent");
        // The mount's root is the highest directory with cgroup files: the
        // levels to enable are it and every directory below, to the parent.
        let mut levels: Vec<&Path> = parent.ancestors().collect();
        let top = levels
            .iter()
            .rposition(|l| l.join("cgroup.controllers").exists())
            .unwrap_or(0);
        levels.truncate(top + 1);
        for level in levels.into_iter().rev() {
            if !level.exists() {
                fs::create_dir(level).map_err(io_at(level))?;
            }
            enable_controllers(level)?;
        }
        fs::create_dir(&self.dir).map_err(io_at(&self.dir))?;
        self.set_limits(limits)
    }

    /// Writes the limits that are set: `memory.max`, `cpu.max` ("quota period")
    /// and `pids.max`.
    pub fn set_limits(&self, limits: &Limits) -> Result<(), CgroupError> {
        if let Some(bytes) = limits.memory_bytes {
            write_file(&self.dir, "memory.max", &bytes.to_string())?;
        }
        if let Some(quota) = limits.cpu_quota_us {
            write_file(&self.dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?;
        }
        if let Some(pids) = limits.pids {
            write_file(&self.dir, "pids.max", &pids.to_string())?;
        }
        Ok(())
    }

    /// `memory.current`, `memory.peak` (Linux 5.19 and later), `cpu.stat`'s
    /// `usage_usec`, and `memory.events`' `oom_kill`.
    /// `pause` (frozen) and `unpause`: cgroup.freeze, then cgroup.events,
    /// whose `frozen` line says when every task has stopped.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        write_file(&self.dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        let events = self.dir.join("cgroup.events");
        super::wait_until(|| Ok(read_keyed(&events, "frozen")? == Some(u64::from(frozen))))
    }

    pub fn usage(&self) -> Result<Usage, CgroupError> {
        let peak = self.dir.join("memory.peak");
        let pids = self.dir.join("pids.current");
        let (block_read_bytes, block_write_bytes) = io_bytes(&self.dir.join("io.stat"));
        Ok(Usage {
            pids: if pids.exists() {
                read_number(&pids)?
            } else {
                count_lines(&self.dir.join("cgroup.threads"))?
            },
            block_read_bytes,
            block_write_bytes,
            inactive_file_bytes: read_keyed(&self.dir.join("memory.stat"), "inactive_file")
                .unwrap_or(None)
                .unwrap_or(0),
            memory_bytes: read_number(&self.dir.join("memory.current"))?,
            memory_peak_bytes: if peak.exists() {
                Some(read_number(&peak)?)
            } else {
                None
            },
            cpu_nanos: read_keyed(&self.dir.join("cpu.stat"), "usage_usec")?.unwrap_or(0) * 1000,
            oom_kills: read_keyed(&self.dir.join("memory.events"), "oom_kill")?.unwrap_or(0),
        })
    }
}

/// The bytes `io.stat` counts, summed over its devices: lines of
/// `MAJ:MIN rbytes=N wbytes=N rios=N ...`. No file (no io controller) is 0.
fn io_bytes(path: &Path) -> (u64, u64) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let field = |key: &str| -> u64 {
        text.split_whitespace()
            .filter_map(|w| w.strip_prefix(key)?.parse::<u64>().ok())
            .fold(0, u64::saturating_add)
    };
    (field("rbytes="), field("wbytes="))
}

/// Enables, for the children of `dir`, each of our controllers that `dir` has.
fn enable_controllers(dir: &Path) -> Result<(), CgroupError> {
    let available = dir.join("cgroup.controllers");
    let available = fs::read_to_string(&available).map_err(io_at(&available))?;
    let wanted: Vec<String> = CONTROLLERS
        .iter()
        .filter(|c| available.split_whitespace().any(|a| a == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    write_file(dir, "cgroup.subtree_control", &wanted.join(" "))
}

/// A pure cgroup v2 hierarchy cannot be mounted on our hosts (they run v1 or
/// hybrid, and a controller bound to v1 cannot appear in a v2 tree), so these
/// tests run the v2 code against a plain directory laid out like
/// `/sys/fs/cgroup`. The test writes the files the kernel would offer
/// (`cgroup.controllers`, `memory.current`, ...) and checks what peti writes.
/// What this cannot show is the kernel's side: that a limit is enforced. The
/// v1 integration tests show that part on real cgroups.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::cgroups::Cgroup;

    /// A fake unified root offering `controllers`, with peti's parent made.
    fn fake_root(controllers: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("cgroup.controllers"), controllers).unwrap();
        fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
        let parent = root.path().join(super::super::PARENT);
        fs::create_dir(&parent).unwrap();
        // What the kernel shows in a child: the controllers its parent enabled.
        fs::write(parent.join("cgroup.controllers"), "cpu memory pids").unwrap();
        root
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap()
    }

    #[test]
    fn create_enables_controllers_on_the_way_down_and_writes_limits() {
        let root = fake_root("cpuset cpu io memory hugetlb pids rdma misc");
        let cgroup = CgroupV2::plan(root.path(), None, "abc");
        assert_eq!(cgroup.dir, root.path().join("peti/abc"));
        let limits = Limits {
            memory_bytes: Some(64 << 20),
            cpu_quota_us: Some(50_000),
            pids: Some(20),
        };
        cgroup.create(&limits).unwrap();
        let enabled = "+memory +cpu +pids";
        assert_eq!(read(&root.path().join("cgroup.subtree_control")), enabled);
        assert_eq!(
            read(&root.path().join("peti/cgroup.subtree_control")),
            enabled
        );
        assert_eq!(read(&cgroup.dir.join("memory.max")), "67108864");
        assert_eq!(read(&cgroup.dir.join("cpu.max")), "50000 100000");
        assert_eq!(read(&cgroup.dir.join("pids.max")), "20");
    }

    #[test]
    fn a_cgroup_parent_gets_controllers_enabled_at_every_level() {
        let root = fake_root("cpu memory pids");
        // What the kernel would show in the levels below: made here, as the
        // kernel would make them.
        for level in ["labs", "labs/run"] {
            fs::create_dir(root.path().join(level)).unwrap();
            fs::write(root.path().join(level).join("cgroup.controllers"), "memory").unwrap();
        }
        let cgroup = CgroupV2::plan(root.path(), Some("/labs/run"), "abc");
        assert_eq!(cgroup.dir, root.path().join("labs/run/abc"));
        cgroup.create(&Limits::default()).unwrap();
        assert_eq!(
            read(&root.path().join("cgroup.subtree_control")),
            "+memory +cpu +pids"
        );
        for level in ["labs", "labs/run"] {
            let enabled = read(&root.path().join(level).join("cgroup.subtree_control"));
            assert_eq!(enabled, "+memory", "{level}");
        }
        assert!(cgroup.dir.is_dir());
        assert!(!root.path().join(super::super::PARENT).join("abc").exists());
    }

    #[test]
    fn only_offered_controllers_are_enabled_and_unset_limits_are_not_written() {
        let root = fake_root("memory pids");
        let cgroup = CgroupV2::plan(root.path(), None, "abc");
        cgroup.create(&Limits::default()).unwrap();
        assert_eq!(
            read(&root.path().join("cgroup.subtree_control")),
            "+memory +pids"
        );
        for file in ["memory.max", "cpu.max", "pids.max"] {
            assert!(!cgroup.dir.join(file).exists(), "{file} was written");
        }
    }

    #[test]
    fn usage_reads_memory_now_and_peak_cpu_time_and_oom_kills() {
        let root = fake_root("cpu memory pids");
        let cgroup = CgroupV2::plan(root.path(), None, "abc");
        cgroup.create(&Limits::default()).unwrap();
        let dir = &cgroup.dir;
        fs::write(dir.join("memory.current"), "1234\n").unwrap();
        fs::write(dir.join("cpu.stat"), "usage_usec 250\nuser_usec 200\n").unwrap();
        let events = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n";
        fs::write(dir.join("memory.events"), events).unwrap();
        fs::write(dir.join("cgroup.threads"), "").unwrap();
        let usage = cgroup.usage().unwrap();
        // Kernels before 5.19 have no memory.peak.
        assert_eq!(usage.memory_peak_bytes, None);
        assert_eq!(usage.memory_bytes, 1234);
        assert_eq!(usage.cpu_nanos, 250_000);
        assert_eq!(usage.oom_kills, 1);
        fs::write(dir.join("memory.peak"), "5678\n").unwrap();
        assert_eq!(cgroup.usage().unwrap().memory_peak_bytes, Some(5678));
        // Tasks from cgroup.threads, until the pids controller counts them.
        fs::write(dir.join("cgroup.threads"), "10\n11\n12\n").unwrap();
        assert_eq!(cgroup.usage().unwrap().pids, 3);
        fs::write(dir.join("pids.current"), "4\n").unwrap();
        assert_eq!(cgroup.usage().unwrap().pids, 4);
        let io = "8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n\
                  8:16 rbytes=1000 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n";
        fs::write(dir.join("io.stat"), io).unwrap();
        let usage = cgroup.usage().unwrap();
        assert_eq!(
            (usage.block_read_bytes, usage.block_write_bytes),
            (5096, 512)
        );
    }

    #[test]
    fn a_process_joins_through_cgroup_procs_and_rm_removes_the_directory() {
        let root = fake_root("cpu memory pids");
        let cgroup = Cgroup::V2(CgroupV2::plan(root.path(), None, "abc"));
        cgroup.create(&Limits::default()).unwrap();
        let dir = root.path().join("peti/abc");
        assert_eq!(cgroup.join_files(), vec![dir.join("cgroup.procs")]);
        assert!(!cgroup.guards_devices(), "v2 needs eBPF for devices");
        cgroup.remove().unwrap();
        assert!(!dir.exists());
        cgroup.remove().expect("removing twice is not an error");
    }
}
