//! `microvm run --elf`: static programs at user level in a VM with no guest
//! kernel, their system calls served by microvm. The lab workloads must give
//! the same RESULT line in the VM as on the host; a hostile program must get
//! errors, not the VMM's memory; bad ELF files are refused up front.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{assert_no_panic, assert_says, microvm, report, run_elf, run_kernel, stderr, stdout};

fn program(name: &str) -> PathBuf {
    PathBuf::from(env!("MICROVM_PROGRAM_DIR")).join(name)
}

fn result_line(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line in:\n{text}"))
        .to_string()
}

/// Runs `name ARGS` on the host and in a direct VM (with `extra` microvm
/// options), and returns both outputs.
fn both_ways(name: &str, args: &[&str], extra: &[&str]) -> (String, String) {
    let host = Command::new(program(name)).args(args).output().unwrap();
    assert!(host.status.success(), "{name} on the host");
    let path = program(name);
    let mut vm_args = vec!["run", "--elf", path.to_str().unwrap()];
    vm_args.extend(extra);
    vm_args.push("--");
    vm_args.extend(args);
    let vm = microvm(&vm_args);
    assert!(vm.status.success(), "{name} in the VM: {}", stderr(&vm));
    (stdout(&host), stdout(&vm))
}

#[test]
fn every_lab_workload_gives_the_same_result_in_the_vm() {
    needs_kvm!("every_lab_workload_gives_the_same_result_in_the_vm");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fileio.dat");
    let grant = format!("{}:/data/fileio.dat", data.display());
    let cases: [(&str, &[&str], Vec<&str>); 4] = [
        ("hello", &[], vec![]),
        ("compute", &["4"], vec![]),
        ("memtouch", &["32"], vec!["--mem", "128"]),
        ("fileio", &["1", "/data/fileio.dat"], vec!["--file", &grant]),
    ];
    for (name, args, extra) in cases {
        let host_args: Vec<&str> = match name {
            "fileio" => vec!["1", data.to_str().unwrap()],
            _ => args.to_vec(),
        };
        let host = Command::new(program(name))
            .args(&host_args)
            .output()
            .unwrap();
        let path = program(name);
        let mut vm_args = vec!["run", "--elf", path.to_str().unwrap()];
        vm_args.extend(&extra);
        vm_args.push("--");
        vm_args.extend(args);
        let vm = microvm(&vm_args);
        assert!(vm.status.success(), "{name}: {}", stderr(&vm));
        assert_eq!(
            result_line(&stdout(&vm)),
            result_line(&stdout(&host)),
            "{name}"
        );
        assert!(stdout(&vm).starts_with("READY "), "{name}");
    }
}

#[test]
fn a_static_pie_is_loaded_at_a_base_of_our_choosing() {
    needs_kvm!("a_static_pie_is_loaded_at_a_base_of_our_choosing");
    let (host, vm) = both_ways("hello-pie", &[], &[]);
    assert_eq!(result_line(&vm), result_line(&host));
}

#[test]
fn uname_reports_the_vm_not_the_host() {
    needs_kvm!("uname_reports_the_vm_not_the_host");
    let (host, vm) = both_ways("hello", &[], &[]);
    let info = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("INFO "))
            .unwrap()
            .to_string()
    };
    let host_release = nix::sys::utsname::uname()
        .unwrap()
        .release()
        .to_string_lossy()
        .into_owned();
    assert!(info(&host).contains(&format!("release={host_release}")));
    assert_eq!(
        info(&vm),
        "INFO kernel=Linux release=microvm-direct hostname=microvm pid=1"
    );
}

