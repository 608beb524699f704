//! What microvm's integration tests share: skipping with a reason, the test
//! guests' paths, and running the real `microvm` binary.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use testkit::{skip, skip_for_machine};

/// Why VMs cannot run here, if they cannot.
pub fn kvm_unavailable() -> Option<String> {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => None,
        Err(e) => Some(format!("/dev/kvm cannot be opened ({e})")),
    }
}

/// Returns early from a test, as skipped, when KVM is not usable here.
#[macro_export]
macro_rules! needs_kvm {
    ($test:literal) => {
        if let Some(reason) = common::kvm_unavailable() {
            return common::skip($test, &reason);
        }
    };
}

/// A test guest built by build.rs.
pub fn guest(name: &str) -> PathBuf {
    PathBuf::from(env!("MICROVM_GUEST_DIR")).join(name)
}

/// `microvm ARGS`.
pub fn microvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_microvm"))
        .args(args)
        .output()
        .expect("microvm runs")
}

/// `microvm run --elf PROGRAM ARGS...`.
pub fn run_elf(program: &Path, args: &[&str]) -> Output {
    run_guest("--elf", program, args)
}

/// `microvm run --kernel KERNEL ARGS...`.
pub fn run_kernel(kernel: &Path, args: &[&str]) -> Output {
    run_guest("--kernel", kernel, args)
}

fn run_guest(kind: &str, path: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_microvm"))
        .args(["run", kind])
        .arg(path)
        .args(args)
        .output()
        .expect("microvm runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that what `output` printed on stderr says `text`; shows all of it
/// if not.
#[track_caller]
pub fn assert_says(output: &Output, text: &str) {
    let said = stderr(output);
    assert!(said.contains(text), "wanted {text:?} on stderr:\n{said}");
}

/// Asserts that microvm did not panic: bad input gets an error, never a panic.
#[track_caller]
pub fn assert_no_panic(output: &Output) {
    let said = stderr(output);
    assert!(!said.contains("panicked"), "microvm panicked:\n{said}");
}

/// The `{"microvm": ...}` report that `--timeline --json` prints last.
pub fn report(output: &Output) -> serde_json::Value {
    let text = stdout(output);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"microvm\""))
        .unwrap_or_else(|| panic!("no JSON report in:\n{text}\n{}", stderr(output)));
    let mut value: serde_json::Value = serde_json::from_str(line).expect("the report is JSON");
    value["microvm"].take()
}

/// The names of a report's timeline phases, in order.
pub fn phase_names(report: &serde_json::Value) -> Vec<String> {
    report["timeline"]["phases"]
        .as_array()
        .expect("a report has a timeline")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The Debian cloud kernel that .ci/setup installs, if it is there.
pub fn debian_kernel() -> Option<PathBuf> {
    let mut kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    kernels.sort();
    kernels.pop()
}

/// FNV-1a, 32 bits: what the test guests compute over the initrd.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash: u32, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
