//! `labs compare`: our two programs against the peers people use, on the same
//! rootfs, interleaved in one run, as ratios.
//!
//! - peti against `runc run` (which deletes its container at the end without
//!   `--keep`), `docker run --rm` (dockerd from Debian's docker.io, started
//!   and stopped by the lab) and `podman run --rm --runtime runc`;
//! - microvm against `qemu-system-x86_64 -M microvm`, both booting the same
//!   test guest.
//!
//! Each run's memory is metered with cgroups ([`crate::meter`]): the run's
//! whole tree goes in a cgroup made for it (the command, and through
//! `--cgroup-parent` or runc's `cgroupsPath` its containers), and docker's
//! daemons in one of their own beside it. The figure is the run's cgroup's
//! peak, plus what the daemons grew by during the run; the memory the
//! daemons hold anyway (their anonymous memory) is a figure of its own.
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
use crate::meter::{Group, Meter};
use crate::results::Series;
use crate::ways::Tools;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CompareData {
    pub comparisons: Vec<Comparison>,
    pub skipped: Vec<PeerSkipped>,
    /// Why no run's memory was metered, when none was (no memory cgroup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmetered: Option<String>,
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
    /// The memory a run costs (KiB): the peak charged to a cgroup made for
    /// the run, which holds its whole tree (the command and its containers),
    /// plus what the side's daemons grew by during the run. Page cache is
    /// charged to the run that first reads a page. See `crate::meter`.
    pub memory_kib: Option<Series>,
    /// What the side's daemons hold for themselves between runs (KiB), read
    /// before each run: the anonymous memory (heaps, stacks) of dockerd,
    /// containerd and their shims. None for a side with none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemons_kib: Option<Series>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerSkipped {
    pub peer: String,
    pub reason: String,
}

/// Rounds run first and thrown away.
const WARM_UP: u32 = 2;

/// The command of one run, given the cgroup (a path from the hierarchy's
/// root) its containers are to go under when the run is metered.
type MakeCommand = Box<dyn FnMut(Option<&str>) -> Result<Command, String>>;

/// A command to time, again and again.
struct Side {
    name: String,
    shown: String,
    command: MakeCommand,
    /// The side's cgroup, which holds each run (and its daemons, if any).
    group: Option<Group>,
    /// Where the side's daemons run, below `group`.
    daemons: Option<Group>,
}

impl Side {
    fn new(name: &str, shown: String, command: MakeCommand) -> Side {
        Side {
            name: name.to_string(),
            shown,
            command,
            group: None,
            daemons: None,
        }
    }
}

