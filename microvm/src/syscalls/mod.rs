//! The system calls a direct (`--elf`) guest makes, served by the VMM: a
//! small Linux-compatible subset, enough for the lab workloads and a typical
//! static musl program.
//!
//! The guest is hostile until proven otherwise. Every pointer it passes is
//! checked to lie in user memory and read or written through vm-memory's
//! `Bytes` API, never by pointer arithmetic on host addresses; a bad one gets
//! EFAULT. A bad descriptor gets EBADF. Lengths are bounded (a call moves at
//! most [`MAX_IO`] bytes, as a short read or write). Files are reachable only
//! if granted with `--file`, and only as granted. Sockets ([`net`]) are the
//! VMM's own, on loopback only.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use kvm_bindings::{kvm_regs, kvm_sregs};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::boot::direct::USER_START;

mod net;

/// The most bytes one call reads or writes; more is a short read or write.
pub const MAX_IO: u64 = 1 << 20;
/// The most descriptors a guest may hold: Linux's default RLIMIT_NOFILE.
pub const MAX_FDS: usize = 1024;
/// The longest path a guest may pass.
const MAX_PATH: u64 = 4096;
const PAGE: u64 = 4096;

const EPERM: i64 = 1;
const ENOENT: i64 = 2;
const EINTR: i64 = 4;
const EBADF: i64 = 9;
const ENOMEM: i64 = 12;
const EACCES: i64 = 13;
const EFAULT: i64 = 14;
const EINVAL: i64 = 22;
const EMFILE: i64 = 24;
const ENOTTY: i64 = 25;
const ESPIPE: i64 = 29;
const ERANGE: i64 = 34;
const ENAMETOOLONG: i64 = 36;
const ENOSYS: i64 = 38;

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

enum Descriptor {
    Stdin,
    Stdout,
    Stderr,
    File {
        file: File,
        writable: bool,
    },
    /// A TCP socket of the VMM's, lent to the guest (see `net`).
    Socket(std::os::fd::OwnedFd),
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
        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
        let mut guest = Guest {
            memory,
            mem_end: self.mem_end,
        };
        let result = match nr {
            0 => self.read(&mut guest, args),
            1 => self.write(&mut guest, args[0], args[1], args[2]),
            2 => self.open(&mut guest, args[0], args[1]),
            3 => self.close(args[0]),
            5 => self.fstat(&mut guest, args[0], args[1]),
            8 => self.lseek(args),
            9 => self.mmap(args),
            10 => guest.check(args[0], args[1]).map(|()| 0),
            11 => self.munmap(&guest, args[0], args[1]),
            12 => Ok(self.set_brk(&guest, args[0])),
            13 | 14 => Ok(0), // rt_sigaction, rt_sigprocmask: accepted, no signals here
            16 => Err(ENOTTY), // ioctl: no terminal (TIOCGWINSZ and all)
            20 => self.writev(&mut guest, args),
            35 => self.nanosleep(&guest, args[0]),
            39 | 186 => Ok(1), // getpid, gettid: the only process of its VM
            41 => self.socket(args),
            42 => self.connect(args, &guest),
            43 => self.accept(args),
            44 => self.sendto(&mut guest, args),
            45 => self.recvfrom(&mut guest, args),
            49 => self.bind(args, &guest),
            50 => self.listen(args),
            51 => self.getsockname(args, &guest),
            54 => self.setsockopt(args, &guest),
            60 | 231 => {
                self.log_call(nr, &args, 0);
                return Next::Exit(args[0] as i32);
            }
            63 => self.uname(&guest, args[0]),
            79 => getcwd(&guest, args[0], args[1]),
            87 => self.unlink(&guest, args[0]),
            96 => gettimeofday(&guest, args[0], args[1]),
            // getuid, getgid, geteuid, getegid: root, as the only process of its
            // VM (its calls are served with what microvm itself was granted).
            102 | 104 | 107 | 108 => Ok(0),
            158 => self.arch_prctl(&guest, sregs, args[0], args[1]),
            201 => time(&guest, args[0]),
            218 => Ok(1), // set_tid_address: our thread id
            273 => Ok(0), // set_robust_list: accepted; one thread, nothing to clean up
            228 => self.clock_gettime(&guest, args[0], args[1]),
            // openat: only absolute paths are granted, so the directory
            // descriptor does not matter; a relative path names nothing granted.
            257 => self.open(&mut guest, args[1], args[2]),
            262 => self.newfstatat(&mut guest, args),
            263 => self.unlink(&guest, args[1]),
            318 => self.getrandom(&guest, args[0], args[1]),
            other => {
                if self.report_unknown && self.unknown_logged.insert(other) {
                    eprintln!(
                        "microvm: the guest called {} (system call {other}), which microvm does not serve: -ENOSYS",
                        syscall_name(other)
                    );
                }
                Err(ENOSYS)
            }
        };
        let value = result.unwrap_or_else(|errno| -errno);
        self.log_call(nr, &args, value);
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

