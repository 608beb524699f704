//! Writing an OCI image layout: the directory form of an image that `skopeo`, `umoci`,
//! `podman load` and `peti load` all read.
//!
//! ```text
//! oci-layout                 {"imageLayoutVersion":"1.0.0"}
//! index.json                 points at the manifest, tagged by org.opencontainers.image.ref.name
//! blobs/sha256/<manifest>    lists the config and the layers, by digest
//! blobs/sha256/<config>      Env, Cmd, Entrypoint, ..., and the diff_ids of the layers
//! blobs/sha256/<layer>...    gzip-compressed tar archives
//! ```
//!
//! Two digests name each layer: the *blob digest* of the compressed bytes (what the
//! manifest and registries use) and the *diff_id*, the digest of the uncompressed tar
//! (what the config records, so an image's identity does not depend on how it was
//! compressed).

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use oci_spec::OciSpecError;
use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, DescriptorBuilder, Digest, ImageConfiguration,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, OciLayoutBuilder, RootFsBuilder,
};
use sha2::{Digest as _, Sha256};

use super::digest::sha256_digest;

/// What can go wrong while writing an image layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The target directory or one of its files could not be written.
    #[error("cannot write image layout at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// oci-spec refused a document we built: a bug in this program.
    #[error("cannot build the OCI {what}: {source}")]
    Spec {
        what: &'static str,
        #[source]
        source: OciSpecError,
    },
}

/// The digests of an image just written, for reports and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenImage {
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub diff_ids: Vec<Digest>,
}

impl WrittenImage {
    /// Bytes of all blobs: the image's size on disk, compressed.
    pub fn blob_bytes(&self) -> u64 {
        self.manifest.size()
            + self.config.size()
            + self.layers.iter().map(Descriptor::size).sum::<u64>()
    }
}

/// Writes `layers` (uncompressed tar archives, bottom first) and `config` as an OCI
/// image layout at `dir`, tagged `tag`.
///
/// The layout is built in a temporary sibling directory and renamed into place, so
/// `dir` is never seen half-written, and an existing layout there is replaced whole.
/// The output depends only on the inputs: gzip headers carry no time or file name.
pub fn write_layout(
    dir: &Path,
    tag: &str,
    layers: &[Vec<u8>],
    config: ImageConfiguration,
) -> Result<WrittenImage, LayoutError> {
    let mut writer = LayoutWriter::new(dir)?;
    for tar in layers {
        let mut layer = writer.layer()?;
        layer.write_all(tar).map_err(|e| writer.io(e))?;
        writer.add(layer)?;
    }
    writer.finish(tag, config)
}

/// An image layout being written, one layer at a time, each streamed: what a layer
/// holds never has to fit in memory (`peti import` of a big root file system).
pub struct LayoutWriter {
    dir: PathBuf,
    staging: tempfile::TempDir,
    blobs: PathBuf,
    layers: Vec<Descriptor>,
    diff_ids: Vec<Digest>,
}

