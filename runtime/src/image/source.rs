//! Reading an image layout that someone else wrote: the folder `peti load` is
//! given, or the inside of an OCI archive, unpacked.
//!
//! Everything in such a folder is the image author's, so each file is opened the
//! careful way:
//! - beneath the folder, with no symlink anywhere on the way (`openat2` with
//!   `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`): a blob linked to `/etc/shadow` or
//!   `/dev/zero` is refused instead of read;
//! - only if it is a regular file, checked on the open descriptor, and opened
//!   with `O_NONBLOCK`, so that a FIFO cannot hang the open itself;
//! - never read past a bound: the size its descriptor claims for a blob, and
//!   [`MAX_DOCUMENT`] for a JSON document, so that no file can make peti read
//!   without end or hold gigabytes in memory.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, SFlag, fstat};
use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType, Sha256Digest,
};

use super::platform::{Platform, PlatformError};
use sha2::Digest as _;

/// The largest JSON document (index, manifest, config) peti reads. Registries
/// and containerd refuse manifests over 4 MiB; no real config comes near it.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// What can be wrong with a file of an image layout.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is a symlink, or its path passes through one: an image layout's files must be its own, so peti does not follow links out of it"
    )]
    Symlink { path: PathBuf },
    #[error("{path} is {kind}, not a regular file")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is {size} bytes, more than the {max} bytes a {what} may have")]
    TooLarge {
        path: PathBuf,
        size: u64,
        max: u64,
        what: &'static str,
    },
    #[error("{path} is not {what}: {detail}")]
    BadDocument {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("opening files safely needs openat2, Linux 5.6 or newer; this kernel does not have it")]
    KernelTooOld,
    #[error("{path} is {size} bytes; its descriptor says {expected} (and at most {max} are read)")]
    WrongSize {
        path: PathBuf,
        size: u64,
        expected: u64,
        max: u64,
    },
    #[error(
        "blob {expected} does not match its digest ({path} hashes to {actual}): the image is corrupt"
    )]
    WrongDigest {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

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

    /// A whole blob, checked: its size against the descriptor's (and `max`),
    /// its content against its digest. For what must be held in memory anyway:
    /// a nested index, or the layers of an initramfs.
    pub fn read_verified(&self, descriptor: &Descriptor, max: u64) -> Result<Vec<u8>, SourceError> {
        let digest =
            super::digest::of_descriptor(descriptor).map_err(|e| SourceError::BadDocument {
                path: self.path.clone(),
                what: "a blob of a known digest",
                detail: e.to_string(),
            })?;
        let path = self.path.join("blobs/sha256").join(digest.digest());
        let (file, size) = self.open_blob(&digest)?;
        if size != descriptor.size() || size > max {
            return Err(SourceError::WrongSize {
                path,
                size,
                expected: descriptor.size(),
                max,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(size)
            .read_to_end(&mut bytes)
            .map_err(|source| SourceError::Io {
                path: path.clone(),
                source,
            })?;
        let actual = super::digest::from_hasher(sha2::Sha256::new_with_prefix(&bytes));
        if actual != digest {
            return Err(SourceError::WrongDigest {
                path,
                expected: super::digest::text(&digest),
                actual: super::digest::text(&actual),
            });
        }
        Ok(bytes)
    }

    /// The image manifest an index entry leads to: itself, or, for an entry
    /// that is an index of its own (a multi-platform image), its entry for
    /// `platform`.
    pub fn manifest_for(
        &self,
        entry: &Descriptor,
        platform: &Platform,
    ) -> Result<Descriptor, SourceError> {
        if !is_index(entry) {
            return Ok(entry.clone());
        }
        let bytes = self.read_verified(entry, MAX_DOCUMENT)?;
        let nested: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| SourceError::BadDocument {
                path: self.path.clone(),
                what: "a valid OCI image index",
                detail: e.to_string(),
            })?;
        let chosen = super::platform::select(nested.manifests(), platform)?;
        if is_index(chosen) {
            return Err(SourceError::BadDocument {
                path: self.path.clone(),
                what: "an index of images",
                detail: "an index within an index within an index".into(),
            });
        }
        Ok(chosen.clone())
    }

    /// The one image of the layout for `platform`: its manifest and config,
    /// read and checked (for a reader that does not store it: `microvm
    /// initramfs`).
    pub fn image(
        &self,
        platform: &Platform,
    ) -> Result<(ImageManifest, ImageConfiguration), SourceError> {
        let (_, manifest) = self.image_manifest(platform)?;
        let bytes = self.read_verified(manifest.config(), MAX_DOCUMENT)?;
        let config: ImageConfiguration =
            serde_json::from_slice(&bytes).map_err(|e| SourceError::BadDocument {
                path: self.path.clone(),
                what: "a valid OCI image config",
                detail: e.to_string(),
            })?;
        Ok((manifest, config))
    }

    /// The one image manifest of the layout for `platform`, read and checked,
    /// with the descriptor that names it.
    pub fn image_manifest(
        &self,
        platform: &Platform,
    ) -> Result<(Descriptor, ImageManifest), SourceError> {
        let index: ImageIndex = self.read_json("index.json", "a valid OCI index.json")?;
        let entry = super::platform::select(index.manifests(), platform)?;
        let descriptor = self.manifest_for(entry, platform)?;
        let bytes = self.read_verified(&descriptor, MAX_DOCUMENT)?;
        let manifest = serde_json::from_slice(&bytes).map_err(|e| SourceError::BadDocument {
            path: self.path.clone(),
            what: "a valid OCI image manifest",
            detail: e.to_string(),
        })?;
        Ok((descriptor, manifest))
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

/// Whether a descriptor names an index (OCI's, or Docker's manifest list).
pub fn is_index(descriptor: &Descriptor) -> bool {
    match descriptor.media_type() {
        MediaType::ImageIndex => true,
        MediaType::Other(other) => {
            other == "application/vnd.docker.distribution.manifest.list.v2+json"
        }
        _ => false,
    }
}

/// Opens a file the user named (`peti import FILE`, `peti load -i FILE`): links
/// are followed, since the user chose the path, but only a regular file is read,
/// so that `/dev/zero` or a FIFO is refused at once instead of read without end.
pub fn open_regular(path: &Path) -> Result<(File, u64), SourceError> {
    regular(open_named(path, OFlag::O_NONBLOCK)?, path)
}

/// Opens a path the user named, read-only and close-on-exec, with `flags`.
fn open_named(path: &Path, flags: OFlag) -> Result<OwnedFd, SourceError> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | flags,
        Mode::empty(),
    )
    .map_err(|e| SourceError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// The file behind `fd`, and its size, if it is a regular file.
fn regular(fd: OwnedFd, path: &Path) -> Result<(File, u64), SourceError> {
    let io = |e: Errno| SourceError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    };
    let stat = fstat(&fd).map_err(io)?;
    let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    if kind != SFlag::S_IFREG {
        return Err(SourceError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_name(kind),
        });
    }
    // A regular file never blocks; O_NONBLOCK only kept a FIFO from hanging the open.
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty())).map_err(io)?;
    Ok((File::from(fd), stat.st_size as u64))
}

/// Reads a JSON document of `size` bytes from `file`, refusing one over
/// [`MAX_DOCUMENT`], and never reading more than that even if the file grows.
pub fn read_document<T: serde::de::DeserializeOwned>(
    file: File,
    size: u64,
    path: &Path,
    what: &'static str,
) -> Result<T, SourceError> {
    let too_large = |size| SourceError::TooLarge {
        path: path.to_path_buf(),
        size,
        max: MAX_DOCUMENT,
        what,
    };
    if size > MAX_DOCUMENT {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_DOCUMENT + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_DOCUMENT {
        return Err(too_large(bytes.len() as u64));
    }
    serde_json::from_slice(&bytes).map_err(|e| SourceError::BadDocument {
        path: path.to_path_buf(),
        what,
        detail: e.to_string(),
    })
}

fn kind_name(kind: SFlag) -> &'static str {
    match kind {
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFLNK => "a symlink",
        _ => "not a regular file",
    }
}
