//! `peti exec`: one more process in a running container.
//!
//! Nothing is created: the new process joins what the container's first process
//! already has. It opens that process's namespace files (`/proc/PID/ns/*`), joins
//! its cgroup, and calls setns(2) for each namespace. The PID namespace is special:
//! setns changes only where our *children* go, so peti joins it and then forks;
//! the child is a member from birth. The mount namespace is joined last, because
//! after it the host's /proc and /sys/fs/cgroup are out of sight; joining it also
//! moves the child's root and working directory to the container's root.

use std::fs::File;
use std::os::fd::AsFd;

use nix::sched::{CloneFlags, setns};
use nix::unistd::{ForkResult, Pid, fork};

use super::channel::{self, Message};
use super::process::{self, ProcessPlan, StartError, Stdio};
use super::seccomp::Filters;
use super::state::{Container, Status};
use super::trace::Tracer;

/// What `peti exec` was asked to run.
pub struct ExecRequest<'a> {
    pub args: &'a [String],
    pub env: Vec<String>,
    pub workdir: &'a str,
    /// `None`: root, the default.
    pub user: Option<&'a str>,
    pub tty: bool,
    pub stdin: bool,
}

/// The namespaces an exec joins, in the order it joins them.
const NAMESPACES: [(&str, CloneFlags); 5] = [
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// A process started by `peti exec`.
pub struct Executed {
    pub pid: Pid,
    pub pty_master: Option<std::os::fd::OwnedFd>,
}

/// Starts `request` inside `container`, which must be running (the caller has
/// refreshed it).
pub fn exec(container: &Container, request: ExecRequest) -> Result<Executed, StartError> {
    let not_running =
        || StartError::runtime(format!("container {} is not running", container.name));
    let target = match (container.state.status, container.state.process) {
        (Status::Running, Some(p)) => p,
        _ => return Err(not_running()),
    };
    let open_ns = |name: &str| File::open(format!("/proc/{}/ns/{name}", target.pid));
    let pid_ns = open_ns("pid").map_err(|_| not_running())?;
    let others: Vec<(File, CloneFlags)> = NAMESPACES
        .iter()
        .map(|(name, flag)| open_ns(name).map(|f| (f, *flag)))
        .collect::<Result<_, _>>()
        .map_err(|_| not_running())?;
    // The files were opened from the right process only if it is still the same one.
    if !target.is_alive() {
        return Err(not_running());
    }
    let cgroup = container.cgroup.clone();
    // An exec'd process gets what the container's first one got, as Docker's.
    let privileges = &container.spec.privileges;
    let capabilities = super::security::container_capabilities(cgroup.as_ref(), privileges);
    let plan = ProcessPlan {
        args: request.args,
        env: &request.env,
        workdir: request.workdir,
        user: request.user,
        stdio: if request.tty {
            Stdio::Pty
        } else {
            Stdio::Inherit {
                stdin: request.stdin,
            }
        },
        capabilities: &capabilities,
        no_new_privileges: privileges.no_new_privileges,
    };
    // The container's own filter: an exec'd process is as confined as the first.
    let mut tracer = Tracer::new(false, "exec");
    let filters = process::compile_seccomp(&container.spec.seccomp, &capabilities, &mut tracer)?;
    // From the fork on, the child is in the container's PID namespace, and is
    // peti's binary until its exec: no container process may open its
    // /proc/PID/exe (CVE-2019-5736). The child inherits this at the fork.
    super::dmz::shield()
        .map_err(|e| StartError::runtime(format!("prctl(PR_SET_DUMPABLE): {e}")))?;
    setns(pid_ns.as_fd(), CloneFlags::CLONE_NEWPID)
        .map_err(|e| StartError::runtime(format!("setns(pid): {e}")))?;
    let (parent_end, child_end) = channel::pair().map_err(StartError::runtime)?;
    // SAFETY: peti is single-threaded, so the child may allocate and run Rust code
    // freely until it execs.
    match unsafe { fork() }.map_err(|e| StartError::runtime(format!("fork: {e}")))? {
        ForkResult::Child => {
            let failure = join_and_exec(&others, cgroup.as_ref(), plan, &filters, &child_end);
            let code = i32::from(failure.exit_code());
            let _ = child_end.send(&Message::Failed(failure), None);
            // SAFETY: _exit ends the forked child without running the parent's
            // destructors or flushing its buffers twice.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(child_end);
            let mut pty_master = None;
            while let Some((message, fd)) = parent_end.receive().map_err(StartError::runtime)? {
                match message {
                    Message::PtyMaster => pty_master = fd,
                    Message::Failed(failure) => {
                        let _ = nix::sys::wait::waitpid(child, None);
                        return Err(failure);
                    }
                    Message::ExecFailed { errno } => {
                        let _ = nix::sys::wait::waitpid(child, None);
                        let program = request.args[0].clone();
                        return Err(StartError::Exec { program, errno });
                    }
                    Message::Trace(_) | Message::Proceed | Message::Seccomp(_) => {}
                }
            }
            Ok(Executed {
                pid: child,
                pty_master,
            })
        }
    }
}

fn join_and_exec(
    namespaces: &[(File, CloneFlags)],
    cgroup: Option<&super::cgroups::Cgroup>,
    plan: ProcessPlan,
    filters: &Filters,
    channel: &channel::Channel,
) -> StartError {
    if let Some(Err(e)) = cgroup.map(|c| c.join_self()) {
        return StartError::runtime(e);
    }
    for (file, flag) in namespaces {
        if let Err(e) = setns(file.as_fd(), *flag) {
            return StartError::runtime(format!("setns({flag:?}): {e}"));
        }
    }
    process::exec(
        plan,
        process::Filtering::Compiled(filters),
        channel,
        &mut Tracer::new(false, "exec"),
    )
}
