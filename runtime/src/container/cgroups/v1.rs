//! cgroup v1: one mounted hierarchy per controller, one directory per container in
//! each. On a v1 host a container's "cgroup" is really four or five directories:
//! `memory/peti/<id>`, `cpu/peti/<id>`, `pids/peti/<id>`, `devices/peti/<id>`...
//! Which controller is mounted where is read from `/proc/self/mountinfo`, because
//! hosts differ (`cpu,cpuacct` are co-mounted on most, separate on ours).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    CPU_PERIOD_US, CgroupError, Limits, Usage, count_lines, io_at, place, read_keyed, read_number,
    write_file,
};

/// The mount point of each v1 controller peti uses, if mounted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchies {
    pub memory: Option<PathBuf>,
    pub cpu: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub pids: Option<PathBuf>,
    pub devices: Option<PathBuf>,
    pub freezer: Option<PathBuf>,
}

impl Hierarchies {
    /// Finds the controllers in a mountinfo text. A line looks like
    /// `35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory`:
    /// the mount point is field 5, and after ` - ` come the type, the source, and
    /// the super options, which name the controllers.
    pub fn from_mountinfo(mountinfo: &str) -> Self {
        let mut found = Hierarchies::default();
        for line in mountinfo.lines() {
            let Some((mount, fs)) = line.split_once(" - ") else {
                continue;
            };
            let mut fs = fs.split(' ');
            if fs.next() != Some("cgroup") {
                continue;
            }
            let options: BTreeSet<&str> = fs.nth(1).unwrap_or("").split(',').collect();
            let Some(point) = mount.split(' ').nth(4) else {
                continue;
            };
            let point = Some(PathBuf::from(point));
            for (name, slot) in [
                ("memory", &mut found.memory),
                ("cpu", &mut found.cpu),
                ("cpuacct", &mut found.cpuacct),
                ("pids", &mut found.pids),
                ("devices", &mut found.devices),
                ("freezer", &mut found.freezer),
            ] {
                if options.contains(name) && slot.is_none() {
                    *slot = point.clone();
                }
            }
        }
        found
    }
}

/// A container's directories, one per controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupV1 {
    pub memory: Option<PathBuf>,
    pub cpu: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub pids: Option<PathBuf>,
    pub devices: Option<PathBuf>,
    /// For `pause`. (Absent from older records: none.)
    #[serde(default)]
    pub freezer: Option<PathBuf>,
}

/// The devices a container may use, in the devices controller's syntax: runc's
/// default list. `m` (mknod) is allowed for all, so images that carry device nodes
/// still unpack, but reading or writing is allowed only for these. Without this
/// list, CAP_MKNOD would let a container create /dev/sda and read the host's disk.
const ALLOWED_DEVICES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",   // null
    "c 1:5 rwm",   // zero
    "c 1:7 rwm",   // full
    "c 1:8 rwm",   // random
    "c 1:9 rwm",   // urandom
    "c 5:0 rwm",   // tty
    "c 5:1 rwm",   // console
    "c 5:2 rwm",   // ptmx
    "c 136:* rwm", // pts/*
];

impl CgroupV1 {
    /// Names `<controller>/<parent>/<name>` in every mounted controller. A
    /// limit whose controller is missing is an error.
    pub fn plan(
        h: &Hierarchies,
        parent: Option<&str>,
        name: &str,
        limits: &Limits,
    ) -> Result<Self, CgroupError> {
        if h.memory.is_none() && limits.memory_bytes.is_some() {
            return Err(CgroupError::MissingController("memory"));
        }
        if h.cpu.is_none() && limits.cpu_quota_us.is_some() {
            return Err(CgroupError::MissingController("cpu"));
        }
        if h.pids.is_none() && limits.pids.is_some() {
            return Err(CgroupError::MissingController("pids"));
        }
        let dir = |mount: &Option<PathBuf>, controller| {
            mount
                .as_ref()
                .map(|m| place(m, Some(controller), parent, name))
        };
        // On v1 each hierarchy is a directory to make, join and remove: about
        // 60 us a start on our hosts. memory (usage), cpuacct (CPU time) and
        // devices (safety) and freezer (`pause`) are always wanted; cpu and
        // pids only to hold a limit.
        let mut cgroup = CgroupV1 {
            memory: dir(&h.memory, "memory"),
            cpu: dir(&h.cpu, "cpu").filter(|_| limits.cpu_quota_us.is_some()),
            cpuacct: dir(&h.cpuacct, "cpuacct"),
            pids: dir(&h.pids, "pids").filter(|_| limits.pids.is_some()),
            devices: dir(&h.devices, "devices"),
            freezer: dir(&h.freezer, "freezer"),
        };
        // cpu and cpuacct share a directory where they are co-mounted.
        if cgroup.cpuacct.is_some() && cgroup.cpuacct == cgroup.cpu {
            cgroup.cpuacct = None;
        }
        Ok(cgroup)
    }

