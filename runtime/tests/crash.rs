//! Crash safety, tested by killing. Each command is started again and again
//! and killed with SIGKILL at a different instant each time; then what it
//! left is checked against the promises peti makes:
//!
//! - `ps` tells the truth: a container it shows as running has a live first
//!   process, and one it shows as ended has none;
//! - once every container `ps -a` shows is removed, nothing is left: no
//!   container directory, name, run-time file, cgroup, mount or process;
//! - the image store verifies: every blob hashes to its name, every layer
//!   equals a clean unpack of it, and an image is either whole (it runs) or
//!   absent.
//!
//! The instants are aimed at every phase of a command: its unkilled length is
//! measured first, and the kills are spread across it, each at a random point
//! of its own slice. Half the kills take peti alone, as `kill -9 PID` would;
//! half its whole process group, as a closed terminal or a crash would. The
//! seed is printed, and `PETI_CRASH_SEED` replays a run; `PETI_CRASH_KILLS`
//! (default 6 per command) sets how many kills each command gets.
//!
//! The tests take turns (one lock): the cgroups check compares against the
//! cgroups that existed before, which another test's containers would change.
//!
//! And two smaller promises that a pipeline relies on: peti ends quietly,
//! killed by SIGPIPE, when its reader goes; and a container's process starts
//! with no signal ignored or blocked, whatever peti inherited.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Sandbox, code, stderr, stdout};
use sha2::{Digest, Sha256};

/// One test at a time (see the module's comment).
static TURN: Mutex<()> = Mutex::new(());

/// A small, seeded random number generator (xorshift64*): reproducible runs
/// without a crate for it.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("PETI_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("crash: PETI_CRASH_SEED={seed}");
        Rng(seed.max(1))
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn kills_per_command() -> usize {
    std::env::var("PETI_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

/// What is killed: peti alone, or its whole process group.
#[derive(Clone, Copy, Debug)]
enum Victim {
    Peti,
    Group,
}

/// Starts `peti ARGS` in a process group of its own.
fn spawn(sandbox: &Sandbox, args: &[&str]) -> Child {
    sandbox
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("peti starts")
}

/// How long `peti ARGS` takes unkilled, after `reset` put things back; the
/// longest of three, so that the kills cover the slow runs too.
fn length_of(sandbox: &Sandbox, args: &[&str], reset: &dyn Fn(&Sandbox)) -> Duration {
    (0..3)
        .map(|_| {
            reset(sandbox);
            let began = Instant::now();
            let status = spawn(sandbox, args).wait().unwrap();
            let took = began.elapsed();
            assert!(status.success(), "peti {args:?} fails unkilled: {status}");
            took
        })
        .max()
        .unwrap()
}

/// Kills `peti ARGS` `kills` times, each at an instant of its own slice of
/// its length (plus a fifth, for a run slower than the measured ones), with
/// `reset` before each and `check` after each.
fn kill_at_every_phase(
    sandbox: &Sandbox,
    rng: &mut Rng,
    args: &[&str],
    reset: &dyn Fn(&Sandbox),
    check: &dyn Fn(&Sandbox),
) {
    let length = length_of(sandbox, args, reset).mul_f64(1.2);
    let kills = kills_per_command();
    for i in 0..kills {
        reset(sandbox);
        let at = length.mul_f64((i as f64 + rng.unit()) / kills as f64);
        let victim = if rng.unit() < 0.5 {
            Victim::Peti
        } else {
            Victim::Group
        };
        let mut child = spawn(sandbox, args);
        std::thread::sleep(at);
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = match victim {
            Victim::Peti => nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL),
            Victim::Group => nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL),
        };
        let _ = child.wait();
        eprintln!("crash: peti {args:?} killed ({victim:?}) at {at:?} of {length:?}");
        settle(sandbox);
        // Clean first: what `ps` and `rm` alone leave must be nothing, before
        // `check` runs commands that repair things of their own.
        assert_clean(sandbox, &format!("after peti {args:?} killed at {at:?}"));
        check(sandbox);
    }
}

/// Waits (up to 5 s) until the only peti processes of the sandbox left are
/// monitors, which stay by design: a start-up child that lost its peti, or a
/// forked starter, ends by itself.
fn settle(sandbox: &Sandbox) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if processes_of(sandbox).iter().all(|p| p.is_monitor) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A live (not zombie) process that belongs to the sandbox.
#[derive(Debug)]
struct Process {
    pid: u32,
    is_monitor: bool,
    command: String,
}

