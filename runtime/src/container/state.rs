//! Containers on disk: one record per container, written atomically, changed only
//! under a lock, and checked against the live system whenever it is read.
//!
//! Two places, as podman splits them:
//! - `$PETI_ROOT/containers/<id>/`: the record (`state.json`), the writable layer
//!   (`upper/`, `work/`, and the empty `merged/` mount point) and the log. These
//!   outlive a reboot.
//! - `$PETI_RUN/<id>/` (default `/run/peti`): what only makes sense while the
//!   machine is up: the generated /etc files and the exit file the monitor writes.
//!
//! A record says "running" from the moment the container's process execs. It is
//! never trusted blindly: [`ContainerStore::refresh`] looks at the exit file and at
//! the processes themselves (pid and start time, so a reused pid is not mistaken
//! for ours). If the monitor and the container are both gone without an exit file
//! (someone killed them, or the machine rebooted), the container is shown as
//! exited with status 255, as Docker shows containers it lost track of; a `--rm`
//! container is removed instead, since nobody is left to remove it.
//!
//! A container comes into being in steps, and peti may be killed between any
//! two: its folder is made and locked (`flock`) by the peti making it, its name
//! reserved (`.names/<name>`, linked in whole), its writable layer made,
//! its record written. The lock dies with its holder, so a folder with no
//! record is either being made right now (locked) or was left by a peti that
//! was killed (not locked: [`ContainerStore::is_unfinished`]), and the next
//! command that looks clears it (`teardown::reclaim`). Removal runs the same
//! steps backwards: the record, the name, the folder.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

use super::cgroups::Cgroup;
use super::spec::ContainerSpec;

/// Where run-time state lives unless `--run-root`/`PETI_RUN` says otherwise.
pub const DEFAULT_RUN_ROOT: &str = "/run/peti";

/// What can go wrong with container records.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("container record {path} is damaged ({detail}): remove the directory by hand")]
    Damaged { path: PathBuf, detail: String },
    /// Docker's words.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error(
        "the container name \"/{name}\" is already in use by container {id}: remove it or pick another --name"
    )]
    NameInUse { name: String, id: String },
    /// `rename` to the name the container has.
    #[error("renaming a container with the same name as its current name: {0:?}")]
    SameName(String),
    #[error(
        "invalid container name {0:?}: use 2 to 255 letters, digits, and _ . - (starting with a letter or digit)"
    )]
    BadName(String),
    #[error("{given:?} matches more than one container ({ids}): give more of the ID")]
    Ambiguous { given: String, ids: String },
    #[error(transparent)]
    Cgroup(#[from] super::cgroups::CgroupError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Docker's three everyday states (paused, restarting and dead do not exist here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// A process we started, named so that a recycled pid is not mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: i32,
    /// Field 22 of /proc/PID/stat: clock ticks after boot when it started.
    pub start_ticks: u64,
}

impl ProcessId {
    /// Names a live process.
    pub fn of(pid: i32) -> Option<Self> {
        process_start_ticks(pid).map(|start_ticks| ProcessId { pid, start_ticks })
    }

    /// Whether this very process still runs. A zombie does not: it has exited,
    /// and the parent that will reap it may be a slow init (the container's
    /// first process is re-parented there when its monitor is killed).
    pub fn is_alive(&self) -> bool {
        process_stat(self.pid)
            .is_some_and(|(state, ticks)| state != 'Z' && ticks == self.start_ticks)
    }
}

/// Field 22 of /proc/PID/stat. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its closing parenthesis.
pub fn process_start_ticks(pid: i32) -> Option<u64> {
    process_stat(pid).map(|(_, ticks)| ticks)
}

/// Fields 3 (the state letter) and 22 (the start time) of /proc/PID/stat.
fn process_stat(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// The part of a record that changes as the container lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The container's first process (pid 1 inside), while running.
    pub process: Option<ProcessId>,
    /// Its parent: the monitor, or peti itself for a foreground run.
    pub monitor: Option<ProcessId>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    #[serde(rename = "oom_killed")]
    pub oom_killed: bool,
    /// Why the container failed to start, or why its status is a guess.
    pub error: Option<String>,
    /// `peti pause`: its cgroup is frozen. (Absent from older records: no.)
    #[serde(default)]
    pub paused: bool,
}