    /// Every directory `<parent>/<name>` could have, in every mounted
    /// controller whatever the limits: to clear what a start cut short may
    /// have made.
    pub fn everywhere(h: &Hierarchies, parent: Option<&str>, name: &str) -> Self {
        let dir = |mount: &Option<PathBuf>, controller| {
            mount
                .as_ref()
                .map(|m| place(m, Some(controller), parent, name))
        };
        let mut cgroup = CgroupV1 {
            memory: dir(&h.memory, "memory"),
            cpu: dir(&h.cpu, "cpu"),
            cpuacct: dir(&h.cpuacct, "cpuacct"),
            pids: dir(&h.pids, "pids"),
            devices: dir(&h.devices, "devices"),
            freezer: dir(&h.freezer, "freezer"),
        };
        if cgroup.cpuacct == cgroup.cpu {
            cgroup.cpuacct = None;
        }
        cgroup
    }

    /// Makes the directories, sets limits and the device list.
    pub fn create(&self, limits: &Limits) -> Result<(), CgroupError> {
        self.make_dirs()?;
        self.set_limits(limits)?;
        self.restrict_devices()
    }

    /// Each distinct directory of this cgroup.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        [
            &self.memory,
            &self.cpu,
            &self.cpuacct,
            &self.pids,
            &self.devices,
            &self.freezer,
        ]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
    }

    fn make_dirs(&self) -> Result<(), CgroupError> {
        for dir in self.dirs() {
            std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        Ok(())
    }

    /// Writes the limits that are set.
    pub fn set_limits(&self, limits: &Limits) -> Result<(), CgroupError> {
        // Moving a running container's processes into a hierarchy it is not in
        // is slow and racy (see `Cgroup::join_files`): refuse instead.
        if limits.cpu_quota_us.is_some() && self.cpu.is_none() {
            return Err(CgroupError::NotLimited("cpu", "cpus"));
        }
        if limits.pids.is_some() && self.pids.is_none() {
            return Err(CgroupError::NotLimited("pids", "pids-limit"));
        }
        if limits.memory_bytes.is_some() && self.memory.is_none() {
            return Err(CgroupError::MissingController("memory"));
        }
        if let (Some(dir), Some(bytes)) = (&self.memory, limits.memory_bytes) {
            write_file(dir, "memory.limit_in_bytes", &bytes.to_string())?;
        }
        if let (Some(dir), Some(quota)) = (&self.cpu, limits.cpu_quota_us) {
            write_file(dir, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
            write_file(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        }
        if let (Some(dir), Some(pids)) = (&self.pids, limits.pids) {
            write_file(dir, "pids.max", &pids.to_string())?;
        }
        Ok(())
    }

    fn restrict_devices(&self) -> Result<(), CgroupError> {
        let Some(dir) = &self.devices else {
            return Ok(());
        };
        write_file(dir, "devices.deny", "a")?;
        // The kernel reads one rule per write(2), so one open file takes them
        // all: eleven opens of a cgroup file cost more than the writes.
        let path = dir.join("devices.allow");
        let mut allow = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        ALLOWED_DEVICES.iter().try_for_each(|rule| {
            // A rule is a few bytes: one write takes it whole, or fails.
            match allow.write(rule.as_bytes()) {
                Ok(n) if n == rule.len() => Ok(()),
                Ok(_) => Err(io_at(&path)(std::io::Error::other(format!(
                    "the kernel took part of the rule {rule:?}"
                )))),
                Err(e) => Err(io_at(&path)(e)),
            }
        })
    }

    /// `pause` (frozen) and `unpause`: freezer.state, which passes through
    /// FREEZING until every task has stopped, so it is read back until it
    /// says what was asked.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let dir = self
            .freezer
            .as_ref()
            .ok_or(CgroupError::MissingController("freezer"))?;
        let wanted = if frozen { "FROZEN" } else { "THAWED" };
        write_file(dir, "freezer.state", wanted)?;
        super::wait_until(|| {
            let path = dir.join("freezer.state");
            let state = fs::read_to_string(&path).map_err(io_at(&path))?;
            Ok(state.trim() == wanted)
        })
    }

    /// Memory now and at its peak, CPU time, and OOM kills.
    pub fn usage(&self) -> Result<Usage, CgroupError> {
        let mut usage = Usage::default();
        if let Some(dir) = &self.memory {
            usage.memory_bytes = read_number(&dir.join("memory.usage_in_bytes"))?;
            usage.memory_peak_bytes = Some(read_number(&dir.join("memory.max_usage_in_bytes"))?);
            usage.oom_kills = read_keyed(&dir.join("memory.oom_control"), "oom_kill")?.unwrap_or(0);
            usage.inactive_file_bytes =
                read_keyed(&dir.join("memory.stat"), "total_inactive_file")?.unwrap_or(0);
        }
        if let Some(dir) = self.cpuacct.as_ref().or(self.cpu.as_ref()) {
            let file = dir.join("cpuacct.usage");
            if file.exists() {
                usage.cpu_nanos = read_number(&file)?;
            }
        }
        // The pids controller counts tasks when it holds a limit; otherwise
        // any of the container's hierarchies lists them. (peti joins no blkio
        // hierarchy, so block I/O stays 0 on v1, as Docker's shows it when
        // the blkio controller is not there.)
        usage.pids = match (&self.pids, self.memory.as_ref().or(self.cpu.as_ref())) {
            (Some(dir), _) => read_number(&dir.join("pids.current"))?,
            (None, Some(dir)) => count_lines(&dir.join("tasks"))?,
            (None, None) => 0,
        };
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_are_found_separate_or_co_mounted() {
        let ours = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n\
                    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let h = Hierarchies::from_mountinfo(ours);
        assert_eq!(h.cpu.as_deref(), Some(Path::new("/sys/fs/cgroup/cpu")));
        assert_eq!(
            h.cpuacct.as_deref(),
            Some(Path::new("/sys/fs/cgroup/cpuacct"))
        );
        assert_eq!(
            h.memory.as_deref(),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert_eq!(h.pids, None);

        let common = "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let h = Hierarchies::from_mountinfo(common);
        assert_eq!(h.cpu, h.cpuacct);
        let c = CgroupV1 {
            memory: None,
            cpu: h.cpu.map(|p| p.join("peti/x")),
            cpuacct: None,
            pids: None,
            devices: None,
            freezer: None,
        };
        assert_eq!(c.dirs().count(), 1);
    }

    #[test]
    fn cpu_and_pids_hierarchies_are_used_only_for_a_limit() {
        let h = Hierarchies::from_mountinfo(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
             33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n\
             34 31 0:31 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        );
        let plain = CgroupV1::plan(&h, None, "x", &Limits::default()).unwrap();
        assert!(plain.cpu.is_none() && plain.pids.is_none());
        assert!(plain.cpuacct.is_some() && plain.memory.is_some());
        let limited = Limits {
            cpu_quota_us: Some(50_000),
            pids: Some(10),
            ..Limits::default()
        };
        let limited = CgroupV1::plan(&h, None, "x", &limited).unwrap();
        assert_eq!(
            limited.cpu.as_deref(),
            Some(Path::new("/sys/fs/cgroup/cpu/peti/x"))
        );
        assert_eq!(
            limited.pids.as_deref(),
            Some(Path::new("/sys/fs/cgroup/pids/peti/x"))
        );
    }
}
