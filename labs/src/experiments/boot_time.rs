//! boot-time: from "run it" to its exit, N times per way, interleaved, with the
//! first rounds thrown away, and split into phases.
//!
//! Each way's own instrument says where the time went: `peti run --trace-json`
//! times every step of a start, `microvm --timeline --json` stamps each phase of
//! a VM's life. Both use CLOCK_MONOTONIC, and the lab passes its spawn time to
//! microvm (MICROVM_SPAWN_NS) and notes it for peti, so every phase is measured
//! from the same instant: the moment the lab spawned the command. The phases of
//! one run add up to its wall time exactly.
//!
//! Ways are interleaved in a shuffled order each round, so that the machine's
//! drift (other load, caches, frequency) hits every way alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabResults;
use super::{LabContext, LabData, LabError, Skipped, linux_kernel};
use crate::charts::{self, ChartError};
use crate::results::Series;
use crate::ways::{Run, Way, WayError, microvm_report};
use microvm::linux::LinuxOutcome;
use microvm::program::ProgramOutcome;
use microvm::timeline::{monotonic_ns, phase};
use runtime::container::trace::Trace;

/// Rounds run first and thrown away: they warm the page cache and the allocator.
pub const WARM_UP: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootTimeData {
    pub workload: String,
    pub warm_up_rounds: u32,
    pub ways: Vec<BootWay>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BootWay {
    pub way: Way,
    pub command: String,
    /// Spawn to exit, as the lab timed it.
    pub total: Series,
    /// Each phase's duration, run by run, in the order they happen. For every
    /// run, the phases add up to its total.
    pub phases: Vec<Phase>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    /// Which of the four stages every way goes through it belongs to:
    /// "start", "set up", "workload" or "tear down".
    pub stage: String,
    pub duration: Series,
}

/// The four stages every way goes through, for the side-by-side chart.
pub const STAGES: [&str; 4] = ["start", "set up", "workload", "tear down"];

pub fn run(ctx: &mut LabContext) -> Result<(LabData, Vec<String>), LabError> {
    let tools = ctx.tools.clone();
    let (ways, skipped) = ctx.runnable_ways();
    ctx.begin(
        "boot-time",
        u64::from(WARM_UP + ctx.runs) * ways.len() as u64,
    );
    if ways.contains(&Way::Container) {
        tools.load_image("hello")?;
    }
    let mut samples: BTreeMap<Way, Vec<Sample>> = BTreeMap::new();
    let mut commands: BTreeMap<Way, String> = BTreeMap::new();
    let trace = ctx.scratch.join("boot-trace.json");
    let rounds = WARM_UP + ctx.runs;
    for round in 0..rounds {
        let mut order = ways.clone();
        shuffle(&mut order, round);
        for way in order {
            let label = if round < WARM_UP { "warm-up" } else { "run" };
            let k = if round < WARM_UP {
                round + 1
            } else {
                round - WARM_UP + 1
            };
            let of = if round < WARM_UP { WARM_UP } else { ctx.runs };
            ctx.step(format!("{} {label} {k} of {of}", way.label()));
            let sample = match way {
                Way::Container => container_sample(&tools, &trace)?,
                Way::DirectVm => direct_sample(&tools)?,
                Way::LinuxVm => {
                    let kernel = linux_kernel().expect("skip_reason checked the kernel");
                    linux_sample(&tools, &kernel, &ctx.scratch)?
                }
            };
            commands.insert(way, sample.command.clone());
            if round >= WARM_UP {
                samples.entry(way).or_default().push(sample);
            }
        }
    }
    let _ = std::fs::remove_file(&trace);
    let ways = samples
        .into_iter()
        .map(|(way, runs)| summarise(way, &commands[&way], &runs))
        .collect();
    let data = BootTimeData {
        workload: "hello".into(),
        warm_up_rounds: WARM_UP,
        ways,
        skipped,
    };
    Ok((LabData::BootTime(data), commands.into_values().collect()))
}

/// One measured run: its wall time and its phases, in milliseconds.
struct Sample {
    command: String,
    wall_ms: f64,
    phases: Vec<(&'static str, &'static str, f64)>,
}

fn bad_report(run: &Run, reason: &str) -> WayError {
    WayError::Report {
        what: run.command.clone(),
        reason: reason.to_string(),
    }
}

/// `peti run --rm hello`, split by its own trace: peti's start until its first
/// step, create, set up (clone to exec), the workload, cleanup, peti's exit.
fn container_sample(tools: &crate::ways::Tools, trace: &Path) -> Result<Sample, WayError> {
    let spawned = monotonic_ns();
    let run = tools.container("hello", &[], Some(trace))?;
    if run.exit_code != 0 {
        return Err(WayError::Failed {
            command: run.command,
            code: run.exit_code,
            stderr: run.stderr,
        });
    }
    let text = std::fs::read_to_string(trace).map_err(|e| bad_report(&run, &e.to_string()))?;
    let trace: Trace = serde_json::from_str(&text).map_err(|e| bad_report(&run, &e.to_string()))?;
    let step = |name: &str| {
        trace
            .events
            .iter()
            .find(|e| e.process == "peti" && e.step == name)
            .map(|e| (e.start_ns, e.duration_ns))
            .ok_or_else(|| bad_report(&run, &format!("no peti step {name:?} in the trace")))
    };
    let (create, exec, wait, exit) = (step("create")?, step("exec")?, step("wait")?, step("exit")?);
    let end = |(start, took): (u64, u64)| start + took;
    let ms = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e6;
    let marks = [
        ("peti starts", "start", spawned, create.0),
        (
            "create: record, upper/, work/",
            "set up",
            create.0,
            end(create),
        ),
        (
            "clone to exec: namespaces, mounts, cgroup",
            "set up",
            end(create),
            end(exec),
        ),
        ("hello runs and exits", "workload", end(exec), end(wait)),
        ("cleanup (--rm)", "tear down", end(wait), end(exit)),
    ];
    let mut phases: Vec<_> = marks
        .iter()
        .map(|&(name, stage, from, to)| (name, stage, ms(from, to)))
        .collect();
    let traced: f64 = phases.iter().map(|p| p.2).sum();
    phases.push(("peti exits", "tear down", (run.wall_ms - traced).max(0.0)));
    Ok(Sample {
        command: run.command,
        wall_ms: run.wall_ms,
        phases,
    })
}

/// The phases of microvm's own timeline, measured from the lab's spawn: each
/// of `names` is (the phase's name in microvm's timeline, its label here, its
/// stage). `O` is the kind of guest's outcome in the report.
fn vm_phases<O: serde::de::DeserializeOwned>(
    run: &Run,
    spawned: u64,
    names: &[(&'static str, &'static str, &'static str)],
) -> Result<Vec<(&'static str, &'static str, f64)>, WayError> {
    let report = microvm_report::<O>(run)?;
    let at: BTreeMap<&str, u64> = report
        .timeline()
        .phases
        .iter()
        .map(|p| (p.name.as_str(), p.at_ns))
        .collect();
    let mut previous = spawned;
    let mut phases = Vec::new();
    for &(timeline_name, label, stage) in names {
        let t = *at
            .get(timeline_name)
            .ok_or_else(|| bad_report(run, &format!("no {timeline_name:?} in the timeline")))?;
        phases.push((label, stage, t.saturating_sub(previous) as f64 / 1e6));
        previous = t.max(previous);
    }
    let timed: f64 = phases.iter().map(|p| p.2).sum();
    phases.push(("microvm exits", "tear down", (run.wall_ms - timed).max(0.0)));
    Ok(phases)
}

fn direct_sample(tools: &crate::ways::Tools) -> Result<Sample, WayError> {
    let spawned = monotonic_ns();
    let spawn_ns = spawned.to_string();
    // The spawn time travels in the environment, as the microvm benchmark does it.
    let mut command = std::process::Command::new(&tools.microvm);
    command
        .env(microvm::timeline::SPAWN_NS_VAR, &spawn_ns)
        .args(["run", "--elf"])
        .arg(tools.binary("hello"))
        .args(["--timeline", "--json"]);
    let run = crate::ways::checked(&mut command, "microvm run --elf hello")?;
    let phases = vm_phases::<ProgramOutcome>(
        &run,
        spawned,
        &[
            (phase::PROCESS_START, "microvm starts", "start"),
            (phase::KVM_READY, "KVM: VM created", "set up"),
            (phase::MEMORY_MAPPED, "guest memory mapped", "set up"),
            (phase::ELF_LOADED, "ELF loaded", "set up"),
            (phase::FIRST_KVM_RUN, "vCPU set up, first KVM_RUN", "set up"),
            (phase::WORKLOAD_READY, "hello starts (READY)", "workload"),
            (phase::EXIT, "hello runs and exits", "workload"),
        ],
    )?;
    Ok(Sample {
        command: run.command,
        wall_ms: run.wall_ms,
        phases,
    })
}

fn linux_sample(
    tools: &crate::ways::Tools,
    kernel: &Path,
    scratch: &Path,
) -> Result<Sample, WayError> {
    let spawned = monotonic_ns();
    let run = tools.linux_vm(kernel, "hello", &[], scratch)?;
    let phases = vm_phases::<LinuxOutcome>(
        &run,
        spawned,
        &[
            (phase::PROCESS_START, "microvm starts", "start"),
            (phase::KVM_READY, "KVM: VM created", "set up"),
            (phase::MEMORY_MAPPED, "guest memory mapped", "set up"),
            (phase::KERNEL_LOADED, "kernel and initrd loaded", "set up"),
            (phase::FIRST_KVM_RUN, "vCPU set up, first KVM_RUN", "set up"),
            (phase::BOOT_TIMER, "Linux boots to /init", "set up"),
            (phase::EXIT, "hello runs, guest resets", "workload"),
        ],
    )?;
    Ok(Sample {
        command: run.command,
        wall_ms: run.wall_ms,
        phases,
    })
}

fn summarise(way: Way, command: &str, runs: &[Sample]) -> BootWay {
    let total = Series::new("ms", runs.iter().map(|r| r.wall_ms).collect());
    let first = &runs[0].phases;
    let phases = first
        .iter()
        .enumerate()
        .map(|(i, (name, stage, _))| Phase {
            name: name.to_string(),
            stage: stage.to_string(),
            duration: Series::new("ms", runs.iter().map(|r| r.phases[i].2).collect()),
        })
        .collect();
    BootWay {
        way,
        command: command.to_string(),
        total,
        phases,
    }
}

/// A small deterministic shuffle (xorshift), so each round has its own order.
fn shuffle(order: &mut [Way], seed: u32) {
    let mut x = (u64::from(seed) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

pub fn charts(
    data: &BootTimeData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let n = results.runs;
    let stages = dir.join("boot-time-phases.svg");
    // The median of each phase, summed per stage: a typical run, stage by stage.
    let rows: Vec<(String, Vec<(String, f64)>)> = data
        .ways
        .iter()
        .map(|w| {
            let stages = STAGES
                .iter()
                .map(|stage| {
                    let ms = w
                        .phases
                        .iter()
                        .filter(|p| p.stage == *stage)
                        .map(|p| p.duration.summary.median)
                        .sum();
                    (stage.to_string(), ms)
                })
                .collect();
            (w.way.label().to_string(), stages)
        })
        .collect();
    charts::stacked_bars(
        &stages,
        &format!("Start to exit of hello, by stage (medians of N={n} runs)"),
        "time from spawn (ms)",
        &rows,
    )?;
    let distribution = dir.join("boot-time-distribution.svg");
    let groups: Vec<(String, Vec<f64>)> = data
        .ways
        .iter()
        .map(|w| (w.way.label().to_string(), w.total.samples.clone()))
        .collect();
    charts::box_plots(
        &distribution,
        &format!("Start to exit of hello: spread of N={n} runs per way"),
        "wall time, spawn to exit (ms)",
        &groups,
    )?;
    let mut paths = vec![stages, distribution];
    for w in &data.ways {
        let path = dir.join(format!("boot-time-phases-{}.svg", w.way));
        let rows = vec![(
            w.way.label().to_string(),
            w.phases
                .iter()
                .map(|p| (p.name.clone(), p.duration.summary.median))
                .collect(),
        )];
        charts::stacked_bars(
            &path,
            &format!("{}: every phase (medians of N={n} runs)", w.way.label()),
            "time from spawn (ms)",
            &rows,
        )?;
        paths.push(path);
    }
    Ok(paths)
}

pub fn problems(data: &BootTimeData) -> Vec<String> {
    let mut problems = Vec::new();
    for w in &data.ways {
        if !w.total.is_consistent() {
            problems.push(format!(
                "{}: total's summary does not match its samples",
                w.way
            ));
        }
        for p in &w.phases {
            if !p.duration.is_consistent() {
                problems.push(format!(
                    "{}: phase {:?}'s summary does not match",
                    w.way, p.name
                ));
            }
            if p.duration.samples.len() != w.total.samples.len() {
                problems.push(format!("{}: phase {:?} has a different N", w.way, p.name));
            }
        }
        // Phases are measured from the same spawn as the total: run by run, they
        // must add up to it.
        for (i, total) in w.total.samples.iter().enumerate() {
            let sum: f64 = w
                .phases
                .iter()
                .filter_map(|p| p.duration.samples.get(i))
                .sum();
            if (sum - total).abs() > 0.01 + total * 0.01 {
                problems.push(format!(
                    "{}: run {}: phases add up to {sum:.3} ms, not its {total:.3} ms",
                    w.way,
                    i + 1
                ));
                break;
            }
        }
    }
    if data.ways.is_empty() {
        problems.push("no way ran".into());
    }
    problems
}
