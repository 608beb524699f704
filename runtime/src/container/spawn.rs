//! Starting a created container: the parent's side of clone.
//!
//! peti (or, for `-d`, the process about to become the monitor) writes the
//! container's /etc files, makes its cgroup, and calls clone with the namespace
//! flags. The child runs [`super::init`]; the parent listens on the start-up
//! channel until the child's exec closes it, then records the container as
//! running. If anything fails, the cgroup and run-time files are removed again,
//! and the container stays "created", as in Docker.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::cgroups::Cgroup;
use super::channel::{self, Message};
use super::init::{self, InitPlan};
use super::network;
use super::process::{ProcessPlan, StartError, Stdio};
use super::rootfs::RootfsPlan;
use super::seccomp::Filters;
use super::spec::NetworkMode;
use super::state::{Container, ContainerStore, ProcessId, Status, now_rfc3339};
use super::trace::Tracer;

/// How the container's streams are wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// To peti's own terminal (`run` without `-d`, `start -a`).
    Foreground,
    /// To pipes that the monitor reads and logs (`run -d`, `start`).
    Detached,
}

/// A container whose program is running.
pub struct Started {
    pub container: Container,
    pub pid: Pid,
    /// `-t`: the master side of the container's terminal.
    pub pty_master: Option<OwnedFd>,
    /// The read ends of stdout and stderr, to be logged: by the monitor
    /// (`Detached`), or by peti as it relays them (`Foreground`, but `--rm`).
    pub output: Option<(OwnedFd, OwnedFd)>,
}

/// Starts `container`, which must be created or exited. Its steps, and the
/// child's, go into `tracer`.
///
/// The steps run in this order, peti's and the child's side by side: the clone;
/// then, while the child builds its root file system, the network namespace and
/// the cgroup, which it waits for; then, while it joins them, pivots and drops
/// its privileges, the record and its seccomp filters; last, the wait for its
/// exec. A failure at any step stops the child (the [`Child`] handle does it
/// when dropped) and undoes what was made.
pub fn start(
    store: &ContainerStore,
    mut container: Container,
    attach: Attach,
    tracer: &mut Tracer,
) -> Result<Started, StartError> {
    let run_dir = store.run_dir(&container.id);
    // Only a monitor needs a run-time directory (for its exit file).
    let _ = fs::remove_dir_all(&run_dir);
    if attach == Attach::Detached {
        fs::create_dir_all(&run_dir)
            .map_err(|e| StartError::runtime(format!("{}: {e}", run_dir.display())))?;
    }
    // A restarted container gets a fresh cgroup.
    if let Some(old) = container.cgroup.take() {
        let _ = old.remove();
    }
    let cgroup = Cgroup::plan(
        &container.id,
        container.spec.cgroup_parent.as_deref(),
        &container.spec.limits,
    )
    .map_err(StartError::runtime)?;
    let cgroup = if container.spec.privileges.privileged {
        cgroup.with_every_device()
    } else {
        cgroup
    };
    match start_steps(store, &mut container, &cgroup, attach, tracer) {
        Ok((pid, pty_master, output)) => {
            container.state.process = ProcessId::of(pid.as_raw());
            container.state.status = Status::Running;
            container.cgroup = Some(cgroup);
            Ok(Started {
                container,
                pid,
                pty_master,
                output,
            })
        }
        Err(failure) => {
            let _ = cgroup.remove();
            let _ = fs::remove_dir_all(&run_dir);
            record_failed(store, container, &failure);
            Err(failure)
        }
    }
}

type Running = (Pid, Option<OwnedFd>, Option<(OwnedFd, OwnedFd)>);

fn start_steps(
    store: &ContainerStore,
    container: &mut Container,
    cgroup: &Cgroup,
    attach: Attach,
    tracer: &mut Tracer,
) -> Result<Running, StartError> {
    let capabilities =
        super::security::container_capabilities(Some(cgroup), &container.spec.privileges);
    let (mut child, output) =
        Child::clone(store, container, cgroup, attach, &capabilities, tracer)?;
    // What the child waits for, made while it builds its root file system: the
    // network namespace it is to join (if it gets its own) and its cgroup.
    let network = match container.spec.network {
        NetworkMode::None => Some(
            tracer
                .step("netns", "make a network namespace, lo up", || {
                    network::isolated_namespace()
                })
                .map_err(StartError::runtime)?,
        ),
        NetworkMode::Host => None,
    };
    tracer
        .step("cgroup", &cgroup_detail(container), || {
            cgroup.create(&container.spec.limits)
        })
        .map_err(StartError::runtime)?;
    child.proceed(network);
    // What the child does not wait for, done while it finishes: the record, then
    // its seccomp filters, which it needs only just before its exec.
    let pid = child.pid;
    tracer.step("state", "record running", || {
        record_running(store, container, pid, cgroup)
    })?;
    let filters = super::process::compile_seccomp(&container.spec.seccomp, &capabilities, tracer)?;
    child.send_filters(&filters);
    let pty_master = child.wait_for_exec(tracer)?;
    Ok((pid, pty_master, output))
}

