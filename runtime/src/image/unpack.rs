//! Unpacking an image layer (a tar archive) into a directory, safely.
//!
//! A layer comes from whoever built the image, so it is untrusted input. A naive
//! unpacker can be made to write anywhere on the host:
//!
//! - a path with `..` (`../../etc/cron.d/x`) climbs out of the layer directory;
//! - an absolute path (`/etc/passwd`) names the host's file, not the image's;
//! - a symlink (`a -> /etc`) followed by a file under it (`a/passwd`) writes through
//!   the link to the host;
//! - a hard link (`x` linked to `/etc/shadow`) makes a host file part of the image;
//! - a device node (`dev/sda`) gives raw access to a host disk.
//!
//! So: `..` is refused, absolute paths are kept inside (as Docker does, by dropping the
//! leading `/`), no entry may pass through a symlink on its way, a hard link must
//! point at a regular file already in this layer, and device nodes are skipped.
//!
//! Whiteouts are how a layer deletes what a lower layer has. In a tar they are empty
//! files named `.wh.NAME` (delete NAME) or `.wh..wh..opq` (hide everything the lower
//! layers have in this directory). overlayfs spells them differently: a 0:0 character
//! device named NAME, and the extended attribute `trusted.overlay.opaque=y` on the
//! directory. Unpacking converts one spelling to the other.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::{Gid, Uid};

/// The prefix of a whiteout file in a layer tar.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The name of an opaque-directory marker in a layer tar.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The extended attribute overlayfs reads to treat a directory as opaque.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What can go wrong while unpacking a layer.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The archive itself is unreadable.
    #[error("the layer is not a readable tar archive: {0}")]
    Tar(#[source] io::Error),
    /// An entry name climbs out with `..`.
    #[error("layer entry {path:?} uses '..' to leave the layer: refusing this image")]
    ParentComponent { path: String },
    /// An entry would be written through a symlink.
    #[error("layer entry {path:?} goes through the symlink {link:?}: refusing this image")]
    ThroughSymlink { path: String, link: String },
    /// A whiteout that hides no name of its directory.
    #[error(
        "layer entry {path:?} is a whiteout of '.', '..' or nothing, which would delete outside what it may hide: refusing this image"
    )]
    BadWhiteout { path: String },
    /// A hard link points at something that is not a regular file of this layer.
    #[error(
        "layer entry {path:?} is a hard link to {target:?}, which is not a regular file in this layer: refusing this image"
    )]
    HardlinkTarget { path: String, target: String },
    /// A path in the layer is in the way (a file where a directory is needed).
    #[error(
        "layer entry {path:?} needs {parent:?} to be a directory, but the layer made it something else"
    )]
    NotADirectory { path: String, parent: String },
    /// Writing to the destination failed.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What one unpack did, by kind of entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub whiteouts: u64,
    pub opaque_dirs: u64,
    /// Device nodes and FIFOs, which are never created.
    pub skipped_specials: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
}

/// Unpacks the tar archive `layer` into `dest`, which must exist.
///
/// Owners are kept when running as root (so a container sees the image's owners);
/// otherwise files belong to the caller.
///
/// Under nested virtualisation a system call costs 10 to 20 us, and a layer of
/// busybox's symlinks is hundreds of entries, so the unpacker makes as few as
/// it safely can (measured on the lab image: 2193 system calls at first):
/// - a parent directory this unpack has already walked or made is not
///   looked at again (the cache forgets a directory when an entry replaces it);
/// - an entry is created first and what is in its way removed only if the
///   creation says so (`EEXIST`), rather than looked for before each one;
/// - a file root would own anyway is not chowned to root (unless a directory
///   of the layer is setgid, whose new files take its group instead).
pub fn unpack_layer(layer: impl Read, dest: &Path) -> Result<UnpackStats, UnpackError> {
    let mut archive = tar::Archive::new(layer);
    let mut unpacker = Unpacker::new(dest)?;
    for entry in archive.entries().map_err(UnpackError::Tar)? {
        let mut entry = entry.map_err(UnpackError::Tar)?;
        unpacker.entry(&mut entry)?;
    }
    Ok(unpacker.stats)
}

/// One unpack's state: what it did, and the directories it knows are real.
struct Unpacker {
    dest: PathBuf,
    stats: UnpackStats,
    as_root: bool,
    /// Directories under `dest` this unpack made or found to be real ones
    /// (not symlinks): entries under them need no look at them again.
    known_dirs: HashSet<PathBuf>,
    /// Whether some directory here is setgid: files made in it take its
    /// group, so root's own files must be chowned after all.
    setgid_seen: bool,
    /// For file contents, made at the first file.
    buffer: Vec<u8>,
}

