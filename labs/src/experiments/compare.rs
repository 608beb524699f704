//! `labs compare`: our two programs against the peers people use, on the same
//! rootfs, interleaved in one run, as ratios.
//!
//! - peti against `runc run` + `runc delete`, `docker run --rm` (dockerd from
//!   Debian's docker.io, started and stopped by the lab) and
//!   `podman run --rm --runtime runc`;
//! - microvm against `qemu-system-x86_64 -M microvm`, both booting the same
//!   bzImage test guest.
//!
//! A peer that is missing or cannot run here is reported as skipped, with the
//! reason, and the others still run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabResults;
use super::{LabContext, LabData, LabError, LabOutcome};
use crate::charts::{self, Bar, ChartError, Grouped};
use crate::results::Series;
use crate::ways::Tools;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CompareData {
    pub comparisons: Vec<Comparison>,
    pub skipped: Vec<PeerSkipped>,
}

/// One of ours against one peer, measured in the same interleaved rounds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub ours: Measured,
    pub peer: Measured,
    /// The peer's median wall time over ours: 8.0 means ours is 8 times faster.
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    pub name: String,
    pub command: String,
    /// Wall time, spawn to exit (ms).
    pub wall: Series,
    /// `wait4`'s peak resident memory of the process the lab started (KiB).
    /// Not the command's cost: it carries the forked lab's high-water mark
    /// from before the execve, and leaves out daemons (see the lab's page).
    pub peak_rss_kib: Option<Series>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerSkipped {
    pub peer: String,
    pub reason: String,
}

/// Rounds run first and thrown away.
const WARM_UP: u32 = 2;

/// One timed run of a command: wall time, spawn to exit, and the peak RSS of
/// the command's own process (for docker and podman that is the client, not
/// the daemon or conmon that do the work: their numbers say so in the name).
struct Sample {
    wall_ms: f64,
    peak_rss_kib: f64,
}

/// A command to time, again and again.
struct Side {
    name: String,
    shown: String,
    run: Box<dyn FnMut() -> Result<Sample, String>>,
}

pub fn run(ctx: &mut LabContext) -> LabOutcome {
    let tools = ctx.tools.clone();
    tools.load_image("hello")?;
    let scratch = ctx.scratch.join("compare");
    std::fs::create_dir_all(&scratch).map_err(|e| LabError::Other(e.to_string()))?;
    let rootfs_tar = tools.lab_dir.join("images/hello.tar");
    let mut skipped = Vec::new();
    let mut pairs: Vec<(Side, Side)> = Vec::new();
    let peti = |tools: &Tools| {
        let tools = tools.clone();
        Side {
            name: "peti".into(),
            shown: "peti run --rm hello".into(),
            run: Box::new(move || sample(&mut tools.peti(&["run", "--rm", "hello"]))),
        }
    };
    match runc::bundle(&scratch, &rootfs_tar) {
        Ok(bundle) => pairs.push((peti(&tools), runc::side(bundle))),
        Err(reason) => skipped.push(skip("runc", reason)),
    }
    // The daemons live as long as their guards, which end them and clean up.
    let dockerd = docker::Dockerd::start(&scratch.join("docker"), &rootfs_tar);
    match &dockerd {
        Ok(d) => pairs.push((peti(&tools), d.side())),
        Err(reason) => skipped.push(skip("docker", reason.clone())),
    }
    let podman = podman::Podman::new(&scratch.join("podman"), &rootfs_tar);
    match &podman {
        Ok(p) => pairs.push((peti(&tools), p.side())),
        Err(reason) => skipped.push(skip("podman", reason.clone())),
    }
    match qemu::sides(&tools, &scratch) {
        Ok((ours, theirs)) => pairs.push((ours, theirs)),
        Err(reason) => skipped.push(skip("qemu", reason)),
    }
    ctx.begin(
        "compare",
        pairs.len() as u64 * u64::from(WARM_UP + ctx.runs),
    );
    let mut comparisons = Vec::new();
    let mut commands = Vec::new();
    for (mut ours, mut peer) in pairs {
        commands.push(ours.shown.clone());
        commands.push(peer.shown.clone());
        match measure_pair(ctx, &mut ours, &mut peer) {
            Ok(comparison) => comparisons.push(comparison),
            Err(reason) => skipped.push(skip(&peer.name, reason)),
        }
    }
    drop(dockerd);
    drop(podman);
    commands.dedup();
    Ok((
        LabData::Compare(CompareData {
            comparisons,
            skipped,
        }),
        commands,
    ))
}