/// Writes the record as running. It is written before the exec is known to have
/// worked, in parallel with the child's work; a failed start rewrites it.
fn record_running(
    store: &ContainerStore,
    container: &mut Container,
    pid: Pid,
    cgroup: &Cgroup,
) -> Result<(), StartError> {
    let lock = store.lock().map_err(StartError::runtime)?;
    container.state.status = Status::Running;
    container.state.process = ProcessId::of(pid.as_raw());
    container.state.monitor = ProcessId::of(std::process::id() as i32);
    container.state.started_at = Some(now_rfc3339());
    container.state.finished_at = None;
    container.state.exit_code = None;
    container.state.error = None;
    container.state.oom_killed = false;
    container.cgroup = Some(cgroup.clone());
    store.save(&lock, container).map_err(StartError::runtime)
}

/// A container that did not start stays "created", with the reason, and the
/// code the start would have given (125, 126 or 127), as Docker keeps them.
fn record_failed(store: &ContainerStore, mut failed: Container, failure: &StartError) {
    if let Ok(lock) = store.lock() {
        failed.cgroup = None;
        failed.state.status = Status::Created;
        failed.state.process = None;
        failed.state.monitor = None;
        failed.state.error = Some(failure.to_string());
        failed.state.exit_code = Some(failure.exit_code().into());
        let _ = store.save(&lock, &failed);
    }
}

fn cgroup_detail(container: &Container) -> String {
    let l = &container.spec.limits;
    let mut parts = vec![format!("create peti/{}", &container.id[..12])];
    if let Some(m) = l.memory_bytes {
        parts.push(format!("memory {m}"));
    }
    if let Some(q) = l.cpu_quota_us {
        parts.push(format!("cpu quota {q}us"));
    }
    if let Some(p) = l.pids {
        parts.push(format!("pids {p}"));
    }
    parts.join(", ")
}

/// The container's first process, from its clone to its exec, seen from peti:
/// a handle whose steps peti runs in order. Dropped before its exec is seen, it
/// kills and reaps the child, so that no failure leaves it behind.
struct Child {
    pid: Pid,
    channel: channel::Channel,
    /// Why the go-ahead could not be sent, if it could not: the child had failed
    /// already, and its own reason, still queued, is what the user needs.
    undelivered: Option<channel::ChannelError>,
    exec_seen: bool,
    /// The program, as the user named it: for the words of a failed exec.
    program: String,
}

