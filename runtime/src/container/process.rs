//! The last steps before a container's program runs, shared by a container's first
//! process and by `peti exec`: standard streams (or a pseudo-terminal), the user,
//! the working directory, finding the program, dropping privileges, and execve.
//!
//! Finding the program happens here, inside the container, before execve, so that
//! a missing program and a non-executable one can be told apart and reported with
//! Docker's exit codes: 127 and 126.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caps::Capability;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use nix::unistd::{AccessFlags, access, dup2_raw, setsid};

use crate::image::DEFAULT_PATH;

use super::channel::{Channel, Message};
use super::seccomp::{self, Filters, KernelVersion, Seccomp};
use super::security::{self, User};
pub use super::start_error::StartError;
use super::trace::{Tracer, monotonic_nanos};

/// Where the process's standard streams go.
pub enum Stdio {
    /// Those of peti itself; stdin only with `-i`, else /dev/null.
    Inherit { stdin: bool },
    /// Pipes to the monitor or to a foreground peti, which log them; stdin
    /// is peti's own with `-i` in the foreground, else /dev/null.
    Pipes {
        stdin: bool,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A new pseudo-terminal of the container's own devpts; the master goes back
    /// to peti over the channel.
    Pty,
}

/// The process to run.
pub struct ProcessPlan<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub workdir: &'a str,
    /// `None`: root, the default.
    pub user: Option<&'a str>,
    pub stdio: Stdio,
    pub capabilities: &'a [Capability],
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
}

/// Compiles the container's seccomp profile for this process's capabilities.
pub fn compile_seccomp(
    seccomp: &Seccomp,
    capabilities: &[Capability],
    tracer: &mut Tracer,
) -> Result<Filters, StartError> {
    let names: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    tracer
        .step(
            "seccomp",
            &format!("compile the {} profile", seccomp.label()),
            || seccomp::compile(seccomp, &names, KernelVersion::host()),
        )
        .map_err(StartError::runtime)
}

/// Where a process gets its seccomp filters.
pub enum Filtering<'a> {
    /// Compiled already (`peti exec` compiles them before it forks).
    Compiled(&'a Filters),
    /// From peti over the channel, after the go-ahead: peti compiles them while
    /// a container's first process finishes setting itself up.
    FromParent,
}

/// Runs the plan's last steps and execs the program. Returns only on failure.
pub fn exec(
    plan: ProcessPlan,
    filtering: Filtering,
    channel: &Channel,
    tracer: &mut Tracer,
) -> StartError {
    exec_maybe_under_init(plan, false, filtering, channel, tracer)
}

/// [`exec`], and with `under_init` (`--init`, for a container's first process
/// only) through peti-init, which stays as PID 1 with the program as its child
/// (see `dmz`). The program is still found here first, so that a missing one
/// fails the start with the same words and code as without `--init`.
pub fn exec_maybe_under_init(
    plan: ProcessPlan,
    under_init: bool,
    filtering: Filtering,
    channel: &Channel,
    tracer: &mut Tracer,
) -> StartError {
    match prepare(&plan, filtering, channel, tracer) {
        Err(failure) => failure,
        Ok((program, argv, envp)) => {
            let exec_at = monotonic_nanos();
            let init = if under_init { "peti-init " } else { "" };
            let detail = format!("{init}{}", plan.args.join(" "));
            tracer.record("exec", &detail, exec_at, exec_at);
            if tracer.enabled {
                let _ = channel.send(&Message::Trace(std::mem::take(&mut tracer.events)), None);
            }
            if let Err(e) = close_inherited_descriptors() {
                return StartError::runtime(format!("closing inherited file descriptors: {e}"));
            }
            // Through peti-dmz (see `dmz`): it reports its own exec's failure
            // over the channel, as ExecFailed; this returns only if it could not
            // be started at all.
            if under_init {
                block_signals_for_init();
            }
            let e = super::dmz::exec(&program, &argv, &envp, channel, under_init);
            StartError::runtime(format!("starting peti-dmz: {e}"))
        }
    }
}

/// Marks every descriptor above 2 close-on-exec, so that the program gets only its
/// standard streams.
///
/// Whatever peti was started with is inherited through clone and fork: a directory
/// that the caller opened (`exec 9</`) would let the container walk the host's
/// file system from `/proc/self/fd/9/..`, and a file opened for writing would let
/// it write there. runc does the same before its exec. (The start-up channel is
/// close-on-exec already: its closing is how peti learns that the exec worked.)
fn close_inherited_descriptors() -> std::io::Result<()> {
    // close_range(2), Linux 5.11: one call for every descriptor from 3 up.
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes plain integers; with CLOSE_RANGE_CLOEXEC it
    // closes nothing, it only sets a flag on each descriptor.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if rc == 0 {
        return Ok(());
    }
    // Older kernels: each open descriptor, as /proc (the container's own) lists it.
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number changes only its flag; one that
        // was closed meanwhile (read_dir's own) just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Gives the program every signal's default action, unblocked, as a program