impl Unpacker {
    fn new(dest: &Path) -> Result<Unpacker, UnpackError> {
        let meta = fs::metadata(dest).map_err(|source| UnpackError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        Ok(Unpacker {
            dest: dest.to_path_buf(),
            stats: UnpackStats::default(),
            as_root: Uid::effective().is_root() && Gid::effective().as_raw() == 0,
            known_dirs: HashSet::new(),
            setgid_seen: meta.permissions().mode() & 0o2000 != 0,
            buffer: Vec::new(),
        })
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let components = components(&name)?;
        let Some((file_name, parents)) = components.split_last() else {
            return Ok(()); // "./" or "/": the layer root itself
        };
        let parent = self.make_parents(parents, &name)?;
        let target = parent.join(file_name);

        if let Some(whiteout) = whiteout(file_name, &name)? {
            match whiteout {
                Whiteout::Opaque => {
                    set_opaque(&parent)?;
                    self.stats.opaque_dirs += 1;
                }
                Whiteout::Hide(hidden) => {
                    let hidden = parent.join(hidden);
                    self.remove_existing(&hidden)?;
                    make_whiteout(&hidden)?;
                    self.stats.whiteouts += 1;
                }
                Whiteout::AufsMetadata => {}
            }
            return Ok(());
        }

        let header = entry.header().clone();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let kind = header.entry_type();
        let io_err = |source| UnpackError::Io {
            path: target.clone(),
            source,
        };
        let link_name = || {
            header
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        if kind.is_dir() {
            match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    self.remove_existing(&target)?;
                    fs::create_dir(&target).map_err(io_err)?;
                }
                Err(_) => fs::create_dir(&target).map_err(io_err)?,
            }
            self.known_dirs.insert(target.clone());
            if mode & 0o2000 != 0 {
                self.setgid_seen = true;
            }
            self.stats.dirs += 1;
        } else if kind.is_file() {
            let create = || {
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
            };
            let mut file = self.create_replacing(&target, create)?;
            self.stats.bytes += self.copy(entry, &mut file).map_err(io_err)?;
            self.stats.files += 1;
        } else if kind.is_symlink() {
            // The target is stored, never followed here; inside the container it
            // resolves against the container's root.
            let link = link_name();
            self.create_replacing(&target, || symlink(&link, &target))?;
            self.stats.symlinks += 1;
        } else if kind.is_hard_link() {
            let link = link_name();
            let source = hardlink_source(&self.dest, &name, &link)?;
            self.create_replacing(&target, || fs::hard_link(&source, &target))?;
            self.stats.hardlinks += 1;
            return Ok(()); // a hard link shares its source's mode and owner
        } else {
            // Character and block devices, FIFOs, and anything unknown.
            self.stats.skipped_specials += 1;
            return Ok(());
        }

        // The owner first, then the mode: the kernel clears the setuid and
        // setgid bits of a file whose owner changes, so a chmod before the
        // chown would lose them (Docker keeps them: `su` and `ping` need
        // them). The store's layers directory is root's alone (0700), so no
        // user of the host can run such a file from there.
        if self.as_root {
            let (uid, gid) = (header.uid().unwrap_or(0), header.gid().unwrap_or(0));
            if uid != 0 || gid != 0 || self.setgid_seen {
                // lchown: change the link itself, never what a symlink points at.
                std::os::unix::fs::lchown(&target, Some(uid as u32), Some(gid as u32))
                    .map_err(io_err)?;
            }
        }
        if !kind.is_symlink() {
            fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_err)?;
        }
        Ok(())
    }

    /// Copies a file's content with large writes (`io::copy` makes 8 KiB
    /// ones): a 1 MiB busybox is 4 system calls, not 128.
    fn copy(&mut self, from: &mut impl Read, to: &mut fs::File) -> io::Result<u64> {
        if self.buffer.is_empty() {
            self.buffer = vec![0; crate::fsutil::COPY_BUFFER];
        }
        crate::fsutil::copy_with(from, to, &mut self.buffer)
    }

    /// Runs `create`, which must fail with `EEXIST` rather than follow or
    /// overwrite what is at `target`; if something is in the way, removes
    /// it and runs `create` again.
    fn create_replacing<T>(
        &mut self,
        target: &Path,
        create: impl Fn() -> io::Result<T>,
    ) -> Result<T, UnpackError> {
        let io_err = |source| UnpackError::Io {
            path: target.to_path_buf(),
            source,
        };
        match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.remove_existing(target)?;
                create().map_err(io_err)
            }
            other => other.map_err(io_err),
        }
    }

    /// Walks (and creates, where missing) the parent directories of an entry
    /// inside `dest`, refusing to pass through a symlink or a non-directory.
    fn make_parents(&mut self, parents: &[&str], name: &str) -> Result<PathBuf, UnpackError> {
        let mut path = self.dest.clone();
        for (i, part) in parents.iter().enumerate() {
            path.push(part);
            if self.known_dirs.contains(&path) {
                continue;
            }
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(UnpackError::ThroughSymlink {
                        path: name.to_string(),
                        link: parents[..=i].join("/"),
                    });
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(UnpackError::NotADirectory {
                        path: name.to_string(),
                        parent: parents[..=i].join("/"),
                    });
                }
                Err(_) => {
                    fs::create_dir(&path).map_err(|source| UnpackError::Io {
                        path: path.clone(),
                        source,
                    })?;
                }
            }
            self.known_dirs.insert(path.clone());
        }
        Ok(path)
    }

    /// Removes what is at `path`, if anything, so that an entry can replace
    /// it. A directory is only replaced by another directory, so a
    /// non-directory entry over a directory removes the whole tree, as a
    /// later tar entry for the same name would; the directories known under
    /// it are forgotten, since a symlink may now stand where one was.
    fn remove_existing(&mut self, path: &Path) -> Result<(), UnpackError> {
        let result = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => {
                self.known_dirs.retain(|known| !known.starts_with(path));
                fs::remove_dir_all(path)
            }
            Ok(_) => fs::remove_file(path),
            Err(_) => Ok(()),
        };
        result.map_err(|source| UnpackError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// What a `.wh.` entry asks for.
pub enum Whiteout<'a> {
    /// `.wh..wh..opq`: hide all the lower layers have in this directory.
    Opaque,
    /// `.wh.NAME`: hide NAME, a name in this directory.
    Hide(&'a str),
    /// Any other `.wh..wh.` name: AUFS's own bookkeeping (`.wh..wh.plnk`, ...),
    /// which means nothing outside AUFS; Docker skips these too.
    AufsMetadata,
}

/// Reads the last component of an entry's name as a whiteout, if it is one
/// (`entry`, the whole name, is for the error). What it hides is a name like any
/// entry's, inside this directory: `.wh..`, `.wh...` and `.wh.` would name the
/// directory itself, its parent, or nothing, and a whiteout made there would
/// delete outside the layer.
pub fn whiteout<'a>(file_name: &'a str, entry: &str) -> Result<Option<Whiteout<'a>>, UnpackError> {
    let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX) else {
        return Ok(None);
    };
    if file_name == OPAQUE_MARKER {
        return Ok(Some(Whiteout::Opaque));
    }
    if file_name.starts_with(".wh..wh.") {
        return Ok(Some(Whiteout::AufsMetadata));
    }
    if matches!(hidden, "" | "." | "..") {
        return Err(UnpackError::BadWhiteout {
            path: entry.to_string(),
        });
    }
    Ok(Some(Whiteout::Hide(hidden)))
}