/// Every live process that is peti, runs from the sandbox's store (a
/// monitor), or carries the sandbox's PETI_ROOT in its environment (a
/// start-up child before its exec).
fn processes_of(sandbox: &Sandbox) -> Vec<Process> {
    let peti = fs::canonicalize(env!("CARGO_BIN_EXE_peti")).unwrap();
    let store = sandbox.store();
    let root_var = format!("PETI_ROOT={}", store.display());
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if state.starts_with('Z') || state.is_empty() || pid == std::process::id() {
            continue;
        }
        let exe = fs::read_link(entry.path().join("exe")).unwrap_or_default();
        let environ = fs::read(entry.path().join("environ")).unwrap_or_default();
        let has_root = environ
            .split(|b| *b == 0)
            .any(|var| var == root_var.as_bytes());
        let is_monitor = exe.starts_with(&store);
        if exe == peti || is_monitor || has_root {
            let command = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(Process {
                pid,
                is_monitor,
                command: String::from_utf8_lossy(&command).replace('\0', " "),
            });
        }
    }
    found
}

/// `ps` tells the truth about each container it lists.
fn assert_ps_is_true(sandbox: &Sandbox, context: &str) {
    let listed = sandbox.peti(&["ps", "-aq"]);
    assert_eq!(code(&listed), 0, "{context}: ps fails: {}", stderr(&listed));
    for id in stdout(&listed).split_whitespace() {
        let inspected = sandbox.peti(&["inspect", id]);
        if code(&inspected) != 0 && stderr(&inspected).contains("No such container") {
            // Gone since ps looked: a --rm container that ended in between,
            // its peti killed, which inspect found abandoned and removed.
            continue;
        }
        let all: serde_json::Value = serde_json::from_str(&stdout(&inspected))
            .unwrap_or_else(|e| panic!("{context}: inspect {id}: {e}: {}", stderr(&inspected)));
        let state = &all[0]["State"];
        let pid = state["Pid"].as_u64().unwrap_or(0);
        let alive = pid != 0 && is_alive(pid as u32);
        if state["Running"] == true {
            assert!(
                alive,
                "{context}: ps shows {id} running, but pid {pid} is gone"
            );
        } else {
            assert_eq!(pid, 0, "{context}: ps shows {id} ended, with a pid {pid}");
        }
    }
}

fn is_alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// `ps` is true, and once every container it shows is removed, and the
/// image store has been changed once (which sweeps and collects), nothing
/// is left behind and the store verifies.
fn assert_clean(sandbox: &Sandbox, context: &str) {
    assert_ps_is_true(sandbox, context);
    remove_every_container(sandbox);
    sandbox.ok(&["tag", "bb", "crash-probe"]);
    sandbox.ok(&["rmi", "crash-probe"]);
    // The files every store and run-time directory has.
    let allowed = [".lock", ".names", ".scratch"];
    let leftovers = wait_for(|| {
        let mut left = Vec::new();
        left.extend(entries(&sandbox.store().join("containers")));
        left.extend(entries(&sandbox.store().join("containers/.names")));
        left.extend(entries(&sandbox.run_root()));
        left.retain(|l| !allowed.iter().any(|a| l.ends_with(&format!("/{a}"))));
        left.extend(new_cgroups());
        left.extend(mounts_of(sandbox));
        left.extend(
            processes_of(sandbox)
                .into_iter()
                .map(|p| format!("process {} ({})", p.pid, p.command)),
        );
        left
    });
    assert!(
        leftovers.is_empty(),
        "{context}: left behind: {leftovers:#?}"
    );
    assert_store_verifies(sandbox, context);
}

/// Polls `find` (what is left) for up to 3 s until it finds nothing: a
/// process SIGKILLed a moment ago may still be on its way out.
fn wait_for(find: impl Fn() -> Vec<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = find();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn remove_every_container(sandbox: &Sandbox) {
    let ids = sandbox.ok(&["ps", "-aq"]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        sandbox.ok(&args);
    }
}

/// The last part of a path.
fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What a directory holds, as paths.
fn entries(dir: &Path) -> Vec<String> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    read.flatten()
        .map(|e| e.path().display().to_string())
        .collect()
}

/// Every peti cgroup on this machine, v1 (one per controller) and v2.
fn peti_cgroups() -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut parents = vec![PathBuf::from("/sys/fs/cgroup/peti")];
    for controller in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        parents.push(controller.path().join("peti"));
    }
    for parent in parents {
        for child in fs::read_dir(&parent).into_iter().flatten().flatten() {
            if child.path().is_dir() {
                found.insert(child.path());
            }
        }
    }
    found
}

