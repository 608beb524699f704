//! memory: what one instance of a workload costs the host, each way, and what
//! K instances cost together.
//!
//! Per instance, each way is counted by what it really holds:
//! - a container: its cgroup's memory (what the kernel charged to it: the
//!   process's pages and the page cache it brought in) plus the resident set of
//!   its monitor, the one peti process that stays with it;
//! - a direct VM: the VMM's own resident memory outside the guest, plus the
//!   guest pages the program actually touched (microvm reports both at exit).
//!
//! `hello` is measured at its peak (the cgroup's peak; the VM at exit), and
//! `memtouch 64` while it holds its 64 MiB. hello's monitor is gone by the time
//! hello has run, so its monitor is counted at what the held memtouch
//! container's monitor used: the same program, doing the same work. Density starts K held instances
//! of each way and reads the host's used memory (MemTotal - MemAvailable)
//! before and after: everything counted, kernel structures included.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabResults;
use super::{LabContext, LabData, LabError, Skipped};
use crate::charts::{self, ChartError};
use crate::machine::memory_kib;
use crate::results::Series;
use crate::ways::{Run, Tools, Way, WayError, checked, microvm_report};
use microvm::linux::LinuxOutcome;
use microvm::memory_use::MemoryUse;
use microvm::program::ProgramOutcome;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemoryData {
    pub footprints: Vec<Footprint>,
    pub density: Vec<DensityPoint>,
    pub skipped: Vec<Skipped>,
}

/// One workload's cost, one way, measured `samples` times.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Footprint {
    pub way: Way,
    pub workload: String,
    /// The parts that add up to the total, in KiB.
    pub parts: Vec<Part>,
    pub total_kib: Series,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub name: String,
    pub kib: Series,
}

/// Memory in use with K instances of one way running.
///
/// Two readings: the host's used memory over the baseline taken just before
/// (MemTotal - MemAvailable: kernel structures included, but also anything
/// else the machine did meanwhile), and the sum of what the instances' own
/// accounting says (containers: cgroup memory and each monitor's PSS; VMs:
/// each microvm's PSS), which nothing else disturbs. PSS, not RSS: a hundred
/// microvm processes share one copy of microvm's code, and RSS would count it
/// a hundred times; PSS gives each process its share.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DensityPoint {
    pub way: Way,
    pub instances: u32,
    /// One reading per repeat ([`DENSITY_REPEATS`]), in MiB.
    pub host_used_mib: Series,
    pub accounted_mib: Series,
    /// The median accounted_mib / instances, in KiB.
    pub per_instance_kib: f64,
}

/// How many times each density point is measured: enough for a median and a
/// spread (the whole lab took half a minute on the build machine with three).
/// The repeats go round the points (every K of every way, then again), so
/// that a drift of the host's memory spreads over all of them instead of
/// landing on one.
pub const DENSITY_REPEATS: usize = 5;

/// The workloads measured, as (name, image, arguments while measured). The held
/// one comes first, so that its monitor's size is known when hello runs.
const WORKLOADS: [(&str, &str, &[&str]); 2] = [
    ("memtouch 64", "memtouch", &["64", "600"]),
    ("hello", "hello", &[]),
];

