//! An OCI archive as a blob source: a tar of an image layout, as `skopeo copy
//! ... oci-archive:` writes it. A tar cannot be read out of order without
//! reading it all, so the archive is first unpacked into a temporary folder,
//! by the same careful unpacker as any layer (it is as untrusted as one), and
//! read from there as a [`LayoutDir`]; the folder goes when the source does.

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageIndex, Sha256Digest};

use super::{BlobSource, LayoutDir, SourceError, open_regular};
use crate::image::unpack::{UnpackError, unpack_layer};

/// An OCI archive, unpacked.
pub struct OciArchive {
    path: PathBuf,
    layout: LayoutDir,
    /// Removed when the archive is dropped; `layout` reads from it.
    _unpacked: tempfile::TempDir,
}

impl OciArchive {
    /// Unpacks the archive at `path`, a regular file the user named, into a
    /// temporary folder in the system's temporary directory.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        Self::open_in(path, &std::env::temp_dir())
    }

    /// Unpacks the archive at `path` into a temporary folder `.load-*` in
    /// `scratch`: the image store's own, which sweeps what a killed load
    /// leaves (see `image::store`), where `$TMPDIR` would keep it.
    pub fn open_in(path: &Path, scratch: &Path) -> Result<Self, SourceError> {
        let not_an_archive = || SourceError::NotAnArchive {
            path: path.to_path_buf(),
        };
        let (file, _) = open_regular(path)?;
        let unpacked = tempfile::Builder::new()
            .prefix(".load-")
            .tempdir_in(scratch)
            .map_err(|source| SourceError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        unpack_layer(file, unpacked.path()).map_err(|source| match source {
            UnpackError::Tar(_) => not_an_archive(),
            source => SourceError::Unpack {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let layout = LayoutDir::open_layout(unpacked.path()).map_err(|e| match e {
            SourceError::NotALayout { .. } => not_an_archive(),
            other => other,
        })?;
        Ok(OciArchive {
            path: path.to_path_buf(),
            layout,
            _unpacked: unpacked,
        })
    }
}

impl BlobSource for OciArchive {
    fn location(&self) -> &Path {
        &self.path
    }

    fn index(&self) -> Result<ImageIndex, SourceError> {
        self.layout.index()
    }

    fn blob(&self, digest: &Sha256Digest) -> Result<(Box<dyn Read + '_>, u64), SourceError> {
        self.layout.blob(digest)
    }
}
