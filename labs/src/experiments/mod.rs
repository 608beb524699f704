//! The labs themselves. Each one runs workloads some ways, measures them the
//! same way, returns its data for the results file, and draws its charts from
//! that data alone (so `labs chart` can redraw them from files later).
//!
//! | lab              | question it answers                                        |
//! |------------------|------------------------------------------------------------|
//! | hello-both-ways  | does the same program run each way, and what does it see? |
//! | boot-time        | how long from "run it" to its exit, phase by phase?        |
//! | memory           | what does one instance cost, and a hundred?                |
//! | disk             | how many bytes does each way need on disk?                 |
//! | resources        | can limits change while it runs? what happens when full?   |
//! | isolation        | what can the workload see of the host?                     |
//! | compare          | ours against runc, docker, podman and QEMU (`labs compare`) |
//! | simulate         | this machine's costs on a bigger host (`labs simulate`)    |
//!
//! Each lab's data is one variant of [`LabData`], in the envelope of a results
//! file ([`results_file`]).

pub mod boot_time;
pub mod compare;
pub mod disk;
pub mod hello;
pub mod isolation;
pub mod memory;
pub mod resources;
pub mod results_file;
pub mod simulate;

pub use results_file::{LabResults, ResultsError, json_schema};

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::charts::ChartError;
use crate::machine::Machine;
use crate::progress::Progress;
use crate::ways::{Tools, Way, WayError};

/// What can stop a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Way(#[from] WayError),
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("{0}")]
    Other(String),
    #[error("unknown lab {0:?}: `labs list` shows them")]
    Unknown(String),
}

/// Each lab's own data, tagged with its name in the results file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "lab", content = "data", rename_all = "kebab-case")]
pub enum LabData {
    HelloBothWays(hello::HelloData),
    BootTime(boot_time::BootTimeData),
    Memory(memory::MemoryData),
    Disk(disk::DiskData),
    Resources(resources::ResourcesData),
    Isolation(isolation::IsolationData),
    Compare(compare::CompareData),
    Simulate(simulate::SimulateData),
}

impl LabData {
    pub fn lab(&self) -> &'static str {
        match self {
            LabData::HelloBothWays(_) => "hello-both-ways",
            LabData::BootTime(_) => "boot-time",
            LabData::Memory(_) => "memory",
            LabData::Disk(_) => "disk",
            LabData::Resources(_) => "resources",
            LabData::Isolation(_) => "isolation",
            LabData::Compare(_) => "compare",
            LabData::Simulate(_) => "simulate",
        }
    }

    /// Draws this lab's charts into `dir`, returning their paths.
    pub fn charts(&self, results: &LabResults, dir: &Path) -> Result<Vec<PathBuf>, ChartError> {
        match self {
            LabData::HelloBothWays(d) => hello::charts(d, results, dir),
            LabData::BootTime(d) => boot_time::charts(d, results, dir),
            LabData::Memory(d) => memory::charts(d, results, dir),
            LabData::Disk(d) => disk::charts(d, results, dir),
            LabData::Resources(d) => resources::charts(d, results, dir),
            LabData::Isolation(d) => isolation::charts(d, results, dir),
            LabData::Compare(d) => compare::charts(d, results, dir),
            LabData::Simulate(d) => simulate::charts(d, results, dir),
        }
    }

    /// What is wrong with this data: a summary that does not follow from its
    /// samples, a way that failed, an outcome the lab's question rules out.
    /// Empty for a sound run. `labs check` reports these.
    pub fn problems(&self) -> Vec<String> {
        match self {
            LabData::HelloBothWays(d) => hello::problems(d),
            LabData::BootTime(d) => boot_time::problems(d),
            LabData::Memory(d) => memory::problems(d),
            LabData::Disk(d) => disk::problems(d),
            LabData::Resources(d) => resources::problems(d),
            LabData::Isolation(d) => isolation::problems(d),
            LabData::Compare(d) => compare::problems(d),
            LabData::Simulate(d) => simulate::problems(d),
        }
    }
}

/// What running a lab gives: its data, and the commands it measured.
pub type LabOutcome = Result<(LabData, Vec<String>), LabError>;

/// A lab as `labs list` shows it.
pub struct Lab {
    pub name: &'static str,
    pub summary: &'static str,
    pub run: fn(&mut LabContext) -> LabOutcome,
}