/// started from a shell gets.
///
/// An ignored signal stays ignored across execve, and so does the signal
/// mask. Rust ignores SIGPIPE in peti (see `cli::out`), and without this
/// every container would inherit that: `yes | head -1` inside it would spin
/// on EPIPE instead of ending. Docker's containers start with nothing
/// ignored and nothing blocked, and so do peti's.
fn default_signals() {
    /// The kernel's `struct sigaction` for rt_sigaction(2), which the C
    /// library's would not do here: musl refuses signals 32 to 34, which it
    /// keeps for itself, and a parent may have left those ignored too.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads one struct of the kernel's layout, which
        // `default` is, and installs no handler of ours (SIG_DFL); the old
        // action is not asked for.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    set_signal_mask(0);
}

/// Sets the signal mask to `blocked`, the kernel's 64-bit set, through the
/// system call: musl's sigprocmask would leave its own signals (32 to 34) out.
fn set_signal_mask(blocked: u64) {
    // SAFETY: rt_sigprocmask reads one 8-byte set, `blocked`, and writes
    // none; SIGKILL and SIGSTOP the kernel never blocks, whatever it says.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &blocked as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
}

/// Blocks every signal until peti-init has its own handling in place. This
/// process is PID 1 of its namespace, and the kernel drops a signal sent to
/// PID 1 while its action is the default, unless the signal is blocked: a
/// blocked one waits, across the exec, for peti-init to take it. Without
/// this, a `peti stop` right after `peti run -d --init` could land between
/// the exec and peti-init's first line, and be lost: the stop would wait its
/// whole grace period and kill.
fn block_signals_for_init() {
    set_signal_mask(u64::MAX);
}

/// The last of the guards: from here on, and in all the program runs, only
/// the system calls the profile allows.
fn install_filters(filters: &Filters, tracer: &mut Tracer) -> Result<(), StartError> {
    let detail = format!(
        "{} filters, {} BPF instructions",
        filters.len(),
        filters.instructions()
    );
    tracer.step("seccomp", &detail, || {
        seccomp::install(filters).map_err(StartError::runtime)
    })
}

/// The filters peti sends after its go-ahead.
fn receive_filters(channel: &Channel) -> Result<Filters, StartError> {
    match channel.receive() {
        Ok(Some((Message::Seccomp(words), _))) => {
            Filters::from_words(words).map_err(StartError::runtime)
        }
        _ => Err(StartError::runtime(
            "peti gave up on this container before sending its seccomp filters",
        )),
    }
}

type Prepared = (CString, Vec<CString>, Vec<CString>);

fn prepare(
    plan: &ProcessPlan,
    filtering: Filtering,
    channel: &Channel,
    tracer: &mut Tracer,
) -> Result<Prepared, StartError> {
    default_signals();
    tracer.step("stdio", stdio_name(&plan.stdio), || {
        set_up_stdio(&plan.stdio, channel)
    })?;
    let user = security::resolve_user(plan.user.unwrap_or("0")).map_err(StartError::runtime)?;
    let env = with_defaults(plan.env, &user, matches!(plan.stdio, Stdio::Pty));
    tracer.step("chdir", plan.workdir, || {
        std::fs::create_dir_all(plan.workdir)
            .and_then(|()| std::env::set_current_dir(plan.workdir))
            .map_err(|e| StartError::runtime(format!("working directory {}: {e}", plan.workdir)))
    })?;
    let received;
    let filters = match filtering {
        Filtering::Compiled(filters) => filters,
        Filtering::FromParent => {
            received = tracer.step("wait", "for peti: the seccomp filters", || {
                receive_filters(channel)
            })?;
            &received
        }
    };
    // The kernel lets a process install a seccomp filter if it has set
    // no_new_privs, or holds CAP_SYS_ADMIN. With no_new_privs (asked for),
    // the filter goes last, so that as few system calls as possible run
    // after it. Without it (Docker's default), the filter must go in while
    // this process is still all-powerful root, before the capabilities are
    // dropped, as runc does; the calls that drop them (capset, setresuid,
    // prctl) are ones Docker's profile allows.
    if !plan.no_new_privileges {
        install_filters(filters, tracer)?;
    }
    let detail = format!(
        "uid {} gid {}, {} capabilities{}",
        user.uid,
        user.gid,
        plan.capabilities.len(),
        if plan.no_new_privileges {
            ", no_new_privs"
        } else {
            ""
        }
    );
    tracer.step("capabilities", &detail, || {
        security::drop_privileges(&user, plan.capabilities, plan.no_new_privileges)
            .map_err(StartError::runtime)
    })?;
    if plan.no_new_privileges {
        install_filters(filters, tracer)?;
    }
    // The kernel clears the parent-death signal when credentials change: set again.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH.trim_start_matches("PATH="));
    let program = find_program(&plan.args[0], path)?;
    let cstring = |s: &str| {
        CString::new(s).map_err(|_| StartError::runtime(format!("{s:?} holds a NUL byte")))
    };
    let argv = plan
        .args
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env
        .iter()
        .map(|e| cstring(e))
        .collect::<Result<Vec<_>, _>>()?;
    let program =
        CString::new(program.into_os_string().into_encoded_bytes()).map_err(StartError::runtime)?;
    Ok((program, argv, envp))
}

