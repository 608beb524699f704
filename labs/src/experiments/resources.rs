//! resources: the seed's "resource flexible vs limited" row, tried for real.
//!
//! A container's memory limit is a number in its cgroup: `peti update` (like
//! `docker update`) rewrites it while the container runs, up or down, and the
//! kernel enforces the new number at once, down to killing the container when
//! it no longer fits. A VM's memory is fixed when it boots: the guest has that
//! much RAM and no more, and a program that asks for more is refused inside the
//! guest, while the host never notices.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabResults;
use super::{LabContext, LabData, LabError};
use crate::charts::{self, Bar, ChartError, Grouped};
use crate::results::close;
use crate::ways::{Tools, Way, WayError, checked, timed};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResourcesData {
    pub container: Vec<Step>,
    pub vm: Vec<Step>,
}

/// One thing done, and what the system said to it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub way: Way,
    /// A short name for charts.
    pub label: String,
    pub command: String,
    /// The memory limit in force after the step (container) or the guest's RAM (VM).
    pub limit_mib: Option<f64>,
    /// Memory in use (container: its cgroup) or asked for (VM: by the program).
    pub used_mib: Option<f64>,
    /// Whether the workload was still running after the step.
    pub running: bool,
    pub exit_code: Option<i32>,
    pub oom_killed: Option<bool>,
    /// What happened, in words, from the commands' own output.
    pub outcome: String,
}

pub fn run(ctx: &mut LabContext) -> Result<(LabData, Vec<String>), LabError> {
    let tools = ctx.tools.clone();
    for way in [Way::Container, Way::DirectVm] {
        if let Some(reason) = ctx.skip_reason(way) {
            return Err(LabError::Other(format!(
                "the resources lab needs both ways: {reason}"
            )));
        }
    }
    ctx.begin("resources", 3);
    tools.load_image("memtouch")?;
    let name = format!("labs-resources-{}", std::process::id());
    ctx.step("a container holding 64 MiB under a 128 MiB limit");
    let container = container_steps(&tools, &name);
    let _ = tools.peti(&["rm", "-f", &name]).output();
    let container = container?;
    ctx.step("the same at start: 64 MiB under a 32 MiB limit");
    let mut container = container;
    container.push(oom_at_start(&tools, &name)?);
    let _ = tools.peti(&["rm", "-f", &name]).output();
    ctx.step("a VM with 64 MiB of RAM, asked for 32 MiB, then 100 MiB");
    let vm = vm_steps(&tools)?;
    let commands = container
        .iter()
        .chain(vm.iter())
        .map(|s| s.command.clone())
        .collect();
    Ok((
        LabData::Resources(ResourcesData { container, vm }),
        commands,
    ))
}

/// What `peti stats` and `peti inspect` say about the container now.
struct Observed {
    limit_mib: Option<f64>,
    used_mib: Option<f64>,
    running: bool,
    exit_code: Option<i32>,
    oom_killed: Option<bool>,
}

fn observe(tools: &Tools, name: &str) -> Result<Observed, WayError> {
    let stats = tools.stats(name)?;
    let state = tools.inspect(name)?.state;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    Ok(Observed {
        limit_mib: stats.memory_limit_bytes.map(mib),
        used_mib: Some(mib(stats.memory_bytes)),
        running: state.running,
        exit_code: Some(state.exit_code),
        oom_killed: Some(state.oom_killed),
    })
}

fn step(way: Way, label: &str, command: String, seen: Observed, outcome: String) -> Step {
    Step {
        way,
        label: label.to_string(),
        command,
        limit_mib: seen.limit_mib,
        used_mib: seen.used_mib,
        running: seen.running,
        exit_code: if seen.running { None } else { seen.exit_code },
        oom_killed: seen.oom_killed,
        outcome,
    }
}

fn container_steps(tools: &Tools, name: &str) -> Result<Vec<Step>, WayError> {
    let start = format!("peti run -d --name {name} --memory 128m memtouch 64 600");
    checked(
        &mut tools.peti(&[
            "run", "-d", "--name", name, "--memory", "128m", "memtouch", "64", "600",
        ]),
        &start,
    )?;
    wait_until(tools, name, |logs| logs.contains("READY"))?;
    // READY is said before the pages are touched; the INFO line after it comes
    // once they all are.
    wait_until(tools, name, |logs| logs.contains("INFO"))?;
    let mut steps = vec![step(
        Way::Container,
        "start: limit 128m",
        start,
        observe(tools, name)?,
        "running, holding 64 MiB".into(),
    )];
    for (label, limit) in [
        ("raise to 256m", "256m"),
        ("lower to 96m", "96m"),
        ("lower to 32m", "32m"),
    ] {
        let command = format!("peti update --memory {limit} {name}");
        let ran = timed(
            &mut tools.peti(&["update", "--memory", limit, name]),
            &command,
        )?;
        // The kernel acts on a lowered limit at once, but the monitor records an
        // OOM kill a moment later.
        std::thread::sleep(Duration::from_millis(300));
        let seen = observe(tools, name)?;
        let outcome = match (ran.exit_code, seen.running) {
            (0, true) => "limit changed; still running".to_string(),
            (0, false) => format!(
                "limit changed; the kernel killed the container (exit {}, OOMKilled {})",
                seen.exit_code.unwrap_or(-1),
                seen.oom_killed.unwrap_or(false)
            ),
            (_, running) => format!(
                "refused: {}{}",
                ran.stderr.trim(),
                if running { "; still running" } else { "" }
            ),
        };
        steps.push(step(Way::Container, label, command, seen, outcome));
    }
    Ok(steps)
}

