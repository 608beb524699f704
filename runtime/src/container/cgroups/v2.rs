//! cgroup v2: one unified tree. A container's cgroup is a single directory,
//! `<root>/peti/<id>`. Controllers work in a directory only if its parent lists
//! them in `cgroup.subtree_control`, so creating one means enabling memory, cpu and
//! pids at each level on the way down, but only those the kernel offers
//! (`cgroup.controllers`).
//!
//! Every path here starts from a root given by the caller, so the code runs
//! against a plain directory tree as well as `/sys/fs/cgroup`: that is how it is
//! tested on hosts, like ours, where a pure v2 hierarchy cannot be mounted.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    CPU_PERIOD_US, CgroupError, Limits, PARENT, Usage, io_at, read_keyed, read_number, write_file,
};

/// The controllers peti uses.
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// A container's cgroup directory in the unified tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupV2 {
    pub dir: PathBuf,
}

impl CgroupV2 {
    /// Names `<root>/peti/<name>`.
    pub fn plan(root: &Path, name: &str) -> Self {
        CgroupV2 {
            dir: root.join(PARENT).join(name),
        }
    }

    /// Creates the directory with the controllers enabled above it, then sets
    /// limits.
    pub fn create(&self, limits: &Limits) -> Result<(), CgroupError> {
        let parent = self.dir.parent().expect("planned under <root>/peti");
        let root = parent.parent().expect("planned under <root>/peti");
        enable_controllers(root)?;
        fs::create_dir_all(parent).map_err(io_at(parent))?;
        enable_controllers(parent)?;
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
    pub fn usage(&self) -> Result<Usage, CgroupError> {
        let peak = self.dir.join("memory.peak");
        Ok(Usage {
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
