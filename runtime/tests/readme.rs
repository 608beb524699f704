//! The README's `peti` commands, run as a reader would run them, in a sandbox.
//!
//! The README shows commands against the lab images that `labs prepare` builds.
//! This test stands an image in for `lab` (busybox plus a `hello` that prints
//! what the real one prints last) and runs every `peti` line of
//! the README's peti section, in order, through `sh`, as a reader would paste
//! it. Each must succeed. Lines that need a terminal (`-it`) are left to the
//! tty test in containers.rs.

mod common;

use std::process::Command;

use common::{Sandbox, stderr, stdout};

const HELLO: &[u8] =
    b"#!/bin/sh\necho READY workload=hello\necho RESULT workload=hello status=ok\n";

/// The shell lines of the README's "## peti" section that run peti.
fn readme_peti_lines() -> Vec<String> {
    testkit::readme_lines("peti", "peti ")
        .into_iter()
        .map(|(command, _)| command)
        .collect()
}

#[test]
fn every_peti_command_of_the_readme_runs() {
    needs_containers!("every_peti_command_of_the_readme_runs");
    let sandbox = Sandbox::new();
    let lab = sandbox.path().join("lab.tar");
    std::fs::write(&lab, common::busybox_rootfs_tar(&[("bin/hello", HELLO)])).unwrap();
    let busybox_tar = sandbox.path().join("busybox.tar");
    // The README pushes to and pulls from a registry on this machine.
    let _registry = common::Registry::start(5000);
    let lines = readme_peti_lines();
    assert!(lines.len() >= 10, "too few commands found: {lines:?}");
    let mut ran = 0;
    for line in &lines {
        if line.contains(" -it ") {
            continue;
        }
        // What `labs prepare` would have written, the sandbox has elsewhere.
        let line = line
            .replace(
                "load -i target/lab/images/lab",
                &format!("import {} lab", lab.display()),
            )
            .replace(
                "target/lab/images/busybox.tar",
                busybox_tar.to_str().unwrap(),
            )
            .replacen("peti", env!("CARGO_BIN_EXE_peti"), 1);
        let run = || {
            Command::new("sh")
                .args(["-c", &line])
                .env("PETI_ROOT", sandbox.store())
                .env("PETI_RUN", sandbox.run_root())
                .output()
                .unwrap()
        };
        let mut output = run();
        // `logs` right after `run -d` may come before the first line is printed.
        for _ in 0..50 {
            if !(line.contains("logs web") && output.stdout.is_empty()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            output = run();
        }
        assert!(
            output.status.success(),
            "README command failed: {line}\n{}{}",
            stdout(&output),
            stderr(&output)
        );
        if line.contains("run --rm lab hello") {
            assert!(stdout(&output).contains("RESULT workload=hello status=ok"));
        }
        if line.contains("logs web") {
            assert!(!stdout(&output).is_empty(), "web logged nothing");
        }
        ran += 1;
    }
    assert!(ran >= 12, "ran only {ran} README commands");
}