impl Child {
    /// Clones the child into a new PID namespace. It starts on its root file
    /// system at once, and waits for [`Child::proceed`] before it joins the
    /// network namespace and the cgroup. Returns it and, for a detached start,
    /// the read ends of its stdout and stderr.
    fn clone(
        store: &ContainerStore,
        container: &Container,
        cgroup: &Cgroup,
        attach: Attach,
        capabilities: &[caps::Capability],
        tracer: &mut Tracer,
    ) -> Result<(Child, Option<(OwnedFd, OwnedFd)>), StartError> {
        let spec = &container.spec;
        let etc_files = etc_files(container);
        let (parent_end, child_end) = channel::pair().map_err(StartError::runtime)?;
        // Every container's output is logged, as Docker's is, but for a
        // foreground `--rm` one: its log would go with it. That one keeps
        // peti's own streams, the quickest start (the start benchmark's).
        let (stdio, output) = match (spec.tty, attach) {
            (true, _) => (Stdio::Pty, None),
            (false, Attach::Foreground) if spec.auto_remove => {
                (Stdio::Inherit { stdin: spec.stdin }, None)
            }
            (false, _) => {
                let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                    .map_err(StartError::runtime)?;
                let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                    .map_err(StartError::runtime)?;
                (
                    Stdio::Pipes {
                        stdin: attach == Attach::Foreground && spec.stdin,
                        stdout: out_w,
                        stderr: err_w,
                    },
                    Some((out_r, err_r)),
                )
            }
        };
        let dir = store.dir(&container.id);
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        let scratch = store.scratch_dir();
        let plan = InitPlan {
            cgroup,
            rootfs: RootfsPlan {
                scratch: &scratch,
                lower: &container.lower_dirs,
                upper: &upper,
                work: &work,
                volatile: spec.auto_remove,
                etc_files: &etc_files,
                volumes: &spec.volumes,
                privileged: spec.privileges.privileged,
            },
            namespaces: CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWUTS
                | CloneFlags::CLONE_NEWIPC,
            joins_network: spec.network == NetworkMode::None,
            hostname: &spec.hostname,
            read_only_root: spec.read_only,
            process: ProcessPlan {
                args: &spec.args,
                env: &spec.env,
                workdir: &spec.workdir,
                user: spec.user.as_deref(),
                stdio,
                capabilities,
                no_new_privileges: spec.privileges.no_new_privileges,
            },
            init: spec.init,
            trace: tracer.enabled,
        };
        // Only the PID namespace has to come with clone: a process cannot enter
        // a new PID namespace itself, only its children can. The child unshares
        // mount, UTS and IPC itself, and joins the network namespace peti makes
        // meanwhile (see `network`), so that none of these costs is paid before
        // peti can go on.
        let flags = CloneFlags::CLONE_NEWPID;
        let mut plan = Some(plan);
        let mut stack = ChildStack::new(1 << 20).map_err(StartError::runtime)?;
        // The child's copy of peti's end is closed first thing: then, if peti
        // dies before the child's exec, the child's next read of the channel
        // sees end-of-file and it gives up, instead of waiting for ever on a
        // socket whose other end it holds itself. (Its parent-death signal
        // covers the rest, but it is set a moment after clone, and a parent
        // killed in that moment would be missed.)
        let peti_end = parent_end.as_fd().as_raw_fd();
        let pid = tracer.step("clone", &format!("{flags:?}"), || {
            let child = Box::new(|| {
                // SAFETY: the child's own copy of the descriptor, which nothing
                // in the child uses; closing it leaves peti's untouched.
                unsafe { libc::close(peti_end) };
                // And its copies of the locks that say peti is making a
                // container: they must die with peti, not with this child.
                super::state::let_go_of_making_locks();
                match plan.take() {
                    Some(plan) => init::run(plan, &child_end),
                    None => 125,
                }
            });
            // SAFETY: peti is single-threaded here, so the child's copy of our
            // memory holds no lock another thread owned; the child only runs
            // `init::run`, which ends in execve or in returning its exit status.
            unsafe { nix::sched::clone(child, stack.usable(), flags, Some(libc::SIGCHLD)) }
        });
        let pid = pid.map_err(|e| StartError::runtime(format!("clone({flags:?}): {e}")))?;
        let child = Child {
            pid,
            channel: parent_end,
            undelivered: None,
            exec_seen: false,
            program: spec.args[0].clone(),
        };
        Ok((child, output))
    }

    /// The go-ahead, with the network namespace to join if there is one. If the
    /// child failed while building its root file system, it has exited and this
    /// send fails (EPIPE); its reason is still queued, and [`Child::wait_for_exec`]
    /// reads it.
    fn proceed(&mut self, network: Option<OwnedFd>) {
        let network_fd = network.as_ref().map(|fd| fd.as_raw_fd());
        self.undelivered = self.channel.send(&Message::Proceed, network_fd).err();
        // The container holds the namespace now, by being in it.
        drop(network);
    }

    /// The seccomp filters. A child that failed meanwhile cannot take them; its
    /// reason is read by [`Child::wait_for_exec`].
    fn send_filters(&mut self, filters: &Filters) {
        let _ = self
            .channel
            .send(&Message::Seccomp(filters.to_words()), None);
    }