    fn descriptor(&mut self, fd: u64) -> Result<&mut Descriptor, i64> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fds.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(EBADF)
    }

    fn read(&mut self, guest: &mut Guest, [fd, buf, count, ..]: [u64; 6]) -> Result<i64, i64> {
        let count = count.min(MAX_IO);
        guest.check(buf, count)?;
        let mut data = vec![0u8; count as usize];
        let n = match self.descriptor(fd)? {
            Descriptor::Stdin => std::io::stdin().read(&mut data).map_err(os_errno)?,
            Descriptor::File { file, .. } => file.read(&mut data).map_err(os_errno)?,
            Descriptor::Socket(socket) => Kernel::socket_io(socket, &mut data, false)?,
            _ => return Err(EBADF),
        };
        guest.write(buf, &data[..n])?;
        Ok(n as i64)
    }

    fn write(&mut self, guest: &mut Guest, fd: u64, buf: u64, count: u64) -> Result<i64, i64> {
        let count = count.min(MAX_IO);
        let data = guest.read(buf, count)?;
        if fd == 1 && self.ready_ns.is_none() && data.starts_with(b"READY") {
            self.ready_ns = Some(crate::timeline::monotonic_ns());
        }
        let mut data = data;
        let written = match self.descriptor(fd)? {
            Descriptor::Stdout => write_once(1, &data)?,
            Descriptor::Stderr => write_once(2, &data)?,
            Descriptor::File {
                file,
                writable: true,
            } => file.write(&data).map_err(os_errno)?,
            Descriptor::Socket(socket) => Kernel::socket_io(socket, &mut data, true)?,
            _ => return Err(EBADF),
        };
        Ok(written as i64)
    }

    fn writev(&mut self, guest: &mut Guest, [fd, iov, count, ..]: [u64; 6]) -> Result<i64, i64> {
        if count > 1024 {
            return Err(EINVAL);
        }
        let mut total = 0i64;
        for i in 0..count {
            let entry = iov.checked_add(i * 16).ok_or(EFAULT)?;
            let base = guest.read_u64(entry)?;
            let len = guest.read_u64(entry + 8)?;
            if len == 0 {
                continue;
            }
            let room = MAX_IO.saturating_sub(total as u64);
            if room == 0 {
                break;
            }
            total += self.write(guest, fd, base, len.min(room))?;
        }
        Ok(total)
    }

    fn grant_for(&self, path: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.guest == path)
    }

    fn open(&mut self, guest: &mut Guest, path: u64, flags: u64) -> Result<i64, i64> {
        let path = guest.read_path(path)?;
        const O_ACCMODE: u64 = 3;
        const O_CREAT: u64 = 0o100;
        const O_TRUNC: u64 = 0o1000;
        const O_APPEND: u64 = 0o2000;
        let grant = self.grant_for(&path).ok_or(ENOENT)?.clone();
        let wants_write = flags & O_ACCMODE != 0 || flags & (O_CREAT | O_TRUNC | O_APPEND) != 0;
        if wants_write && grant.read_only {
            return Err(EACCES);
        }
        let file = std::fs::OpenOptions::new()
            .read(flags & O_ACCMODE != 1)
            .write(flags & O_ACCMODE != 0)
            .append(flags & O_APPEND != 0)
            .truncate(flags & O_TRUNC != 0)
            .create(flags & O_CREAT != 0)
            .open(&grant.host)
            .map_err(os_errno)?;
        self.install(Descriptor::File {
            file,
            writable: flags & O_ACCMODE != 0,
        })
    }

    /// Gives `descriptor` the lowest free number, as Linux does, up to the
    /// guest's own limit: each is a descriptor of the VMM's, and a guest must not
    /// take the VMM's whole `ulimit -n`, as it would take a process's.
    fn install(&mut self, descriptor: Descriptor) -> Result<i64, i64> {
        let slot = match self.fds.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.fds.len() < MAX_FDS => {
                self.fds.push(None);
                self.fds.len() - 1
            }
            None => return Err(EMFILE),
        };
        self.fds[slot] = Some(descriptor);
        Ok(slot as i64)
    }

    fn close(&mut self, fd: u64) -> Result<i64, i64> {
        self.descriptor(fd)?;
        self.fds[fd as usize] = None;
        Ok(0)
    }

    fn lseek(&mut self, [fd, offset, whence, ..]: [u64; 6]) -> Result<i64, i64> {
        let target = match whence {
            0 => SeekFrom::Start(offset),
            1 => SeekFrom::Current(offset as i64),
            2 => SeekFrom::End(offset as i64),
            _ => return Err(EINVAL),
        };
        match self.descriptor(fd)? {
            Descriptor::File { file, .. } => file.seek(target).map(|p| p as i64).map_err(os_errno),
            _ => Err(ESPIPE),
        }
    }

    fn fstat(&mut self, guest: &mut Guest, fd: u64, statbuf: u64) -> Result<i64, i64> {
        let stat = match self.descriptor(fd)? {
            Descriptor::File { file, .. } => stat_bytes(&file.metadata().map_err(os_errno)?),
            Descriptor::Socket(_) => socket_stat(),
            // A character device, as a terminal or pipe would be.
            _ => character_device_stat(),
        };
        guest.write(statbuf, &stat)?;
        Ok(0)
    }

    fn newfstatat(
        &mut self,
        guest: &mut Guest,
        [dirfd, path, statbuf, flags, ..]: [u64; 6],
    ) -> Result<i64, i64> {
        const AT_EMPTY_PATH: u64 = 0x1000;
        let name = guest.read_path(path)?;
        if name.is_empty() && flags & AT_EMPTY_PATH != 0 {
            return self.fstat(guest, dirfd, statbuf);
        }
        let grant = self.grant_for(&name).ok_or(ENOENT)?;
        let metadata = std::fs::metadata(&grant.host).map_err(os_errno)?;
        guest.write(statbuf, &stat_bytes(&metadata))?;
        Ok(0)
    }

    fn unlink(&mut self, guest: &Guest, path: u64) -> Result<i64, i64> {
        let path = guest.read_path(path)?;
        let grant = self.grant_for(&path).ok_or(ENOENT)?;
        if grant.read_only {
            return Err(EACCES);
        }
        std::fs::remove_file(&grant.host).map_err(os_errno)?;
        Ok(0)
    }

    /// Anonymous private mappings only, handed out downwards from below the
    /// stack. Fresh guest memory reads as zero; memory given back with munmap
    /// is dropped from the host (MADV_DONTNEED), so it reads as zero again.
    /// The address hint is ignored, as Linux may; MAP_FIXED is refused.
    fn mmap(&mut self, [_addr, len, _prot, flags, fd, _offset]: [u64; 6]) -> Result<i64, i64> {
        const MAP_PRIVATE: u64 = 0x02;
        const MAP_FIXED: u64 = 0x10;
        const MAP_ANONYMOUS: u64 = 0x20;
        if flags & MAP_ANONYMOUS == 0 || fd as i64 != -1 {
            return Err(EACCES); // no file mappings here
        }
        if flags & MAP_PRIVATE == 0 || flags & MAP_FIXED != 0 || len == 0 {
            return Err(EINVAL);
        }
        let len = len.checked_next_multiple_of(PAGE).ok_or(ENOMEM)?;
        let start = self.mmap_top.checked_sub(len).ok_or(ENOMEM)?;
        if start < self.brk.next_multiple_of(PAGE) + PAGE {
            return Err(ENOMEM);
        }
        self.mmap_top = start;
        Ok(start as i64)
    }

    fn munmap(&mut self, guest: &Guest, addr: u64, len: u64) -> Result<i64, i64> {
        if addr % PAGE != 0 || len == 0 {
            return Err(EINVAL);
        }
        let len = len.checked_next_multiple_of(PAGE).ok_or(EINVAL)?;
        let end = addr.checked_add(len).ok_or(EINVAL)?;
        if addr < self.mmap_top || end > self.mmap_ceiling {
            return Ok(0); // not ours to give back; Linux ignores unmapped ranges too
        }
        guest.discard(addr, len);
        if addr == self.mmap_top {
            self.mmap_top = end;
        }
        Ok(0)
    }

    fn set_brk(&mut self, guest: &Guest, wanted: u64) -> i64 {
        let limit = self.mmap_top.saturating_sub(PAGE);
        if wanted >= self.brk_start && wanted <= limit {
            if wanted < self.brk {
                guest.discard(
                    wanted.next_multiple_of(PAGE),
                    self.brk.saturating_sub(wanted.next_multiple_of(PAGE)),
                );
            }
            self.brk = wanted;
        }
        self.brk as i64
    }

    fn arch_prctl(
        &mut self,
        guest: &Guest,
        sregs: &mut kvm_sregs,
        code: u64,
        addr: u64,
    ) -> Result<i64, i64> {
        const ARCH_SET_FS: u64 = 0x1002;
        const ARCH_GET_FS: u64 = 0x1003;
        match code {
            ARCH_SET_FS => {
                sregs.fs.base = addr;
                Ok(0)
            }
            ARCH_GET_FS => guest.write(addr, &sregs.fs.base.to_le_bytes()).map(|()| 0),
            _ => Err(EINVAL),
        }
    }

    fn clock_gettime(&mut self, guest: &Guest, clock: u64, timespec: u64) -> Result<i64, i64> {
        if clock > 11 {
            return Err(EINVAL);
        }
        let now = nix::time::clock_gettime(nix::time::ClockId::from_raw(clock as libc::clockid_t))
            .map_err(|e| e as i64)?;
        let mut bytes = (now.tv_sec() as i64).to_le_bytes().to_vec();
        bytes.extend((now.tv_nsec() as i64).to_le_bytes());
        guest.write(timespec, &bytes)?;
        Ok(0)
    }

    fn nanosleep(&mut self, guest: &Guest, request: u64) -> Result<i64, i64> {
        let seconds = guest.read_u64(request)? as i64;
        let nanos = guest.read_u64(request + 8)? as i64;
        if seconds < 0 || !(0..1_000_000_000).contains(&nanos) {
            return Err(EINVAL);
        }
        // Not std::thread::sleep, which sleeps again after a signal: the signal
        // that interrupts this sleep is the VMM's own kick (see `stop`), sent to
        // end the VM at --timeout, and a guest asleep for an hour must not hold
        // the VM up until it wakes.
        let wanted = libc::timespec {
            tv_sec: seconds,
            tv_nsec: nanos,
        };
        // SAFETY: nanosleep reads `wanted` and writes nothing (no remainder
        // pointer); `wanted` outlives the call.
        if unsafe { libc::nanosleep(&wanted, std::ptr::null_mut()) } != 0 {
            return Err(EINTR);
        }
        Ok(0)
    }

    /// The VM's own identity, not the host's: there is no guest kernel, so this
    /// VMM is the only "kernel" the program talks to.
    fn uname(&mut self, guest: &Guest, buf: u64) -> Result<i64, i64> {
        let fields = [
            "Linux",
            "microvm",
            "microvm-direct",
            "#1 no guest kernel: system calls served by the microvm VMM",
            "x86_64",
            "(none)",
        ];
        let mut bytes = vec![0u8; 65 * fields.len()];
        for (i, field) in fields.iter().enumerate() {
            bytes[i * 65..i * 65 + field.len()].copy_from_slice(field.as_bytes());
        }
        guest.write(buf, &bytes)?;
        Ok(0)
    }

    fn getrandom(&mut self, guest: &Guest, buf: u64, len: u64) -> Result<i64, i64> {
        let len = len.min(MAX_IO);
        guest.check(buf, len)?;
        let mut bytes = vec![0u8; len as usize];
        let mut got = 0;
        while got < bytes.len() {
            match nix::errno::Errno::result(
                // SAFETY: the pointer and length describe `bytes[got..]`.
                unsafe { libc::getrandom(bytes[got..].as_mut_ptr().cast(), bytes.len() - got, 0) },
            ) {
                Ok(n) => got += n as usize,
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e as i64),
            }
        }
        guest.write(buf, &bytes)?;
        Ok(len as i64)
    }
}