fn skip(peer: &str, reason: String) -> PeerSkipped {
    PeerSkipped {
        peer: peer.to_string(),
        reason: reason.lines().next().unwrap_or("").to_string(),
    }
}

/// Rounds of ours and the peer, in a new order each round, warm-up dropped.
fn measure_pair(
    ctx: &mut LabContext,
    ours: &mut Side,
    peer: &mut Side,
) -> Result<Comparison, String> {
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..WARM_UP + ctx.runs {
        let measured = round >= WARM_UP;
        let k = if measured {
            round - WARM_UP + 1
        } else {
            round + 1
        };
        let of = if measured { ctx.runs } else { WARM_UP };
        let label = if measured { "run" } else { "warm-up" };
        ctx.step(format!(
            "{} vs {}: {label} {k} of {of}",
            ours.name, peer.name
        ));
        let first_peer = round % 2 == 1;
        for side in 0..2 {
            let (who, into) = if (side == 0) != first_peer {
                (&mut *ours, &mut mine)
            } else {
                (&mut *peer, &mut theirs)
            };
            let sample = (who.run)().map_err(|e| format!("{}: {e}", who.shown))?;
            if measured {
                into.push(sample);
            }
        }
    }
    let measured = |side: &Side, samples: &[Sample]| Measured {
        name: side.name.clone(),
        command: side.shown.clone(),
        wall: Series::new("ms", samples.iter().map(|s| s.wall_ms).collect()),
        peak_rss_kib: Some(Series::new(
            "KiB",
            samples.iter().map(|s| s.peak_rss_kib).collect(),
        )),
    };
    let (ours, peer) = (measured(ours, &mine), measured(peer, &theirs));
    Ok(Comparison {
        ratio: peer.wall.summary.median / ours.wall.summary.median,
        ours,
        peer,
    })
}

/// One timed run of a command, its end awaited ([`crate::ways::checked`]).
fn sample(command: &mut Command) -> Result<Sample, String> {
    let shown = command.get_program().to_string_lossy().into_owned();
    let ran = crate::ways::checked(command, &shown).map_err(|e| e.to_string())?;
    Ok(Sample {
        wall_ms: ran.wall_ms,
        peak_rss_kib: ran.peak_rss_kib,
    })
}

