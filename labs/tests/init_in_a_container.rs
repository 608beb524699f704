//! The initramfs's `/init` (microvm/init/init.c) normally runs only as pid 1 of
//! a Linux guest, which needs hardware virtualisation. Its own logic (read the
//! command, environment and working directory the image gave, run it, report
//! its exit status) can still be checked here: unpacked, the initramfs is a
//! root file system, and a `peti` container runs its `/init`. Inside a
//! container `/init` cannot mount devtmpfs (no CAP_SYS_ADMIN), so it finds no
//! /dev/mem and skips the boot timer; and reboot(2) is refused (no
//! CAP_SYS_BOOT), so it simply returns. Nothing of the host is touched.

mod common;

use std::process::{Command, Output};

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_initramfs_init_runs_the_image_command_and_reports_its_status() {
    let test = "the_initramfs_init_runs_the_image_command_and_reports_its_status";
    needs_prepare!("the_initramfs_init_runs_the_image_command_and_reports_its_status");
    if !common::is_root() {
        return common::skip(test, "running /init in a container needs root");
    }
    let (Some(peti), Some(microvm)) = (
        common::workspace_binary("peti"),
        common::workspace_binary("microvm"),
    ) else {
        return common::skip(
            test,
            "peti and microvm are not built next to this test (cargo test --workspace)",
        );
    };
    if !common::have("cpio") {
        return common::skip(test, "cpio is not installed (run .ci/setup)");
    }
    let lab = common::prepared();
    let tmp = tempfile::tempdir().unwrap();
    let initrd = tmp.path().join("lab.cpio.gz");
    let layout = lab.join("images/lab");
    run(Command::new(&microvm)
        .args([
            "initramfs",
            layout.to_str().unwrap(),
            "-o",
            initrd.to_str().unwrap(),
        ])
        .args(["--", "sh", "-c", "compute 2; cd /tmp; pwd; exit 3"]));
    // Unpack it as the kernel would, then pack the tree as a rootfs tarball.
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("zcat {} | cpio -idm --quiet", initrd.display()))
        .current_dir(&root));
    let tarball = tmp.path().join("root.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-cf"])
        .arg(&tarball)
        .arg("."));
    let store = |c: &mut Command| {
        c.env("PETI_ROOT", tmp.path().join("store"))
            .env("PETI_RUN", tmp.path().join("run"));
    };
    let mut import = Command::new(&peti);
    store(&mut import);
    run(import.args(["import", tarball.to_str().unwrap(), "vm-root"]));
    let mut container = Command::new(&peti);
    store(&mut container);
    let output = container
        .args(["run", "--rm", "vm-root", "/init"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "/init returns after a refused reboot: {text}"
    );
    let result = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_default();
    let host = Command::new(lab.join("bin/compute"))
        .arg("2")
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_default()
        .to_string();
    assert_eq!(result, expected, "{text}");
    assert!(
        text.contains("\n/tmp\n"),
        "the command ran where the image said: {text}"
    );
    assert!(text.contains("microvm-init: no /dev/mem"), "{text}");
    assert!(text.ends_with("microvm-init: exit 3\n"), "{text}");
}