/// Every lab `labs run all` runs, in order.
pub const LABS: [Lab; 6] = [
    Lab {
        name: "hello-both-ways",
        summary: "the same hello each way: its output, and the kernel, pid and host name it sees",
        run: hello::run,
    },
    Lab {
        name: "boot-time",
        summary: "N interleaved starts per way, phase by phase: timeline, distribution, median",
        run: boot_time::run,
    },
    Lab {
        name: "memory",
        summary: "what one instance costs (hello, memtouch 64), and host memory for K instances",
        run: memory::run,
    },
    Lab {
        name: "disk",
        summary: "bytes on disk each way, and two images sharing a layer",
        run: disk::run,
    },
    Lab {
        name: "resources",
        summary: "a container's memory limit changed while it runs, a VM's fixed at boot, OOM",
        run: resources::run,
    },
    Lab {
        name: "isolation",
        summary: "what the workload sees each way: processes, mounts, interfaces, kernel",
        run: isolation::run,
    },
];

/// The command that measures `lab` and writes its `<lab>.json`: `labs run LAB`
/// for the labs in [`LABS`], and commands of their own for the rest; `None` if
/// there is no such lab.
pub fn command_for(lab: &str) -> Option<String> {
    match lab {
        "compare" => Some("labs compare".into()),
        "simulate" => Some("labs simulate".into()),
        "criterion" => Some("the criterion benchmarks (see .ci/labs) and `labs criterion`".into()),
        _ => LABS
            .iter()
            .any(|l| l.name == lab)
            .then(|| format!("labs run {lab}")),
    }
}

pub fn find(name: &str) -> Option<&'static Lab> {
    LABS.iter().find(|l| l.name == name)
}

/// What a lab needs to run.
pub struct LabContext {
    pub tools: Tools,
    pub machine: Machine,
    /// Measured runs per way (warm-up runs come on top).
    pub runs: u32,
    /// Instance counts for the memory lab's density part.
    pub density: Vec<u32>,
    /// A scratch directory, removed when the labs end.
    pub scratch: PathBuf,
    pub progress: Option<Progress>,
}

impl LabContext {
    /// Starts the progress display of a lab that has `total` steps.
    pub fn begin(&mut self, lab: &'static str, total: u64) {
        if let Some(old) = self.progress.take() {
            old.finish();
        }
        self.progress = Some(Progress::new(lab, total));
    }

    /// Ends the progress display.
    pub fn end(&mut self) {
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
    }

    /// The ways this machine can run, and why the others cannot.
    pub fn runnable_ways(&self) -> (Vec<Way>, Vec<Skipped>) {
        let mut skipped = Vec::new();
        let ways = Way::ALL
            .into_iter()
            .filter(|&way| match self.skip_reason(way) {
                Some(reason) => {
                    skipped.push(Skipped { way, reason });
                    false
                }
                None => true,
            })
            .collect();
        (ways, skipped)
    }

    /// Announces a step of the lab on the progress display.
    pub fn step(&mut self, message: impl Into<String>) {
        if let Some(p) = self.progress.as_mut() {
            p.step(message);
        }
    }

    /// Why a way cannot run on this machine, if it cannot.
    pub fn skip_reason(&self, way: Way) -> Option<String> {
        // Opened, not just there: without the kvm group, /dev/kvm exists but
        // cannot be used.
        let kvm = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        match way {
            Way::Container if !nix::unistd::geteuid().is_root() => Some(
                "containers need root (namespaces, mounts, cgroups): run labs with sudo".into(),
            ),
            Way::DirectVm | Way::LinuxVm if !kvm => {
                Some("/dev/kvm is missing or not ours to open: see `microvm doctor`".into())
            }
            Way::LinuxVm if !self.machine.boots_linux() => Some(format!(
                "{}: a stock Linux kernel cannot boot here; it needs {} (see `microvm doctor`)",
                self.machine.virtualisation,
                microvm::host::LINUX_NEEDS
            )),
            Way::LinuxVm if linux_kernel().is_none() => {
                Some("no Linux kernel in /boot (run .ci/setup)".into())
            }
            _ => None,
        }
    }
}

/// Runs one lab and wraps its data in a results envelope.
pub fn run_lab(lab: &Lab, ctx: &mut LabContext) -> Result<LabResults, LabError> {
    let (data, commands) = (lab.run)(ctx)?;
    Ok(LabResults::new(&ctx.machine.id, ctx.runs, commands, data))
}

/// The Debian (or Ubuntu) kernel that `.ci/setup` installs, for the Linux VM way.
pub fn linux_kernel() -> Option<PathBuf> {
    let mut kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("vmlinuz-")
                && (name.ends_with("-cloud-amd64") || name.ends_with("-kvm"))
        })
        .collect();
    kernels.sort();
    kernels.pop()
}

/// A way that did not run, and why; shared by labs that report per way.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Skipped {
    pub way: Way,
    pub reason: String,
}