pub fn run(ctx: &mut LabContext) -> Result<(LabData, Vec<String>), LabError> {
    let tools = ctx.tools.clone();
    let (runnable, mut skipped) = ctx.runnable_ways();
    let samples = ctx.runs.clamp(1, 5);
    // Density holds K instances at once: a hundred Linux guests of 256 MiB is
    // more than a laptop has, so that part runs the lighter two ways.
    let dense_ways: Vec<Way> = runnable
        .iter()
        .copied()
        .filter(|w| *w != Way::LinuxVm)
        .collect();
    if runnable.contains(&Way::LinuxVm) {
        skipped.push(Skipped {
            way: Way::LinuxVm,
            reason: "density: K Linux guests of 256 MiB each are not started".into(),
        });
    }
    ctx.begin(
        "memory",
        runnable.len() as u64 * 2 * u64::from(samples)
            + dense_ways.len() as u64 * ctx.density.len() as u64 * DENSITY_REPEATS as u64,
    );
    if runnable.contains(&Way::Container) {
        for image in ["hello", "memtouch"] {
            tools.load_image(image)?;
        }
    }
    let mut footprints = Vec::new();
    let mut commands = Vec::new();
    for way in runnable {
        let mut monitor_kib = 0.0;
        for (workload, image, args) in WORKLOADS {
            let mut measured: Vec<Vec<(String, f64)>> = Vec::new();
            for k in 1..=samples {
                ctx.step(format!(
                    "{workload} as a {}: sample {k} of {samples}",
                    way.label()
                ));
                let (command, parts) = match way {
                    Way::Container => container_footprint(&tools, image, args, &mut monitor_kib)?,
                    Way::DirectVm => vm_footprint(&tools, image, args)?,
                    Way::LinuxVm => linux_footprint(&tools, image, args, &ctx.scratch)?,
                };
                if k == 1 {
                    commands.push(command);
                }
                measured.push(parts);
            }
            footprints.push(footprint(way, workload, &measured));
        }
    }
    let points: Vec<(Way, u32)> = dense_ways
        .iter()
        .flat_map(|&way| ctx.density.clone().into_iter().map(move |k| (way, k)))
        .collect();
    let mut readings = vec![(Vec::new(), Vec::new()); points.len()];
    for repeat in 1..=DENSITY_REPEATS {
        for (&(way, k), (host, accounted)) in points.iter().zip(&mut readings) {
            ctx.step(format!(
                "density: {k} held instance(s) as a {}, {repeat} of {DENSITY_REPEATS}",
                way.label()
            ));
            let (host_used, accounted_by_them) = held_instances(&tools, way, k)?;
            host.push(host_used);
            accounted.push(accounted_by_them);
        }
    }
    let density = points
        .into_iter()
        .zip(readings)
        .map(|((way, instances), (host, accounted))| {
            let accounted_mib = Series::new("MiB", accounted);
            DensityPoint {
                way,
                instances,
                per_instance_kib: accounted_mib.summary.median * 1024.0
                    / f64::from(instances.max(1)),
                host_used_mib: Series::new("MiB", host),
                accounted_mib,
            }
        })
        .collect();
    commands.push("peti run -d memtouch 1 600   (K times)".into());
    commands.push("microvm run --elf memtouch -- 1 600 &   (K times)".into());
    let data = MemoryData {
        footprints,
        density,
        skipped,
    };
    Ok((LabData::Memory(data), commands))
}

fn footprint(way: Way, workload: &str, measured: &[Vec<(String, f64)>]) -> Footprint {
    let names: Vec<String> = measured[0].iter().map(|(n, _)| n.clone()).collect();
    let parts = names
        .iter()
        .enumerate()
        .map(|(i, name)| Part {
            name: name.clone(),
            kib: Series::new("KiB", measured.iter().map(|m| m[i].1).collect()),
        })
        .collect();
    Footprint {
        way,
        workload: workload.to_string(),
        parts,
        total_kib: Series::new(
            "KiB",
            measured
                .iter()
                .map(|m| m.iter().map(|(_, v)| v).sum())
                .collect(),
        ),
    }
}

