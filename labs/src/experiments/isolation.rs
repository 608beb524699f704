//! isolation: what the workload can see of the machine, each way.
//!
//! `observe` counts the processes it can see, the mounts, the network
//! interfaces, and asks for the kernel, host name and its pid. On the host it
//! sees the host. In a container the kernel is still the host's, but the
//! namespaces give it a world of its own: one process (itself, pid 1), its own
//! mounts, only `lo`. In a direct VM there is nothing to see: no /proc, no
//! kernel but the VMM's answers.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabResults;
use super::{LabContext, LabData, LabError, Skipped, linux_kernel};
use crate::charts::{self, Bar, ChartError, Grouped};
use crate::ways::{Run, Way, checked};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IsolationData {
    pub host: Observations,
    pub ways: Vec<Observed>,
    pub skipped: Vec<Skipped>,
}

/// What the workload saw when run one way.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Observed {
    pub way: Way,
    pub seen: Observations,
}

/// What `observe` reported; counts are text, since "unavailable (...)" is an answer too.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Observations {
    pub command: String,
    pub kernel: String,
    pub hostname: String,
    pub pid: String,
    pub processes: String,
    pub mounts: String,
    pub interfaces: String,
}

impl Observations {
    fn from_run(run: &Run) -> Observations {
        let get = |k: &str| run.info(k).unwrap_or_else(|| "?".into());
        Observations {
            command: run.command.clone(),
            kernel: get("kernel"),
            hostname: get("hostname"),
            pid: get("pid"),
            processes: get("processes"),
            mounts: get("mounts"),
            interfaces: get("interfaces"),
        }
    }

    /// The three counts, with 0 for "none visible".
    fn counts(&self) -> [f64; 3] {
        [&self.processes, &self.mounts, &self.interfaces].map(|v| v.parse().unwrap_or(0.0))
    }
}

pub fn run(ctx: &mut LabContext) -> Result<(LabData, Vec<String>), LabError> {
    let tools = ctx.tools.clone();
    let (runnable, skipped) = ctx.runnable_ways();
    ctx.begin("isolation", 1 + runnable.len() as u64);
    if runnable.contains(&Way::Container) {
        tools.load_image("observe")?;
    }
    ctx.step("observe on the host");
    let host = Observations::from_run(&checked(
        &mut std::process::Command::new(tools.binary("observe")),
        "observe",
    )?);
    let mut ways = Vec::new();
    for way in runnable {
        ctx.step(format!("observe as a {}", way.label()));
        let run = match way {
            Way::Container => tools.container("observe", &[], None)?,
            Way::DirectVm => tools.direct_vm("observe", &[], &[])?,
            Way::LinuxVm => {
                let kernel = linux_kernel().expect("skip_reason checked the kernel");
                tools.linux_vm(&kernel, "observe", &[], &ctx.scratch)?
            }
        };
        ways.push(Observed {
            way,
            seen: Observations::from_run(&run),
        });
    }
    let mut commands = vec![host.command.clone()];
    commands.extend(ways.iter().map(|o| o.seen.command.clone()));
    Ok((
        LabData::Isolation(IsolationData {
            host,
            ways,
            skipped,
        }),
        commands,
    ))
}

pub fn charts(
    data: &IsolationData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let path = dir.join("isolation.svg");
    let categories: Vec<String> = ["processes", "mounts", "network interfaces"]
        .map(String::from)
        .to_vec();
    let bars = |o: &Observations| {
        o.counts()
            .iter()
            .map(|&value| {
                Some(Bar {
                    value,
                    spread: None,
                })
            })
            .collect::<Vec<_>>()
    };
    let mut series = vec![("the host".to_string(), bars(&data.host))];
    series.extend(
        data.ways
            .iter()
            .map(|o| (o.way.label().to_string(), bars(&o.seen))),
    );
    // The host in grey; each way in its own colour.
    let mut colours = vec![7];
    colours.extend(data.ways.iter().map(|o| o.way.colour()));
    charts::grouped_bars_coloured(
        &path,
        &Grouped {
            title: &format!("What observe can see, each way (N=1, {})", results.machine),
            y_label: "count visible (0: none)",
            categories: &categories,
            series: &series,
        },
        &colours,
    )?;
    Ok(vec![path])
}

pub fn problems(data: &IsolationData) -> Vec<String> {
    let mut problems = Vec::new();
    for Observed { way, seen: o } in &data.ways {
        match way {
            Way::Container => {
                if o.kernel != data.host.kernel {
                    problems.push("the container should share the host's kernel".into());
                }
                if o.processes != "1" || o.pid != "1" {
                    problems.push(format!(
                        "the container should see one process, itself as pid 1 (saw {}, pid {})",
                        o.processes, o.pid
                    ));
                }
                if o.interfaces != "1" {
                    problems.push(format!(
                        "the container should see only lo (saw {})",
                        o.interfaces
                    ));
                }
            }
            Way::DirectVm => {
                if !o.processes.starts_with("unavailable") {
                    problems.push("a direct VM has no /proc to list processes in".into());
                }
                if o.kernel == data.host.kernel {
                    problems.push("the direct VM reported the host's kernel".into());
                }
            }
            Way::LinuxVm => {
                if o.processes.starts_with("unavailable") {
                    problems.push("a Linux VM has a /proc of its own to count in".into());
                }
            }
        }
    }
    if data.ways.is_empty() {
        problems.push("no way ran".into());
    }
    problems
}
