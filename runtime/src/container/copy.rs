//! `peti cp`: files between a container's file system and the host, both
//! ways, as tar streams (Docker's daemon does the same).
//!
//! What is in a container is the container's: a path there may lead
//! through a symbolic link the container made a moment ago, pointing at the
//! host's `/etc`. So every step on the container's side runs in a child
//! process that has `chroot`ed into the container's root first: there, every
//! link resolves inside the container, whatever it says. For a running
//! container that root is its first process's (`/proc/PID/root`, with the
//! container's own mounts, volumes too); for one that is not running, the
//! child mounts its overlay in a mount namespace of its own, which goes with
//! the child. The host's side is the user's: there peti follows Docker's
//! rules for where a copy lands.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// The container's root, as the child enters it.
pub enum Root<'a> {
    /// A running container: its first process's root.
    Process(i32),
    /// A container that is not running: its overlay, mounted by the child
    /// under `scratch`.
    Overlay {
        lower: &'a [PathBuf],
        upper: &'a Path,
        work: &'a Path,
        scratch: PathBuf,
    },
    /// The image's layers and the upper directory, read-only, with the
    /// upper directory as the topmost lower layer (whiteouts and all): safe
    /// while the container runs, and without its volumes or /proc, as
    /// `export` wants it.
    Layers {
        lower: &'a [PathBuf],
        upper: &'a Path,
        scratch: PathBuf,
    },
}

/// Why a copy failed, in Docker's words where Docker has some.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("Could not find the file {0} in container {1}")]
    NotInContainer(String, String),
    #[error("{0}: no such file or directory")]
    NotOnHost(PathBuf),
    #[error("cannot copy a directory to a file: {0}")]
    DirectoryToFile(PathBuf),
    #[error("destination directory {0} does not exist")]
    NoDestination(PathBuf),
    #[error("copying: {0}")]
    Io(#[from] io::Error),
}

/// What kind of thing was tarred: the first byte the child sends.
const IS_DIR: u8 = b'd';
const IS_FILE: u8 = b'f';
const MISSING: u8 = b'-';

/// Copies `src` (a path in the container) to the host: into the tar stream
/// `to_stream` if given (`peti cp C:SRC -`), else to `dest` by Docker's
/// rules. `name` is the container's, for messages.
pub fn from_container(
    root: &Root,
    name: &str,
    src: &Path,
    dest: &Path,
    to_stream: Option<&mut dyn Write>,
) -> Result<u64, CopyError> {
    let src = in_container(src);
    let (mut reader, child) = in_child(root, |out| tar_in_root(&src, out))?;
    let mut kind = [0u8; 1];
    reader.read_exact(&mut kind).map_err(|_| child_failed())?;
    if kind[0] == MISSING {
        wait(child)?;
        return Err(CopyError::NotInContainer(
            src.display().to_string(),
            name.to_string(),
        ));
    }
    let copied = match to_stream {
        Some(out) => io::copy(&mut reader, out)?,
        None => land_on_host(reader, kind[0] == IS_DIR, &src, dest)?,
    };
    wait(child)?;
    Ok(copied)
}