impl LayoutWriter {
    /// Starts a layout that [`LayoutWriter::finish`] will put at `dir`.
    pub fn new(dir: &Path) -> Result<Self, LayoutError> {
        let parent = dir.parent().unwrap_or(Path::new("."));
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LayoutError::Io { path, source }
        };
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".layout-")
            .tempdir_in(parent)
            .map_err(io_err(parent))?;
        let blobs = staging.path().join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        Ok(LayoutWriter {
            dir: dir.to_path_buf(),
            staging,
            blobs,
            layers: Vec::new(),
            diff_ids: Vec::new(),
        })
    }

    fn io(&self, source: std::io::Error) -> LayoutError {
        LayoutError::Io {
            path: self.blobs.clone(),
            source,
        }
    }

    /// A new layer: write its uncompressed tar into it, then [`LayoutWriter::add`] it.
    pub fn layer(&self) -> Result<LayerWriter, LayoutError> {
        let staged = tempfile::Builder::new()
            .prefix(".layer-")
            .tempfile_in(&self.blobs)
            .map_err(|e| self.io(e))?;
        let file = staged.reopen().map_err(|e| self.io(e))?;
        let counting = HashingWriter {
            inner: std::io::BufWriter::new(file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        Ok(LayerWriter {
            diff_id: Sha256::new(),
            gzip: GzBuilder::new()
                .mtime(0)
                .write(counting, Compression::default()),
            staged,
        })
    }

    /// Adds a layer that is stored already (`blob`, its compressed file):
    /// linked into the layout, not copied, where the file system allows it.
    pub fn add_existing(
        &mut self,
        descriptor: Descriptor,
        diff_id: Digest,
        blob: &Path,
    ) -> Result<(), LayoutError> {
        let target = self.blobs.join(descriptor.digest().digest());
        if fs::hard_link(blob, &target).is_err() {
            fs::copy(blob, &target).map_err(|e| self.io(e))?;
        }
        self.layers.push(descriptor);
        self.diff_ids.push(diff_id);
        Ok(())
    }

    /// Finishes a layer and adds it on top of the ones before.
    pub fn add(&mut self, layer: LayerWriter) -> Result<(), LayoutError> {
        let LayerWriter {
            diff_id,
            gzip,
            staged,
        } = layer;
        let mut written = gzip.finish().map_err(|e| self.io(e))?;
        written.inner.flush().map_err(|e| self.io(e))?;
        let digest: Digest = super::digest::from_hasher(written.hasher).into();
        let path = self.blobs.join(digest.digest());
        // As every other blob: readable by all (a temporary file starts 0600).
        fs::set_permissions(staged.path(), fs::Permissions::from_mode(0o644))
            .map_err(|e| self.io(e))?;
        staged.persist(&path).map_err(|e| self.io(e.error))?;
        self.diff_ids
            .push(super::digest::from_hasher(diff_id).into());
        self.layers.push(descriptor(
            MediaType::ImageLayerGzip,
            digest,
            written.bytes,
        )?);
        Ok(())
    }

    /// Writes the config, manifest, index and oci-layout, and moves the layout into
    /// place.
    pub fn finish(
        self,
        tag: &str,
        mut config: ImageConfiguration,
    ) -> Result<WrittenImage, LayoutError> {
        let LayoutWriter {
            dir,
            staging,
            blobs,
            layers: layer_descriptors,
            diff_ids,
        } = self;
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(diff_ids.iter().map(ToString::to_string).collect::<Vec<_>>())
            .build()
            .map_err(spec_err("rootfs"))?;
        config.set_rootfs(rootfs);
        let config_json = config.to_string().map_err(spec_err("image config"))?;
        let config_descriptor = write_blob(&blobs, MediaType::ImageConfig, config_json.as_bytes())?;

        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_descriptor.clone())
            .layers(layer_descriptors.clone())
            .build()
            .map_err(spec_err("manifest"))?;
        let manifest_json = manifest.to_string().map_err(spec_err("manifest"))?;
        let mut manifest_descriptor =
            write_blob(&blobs, MediaType::ImageManifest, manifest_json.as_bytes())?;
        manifest_descriptor.set_annotations(Some(HashMap::from([(
            ANNOTATION_REF_NAME.to_string(),
            tag.to_string(),
        )])));

        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(vec![manifest_descriptor.clone()])
            .build()
            .map_err(spec_err("index"))?;
        let index_path = staging.path().join("index.json");
        index.to_file(&index_path).map_err(spec_err("index"))?;
        OciLayoutBuilder::default()
            .image_layout_version("1.0.0")
            .build()
            .map_err(spec_err("oci-layout"))?
            .to_file(staging.path().join("oci-layout"))
            .map_err(spec_err("oci-layout"))?;

        replace_dir(staging, &dir)?;
        Ok(WrittenImage {
            manifest: manifest_descriptor,
            config: config_descriptor,
            layers: layer_descriptors,
            diff_ids,
        })
    }
}

/// One layer being written: what is written is the uncompressed tar. It is hashed
/// for its diff_id and gzipped into a file on the way, and the gzip stream hashed
/// for the blob's digest, so each byte is handled once.
pub struct LayerWriter {
    diff_id: Sha256,
    gzip: flate2::write::GzEncoder<HashingWriter<std::io::BufWriter<fs::File>>>,
    staged: tempfile::NamedTempFile,
}

impl Write for LayerWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.gzip.write(buf)?;
        self.diff_id.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.gzip.flush()
    }
}

/// A writer that hashes and counts what goes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn spec_err(what: &'static str) -> impl FnOnce(OciSpecError) -> LayoutError {
    move |source| LayoutError::Spec { what, source }
}

/// Stores `bytes` under their digest and returns the descriptor that points at them.
fn write_blob(
    blobs: &Path,
    media_type: MediaType,
    bytes: &[u8],
) -> Result<Descriptor, LayoutError> {
    let digest = sha256_digest(bytes);
    let path = blobs.join(digest.digest());
    fs::write(&path, bytes).map_err(|source| LayoutError::Io { path, source })?;
    descriptor(media_type, digest, bytes.len() as u64)
}

fn descriptor(media_type: MediaType, digest: Digest, size: u64) -> Result<Descriptor, LayoutError> {
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest)
        .size(size)
        .build()
        .map_err(spec_err("descriptor"))
}

/// Moves a finished staging directory to `target`, replacing what was there.
fn replace_dir(staging: tempfile::TempDir, target: &Path) -> Result<(), LayoutError> {
    let io_err = |source| LayoutError::Io {
        path: target.to_path_buf(),
        source,
    };
    if target.exists() {
        // A rename cannot replace a non-empty directory: move the old one aside first.
        // It goes to a second temporary directory, so a failure anywhere below still
        // removes everything that is not in its final place.
        let parent = target.parent().unwrap_or(Path::new("."));
        let old = tempfile::Builder::new()
            .prefix(".layout-old-")
            .tempdir_in(parent)
            .map_err(io_err)?;
        fs::rename(target, old.path().join("image")).map_err(io_err)?;
        if let Err(e) = fs::rename(staging.path(), target) {
            // Put the old layout back rather than leave the caller with none.
            let _ = fs::rename(old.path().join("image"), target);
            return Err(io_err(e));
        }
    } else {
        fs::rename(staging.path(), target).map_err(io_err)?;
    }
    // The staging directory is now `target`; nothing is left for TempDir to remove.
    let _ = staging.keep();
    Ok(())
}
