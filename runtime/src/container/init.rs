//! The container's first process, from clone to exec.
//!
//! `clone(2)` has just made it inside a new PID namespace, where it is pid 1. It
//! still shares everything else with peti. Before running the user's program it:
//! 1. unshares mount, UTS and IPC namespaces, and builds the root file system
//!    ([`super::rootfs`]) in its private copy of the host's mount table, and
//!    covers runc's masked and read-only paths in /proc. Meanwhile
//!    peti, on the other core, makes the network namespace ([`super::network`])
//!    and the cgroup, and writes the record;
//! 2. waits for peti's go-ahead, which carries the network namespace; joins it
//!    (unless `--network host`) and the cgroup, then unshares a cgroup
//!    namespace, so that it sees its cgroup as the root;
//! 3. mounts /sys, which must come after the network namespace, covers its
//!    masked paths, mounts its own cgroup read-only at /sys/fs/cgroup, and
//!    pivots into the root file system;
//! 4. sets the hostname, inside its own UTS namespace;
//! 5. hands over to [`super::process`] for stdio, user, privileges and exec
//!    (with `--init`, the exec of peti-init, which runs the program as its
//!    child: see [`super::dmz`]).

use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, umask};

use super::cgroups::Cgroup;
use super::channel::{Channel, Message};
use super::process::{self, Filtering, ProcessPlan, StartError};
use super::rootfs::{self, RootfsPlan};
use super::trace::Tracer;

/// Everything the first process needs, prepared by the parent before clone.
pub struct InitPlan<'a> {
    pub cgroup: &'a Cgroup,
    /// What to unshare first: mount, UTS and IPC.
    pub namespaces: CloneFlags,
    /// Whether peti sends a network namespace to join (`--network none`).
    pub joins_network: bool,
    pub rootfs: RootfsPlan<'a>,
    pub hostname: &'a str,
    pub read_only_root: bool,
    pub process: ProcessPlan<'a>,
    /// `--init`: exec peti-init, with the program as its child (see `dmz`).
    pub init: bool,
    pub trace: bool,
}

/// Runs in the cloned child. Returns (as the child's exit status) only on failure,
/// after telling the parent why over `channel`.
pub fn run(plan: InitPlan, channel: &Channel) -> isize {
    let mut tracer = Tracer::new(plan.trace, "init");
    let failure = match set_up(&plan, channel, &mut tracer) {
        // peti compiles the seccomp filters while this process finishes, and
        // sends them (see `spawn`).
        Ok(()) => process::exec_maybe_under_init(
            plan.process,
            plan.init,
            Filtering::FromParent,
            channel,
            &mut tracer,
        ),
        Err(failure) => failure,
    };
    if tracer.enabled {
        let _ = channel.send(&Message::Trace(tracer.events), None);
    }
    let code = failure.exit_code() as isize;
    let _ = channel.send(&Message::Failed(failure), None);
    code
}

fn set_up(plan: &InitPlan, channel: &Channel, tracer: &mut Tracer) -> Result<(), StartError> {
    // If peti (or the monitor) dies, so does the container: nothing is left
    // running that no one can see or stop.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| StartError::runtime(format!("prctl: {e}")))?;
    // Until its exec this process is peti's binary: keep every other process
    // from opening its /proc/PID/exe (see `dmz`).
    super::dmz::shield()
        .map_err(|e| StartError::runtime(format!("prctl(PR_SET_DUMPABLE): {e}")))?;
    // All of this runs while peti makes the network namespace and the cgroup,
    // and writes the record.
    let namespaces = plan.namespaces;
    tracer
        .step("unshare", &format!("{namespaces:?}"), || {
            unshare(namespaces)
        })
        .map_err(|e| StartError::runtime(format!("unshare({namespaces:?}): {e}")))?;
    // Device nodes and mount points get exactly the modes we ask for.
    umask(Mode::empty());
    rootfs::build(&plan.rootfs, tracer).map_err(StartError::runtime)?;
    rootfs::protect_kernel_paths(&plan.rootfs, "/proc/", tracer).map_err(StartError::runtime)?;
    let proceed = tracer.step("wait", "for peti: network namespace and cgroup", || {
        channel.receive()
    });
    let network = match proceed {
        Ok(Some((Message::Proceed, network))) => network,
        _ => {
            return Err(StartError::runtime(
                "peti gave up on this container while it was starting",
            ));
        }
    };
    if plan.joins_network {
        let network = network.ok_or_else(|| {
            StartError::runtime("peti sent no network namespace with its go-ahead")
        })?;
        tracer
            .step("setns", "join the network namespace peti made", || {
                setns(&network, CloneFlags::CLONE_NEWNET)
            })
            .map_err(|e| StartError::runtime(format!("setns(CLONE_NEWNET): {e}")))?;
    }
    // The process joins by itself, writing "0": peti could write this pid
    // instead, but moving another process takes a kernel-wide lock that waits for
    // an RCU grace period, 1 to 20 ms on our hosts (see `Cgroup::join_files`).
    tracer
        .step(
            "cgroup",
            "join (write 0 to tasks on v1, cgroup.procs on v2)",
            || plan.cgroup.join_self(),
        )
        .map_err(StartError::runtime)?;
    tracer
        .step("unshare", "CLONE_NEWCGROUP", || {
            unshare(CloneFlags::CLONE_NEWCGROUP)
        })
        .map_err(|e| StartError::runtime(format!("unshare(CLONE_NEWCGROUP): {e}")))?;
    // sysfs shows the network devices of the namespace it is mounted from.
    rootfs::mount_sysfs(&plan.rootfs, tracer).map_err(StartError::runtime)?;
    rootfs::protect_kernel_paths(&plan.rootfs, "/sys/", tracer).map_err(StartError::runtime)?;
    // In the cgroup namespace just made, the container's cgroup is the root.
    rootfs::mount_cgroup(&plan.rootfs, &plan.cgroup.views(), tracer)
        .map_err(StartError::runtime)?;
    rootfs::pivot(&plan.rootfs.merged(), tracer).map_err(StartError::runtime)?;
    rootfs::protect_root(plan.read_only_root, tracer).map_err(StartError::runtime)?;
    tracer
        .step("sethostname", plan.hostname, || {
            nix::unistd::sethostname(plan.hostname)
        })
        .map_err(|e| StartError::runtime(format!("sethostname: {e}")))?;
    // Docker's default umask for the container's programs.
    umask(Mode::from_bits_truncate(0o022));
    Ok(())
}
