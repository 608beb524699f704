//! Wrong input gets a clear error before the guest runs, the bzImage header is
//! read right from Debian's real kernel, and `doctor` tells what this host is.

mod common;

use std::path::Path;

use common::{assert_says, debian_kernel, guest, microvm, report, stderr};
use microvm::linux::boot::bzimage_info;

/// Runs `microvm run ARGS --timeline --json` and checks that it failed with
/// `message`, before any KVM_RUN.
fn refused(args: &[&str], message: &str) {
    let mut all = vec!["run"];
    all.extend(args);
    all.extend(["--timeline", "--json", "--timeout", "60"]);
    let output = microvm(&all);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_says(&output, message);
    let report = report(&output);
    let ran = common::phase_names(&report).contains(&"first KVM_RUN".to_string());
    assert!(!ran, "the guest ran before the error");
}

#[test]
fn files_that_are_not_whole_kernels_are_refused() {
    needs_kvm!("files_that_are_not_whole_kernels_are_refused");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kernel");
    refused(&["--kernel", missing.to_str().unwrap()], "cannot read");
    refused(&["--kernel", "/etc/hostname"], "is not a kernel");
    refused(
        &[
            "--kernel",
            guest("report.bzImage").to_str().unwrap(),
            "--initrd",
            "/",
        ],
        "/ is a directory, not a regular file: give a kernel (or initrd) file",
    );
    let bytes = std::fs::read(guest("report.bzImage")).unwrap();
    let cut = dir.path().join("cut.bzImage");
    std::fs::write(&cut, &bytes[..900]).unwrap();
    refused(&["--kernel", cut.to_str().unwrap()], "is truncated");
    let elf = std::fs::read(guest("report64.elf")).unwrap();
    let cut_elf = dir.path().join("cut.elf");
    std::fs::write(&cut_elf, &elf[..200]).unwrap();
    refused(&["--kernel", cut_elf.to_str().unwrap()], "cannot load");
}

