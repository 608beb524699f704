//! A real Linux boot: Debian's cloud kernel with an initramfs made from a
//! busybox image, checked by what the workload prints. It needs hardware
//! virtualisation (`microvm doctor` says whether this host has it), and skips
//! with the reason elsewhere.

mod common;

use common::{debian_kernel, microvm, report, run_kernel, stderr, stdout};

fn busybox() -> Option<std::path::PathBuf> {
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
}

#[test]
fn debians_kernel_boots_an_image_made_initramfs_and_runs_its_command() {
    let test = "debians_kernel_boots_an_image_made_initramfs_and_runs_its_command";
    let doctor = microvm(&["doctor", "--json"]);
    let doctor: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    if doctor["runs_linux"] != true {
        if doctor["runs_direct"] != true {
            return common::skip(test, doctor["verdict"].as_str().unwrap_or("no KVM"));
        }
        // KVM works, but it is not hardware virtualisation: no set-up changes that.
        return common::skip_for_machine(test, doctor["verdict"].as_str().unwrap_or("no KVM"));
    }
    let (Some(kernel), Some(busybox)) = (debian_kernel(), busybox()) else {
        return common::skip(test, "no /boot/vmlinuz-* or busybox-static (run .ci/setup)");
    };
    let tmp = tempfile::tempdir().unwrap();
    // A rootfs with busybox as /bin/sh, as a container image would have.
    let mut tar = tar::Builder::new(Vec::new());
    let binary = std::fs::read(&busybox).unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_mode(0o755);
    header.set_size(binary.len() as u64);
    tar.append_data(&mut header, "bin/busybox", &binary[..])
        .unwrap();
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_mode(0o777);
    link.set_size(0);
    tar.append_link(&mut link, "bin/sh", "busybox").unwrap();
    let rootfs = tmp.path().join("rootfs.tar");
    std::fs::write(&rootfs, tar.into_inner().unwrap()).unwrap();
    let initrd = tmp.path().join("initrd.cpio.gz");
    let script = "echo RESULT workload=linux-vm kernel=$(/bin/busybox uname -r) pid=$$";
    let built = microvm(&[
        "initramfs",
        rootfs.to_str().unwrap(),
        "-o",
        initrd.to_str().unwrap(),
        "--",
        "/bin/sh",
        "-c",
        script,
    ]);
    assert!(built.status.success(), "{}", stderr(&built));
    let console = tmp.path().join("console.txt");
    let output = run_kernel(
        &kernel,
        &[
            "--initrd",
            initrd.to_str().unwrap(),
            "--mem",
            "256",
            "--console",
            console.to_str().unwrap(),
            "--timeout",
            "120",
            "--timeline",
            "--json",
        ],
    );
    let serial = std::fs::read_to_string(&console).unwrap_or_default();
    assert!(
        output.status.success(),
        "{}\n{}\n{serial}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        serial.contains("RESULT workload=linux-vm kernel="),
        "{serial}"
    );
    assert!(serial.contains("microvm-init: exit 0"), "{serial}");
    let report = report(&output);
    assert_eq!(report["ending"], "reset");
    let marks = common::phase_names(&report)
        .iter()
        .filter(|p| *p == "boot-timer mark")
        .count();
    assert!(marks >= 1, "/init marked the boot timer");
}
