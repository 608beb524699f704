//! How long `peti run --rm hello` takes, against the floor and against runc.
//!
//! `cargo bench -p runtime --bench start` (as root, after `labs prepare`).
//!
//! Four ways to start the same tiny static program are timed round by round, in a
//! shuffled order each round, so that drift in the machine (other load, caches,
//! frequency) hits all of them alike:
//! - the floor: `unshare -mupif --mount-proc /bin/true`, namespaces and nothing else;
//! - `peti run --rm hello`: namespaces, cgroup, overlay, pivot_root, cleanup, with
//!   peti's store in a temporary directory beside the others (on disk);
//! - the same with the store on a tmpfs (`/dev/shm`), when there is one. Every
//!   container makes and removes six directories of its own (its record's, upper/
//!   and work/, and overlayfs's three inside work/); this way shows what the
//!   file system under the store costs, apart from peti's own work;
//! - `runc run` + `runc delete` of a bundle made from the same image.
//!
//! It also measures the resident memory of a detached container's monitor. The
//! figures go to stdout and to `target/bench/peti-start.json`. This is a
//! benchmark, not a test: it asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use testkit::bench::{self, workspace};

fn main() {
    if let Err(reason) = run() {
        println!("start benchmark skipped: {reason}");
    }
}

/// A peti store (`PETI_ROOT` and `PETI_RUN`) under `dir`, with the lab images.
#[derive(Clone)]
struct PetiStore {
    root: PathBuf,
    run: PathBuf,
}

impl PetiStore {
    fn new(dir: &Path, lab: &Path) -> Result<Self, String> {
        let store = PetiStore {
            root: dir.join("root"),
            run: dir.join("run"),
        };
        for image in ["hello", "busybox"] {
            let path = lab.join("images").join(image);
            check(
                store
                    .command(&["load", "-i", path.to_str().unwrap()])
                    .output(),
                "peti load",
            )?;
        }
        Ok(store)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_peti"));
        c.env("PETI_ROOT", &self.root)
            .env("PETI_RUN", &self.run)
            .args(args);
        c
    }
}

/// One way of starting the program, and its timings.
struct Way {
    /// Its name in peti-start.json.
    key: &'static str,
    label: &'static str,
    start: Box<dyn Fn(usize) -> bool>,
    ms: Vec<f64>,
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
    let runs = bench::rounds("PETI_BENCH_RUNS", 200);
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let on_disk = PetiStore::new(temp.path(), &lab)?;
    let shm = tmpfs_dir()?;
    let on_tmpfs = match &shm {
        Some(dir) => Some(PetiStore::new(dir.path(), &lab)?),
        None => None,
    };
    let bundle = make_runc_bundle(temp.path(), &lab)?;
    // Unpacking the images and the bundle left megabytes of dirty pages. Their
    // writeback would land in the middle of the measurement and slow whichever
    // way touches the disk (peti writes its record and upper directory): on our
    // host it doubled peti's median. Flush it first.
    nix::unistd::sync();

