//! Booting the test guests for real, through the `microvm` binary: each guest
//! reports what it found (memory map, command line, initrd and its checksum),
//! and the test checks every field against what microvm says it wrote.
//!
//! Needs /dev/kvm; skips with the reason where it cannot be opened. On nested
//! PVM hosts the guests' CPL0 code is emulated, which is why they are short.

mod common;

use common::{assert_says, fnv1a, guest, report, run_kernel, stderr, stdout};

/// Bytes that are not page-aligned in length, so rounding errors would show.
fn initrd_bytes() -> Vec<u8> {
    (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

/// Runs one report guest and checks its serial output against the report.
fn boot_and_check(name: &str, protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.img");
    let bytes = initrd_bytes();
    std::fs::write(&initrd, &bytes).unwrap();
    let console = dir.path().join("console.txt");
    let cmdline = "console=ttyS0 microvm.test=1 quote=\"a b\"";
    let kernel = guest(name);
    let output = run_kernel(
        &kernel,
        &[
            "--initrd",
            initrd.to_str().unwrap(),
            "--cmdline",
            cmdline,
            "--mem",
            "64",
            "--console",
            console.to_str().unwrap(),
            "--timeout",
            "60",
            "--timeline",
            "--json",
        ],
    );
    assert!(output.status.success(), "{name}: {}", stderr(&output));
    let report = report(&output);
    assert_eq!(report["ending"], "reset");
    let boot = &report["boot"];
    assert_eq!(boot["protocol"], protocol);
    let serial = std::fs::read_to_string(&console).unwrap();
    let lines: Vec<&str> = serial.lines().collect();

    // GUEST protocol=... e820=N
    let e820 = boot["e820"].as_array().unwrap();
    let header = lines[0];
    assert!(
        header.starts_with(&format!(
            "GUEST protocol={protocol} e820={:02x}",
            e820.len()
        )),
        "{serial}"
    );
    if protocol == "pvh" {
        assert!(header.ends_with("magic=336ec578"), "{header}");
    }
    // E820 addr size type, one per range microvm wrote.
    for (i, range) in e820.iter().enumerate() {
        let expected = format!(
            "E820 {:016x} {:016x} {:08x}",
            range["addr"].as_u64().unwrap(),
            range["size"].as_u64().unwrap(),
            range["kind"].as_u64().unwrap()
        );
        assert_eq!(lines[1 + i], expected, "{serial}");
    }
    let rest = &lines[1 + e820.len()..];
    assert_eq!(rest[0], format!("CMDLINE {cmdline}"));
    let placed = &boot["initrd"];
    assert_eq!(placed["size"].as_u64().unwrap(), bytes.len() as u64);
    let addr = placed["addr"].as_u64().unwrap();
    assert_eq!(addr % 4096, 0, "the initrd is page-aligned");
    assert!(
        addr + bytes.len() as u64 <= 64 << 20,
        "the initrd is inside RAM"
    );
    assert!(
        addr >= boot["kernel_end"].as_u64().unwrap(),
        "the initrd is above the kernel"
    );
    assert_eq!(
        rest[1],
        format!(
            "INITRD {addr:016x} {:016x} {:08x}",
            bytes.len(),
            fnv1a(&bytes)
        )
    );
    assert_eq!(rest[2], "BYE");
    // The boot timer was hit, after the first KVM_RUN.
    let phases = common::phase_names(&report);
    assert_eq!(
        phases,
        [
            "process start",
            "KVM ready",
            "memory mapped",
            "kernel and initrd loaded",
            "first KVM_RUN",
            "boot-timer mark",
            "exit"
        ]
    );
    let memory = &report["memory"];
    assert!(memory["guest_touched_kib"].as_u64().unwrap() > 0);
    assert!(memory["guest_touched_kib"].as_u64().unwrap() < 64 * 1024);
}

#[test]
fn a_bzimage_guest_sees_the_zero_page_microvm_wrote() {
    needs_kvm!("a_bzimage_guest_sees_the_zero_page_microvm_wrote");
    boot_and_check("report.bzImage", "linux64");
}

#[test]
fn an_elf_guest_with_a_pvh_note_is_entered_through_pvh() {
    needs_kvm!("an_elf_guest_with_a_pvh_note_is_entered_through_pvh");
    boot_and_check("report-pvh.elf", "pvh");
}

#[test]
fn an_elf_guest_without_a_pvh_note_is_entered_in_64_bit_mode() {
    needs_kvm!("an_elf_guest_without_a_pvh_note_is_entered_in_64_bit_mode");
    boot_and_check("report64.elf", "linux64");
}

#[test]
fn a_triple_fault_is_a_clear_error() {
    needs_kvm!("a_triple_fault_is_a_clear_error");
    let output = run_kernel(&guest("triple-fault.bzImage"), &["--timeout", "60"]);
    assert_eq!(output.status.code(), Some(1));
    assert_says(&output, "the guest shut down: a triple fault");
}

#[test]
fn a_guest_that_never_stops_is_stopped_by_the_timeout() {
    needs_kvm!("a_guest_that_never_stops_is_stopped_by_the_timeout");
    let output = run_kernel(&guest("spin.bzImage"), &["--timeout", "1"]);
    assert_eq!(output.status.code(), Some(124), "{}", stderr(&output));
    assert!(stderr(&output).contains("did not finish within --timeout 1 s"));
}

#[test]
fn accesses_to_absent_devices_are_logged_and_ignored() {
    needs_kvm!("accesses_to_absent_devices_are_logged_and_ignored");
    let output = run_kernel(&guest("garbage.bzImage"), &["--timeout", "60"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "GARBAGE done\n");
    let log = stderr(&output);
    for place in [
        "port write at 0x1234",
        "port read at 0x1234 (1 bytes)",
        "port write at 0xcf8",
        "MMIO write at 0xd0000000",
        "MMIO write at 0xd0000010",
        "MMIO read at 0xd0000000",
    ] {
        assert!(log.contains(place), "{place} not logged in:\n{log}");
    }
}

/// Runs the echo guest with a pseudo-terminal as its console, types `keys`,
/// and returns what came out and the exit status.
fn type_at_the_console(keys: &[u8]) -> (String, std::process::ExitStatus, serde_json::Value) {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;

    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_microvm"));
    command
        .args([
            "run",
            "--kernel",
            guest("echo.bzImage").to_str().unwrap(),
            "--timeout",
            "60",
        ])
        .args(["--timeline", "--json"])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setsid is async-signal-safe; the child then execs microvm.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().unwrap();
    drop(slave);
    let mut master = std::fs::File::from(pty.master);
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("ECHO ready") {
        let n = master.read(&mut buf).unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    master.write_all(keys).unwrap();
    let status = child.wait().unwrap();
    // The rest of the output, without blocking: the writer is gone.
    let fd = std::os::fd::AsRawFd::as_raw_fd(&master);
    // SAFETY: fd is the open master; O_NONBLOCK only changes how reads wait.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    // The report is the last line; the guest's output may run into it.
    let start = text
        .rfind("{\"microvm\"")
        .unwrap_or_else(|| panic!("no report in {text:?}"));
    let mut report: serde_json::Value = serde_json::from_str(text[start..].trim()).unwrap();
    (text, status, report["microvm"].take())
}

#[test]
fn keys_typed_at_the_console_reach_the_guest_and_ctrl_a_x_quits() {
    needs_kvm!("keys_typed_at_the_console_reach_the_guest_and_ctrl_a_x_quits");
    let (text, status, report) = type_at_the_console(b"hello.");
    assert!(status.success());
    assert!(
        text.contains("hello."),
        "the guest echoed the keys: {text:?}"
    );
    assert_eq!(report["ending"], "reset");

    let (text, status, report) = type_at_the_console(b"ab\x01x");
    assert!(status.success(), "{text:?}");
    assert_eq!(report["ending"], "quit", "Ctrl-A x ends the VM");
}

#[test]
fn a_killed_microvm_leaves_the_terminal_as_it_found_it() {
    needs_kvm!("a_killed_microvm_leaves_the_terminal_as_it_found_it");
    use nix::sys::termios::{LocalFlags, tcgetattr};
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_microvm"))
        .args([
            "run",
            "--kernel",
            guest("spin.bzImage").to_str().unwrap(),
            "--timeout",
            "60",
        ])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let canonical = || {
        tcgetattr(&slave)
            .unwrap()
            .local_flags
            .contains(LocalFlags::ICANON)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while canonical() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!canonical(), "microvm puts the terminal in raw mode");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15)
    );
    assert!(
        canonical(),
        "the terminal is restored when microvm is killed"
    );
}
