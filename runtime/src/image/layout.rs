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
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use oci_spec::OciSpecError;
use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, DescriptorBuilder, Digest, ImageConfiguration,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, OciLayoutBuilder, RootFsBuilder,
};

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
    mut config: ImageConfiguration,
) -> Result<WrittenImage, LayoutError> {
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

    let mut layer_descriptors = Vec::with_capacity(layers.len());
    let mut diff_ids = Vec::with_capacity(layers.len());
    for tar in layers {
        diff_ids.push(sha256_digest(tar));
        let gz = gzip(tar).map_err(io_err(&blobs))?;
        layer_descriptors.push(write_blob(&blobs, MediaType::ImageLayerGzip, &gz)?);
    }

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

    replace_dir(staging, dir)?;
    Ok(WrittenImage {
        manifest: manifest_descriptor,
        config: config_descriptor,
        layers: layer_descriptors,
        diff_ids,
    })
}

fn spec_err(what: &'static str) -> impl FnOnce(OciSpecError) -> LayoutError {
    move |source| LayoutError::Spec { what, source }
}

/// gzip with a fixed header (no mtime, no name), so equal input gives equal bytes.
fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::with_capacity(bytes.len() / 2), Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
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
    DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest)
        .size(bytes.len() as u64)
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