/// One write(2) to the VMM's own stdout or stderr, as the guest's. Not
/// `write_all`, which retries when a signal interrupts it: the one signal here
/// is the stopper's kick at `--timeout`, and a guest writing to a pipe that
/// nobody reads would block the VMM for ever. A short write, or EINTR, goes to
/// the guest as Linux would give it; the vCPU loop then sees why it stopped.
fn write_once(fd: i32, data: &[u8]) -> Result<usize, i64> {
    // SAFETY: `data` is a live buffer of the length passed.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    nix::errno::Errno::result(n)
        .map(|n| n as usize)
        .map_err(|e| e as i64)
}

/// getcwd(2): the guest's working directory is always `/`. Linux's system call
/// returns the length written, NUL included.
fn getcwd(guest: &Guest, buf: u64, size: u64) -> Result<i64, i64> {
    if size < 2 {
        return Err(ERANGE);
    }
    guest.write(buf, b"/\0")?;
    Ok(2)
}

/// gettimeofday(2): the host's wall clock, as seconds and microseconds. The
/// obsolete timezone, if asked for, is UTC with no daylight saving.
fn gettimeofday(guest: &Guest, timeval: u64, timezone: u64) -> Result<i64, i64> {
    let now = wall_clock()?;
    if timeval != 0 {
        let mut bytes = now.tv_sec().to_le_bytes().to_vec();
        bytes.extend((now.tv_nsec() / 1000).to_le_bytes());
        guest.write(timeval, &bytes)?;
    }
    if timezone != 0 {
        guest.write(timezone, &[0; 8])?;
    }
    Ok(0)
}