fn oom_at_start(tools: &Tools, name: &str) -> Result<Step, WayError> {
    let command = format!("peti run --name {name} --memory 32m memtouch 64");
    let ran = timed(
        &mut tools.peti(&["run", "--name", name, "--memory", "32m", "memtouch", "64"]),
        &command,
    )?;
    let seen = observe(tools, name)?;
    let outcome = format!(
        "exit {} (128 + 9, SIGKILL), OOMKilled {}",
        ran.exit_code,
        seen.oom_killed.unwrap_or(false)
    );
    Ok(step(
        Way::Container,
        "start 64 MiB in 32m",
        command,
        seen,
        outcome,
    ))
}

fn wait_until(tools: &Tools, name: &str, ready: impl Fn(&str) -> bool) -> Result<(), WayError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = checked(&mut tools.peti(&["logs", name]), "peti logs")?;
        if ready(&logs.stdout) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(WayError::Report {
                what: name.to_string(),
                reason: "the workload did not get ready within 30 s".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn vm_steps(tools: &Tools) -> Result<Vec<Step>, WayError> {
    let mut steps = Vec::new();
    for (label, asked) in [
        ("32 MiB in a 64 MiB VM", "32"),
        ("100 MiB in a 64 MiB VM", "100"),
    ] {
        let run = tools.direct_vm("memtouch", &["--mem", "64"], &[asked])?;
        let said = run
            .stderr
            .lines()
            .chain(run.stdout.lines())
            .find(|l| l.contains("error") || l.starts_with("RESULT"))
            .unwrap_or("")
            .to_string();
        let outcome = if run.exit_code == 0 {
            format!("ran: {said}")
        } else {
            format!("the guest program was refused memory inside the VM: {said}")
        };
        steps.push(Step {
            way: Way::DirectVm,
            label: label.to_string(),
            command: run.command.clone(),
            limit_mib: Some(64.0),
            used_mib: asked.parse().ok(),
            running: false,
            exit_code: Some(run.exit_code),
            oom_killed: None,
            outcome,
        });
    }
    Ok(steps)
}

pub fn charts(
    data: &ResourcesData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let draw = |path: &Path, title: &str, steps: &[Step], used: &str| {
        // What happened, under its name: the bars alone do not say it.
        let categories: Vec<String> = steps
            .iter()
            .map(
                |s| match (s.outcome.starts_with("refused"), s.oom_killed, s.exit_code) {
                    (true, _, _) => format!("{} (refused)", s.label),
                    (_, Some(true), _) => format!("{} (OOM-killed)", s.label),
                    (_, _, Some(code)) if code != 0 => format!("{} (exit {code})", s.label),
                    _ => s.label.clone(),
                },
            )
            .collect();
        let bar = |v: Option<f64>| {
            v.map(|value| Bar {
                value,
                spread: None,
            })
        };
        let series = vec![
            (
                "memory limit (MiB)".to_string(),
                steps.iter().map(|s| bar(s.limit_mib)).collect(),
            ),
            (
                used.to_string(),
                steps.iter().map(|s| bar(s.used_mib)).collect(),
            ),
        ];
        charts::grouped_bars(
            path,
            &Grouped {
                title,
                y_label: "MiB",
                categories: &categories,
                series: &series,
            },
        )
    };
    let container = dir.join("resources-container.svg");
    draw(
        &container,
        &format!(
            "A container's limit, changed while it runs (N=1, {})",
            results.machine
        ),
        &data.container,
        "in use by its cgroup (MiB)",
    )?;
    let vm = dir.join("resources-vm.svg");
    draw(
        &vm,
        "A VM's memory is fixed at boot (--mem 64; N=1)",
        &data.vm,
        "asked for by the program (MiB)",
    )?;
    Ok(vec![container, vm])
}

pub fn problems(data: &ResourcesData) -> Vec<String> {
    let mut problems = Vec::new();
    let find = |label: &str| data.container.iter().find(|s| s.label == label);
    match find("raise to 256m") {
        Some(s) if s.running && s.limit_mib.is_some_and(|m| close(m, 256.0)) => {}
        _ => problems.push("raising the limit to 256m did not take effect while running".into()),
    }
    match find("lower to 32m") {
        Some(s) if !s.running || !s.limit_mib.is_some_and(|m| close(m, 32.0)) => {}
        _ => problems.push("a 32m limit under 64 MiB in use left the container running".into()),
    }
    match find("start 64 MiB in 32m") {
        Some(s) if s.oom_killed == Some(true) => {}
        _ => problems.push("64 MiB in a 32m container was not OOM-killed".into()),
    }
    match data.vm.as_slice() {
        [fits, too_big] if fits.exit_code == Some(0) && too_big.exit_code != Some(0) => {}
        _ => problems.push("the VM should run 32 MiB and refuse 100 MiB in 64 MiB of RAM".into()),
    }
    problems
}