/// Copies the host's `src` (or the tar stream `from_stream`, for
/// `peti cp - C:DEST`) into the container at `dest`, by Docker's rules.
pub fn to_container(
    root: &Root,
    src: &Path,
    dest: &Path,
    from_stream: Option<&mut dyn Read>,
) -> Result<u64, CopyError> {
    let dest = in_container(dest);
    let (kind, tar) = match from_stream {
        Some(stream) => {
            let mut bytes = Vec::new();
            stream.read_to_end(&mut bytes)?;
            (None, bytes)
        }
        None => {
            let meta =
                fs::symlink_metadata(src).map_err(|_| CopyError::NotOnHost(src.to_path_buf()))?;
            (Some(meta.is_dir()), tar_of(src, &top_name(src))?)
        }
    };
    let bytes = tar.len() as u64;
    let dest_for_child = dest.clone();
    let src_name = top_name(src);
    let (mut reader, child) = in_child(root, move |out| {
        // The answer says what went wrong; the parent words it.
        let result = untar_in_root(&mut tar.as_slice(), kind, &src_name, &dest_for_child);
        out.write_all(match &result {
            Ok(()) => b"ok",
            Err(CopyError::DirectoryToFile(_)) => b"df",
            Err(CopyError::NoDestination(_)) => b"nd",
            Err(e) => {
                eprintln!("peti: error: cp: {e}");
                b"er"
            }
        })
    })?;
    let mut answer = String::new();
    reader.read_to_string(&mut answer)?;
    let _ = wait(child);
    match answer.as_str() {
        "ok" => Ok(bytes),
        "df" => Err(CopyError::DirectoryToFile(dest)),
        "nd" => Err(CopyError::NoDestination(
            dest.parent().map_or(dest.clone(), Path::to_path_buf),
        )),
        _ => Err(child_failed()),
    }
}

/// `peti export`: the container's whole file system (its layers merged,
/// no volume, no /proc) as a tar, to `out`.
pub fn export(root: &Root, out: &mut dyn Write) -> Result<(), CopyError> {
    let (mut reader, child) = in_child(root, |pipe| {
        let mut tar = tar::Builder::new(io::BufWriter::new(pipe));
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        tar.append_dir_all(".", "/")?;
        tar.into_inner()?.flush()
    })?;
    io::copy(&mut reader, out)?;
    wait(child)
}

/// A path in the container, made absolute (`docker cp c:etc/hosts` is
/// `/etc/hosts`), with a trailing `/.` kept: it means "the contents".
fn in_container(path: &Path) -> PathBuf {
    Path::new("/").join(path)
}

/// The name a copy of `path` has: its last component (`/etc/` is `etc`),
/// or `.` for `DIR/.`, whose contents are copied.
fn top_name(path: &Path) -> String {
    if path.as_os_str().as_encoded_bytes().ends_with(b"/.") {
        return ".".to_string();
    }
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .next_back()
        .unwrap_or_else(|| ".".to_string())
}

/// A tar of `path` (a file, or a directory and all it holds), its top entry
/// named `name`, links stored as links.
fn tar_of(path: &Path, name: &str) -> io::Result<Vec<u8>> {
    tar_into(path, name, Vec::new())
}

fn tar_into<W: Write>(path: &Path, name: &str, out: W) -> io::Result<W> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    if fs::symlink_metadata(path)?.is_dir() {
        tar.append_dir_all(name, path)?;
    } else {
        tar.append_path_with_name(path, name)?;
    }
    tar.into_inner()
}

/// In the child, chrooted: sends the kind of `src`, then its tar.
fn tar_in_root(src: &Path, out: &mut fs::File) -> io::Result<()> {
    let Ok(meta) = fs::symlink_metadata(src) else {
        return out.write_all(&[MISSING]);
    };
    out.write_all(&[if meta.is_dir() { IS_DIR } else { IS_FILE }])?;
    tar_into(src, &top_name(src), io::BufWriter::new(out))?.flush()
}

/// Where a copy lands, by Docker's rules: into `dest` if it is a directory
/// (as `dest/NAME`, or its contents for `SRC/.`), else as `dest` itself;
/// a directory is never copied over a file.
fn landing(src_is_dir: bool, name: &str, dest: &Path) -> Result<(PathBuf, bool), CopyError> {
    let wants_dir = dest.as_os_str().as_encoded_bytes().ends_with(b"/");
    match fs::metadata(dest) {
        Ok(meta) if meta.is_dir() => Ok(if name == "." {
            (dest.to_path_buf(), true)
        } else {
            (dest.join(name), false)
        }),
        Ok(_) if src_is_dir => Err(CopyError::DirectoryToFile(dest.to_path_buf())),
        Ok(_) => Ok((dest.to_path_buf(), false)),
        Err(_) if wants_dir && !src_is_dir => Err(CopyError::NoDestination(dest.to_path_buf())),
        Err(_) => {
            let parent = dest
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(CopyError::NoDestination(parent.to_path_buf()));
            }
            if name == "." {
                // DIR/. to a new path: the path is made, with DIR's contents.
                fs::create_dir(dest)?;
                return Ok((dest.to_path_buf(), true));
            }
            Ok((dest.to_path_buf(), false))
        }
    }
}