/// Unmounts whatever is still mounted under `dir` (a daemon killed in the
/// middle of its work can leave its overlay mounts), deepest first.
fn unmount_under(dir: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// `runc run` + `runc delete` of a bundle whose rootfs is the hello image.
mod runc {
    use oci_spec::runtime::Spec;

    use super::*;

    pub fn bundle(dir: &Path, rootfs_tar: &Path) -> Result<PathBuf, String> {
        let version = Command::new("runc").arg("--version").output();
        if version.is_err() {
            return Err("runc is not installed (run .ci/setup)".into());
        }
        let bundle = dir.join("runc-bundle");
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(|e| e.to_string())?;
        let tar = std::fs::File::open(rootfs_tar)
            .map_err(|e| format!("{}: {e}", rootfs_tar.display()))?;
        tar::Archive::new(tar)
            .unpack(&rootfs)
            .map_err(|e| e.to_string())?;
        let spec = Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .output()
            .map_err(|e| e.to_string())?;
        if !spec.status.success() {
            return Err(format!(
                "runc spec: {}",
                String::from_utf8_lossy(&spec.stderr)
            ));
        }
        // runc's own spec, read and written with the OCI runtime spec's types.
        let path = bundle.join("config.json");
        let mut config = Spec::load(&path).map_err(|e| e.to_string())?;
        if let Some(process) = config.process_mut() {
            process.set_args(Some(vec!["/hello".into()]));
            process.set_terminal(Some(false));
        }
        // This host's cgroup layout refuses runc's default resources (HOST.md).
        if let Some(linux) = config.linux_mut() {
            linux.set_resources(None);
        }
        config.save(&path).map_err(|e| e.to_string())?;
        Ok(bundle)
    }

    pub fn side(bundle: PathBuf) -> Side {
        let mut round = 0u32;
        Side {
            name: "runc".into(),
            shown: "runc run --bundle B ID && runc delete ID".into(),
            run: Box::new(move || {
                round += 1;
                let id = format!("labs-compare-{}-{round}", std::process::id());
                let ran = sample(
                    Command::new("runc")
                        .args(["run", "--bundle"])
                        .arg(&bundle)
                        .arg(&id),
                );
                let deleted = sample(Command::new("runc").args(["delete", "--force", &id]));
                let (ran, deleted) = (ran?, deleted?);
                Ok(Sample {
                    wall_ms: ran.wall_ms + deleted.wall_ms,
                    peak_rss_kib: ran.peak_rss_kib.max(deleted.peak_rss_kib),
                })
            }),
        }
    }
}

/// dockerd from Debian's docker.io, started for the lab with every file of its
/// own in a scratch folder, and stopped again by `Drop`.
mod docker {
    use super::*;

    /// /usr/bin/docker, not whatever docker comes first on PATH: some machines
    /// carry another client that does not match Debian's daemon.
    const CLIENT: &str = "/usr/bin/docker";

    pub struct Dockerd {
        daemon: std::process::Child,
        dir: PathBuf,
        socket: String,
    }

    impl Dockerd {
        pub fn start(dir: &Path, rootfs_tar: &Path) -> Result<Dockerd, String> {
            let daemon_path = ["/usr/bin/dockerd", "/usr/sbin/dockerd"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .ok_or("dockerd is not installed (docker.io; run .ci/setup)")?;
            if !Path::new(CLIENT).exists() {
                return Err(format!(
                    "{CLIENT} is not installed (docker.io; run .ci/setup)"
                ));
            }
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let socket = format!("unix://{}", dir.join("docker.sock").display());
            let log = std::fs::File::create(dir.join("dockerd.log")).map_err(|e| e.to_string())?;
            let daemon = Command::new(daemon_path)
                .args(["--iptables=false", "--bridge=none", "--data-root"])
                .arg(dir.join("data"))
                .arg("--exec-root")
                .arg(dir.join("exec"))
                .arg("--pidfile")
                .arg(dir.join("docker.pid"))
                .args(["-H", &socket])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| e.to_string())?;
            let dockerd = Dockerd {
                daemon,
                dir: dir.to_path_buf(),
                socket,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            while !dockerd
                .client(&["info"])
                .status()
                .is_ok_and(|s| s.success())
            {
                if Instant::now() > deadline {
                    let log = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
                    let last = log.lines().last().unwrap_or("no log").to_string();
                    return Err(format!("dockerd did not answer within 60 s: {last}"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let mut import = dockerd.client(&["import"]);
            import.arg(rootfs_tar).arg("labs-hello");
            let imported = import.output().map_err(|e| e.to_string())?;
            if !imported.status.success() {
                return Err(format!(
                    "docker import: {}",
                    String::from_utf8_lossy(&imported.stderr)
                ));
            }
            Ok(dockerd)
        }

        fn client(&self, args: &[&str]) -> Command {
            let mut command = Command::new(CLIENT);
            command
                .args(["-H", &self.socket])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        }

        pub fn side(&self) -> Side {
            let socket = self.socket.clone();
            Side {
                name: "docker".into(),
                shown: "docker run --rm --network none labs-hello /hello".into(),
                run: Box::new(move || {
                    sample(
                        Command::new(CLIENT)
                            .args(["-H", &socket, "run", "--rm", "--network", "none"])
                            .args(["labs-hello", "/hello"]),
                    )
                }),
            }
        }
    }

    impl Drop for Dockerd {
        fn drop(&mut self) {
            let pid = nix::unistd::Pid::from_raw(self.daemon.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if self.daemon.try_wait().is_ok_and(|s| s.is_some()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.daemon.kill();
            let _ = self.daemon.wait();
            unmount_under(&self.dir);
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// podman, with its storage in a scratch folder.
mod podman {
    use super::*;

    pub struct Podman {
        dir: PathBuf,
    }

    impl Podman {
        pub fn new(dir: &Path, rootfs_tar: &Path) -> Result<Podman, String> {
            if Command::new("podman").arg("--version").output().is_err() {
                return Err("podman is not installed (run .ci/setup)".into());
            }
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let podman = Podman {
                dir: dir.to_path_buf(),
            };
            let imported = podman
                .command()
                .arg("import")
                .arg(rootfs_tar)
                .arg("labs-hello")
                .output()
                .map_err(|e| e.to_string())?;
            if !imported.status.success() {
                return Err(format!(
                    "podman import: {}",
                    String::from_utf8_lossy(&imported.stderr)
                ));
            }
            Ok(podman)
        }

        /// podman with every file of its own under our folder, runc as its
        /// runtime, and no systemd: a lab must not touch the user's own podman.
        fn command(&self) -> Command {
            let mut command = Command::new("podman");
            command
                .arg("--root")
                .arg(self.dir.join("root"))
                .arg("--runroot")
                .arg(self.dir.join("run"))
                .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
                .args(["--events-backend", "none"]);
            command
        }

        pub fn side(&self) -> Side {
            let mut template = self.command();
            template.args(["run", "--rm", "--network", "none"]);
            // The sandbox's hard limits are below podman's defaults (HOST.md).
            template.args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ]);
            template.args(["labs-hello", "/hello"]);
            let program = template.get_program().to_os_string();
            let args: Vec<_> = template.get_args().map(|a| a.to_os_string()).collect();
            Side {
                name: "podman".into(),
                shown: "podman run --rm --runtime runc --network none labs-hello /hello".into(),
                run: Box::new(move || sample(Command::new(&program).args(&args))),
            }
        }
    }

    impl Drop for Podman {
        fn drop(&mut self) {
            let _ = self
                .command()
                .args(["system", "reset", "--force"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            unmount_under(&self.dir);
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// microvm and QEMU's `-M microvm` booting the same test guest.
mod qemu {
    use super::*;

    /// The guest both boot: its 32-bit PVH entry is how QEMU enters an ELF
    /// kernel, and microvm enters it the same way.
    const GUEST: &str = "report-pvh.elf";

    pub fn sides(tools: &Tools, dir: &Path) -> Result<(Side, Side), String> {
        if Command::new("qemu-system-x86_64")
            .arg("--version")
            .output()
            .is_err()
        {
            return Err(
                "qemu-system-x86_64 is not installed (qemu-system-x86; run .ci/setup)".into(),
            );
        }
        if !Path::new("/dev/kvm").exists() {
            return Err("no /dev/kvm".into());
        }
        let guests = dir.join("guests");
        let made = Command::new(&tools.microvm)
            .arg("guests")
            .arg("--out")
            .arg(&guests)
            .output()
            .map_err(|e| e.to_string())?;
        if !made.status.success() {
            return Err(format!(
                "microvm guests: {}",
                String::from_utf8_lossy(&made.stderr)
            ));
        }
        let guest = guests.join(GUEST);
        let (microvm, ours_guest) = (tools.microvm.clone(), guest.clone());
        let ours = Side {
            name: "microvm".into(),
            shown: format!("microvm run --kernel {GUEST} --console none"),
            run: Box::new(move || {
                sample(
                    Command::new(&microvm)
                        .args(["run", "--kernel"])
                        .arg(&ours_guest)
                        .args(["--console", "none"]),
                )
            }),
        };
        let theirs = Side {
            name: "qemu -M microvm".into(),
            shown: microvm::qemu::shown(GUEST),
            run: Box::new(move || sample(&mut microvm::qemu::command(&guest))),
        };
        Ok((ours, theirs))
    }
}

pub fn charts(
    data: &CompareData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let path = dir.join("compare.svg");
    let categories: Vec<String> = data
        .comparisons
        .iter()
        .map(|c| format!("{} vs {} ({:.1}x)", c.ours.name, c.peer.name, c.ratio))
        .collect();
    let bar = |m: &Measured| {
        Some(Bar {
            value: m.wall.summary.median,
            spread: Some((m.wall.summary.p10, m.wall.summary.p90)),
        })
    };
    let series = vec![
        (
            "ours (peti, microvm)".to_string(),
            data.comparisons.iter().map(|c| bar(&c.ours)).collect(),
        ),
        (
            "peer".to_string(),
            data.comparisons.iter().map(|c| bar(&c.peer)).collect(),
        ),
    ];
    charts::grouped_bars(
        &path,
        &Grouped {
            title: &format!(
                "Ours against the peers: median and p10-p90 of N={} interleaved runs",
                results.runs
            ),
            y_label: "wall time, spawn to exit (ms)",
            categories: &categories,
            series: &series,
        },
    )?;
    Ok(vec![path])
}

pub fn problems(data: &CompareData) -> Vec<String> {
    let mut problems = Vec::new();
    for c in &data.comparisons {
        for m in [&c.ours, &c.peer] {
            if !m.wall.is_consistent() {
                problems.push(format!("{}: summary does not match its samples", m.name));
            }
        }
        let ratio = c.peer.wall.summary.median / c.ours.wall.summary.median;
        if !crate::results::close(ratio, c.ratio) {
            problems.push(format!(
                "{} vs {}: ratio {} does not follow from the medians ({ratio})",
                c.ours.name, c.peer.name, c.ratio
            ));
        }
    }
    problems
}