#[test]
fn sizes_that_do_not_fit_are_refused() {
    needs_kvm!("sizes_that_do_not_fit_are_refused");
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.initrd");
    std::fs::write(&big, vec![0u8; 9 << 20]).unwrap();
    let kernel = guest("report.bzImage");
    let kernel = kernel.to_str().unwrap();
    refused(
        &[
            "--kernel",
            kernel,
            "--initrd",
            big.to_str().unwrap(),
            "--mem",
            "8",
        ],
        "does not fit in guest memory",
    );
    // A bzImage decompresses itself from its load address (1 MiB) up to
    // init_size bytes further. Our test kernel claims 64 KiB; the same kernel
    // claiming 6.5 MiB leaves no room for a 1 MiB initrd in 8 MiB, although
    // the compressed image itself ends below 1.1 MiB.
    let mut claiming = std::fs::read(kernel).unwrap();
    let init_size = 0x260; // the setup header's init_size, boot protocol 2.10+
    claiming[init_size..init_size + 4].copy_from_slice(&(13u32 << 19).to_le_bytes());
    let claiming_path = dir.path().join("claiming.bzImage");
    std::fs::write(&claiming_path, &claiming).unwrap();
    let one_mib = dir.path().join("1mib.initrd");
    std::fs::write(&one_mib, vec![0u8; 1 << 20]).unwrap();
    refused(
        &[
            "--kernel",
            claiming_path.to_str().unwrap(),
            "--initrd",
            one_mib.to_str().unwrap(),
            "--mem",
            "8",
        ],
        "does not fit in guest memory",
    );
    let long = "x".repeat(3000);
    refused(
        &["--kernel", kernel, "--cmdline", &long],
        "the command line is 3000 bytes",
    );
    // Too little memory is a usage error, from the argument parser.
    let output = microvm(&["run", "--kernel", kernel, "--mem", "4"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("4 is not in 8..=3072"));
    let output = microvm(&["run", "--kernel", kernel, "--vcpus", "2"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("needs an MP table"));
}

#[test]
fn the_bzimage_header_of_debians_kernel_is_read_right() {
    let Some(kernel) = debian_kernel() else {
        return common::skip(
            "the_bzimage_header_of_debians_kernel_is_read_right",
            "no /boot/vmlinuz-* (run .ci/setup, which installs linux-image-cloud-amd64)",
        );
    };
    let info = bzimage_info(&kernel).unwrap();
    // Read the same fields straight from the file, by their offsets in the
    // boot protocol, to check the parser against the spec, not against itself.
    let bytes = std::fs::read(&kernel).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    assert_eq!(&bytes[0x202..0x206], b"HdrS");
    assert_eq!(info.setup_sects, bytes[0x1f1]);
    assert_eq!(info.protocol, u16_at(0x206));
    assert!(info.protocol >= 0x020c, "a 6.x kernel speaks 2.12 or newer");
    assert_eq!(info.payload_offset, u32_at(0x248));
    assert_eq!(info.payload_length, u32_at(0x24c));
    let setup = (usize::from(info.setup_sects) + 1) * 512;
    assert!(setup + (info.payload_offset + info.payload_length) as usize <= bytes.len());
    assert_eq!(info.relocatable, bytes[0x234] != 0);
    assert!(info.relocatable, "Debian's kernel is relocatable");
    assert!(info.has_64bit_entry);
    assert_eq!(info.pref_address, u64_at(0x258));
    assert_eq!(info.init_size, u32_at(0x260));
    assert!(
        info.init_size as usize > bytes.len(),
        "it needs more than its file once unpacked"
    );
}

#[test]
fn our_own_bzimage_guest_has_the_header_we_wrote() {
    let info = bzimage_info(&guest("report.bzImage")).unwrap();
    assert_eq!((info.setup_sects, info.protocol), (1, 0x020f));
    assert_eq!((info.pref_address, info.init_size), (0x10_0000, 0x1_0000));
    assert!(info.has_64bit_entry && !info.relocatable);
}

#[test]
fn a_linux_kernel_on_nested_pvm_is_refused_at_once() {
    needs_kvm!("a_linux_kernel_on_nested_pvm_is_refused_at_once");
    let Some(kernel) = debian_kernel() else {
        return common::skip(
            "a_linux_kernel_on_nested_pvm_is_refused_at_once",
            "no /boot/vmlinuz-* (run .ci/setup)",
        );
    };
    if !Path::new("/sys/module/kvm_pvm").exists() {
        return common::skip_for_machine(
            "a_linux_kernel_on_nested_pvm_is_refused_at_once",
            "this host has hardware virtualisation: the Linux boot test covers it",
        );
    }
    // `refused` also checks that the guest never ran: the kernel is refused
    // before any KVM_RUN, so it cannot hang in emulation (timed in the note).
    refused(
        &["--kernel", kernel.to_str().unwrap()],
        "To boot it, use a host with hardware virtualisation (VT-x or AMD-V)",
    );
}

#[test]
fn doctor_tells_what_can_run_here() {
    let output = microvm(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pvm = Path::new("/sys/module/kvm_pvm").exists();
    match common::kvm_unavailable() {
        Some(_) => {
            assert_eq!(output.status.code(), Some(1));
            assert_eq!(report["runs_direct"], false);
        }
        None => {
            assert!(output.status.success());
            assert_eq!(report["api_version"], 12);
            assert_eq!(
                report["virtualisation"],
                if pvm { "nested-pvm" } else { "hardware" }
            );
            assert_eq!(report["runs_linux"], !pvm);
        }
    }
    let text = microvm(&["doctor"]);
    let text = common::stdout(&text);
    assert!(text.contains("/dev/kvm"));
    if pvm {
        assert!(
            text.contains("a stock Linux kernel cannot boot here"),
            "{text}"
        );
        assert!(text.contains("VT-x or AMD-V"), "{text}");
        assert!(text.contains("direct ELF guests"), "{text}");
    }
}
