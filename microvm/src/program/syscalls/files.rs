//! Descriptors and files: the standard streams are the VMM's own, and a file
//! is reachable only if it was granted (`--file HOST:GUEST[:ro]`), by its exact
//! guest path, and only as granted: a read-only grant refuses every way of
//! writing (EACCES), and a path not granted does not exist (ENOENT).

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;

use super::{Answer, Call, Descriptor, Grant, Kernel, MAX_IO, UserMemory, net, os_errno};

/// The most entries one writev may pass (Linux's UIO_MAXIOV).
const MAX_IOV: u64 = 1024;

/// read(2): at most `count` bytes (and at most MAX_IO) from `fd` into the
/// guest's buffer at `buf`. (recv, on a socket, is this too.)
pub(super) fn read(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, buf, count, ..] = call.args;
    let user = &call.user;
    let count = count.min(MAX_IO);
    user.check(buf, count)?;
    let mut data = vec![0u8; count as usize];
    let n = match kernel.descriptor(fd)? {
        Descriptor::Stdin => std::io::stdin().read(&mut data).map_err(os_errno)?,
        Descriptor::File { file, .. } => file.read(&mut data).map_err(os_errno)?,
        Descriptor::Socket(socket) => net::socket_io(socket, &mut data, false)?,
        _ => return Err(Errno::EBADF),
    };
    user.write(buf, &data[..n])?;
    Ok(n as i64)
}

pub(super) fn write(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, buf, count, ..] = call.args;
    write_from(kernel, &call.user, fd, buf, count)
}

/// Writes at most `count` bytes (and at most MAX_IO) of the guest's buffer at
/// `buf` to `fd`.
pub(super) fn write_from(
    kernel: &mut Kernel,
    user: &UserMemory<'_>,
    fd: u64,
    buf: u64,
    count: u64,
) -> Answer {
    let mut data = user.read(buf, count.min(MAX_IO))?;
    if fd == 1 && kernel.ready_ns.is_none() && data.starts_with(b"READY") {
        kernel.ready_ns = Some(crate::timeline::monotonic_ns());
    }
    let written = match kernel.descriptor(fd)? {
        Descriptor::Stdout => write_once(1, &data)?,
        Descriptor::Stderr => write_once(2, &data)?,
        Descriptor::File {
            file,
            writable: true,
        } => file.write(&data).map_err(os_errno)?,
        Descriptor::Socket(socket) => net::socket_io(socket, &mut data, true)?,
        _ => return Err(Errno::EBADF),
    };
    Ok(written as i64)
}

/// writev(2): each entry of the guest's `struct iovec` array in turn, at most
/// MAX_IO bytes in all.
pub(super) fn writev(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, iov, count, ..] = call.args;
    if count > MAX_IOV {
        return Err(Errno::EINVAL);
    }
    let mut total = 0u64;
    for i in 0..count {
        let entry = iov.checked_add(i * 16).ok_or(Errno::EFAULT)?;
        let base = call.user.read_u64(entry)?;
        let len = call
            .user
            .read_u64(entry.checked_add(8).ok_or(Errno::EFAULT)?)?;
        if len == 0 {
            continue;
        }
        let room = MAX_IO.saturating_sub(total);
        if room == 0 {
            break;
        }
        total += write_from(kernel, &call.user, fd, base, len.min(room))? as u64;
    }
    Ok(total as i64)
}

/// One write(2) to the VMM's own stdout or stderr, as the guest's. Not
/// `write_all`, which retries when a signal interrupts it: the one signal here
/// is the stopper's kick at `--timeout`, and a guest writing to a pipe that
/// nobody reads would block the VMM for ever. A short write, or EINTR, goes to
/// the guest as Linux would give it; the vCPU loop then sees why it stopped.
fn write_once(fd: i32, data: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `data` is a live buffer of the length passed.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    Errno::result(n).map(|n| n as usize)
}

/// ioctl(2): there is no terminal (TIOCGWINSZ and all).
pub(super) fn ioctl(_: &mut Kernel, _: &mut Call<'_>) -> Answer {
    Err(Errno::ENOTTY)
}

pub(super) fn open(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [path, flags, ..] = call.args;
    open_granted(kernel, &call.user, path, flags)
}

