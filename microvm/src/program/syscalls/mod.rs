//! The system calls a program guest (`--elf`) makes, served by the VMM: a
//! small Linux-compatible subset, enough for the lab workloads and a typical
//! static musl program.
//!
//! One table ([`TABLE`]) lists every call microvm knows, in number order: its
//! number (libc's `SYS_*`), its name, and its handler. Every handler has one
//! shape: it takes the little kernel's state and the [`Call`] (the six
//! arguments, the program's memory, its segment registers) and returns the
//! call's value or an errno (libc's, through nix's `Errno`). A call named in
//! the table but not served gets ENOSYS, as one with no entry does.
//!
//! The guest is hostile until proven otherwise. Every pointer it passes is
//! checked to lie in user memory and read or written through vm-memory's
//! `Bytes` API ([`user_memory`]), never by pointer arithmetic on host
//! addresses; a bad one gets EFAULT. A bad descriptor gets EBADF. Lengths are
//! bounded (a call moves at most [`MAX_IO`] bytes, as a short read or write).
//! Files are reachable only if granted with `--file`, and only as granted
//! ([`files`]). Sockets ([`net`]) are the VMM's own, on loopback only.

mod files;
mod memory;
mod net;
mod process;
mod time;
mod user_memory;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use kvm_bindings::{kvm_regs, kvm_sregs};
use libc::c_long;
use nix::errno::Errno;
use vm_memory::GuestMemoryMmap;

pub use self::user_memory::UserMemory;

/// The most bytes one call reads or writes; more is a short read or write.
pub const MAX_IO: u64 = 1 << 20;
/// The most descriptors a guest may hold: Linux's default RLIMIT_NOFILE.
pub const MAX_FDS: usize = 1024;

/// What a handler returns: the call's value, or the errno the guest gets
/// (as `-errno` in RAX, as Linux returns it).
pub type Answer = Result<i64, Errno>;

/// One handler, for every call.
pub type Handler = fn(&mut Kernel, &mut Call<'_>) -> Answer;

/// One system call, as its handler sees it.
pub struct Call<'a> {
    /// RAX: which call.
    pub nr: u64,
    /// RDI, RSI, RDX, R10, R8, R9: the x86-64 system-call ABI.
    pub args: [u64; 6],
    /// The program's memory, every access checked.
    pub user: UserMemory<'a>,
    /// The segment registers (arch_prctl sets the FS base here).
    pub sregs: &'a mut kvm_sregs,
}