#[test]
fn a_hostile_program_gets_errors_and_the_vmm_stays_up() {
    needs_kvm!("a_hostile_program_gets_errors_and_the_vmm_stays_up");
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("granted.txt");
    std::fs::write(&secret, "read-only data").unwrap();
    let grant = format!("{}:/granted-ro:ro", secret.display());
    let path = program("hostile");
    let output = run_elf(&path, &["--file", &grant]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let checks: Vec<&str> = text.lines().filter(|l| l.starts_with("CHECK ")).collect();
    assert!(checks.len() >= 25, "{text}");
    for line in checks {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let got = fields[2].strip_prefix("got=").unwrap();
        let want = fields[3].strip_prefix("want=").unwrap();
        assert_eq!(got, want, "{line}");
    }
    assert!(text.ends_with("HOSTILE done\n"));
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "read-only data");
    assert!(
        stderr(&output).contains("does not serve: -ENOSYS"),
        "an unknown call is logged by name"
    );
}

#[test]
fn a_crash_is_reported_with_linux_exit_code() {
    needs_kvm!("a_crash_is_reported_with_linux_exit_code");
    let path = program("crash");
    let output = run_elf(&path, &[]);
    assert_eq!(output.status.code(), Some(139), "128 + SIGSEGV");
    assert_says(&output, "page fault");
    assert_says(&output, "address 0x0");
}