/// time(2): the host's wall clock in seconds, also stored at `out` if given.
fn time(guest: &Guest, out: u64) -> Result<i64, i64> {
    let seconds = wall_clock()?.tv_sec();
    if out != 0 {
        guest.write(out, &seconds.to_le_bytes())?;
    }
    Ok(seconds)
}

fn wall_clock() -> Result<nix::sys::time::TimeSpec, i64> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).map_err(|e| e as i64)
}

/// The guest's memory as a system call sees it: only user memory, only
/// through vm-memory, every range checked.
struct Guest<'a> {
    memory: &'a GuestMemoryMmap,
    mem_end: u64,
}

impl Guest<'_> {
    /// EFAULT unless `[addr, addr + len)` is all user memory.
    fn check(&self, addr: u64, len: u64) -> Result<(), i64> {
        let end = addr.checked_add(len).ok_or(EFAULT)?;
        if addr < USER_START || end > self.mem_end {
            return Err(EFAULT);
        }
        Ok(())
    }

    fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, i64> {
        self.check(addr, len)?;
        let mut data = vec![0u8; len as usize];
        self.memory
            .read_slice(&mut data, GuestAddress(addr))
            .map_err(|_| EFAULT)?;
        Ok(data)
    }

    fn read_u64(&self, addr: u64) -> Result<u64, i64> {
        let bytes = self.read(addr, 8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| EFAULT)?))
    }

    fn write(&self, addr: u64, data: &[u8]) -> Result<(), i64> {
        self.check(addr, data.len() as u64)?;
        self.memory
            .write_slice(data, GuestAddress(addr))
            .map_err(|_| EFAULT)
    }

    /// A NUL-terminated path of at most MAX_PATH bytes.
    fn read_path(&self, addr: u64) -> Result<String, i64> {
        let mut path = Vec::new();
        for i in 0..MAX_PATH {
            let at = addr.checked_add(i).ok_or(EFAULT)?;
            self.check(at, 1)?;
            let byte: u8 = self.memory.read_obj(GuestAddress(at)).map_err(|_| EFAULT)?;
            if byte == 0 {
                return String::from_utf8(path).map_err(|_| ENOENT);
            }
            path.push(byte);
        }
        Err(ENAMETOOLONG)
    }

    /// Gives `[addr, addr + len)` back to the host: it reads as zero afterwards.
    fn discard(&self, addr: u64, len: u64) {
        if len == 0 || self.check(addr, len).is_err() {
            return;
        }
        if let Ok(host) = self.memory.get_host_address(GuestAddress(addr)) {
            // SAFETY: the range was checked to lie in guest RAM, which is one
            // mapping owned by `memory`; MADV_DONTNEED on private anonymous
            // memory only zeroes it.
            unsafe { libc::madvise(host.cast(), len as usize, libc::MADV_DONTNEED) };
        }
    }
}

