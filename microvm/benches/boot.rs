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

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

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

fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

fn run() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| format!("/dev/kvm: {e}"))?;
    let runs: usize = std::env::var("MICROVM_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(30);
    let guest = PathBuf::from(env!("MICROVM_GUEST_DIR")).join("report-pvh.elf");
    let microvm = env!("CARGO_BIN_EXE_microvm");
    let have_qemu = Command::new("qemu-system-x86_64")
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
                        .env("MICROVM_SPAWN_NS", spawned.to_string())
                        .args(["run", "--kernel"])
                        .arg(&guest)
                        .args(["--console", "none", "--timeline", "--json"]),
                )?;
                let report: serde_json::Value = serde_json::from_str(sample.stdout.trim())
                    .map_err(|e| format!("microvm's report: {e}"))?;
                let report = &report["microvm"];
                if round >= 3 {
                    let phases = report["timeline"]["phases"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let first = phases
                        .iter()
                        .find(|p| p["name"] == "first KVM_RUN")
                        .and_then(|p| p["at_ns"].as_u64())
                        .ok_or("no first KVM_RUN in the report")?;
                    first_run_ms.push((first - spawned) as f64 / 1e6);
                    overhead_kib
                        .push(report["memory"]["vmm_overhead_kib"].as_u64().unwrap_or(0) as f64);
                    ours.push(sample);
                }
            } else if have_qemu {
                let sample = spawn_measured(&mut qemu_command(&guest))?;
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

/// QEMU's micro-VM machine, as small as it goes, with an i8042 so that the
/// guest's reset ends it (-no-reboot).
fn qemu_command(guest: &Path) -> Command {
    let mut command = Command::new("qemu-system-x86_64");
    command
        .args(["-M", "microvm,isa-serial=on", "-enable-kvm"])
        .args(["-cpu", "host,-arch-capabilities", "-m", "128"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args([
            "-serial",
            "null",
            "-device",
            "i8042",
            "-no-reboot",
            "-kernel",
        ])
        .arg(guest);
    command
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("microvm-boot.json"),
        serde_json::to_vec_pretty(&json).unwrap(),
    )
    .map_err(|e| e.to_string())
}
