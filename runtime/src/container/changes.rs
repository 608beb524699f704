//! What a container changed in its file system: its overlay's upper
//! directory, read as a list (`peti diff`) or written as an image layer
//! (`peti commit`).
//!
//! overlayfs keeps every change in the upper directory: a file written or
//! made is there whole (copied up first if the image had it), a directory
//! that holds a change is there too, a deletion is a *whiteout* (a character
//! device numbered 0:0 with the deleted name), and a directory that was
//! deleted and made again is *opaque* (the `trusted.overlay.opaque` attribute
//! says the image's contents below it are hidden). An image layer says the
//! same in a tar, with OCI's names: a whiteout is an empty file `.wh.NAME`,
//! an opaque directory holds a `.wh..wh..opq` entry.
//!
//! The upper directory is the container's own, so its names and links are
//! the container's to choose: the walk never follows a link, and looks a
//! path up in the image's layers only beneath each layer.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::image::unpack::OPAQUE_XATTR;

/// One line of `docker diff`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: PathBuf,
    pub kind: ChangeKind,
}

/// Added, changed or deleted, as Docker marks them: `A`, `C`, `D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// What is in the upper directory `upper`, over the image's layers
/// `lowers` (topmost first), sorted by path: a whiteout is `D`, an entry
/// the image had is `C`, one it did not have is `A` (and so is everything
/// under a directory that is new, or opaque).
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
    // Each layer opened once, for every look-up beneath it.
    let lowers: Vec<fs::File> = lowers
        .iter()
        .map(fs::File::open)
        .collect::<Result<_, _>>()?;
    let mut found = Vec::new();
    walk_changes(upper, Path::new("/"), &lowers, false, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk_changes(
    dir: &Path,
    at: &Path,
    lowers: &[fs::File],
    all_new: bool,
    found: &mut Vec<Change>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = at.join(entry.file_name());
        let meta = fs::symlink_metadata(entry.path())?;
        if is_whiteout(&meta) {
            found.push(Change {
                path,
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        let existed = !all_new && in_image(lowers, &path);
        found.push(Change {
            path: path.clone(),
            kind: if existed {
                ChangeKind::Changed
            } else {
                ChangeKind::Added
            },
        });
        if meta.is_dir() {
            let hides_below = is_opaque(&entry.path());
            walk_changes(&entry.path(), &path, lowers, !existed || hides_below, found)?;
        }
    }
    Ok(())
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> bool {
    xattr_get(dir, OPAQUE_XATTR).is_some_and(|v| v == b"y")
}

/// Whether a layer of the image has `path`. Each layer is looked in with
/// openat2 beneath it, links not followed on the way: a path of the
/// container's choosing never leads out of the layer.
fn in_image(lowers: &[fs::File], path: &Path) -> bool {
    let relative: PathBuf = path.components().skip(1).collect();
    lowers.iter().any(|layer| {
        crate::fsutil::open_beneath(
            std::os::fd::AsFd::as_fd(layer),
            &relative,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
        )
        .is_ok()
    })
}

/// Writes the upper directory as an image layer: a tar with OCI's whiteouts,
/// each entry with its mode, owner and time. Device nodes, FIFOs and sockets
/// a container made are left out, as peti leaves them out of the layers it
/// unpacks.
pub fn write_layer(upper: &Path, out: impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    append_dir(&mut tar, upper, Path::new(""))?;
    tar.into_inner()?.flush()
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, dir: &Path, at: &Path) -> io::Result<()> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    // A layer's entries in a fixed order: the same changes, the same layer.
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let (path, name) = (entry.path(), at.join(entry.file_name()));
        let meta = fs::symlink_metadata(&path)?;
        if is_whiteout(&meta) {
            let mut marker = at.to_path_buf();
            marker.push(format!(".wh.{}", entry.file_name().to_string_lossy()));
            append_empty(tar, &marker)?;
            continue;
        }
        let kind = meta.file_type();
        if kind.is_dir() {
            tar.append_path_with_name(&path, &name)?;
            if is_opaque(&path) {
                append_empty(tar, &name.join(".wh..wh..opq"))?;
            }
            append_dir(tar, &path, &name)?;
        } else if kind.is_file() || kind.is_symlink() {
            tar.append_path_with_name(&path, &name)?;
        }
    }
    Ok(())
}

fn append_empty<W: Write>(tar: &mut tar::Builder<W>, name: &Path) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(0);
    header.set_mode(0o644);
    tar.append_data(&mut header, name, io::empty())
}

/// Reads an extended attribute without following a link at `path`.
fn xattr_get(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let c_name = CString::new(name).ok()?;
    let mut value = [0u8; 16];
    // SAFETY: both strings are NUL-terminated and outlive the call; `value`
    // has value.len() writable bytes, which is the size passed.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    (n >= 0).then(|| value[..n as usize].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};

    /// An image layer and an upper directory over it, as overlayfs leaves them.
    fn scene() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let (lower, upper) = (dir.path().join("lower"), dir.path().join("upper"));
        for d in ["etc", "tmp", "usr/lib"] {
            fs::create_dir_all(lower.join(d)).unwrap();
        }
        fs::write(lower.join("etc/hosts"), "image").unwrap();
        fs::write(lower.join("tmp/old"), "image").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/hosts"), "changed").unwrap();
        fs::write(upper.join("etc/note"), "new").unwrap();
        fs::create_dir_all(upper.join("tmp")).unwrap();
        fs::create_dir_all(upper.join("data/sub")).unwrap();
        fs::write(upper.join("data/sub/file"), "new").unwrap();
        // A deletion, as overlayfs records it (mknod needs root).
        if nix::unistd::geteuid().is_root() {
            mknod(
                &upper.join("tmp/old"),
                SFlag::S_IFCHR,
                Mode::empty(),
                makedev(0, 0),
            )
            .unwrap();
        }
        (dir, lower, upper)
    }

    #[test]
    fn a_diff_reads_as_dockers() {
        let (_dir, lower, upper) = scene();
        let root = nix::unistd::geteuid().is_root();
        let listed: Vec<String> = changes(&upper, &[lower])
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path.display()))
            .collect();
        let mut expected = vec![
            "A /data",
            "A /data/sub",
            "A /data/sub/file",
            "C /etc",
            "C /etc/hosts",
            "A /etc/note",
            "C /tmp",
        ];
        if root {
            expected.push("D /tmp/old");
        }
        assert_eq!(listed, expected);
    }

    #[test]
    fn a_layer_has_ocis_whiteouts() {
        let (_dir, _lower, upper) = scene();
        let mut bytes = Vec::new();
        write_layer(&upper, &mut bytes).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.contains(&"etc/note".to_string()), "{names:?}");
        assert!(names.contains(&"data/sub/file".to_string()), "{names:?}");
        if nix::unistd::geteuid().is_root() {
            assert!(names.contains(&"tmp/.wh.old".to_string()), "{names:?}");
        }
    }
}
