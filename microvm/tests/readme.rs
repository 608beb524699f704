//! The README's `microvm` commands, run as a reader would, in a temp dir. A
//! line marked `# exits N` must exit N. The initramfs line needs `labs
//! prepare`'s images and the Linux boot needs hardware virtualisation: both are
//! run by other tests (initramfs.rs, linux.rs), so they are left out here.

mod common;

use std::process::Command;

/// The README's microvm lines, each with the exit code its comment says.
fn readme_microvm_lines() -> Vec<(String, i32)> {
    testkit::readme_lines("microvm", "microvm ")
        .into_iter()
        .map(|(command, comment)| {
            let code = comment
                .strip_prefix("exits ")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            (command, code)
        })
        .collect()
}

#[test]
fn every_microvm_command_of_the_readme_runs() {
    needs_kvm!("every_microvm_command_of_the_readme_runs");
    let tmp = tempfile::tempdir().unwrap();
    let lines = readme_microvm_lines();
    assert!(lines.len() >= 6, "{lines:?}");
    let mut ran = 0;
    for (line, expected) in &lines {
        if line.contains(" initramfs ") || line.contains("/boot/vmlinuz") {
            continue;
        }
        // The README's workloads come from `labs prepare`; build.rs built the
        // same sources for these tests.
        let line = line
            .replacen("microvm", env!("CARGO_BIN_EXE_microvm"), 1)
            .replace("target/lab/bin", env!("MICROVM_PROGRAM_DIR"))
            .replace(
                "/tmp/fileio.dat",
                &tmp.path().join("fileio.dat").to_string_lossy(),
            );
        let output = Command::new("sh")
            .args(["-c", &line])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(*expected),
            "README command: {line}\n{}{}",
            common::stdout(&output),
            common::stderr(&output)
        );
        ran += 1;
    }
    assert!(ran >= 9, "ran only {ran}");
    let report = tmp.path().join("target/guests/report.bzImage");
    assert!(report.exists(), "`microvm guests` wrote the guests");
}