    let mut ways = vec![
        Way {
            key: "floor",
            label: "unshare -mupif --mount-proc /bin/true",
            start: Box::new(|_| {
                quiet(Command::new("unshare").args(["-mupif", "--mount-proc", "/bin/true"]))
            }),
            ms: Vec::new(),
        },
        Way {
            key: "peti",
            label: "peti run --rm hello",
            start: Box::new({
                let store = on_disk.clone();
                move |_| quiet(&mut store.command(&["run", "--rm", "hello"]))
            }),
            ms: Vec::new(),
        },
    ];
    if let Some(store) = on_tmpfs {
        ways.push(Way {
            key: "peti_tmpfs",
            label: "peti run --rm hello, store on tmpfs",
            start: Box::new(move |_| quiet(&mut store.command(&["run", "--rm", "hello"]))),
            ms: Vec::new(),
        });
    }
    if let Some(bundle) = bundle.clone() {
        ways.push(Way {
            key: "runc",
            label: "runc run + runc delete",
            start: Box::new(move |round| {
                let id = format!("bench-{round}");
                let ran = quiet(
                    Command::new("runc")
                        .args(["run", "--bundle"])
                        .arg(&bundle)
                        .arg(&id),
                );
                quiet(Command::new("runc").args(["delete", "--force", &id]));
                ran
            }),
            ms: Vec::new(),
        });
    }
    for round in 0..runs + 5 {
        let mut order: Vec<usize> = (0..ways.len()).collect();
        bench::shuffle(&mut order, round as u64);
        for i in order {
            let way = &mut ways[i];
            let start = Instant::now();
            let ok = (way.start)(round);
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            if !ok {
                return Err(format!("{} failed in round {round}", way.label));
            }
            // The first rounds warm caches and are discarded.
            if round >= 5 {
                way.ms.push(ms);
            }
        }
    }
    let monitor_rss_kib = monitor_rss(&on_disk)?;
    report(runs, &mut ways, monitor_rss_kib)
}

/// A temporary directory on a tmpfs, if `/dev/shm` is one.
fn tmpfs_dir() -> Result<Option<tempfile::TempDir>, String> {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let on_tmpfs = nix::sys::statfs::statfs("/dev/shm")
        .is_ok_and(|fs| fs.filesystem_type().0 as i64 == TMPFS_MAGIC);
    if !on_tmpfs {
        return Ok(None);
    }
    tempfile::tempdir_in("/dev/shm")
        .map(Some)
        .map_err(|e| e.to_string())
}

/// (median, p10, p90) of some timings.
fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    (at(0.5), at(0.1), at(0.9))
}

fn report(runs: usize, ways: &mut [Way], monitor_rss_kib: u64) -> Result<(), String> {
    println!("{runs} rounds, interleaved, 5 warm-up rounds discarded; milliseconds");
    println!("{:<44} {:>8} {:>8} {:>8}", "", "median", "p10", "p90");
    let mut medians = std::collections::BTreeMap::new();
    let mut json = serde_json::json!({"runs": runs, "unit": "ms"});
    for way in ways.iter_mut() {
        let key = way.key;
        let (median, p10, p90) = stats(&mut way.ms);
        println!("{:<44} {median:>8.2} {p10:>8.2} {p90:>8.2}", way.label);
        json[key] =
            serde_json::json!({"command": way.label, "median": median, "p10": p10, "p90": p90});
        medians.insert(key, median);
    }
    if !medians.contains_key("runc") {
        println!("runc: skipped (not installed)");
    }
    if !medians.contains_key("peti_tmpfs") {
        println!("store on tmpfs: skipped (/dev/shm is not a tmpfs)");
    }
    let ratio = |a: &str, b: &str| match (medians.get(a), medians.get(b)) {
        (Some(x), Some(y)) => x / y,
        _ => f64::NAN,
    };
    println!(
        "peti / floor: {:.2}x   runc / peti: {:.2}x   runc / peti with the store on tmpfs: {:.2}x",
        ratio("peti", "floor"),
        ratio("runc", "peti"),
        ratio("runc", "peti_tmpfs"),
    );
    println!("monitor resident memory: {monitor_rss_kib} KiB");
    json["peti_over_floor"] = ratio("peti", "floor").into();
    json["runc_over_peti"] = ratio("runc", "peti").into();
    json["runc_over_peti_tmpfs"] = ratio("runc", "peti_tmpfs").into();
    json["monitor_rss_kib"] = monitor_rss_kib.into();
    bench::write_figures("peti-start.json", &json)
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
fn monitor_rss(store: &PetiStore) -> Result<u64, String> {
    let peti_cmd = |args: &[&str]| store.command(args);
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
    // The process that started the container becomes the monitor by execve an
    // instant after `run -d` returns; until then its memory is peti's.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim() != "peti-monitor")
        && Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
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
