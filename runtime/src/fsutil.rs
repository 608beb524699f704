//! File-system helpers shared by the runtime and the labs.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// Makes the directory `path` root's alone (mode 0700), if it is not already:
/// a store's layers and containers hold the image's setuid programs, and no
/// other user of the host may reach them (Docker's are 0700 and 0710 too).
pub fn private_dir(path: &Path) -> io::Result<()> {
    if fs::metadata(path)?.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` with `mode`, through a temporary sibling file that is
/// flushed to disk and then renamed over `path`. A rename within one directory is
/// atomic, so a reader (or a crash) sees the old file or the new one, never half of
/// one, and a failure leaves no temporary file behind.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut staged = tempfile::Builder::new()
        .prefix(".staged-")
        .tempfile_in(dir)?;
    staged.write_all(bytes)?;
    // tempfile creates files 0600; the caller says who may read this one.
    fs::set_permissions(staged.path(), fs::Permissions::from_mode(mode))?;
    staged.as_file().sync_all()?;
    staged.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Like [`write_atomically`] but without flushing to disk first: for records that
/// are cheap to rebuild, where a start-up path cannot afford an fsync (several
/// milliseconds on a disk, more than starting a whole container). The rename still
/// guarantees that a reader sees the old file or the new one.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut staged = tempfile::Builder::new()
        .prefix(".staged-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    staged.write_all(bytes)?;
    staged.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The buffer [`copy_with`] is meant for: 256 KiB a system call.
pub const COPY_BUFFER: usize = 256 * 1024;

/// Copies `from` to `to` through `buffer`, filling it before each write:
/// `io::copy` reads and writes 8 KiB at a time, and under nested
/// virtualisation each system call costs 10 to 20 us.
pub fn copy_with(
    from: &mut dyn io::Read,
    to: &mut dyn Write,
    buffer: &mut [u8],
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            match from.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        to.write_all(&buffer[..filled])?;
        total += filled as u64;
    }
}

/// Opens (creating if needed) `path` and takes an exclusive `flock` on it, held
/// until the returned guard is dropped. Both stores serialise their changes this
/// way, so two `peti` commands never interleave; the kernel releases the lock
/// when a holder dies, so a killed command cannot leave it stuck.
pub fn lock_exclusive(path: &Path) -> io::Result<Flock<fs::File>> {
    lock(path, FlockArg::LockExclusive)
}

/// Like [`lock_exclusive`], but shared: any number of holders at once, while
/// no one holds it exclusively.
pub fn lock_shared(path: &Path) -> io::Result<Flock<fs::File>> {
    lock(path, FlockArg::LockShared)
}

fn lock(path: &Path, how: FlockArg) -> io::Result<Flock<fs::File>> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    Flock::lock(file, how).map_err(|(_, e)| e.into())
}

/// An exclusive `flock` on `file` if no one holds one now; `None` if someone does.
pub fn try_flock(file: fs::File) -> io::Result<Option<Flock<fs::File>>> {
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(Some(locked)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

/// The bytes of every regular file under `dir`, links not followed: the
/// content of a tree, not the blocks the file system gives it.
pub fn file_bytes_under(dir: &Path) -> io::Result<u64> {
    let mut bytes = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            bytes += file_bytes_under(&entry.path())?;
        } else if kind.is_file() {
            bytes += entry.metadata()?.len();
        }
    }
    Ok(bytes)
}

/// Copies the tree under `from` into the directory `to`, keeping each
/// entry's mode and owner: directories, regular files and symbolic links
/// (as links, never followed); device nodes, FIFOs and sockets are left out.
/// Used to fill an empty volume with what the image has at its path, as
/// Docker does the first time a volume is mounted.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, lchown};
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let meta = fs::symlink_metadata(&source)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            fs::create_dir(&target)?;
            copy_tree(&source, &target)?;
        } else if kind.is_file() {
            fs::copy(&source, &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
        } else {
            continue;
        }
        // The owner first: a chown clears setuid bits that a chmod set.
        lchown(&target, Some(meta.uid()), Some(meta.gid()))?;
        if !kind.is_symlink() {
            fs::set_permissions(&target, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    Ok(())
}

/// Whether `dir` has no entries (a missing one counts as empty).
pub fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

/// openat2(2) of `relative` under the directory `root`, as an O_PATH
/// descriptor, with `resolve`'s rules for the way there: RESOLVE_IN_ROOT
/// (`..` and absolute links stop at `root`, the kernel's answer to symlink
/// escapes), RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS...
pub fn open_beneath(
    root: std::os::fd::BorrowedFd,
    relative: &Path,
    resolve: u64,
) -> Result<std::os::fd::OwnedFd, nix::errno::Errno> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let name = std::ffi::CString::new(relative.as_os_str().as_encoded_bytes())
        .map_err(|_| nix::errno::Errno::EINVAL)?;
    // SAFETY: open_how is a plain C struct; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    if resolve & libc::RESOLVE_NO_SYMLINKS != 0 {
        // A link at the end is then opened itself, not refused.
        how.flags |= libc::O_NOFOLLOW as u64;
    }
    how.resolve = resolve;
    // SAFETY: openat2 reads `name` (NUL-terminated) and `how` (size given) only
    // during the call; both outlive it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}