/// Every call microvm knows, in number order: (number, name, handler).
pub const TABLE: &[(c_long, &str, Handler)] = &[
    (libc::SYS_read, "read", files::read),
    (libc::SYS_write, "write", files::write),
    (libc::SYS_open, "open", files::open),
    (libc::SYS_close, "close", files::close),
    (libc::SYS_stat, "stat", not_served),
    (libc::SYS_fstat, "fstat", files::fstat),
    (libc::SYS_lstat, "lstat", not_served),
    (libc::SYS_poll, "poll", not_served),
    (libc::SYS_lseek, "lseek", files::lseek),
    (libc::SYS_mmap, "mmap", memory::mmap),
    (libc::SYS_mprotect, "mprotect", memory::mprotect),
    (libc::SYS_munmap, "munmap", memory::munmap),
    (libc::SYS_brk, "brk", memory::brk),
    (libc::SYS_rt_sigaction, "rt_sigaction", process::no_signals),
    (
        libc::SYS_rt_sigprocmask,
        "rt_sigprocmask",
        process::no_signals,
    ),
    (libc::SYS_ioctl, "ioctl", files::ioctl),
    (libc::SYS_pread64, "pread64", not_served),
    (libc::SYS_pwrite64, "pwrite64", not_served),
    (libc::SYS_readv, "readv", not_served),
    (libc::SYS_writev, "writev", files::writev),
    (libc::SYS_access, "access", not_served),
    (libc::SYS_pipe, "pipe", not_served),
    (libc::SYS_select, "select", not_served),
    (libc::SYS_sched_yield, "sched_yield", not_served),
    (libc::SYS_mremap, "mremap", not_served),
    (libc::SYS_madvise, "madvise", not_served),
    (libc::SYS_dup, "dup", not_served),
    (libc::SYS_dup2, "dup2", not_served),
    (libc::SYS_nanosleep, "nanosleep", time::nanosleep),
    (libc::SYS_getpid, "getpid", process::the_only_process),
    (libc::SYS_socket, "socket", net::socket),
    (libc::SYS_connect, "connect", net::connect),
    (libc::SYS_accept, "accept", net::accept),
    (libc::SYS_sendto, "sendto", net::sendto),
    (libc::SYS_recvfrom, "recvfrom", net::recvfrom),
    (libc::SYS_bind, "bind", net::bind),
    (libc::SYS_listen, "listen", net::listen),
    (libc::SYS_getsockname, "getsockname", net::getsockname),
    (libc::SYS_setsockopt, "setsockopt", net::setsockopt),
    (libc::SYS_clone, "clone", not_served),
    (libc::SYS_fork, "fork", not_served),
    (libc::SYS_execve, "execve", not_served),
    (libc::SYS_exit, "exit", process::exit),
    (libc::SYS_wait4, "wait4", not_served),
    (libc::SYS_kill, "kill", not_served),
    (libc::SYS_uname, "uname", process::uname),
    (libc::SYS_fcntl, "fcntl", not_served),
    (libc::SYS_getcwd, "getcwd", process::getcwd),
    (libc::SYS_chdir, "chdir", not_served),
    (libc::SYS_mkdir, "mkdir", not_served),
    (libc::SYS_unlink, "unlink", files::unlink),
    (libc::SYS_readlink, "readlink", not_served),
    (libc::SYS_gettimeofday, "gettimeofday", time::gettimeofday),
    (libc::SYS_getuid, "getuid", process::root),
    (libc::SYS_getgid, "getgid", process::root),
    (libc::SYS_setuid, "setuid", not_served),
    (libc::SYS_setgid, "setgid", not_served),
    (libc::SYS_geteuid, "geteuid", process::root),
    (libc::SYS_getegid, "getegid", process::root),
    (libc::SYS_getppid, "getppid", not_served),
    (libc::SYS_prctl, "prctl", not_served),
    (libc::SYS_arch_prctl, "arch_prctl", process::arch_prctl),
    (libc::SYS_gettid, "gettid", process::the_only_process),
    (libc::SYS_time, "time", time::time),
    (libc::SYS_futex, "futex", not_served),
    (
        libc::SYS_set_tid_address,
        "set_tid_address",
        process::the_only_process,
    ),
    (
        libc::SYS_clock_gettime,
        "clock_gettime",
        time::clock_gettime,
    ),
    (libc::SYS_clock_nanosleep, "clock_nanosleep", not_served),
    (libc::SYS_exit_group, "exit_group", process::exit),
    (libc::SYS_openat, "openat", files::openat),
    (libc::SYS_newfstatat, "newfstatat", files::newfstatat),
    (libc::SYS_unlinkat, "unlinkat", files::unlinkat),
    (
        libc::SYS_set_robust_list,
        "set_robust_list",
        process::accepted,
    ),
    (libc::SYS_pipe2, "pipe2", not_served),
    (libc::SYS_prlimit64, "prlimit64", not_served),
    (libc::SYS_getrandom, "getrandom", process::getrandom),
    (libc::SYS_statx, "statx", not_served),
    (libc::SYS_rseq, "rseq", not_served),
];

/// The table's entry for call `nr`.
fn entry(nr: u64) -> Option<&'static (c_long, &'static str, Handler)> {
    let nr = c_long::try_from(nr).ok()?;
    TABLE
        .binary_search_by_key(&nr, |(n, _, _)| *n)
        .ok()
        .map(|i| &TABLE[i])
}

/// The name of call `nr`, for the log and `--trace-syscalls`.
pub fn syscall_name(nr: u64) -> String {
    entry(nr).map_or_else(|| format!("syscall_{nr}"), |(_, name, _)| name.to_string())
}

/// A call microvm knows by name but does not serve, or does not know at all:
/// ENOSYS, and a word on stderr the first time.
fn not_served(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    if kernel.report_unknown && kernel.unknown_logged.insert(call.nr) {
        eprintln!(
            "microvm: the guest called {} (system call {}), which microvm does not serve: -ENOSYS",
            syscall_name(call.nr),
            call.nr
        );
    }
    Err(Errno::ENOSYS)
}

/// A file the guest may open: `--file HOST:GUEST[:ro]`.
#[derive(Debug, Clone)]
pub struct Grant {
    pub host: PathBuf,
    pub guest: String,
    pub read_only: bool,
}