/// Splits an entry name into its components: `/` and `.` are dropped (an absolute
/// path stays inside the layer), `..` is refused.
fn components(name: &str) -> Result<Vec<&str>, UnpackError> {
    let mut out = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(UnpackError::ParentComponent {
                    path: name.to_string(),
                });
            }
            part => out.push(part),
        }
    }
    Ok(out)
}

/// Where a hard link's source is, provided it is a regular file of this layer that
/// is reached without passing through a symlink.
fn hardlink_source(dest: &Path, name: &str, link: &str) -> Result<PathBuf, UnpackError> {
    let refuse = || UnpackError::HardlinkTarget {
        path: name.to_string(),
        target: link.to_string(),
    };
    let parts = components(link).map_err(|_| refuse())?;
    let mut path = dest.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = fs::symlink_metadata(&path).map_err(|_| refuse())?;
        let last = i + 1 == parts.len();
        let ok = if last { meta.is_file() } else { meta.is_dir() };
        if !ok {
            return Err(refuse());
        }
    }
    if parts.is_empty() {
        return Err(refuse());
    }
    Ok(path)
}

/// Makes the overlayfs whiteout for `hidden`, where nothing is: a character
/// device 0:0.
fn make_whiteout(hidden: &Path) -> Result<(), UnpackError> {
    mknod(hidden, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|e| UnpackError::Io {
        path: hidden.to_path_buf(),
        source: e.into(),
    })
}

/// Marks `dir` opaque for overlayfs.
fn set_opaque(dir: &Path) -> Result<(), UnpackError> {
    xattr_set(dir, OPAQUE_XATTR, b"y").map_err(|source| UnpackError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Sets an extended attribute without following a symlink at `path`.
fn xattr_set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let c_name = CString::new(name).map_err(io::Error::other)?;
    // SAFETY: both strings are NUL-terminated and outlive the call; value points at
    // value.len() readable bytes. lsetxattr does not keep any of the pointers.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