/// One container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// 64 hex digits; `ps` shows the first 12.
    pub id: String,
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's config digest (Docker's image ID).
    pub image_id: String,
    /// The manifest that was run; it keeps the image's layers alive.
    pub manifest_digest: String,
    /// The image's layer directories, topmost first.
    pub lower_dirs: Vec<PathBuf>,
    pub spec: ContainerSpec,
    pub state: State,
    /// Set while the container has a cgroup (from start until rm).
    pub cgroup: Option<Cgroup>,
}

/// What the monitor writes when the container's first process is reaped.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The raw status from wait(2).
    pub wait_status: i32,
    pub finished_unix_nanos: u64,
}

impl ExitRecord {
    /// Docker's exit code: the process's own, or 128 + N when signal N killed it.
    pub fn exit_code(&self) -> i32 {
        exit_code_of(self.wait_status)
    }

    pub fn finished_at(&self) -> String {
        let time =
            SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(self.finished_unix_nanos);
        humantime::format_rfc3339_nanos(time).to_string()
    }
}

/// Docker's exit code from a raw wait status: the process's own, or 128 + N
/// when signal N killed it.
pub fn exit_code_of(wait_status: i32) -> i32 {
    if libc::WIFSIGNALED(wait_status) {
        128 + libc::WTERMSIG(wait_status)
    } else {
        libc::WEXITSTATUS(wait_status)
    }
}

/// RFC 3339 with nanoseconds, as Docker prints times.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// The records of all containers.
pub struct ContainerStore {
    records: PathBuf,
    run: PathBuf,
}

