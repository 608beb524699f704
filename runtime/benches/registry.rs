//! How long `peti pull` and `peti push` take against a registry on
//! 127.0.0.1, against skopeo doing the same copies.
//!
//! `cargo bench -p runtime --bench registry` (as root, after `labs prepare`).
//!
//! A `docker-registry` is started on a free port with its storage in a
//! temporary folder, and the lab image is put in it with skopeo. Then, round
//! by round in a shuffled order:
//! - `peti pull` of it into an empty store, against `skopeo copy
//!   docker://... oci:...` into an empty folder;
//! - a second `peti pull` of an image the store has (one manifest request);
//! - `peti push` to a repository the registry has never seen (every blob
//!   uploaded), against `skopeo copy oci:... docker://...` to another.
//!
//! The figures go to stdout and to `target/bench/peti-registry.json`. This is
//! a benchmark, not a test: it asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use testkit::bench::{self, workspace};

fn main() {
    if let Err(reason) = run() {
        println!("registry benchmark skipped: {reason}");
    }
}

/// One way of copying: its key in the figures, its label, and one run of it
/// for a round (which names its own fresh folder or repository).
type Way<'a> = (&'static str, &'static str, Box<dyn Fn(usize) -> bool + 'a>);

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry(dir: &Path) -> Result<(Registry, String), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let host = format!("127.0.0.1:{port}");
    let config = dir.join("registry.yml");
    let text = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
        dir.join("data").display()
    );
    std::fs::write(&config, text).map_err(|e| e.to_string())?;
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("docker-registry: {e} (.ci/setup installs it)"))?;
    let registry = Registry(child);
    for _ in 0..500 {
        if std::net::TcpStream::connect(&host).is_ok() {
            return Ok((registry, host));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err("the registry did not start".into())
}

/// Runs a command; true if it succeeded.
fn ok(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn peti(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_peti"));
    c.env("PETI_ROOT", root.join("root"))
        .env("PETI_RUN", root.join("run"))
        .args(args);
    c
}

fn skopeo(args: &[&str]) -> Command {
    let mut c = Command::new("skopeo");
    c.args(args);
    c
}

fn run() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (peti's store)".into());
    }
    let layout = workspace().join("target/lab/images/lab");
    if !layout.join("index.json").is_file() {
        return Err("no lab image: run `labs prepare` first".into());
    }
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_registry, host) = start_registry(scratch.path())?;
    let source = format!("docker://{host}/lab:1");
    let oci = format!("oci:{}", layout.display());
    if !ok(&mut skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci,
        &source,
    ])) {
        return Err("skopeo could not put the lab image in the registry".into());
    }
    let image = format!("{host}/lab:1");
    let warm = scratch.path().join("warm");
    if !ok(&mut peti(&warm, &["pull", "-q", &image])) {
        return Err("peti pull failed".into());
    }
    let runs = bench::rounds("PETI_BENCH_RUNS", 20);
    let round_dir =
        |name: &str, round: usize| -> PathBuf { scratch.path().join(format!("{name}-{round}")) };
    let ways: Vec<Way> = vec![
        (
            "peti_pull",
            "peti pull, empty store",
            Box::new(|r| ok(&mut peti(&round_dir("pull", r), &["pull", "-q", &image]))),
        ),
        (
            "skopeo_pull",
            "skopeo copy docker:// oci:, empty folder",
            Box::new(|r| {
                let to = format!("oci:{}:lab", round_dir("skopeo-pull", r).display());
                ok(&mut skopeo(&[
                    "copy",
                    "--src-tls-verify=false",
                    &source,
                    &to,
                ]))
            }),
        ),
        (
            "peti_pull_again",
            "peti pull, image already here",
            Box::new(|_| ok(&mut peti(&warm, &["pull", "-q", &image]))),
        ),
        (
            "peti_push",
            "peti push, new repository",
            Box::new(|r| {
                let name = format!("{host}/peti-{r}:1");
                ok(&mut peti(&warm, &["tag", &image, &name]))
                    && ok(&mut peti(&warm, &["push", "-q", &name]))
            }),
        ),
        (
            "skopeo_push",
            "skopeo copy oci: docker://, new repository",
            Box::new(|r| {
                let to = format!("docker://{host}/skopeo-{r}:1");
                ok(&mut skopeo(&["copy", "--dest-tls-verify=false", &oci, &to]))
            }),
        ),
    ];
    let mut ms: Vec<Vec<f64>> = vec![Vec::new(); ways.len()];
    let mut order: Vec<usize> = (0..ways.len()).collect();
    for round in 0..runs + 2 {
        bench::shuffle(&mut order, round as u64);
        for &i in &order {
            let started = Instant::now();
            if !(ways[i].2)(round) {
                return Err(format!("{} failed in round {round}", ways[i].1));
            }
            // The first two rounds warm caches and are discarded.
            if round >= 2 {
                ms[i].push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    println!("{runs} rounds, interleaved, 2 warm-up rounds discarded; milliseconds");
    println!("{:<44} {:>8} {:>8} {:>8}", "", "median", "p10", "p90");
    let mut figures = serde_json::Map::new();
    for (i, (key, label, _)) in ways.iter().enumerate() {
        let times = &mut ms[i];
        times.sort_by(f64::total_cmp);
        let median = bench::median(times);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "{label:<44} {median:>8.2} {:>8.2} {:>8.2}",
            at(0.1),
            at(0.9)
        );
        figures.insert(format!("{key}_median_ms"), median.into());
    }
    bench::write_figures("peti-registry.json", &serde_json::Value::Object(figures))
}