/// openat(2): only absolute paths are granted, so the directory descriptor
/// does not matter; a relative path names nothing granted.
pub(super) fn openat(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [_dirfd, path, flags, ..] = call.args;
    open_granted(kernel, &call.user, path, flags)
}

fn open_granted(kernel: &mut Kernel, user: &UserMemory<'_>, path: u64, flags: u64) -> Answer {
    let path = user.read_path(path)?;
    let flags = flags as i32;
    let access = flags & libc::O_ACCMODE;
    let grant = kernel.grant_for(&path).ok_or(Errno::ENOENT)?.clone();
    let wants_write =
        access != libc::O_RDONLY || flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) != 0;
    if wants_write && grant.read_only {
        return Err(Errno::EACCES);
    }
    let file = std::fs::OpenOptions::new()
        .read(access != libc::O_WRONLY)
        .write(access != libc::O_RDONLY)
        .append(flags & libc::O_APPEND != 0)
        .truncate(flags & libc::O_TRUNC != 0)
        .create(flags & libc::O_CREAT != 0)
        .open(&grant.host)
        .map_err(os_errno)?;
    kernel.install(Descriptor::File {
        file,
        writable: access != libc::O_RDONLY,
    })
}

pub(super) fn close(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let fd = call.args[0];
    kernel.descriptor(fd)?;
    kernel.fds[fd as usize] = None;
    Ok(0)
}

pub(super) fn lseek(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, offset, whence, ..] = call.args;
    let target = match whence as i32 {
        libc::SEEK_SET => SeekFrom::Start(offset),
        libc::SEEK_CUR => SeekFrom::Current(offset as i64),
        libc::SEEK_END => SeekFrom::End(offset as i64),
        _ => return Err(Errno::EINVAL),
    };
    match kernel.descriptor(fd)? {
        Descriptor::File { file, .. } => file.seek(target).map(|p| p as i64).map_err(os_errno),
        _ => Err(Errno::ESPIPE),
    }
}

pub(super) fn fstat(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, statbuf, ..] = call.args;
    stat_descriptor(kernel, &call.user, fd, statbuf)
}

fn stat_descriptor(kernel: &mut Kernel, user: &UserMemory<'_>, fd: u64, statbuf: u64) -> Answer {
    let stat = match kernel.descriptor(fd)? {
        Descriptor::File { file, .. } => stat_bytes(&file.metadata().map_err(os_errno)?),
        Descriptor::Socket(_) => socket_stat(),
        // A character device, as a terminal or pipe would be.
        _ => character_device_stat(),
    };
    user.write(statbuf, &stat)?;
    Ok(0)
}

/// newfstatat(2): a granted path, or with AT_EMPTY_PATH and "" the descriptor.
pub(super) fn newfstatat(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [dirfd, path, statbuf, flags, ..] = call.args;
    let name = call.user.read_path(path)?;
    if name.is_empty() && flags as i32 & libc::AT_EMPTY_PATH != 0 {
        return stat_descriptor(kernel, &call.user, dirfd, statbuf);
    }
    let grant = kernel.grant_for(&name).ok_or(Errno::ENOENT)?;
    let metadata = std::fs::metadata(&grant.host).map_err(os_errno)?;
    call.user.write(statbuf, &stat_bytes(&metadata))?;
    Ok(0)
}

pub(super) fn unlink(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    unlink_granted(kernel, &call.user, call.args[0])
}

pub(super) fn unlinkat(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    unlink_granted(kernel, &call.user, call.args[1])
}

fn unlink_granted(kernel: &mut Kernel, user: &UserMemory<'_>, path: u64) -> Answer {
    let path = user.read_path(path)?;
    let grant = kernel.grant_for(&path).ok_or(Errno::ENOENT)?;
    if grant.read_only {
        return Err(Errno::EACCES);
    }
    std::fs::remove_file(&grant.host).map_err(os_errno)?;
    Ok(0)
}

impl Kernel {
    fn grant_for(&self, path: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.guest == path)
    }
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
    s[24..28].copy_from_slice(&(libc::S_IFSOCK | 0o777).to_le_bytes());
    s
}

fn character_device_stat() -> Vec<u8> {
    let mut s = vec![0u8; 144];
    s[24..28].copy_from_slice(&(libc::S_IFCHR | 0o620).to_le_bytes()); // rw--w----
    s[56..64].copy_from_slice(&1024u64.to_le_bytes());
    s
}