fn os_errno(e: std::io::Error) -> i64 {
    i64::from(e.raw_os_error().unwrap_or(EPERM as i32))
}

/// `struct stat` as x86-64 Linux lays it out (144 bytes).
fn stat_bytes(m: &std::fs::Metadata) -> Vec<u8> {
    let mut s = vec![0u8; 144];
    let mut put = |offset: usize, value: u64, width: usize| {
        s[offset..offset + width].copy_from_slice(&value.to_le_bytes()[..width]);
    };
    put(0, m.dev(), 8);
    put(8, m.ino(), 8);
    put(16, m.nlink(), 8);
    put(24, u64::from(m.mode()), 4);
    put(28, u64::from(m.uid()), 4);
    put(32, u64::from(m.gid()), 4);
    put(40, m.rdev(), 8);
    put(48, m.size(), 8);
    put(56, m.blksize(), 8);
    put(64, m.blocks(), 8);
    put(72, m.atime() as u64, 8);
    put(80, m.atime_nsec() as u64, 8);
    put(88, m.mtime() as u64, 8);
    put(96, m.mtime_nsec() as u64, 8);
    put(104, m.ctime() as u64, 8);
    put(112, m.ctime_nsec() as u64, 8);
    s
}

fn socket_stat() -> Vec<u8> {
    let mut s = vec![0u8; 144];
    s[24..28].copy_from_slice(&0o140777u32.to_le_bytes()); // S_IFSOCK
    s
}