/// A detached container, held until its workload is READY (or, for hello,
/// until it has exited), then measured and removed.
fn container_footprint(
    tools: &Tools,
    image: &str,
    args: &[&str],
    monitor_kib: &mut f64,
) -> Result<(String, Vec<(String, f64)>), WayError> {
    let name = format!("labs-memory-{}", std::process::id());
    let mut line = vec!["run", "-d", "--name", &name, image];
    line.extend(args);
    let command = format!("peti run -d {image} {}", args.join(" "));
    checked(&mut tools.peti(&line), &command)?;
    let measured = (|| {
        let held = !args.is_empty();
        if let Some(kib) = wait_for_ready(tools, &name, held)? {
            *monitor_kib = kib;
        }
        // memtouch says READY, touches its memory, then says INFO.
        wait_for_log(tools, &name, "INFO")?;
        let stats = tools.stats(&name)?;
        let cgroup = if args.is_empty() {
            stats.memory_peak_bytes.unwrap_or(0)
        } else {
            stats.memory_bytes
        };
        Ok(vec![
            ("cgroup memory".to_string(), cgroup as f64 / 1024.0),
            ("peti-monitor RSS".to_string(), *monitor_kib),
        ])
    })();
    let _ = tools.peti(&["rm", "-f", &name]).output();
    measured.map(|parts| (command, parts))
}

