//! The boot timeline: when each phase of starting a VM ended, on
//! CLOCK_MONOTONIC, which every process on the machine shares.
//!
//! Its origin is this process's `main`, unless the parent that started microvm
//! put its own clock reading in `MICROVM_SPAWN_NS` just before spawning it: then
//! the first phase also counts the exec and the loading of this program, as the
//! labs want when they compare a VM's start with a container's.

use serde::{Deserialize, Serialize};

/// The names of the phases, as the timeline and its readers (the labs) spell
/// them, in the order a run marks them.
pub mod phase {
    /// The origin's first mark: this process began.
    pub const PROCESS_START: &str = "process start";
    /// /dev/kvm opened, the VM made.
    pub const KVM_READY: &str = "KVM ready";
    /// Guest RAM mapped into the VM (and, for Linux, its interrupt controllers).
    pub const MEMORY_MAPPED: &str = "memory mapped";
    /// A Linux guest's kernel and initrd in its memory.
    pub const KERNEL_LOADED: &str = "kernel and initrd loaded";
    /// A program guest's ELF segments and stack in its memory.
    pub const ELF_LOADED: &str = "ELF loaded";
    /// The vCPU is about to enter the guest for the first time.
    pub const FIRST_KVM_RUN: &str = "first KVM_RUN";
    /// A Linux guest wrote the boot timer's magic value.
    pub const BOOT_TIMER: &str = "boot-timer mark";
    /// A program guest first wrote a line starting "READY" to stdout.
    pub const WORKLOAD_READY: &str = "workload READY";
    /// The guest's last exit: the VM's work is over.
    pub const EXIT: &str = "exit";
}

/// The variable a parent sets to its CLOCK_MONOTONIC reading, in nanoseconds.
pub const SPAWN_NS_VAR: &str = "MICROVM_SPAWN_NS";

/// Now, on CLOCK_MONOTONIC, in nanoseconds: the clock peti's trace uses too,
/// so a VM's timeline and a container's trace line up.
pub use runtime::container::trace::monotonic_nanos as monotonic_ns;

/// One phase: its name and the moment it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub at_ns: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Timeline {
    /// "spawn" (the parent's reading) or "main".
    pub origin: String,
    pub origin_ns: u64,
    pub phases: Vec<Phase>,
}

impl Timeline {
    /// Starts the timeline now, or at the parent's spawn if it said when.
    pub fn start() -> Self {
        let now = monotonic_ns();
        let spawned = std::env::var(SPAWN_NS_VAR)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&t| t <= now);
        let (origin, origin_ns) = match spawned {
            Some(t) => ("spawn", t),
            None => ("main", now),
        };
        let mut timeline = Timeline {
            origin: origin.to_string(),
            origin_ns,
            phases: Vec::new(),
        };
        timeline.mark_at(phase::PROCESS_START, now);
        timeline
    }

    /// Marks the end of a phase now.
    pub fn mark(&mut self, name: &str) {
        self.mark_at(name, monotonic_ns());
    }

    pub fn mark_at(&mut self, name: &str, at_ns: u64) {
        self.phases.push(Phase {
            name: name.to_string(),
            at_ns,
        });
    }

    /// The human table `--timeline` prints.
    pub fn render(&self) -> String {
        let mut out = format!(
            "microvm timeline (origin: {})\n   at (ms)  took (ms)  phase\n",
            self.origin
        );
        let mut previous = self.origin_ns;
        for phase in &self.phases {
            let at = phase.at_ns.saturating_sub(self.origin_ns) as f64 / 1e6;
            let took = phase.at_ns.saturating_sub(previous) as f64 / 1e6;
            out.push_str(&format!("{at:10.3} {took:10.3}  {}\n", phase.name));
            previous = phase.at_ns;
        }
        out
    }
}