fn character_device_stat() -> Vec<u8> {
    let mut s = vec![0u8; 144];
    s[24..28].copy_from_slice(&0o020620u32.to_le_bytes()); // S_IFCHR | rw--w----
    s[56..64].copy_from_slice(&1024u64.to_le_bytes());
    s
}

/// The names of x86-64 system calls, for the log and `--trace-syscalls`.
pub fn syscall_name(nr: u64) -> String {
    const NAMES: &[(u64, &str)] = &[
        (0, "read"),
        (1, "write"),
        (2, "open"),
        (3, "close"),
        (4, "stat"),
        (5, "fstat"),
        (6, "lstat"),
        (7, "poll"),
        (8, "lseek"),
        (9, "mmap"),
        (10, "mprotect"),
        (11, "munmap"),
        (12, "brk"),
        (13, "rt_sigaction"),
        (14, "rt_sigprocmask"),
        (16, "ioctl"),
        (17, "pread64"),
        (18, "pwrite64"),
        (19, "readv"),
        (20, "writev"),
        (21, "access"),
        (22, "pipe"),
        (23, "select"),
        (24, "sched_yield"),
        (25, "mremap"),
        (28, "madvise"),
        (32, "dup"),
        (33, "dup2"),
        (35, "nanosleep"),
        (39, "getpid"),
        (41, "socket"),
        (42, "connect"),
        (43, "accept"),
        (44, "sendto"),
        (45, "recvfrom"),
        (49, "bind"),
        (50, "listen"),
        (54, "setsockopt"),
        (56, "clone"),
        (57, "fork"),
        (59, "execve"),
        (60, "exit"),
        (61, "wait4"),
        (62, "kill"),
        (63, "uname"),
        (72, "fcntl"),
        (79, "getcwd"),
        (80, "chdir"),
        (83, "mkdir"),
        (87, "unlink"),
        (89, "readlink"),
        (96, "gettimeofday"),
        (102, "getuid"),
        (104, "getgid"),
        (105, "setuid"),
        (106, "setgid"),
        (107, "geteuid"),
        (108, "getegid"),
        (110, "getppid"),
        (157, "prctl"),
        (158, "arch_prctl"),
        (186, "gettid"),
        (201, "time"),
        (202, "futex"),
        (218, "set_tid_address"),
        (228, "clock_gettime"),
        (230, "clock_nanosleep"),
        (231, "exit_group"),
        (257, "openat"),
        (262, "newfstatat"),
        (263, "unlinkat"),
        (273, "set_robust_list"),
        (293, "pipe2"),
        (302, "prlimit64"),
        (318, "getrandom"),
        (332, "statx"),
        (334, "rseq"),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == nr)
        .map_or_else(|| format!("syscall_{nr}"), |(_, name)| name.to_string())
}