/// Waits until a detached container's workload has said READY. For a held
/// workload it also waits for its monitor to be there, and returns the
/// monitor's resident memory (KiB).
fn wait_for_ready(tools: &Tools, name: &str, held: bool) -> Result<Option<f64>, WayError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let monitor = tools.inspect(name)?.peti.monitor_pid.and_then(rss_kib);
        let ready = checked(&mut tools.peti(&["logs", name]), "peti logs")?
            .stdout
            .contains("READY");
        match (ready, held, monitor) {
            (true, false, _) => return Ok(None),
            (true, true, Some(kib)) => return Ok(Some(kib)),
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(WayError::Report {
                what: format!("container {name}"),
                reason: "its workload did not say READY within 30 s".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until a container's log holds `text`.
fn wait_for_log(tools: &Tools, name: &str, text: &str) -> Result<(), WayError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !checked(&mut tools.peti(&["logs", name]), "peti logs")?
        .stdout
        .contains(text)
    {
        if Instant::now() > deadline {
            return Err(WayError::Report {
                what: format!("container {name}"),
                reason: format!("no {text:?} in its log within 30 s"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: i32) -> Option<f64> {
    proc_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// A "Key: value kB" field of a /proc file, as a number.
fn proc_field(path: &str, key: &str) -> Option<f64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A direct VM's footprint, from microvm's own report at exit: the guest's
/// pages are still mapped then, so the RSS includes them.
fn vm_footprint(
    tools: &Tools,
    image: &str,
    args: &[&str],
) -> Result<(String, Vec<(String, f64)>), WayError> {
    // A held workload is stopped by --timeout once it has touched its memory;
    // microvm reports what the VM held at that moment. (Measured at a normal
    // exit instead, memtouch's pages would be gone: its free() unmaps them, and
    // the VMM gives unmapped guest pages back to the host.)
    let extra: &[&str] = if args.len() > 1 {
        &["--timeout", "2"]
    } else {
        &[]
    };
    let run = tools.direct_vm(image, extra, args)?;
    let report = microvm_report::<ProgramOutcome>(&run)?;
    vm_parts(&run, report.memory())
}

/// A Linux VM's footprint, from microvm's report when the guest resets: the
/// guest keeps the pages it touched (its kernel, its page cache, and memtouch's
/// 64 MiB, which Linux does not hand back to the host), so all are counted.
fn linux_footprint(
    tools: &Tools,
    image: &str,
    args: &[&str],
    scratch: &Path,
) -> Result<(String, Vec<(String, f64)>), WayError> {
    let kernel = super::linux_kernel().ok_or_else(|| WayError::Report {
        what: "the Linux VM way".into(),
        reason: "no kernel in /boot".into(),
    })?;
    // No hold: the guest's memory stays touched after memtouch exits.
    let args: Vec<&str> = args.iter().take(1).copied().collect();
    let run = tools.linux_vm(&kernel, image, &args, scratch)?;
    let report = microvm_report::<LinuxOutcome>(&run)?;
    vm_parts(&run, report.memory())
}

/// A VM's footprint in two parts, from the memory microvm reported.
fn vm_parts(
    run: &Run,
    memory: Option<&MemoryUse>,
) -> Result<(String, Vec<(String, f64)>), WayError> {
    let memory = memory.ok_or_else(|| WayError::Report {
        what: run.command.clone(),
        reason: "the VM ended before it ran: no memory to report".into(),
    })?;
    Ok((
        run.command.clone(),
        vec![
            (
                "VMM outside the guest".to_string(),
                memory.vmm_overhead_kib as f64,
            ),
            (
                "guest pages touched".to_string(),
                memory.guest_touched_kib as f64,
            ),
        ],
    ))
}

/// Starts `k` instances of `memtouch 1 600` one way, waits until all hold their
/// memory, reads the host's used memory and the instances' own accounting, and
/// stops them all. Returns (host MiB over the baseline, accounted MiB).
fn held_instances(tools: &Tools, way: Way, k: u32) -> Result<(f64, f64), WayError> {
    let used = || (memory_kib("MemTotal:") - memory_kib("MemAvailable:")) as f64 / 1024.0;
    settle();
    let baseline = used();
    let mut held = Held {
        tools,
        names: Vec::new(),
        children: Vec::new(),
    };
    for i in 0..k {
        match way {
            Way::Container => {
                let name = format!("labs-density-{}-{i}", std::process::id());
                checked(
                    &mut tools.peti(&["run", "-d", "--name", &name, "memtouch", "1", "600"]),
                    "peti run -d memtouch 1 600",
                )?;
                held.names.push(name);
            }
            _ => {
                let mut child = Command::new(&tools.microvm)
                    .args(["run", "--elf"])
                    .arg(tools.binary("memtouch"))
                    .args(["--", "1", "600"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|source| WayError::Spawn {
                        program: "microvm".into(),
                        source,
                    })?;
                let stdout = child.stdout.take();
                held.children.push(child);
                // memtouch says READY, touches its memory, then says INFO.
                if let Some(stdout) = stdout {
                    let mut reader = BufReader::new(stdout);
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line.starts_with("INFO") {
                            break;
                        }
                        line.clear();
                    }
                }
            }
        }
    }
    let mut accounted_kib = 0.0;
    for name in &held.names {
        wait_for_ready(tools, name, true)?;
        wait_for_log(tools, name, "INFO")?;
        accounted_kib += monitor_pss_kib(tools, name)? + cgroup_kib(tools, name)?;
    }
    for child in &held.children {
        accounted_kib += pss_kib(child.id() as i32).unwrap_or(0.0);
    }
    let after = used();
    drop(held);
    Ok(((after - baseline).max(0.0), accounted_kib / 1024.0))
}

/// Waits (up to 3 s) until the host's available memory stops moving: the
/// instances of the step before are gone, but the kernel frees a removed
/// cgroup's pages a little later, and a baseline taken meanwhile is too high.
fn settle() {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = memory_kib("MemAvailable:");
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let now = memory_kib("MemAvailable:");
        if now.abs_diff(last) < 256 {
            return;
        }
        last = now;
    }
}

/// PSS of a process (its private pages, plus its share of pages it shares), KiB.
fn pss_kib(pid: i32) -> Option<f64> {
    proc_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

/// The PSS of a container's monitor, in KiB.
fn monitor_pss_kib(tools: &Tools, name: &str) -> Result<f64, WayError> {
    Ok(tools
        .inspect(name)?
        .peti
        .monitor_pid
        .and_then(pss_kib)
        .unwrap_or(0.0))
}

/// What a container's cgroup holds now, in KiB.
fn cgroup_kib(tools: &Tools, name: &str) -> Result<f64, WayError> {
    Ok(tools.stats(name)?.memory_bytes as f64 / 1024.0)
}

/// Instances started for the density count, stopped when dropped, whatever
/// happened: a failed lab leaves no container or VM running.
struct Held<'a> {
    tools: &'a Tools,
    names: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.names.iter().map(String::as_str));
            let _ = self.tools.peti(&args).output();
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn charts(
    data: &MemoryData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    // Two charts, each on its own scale: hello's bars (a few hundred KiB to a
    // MiB or two) would be slivers beside memtouch's 64 MiB, and they are the
    // lesson: what a way costs before the program uses any memory.
    let n = data.footprints.first().map_or(0, |f| f.total_kib.summary.n);
    let mut drawn = Vec::new();
    for (file, hello, what) in [
        ("memory-footprint.svg", false, "memtouch 64"),
        ("memory-footprint-hello.svg", true, "hello"),
    ] {
        let rows: Vec<(String, Vec<(String, f64)>)> = data
            .footprints
            .iter()
            .filter(|f| (f.workload == "hello") == hello)
            .map(|f| {
                (
                    format!("{}: {}", f.way, f.workload),
                    f.parts
                        .iter()
                        .map(|p| (p.name.clone(), p.kib.summary.median / 1024.0))
                        .collect(),
                )
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let path = dir.join(file);
        charts::stacked_bars(
            &path,
            &format!(
                "Memory per instance, {what} (medians of N={n}, {})",
                results.machine
            ),
            "resident memory (MiB)",
            &rows,
        )?;
        drawn.push(path);
    }
    let density = dir.join("memory-density.svg");
    // Accounted first, so each way's own colour marks its own accounting; the
    // host-wide readings follow in the next colours.
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (reading, value) in [
        (
            "accounted",
            (|d: &DensityPoint| d.accounted_mib.summary.median) as fn(&DensityPoint) -> f64,
        ),
        ("host-wide", |d: &DensityPoint| {
            d.host_used_mib.summary.median
        }),
    ] {
        for way in [Way::Container, Way::DirectVm] {
            let points: Vec<(f64, f64)> = data
                .density
                .iter()
                .filter(|d| d.way == way)
                .map(|d| (f64::from(d.instances), value(d)))
                .collect();
            if !points.is_empty() {
                series.push((format!("{}: {reading}", way.label()), points));
            }
        }
    }
    charts::lines(
        &density,
        &format!(
            "Memory used by K held instances of memtouch 1 (median of {DENSITY_REPEATS} per K)"
        ),
        "instances running (K)",
        "memory used (MiB)",
        &series,
    )?;
    drawn.push(density);
    Ok(drawn)
}

pub fn problems(data: &MemoryData) -> Vec<String> {
    let mut problems = Vec::new();
    for f in &data.footprints {
        if !f.total_kib.is_consistent() || f.parts.iter().any(|p| !p.kib.is_consistent()) {
            problems.push(format!(
                "{} {}: a summary does not match its samples",
                f.way, f.workload
            ));
        }
        for (i, total) in f.total_kib.samples.iter().enumerate() {
            let sum: f64 = f.parts.iter().filter_map(|p| p.kib.samples.get(i)).sum();
            if (sum - total).abs() > 0.5 {
                problems.push(format!(
                    "{} {}: parts do not add up to the total",
                    f.way, f.workload
                ));
                break;
            }
        }
        // memtouch 64 touches 64 MiB: each way must account for at least that.
        if f.workload.starts_with("memtouch") && f.total_kib.summary.median < 64.0 * 1024.0 {
            problems.push(format!(
                "{} memtouch 64: only {:.0} KiB counted, less than the 64 MiB it touched",
                f.way, f.total_kib.summary.median
            ));
        }
    }
    if data.footprints.is_empty() {
        problems.push("no footprint measured".into());
    }
    for d in &data.density {
        if !d.host_used_mib.is_consistent() || !d.accounted_mib.is_consistent() {
            problems.push(format!(
                "density {} x{}: a summary does not match its samples",
                d.way, d.instances
            ));
        }
    }
    problems
}
