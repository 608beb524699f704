//! The machine a measurement was taken on: every results file names it, and
//! `bench-results/<machine-id>/machine.json` describes it.
//!
//! Numbers from a 2-core nested-virtualisation cloud VM and from a laptop are
//! not comparable, and a reader must be able to tell which is which. The id is
//! made from what shapes the numbers (CPU model, cores, memory, kind of
//! virtualisation), so the same machine gets the same folder run after run,
//! and a reader's own machine gets a folder of its own. `LABS_MACHINE_ID`
//! overrides it.

use std::path::Path;
use std::process::Command;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a lab's numbers depend on, as `machine.json` records it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// A short, stable name for this machine: the folder under bench-results/.
    pub id: String,
    pub cpu_model: String,
    /// Logical CPUs the kernel gives us.
    pub cores: usize,
    pub memory_mib: u64,
    /// `uname -r`.
    pub kernel: String,
    /// "hardware", "nested-pvm" or "unknown": what `microvm doctor` says.
    pub virtualisation: String,
    /// "v2", "v1-hybrid" or "v1".
    pub cgroup_mode: String,
    /// The first line of each tool's version output, or why it is missing.
    pub tools: Vec<ToolVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolVersion {
    pub tool: String,
    pub version: String,
}

/// The peers and helpers whose versions matter to the results.
const TOOLS: &[(&str, &[&str])] = &[
    ("rustc", &["--version"]),
    ("runc", &["--version"]),
    ("/usr/bin/docker", &["--version"]),
    ("podman", &["--version"]),
    ("qemu-system-x86_64", &["--version"]),
    ("unshare", &["--version"]),
];

impl Machine {
    /// Describes the machine we run on.
    pub fn this() -> Machine {
        let cpu_model = cpu_model();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory_mib = memory_kib("MemTotal:") / 1024;
        let virtualisation = microvm::host::virtualisation().as_str().to_string();
        let id = std::env::var("LABS_MACHINE_ID")
            .ok()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| machine_id(&cpu_model, cores, memory_mib, &virtualisation));
        Machine {
            id,
            cpu_model,
            cores,
            memory_mib,
            kernel: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            virtualisation,
            cgroup_mode: runtime::container::cgroups::detect_mode(Path::new("/sys/fs/cgroup"))
                .map_or_else(|e| format!("unknown ({e})"), |m| m.as_str().to_string()),
            tools: TOOLS
                .iter()
                .map(|(tool, args)| ToolVersion {
                    tool: tool.trim_start_matches("/usr/bin/").to_string(),
                    version: tool_version(tool, args),
                })
                .collect(),
        }
    }

    /// Whether a Linux guest can boot here (the third way of running a workload).
    pub fn boots_linux(&self) -> bool {
        self.virtualisation != "nested-pvm"
    }
}

/// `amd-epyc-9b14-2cpu-24g-nested-pvm`: lower case, words joined by dashes,
/// with the vendor's trademark noise left out.
pub fn machine_id(cpu_model: &str, cores: usize, memory_mib: u64, virtualisation: &str) -> String {
    const NOISE: &[&str] = &["cpu", "processor", "core", "with", "radeon", "graphics"];
    let model = cpu_model
        .to_lowercase()
        .replace("(r)", "")
        .replace("(tm)", "");
    let words: Vec<String> = model
        .split(|c: char| c.is_whitespace() || c == '-' || c == '@')
        .map(|w| w.replace(|c: char| !c.is_ascii_alphanumeric(), ""))
        .filter(|w| !w.is_empty() && !NOISE.contains(&w.as_str()))
        // Clock speeds and bare counts ("96-Core") say nothing a reader needs.
        .filter(|w| !w.ends_with("ghz") && !w.chars().all(|c| c.is_ascii_digit()))
        .take(4)
        .collect();
    let gib = (memory_mib as f64 / 1024.0).round() as u64;
    let mut id = words.join("-");
    if id.is_empty() {
        id = "unknown-cpu".into();
    }
    format!("{id}-{cores}cpu-{gib}g-{virtualisation}")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A field of /proc/meminfo, in KiB.
pub fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn tool_version(tool: &str, args: &[&str]) -> String {
    match Command::new(tool).args(args).output() {
        Ok(out) => {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        }
        Err(e) => format!("missing ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_and_stable() {
        assert_eq!(
            machine_id("AMD EPYC 9B14 96-Core Processor", 2, 24105, "nested-pvm"),
            "amd-epyc-9b14-2cpu-24g-nested-pvm"
        );
        assert_eq!(
            machine_id(
                "Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
                8,
                15800,
                "hardware"
            ),
            "intel-i7-1185g7-8cpu-15g-hardware"
        );
        assert_eq!(
            machine_id("", 1, 512, "unknown"),
            "unknown-cpu-1cpu-1g-unknown"
        );
    }
}