/// Holds the containers lock while alive.
pub struct Locked(#[allow(dead_code)] Flock<fs::File>);

/// What one look at the containers directory found: the records, and the
/// directories that have none, which are either being made right now by a
/// live peti or were left by one that was killed (see [`ContainerStore::is_unfinished`]).
pub struct Scan {
    pub records: Vec<Container>,
    pub record_less: Vec<String>,
}

/// The directories of containers this process is making, each locked
/// (`flock`) until the process ends or execs: a directory with no record is
/// unfinished work only while its maker holds it. A kill drops the lock with
/// the process, and the next command that looks takes it and clears the
/// directory (`teardown::reclaim`).
static MAKING: std::sync::Mutex<Vec<(PathBuf, Flock<fs::File>)>> =
    std::sync::Mutex::new(Vec::new());

impl ContainerStore {
    /// Opens (creating if needed) `<root>/containers` and `<run_root>`.
    pub fn open(root: &Path, run_root: &Path) -> Result<Self, StateError> {
        let records = root.join("containers");
        for dir in [&records, &run_root.join(".scratch")] {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        // Writable layers hold what the containers copied up, setuid
        // programs too: root's alone, as the image store's layers are.
        crate::fsutil::private_dir(&records).map_err(io_at(&records))?;
        Ok(ContainerStore {
            records,
            run: run_root.to_path_buf(),
        })
    }

    /// Takes the lock that serialises every change to any record.
    pub fn lock(&self) -> Result<Locked, StateError> {
        let path = self.records.join(".lock");
        crate::fsutil::lock_exclusive(&path)
            .map(Locked)
            .map_err(io_at(&path))
    }

    /// The container's durable directory.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.records.join(id)
    }

    /// The container's run-time directory.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.run.join(id)
    }

    /// The empty directory on which each container mounts its private tmpfs, in
    /// its own mount namespace only: the host always sees it empty.
    pub fn scratch_dir(&self) -> PathBuf {
        self.run.join(".scratch")
    }

    /// Where the monitor writes the exit status.
    pub fn exit_file(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("exit.json")
    }

    /// Where a detached container's output is logged, as Docker names it.
    pub fn log_file(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}-json.log"))
    }

    /// Saves a record atomically. Without fsync: a record is rebuilt from the live
    /// system by `refresh`, and the rename alone keeps readers from seeing half a file.
    pub fn save(&self, _lock: &Locked, container: &Container) -> Result<(), StateError> {
        let path = self.dir(&container.id).join("state.json");
        let bytes = serde_json::to_vec(container).expect("a record serialises");
        crate::fsutil::replace_file(&path, &bytes, 0o600).map_err(io_at(&path))
    }

    /// The file that reserves a name: `.names/<name>`, holding the container ID.
    fn name_file(&self, name: &str) -> PathBuf {
        self.records.join(".names").join(name)
    }

    /// Adds a new container: its folder first, locked while this process
    /// makes it; then its name, reserved by creating the name file, which
    /// fails if it exists (the file system, not a scan of every record, says
    /// whether the name is free); then, unless `write_record` is false (`peti run`, which
    /// writes the record moments later as running), its record. Killed at any
    /// point, what is left is a folder with no record and no lock, which the
    /// next command reclaims with the name (`teardown::reclaim`).
    ///
    /// A name in use leaves the folder, so that the caller can try another
    /// name; one that gives up calls [`ContainerStore::forget_unfinished`].
    pub fn insert(
        &self,
        lock: &Locked,
        container: &Container,
        write_record: bool,
    ) -> Result<(), StateError> {
        check_name(&container.name)?;
        let dir = self.dir(&container.id);
        match fs::create_dir(&dir) {
            Ok(()) => {
                hold_while_making(&dir).map_err(io_at(&dir))?;
                // The writable layer before the record: a record must name
                // a container that can start.
                for sub in ["upper", "work"] {
                    let path = dir.join(sub);
                    if let Err(e) = fs::create_dir(&path) {
                        let _ = self.forget_unfinished(lock, &container.id);
                        return Err(io_at(&path)(e));
                    }
                }
            }
            // Made by this process for an earlier name, which was taken.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_making(&dir) => {}
            Err(e) => return Err(io_at(&dir)(e)),
        }
        self.reserve_name(&container.name, &container.id)?;
        if write_record {
            if let Err(e) = self.save(lock, container) {
                let _ = self.forget_unfinished(lock, &container.id);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Creates the file that reserves `name` for container `id`, whole: the
    /// ID is written into a file in the container's own folder, which is then
    /// linked to `.names/<name>`. link(2), like O_EXCL, fails if the name
    /// exists, and the name appears with its content, never empty, so a kill
    /// at any instant leaves either no name or one that says whose it is. (A
    /// kill before the link leaves the file in the folder, which goes with it.)
    fn reserve_name(&self, name: &str, id: &str) -> Result<(), StateError> {
        let name_file = self.name_file(name);
        let names = self.records.join(".names");
        fs::create_dir_all(&names).map_err(io_at(&names))?;
        let draft = self.dir(id).join(".name");
        fs::write(&draft, id.as_bytes()).map_err(io_at(&draft))?;
        let linked = fs::hard_link(&draft, &name_file);
        let _ = fs::remove_file(&draft);
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(StateError::NameInUse {
                name: name.to_string(),
                id: fs::read_to_string(&name_file).unwrap_or_default(),
            }),
            Err(e) => Err(io_at(&name_file)(e)),
        }
    }

    fn read(&self, id: &str) -> Result<Container, StateError> {
        let path = self.dir(id).join("state.json");
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StateError::NoSuchContainer(id.to_string()),
            _ => io_at(&path)(e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| StateError::Damaged {
            path,
            detail: e.to_string(),
        })
    }

    /// Every record, as stored (not refreshed), oldest first.
    pub fn all(&self) -> Result<Vec<Container>, StateError> {
        Ok(self.scan()?.records)
    }

    /// Every record, oldest first, and the container directories that have
    /// none.
    pub fn scan(&self) -> Result<Scan, StateError> {
        let mut scan = Scan {
            records: Vec::new(),
            record_less: Vec::new(),
        };
        for entry in fs::read_dir(&self.records).map_err(io_at(&self.records))? {
            let entry = entry.map_err(io_at(&self.records))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match self.read(&name) {
                Ok(c) => scan.records.push(c),
                // Removed by another command since read_dir, or not committed
                // yet, or left by a peti that was killed.
                Err(StateError::NoSuchContainer(_)) => {
                    if is_full_id(&name) {
                        scan.record_less.push(name);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        scan.records.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(scan)
    }

    /// Whether container `id` was begun and never finished: its directory has
    /// no record (or there is no directory), and no live peti is making it.
    /// Asked under the lock, the answer holds until the lock is released.
    pub fn is_unfinished(&self, _lock: &Locked, id: &str) -> bool {
        if !is_full_id(id) {
            return false;
        }
        let dir = self.dir(id);
        if dir.join("state.json").exists() {
            return false;
        }
        match fs::File::open(&dir) {
            // Its maker's lock is gone with it: nobody is making it.
            Ok(file) => matches!(crate::fsutil::try_flock(file), Ok(Some(_))),
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        }
    }

    /// Removes the directories and names of an unfinished container `id`
    /// (its cgroup is `teardown`'s to remove).
    pub fn forget_unfinished(&self, _lock: &Locked, id: &str) -> Result<(), StateError> {
        // The names first, then the folders, as `delete` does: killed in
        // between, a folder with no record is left, which the next look finds
        // again; never a name that points nowhere.
        let names = self.records.join(".names");
        if let Ok(entries) = fs::read_dir(&names) {
            for entry in entries.flatten() {
                if fs::read_to_string(entry.path()).is_ok_and(|holder| holder == id) {
                    fs::remove_file(entry.path()).map_err(io_at(&entry.path()))?;
                }
            }
        }
        for dir in [self.dir(id), self.run_dir(id)] {
            match fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_at(&dir)(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// `peti rename`: the new name is reserved first, then the record says
    /// it, then the old name goes. Cut short after the reservation, the next
    /// rename finds the new name already its own and goes on; cut short
    /// before the old name goes, the old name is left pointing at a container
    /// that no longer has it, which the next command to want that name frees
    /// (`lifecycle::free_name`). At no point can two containers have one name.
    pub fn rename(
        &self,
        lock: &Locked,
        container: &Container,
        new_name: &str,
    ) -> Result<Container, StateError> {
        check_name(new_name)?;
        if new_name == container.name {
            return Err(StateError::SameName(new_name.to_string()));
        }
        match self.reserve_name(new_name, &container.id) {
            Err(StateError::NameInUse { id, .. }) if id == container.id => {}
            other => other?,
        }
        let mut renamed = container.clone();
        renamed.name = new_name.to_string();
        if let Err(e) = self.save(lock, &renamed) {
            let _ = self.release_name(lock, new_name);
            return Err(e);
        }
        self.release_name(lock, &container.name)?;
        Ok(renamed)
    }

    /// Removes the file that reserves `name`.
    pub fn release_name(&self, _lock: &Locked, name: &str) -> Result<(), StateError> {
        let file = self.name_file(name);
        match fs::remove_file(&file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_at(&file)(e)),
            _ => Ok(()),
        }
    }

    /// Finds a container by name, full ID or unique ID prefix, as Docker does.
    pub fn find(&self, given: &str) -> Result<Container, StateError> {
        // A full name or ID is found directly; only a prefix needs every record.
        let by_name = check_name(given)
            .ok()
            .and_then(|()| fs::read_to_string(self.name_file(given)).ok());
        for id in by_name.as_deref().into_iter().chain([given]) {
            if is_full_id(id) {
                if let Ok(container) = self.read(id) {
                    return Ok(container);
                }
            }
        }
        let all = self.all()?;
        if let Some(c) = all.iter().find(|c| c.name == given || c.id == given) {
            return Ok(c.clone());
        }
        let matches: Vec<&Container> = all
            .iter()
            .filter(|c| !given.is_empty() && c.id.starts_with(given))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StateError::NoSuchContainer(given.to_string())),
            many => Err(StateError::Ambiguous {
                given: given.to_string(),
                ids: many
                    .iter()
                    .map(|c| &c.id[..12])
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Brings a running container's record up to date with the system, saving
    /// any change. Returns the refreshed record.
    pub fn refresh(&self, container: Container) -> Result<Container, StateError> {
        if container.state.status != Status::Running {
            return Ok(container);
        }
        let lock = self.lock()?;
        self.refresh_under(&lock, &container.id)
    }

    /// [`ContainerStore::refresh`], for a caller that holds the lock already.
    pub fn refresh_under(&self, lock: &Locked, id: &str) -> Result<Container, StateError> {
        // Read under the lock: another command may have refreshed it already.
        let mut container = self.read(id)?;
        if container.state.status != Status::Running {
            return Ok(container);
        }
        let alive = |p: &Option<ProcessId>| p.as_ref().is_some_and(ProcessId::is_alive);
        let monitor_alive = alive(&container.state.monitor);
        if let Some(exit) = read_exit_file(&self.exit_file(&container.id)) {
            mark_exited(&mut container, exit.exit_code(), exit.finished_at(), None);
        } else {
            if alive(&container.state.process) || monitor_alive {
                return Ok(container);
            }
            mark_exited(
                &mut container,
                255,
                now_rfc3339(),
                Some(
                    "peti lost the container: its monitor was killed or the machine restarted"
                        .into(),
                ),
            );
        }
        match self.save(lock, &container) {
            // What was found is true whether or not it could be written down:
            // on a full disk, say what ended, and let the next refresh find it
            // again. Removing a container must work on a full disk.
            Err(StateError::Io { source, .. }) if is_disk_full(&source) => Ok(container),
            saved => saved.map(|()| container),
        }
    }

    /// Removes what a container had on disk (its writable layer, its log and
    /// run-time files), then its record and its name, record last: whatever
    /// goes wrong midway leaves a record that names what is left, for `peti rm`
    /// to finish. Its cgroup must be gone already (see `teardown`).
    pub fn delete(&self, _lock: &Locked, container: &Container) -> Result<(), StateError> {
        let dir = self.dir(&container.id);
        // The usual layout, removed entry by entry, children first: about half
        // the system calls of a generic recursive removal, which matters on the
        // `--rm` path. work/work/incompat/volatile/ is overlayfs's mark of a
        // `volatile` mount. Anything unexpected falls back to remove_dir_all.
        const FILE: bool = true;
        const DIR: bool = false;
        let layer = [
            ("work/work/incompat/volatile/dirty", FILE),
            ("work/work/incompat/volatile", DIR),
            ("work/work/incompat", DIR),
            ("work/work", DIR),
            ("work", DIR),
            ("upper", DIR),
        ];
        let remove = |entry: &str, is_file: bool| {
            let path = dir.join(entry);
            let removed = if is_file {
                fs::remove_file(&path)
            } else {
                fs::remove_dir(&path)
            };
            match removed {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        };
        let remove_tree = |tree: &Path| match fs::remove_dir_all(tree) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_at(tree)(e)),
            _ => Ok(()),
        };
        if layer.iter().try_for_each(|&(e, f)| remove(e, f)).is_err() {
            for sub in ["work", "upper"] {
                remove_tree(&dir.join(sub))?;
            }
        }
        remove_tree(&self.run_dir(&container.id))?;
        // What is left is the record, and the log beside it. The record goes
        // first, then the name, then the folder: killed between any two, what
        // is left is a folder with no record, which the next command that
        // looks reclaims with any name still pointing at it
        // (`teardown::reclaim`). A name file is never left pointing nowhere.
        remove("state.json", FILE).map_err(io_at(&dir.join("state.json")))?;
        let name_file = self.name_file(&container.name);
        if fs::read_to_string(&name_file).is_ok_and(|id| id == container.id) {
            fs::remove_file(&name_file).map_err(io_at(&name_file))?;
        }
        if remove("", DIR).is_err() {
            remove_tree(&dir)?;
        }
        Ok(())
    }

    /// The manifests that some container still uses: `rmi` must keep them.
    pub fn images_in_use(&self) -> Result<BTreeSet<String>, StateError> {
        Ok(self.all()?.into_iter().map(|c| c.manifest_digest).collect())
    }
}

/// In a child cloned from peti: closes its copies of the locks of
/// [`MAKING`], without unlocking them. peti holds the same lock (one open
/// file, shared by clone), and the lock must mean "peti is alive", not "peti
/// or a start-up child it left behind is".
pub fn let_go_of_making_locks() {
    use std::os::fd::AsRawFd;
    // try_lock: a child must never wait on a lock (none is held: peti is
    // single-threaded when it clones).
    if let Ok(held) = MAKING.try_lock() {
        for (_, lock) in held.iter() {
            // SAFETY: closes this process's copy of a descriptor that nothing
            // in the child uses again; peti's copy, and its lock, stay. The
            // child never drops `MAKING` (it execs or exits), so nothing
            // closes it twice.
            unsafe { libc::close(lock.as_raw_fd()) };
        }
    }
}

/// Whether `error` says the disk (or the user's quota) is full.
fn is_disk_full(error: &io::Error) -> bool {
    // By kind: a temporary file's error carries its path around the errno,
    // and keeps only the kind.
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Locks a new container's directory for as long as this process lives (or
/// until it execs: the descriptor is close-on-exec).
fn hold_while_making(dir: &Path) -> io::Result<()> {
    let file = fs::File::open(dir)?;
    let held = crate::fsutil::try_flock(file)?
        .ok_or_else(|| io::Error::other("a new directory is locked by someone else"))?;
    MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((dir.to_path_buf(), held));
    Ok(())
}

/// Whether this process is making the container folder `dir`.
fn is_making(dir: &Path) -> bool {
    MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .any(|(made, _)| made == dir)
}

/// Whether `text` is a whole container ID (64 hex digits), and so safe to use as
/// a path component.
pub fn is_full_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Sets the final state. OOM kills are read from the cgroup, which lives until rm.
pub fn mark_exited(
    container: &mut Container,
    code: i32,
    finished_at: String,
    error: Option<String>,
) {
    let oom_killed = container
        .cgroup
        .as_ref()
        .and_then(|c| c.usage().ok())
        .is_some_and(|u| u.oom_kills > 0);
    let state = &mut container.state;
    state.status = Status::Exited;
    state.exit_code = Some(code);
    state.finished_at = Some(finished_at);
    state.oom_killed = oom_killed;
    state.process = None;
    state.monitor = None;
    state.paused = false;
    if error.is_some() {
        state.error = error;
    }
}

/// Reads the monitor's exit file, if it has been written.
pub fn read_exit_file(path: &Path) -> Option<ExitRecord> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<(), StateError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    // At most 255: a name is a file's name in the store (`.names/NAME`).
    let length_ok = (2..=255).contains(&name.len());
    if first_ok && length_ok && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        Ok(())
    } else {
        Err(StateError::BadName(name.to_string()))
    }
}

/// A fresh container ID: 32 random bytes in hex, like Docker's.
pub fn new_id() -> String {
    let mut bytes = [0u8; 32];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: getrandom writes at most the given length into our buffer.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n > 0 {
            filled += n as usize;
        }
    }
    hex::encode(bytes)
}

/// A name for a container started without `--name`, Docker-style
/// (`adjective_noun`), from words of the seed notes' home, Indonesia. Only 256
/// such pairs exist, so a name can be taken: a later `attempt` adds a number.
pub fn random_name(id: &str, attempt: usize) -> String {
    const ADJECTIVES: [&str; 16] = [
        "brave", "calm", "eager", "fuzzy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nimble", "proud", "quiet", "swift", "tidy", "witty",
    ];
    const NOUNS: [&str; 16] = [
        "anoa",
        "bekantan",
        "cendrawasih",
        "dugong",
        "elang",
        "gajah",
        "harimau",
        "jalak",
        "kancil",
        "komodo",
        "maleo",
        "merak",
        "orangutan",
        "penyu",
        "rusa",
        "tarsius",
    ];
    let byte = |i: usize| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap_or(0) as usize;
    let name = format!("{}_{}", ADJECTIVES[byte(0) % 16], NOUNS[byte(1) % 16]);
    match attempt {
        0 => name,
        n => format!("{name}{}", n + 1), // jolly_kancil2, jolly_kancil3, ...
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_generated_name_gives_way_to_another_valid_one() {
        let id = new_id();
        let names: BTreeSet<String> = (0..100).map(|attempt| random_name(&id, attempt)).collect();
        assert_eq!(names.len(), 100, "every attempt offers a new name");
        for name in &names {
            check_name(name).unwrap();
        }
    }

    #[test]
    fn names_are_checked_before_they_become_file_names() {
        for good in ["ab", "web-1", "my_app.v2", &"a".repeat(255)] {
            check_name(good).unwrap();
        }
        for bad in ["a", "-ab", "bad/name", "a b", "", &"a".repeat(256)] {
            assert!(
                matches!(check_name(bad), Err(StateError::BadName(_))),
                "{bad}"
            );
        }
    }
}
