//! How a direct (`--elf`) VM compares with a container, and what one system
//! call costs.
//!
//! `cargo build --release -p runtime && cargo bench -p microvm --bench direct`
//! (needs /dev/kvm; the container part needs root, `labs prepare`, and peti
//! built by the same `cargo build --release`).
//!
//! - System-call round trip: getpid-loop makes 100 000 getpid calls, each an
//!   exit to the VMM and back, timed inside the guest; exit-loop makes 100 000
//!   bare exits (an `outb` the VMM ignores), the floor under any served call.
//! - Start to exit, interleaved round by round: `microvm run --elf hello`,
//!   `peti run --rm hello`, and hello run directly on the host.
//!
//! Figures go to stdout and target/bench/microvm-direct.json.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use testkit::bench::{self, median, workspace};

fn main() {
    if let Err(reason) = run() {
        println!("direct benchmark skipped: {reason}");
    }
}

fn program(name: &str) -> PathBuf {
    PathBuf::from(env!("MICROVM_PROGRAM_DIR")).join(name)
}

fn timed(command: &mut Command) -> Result<f64, String> {
    let start = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("{command:?} failed: {status}"));
    }
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

/// Runs a loop program five times (100 000 iterations each) and returns the
/// median of its in-guest time per iteration, in microseconds.
fn per_call_us(microvm: &str, name: &str) -> Result<f64, String> {
    let mut per_call = Vec::new();
    for _ in 0..5 {
        let output = Command::new(microvm)
            .args(["run", "--elf"])
            .arg(program(name))
            .args(["--", "100000"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout);
        let ns: f64 = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ns_per_call="))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} printed {text:?}"))?;
        per_call.push(ns / 1000.0);
    }
    Ok(median(&mut per_call))
}

fn run() -> Result<(), String> {
    bench::kvm()?;
    let microvm = env!("CARGO_BIN_EXE_microvm");
    let runs = bench::rounds("MICROVM_BENCH_RUNS", 30);

    let round_trip_us = per_call_us(microvm, "getpid-loop")?;
    let exit_us = per_call_us(microvm, "exit-loop")?;
    println!(
        "getpid round trip in a direct VM: {round_trip_us:.1} us (median of 5 x 100000 calls)"
    );
    println!("a bare exit to the VMM and back:  {exit_us:.1} us (the floor under any served call)");

    // peti, built by `cargo build --release` next to this benchmark.
    let peti = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("peti")))
        .unwrap_or_default();
    let hello_image = workspace().join("target/lab/images/hello");
    let root = nix::unistd::geteuid().is_root();
    let store = tempfile::tempdir().map_err(|e| e.to_string())?;
    let have_peti = root && peti.exists() && hello_image.exists() && {
        Command::new(&peti)
            .env("PETI_ROOT", store.path().join("root"))
            .env("PETI_RUN", store.path().join("run"))
            .args(["load", "-i"])
            .arg(&hello_image)
            .status()
            .is_ok_and(|s| s.success())
    };
    let (mut vm, mut container, mut native) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..runs + 3 {
        let mut order = [0, 1, 2];
        order.rotate_left(round % 3);
        for way in order {
            let ms = match way {
                0 => timed(
                    Command::new(microvm)
                        .args(["run", "--elf"])
                        .arg(program("hello")),
                )?,
                1 if have_peti => timed(
                    Command::new(&peti)
                        .env("PETI_ROOT", store.path().join("root"))
                        .env("PETI_RUN", store.path().join("run"))
                        .args(["run", "--rm", "hello"]),
                )?,
                1 => continue,
                _ => timed(&mut Command::new(program("hello")))?,
            };
            if round >= 3 {
                [&mut vm, &mut container, &mut native][way].push(ms);
            }
        }
    }
    let (vm_ms, native_ms) = (median(&mut vm), median(&mut native));
    println!("{runs} rounds, interleaved, 3 warm-up rounds discarded (medians, ms)");
    println!("microvm run --elf hello      {vm_ms:8.2}");
    let mut json = serde_json::json!({
        "runs": runs,
        "getpid_round_trip_us": round_trip_us,
        "bare_exit_us": exit_us,
        "microvm_elf_hello_ms": vm_ms,
        "native_hello_ms": native_ms,
    });
    if have_peti {
        let container_ms = median(&mut container);
        println!("peti run --rm hello          {container_ms:8.2}");
        println!("microvm / peti: {:.2}x", vm_ms / container_ms);
        json["peti_run_hello_ms"] = serde_json::json!(container_ms);
    } else {
        println!("peti: skipped (needs root, `labs prepare` and a release build of peti)");
    }
    println!("hello on the host            {native_ms:8.2}");
    bench::write_figures("microvm-direct.json", &json)
}