pub fn run(ctx: &mut LabContext) -> LabOutcome {
    let tools = ctx.tools.clone();
    tools.load_image("hello")?;
    let scratch = ctx.scratch.join("compare");
    std::fs::create_dir_all(&scratch).map_err(|e| LabError::Other(e.to_string()))?;
    let rootfs_tar = tools.lab_dir.join("images/hello.tar");
    let mut skipped = Vec::new();
    let mut pairs: Vec<(Side, Side)> = Vec::new();
    let meter = Meter::new("compare");
    let unmetered = meter.as_ref().err().map(|e| e.to_string());
    let meter = meter.ok();
    // docker's daemons start in a cgroup of the docker side's, made now.
    let mut docker_group = meter.as_ref().and_then(|m| m.group("docker").ok());
    let mut docker_daemons = docker_group.as_ref().and_then(|g| g.child("daemons").ok());
    let peti = |tools: &Tools| {
        let tools = tools.clone();
        Side::new(
            "peti",
            "peti run --rm hello".into(),
            Box::new(move |parent| {
                let mut command = tools.peti(&["run", "--rm"]);
                if let Some(parent) = parent {
                    command.args(["--cgroup-parent", parent]);
                }
                command.arg("hello");
                Ok(command)
            }),
        )
    };
    match runc::bundle(&scratch, &rootfs_tar) {
        Ok(bundle) => pairs.push((peti(&tools), runc::side(bundle))),
        Err(reason) => skipped.push(skip("runc", reason)),
    }
    // The daemons live as long as their guards, which end them and clean up.
    let dockerd = docker::Dockerd::start(
        &scratch.join("docker"),
        &rootfs_tar,
        docker_daemons.as_ref(),
    );
    match &dockerd {
        Ok(d) => {
            let mut side = d.side();
            side.group = docker_group.take();
            side.daemons = docker_daemons.take();
            pairs.push((peti(&tools), side));
        }
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
        pairs.len() as u64 * u64::from(WARM_UP + ctx.runs * if meter.is_some() { 2 } else { 1 }),
    );
    let mut comparisons = Vec::new();
    let mut commands = Vec::new();
    for (index, (mut ours, mut peer)) in pairs.into_iter().enumerate() {
        commands.push(ours.shown.clone());
        commands.push(peer.shown.clone());
        if let Some(meter) = &meter {
            // A group per side of each pair: peti is measured against each
            // peer afresh, and its page cache from one pair is not the next's.
            for (side, tag) in [(&mut ours, "ours"), (&mut peer, "peer")] {
                if side.group.is_none() {
                    side.group = meter.group(&format!("{index}-{tag}")).ok();
                }
            }
        }
        match measure_pair(ctx, &mut ours, &mut peer) {
            Ok(comparison) => comparisons.push(comparison),
            Err(reason) => skipped.push(skip(&peer.name, reason)),
        }
    }
    drop(dockerd);
    drop(podman);
    drop(meter);
    commands.dedup();
    Ok((
        LabData::Compare(CompareData {
            comparisons,
            skipped,
            unmetered,
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

/// Rounds of ours and the peer, in a new order each round, warm-up dropped:
/// first timed, then (when the lab meters memory) metered.
///
/// Two passes, because metering changes what is timed: the command must be
/// forked rather than spawned to move it into its cgroup, its containers'
/// cgroups are deeper, and removing a run's cgroups leaves the kernel work to
/// do. Timed beside metered runs, peti took 1.5 ms longer on this machine.
fn measure_pair(
    ctx: &mut LabContext,
    ours: &mut Side,
    peer: &mut Side,
) -> Result<Comparison, String> {
    let (mut walls, mut memories) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    let metering = ours.group.is_some() && peer.group.is_some();
    let rounds = if metering { 2 * ctx.runs } else { ctx.runs };
    for round in 0..WARM_UP + rounds {
        let (label, k, of) = match round.checked_sub(WARM_UP) {
            None => ("warm-up", round + 1, WARM_UP),
            Some(r) if r < ctx.runs => ("run", r + 1, ctx.runs),
            Some(r) => ("memory run", r - ctx.runs + 1, ctx.runs),
        };
        ctx.step(format!(
            "{} vs {}: {label} {k} of {of}",
            ours.name, peer.name
        ));
        let first_peer = round % 2 == 1;
        for turn in 0..2 {
            let index = usize::from((turn == 0) == first_peer);
            let who = if index == 0 { &mut *ours } else { &mut *peer };
            let shown = who.shown.clone();
            let failed = |e: String| format!("{shown}: {e}");
            match label {
                "warm-up" => {
                    timed(&mut (who.command)(None)?).map_err(failed)?;
                }
                "run" => walls[index].push(timed(&mut (who.command)(None)?).map_err(failed)?),
                _ => memories[index].push(metered(who, round).map_err(failed)?),
            }
        }
    }
    let measured = |side: &Side, walls: &[f64], memories: &[(f64, Option<f64>)]| Measured {
        name: side.name.clone(),
        command: side.shown.clone(),
        wall: Series::new("ms", walls.to_vec()),
        memory_kib: (!memories.is_empty())
            .then(|| Series::new("KiB", memories.iter().map(|m| m.0).collect())),
        daemons_kib: memories
            .iter()
            .map(|m| m.1)
            .collect::<Option<Vec<f64>>>()
            .filter(|d| !d.is_empty())
            .map(|d| Series::new("KiB", d)),
    };
    let ours = measured(ours, &walls[0], &memories[0]);
    let peer = measured(peer, &walls[1], &memories[1]);
    Ok(Comparison {
        ratio: peer.wall.summary.median / ours.wall.summary.median,
        ours,
        peer,
    })
}

/// A run of `side` in a cgroup of its own below the side's (`run-N/cli`
/// holds the command, `run-N/box` its containers): what it cost in memory,
/// and what the side's daemons hold, if it has any (KiB).
fn metered(side: &mut Side, round: u32) -> Result<(f64, Option<f64>), String> {
    let group = side.group.as_ref().expect("metered sides have a group");
    let e = |e: crate::meter::MeterError| e.to_string();
    let run = group.child(&format!("run-{round}")).map_err(e)?;
    let cli = run.child("cli").map_err(e)?;
    let containers = run.child("box").map_err(e)?;
    let mut command = (side.command)(Some(containers.path()))?;
    cli.hold(&mut command).map_err(e)?;
    // The run's own cgroup is new, so its peak is the run's alone. Reading
    // the side's peak above its level before would be exact in theory, but
    // that level can hold charges the kernel had batched for an earlier run
    // and returns during this one, which makes a run look smaller than it was.
    let (daemons_kib, daemons_peak) = match &side.daemons {
        Some(d) => {
            let before = d.usage().map_err(e)?;
            let held = d.anonymous().map_err(e)? as f64 / 1024.0;
            (Some(held), Some((before, d.watch_peak().map_err(e)?)))
        }
        None => (None, None),
    };
    timed(&mut command)?;
    let mut bytes = run.peak().map_err(e)?;
    // What the daemons grew by to serve the run. Added to the run's peak,
    // this is at most the two peaks' sum, a little above their joint peak.
    if let Some((before, peak)) = daemons_peak {
        bytes += peak.read().map_err(e)?.saturating_sub(before);
    }
    run.remove();
    Ok((bytes as f64 / 1024.0, daemons_kib))
}

/// Runs a command to its end, checked, and gives its wall time (ms).
fn timed(command: &mut Command) -> Result<f64, String> {
    let shown = command.get_program().to_string_lossy().into_owned();
    let ran = crate::ways::checked(command, &shown).map_err(|e| e.to_string())?;
    Ok(ran.wall_ms)
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

/// `runc run` of a bundle whose rootfs is the hello image.
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

    /// `runc run` deletes its container when it ends (without `--keep`),
    /// so no `runc delete` is needed. The container's cgroup goes under the
    /// run's own, through `cgroupsPath`, written before each run.
    pub fn side(bundle: PathBuf) -> Side {
        let mut round = 0u32;
        let config = bundle.join("config.json");
        Side::new(
            "runc",
            "runc run --bundle B ID".into(),
            Box::new(move |parent| {
                round += 1;
                let id = format!("labs-compare-{}-{round}", std::process::id());
                let mut spec = Spec::load(&config).map_err(|e| e.to_string())?;
                if let Some(linux) = spec.linux_mut() {
                    linux.set_cgroups_path(parent.map(|p| PathBuf::from(format!("{p}/{id}"))));
                }
                spec.save(&config).map_err(|e| e.to_string())?;
                let mut command = Command::new("runc");
                command.args(["run", "--bundle"]).arg(&bundle).arg(&id);
                Ok(command)
            }),
        )
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
        /// Starts dockerd, in `cgroup` when the lab meters memory: its
        /// children (containerd, the shims) start there too.
        pub fn start(
            dir: &Path,
            rootfs_tar: &Path,
            cgroup: Option<&Group>,
        ) -> Result<Dockerd, String> {
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
            let mut daemon = Command::new(daemon_path);
            if let Some(cgroup) = cgroup {
                cgroup.hold(&mut daemon).map_err(|e| e.to_string())?;
            }
            let daemon = daemon
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
            Side::new(
                "docker",
                "docker run --rm --network none labs-hello /hello".into(),
                Box::new(move |parent| {
                    let mut command = Command::new(CLIENT);
                    command.args(["-H", &socket, "run", "--rm", "--network", "none"]);
                    if let Some(parent) = parent {
                        command.args(["--cgroup-parent", parent]);
                    }
                    command.args(["labs-hello", "/hello"]);
                    Ok(command)
                }),
            )
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
            let program = template.get_program().to_os_string();
            let args: Vec<_> = template.get_args().map(|a| a.to_os_string()).collect();
            Side::new(
                "podman",
                "podman run --rm --runtime runc --network none labs-hello /hello".into(),
                Box::new(move |parent| {
                    let mut command = Command::new(&program);
                    command.args(&args);
                    if let Some(parent) = parent {
                        command.args(["--cgroup-parent", parent]);
                    }
                    command.args(["labs-hello", "/hello"]);
                    Ok(command)
                }),
            )
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
        // A VM has no containers: the run's cgroup holds the VMM alone.
        let ours = Side::new(
            "microvm",
            format!("microvm run --kernel {GUEST} --console none"),
            Box::new(move |_| {
                let mut command = Command::new(&microvm);
                command
                    .args(["run", "--kernel"])
                    .arg(&ours_guest)
                    .args(["--console", "none"]);
                Ok(command)
            }),
        );
        let theirs = Side::new(
            "qemu -M microvm",
            microvm::qemu::shown(GUEST),
            Box::new(move |_| Ok(microvm::qemu::command(&guest))),
        );
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
    let mut drawn = vec![path];
    if let Some(memory) = memory_chart(data, results, dir)? {
        drawn.push(memory);
    }
    Ok(drawn)
}

/// Each run's memory, ours against the peer's, as medians with p10 to p90;
/// a peer's daemons, which hold their memory between runs, are named in the
/// category. Nothing is drawn when no run was metered.
fn memory_chart(
    data: &CompareData,
    results: &LabResults,
    dir: &Path,
) -> Result<Option<PathBuf>, ChartError> {
    let metered: Vec<&Comparison> = data
        .comparisons
        .iter()
        .filter(|c| c.ours.memory_kib.is_some() && c.peer.memory_kib.is_some())
        .collect();
    if metered.is_empty() {
        return Ok(None);
    }
    let mib = |s: &Series| s.summary.median / 1024.0;
    let categories: Vec<String> = metered
        .iter()
        .map(|c| match &c.peer.daemons_kib {
            Some(d) => format!(
                "{} vs {} (daemons hold {:.0} MiB more)",
                c.ours.name,
                c.peer.name,
                mib(d)
            ),
            None => format!("{} vs {}", c.ours.name, c.peer.name),
        })
        .collect();
    let bar = |m: &Measured| {
        m.memory_kib.as_ref().map(|s| Bar {
            value: s.summary.median / 1024.0,
            spread: Some((s.summary.p10 / 1024.0, s.summary.p90 / 1024.0)),
        })
    };
    let series = vec![
        (
            "ours (peti, microvm)".to_string(),
            metered.iter().map(|c| bar(&c.ours)).collect(),
        ),
        (
            "peer".to_string(),
            metered.iter().map(|c| bar(&c.peer)).collect(),
        ),
    ];
    let path = dir.join("compare-memory.svg");
    charts::grouped_bars(
        &path,
        &Grouped {
            title: &format!(
                "Memory a run costs, its whole tree in a cgroup: median and p10-p90 of N={}",
                results.runs
            ),
            y_label: "peak of the run's cgroup, plus the daemons' growth (MiB)",
            categories: &categories,
            series: &series,
        },
    )?;
    Ok(Some(path))
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
