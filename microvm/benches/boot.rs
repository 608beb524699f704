//! How fast and how small a VM is, against QEMU booting the same guest.
//!
//! `cargo bench -p microvm --bench boot` (needs /dev/kvm; QEMU is optional).
//!
//! Round by round, in a shuffled order, it boots the PVH test guest
//! (report-pvh.elf, which both can enter) with:
//! - `microvm run --kernel report-pvh.elf --console none --timeline --json`, told
//!   the moment it was spawned (MICROVM_SPAWN_NS), so that its timeline measures
//!   process start to first KVM_RUN;
//! - `qemu-system-x86_64 -M microvm -enable-kvm ... -kernel report-pvh.elf`.
//!
//! Both end when the guest resets through the i8042. It reports medians of the
//! wall time, microvm's start-to-first-KVM_RUN, the peak RSS of each (from
//! wait4), and microvm's own overhead: its RSS minus the guest pages touched.
//! Figures go to stdout and target/bench/microvm-boot.json. A benchmark, not a
//! test: it asserts nothing about speed.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use microvm::linux::LinuxOutcome;
use microvm::run::{JsonLine, Printed};
use microvm::timeline::{SPAWN_NS_VAR, monotonic_ns, phase};
use testkit::bench::{self, median};

fn main() {
    if let Err(reason) = run() {
        println!("boot benchmark skipped: {reason}");
    }
}

/// One run: wall milliseconds and peak RSS in KiB, from wait4.
struct Sample {
    wall_ms: f64,
    max_rss_kib: u64,
    stdout: String,
}

fn spawn_measured(command: &mut Command) -> Result<Sample, String> {
    let start = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout {
        std::io::Read::read_to_string(&mut out, &mut stdout).map_err(|e| e.to_string())?;
    }
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped (std's Child was consumed
    // above without waiting); wait4 reaps it and fills `usage`.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    if reaped != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{command:?} failed (status {status})"));
    }
    Ok(Sample {
        wall_ms,
        max_rss_kib: usage.ru_maxrss as u64,
        stdout,
    })
}

fn run() -> Result<(), String> {
    bench::kvm()?;
    let runs = bench::rounds("MICROVM_BENCH_RUNS", 30);
    let guest = PathBuf::from(env!("MICROVM_GUEST_DIR")).join("report-pvh.elf");
    let microvm = env!("CARGO_BIN_EXE_microvm");
    let have_qemu = Command::new(microvm::qemu::PROGRAM)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut ours = Vec::new();
    let mut first_run_ms = Vec::new();
    let mut overhead_kib = Vec::new();
    let mut qemu = Vec::new();
    for round in 0..runs + 3 {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for way in order {
            if way == 0 {
                let spawned = monotonic_ns();
                let sample = spawn_measured(
                    Command::new(microvm)
                        .env(SPAWN_NS_VAR, spawned.to_string())
                        .args(["run", "--kernel"])
                        .arg(&guest)
                        .args(["--console", "none", "--timeline", "--json"]),
                )?;
                // microvm's own types read its report.
                let line: JsonLine<LinuxOutcome> = serde_json::from_str(sample.stdout.trim())
                    .map_err(|e| format!("microvm's report: {e}"))?;
                let Printed::Ran(report) = line.microvm else {
                    return Err("microvm's report says the guest failed".into());
                };
                if round >= 3 {
                    let first = report
                        .timeline
                        .phases
                        .iter()
                        .find(|p| p.name == phase::FIRST_KVM_RUN)
                        .map(|p| p.at_ns)
                        .ok_or("no first KVM_RUN in the report")?;
                    first_run_ms.push((first - spawned) as f64 / 1e6);
                    overhead_kib.push(report.memory.vmm_overhead_kib as f64);
                    ours.push(sample);
                }
            } else if have_qemu {
                let sample = spawn_measured(&mut microvm::qemu::command(&guest))?;
                if round >= 3 {
                    qemu.push(sample);
                }
            }
        }
    }
    report(
        runs,
        &mut ours,
        &mut first_run_ms,
        &mut overhead_kib,
        &mut qemu,
        have_qemu,
    )
}

fn report(
    runs: usize,
    ours: &mut [Sample],
    first_run_ms: &mut [f64],
    overhead_kib: &mut [f64],
    qemu: &mut [Sample],
    have_qemu: bool,
) -> Result<(), String> {
    let wall = |s: &mut [Sample]| median(&mut s.iter().map(|x| x.wall_ms).collect::<Vec<_>>());
    let rss =
        |s: &mut [Sample]| median(&mut s.iter().map(|x| x.max_rss_kib as f64).collect::<Vec<_>>());
    let (our_wall, our_rss) = (wall(ours), rss(ours));
    let first = median(first_run_ms);
    let overhead = median(overhead_kib);
    println!("{runs} rounds, interleaved, 3 warm-up rounds discarded (medians)");
    println!(
        "microvm: {our_wall:.2} ms boot-to-reset, first KVM_RUN {first:.2} ms after spawn, peak RSS {our_rss:.0} KiB, VMM overhead {overhead:.0} KiB"
    );
    let mut json = serde_json::json!({
        "runs": runs,
        "guest": "report-pvh.elf",
        "microvm": {
            "wall_ms": our_wall,
            "first_kvm_run_after_spawn_ms": first,
            "max_rss_kib": our_rss,
            "vmm_overhead_kib": overhead,
        },
    });
    if have_qemu {
        let (q_wall, q_rss) = (wall(qemu), rss(qemu));
        println!("qemu -M microvm: {q_wall:.2} ms boot-to-reset, peak RSS {q_rss:.0} KiB");
        println!(
            "qemu / microvm: {:.1}x time, {:.1}x memory",
            q_wall / our_wall,
            q_rss / our_rss
        );
        json["qemu"] = serde_json::json!({ "wall_ms": q_wall, "max_rss_kib": q_rss });
    } else {
        println!("qemu: skipped (qemu-system-x86_64 not installed)");
    }
    bench::write_figures("microvm-boot.json", &json)
}