/// The cgroups that did not exist when the sandbox was made.
fn new_cgroups() -> Vec<String> {
    let before = BEFORE.get_or_init(peti_cgroups);
    peti_cgroups()
        .difference(before)
        .map(|p| format!("cgroup {}", p.display()))
        .collect()
}

/// The peti cgroups there were before the first kill (other programs' and
/// earlier runs' are not this test's to judge).
static BEFORE: std::sync::OnceLock<BTreeSet<PathBuf>> = std::sync::OnceLock::new();

/// Mounts, in this mount namespace, of anything under the sandbox, but for
/// a test's own file system under the store.
fn mounts_of(sandbox: &Sandbox) -> Vec<String> {
    let root = sandbox.path();
    let store = sandbox.store();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            let point = Path::new(l.split(' ').nth(4).unwrap_or(""));
            point.starts_with(root) && point != store
        })
        .map(|l| format!("mount {l}"))
        .collect()
}

/// Every blob hashes to its name; no half-written or half-deleted thing is
/// left; every layer equals the clean unpack of the same layer; and every
/// image `peti images` lists is whole: it runs.
fn assert_store_verifies(sandbox: &Sandbox, context: &str) {
    let store = sandbox.store();
    for blob in entries(&store.join("blobs/sha256")) {
        let name = file_name(&blob);
        let hash = hex::encode(Sha256::digest(fs::read(&blob).unwrap()));
        assert_eq!(
            hash, name,
            "{context}: blob {blob} does not hash to its name"
        );
    }
    for dir in [store.clone(), store.join("blobs/sha256")] {
        let dotted: Vec<String> = entries(&dir)
            .into_iter()
            .filter(|e| file_name(e).starts_with('.'))
            .collect();
        assert!(
            dotted.is_empty(),
            "{context}: left over after a change to the store: {dotted:?}"
        );
    }
    let clean = clean_layers();
    for layer in entries(&store.join("layers")) {
        let name = file_name(&layer);
        if name == ".init" {
            continue;
        }
        assert!(
            !name.starts_with('.'),
            "{context}: {layer} is left over after a change to the store"
        );
        if let Some(expected) = clean.get(&name) {
            assert!(
                tree(Path::new(&layer)) == *expected,
                "{context}: layer {name} differs from a clean unpack"
            );
        }
    }
    for row in sandbox.ok(&["images", "--format", "json"]).lines() {
        let row: serde_json::Value = serde_json::from_str(row).unwrap();
        let image = format!(
            "{}:{}",
            row["Repository"].as_str().unwrap(),
            row["Tag"].as_str().unwrap()
        );
        let ran = sandbox.peti(&["run", "--rm", &image, "true"]);
        assert_eq!(
            code(&ran),
            0,
            "{context}: image {image} is not whole: {}",
            stderr(&ran)
        );
    }
}

/// A layer directory as a comparable value: every entry's path, its mode
/// (kind and permissions), and its content's hash (or link target).
type Tree = BTreeMap<PathBuf, (u32, Vec<u8>)>;

fn tree(dir: &Path) -> Tree {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in fs::read_dir(&at).unwrap().flatten() {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let content = if meta.is_dir() {
                pending.push(path.clone());
                Vec::new()
            } else if meta.file_type().is_symlink() {
                fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if meta.is_file() {
                Sha256::digest(fs::read(&path).unwrap()).to_vec()
            } else {
                meta.rdev().to_le_bytes().to_vec()
            };
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            found.insert(rel, (meta.permissions().mode(), content));
        }
    }
    found
}

/// The layers of the test images, each unpacked once by a peti that was not
/// killed, by diff_id.
fn clean_layers() -> &'static BTreeMap<String, Tree> {
    static CLEAN: std::sync::OnceLock<BTreeMap<String, Tree>> = std::sync::OnceLock::new();
    CLEAN.get_or_init(|| {
        let sandbox = Sandbox::new();
        let inputs = inputs();
        sandbox.ok(&["load", "-i", inputs.layout.to_str().unwrap()]);
        sandbox.ok(&["import", inputs.tarball.to_str().unwrap(), "imported"]);
        entries(&sandbox.store().join("layers"))
            .into_iter()
            .filter(|l| !l.ends_with("/.init"))
            .map(|l| {
                let name = file_name(&l);
                (name, tree(Path::new(&l)))
            })
            .collect()
    })
}

/// What the image commands are given: an OCI layout of busybox and a layer
/// of many small files (so that unpacking and deleting take long enough to
/// be killed midway), and a root file system tarball.
struct Inputs {
    _dir: tempfile::TempDir,
    layout: PathBuf,
    /// The same layout as an OCI archive (a tar of it).
    archive: PathBuf,
    tarball: PathBuf,
}