#[test]
fn the_timeline_and_the_trace_show_what_happened() {
    needs_kvm!("the_timeline_and_the_trace_show_what_happened");
    let path = program("hello");
    let output = run_elf(&path, &["--timeline", "--json", "--trace-syscalls"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = report(&output);
    let phases = common::phase_names(&report);
    assert_eq!(
        phases,
        [
            "process start",
            "KVM ready",
            "memory mapped",
            "ELF loaded",
            "first KVM_RUN",
            "workload READY",
            "exit"
        ]
    );
    assert_eq!(report["exit_code"], 0);
    assert!(report["syscalls"].as_u64().unwrap() >= 6);
    assert!(report["memory"]["guest_touched_kib"].as_u64().unwrap() > 0);
    let trace = stderr(&output);
    for call in [
        "arch_prctl(0x1002",
        "write(0x1",
        "uname(",
        "getpid(",
        "exit_group(",
    ] {
        assert!(trace.contains(call), "{call} not traced:\n{trace}");
    }
    let looping = program("getpid-loop");
    let stopped = run_elf(&looping, &["--timeout", "1", "--", "100000000000"]);
    assert_eq!(stopped.status.code(), Some(124), "{}", stderr(&stopped));
}

#[test]
fn a_guest_asleep_past_the_timeout_is_stopped_and_its_memory_reported() {
    needs_kvm!("a_guest_asleep_past_the_timeout_is_stopped_and_its_memory_reported");
    // memtouch touches 16 MiB, then sleeps for an hour in nanosleep, which the
    // VMM serves by sleeping itself: --timeout must cut that sleep short.
    let started = std::time::Instant::now();
    let output = run_elf(
        &program("memtouch"),
        &["--timeout", "1", "--timeline", "--json", "--", "16", "3600"],
    );
    assert_eq!(output.status.code(), Some(124), "{}", stderr(&output));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "stopped after {:?}",
        started.elapsed()
    );
    let report = report(&output);
    assert!(report["error"].as_str().unwrap().contains("--timeout 1 s"));
    let touched = report["memory"]["guest_touched_kib"].as_u64().unwrap();
    assert!(touched >= 16 * 1024, "the guest held {touched} KiB");
}

#[test]
fn bad_elf_files_are_refused_with_a_reason() {
    needs_kvm!("bad_elf_files_are_refused_with_a_reason");
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(program("hello")).unwrap();
    let refused = |bytes: &[u8], message: &str| {
        let path = tmp.path().join("bad.elf");
        std::fs::write(&path, bytes).unwrap();
        let output = run_elf(&path, &[]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{message}: {}",
            stderr(&output)
        );
        assert_says(&output, message);
    };
    refused(b"#!/bin/sh\n", "is not an ELF file");
    refused(&good[..40], "is malformed");
    let mut arm = good.clone();
    arm[0x12] = 183; // EM_AARCH64
    refused(&arm, "not a 64-bit little-endian x86-64 program");
    let mut lost = good.clone();
    lost[0x18..0x20].copy_from_slice(&0x10u64.to_le_bytes()); // e_entry
    refused(&lost, "outside every executable segment");
    // Move the second PT_LOAD onto the first.
    let mut overlapping = good.clone();
    let phoff = u64::from_le_bytes(good[0x20..0x28].try_into().unwrap()) as usize;
    let first_vaddr = &good[phoff + 16..phoff + 24].to_vec();
    let second = phoff + 56;
    overlapping[second + 16..second + 24].copy_from_slice(first_vaddr);
    refused(&overlapping, "overlap");
    let dynamic = std::fs::read("/bin/true").unwrap();
    refused(&dynamic, "needs a dynamic loader");
}

#[test]
fn serve_answers_http_from_the_vm_on_loopback_only() {
    needs_kvm!("serve_answers_http_from_the_vm_on_loopback_only");
    use std::io::{BufRead, BufReader, Read, Write};
    let path = program("serve");
    let mut child = Command::new(env!("CARGO_BIN_EXE_microvm"))
        .args([
            "run",
            "--elf",
            path.to_str().unwrap(),
            "--timeout",
            "60",
            "--",
            "0",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    let port: u16 = ready
        .trim()
        .rsplit("port=")
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {ready:?}"));
    // The socket listens on 127.0.0.1, whatever the program asked (INADDR_ANY).
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let listening = format!("0100007F:{port:04X}");
    assert!(
        tcp.lines()
            .any(|l| l.contains(&listening) && l.split_whitespace().nth(3) == Some("0A")),
        "{tcp}"
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1."), "{response}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(result_line(&rest), "RESULT workload=serve requests=1");
}

/// `microvm ARGS` with stdout to a pipe that nobody reads, and at most 20 s;
/// returns the exit code (None if it had to be killed) and how long it took.
fn run_unread(args: &[&str]) -> (Option<i32>, std::time::Duration) {
    let (_reader, writer) = nix::unistd::pipe().unwrap();
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_microvm"))
        .args(args)
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while started.elapsed() < std::time::Duration::from_secs(20) {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), started.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    (None, started.elapsed())
}

#[test]
fn a_guest_blocked_in_a_system_call_does_not_outlive_the_timeout() {
    needs_kvm!("a_guest_blocked_in_a_system_call_does_not_outlive_the_timeout");
    let blocker = program("blocker");
    for mode in ["accept", "recv", "write"] {
        let (code, took) = run_unread(&[
            "run",
            "--elf",
            blocker.to_str().unwrap(),
            "--timeout",
            "2",
            "--",
            mode,
        ]);
        assert_eq!(code, Some(124), "{mode}: after {took:?}");
        assert!(
            took < std::time::Duration::from_secs(6),
            "{mode}: stopped after {took:?}"
        );
    }
    // A timeout too long for a clock is no timeout, not a panic.
    let long = run_elf(&program("hello"), &["--timeout", "18446744073709551615"]);
    assert_eq!(long.status.code(), Some(0), "{}", stderr(&long));
}

#[test]
fn a_guest_cannot_take_the_vmms_descriptors_or_a_privileged_port() {
    needs_kvm!("a_guest_cannot_take_the_vmms_descriptors_or_a_privileged_port");
    let blocker = program("blocker");
    let data = tempfile::NamedTempFile::new().unwrap();
    let grant = format!("{}:/data:ro", data.path().display());
    let opened = run_elf(&blocker, &["--file", &grant, "--", "open"]);
    // Linux's RLIMIT_NOFILE of 1024, less stdin, stdout and stderr.
    assert_eq!(
        result_line(&stdout(&opened)),
        "RESULT opened=1021",
        "{}",
        stderr(&opened)
    );
    let bound = run_elf(&blocker, &["--", "bind80"]);
    assert_eq!(
        result_line(&stdout(&bound)),
        "RESULT bind80=EACCES",
        "{}",
        stderr(&bound)
    );
}

#[test]
fn a_guest_cannot_forge_a_crash_report() {
    needs_kvm!("a_guest_cannot_forge_a_crash_report");
    for mode in ["out", "jump"] {
        let output = run_elf(&program("forger"), &["--", mode]);
        assert_eq!(
            output.status.code(),
            Some(139),
            "{mode}: {}",
            stderr(&output)
        );
        let said = stderr(&output);
        assert!(
            said.contains("wrote to I/O port 0xce itself"),
            "{mode}: {said}"
        );
        assert!(
            !said.contains("page fault"),
            "{mode}: a forged report: {said}"
        );
        assert!(!said.contains("panicked"), "{mode}: {said}");
    }
}

#[test]
fn what_is_not_a_regular_file_or_is_too_large_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    // A sparse file bigger than any guest memory: nothing needs reading to know.
    let huge = tmp.path().join("huge");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(16 << 30)
        .unwrap();
    for (flag, path, said) in [
        (
            "--elf",
            "/dev/zero",
            "is a character device, not a regular file",
        ),
        (
            "--elf",
            fifo.to_str().unwrap(),
            "is a FIFO, not a regular file",
        ),
        (
            "--elf",
            huge.to_str().unwrap(),
            "more than the largest guest memory",
        ),
        (
            "--kernel",
            "/dev/zero",
            "is a character device, not a regular file",
        ),
        (
            "--kernel",
            fifo.to_str().unwrap(),
            "is a FIFO, not a regular file",
        ),
    ] {
        let started = std::time::Instant::now();
        let output = microvm(&["run", flag, path, "--timeout", "5"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{flag} {path}: {}",
            stderr(&output)
        );
        assert_says(&output, said);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{flag} {path}"
        );
    }
}

#[test]
fn elf_headers_that_overflow_are_refused_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(program("hello-pie")).unwrap();
    let phoff = u64::from_le_bytes(good[0x20..0x28].try_into().unwrap()) as usize;
    let write = |name: &str, bytes: &[u8]| {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // A static PIE whose first PT_LOAD sits near 2^64: the base would wrap it.
    let mut wrapping = good.clone();
    let load = (0..u16::from_le_bytes([good[0x38], good[0x39]]) as usize)
        .map(|i| phoff + i * 56)
        .find(|&at| good[at..at + 4] == 1u32.to_le_bytes())
        .unwrap();
    wrapping[load + 16..load + 24].copy_from_slice(&(u64::MAX - 0x1000).to_le_bytes());
    // e_phoff near 2^64.
    let mut far = good.clone();
    far[0x20..0x28].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
    for (name, bytes, said) in [
        ("wrapping", &wrapping, "is malformed"),
        ("far", &far, "is malformed"),
    ] {
        let path = write(name, bytes);
        let output = run_elf(&path, &["--timeout", "5"]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
        assert_says(&output, said);
        assert_no_panic(&output);
    }
    // As --kernel: an ARM ELF, and an x86-64 one claiming 2^60 bytes of memory.
    let guest = std::fs::read(common::guest("report-pvh.elf")).unwrap();
    let mut arm = guest.clone();
    arm[0x12] = 183; // EM_AARCH64
    let kphoff = u64::from_le_bytes(guest[0x20..0x28].try_into().unwrap()) as usize;
    let mut huge = guest.clone();
    let kload = (0..u16::from_le_bytes([guest[0x38], guest[0x39]]) as usize)
        .map(|i| kphoff + i * 56)
        .find(|&at| guest[at..at + 4] == 1u32.to_le_bytes())
        .unwrap();
    huge[kload + 40..kload + 48].copy_from_slice(&(1u64 << 60).to_le_bytes());
    for (name, bytes, said) in [
        ("arm", &arm, "not a 64-bit little-endian x86-64 ELF"),
        ("huge", &huge, "MiB"),
    ] {
        let path = write(name, bytes);
        let output = run_kernel(&path, &["--timeout", "5"]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
        assert_says(&output, said);
    }
}
