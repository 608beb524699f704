//! hello-both-ways: the same `hello` each way. Does it run, does it print the
//! same RESULT, and what world does it report: kernel, pid, host name?
//!
//! The point for a reader: a container shares the host's kernel (its `uname`
//! is the host's release) but has a pid and host name of its own; a VM answers
//! all three itself.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabResults;
use super::{LabContext, LabData, LabError, Skipped, linux_kernel};
use crate::charts::ChartError;
use crate::ways::{Run, Way};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HelloData {
    /// What the host itself reports, for comparison.
    pub host: Seen,
    pub ways: Vec<HelloWay>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HelloWay {
    pub way: Way,
    pub command: String,
    pub exit_code: i32,
    /// The workload's own lines, as printed.
    pub output: Vec<String>,
    pub seen: Seen,
    pub result: String,
    pub wall_ms: f64,
}

/// What the workload reports about the world it runs in.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Seen {
    pub kernel_release: String,
    pub hostname: String,
    pub pid: String,
}

impl Seen {
    fn from_run(run: &Run) -> Seen {
        let get = |k: &str| run.info(k).unwrap_or_else(|| "?".into());
        Seen {
            kernel_release: get("release"),
            hostname: get("hostname"),
            pid: get("pid"),
        }
    }
}

pub fn run(ctx: &mut LabContext) -> Result<(LabData, Vec<String>), LabError> {
    let tools = ctx.tools.clone();
    let (runnable, skipped) = ctx.runnable_ways();
    ctx.begin("hello-both-ways", 1 + runnable.len() as u64);
    if runnable.contains(&Way::Container) {
        tools.load_image("hello")?;
    }
    ctx.step("hello on the host");
    let mut host = std::process::Command::new(tools.binary("hello"));
    let host_run = crate::ways::checked(&mut host, "hello")?;
    let (mut ways, mut commands) = (Vec::new(), Vec::new());
    for way in runnable {
        ctx.step(format!("hello as a {}", way.label()));
        let run = match way {
            Way::Container => tools.container("hello", &[], None)?,
            Way::DirectVm => tools.direct_vm("hello", &[], &[])?,
            Way::LinuxVm => {
                let kernel = linux_kernel().expect("skip_reason checked the kernel");
                tools.linux_vm(&kernel, "hello", &[], &ctx.scratch)?
            }
        };
        commands.push(run.command.clone());
        ways.push(HelloWay {
            way,
            command: run.command.clone(),
            exit_code: run.exit_code,
            output: run
                .workload_lines()
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect(),
            seen: Seen::from_run(&run),
            result: run.result_line().unwrap_or_default(),
            wall_ms: run.wall_ms,
        });
    }
    let data = HelloData {
        host: Seen::from_run(&host_run),
        ways,
        skipped,
    };
    Ok((LabData::HelloBothWays(data), commands))
}

/// One chart: the wall time of this single run each way. The table of what each
/// way saw is the lab's real output; the book shows it from the JSON.
pub fn charts(
    data: &HelloData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let path = dir.join("hello-both-ways.svg");
    let categories = vec!["hello".to_string()];
    let series: Vec<(String, Vec<Option<crate::charts::Bar>>)> = data
        .ways
        .iter()
        .map(|w| {
            (
                w.way.label().to_string(),
                vec![Some(crate::charts::Bar {
                    value: w.wall_ms,
                    spread: None,
                })],
            )
        })
        .collect();
    crate::charts::grouped_bars(
        &path,
        &crate::charts::Grouped {
            title: &format!("hello, start to exit, each way (N=1, {})", results.machine),
            y_label: "wall time (ms)",
            categories: &categories,
            series: &series,
        },
    )?;
    Ok(vec![path])
}

pub fn problems(data: &HelloData) -> Vec<String> {
    let mut problems = Vec::new();
    for w in &data.ways {
        if w.exit_code != 0 {
            problems.push(format!("{}: hello exited {}", w.way, w.exit_code));
        }
        if w.result != "RESULT workload=hello status=ok" {
            problems.push(format!("{}: unexpected RESULT line {:?}", w.way, w.result));
        }
    }
    let seen = |way| data.ways.iter().find(|w| w.way == way).map(|w| &w.seen);
    if let Some(container) = seen(Way::Container) {
        // The lesson of the lab: same kernel as the host, its own pid 1.
        if container.kernel_release != data.host.kernel_release {
            problems.push("the container reports another kernel than the host's".into());
        }
        if container.pid != "1" {
            problems.push(format!(
                "the container's hello is pid {}, not 1",
                container.pid
            ));
        }
    }
    if let Some(vm) = seen(Way::DirectVm)
        && vm.kernel_release == data.host.kernel_release
    {
        problems.push("the direct VM reports the host's kernel".into());
    }
    if data.ways.is_empty() {
        problems.push("no way ran".into());
    }
    problems
}
