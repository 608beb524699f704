//! An image layout folder as a blob source: every file opened beneath it, with
//! no link followed, regular files only (see [`super`]).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use oci_spec::image::{ImageIndex, Sha256Digest};

use super::{BlobSource, SourceError, open_named, read_document, regular};

/// An image layout folder, held open: every file is opened relative to it.
pub struct LayoutDir {
    dir: OwnedFd,
    path: PathBuf,
}

impl LayoutDir {
    /// Opens the folder at `path` (which the user named, so a symlink to it is fine).
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        let dir = open_named(path, OFlag::O_DIRECTORY)?;
        Ok(LayoutDir {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// Opens the folder at `path`, which must be an OCI image layout: it has
    /// an `index.json` and an `oci-layout` file of its own.
    pub fn open_layout(path: &Path) -> Result<Self, SourceError> {
        let layout = LayoutDir::open(path)?;
        if !layout.has_file("index.json") || !layout.has_file("oci-layout") {
            return Err(SourceError::NotALayout {
                path: path.to_path_buf(),
            });
        }
        Ok(layout)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the regular file at `relative` beneath the folder; returns it and its size.
    pub fn open_file(&self, relative: &str) -> Result<(File, u64), SourceError> {
        let path = self.path.join(relative);
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        let fd = match openat2(self.dir.as_fd(), relative, how) {
            Ok(fd) => fd,
            // ELOOP: a symlink on the way; EXDEV: a path that climbs out.
            Err(Errno::ELOOP | Errno::EXDEV) => return Err(SourceError::Symlink { path }),
            Err(Errno::ENOSYS) => return Err(SourceError::KernelTooOld),
            Err(e) => {
                return Err(SourceError::Io {
                    path,
                    source: e.into(),
                });
            }
        };
        regular(fd, &path)
    }

    /// Whether `relative` is a regular file of the folder (not a link to one).
    pub fn has_file(&self, relative: &str) -> bool {
        self.open_file(relative).is_ok()
    }

    /// The blob a digest names: `blobs/sha256/<hex>`.
    pub fn open_blob(&self, digest: &Sha256Digest) -> Result<(File, u64), SourceError> {
        self.open_file(&format!("blobs/sha256/{}", digest.digest()))
    }

    /// Reads and parses a JSON document of the folder, at most [`MAX_DOCUMENT`] bytes.
    pub fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        relative: &str,
        what: &'static str,
    ) -> Result<T, SourceError> {
        let (file, size) = self.open_file(relative)?;
        read_document(file, size, &self.path.join(relative), what)
    }
}

impl BlobSource for LayoutDir {
    fn location(&self) -> &Path {
        &self.path
    }

    fn index(&self) -> Result<ImageIndex, SourceError> {
        self.read_json("index.json", "a valid OCI index.json")
    }

    fn blob(&self, digest: &Sha256Digest) -> Result<(Box<dyn Read + '_>, u64), SourceError> {
        let (file, size) = self.open_blob(digest)?;
        Ok((Box::new(file), size))
    }
}

/// A layout peti made itself inside its store, of blobs it verified as they
/// arrived (a pull's staging layout): the store links them into place.
pub struct VerifiedLayout(LayoutDir);

impl VerifiedLayout {
    /// The layout at `path`, which peti wrote itself after verifying every
    /// blob in it. Nothing from outside the store may be opened this way.
    pub fn open_own(path: &Path) -> Result<Self, SourceError> {
        LayoutDir::open_layout(path).map(VerifiedLayout)
    }
}

impl BlobSource for VerifiedLayout {
    fn location(&self) -> &Path {
        self.0.location()
    }

    fn index(&self) -> Result<ImageIndex, SourceError> {
        self.0.index()
    }

    fn blob(&self, digest: &Sha256Digest) -> Result<(Box<dyn Read + '_>, u64), SourceError> {
        self.0.blob(digest)
    }

    fn verified_file(&self, digest: &Sha256Digest) -> Option<PathBuf> {
        Some(self.0.path.join("blobs/sha256").join(digest.digest()))
    }
}