fn inputs() -> &'static Inputs {
    static INPUTS: std::sync::OnceLock<Inputs> = std::sync::OnceLock::new();
    INPUTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..1500)
            .map(|i| format!("many/d{}/f{i}", i % 30))
            .collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let many = testkit::tar_of(&files);
        let layout = dir.path().join("layered");
        let config = runtime::image::import_config().unwrap();
        runtime::image::layout::write_layout(
            &layout,
            "latest",
            &[common::busybox_rootfs_tar(&[]), many.clone()],
            config,
        )
        .unwrap();
        let archive = dir.path().join("layered.tar");
        let mut tar = tar::Builder::new(fs::File::create(&archive).unwrap());
        tar.append_dir_all(".", &layout).unwrap();
        tar.finish().unwrap();
        let tarball = dir.path().join("rootfs.tar");
        fs::write(&tarball, common::busybox_rootfs_tar(&[("many.bin", &many)])).unwrap();
        Inputs {
            _dir: dir,
            layout,
            archive,
            tarball,
        }
    })
}

/// Removes every container, and the images the tests add.
fn baseline(sandbox: &Sandbox) {
    remove_every_container(sandbox);
    for image in ["layered", "imported"] {
        let _ = sandbox.peti(&["rmi", "-f", image]);
    }
}

/// A new sandbox for a test, with the cgroups noted before it starts.
fn sandbox() -> Sandbox {
    BEFORE.get_or_init(peti_cgroups);
    Sandbox::new()
}

#[test]
fn killed_container_commands_leave_nothing_and_ps_stays_true() {
    needs_containers!("killed_container_commands_leave_nothing_and_ps_stays_true");
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = sandbox();
    let mut rng = Rng::seeded();
    let nothing = |_: &Sandbox| {};
    let names_free = |s: &Sandbox| {
        // A name the killed command took is free again once it is gone.
        remove_every_container(s);
        s.ok(&["run", "--rm", "--name", "web", "bb", "true"]);
    };
    let plain = |s: &Sandbox| baseline(s);
    kill_at_every_phase(
        &sandbox,
        &mut rng,
        &["run", "--rm", "--name", "web", "bb", "true"],
        &plain,
        &names_free,
    );
    kill_at_every_phase(
        &sandbox,
        &mut rng,
        &["run", "-d", "--name", "web", "bb", "sleep", "30"],
        &plain,
        &names_free,
    );
    kill_at_every_phase(
        &sandbox,
        &mut rng,
        &["create", "--name", "web", "bb", "true"],
        &plain,
        &names_free,
    );
    let created = |s: &Sandbox| {
        baseline(s);
        s.ok(&["create", "--name", "st", "bb", "sleep", "30"]);
    };
    kill_at_every_phase(&sandbox, &mut rng, &["start", "st"], &created, &nothing);
    let running = |s: &Sandbox| {
        baseline(s);
        s.ok(&["run", "-d", "--name", "rm", "bb", "sleep", "30"]);
    };
    kill_at_every_phase(&sandbox, &mut rng, &["rm", "-f", "rm"], &running, &nothing);
}

#[test]
fn killed_image_commands_leave_the_store_whole() {
    needs_containers!("killed_image_commands_leave_the_store_whole");
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = sandbox();
    let mut rng = Rng::seeded();
    let inputs = inputs();
    let layout = inputs.layout.to_str().unwrap();
    let tarball = inputs.tarball.to_str().unwrap();
    let plain = |s: &Sandbox| baseline(s);
    // After each kill the image is whole or absent (checked by assert_clean);
    // loading it again then gives the clean layers (checked here).
    let loads_again = |s: &Sandbox| {
        s.ok(&["load", "-i", layout]);
        assert_store_verifies(s, "loaded again after a kill");
    };
    kill_at_every_phase(
        &sandbox,
        &mut rng,
        &["load", "-i", layout],
        &plain,
        &loads_again,
    );
    let archive = inputs.archive.to_str().unwrap();
    kill_at_every_phase(
        &sandbox,
        &mut rng,
        &["load", "-i", archive],
        &plain,
        &loads_again,
    );
    kill_at_every_phase(
        &sandbox,
        &mut rng,
        &["import", tarball, "imported"],
        &plain,
        &|_| {},
    );
    let loaded = |s: &Sandbox| {
        baseline(s);
        s.ok(&["load", "-i", layout]);
    };
    kill_at_every_phase(
        &sandbox,
        &mut rng,
        &["rmi", "layered"],
        &loaded,
        &loads_again,
    );
}

