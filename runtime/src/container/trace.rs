//! `peti run --trace`: the steps of starting a container, each with its duration.
//!
//! Two processes do the work: peti itself (the parent, which makes the cgroup and
//! calls clone) and the container's first process before it execs (which mounts,
//! pivots and drops privileges). Both stamp their steps with CLOCK_MONOTONIC,
//! which is one clock for the whole machine, so the child's events, sent back over
//! the start-up channel, line up with the parent's on one timeline.

use std::io::Write;

use serde::{Deserialize, Serialize};

/// Nanoseconds on CLOCK_MONOTONIC.
pub fn monotonic_nanos() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

/// One step of starting a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Which process did it: "peti" or "init" (the container's, before exec).
    pub process: String,
    /// What kind of step: clone, mount, pivot_root, cgroup, capabilities, exec...
    pub step: String,
    /// The details: clone flags, what was mounted where, the values written.
    pub detail: String,
    pub start_ns: u64,
    pub duration_ns: u64,
}

/// Collects events when tracing is on, and costs two clock reads a step when off.
#[derive(Debug, Default)]
pub struct Tracer {
    pub enabled: bool,
    process: &'static str,
    pub events: Vec<TraceEvent>,
}

impl Tracer {
    pub fn new(enabled: bool, process: &'static str) -> Self {
        Tracer {
            enabled,
            process,
            events: Vec::new(),
        }
    }

    /// Runs `work` as one step, recording it if tracing is on.
    pub fn step<T>(&mut self, step: &str, detail: &str, work: impl FnOnce() -> T) -> T {
        if !self.enabled {
            return work();
        }
        let start_ns = monotonic_nanos();
        let result = work();
        self.record(step, detail, start_ns, monotonic_nanos());
        result
    }

    /// Records a step whose start and end were measured elsewhere.
    pub fn record(&mut self, step: &str, detail: &str, start_ns: u64, end_ns: u64) {
        if self.enabled {
            self.events.push(TraceEvent {
                process: self.process.to_string(),
                step: step.to_string(),
                detail: detail.to_string(),
                start_ns,
                duration_ns: end_ns.saturating_sub(start_ns),
            });
        }
    }
}

/// The trace of one container start, as `--trace-json` writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trace {
    pub container: String,
    /// The first step's start: offsets are printed from here.
    pub origin_ns: u64,
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// Prints the trace as a table: offset from the first step, duration, who, what.
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "peti trace for container {}",
            &self.container[..12.min(self.container.len())]
        )?;
        writeln!(
            out,
            "{:>10} {:>10}  {:<5} {:<13} detail",
            "at (ms)", "took (ms)", "by", "step"
        )?;
        for e in &self.events {
            writeln!(
                out,
                "{:>10.3} {:>10.3}  {:<5} {:<13} {}",
                e.start_ns.saturating_sub(self.origin_ns) as f64 / 1e6,
                e.duration_ns as f64 / 1e6,
                e.process,
                e.step,
                e.detail
            )?;
        }
        Ok(())
    }
}
