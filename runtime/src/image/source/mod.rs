//! Where an image's blobs come from, and reading them as untrusted: a
//! [`BlobSource`] hands out the index and each blob as a stream, and whoever
//! reads one (the store, `microvm initramfs`, the labs) checks it against the
//! size and digest its descriptor names. Two sources exist: a layout folder
//! ([`LayoutDir`], what `peti load DIR` is given) and an OCI archive
//! ([`OciArchive`], a tar of one); a registry is next.
//!
//! Everything in a layout is the image author's, so each file is opened the
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
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, fstat};
use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType, Sha256Digest,
};

use super::platform::{Platform, PlatformError};
use super::unpack::UnpackError;
use sha2::Digest as _;

mod archive;
mod dir;

pub use archive::OciArchive;
pub use dir::{LayoutDir, VerifiedLayout};

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
    #[error(
        "{path} is not an OCI image layout (no index.json or oci-layout): give a directory written by `labs prepare`, skopeo or umoci"
    )]
    NotALayout { path: PathBuf },
    #[error(
        "{path} is not an OCI archive (it holds no index.json or oci-layout): give a tar of an OCI image layout, as `skopeo copy ... oci-archive:` writes it"
    )]
    NotAnArchive { path: PathBuf },
    #[error("{path}: {source}")]
    Unpack {
        path: PathBuf,
        #[source]
        source: UnpackError,
    },
}

/// Where an image's blobs come from. A source is not trusted: it names its
/// index and hands out blobs, and the provided methods check each one they
/// read against its descriptor (the store checks the blobs it copies itself,
/// streaming).
pub trait BlobSource {
    /// Where the source is, for messages.
    fn location(&self) -> &Path;

    /// The source's index: its images, by name.
    fn index(&self) -> Result<ImageIndex, SourceError>;

    /// The blob `digest` names, as a stream, with the size the source says it
    /// has (a file's size; a registry's Content-Length).
    fn blob(&self, digest: &Sha256Digest) -> Result<(Box<dyn Read + '_>, u64), SourceError>;

    /// A file that already holds the blob `digest`, verified, which the
    /// store may link into place instead of copying and hashing it again.
    /// Only a source of peti's own has one: a pull's staging layout, whose
    /// blobs were hashed as they arrived and have been root's alone since.
    fn verified_file(&self, _digest: &Sha256Digest) -> Option<PathBuf> {
        None
    }

    /// A whole blob, checked: its size against the descriptor's (and `max`),
    /// its content against its digest. For what must be held in memory anyway:
    /// a manifest, a config, a nested index, or the layers of an initramfs.
    fn read_verified(&self, descriptor: &Descriptor, max: u64) -> Result<Vec<u8>, SourceError> {
        let digest =
            super::digest::of_descriptor(descriptor).map_err(|e| SourceError::BadDocument {
                path: self.location().to_path_buf(),
                what: "a blob of a known digest",
                detail: e.to_string(),
            })?;
        let path = self.location().join("blobs/sha256").join(digest.digest());
        let (blob, size) = self.blob(&digest)?;
        if size != descriptor.size() || size > max {
            return Err(SourceError::WrongSize {
                path,
                size,
                expected: descriptor.size(),
                max,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        blob.take(size)
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

    /// A JSON blob, checked and parsed: at most [`MAX_DOCUMENT`] bytes.
    fn read_verified_json<T: serde::de::DeserializeOwned>(
        &self,
        descriptor: &Descriptor,
        what: &'static str,
    ) -> Result<T, SourceError>
    where
        Self: Sized,
    {
        let bytes = self.read_verified(descriptor, MAX_DOCUMENT)?;
        serde_json::from_slice(&bytes).map_err(|e| SourceError::BadDocument {
            path: self.location().to_path_buf(),
            what,
            detail: e.to_string(),
        })
    }

    /// The image manifest an index entry leads to: itself, or, for an entry
    /// that is an index of its own (a multi-platform image), its entry for
    /// `platform`.
    fn manifest_for(
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
                path: self.location().to_path_buf(),
                what: "a valid OCI image index",
                detail: e.to_string(),
            })?;
        let chosen = super::platform::select(nested.manifests(), platform)?;
        if is_index(chosen) {
            return Err(SourceError::BadDocument {
                path: self.location().to_path_buf(),
                what: "an index of images",
                detail: "an index within an index within an index".into(),
            });
        }
        Ok(chosen.clone())
    }

    /// The source's one image manifest for `platform`, read and checked, with
    /// the descriptor that names it.
    fn image_manifest(
        &self,
        platform: &Platform,
    ) -> Result<(Descriptor, ImageManifest), SourceError>
    where
        Self: Sized,
    {
        let index = self.index()?;
        let entry = super::platform::select(index.manifests(), platform)?;
        let descriptor = self.manifest_for(entry, platform)?;
        let manifest = self.read_verified_json(&descriptor, "a valid OCI image manifest")?;
        Ok((descriptor, manifest))
    }

    /// The source's one image for `platform`: its manifest and config, read
    /// and checked (for a reader that does not store it: `microvm initramfs`).
    fn image(&self, platform: &Platform) -> Result<(ImageManifest, ImageConfiguration), SourceError>
    where
        Self: Sized,
    {
        let (_, manifest) = self.image_manifest(platform)?;
        let config = self.read_verified_json(manifest.config(), "a valid OCI image config")?;
        Ok((manifest, config))
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
