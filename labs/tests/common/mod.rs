//! What the labs' integration tests share: skipping with a reason, and one prepared
//! output directory per test binary.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub use testkit::{Blame, is_root, skip, skip_because, skip_for_machine};

/// Returns early from a test, as skipped, when `labs prepare` cannot run here.
#[macro_export]
macro_rules! needs_prepare {
    ($test:literal) => {
        if let Some(reason) = common::prepare_unavailable() {
            return common::skip($test, reason);
        }
    };
}

/// Whether `tool` can be started here.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Another binary of this workspace (peti, microvm), built by the same
/// `cargo test --workspace` next to this test: target/<triple>/<profile>/.
pub fn workspace_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join(name); // deps/ -> <profile>/
    path.exists().then_some(path)
}

/// The `labs` binary under test.
pub fn labs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_labs"))
}

/// Why `labs prepare` cannot run here, if it cannot.
pub fn prepare_unavailable() -> Option<&'static str> {
    if !have("musl-gcc") {
        return Some("musl-gcc is not installed (run .ci/setup)");
    }
    if !Path::new("/usr/bin/busybox").exists() && !Path::new("/bin/busybox").exists() {
        return Some("busybox-static is not installed (run .ci/setup)");
    }
    None
}

/// Runs `labs prepare --out DIR` and returns its output.
pub fn run_prepare(out: &Path) -> Output {
    labs()
        .arg("prepare")
        .arg("--out")
        .arg(out)
        .output()
        .expect("labs runs")
}

/// One `labs prepare` output shared by every test of a test binary.
pub fn prepared() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, out) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("lab");
        let output = run_prepare(&out);
        assert!(
            output.status.success(),
            "labs prepare failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (dir, out)
    });
    out
}

/// Runs `command` and returns its output, failing the test, with what the
/// command printed, unless it exited 0.
pub fn succeeded(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `key=value` pairs of the first line that starts with `tag`.
pub fn fields(text: &str, tag: &str) -> Vec<(String, String)> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(tag))
        .unwrap_or_else(|| panic!("no {tag} line in:\n{text}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// One field of the first `tag` line.
pub fn field(text: &str, tag: &str, key: &str) -> String {
    fields(text, tag)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key}= on the {tag} line of:\n{text}"))
}

/// Mount points, without the ids that change when the same thing is remounted.
pub fn mount_points() -> Vec<String> {
    let mut points: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().nth(4).unwrap_or("").to_string())
        .collect();
    points.sort();
    points
}