impl Grant {
    /// Parses `HOST:GUEST` or `HOST:GUEST:ro`; the guest path must be absolute.
    pub fn parse(text: &str) -> Option<Self> {
        let (rest, read_only) = match text.strip_suffix(":ro") {
            Some(rest) => (rest, true),
            None => (text.strip_suffix(":rw").unwrap_or(text), false),
        };
        let (host, guest) = rest.split_once(':')?;
        (!host.is_empty() && guest.starts_with('/')).then(|| Grant {
            host: PathBuf::from(host),
            guest: guest.to_string(),
            read_only,
        })
    }
}

/// What one of the guest's descriptors is.
enum Descriptor {
    Stdin,
    Stdout,
    Stderr,
    File {
        file: File,
        writable: bool,
    },
    /// A TCP socket of the VMM's, lent to the guest (see `net`).
    Socket(OwnedFd),
}

/// What the vCPU loop does after a call.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Resume,
    Exit(i32),
}

/// The little kernel: the process's descriptors, heap, mappings and identity.
pub struct Kernel {
    fds: Vec<Option<Descriptor>>,
    grants: Vec<Grant>,
    brk_start: u64,
    brk: u64,
    /// mmap regions are handed out downwards from here.
    mmap_top: u64,
    mmap_ceiling: u64,
    mem_end: u64,
    trace: bool,
    unknown_logged: BTreeSet<u64>,
    /// Whether to say once per number that a call is not served (the fuzzer,
    /// which makes millions of them, does not want to be told).
    report_unknown: bool,
    /// Set by exit and exit_group: the program's status.
    exit_status: Option<i32>,
    /// When the guest first wrote a line starting "READY" to stdout.
    pub ready_ns: Option<u64>,
    pub calls: u64,
}

impl Kernel {
    pub fn new(
        grants: Vec<Grant>,
        brk_start: u64,
        mmap_top: u64,
        mem_end: u64,
        trace: bool,
    ) -> Self {
        Kernel {
            fds: vec![
                Some(Descriptor::Stdin),
                Some(Descriptor::Stdout),
                Some(Descriptor::Stderr),
            ],
            grants,
            brk_start,
            brk: brk_start,
            mmap_top,
            mmap_ceiling: mmap_top,
            mem_end,
            trace,
            unknown_logged: BTreeSet::new(),
            report_unknown: true,
            exit_status: None,
            ready_ns: None,
            calls: 0,
        }
    }

    /// Serves calls it does not know without saying so (still ENOSYS).
    pub fn quietly(mut self) -> Self {
        self.report_unknown = false;
        self
    }

    /// Serves the call in `regs` (RAX = number, then RDI, RSI, RDX, R10, R8, R9)
    /// and puts its result in RAX.
    pub fn serve(
        &mut self,
        memory: &GuestMemoryMmap,
        regs: &mut kvm_regs,
        sregs: &mut kvm_sregs,
    ) -> Next {
        self.calls += 1;
        let nr = regs.rax;
        let mut call = Call {
            nr,
            args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
            user: UserMemory::new(memory, self.mem_end),
            sregs,
        };
        let handler = match entry(nr) {
            Some((_, _, handler)) => *handler,
            None => not_served,
        };
        let value = handler(self, &mut call).unwrap_or_else(|errno| -(errno as i64));
        self.log_call(nr, &call.args, value);
        if let Some(status) = self.exit_status {
            return Next::Exit(status);
        }
        regs.rax = value as u64;
        Next::Resume
    }

    fn log_call(&self, nr: u64, args: &[u64; 6], value: i64) {
        if self.trace {
            eprintln!(
                "{}({:#x}, {:#x}, {:#x}) = {value}",
                syscall_name(nr),
                args[0],
                args[1],
                args[2]
            );
        }
    }

    fn descriptor(&mut self, fd: u64) -> Result<&mut Descriptor, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fds.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)
    }

    /// Gives `descriptor` the lowest free number, as Linux does, up to the
    /// guest's own limit: each is a descriptor of the VMM's, and a guest must not
    /// take the VMM's whole `ulimit -n`, as it would take a process's.
    fn install(&mut self, descriptor: Descriptor) -> Answer {
        let slot = match self.fds.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.fds.len() < MAX_FDS => {
                self.fds.push(None);
                self.fds.len() - 1
            }
            None => return Err(Errno::EMFILE),
        };
        self.fds[slot] = Some(descriptor);
        Ok(slot as i64)
    }
}

/// The errno of a failed host call, as the guest is to get it.
fn os_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EPERM))
}