/// Unpacks a tar whose top entry is `name` so that it lands where
/// [`landing`] says: in a scratch folder beside the target first, then
/// renamed (or, for contents, each entry moved) into place.
fn unpack_to(
    tar: &mut dyn Read,
    src_is_dir: bool,
    name: &str,
    dest: &Path,
) -> Result<(), CopyError> {
    let (target, merge) = landing(src_is_dir, name, dest)?;
    let beside = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let scratch = tempfile::Builder::new()
        .prefix(".peti-cp-")
        .tempdir_in(beside)?;
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.unpack(scratch.path())?;
    let top = scratch.path().join(name);
    if merge {
        for entry in fs::read_dir(&top)? {
            let entry = entry?;
            replace(&entry.path(), &target.join(entry.file_name()))?;
        }
    } else {
        replace(&top, &target)?;
    }
    Ok(())
}

/// Moves `from` to `to`, over a file that is there; into a directory that
/// is there, entry by entry, as `cp -r` merges.
fn replace(from: &Path, to: &Path) -> io::Result<()> {
    match fs::symlink_metadata(to) {
        Ok(meta) if meta.is_dir() && fs::symlink_metadata(from)?.is_dir() => {
            for entry in fs::read_dir(from)? {
                let entry = entry?;
                replace(&entry.path(), &to.join(entry.file_name()))?;
            }
            Ok(())
        }
        Ok(meta) if meta.is_dir() => Err(io::Error::other(format!(
            "cannot overwrite directory {} with a file",
            to.display()
        ))),
        _ => fs::rename(from, to),
    }
}

/// On the host: the child's tar, landed at `dest`.
fn land_on_host(
    reader: fs::File,
    src_is_dir: bool,
    src: &Path,
    dest: &Path,
) -> Result<u64, CopyError> {
    let mut counted = Counting {
        inner: reader,
        bytes: 0,
    };
    unpack_to(&mut counted, src_is_dir, &top_name(src), dest)?;
    Ok(counted.bytes)
}

/// In the child, chrooted: the tar landed at `dest`. A tar from a stream
/// (`kind` unknown) is unpacked into `dest`, which must be a directory.
fn untar_in_root(
    tar: &mut &[u8],
    kind: Option<bool>,
    name: &str,
    dest: &Path,
) -> Result<(), CopyError> {
    match kind {
        Some(is_dir) => unpack_to(tar, is_dir, name, dest),
        None => {
            if !dest.is_dir() {
                return Err(CopyError::NoDestination(dest.to_path_buf()));
            }
            let mut archive = tar::Archive::new(tar);
            archive.set_preserve_permissions(true);
            Ok(archive.unpack(dest)?)
        }
    }
}

struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

fn child_failed() -> CopyError {
    CopyError::Io(io::Error::other("the copy's child process failed"))
}