    /// Reads the channel until the child's exec closes it: its trace, its pty
    /// master, or why it failed. Returns the pty master of `-t`.
    fn wait_for_exec(mut self, tracer: &mut Tracer) -> Result<Option<OwnedFd>, StartError> {
        let waiting_at = super::trace::monotonic_nanos();
        let mut child_trace = Vec::new();
        let mut pty_master = None;
        let mut failure = None;
        let mut channel_error = None;
        loop {
            match self.channel.receive() {
                Ok(None) => break,
                Ok(Some((Message::Trace(events), _))) => child_trace.extend(events),
                Ok(Some((Message::PtyMaster, fd))) => pty_master = fd,
                Ok(Some((Message::Proceed | Message::Seccomp(_), _))) => {}
                Ok(Some((Message::Failed(reason), _))) => {
                    failure.get_or_insert(reason);
                }
                Ok(Some((Message::ExecFailed { errno }, _))) => {
                    let program = self.program.clone();
                    failure.get_or_insert(StartError::Exec { program, errno });
                }
                // A child that failed and exited before reading the go-ahead leaves
                // ECONNRESET on our end (its socket closed with a message unread),
                // after or before its own reason. The socket error is reported
                // once, and the queued messages stay readable, so read on: the
                // child's reason, when it sent one, is what the user needs.
                Err(e) => {
                    if channel_error.is_some() {
                        break; // not the one-time reset: the channel is broken
                    }
                    channel_error = Some(e);
                }
            }
        }
        let failure = failure
            .or(channel_error.map(StartError::runtime))
            .or(self.undelivered.take().map(StartError::runtime));
        if let Some(failure) = failure {
            let _ = waitpid(self.pid, None);
            self.exec_seen = true; // reaped: nothing left for Drop to do
            return Err(failure);
        }
        self.exec_seen = true;
        let exec_start = child_trace
            .iter()
            .rev()
            .find(|e| e.step == "exec")
            .map_or(waiting_at, |e| e.start_ns);
        tracer.record(
            "exec",
            "execve done (start-up channel closed)",
            exec_start,
            super::trace::monotonic_nanos(),
        );
        tracer.events.extend(child_trace);
        Ok(pty_master)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.exec_seen {
            // Told to go on or not, it must not run unrecorded: stop it.
            let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// The stack the child starts on. clone(2) without CLONE_VM gives the child a
/// copy of our memory, so this only has to exist at the moment of the clone; the
/// child's copy is its own. It is mapped, not allocated: the lowest page is a
/// guard, so a child that overflows it faults at once instead of writing over
/// whatever the allocator put below, and no page is touched (or zeroed) until
/// the child uses it, as a big zeroed Vec might be.
struct ChildStack {
    base: std::ptr::NonNull<libc::c_void>,
    len: usize,
}

impl ChildStack {
    const GUARD: usize = 4096;

    fn new(usable: usize) -> Result<Self, nix::errno::Errno> {
        use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, mprotect};
        let len = usable + Self::GUARD;
        let size = std::num::NonZeroUsize::new(len).expect("a stack has a size");
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let base = unsafe {
            mmap_anonymous(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_STACK,
            )?
        };
        let stack = ChildStack { base, len };
        // SAFETY: the guard page is the first page of the mapping made above.
        unsafe { mprotect(base, Self::GUARD, ProtFlags::PROT_NONE)? };
        Ok(stack)
    }

    /// The usable part, above the guard page.
    fn usable(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes long, readable and writable above the
        // guard page, and lives as long as `self`, which this borrow ties it to.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base.as_ptr().cast::<u8>().add(Self::GUARD),
                self.len - Self::GUARD,
            )
        }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping came from mmap in `new`, and nothing borrows it now.
        let _ = unsafe { nix::sys::mman::munmap(self.base, self.len) };
    }
}

/// The contents of /etc/hostname, /etc/hosts and /etc/resolv.conf.
fn etc_files(container: &Container) -> Vec<(&'static str, String)> {
    let spec = &container.spec;
    let hosts = match spec.network {
        NetworkMode::Host => fs::read_to_string("/etc/hosts").unwrap_or_default(),
        NetworkMode::None => LOCALHOST_HOSTS.to_string(),
    };
    let resolv = resolv_conf(
        &fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        spec.network,
    );
    vec![
        ("/etc/hostname", format!("{}\n", spec.hostname)),
        ("/etc/hosts", hosts),
        ("/etc/resolv.conf", resolv),
    ]
}

/// The /etc/hosts of a container without a network of its own.
const LOCALHOST_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The host's resolv.conf, as Docker adapts it: with a network namespace of its
/// own, the container cannot reach the host's loopback resolvers (127.0.0.53 of
/// systemd-resolved, for example), so those are dropped, and Google's public
/// resolvers stand in if none is left.
pub fn resolv_conf(host: &str, network: NetworkMode) -> String {
    if network == NetworkMode::Host {
        return host.to_string();
    }
    let is_loopback = |line: &str| {
        let addr = line.trim_start_matches("nameserver").trim();
        addr.starts_with("127.") || addr == "::1"
    };
    let mut lines: Vec<&str> = host
        .lines()
        .filter(|l| !(l.trim_start().starts_with("nameserver") && is_loopback(l)))
        .collect();
    if !lines
        .iter()
        .any(|l| l.trim_start().starts_with("nameserver"))
    {
        lines.extend(["nameserver 8.8.8.8", "nameserver 8.8.4.4"]);
    }
    lines.join("\n") + "\n"
}
