//! How long `peti run --rm hello` takes, against the floor and against runc.
//!
//! `cargo bench -p runtime --bench start` (as root, after `labs prepare`).
//!
//! Three ways to start the same tiny static program are timed round by round, in a
//! shuffled order each round, so that drift in the machine (other load, caches,
//! frequency) hits all three alike:
//! - the floor: `unshare -mupif --mount-proc /bin/true`, namespaces and nothing else;
//! - `peti run --rm hello`: namespaces, cgroup, overlay, pivot_root, cleanup;
//! - `runc run` + `runc delete` of a bundle made from the same image.
//!
//! It also measures the resident memory of a detached container's monitor. The
//! figures go to stdout and to `target/bench/peti-start.json`. This is a
//! benchmark, not a test: it asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    if let Err(reason) = run() {
        println!("start benchmark skipped: {reason}");
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ is in the workspace")
        .to_path_buf()
}

fn run() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (namespaces, cgroups, mounts)".into());
    }
    let lab = workspace().join("target/lab");
    if !lab.join("images/hello").is_dir() {
        return Err(format!(
            "no lab images in {}: run `cargo run -p labs -- prepare` first",
            lab.display()
        ));
    }
    let runs: usize = std::env::var("PETI_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let peti = env!("CARGO_BIN_EXE_peti");
    let root = temp.path().join("root");
    let run_root = temp.path().join("run");
    let peti_cmd = |args: &[&str]| {
        let mut c = Command::new(peti);
        c.env("PETI_ROOT", &root)
            .env("PETI_RUN", &run_root)
            .args(args);
        c
    };
    for image in ["hello", "busybox"] {
        let path = lab.join("images").join(image);
        check(
            peti_cmd(&["load", "-i", path.to_str().unwrap()]).output(),
            "peti load",
        )?;
    }
    let bundle = make_runc_bundle(temp.path(), &lab)?;
    let have_runc = bundle.is_some();
    // Unpacking the images and the bundle left megabytes of dirty pages. Their
    // writeback would land in the middle of the measurement and slow whichever
    // way touches the disk (peti writes its record and upper directory): on our
    // host it doubled peti's median. Flush it first.
    nix::unistd::sync();

    let mut floor = Vec::new();
    let mut ours = Vec::new();
    let mut runc = Vec::new();
    for round in 0..runs + 5 {
        let mut order = [0usize, 1, 2];
        shuffle(&mut order, round as u64);
        for way in order {
            let start = Instant::now();
            let ok = match way {
                0 => quiet(Command::new("unshare").args(["-mupif", "--mount-proc", "/bin/true"])),
                1 => quiet(&mut peti_cmd(&["run", "--rm", "hello"])),
                _ => match &bundle {
                    Some(b) => {
                        let id = format!("bench-{round}");
                        let ran = quiet(
                            Command::new("runc")
                                .args(["run", "--bundle"])
                                .arg(b)
                                .arg(&id),
                        );
                        quiet(Command::new("runc").args(["delete", "--force", &id]));
                        ran
                    }
                    None => true,
                },
            };
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if !ok {
                return Err(format!("way {way} failed in round {round}"));
            }
            // The first rounds warm caches and are discarded.
            if round >= 5 {
                [&mut floor, &mut ours, &mut runc][way].push(ms);
            }
        }
    }
    let monitor_rss_kib = monitor_rss(&peti_cmd)?;
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        (at(0.5), at(0.1), at(0.9))
    };
    let (f, o, r) = (stats(&mut floor), stats(&mut ours), stats(&mut runc));
    println!("{runs} rounds, interleaved, 5 warm-up rounds discarded; milliseconds");
    println!("{:<44} {:>8} {:>8} {:>8}", "", "median", "p10", "p90");
    println!(
        "{:<44} {:>8.2} {:>8.2} {:>8.2}",
        "unshare -mupif --mount-proc /bin/true", f.0, f.1, f.2
    );
    println!(
        "{:<44} {:>8.2} {:>8.2} {:>8.2}",
        "peti run --rm hello", o.0, o.1, o.2
    );
    if have_runc {
        println!(
            "{:<44} {:>8.2} {:>8.2} {:>8.2}",
            "runc run + runc delete", r.0, r.1, r.2
        );
    } else {
        println!("runc: skipped (not installed)");
    }
    println!(
        "peti / floor: {:.2}x   runc / peti: {:.2}x",
        o.0 / f.0,
        r.0 / o.0
    );
    println!("monitor resident memory: {monitor_rss_kib} KiB");
    let json = serde_json::json!({
        "runs": runs,
        "unit": "ms",
        "floor": {"command": "unshare -mupif --mount-proc /bin/true", "median": f.0, "p10": f.1, "p90": f.2},
        "peti": {"command": "peti run --rm hello", "median": o.0, "p10": o.1, "p90": o.2},
        "runc": if have_runc { serde_json::json!({"command": "runc run --bundle B ID; runc delete --force ID", "median": r.0, "p10": r.1, "p90": r.2}) } else { serde_json::Value::Null },
        "peti_over_floor": o.0 / f.0,
        "runc_over_peti": r.0 / o.0,
        "monitor_rss_kib": monitor_rss_kib,
    });
    let out = workspace().join("target/bench");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    std::fs::write(
        out.join("peti-start.json"),
        serde_json::to_vec_pretty(&json).unwrap(),
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

fn quiet(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn check(output: std::io::Result<std::process::Output>, what: &str) -> Result<(), String> {
    match output {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("{what}: {}", String::from_utf8_lossy(&o.stderr))),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// A small deterministic shuffle (xorshift), so each round has its own order.
fn shuffle(order: &mut [usize; 3], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// A runc bundle whose rootfs is the busybox image plus /hello, with `runc spec`'s
/// config minus `linux.resources` (see HOST.md) and `/hello` as the process.
fn make_runc_bundle(dir: &Path, lab: &Path) -> Result<Option<PathBuf>, String> {
    if Command::new("runc").arg("--version").output().is_err() {
        return Ok(None);
    }
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(|e| e.to_string())?;
    let layout = lab.join("images/busybox");
    let index: serde_json::Value = read_json(&layout.join("index.json"))?;
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .ok_or("no manifest")?;
    let manifest: serde_json::Value = read_json(&blob(&layout, manifest_digest))?;
    for layer in manifest["layers"].as_array().ok_or("no layers")? {
        let file = std::fs::File::open(blob(&layout, layer["digest"].as_str().ok_or("no digest")?))
            .map_err(|e| e.to_string())?;
        runtime::image::unpack::unpack_layer(flate2::read::GzDecoder::new(file), &rootfs)
            .map_err(|e| e.to_string())?;
    }
    std::fs::copy(lab.join("bin/hello"), rootfs.join("hello")).map_err(|e| e.to_string())?;
    check(
        Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .output(),
        "runc spec",
    )?;
    let mut config: serde_json::Value = read_json(&bundle.join("config.json"))?;
    config["process"]["args"] = serde_json::json!(["/hello"]);
    config["process"]["terminal"] = serde_json::json!(false);
    if let Some(linux) = config["linux"].as_object_mut() {
        linux.remove("resources");
    }
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .map_err(|e| e.to_string())?;
    Ok(Some(bundle))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Starts a detached container and reads its monitor's VmRSS.
fn monitor_rss(peti_cmd: &dyn Fn(&[&str]) -> Command) -> Result<u64, String> {
    let out = peti_cmd(&["run", "-d", "--name", "rss", "busybox", "sleep", "30"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "peti run -d: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let inspect = peti_cmd(&["inspect", "rss"])
        .output()
        .map_err(|e| e.to_string())?;
    let value: serde_json::Value =
        serde_json::from_slice(&inspect.stdout).map_err(|e| e.to_string())?;
    let pid = value[0]["Peti"]["MonitorPid"]
        .as_i64()
        .ok_or("no monitor pid")?;
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS")?;
    let _ = peti_cmd(&["rm", "-f", "rss"]).output();
    Ok(rss)
}