fn stdio_name(stdio: &Stdio) -> &'static str {
    match stdio {
        Stdio::Inherit { .. } => "peti's own",
        Stdio::Pipes { .. } => "pipes to be logged",
        Stdio::Pty => "a new pty",
    }
}

/// HOME and PATH as Docker sets them when the image does not.
/// The environment as Docker makes it: its defaults first (`PATH`,
/// `HOSTNAME` as the container's host name, `TERM=xterm` with `-t`), each
/// replaced in place by the image's or `-e`'s value of the same name, the
/// other variables after them; then `HOME`, which runc adds when unset.
fn with_defaults(env: &[String], user: &User, tty: bool) -> Vec<String> {
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let mut all = vec![DEFAULT_PATH.to_string()];
    if let Ok(name) = nix::unistd::gethostname() {
        all.push(format!("HOSTNAME={}", name.to_string_lossy()));
    }
    if tty {
        all.push("TERM=xterm".to_string());
    }
    for variable in env {
        match all.iter_mut().find(|e| key(e) == key(variable)) {
            Some(slot) => *slot = variable.clone(),
            None => all.push(variable.clone()),
        }
    }
    if !all.iter().any(|e| key(e) == "HOME") {
        all.push(format!("HOME={}", user.home));
    }
    all
}

fn set_up_stdio(stdio: &Stdio, channel: &Channel) -> Result<(), StartError> {
    let null = || {
        open("/dev/null", OFlag::O_RDWR, Mode::empty())
            .map_err(|e| StartError::runtime(format!("/dev/null: {e}")))
    };
    match stdio {
        Stdio::Inherit { stdin: true } => Ok(()),
        Stdio::Inherit { stdin: false } => move_to(&null()?, 0),
        Stdio::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            if !stdin {
                move_to(&null()?, 0)?;
            }
            move_to(stdout, 1)?;
            move_to(stderr, 2)
        }
        Stdio::Pty => {
            let (master, slave) =
                open_pty().map_err(|e| StartError::runtime(format!("pseudo-terminal: {e}")))?;
            channel
                .send(&Message::PtyMaster, Some(master.as_raw_fd()))
                .map_err(StartError::runtime)?;
            drop(master);
            setsid().map_err(|e| StartError::runtime(format!("setsid: {e}")))?;
            // SAFETY: TIOCSCTTY takes an integer argument; 0 means "do not steal".
            if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
                return Err(StartError::runtime(format!("TIOCSCTTY: {}", Errno::last())));
            }
            (0..3).try_for_each(|fd| move_to(&slave, fd))
        }
    }
}

/// Opens a pty pair on the container's own /dev/pts (we are past pivot_root).
fn open_pty() -> nix::Result<(OwnedFd, OwnedFd)> {
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let name = nix::pty::ptsname_r(&master)?;
    let slave = open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    )?;
    Ok((master.into(), slave))
}

fn move_to(fd: &OwnedFd, target: RawFd) -> Result<(), StartError> {
    // SAFETY: dup2 onto 0, 1 or 2 replaces the standard streams, which is the point;
    // nothing in this process holds them as OwnedFd.
    unsafe { dup2_raw(fd, target) }
        .map(std::mem::forget)
        .map_err(|e| StartError::runtime(format!("dup2 onto fd {target}: {e}")))
}

/// Finds the program as a shell would: a name with a slash is a path; anything
/// else is looked up in PATH. The error text is Docker's.
fn find_program(name: &str, path: &str) -> Result<PathBuf, StartError> {
    if name.contains('/') {
        let program = PathBuf::from(name);
        check_executable(name, &program)?;
        return Ok(program);
    }
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        if candidate.is_file() && access(&candidate, AccessFlags::X_OK).is_ok() {
            return Ok(candidate);
        }
    }
    Err(StartError::NotInPath(name.to_string()))
}

fn check_executable(name: &str, program: &Path) -> Result<(), StartError> {
    let metadata = std::fs::metadata(program).map_err(|e| StartError::NoSuchFile {
        program: name.to_string(),
        reason: lower_first(&e),
    })?;
    let cannot = |why: &str| StartError::NotExecutable {
        program: name.to_string(),
        reason: why.to_string(),
    };
    if metadata.is_dir() {
        return Err(cannot("is a directory"));
    }
    if metadata.permissions().mode() & 0o111 == 0 || access(program, AccessFlags::X_OK).is_err() {
        return Err(cannot("permission denied"));
    }
    Ok(())
}

fn lower_first(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}