/// Runs `work` in a child that has entered the container's root; returns
/// the read end of the pipe `work` writes to, and the child.
fn in_child(
    root: &Root,
    work: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> Result<(fs::File, Child), CopyError> {
    use nix::unistd::{ForkResult, fork, pipe};
    let (read_end, write_end): (OwnedFd, OwnedFd) = pipe().map_err(io::Error::from)?;
    let point = match root {
        Root::Overlay { scratch, .. } | Root::Layers { scratch, .. } => {
            fs::create_dir_all(scratch)?;
            Some(tempfile::Builder::new().prefix("cp-").tempdir_in(scratch)?)
        }
        Root::Process(_) => None,
    };
    // SAFETY: peti is single-threaded here; the child makes system calls,
    // runs `work`, and leaves with _exit, never returning into the caller.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Child => {
            drop(read_end);
            let mut out = fs::File::from(write_end);
            let code =
                match enter(root, point.as_ref().map(|p| p.path())).and_then(|()| work(&mut out)) {
                    Ok(()) => 0,
                    // The reader went (peti itself, ended by SIGPIPE): quietly.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 1,
                    Err(e) => {
                        eprintln!("peti: error: {e}");
                        1
                    }
                };
            // SAFETY: _exit ends the child at once, running no destructor of
            // the parent's state it copied (the scratch folder is the parent's
            // to remove).
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            // The mount point goes once the child (and its mount) has.
            Ok((
                fs::File::from(read_end),
                Child {
                    pid: child,
                    _point: point,
                },
            ))
        }
    }
}

/// In the child: into the container's root, by chroot.
fn enter(root: &Root, point: Option<&Path>) -> io::Result<()> {
    use nix::mount::MsFlags;
    match root {
        Root::Process(pid) => {
            let dir = fs::File::open(format!("/proc/{pid}/root"))?;
            nix::unistd::fchdir(&dir)?;
        }
        Root::Overlay {
            lower, upper, work, ..
        } => {
            let layers: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                layers.join(":"),
                upper.display(),
                work.display()
            );
            mount_privately(point, &data, MsFlags::empty())?;
        }
        Root::Layers { lower, upper, .. } => {
            let layers: Vec<String> = std::iter::once(*upper)
                .chain(lower.iter().map(PathBuf::as_path))
                .map(|p| p.display().to_string())
                .collect();
            let data = format!("lowerdir={}", layers.join(":"));
            mount_privately(point, &data, MsFlags::MS_RDONLY)?;
        }
    }
    nix::unistd::chroot(".")?;
    std::env::set_current_dir("/")
}

/// In the child: an overlay with `data`'s layers at `point`, in a mount
/// namespace of the child's own (the mount goes with it), entered.
fn mount_privately(point: Option<&Path>, data: &str, flags: nix::mount::MsFlags) -> io::Result<()> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    let point = point.ok_or_else(|| io::Error::other("no mount point"))?;
    unshare(CloneFlags::CLONE_NEWNS)?;
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)?;
    mount(Some("overlay"), point, Some("overlay"), flags, Some(data))?;
    std::env::set_current_dir(point)
}

/// The child, and the folder its overlay was mounted on (if any), removed
/// when this is dropped, after [`wait`].
struct Child {
    pid: nix::unistd::Pid,
    _point: Option<tempfile::TempDir>,
}

fn wait(child: Child) -> Result<(), CopyError> {
    use nix::sys::wait::{WaitStatus, waitpid};
    match waitpid(child.pid, None).map_err(io::Error::from)? {
        WaitStatus::Exited(_, 0) => Ok(()),
        _ => Err(child_failed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_landings_follow_docker() {
        assert_eq!(top_name(Path::new("/etc/hosts")), "hosts");
        assert_eq!(top_name(Path::new("/etc/")), "etc");
        assert_eq!(top_name(Path::new("/etc/.")), ".");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("file"), "x").unwrap();
        assert_eq!(
            landing(false, "hosts", d).unwrap(),
            (d.join("hosts"), false)
        );
        assert_eq!(landing(true, ".", d).unwrap(), (d.to_path_buf(), true));
        assert_eq!(
            landing(false, "hosts", &d.join("new")).unwrap(),
            (d.join("new"), false)
        );
        assert!(matches!(
            landing(true, "etc", &d.join("file")),
            Err(CopyError::DirectoryToFile(_))
        ));
        let missing_dir = PathBuf::from(format!("{}/nodir/", d.display()));
        assert!(matches!(
            landing(false, "hosts", &missing_dir),
            Err(CopyError::NoDestination(_))
        ));
        assert!(matches!(
            landing(false, "x", &d.join("no/such")),
            Err(CopyError::NoDestination(_))
        ));
    }
}