#[test]
fn a_run_racing_rmi_finds_its_image_whole_or_not_at_all() {
    needs_containers!("a_run_racing_rmi_finds_its_image_whole_or_not_at_all");
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = sandbox();
    let layout = inputs().layout.to_str().unwrap().to_string();
    for _round in 0..3 {
        sandbox.ok(&["load", "-i", &layout]);
        let mut children: Vec<(bool, Child)> = (0..12)
            .map(|i| {
                let args: &[&str] = if i % 4 == 3 {
                    &["rmi", "-f", "layered"]
                } else {
                    &["run", "--rm", "layered", "ls", "/many/d7"]
                };
                let child = sandbox
                    .command(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                (args[0] == "run", child)
            })
            .collect();
        for (is_run, child) in children.drain(..) {
            let output = child.wait_with_output().unwrap();
            let error = stderr(&output);
            let fine = output.status.success()
                || error.contains("no such image: layered")
                || (!is_run && error.contains("No such image"));
            assert!(fine, "a run or rmi in the race failed otherwise: {error}");
        }
    }
    assert_clean(&sandbox, "after runs raced rmi");
}

#[test]
fn a_closed_stdout_ends_peti_quietly_as_sigpipe_does() {
    needs_containers!("a_closed_stdout_ends_peti_quietly_as_sigpipe_does");
    // Alone: a process another test forks holds every pipe of this one
    // until it execs, and a write in that instant finds a reader.
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Sandbox::new();
    sandbox.ok(&["create", "--name", "ee", "bb", "true"]);
    for args in [&["images"][..], &["ps", "-a"], &["inspect", "ee"]] {
        let mut child = sandbox
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before peti writes: `peti ps | true`.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        let error = stderr(&output);
        assert!(
            !error.contains("panicked"),
            "peti {args:?} panicked: {error}"
        );
        assert_eq!(
            output.status.signal(),
            Some(libc::SIGPIPE),
            "peti {args:?}: {} {error}",
            output.status
        );
    }
}

#[test]
fn a_container_starts_with_no_signal_ignored_or_blocked() {
    needs_containers!("a_container_starts_with_no_signal_ignored_or_blocked");
    // In turn too: the processes it starts would hold, while they fork, the
    // pipe that the SIGPIPE test closes (that test has failed so).
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = Sandbox::new();
    let status = sandbox.ok(&["run", "--rm", "bb", "cat", "/proc/self/status"]);
    for field in ["SigIgn:", "SigBlk:"] {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        assert!(
            line.trim_start_matches(field)
                .trim()
                .chars()
                .all(|c| c == '0'),
            "a container's first process starts with {line}, not none"
        );
    }
    // And so a pipeline in it ends when its reader does, as on any shell.
    let ended = sandbox.ok(&["run", "--rm", "bb", "sh", "-c", "yes | head -1"]);
    assert_eq!(ended, "y\n");
}

/// A tmpfs of `mib` MiB mounted at a folder, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, mib: u32) -> SmallDisk {
        fs::create_dir_all(at).unwrap();
        let size = format!("size={mib}m");
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(size.as_str()),
        )
        .expect("mount a tmpfs");
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_full_disk_still_lets_a_container_be_removed_and_a_failed_run_keeps_no_name() {
    needs_containers!(
        "a_full_disk_still_lets_a_container_be_removed_and_a_failed_run_keeps_no_name"
    );
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let mut disk = None;
    let sandbox = Sandbox::new_with(|dir| disk = Some(SmallDisk::mount(&dir.join("store"), 12)));
    let _disk = disk;
    // The container fills the store's file system through its writable layer.
    sandbox.ok(&[
        "run",
        "-d",
        "--name",
        "filler",
        "bb",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1M count=64; sleep 60",
    ]);
    let full = wait_for(|| {
        let stat = nix::sys::statvfs::statvfs(&sandbox.store()).unwrap();
        if stat.blocks_available() == 0 {
            Vec::new()
        } else {
            vec!["space".into()]
        }
    });
    assert!(full.is_empty(), "the container did not fill the disk");
    for name in ["one", "two"] {
        let failed = sandbox.peti(&["run", "--name", name, "bb", "true"]);
        assert_eq!(
            code(&failed),
            125,
            "a run on a full disk: {}",
            stderr(&failed)
        );
    }
    assert_eq!(
        entries(&sandbox.store().join("containers/.names")).len(),
        1,
        "a failed run kept its name"
    );
    sandbox.ok(&["rm", "-f", "filler"]);
    assert_clean(
        &sandbox,
        "after removing the container that filled the disk",
    );
}
