//! The image store: where `peti` keeps images, content-addressed.
//!
//! ```text
//! $PETI_ROOT/                      default /var/lib/peti
//!   blobs/sha256/<hex>             every blob (manifest, config, compressed layer), verified
//!   layers/<diff-id hex>/          each layer unpacked once, shared by every image using it
//!   repositories.json              name:tag -> manifest digest
//!   lock                           exclusive to change the store, shared to use an image
//! ```
//!
//! Blobs are named by their own sha256, so loading checks each one against its name
//! and storing the same blob twice is a no-op. Unpacked layers are named by their
//! diff_id (the sha256 of the uncompressed tar), which is also checked while unpacking.
//!
//! ## Surviving a kill
//!
//! `peti` can be killed at any instant, so the store never holds half of
//! anything under a real name. A blob or a layer is written beside its place,
//! under a name starting with a dot (`.staged-*`, `.unpack-*`, `.import-*`,
//! `.load-*` for an unpacked archive),
//! and renamed into place only when whole and checked; a layer is deleted by
//! renaming it out of place first (`.trash-*`), so a half-deleted layer is
//! never mistaken for a whole one. Whatever dotted leftover a killed command
//! left, the next command that takes the lock to change the store removes
//! ([`Store::change`]): under that lock, no one else can be writing one.
//! Blobs that no image references (a load killed before its tag, an `rmi`
//! killed before its deletions) are garbage, and every change ends by
//! collecting it ([`Store::collect_garbage`]).
//!
//! A container uses an image from the moment it looks it up to the moment its
//! record names the image's manifest, and `rmi` must not delete anything in
//! between: a new container holds the lock shared ([`Store::hold`]) for that
//! span, and `rmi` needs it exclusive.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, BufRead, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use nix::fcntl::Flock;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, Sha256Digest};
use sha2::{Digest as _, Sha256};

use super::digest::{self, DigestError};
use super::platform::{self, Platform, PlatformError};
pub use super::reference::Reference;
use super::reference::ReferenceError;
use super::source::{self, BlobSource, LayoutDir, MAX_DOCUMENT, OciArchive, SourceError};
use super::unpack::{UnpackError, unpack_layer};
/// The default store root.
pub const DEFAULT_ROOT: &str = "/var/lib/peti";

/// What can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not {what}: {detail}")]
    BadDocument {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("{path} does not exist: give an OCI image layout directory or an OCI archive")]
    NoSuchInput { path: PathBuf },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{what}: {source}")]
    BadDigest {
        what: String,
        #[source]
        source: DigestError,
    },
    #[error(
        "the manifest lists {layers} layers, but the config names {diff_ids} (rootfs.diff_ids): the image is corrupt"
    )]
    LayerCount { layers: usize, diff_ids: usize },
    #[error(
        "blob {digest} is {actual} bytes, but its descriptor says {expected}: the image is corrupt"
    )]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {digest} is {size} bytes, more than the {max} bytes a {what} may have")]
    DocumentTooLarge {
        digest: String,
        size: u64,
        max: u64,
        what: &'static str,
    },
    #[error("blob {expected} is corrupt: its content hashes to {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error(
        "layer {diff_id} of the image unpacks to content with digest {actual}: the image is corrupt"
    )]
    DiffIdMismatch { diff_id: String, actual: String },
    #[error("cannot unpack layer {digest}: {source}")]
    Unpack {
        digest: String,
        #[source]
        source: UnpackError,
    },
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("refusing to create a tag with a digest reference: {0}")]
    DigestTag(String),
    #[error("no such image: {0} (see `peti images`)")]
    UnknownImage(String),
    #[error(transparent)]
    BadReference(#[from] ReferenceError),
}

/// One row of `peti images`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageSummary {
    #[serde(rename = "Repository")]
    pub repository: String,
    #[serde(rename = "Tag")]
    pub tag: String,
    /// The config digest: Docker's image ID.
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Digest")]
    pub manifest_digest: String,
    /// Compressed bytes of the image's blobs.
    #[serde(rename = "Size")]
    pub size: u64,
    /// When the image was made, as its config says (RFC 3339); an imported
    /// root file system has no date.
    #[serde(rename = "CreatedAt")]
    pub created: Option<String>,
}

/// An image in the store, as a reference names it.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The digest of its manifest, which is what a reference points at.
    pub manifest_digest: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// Its layers' diff_ids, bottom first, checked: the names of their directories.
    pub diff_ids: Vec<Sha256Digest>,
}

/// The digests of one image, each checked, and the two lists checked against each
/// other: everything of an image that becomes a path in the store.
struct ImageDigests {
    config: Sha256Digest,
    /// (compressed blob, diff_id) for each layer, bottom first.
    layers: Vec<(Sha256Digest, Sha256Digest)>,
}

/// Checks every digest a manifest and its config name, and that they name as many
/// layers as each other: Docker refuses an image whose lists disagree, and so does
/// peti, rather than run with a layer missing or left over.
fn image_digests(
    manifest: &ImageManifest,
    config: &ImageConfiguration,
) -> Result<ImageDigests, StoreError> {
    let checked = |what: String, result: Result<Sha256Digest, DigestError>| {
        result.map_err(|source| StoreError::BadDigest { what, source })
    };
    let diff_ids = config.rootfs().diff_ids();
    if manifest.layers().len() != diff_ids.len() {
        return Err(StoreError::LayerCount {
            layers: manifest.layers().len(),
            diff_ids: diff_ids.len(),
        });
    }
    let layers = manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .enumerate()
        .map(|(i, (layer, diff_id))| {
            Ok((
                checked(
                    format!("layer {} of the manifest", i + 1),
                    digest::of_descriptor(layer),
                )?,
                checked(
                    format!("diff_id {} of the config", i + 1),
                    digest::parse_sha256(diff_id),
                )?,
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(ImageDigests {
        config: checked(
            "the manifest's config".into(),
            digest::of_descriptor(manifest.config()),
        )?,
        layers,
    })
}

/// The image store at a root directory.
pub struct Store {
    root: PathBuf,
}

/// The store's lock, held exclusively: while it lives, no other command
/// changes the store or starts using one of its images. `in_use` are the
/// manifests that containers use, which garbage collection keeps even when
/// untagged; whoever takes the lock says which they are (the store does not
/// know the containers).
pub struct Changing {
    _lock: Flock<fs::File>,
    pub in_use: BTreeSet<String>,
}

/// The store's lock, shared: while it lives, no image can be removed. A new
/// container holds it from looking its image up until its record names the
/// image, which is when `rmi` can see that the image is in use.
pub struct Holding(#[allow(dead_code)] Flock<fs::File>);

/// The prefixes of what is written beside its place and renamed into it
/// (see the module's comment). Only a command that holds the lock
/// exclusively writes them, or one that holds it shared (a container's init
/// layer), so one that holds it exclusively may delete every one it finds.
const LEFTOVERS: &[&str] = &[
    ".staged-",
    ".unpack-",
    ".import-",
    ".load-",
    ".trash-",
    ".init-staging-",
];

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// Opens (and creates, if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        for dir in [root.join("blobs/sha256"), root.join("layers")] {
            fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        }
        // Layers keep their setuid programs, owned by root as in the image:
        // only root may reach them, or any user of the host could run one.
        crate::fsutil::private_dir(&root.join("layers")).map_err(io_at(root))?;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// Takes the store's lock exclusively until the returned guard is
    /// dropped, so that two `peti` commands never interleave their changes,
    /// and removes what killed commands left half-written. Garbage is the
    /// caller's to collect, once it has said which images are in use.
    pub fn change(&self) -> Result<Changing, StoreError> {
        let path = self.root.join("lock");
        let lock = crate::fsutil::lock_exclusive(&path).map_err(io_at(&path))?;
        self.sweep()?;
        Ok(Changing {
            _lock: lock,
            in_use: BTreeSet::new(),
        })
    }

    /// Takes the store's lock shared (see [`Holding`]).
    pub fn hold(&self) -> Result<Holding, StoreError> {
        let path = self.root.join("lock");
        crate::fsutil::lock_shared(&path)
            .map(Holding)
            .map_err(io_at(&path))
    }

    /// Removes every leftover (see [`LEFTOVERS`]) in the store's three
    /// directories. Called under the exclusive lock only.
    fn sweep(&self) -> Result<(), StoreError> {
        for dir in [
            self.root.clone(),
            self.root.join("blobs/sha256"),
            self.layers_dir(),
        ] {
            for entry in fs::read_dir(&dir).map_err(io_at(&dir))? {
                let entry = entry.map_err(io_at(&dir))?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if !LEFTOVERS.iter().any(|p| name.starts_with(p)) {
                    continue;
                }
                let path = entry.path();
                let removed = match entry.file_type().map_err(io_at(&path))?.is_dir() {
                    true => fs::remove_dir_all(&path),
                    false => fs::remove_file(&path),
                };
                match removed {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_at(&path)(e)),
                    _ => {}
                }
            }
        }
        super::pull::sweep_downloads(&self.downloads_dir());
        Ok(())
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `peti pull` keeps what it downloads before the image is stored:
    /// verified blobs, and the `.part-` files being written.
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// Whether the store holds the blob `digest` (`sha256:...`), verified.
    pub fn has_blob(&self, digest: &str) -> bool {
        stored_digest(digest).is_ok_and(|d| self.blob_path(&d).is_file())
    }

    /// The file of a stored blob, `sha256:...` checked first.
    pub fn blob_file(&self, digest: &str) -> Result<PathBuf, StoreError> {
        Ok(self.blob_path(&stored_digest(digest)?))
    }

    /// Stores the image of the OCI layout at `layout` (as `load` does) under
    /// the name `reference`. The layout must be one peti wrote inside this
    /// store from blobs it verified (a pull's): they are linked into place,
    /// not copied and hashed again.
    pub fn load_named_under(
        &self,
        changing: &Changing,
        layout: &Path,
        reference: &Reference,
    ) -> Result<Reference, StoreError> {
        let source = source::VerifiedLayout::open_own(layout)?;
        let mut loaded = self.load_from(changing, &source, &reference.name, Some(reference))?;
        Ok(loaded.remove(0))
    }

    /// Where a blob is kept. Only a checked digest becomes a path.
    fn blob_path(&self, digest: &Sha256Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.digest())
    }

    /// The directory of an unpacked layer, by diff_id.
    pub fn layer_path(&self, diff_id: &Sha256Digest) -> PathBuf {
        self.layers_dir().join(diff_id.digest())
    }

    /// The directory that holds every unpacked layer.
    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// An image's layer directories, bottom first.
    pub fn layer_dirs(&self, image: &StoredImage) -> Vec<PathBuf> {
        image.diff_ids.iter().map(|d| self.layer_path(d)).collect()
    }

    /// `peti load -i PATH`: an OCI layout directory, or an OCI archive (the same
    /// directory as a tar file, as `skopeo copy ... oci-archive:` writes it).
    /// Takes the lock, and leaves no garbage if it fails.
    pub fn load(&self, path: &Path) -> Result<Vec<Reference>, StoreError> {
        let changing = self.change()?;
        let loaded = self.load_under(&changing, path);
        self.collect_garbage(&changing)?;
        loaded
    }

    /// [`Store::load`] under the lock the caller holds, which collects the
    /// garbage.
    pub fn load_under(
        &self,
        changing: &Changing,
        path: &Path,
    ) -> Result<Vec<Reference>, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoSuchInput {
                path: path.to_path_buf(),
            });
        }
        if path.is_dir() {
            return self.load_layout_under(changing, path);
        }
        // An image tagged only TAG is named after the archive's file.
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        self.load_from(
            changing,
            &OciArchive::open_in(path, &self.root)?,
            &stem,
            None,
        )
    }

    /// Loads every tagged image of the OCI layout at `dir`. An image tagged only
    /// `TAG` is named after the layout's directory: `images/lab` tagged `latest`
    /// becomes `lab:latest`.
    pub fn load_layout(&self, dir: &Path) -> Result<Vec<Reference>, StoreError> {
        let changing = self.change()?;
        let loaded = self.load_layout_under(&changing, dir);
        self.collect_garbage(&changing)?;
        loaded
    }

    fn load_layout_under(
        &self,
        changing: &Changing,
        dir: &Path,
    ) -> Result<Vec<Reference>, StoreError> {
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        self.load_from(changing, &LayoutDir::open_layout(dir)?, &dir_name, None)
    }

    /// `peti import ROOTFS.tar NAME[:TAG]`: a plain file-system tarball (gzip or not)
    /// becomes a one-layer image. It is written as an OCI layout first and loaded from
    /// there, so an imported image is checked exactly as a loaded one.
    ///
    /// The tarball is streamed, never held in memory: one pass reads it as tar (to
    /// refuse what is not one) while the same bytes are hashed and gzipped into the
    /// layer. A gzip bomb costs disk, not memory, and only what it really holds.
    pub fn import_rootfs(&self, tarball: &Path, reference: &str) -> Result<Reference, StoreError> {
        let changing = self.change()?;
        let imported = self.import_under(&changing, tarball, reference);
        self.collect_garbage(&changing)?;
        imported
    }

    /// [`Store::import_rootfs`] under the lock the caller holds, which
    /// collects the garbage.
    pub fn import_under(
        &self,
        changing: &Changing,
        tarball: &Path,
        reference: &str,
    ) -> Result<Reference, StoreError> {
        let reference = tag_reference(reference)?;
        let (file, _) = source::open_regular(tarball)?;
        let mut input = io::BufReader::new(file);
        let gzipped = input
            .fill_buf()
            .map_err(io_at(tarball))?
            .starts_with(&[0x1f, 0x8b]);
        let input: Box<dyn Read> = if gzipped {
            Box::new(GzDecoder::new(input))
        } else {
            Box::new(input)
        };
        let bad = |what: &'static str, detail: String| StoreError::BadDocument {
            path: tarball.to_path_buf(),
            what,
            detail,
        };
        let layout_error =
            |e: super::layout::LayoutError| bad("importable as an image", e.to_string());
        // Inside the store, so that what an interrupted import leaves is the store's
        // to sweep (see `Store::change`), not a stray folder in $TMPDIR.
        let staging = tempfile::Builder::new()
            .prefix(".import-")
            .tempdir_in(&self.root)
            .map_err(io_at(&self.root))?;
        let layout = staging.path().join("image");
        let mut writer = super::layout::LayoutWriter::new(&layout).map_err(layout_error)?;
        let mut layer = writer.layer().map_err(layout_error)?;
        let mut tee = Tee {
            inner: input,
            copy: &mut layer,
            write_error: None,
        };
        let read = read_as_tar(&mut tee);
        if let Some(e) = tee.write_error.take() {
            return Err(StoreError::Io {
                path: layout,
                source: e,
            });
        }
        read.map_err(|e| bad("a tar archive of a root file system", e.to_string()))?;
        writer.add(layer).map_err(layout_error)?;
        let config =
            super::import_config().map_err(|e| bad("a valid OCI image config", e.to_string()))?;
        writer
            .finish(reference.tag_or_latest(), config)
            .map_err(layout_error)?;
        let written = LayoutDir::open_layout(&layout)?;
        let mut loaded = self.load_from(changing, &written, &reference.name, Some(&reference))?;
        Ok(loaded.remove(0))
    }

    /// `peti commit`: the image `reference`, made of the image whose manifest
    /// is `base` (a container's) with one more layer on top, whose tar
    /// `write_layer` writes, and the config `configure` makes of the base's.
    /// Staged as an OCI layout, then loaded as any layout is, every blob
    /// checked: what a commit cut short leaves is swept by the next change.
    /// Returns the new image's ID (its config's digest). Under the lock the
    /// caller holds, which collects the garbage.
    pub fn commit_under(
        &self,
        changing: &Changing,
        base: &str,
        write_layer: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
        configure: impl FnOnce(&mut ImageConfiguration),
        reference: &str,
    ) -> Result<String, StoreError> {
        let reference = tag_reference(reference)?;
        let (manifest, mut config, digests) = self.read_image(&stored_digest(base)?)?;
        let staging = tempfile::Builder::new()
            .prefix(".import-")
            .tempdir_in(&self.root)
            .map_err(io_at(&self.root))?;
        let layout = staging.path().join("image");
        let layout_error = |e: super::layout::LayoutError| StoreError::BadDocument {
            path: layout.clone(),
            what: "a committed image",
            detail: e.to_string(),
        };
        let mut writer = super::layout::LayoutWriter::new(&layout).map_err(layout_error)?;
        for (descriptor, (blob, diff_id)) in manifest.layers().iter().zip(&digests.layers) {
            let diff_id = oci_spec::image::Digest::from(diff_id.clone());
            writer
                .add_existing(descriptor.clone(), diff_id, &self.blob_path(blob))
                .map_err(layout_error)?;
        }
        let mut layer = writer.layer().map_err(layout_error)?;
        write_layer(&mut layer).map_err(io_at(&layout))?;
        writer.add(layer).map_err(layout_error)?;
        configure(&mut config);
        let written = writer
            .finish(reference.tag_or_latest(), config)
            .map_err(layout_error)?;
        let loaded = LayoutDir::open_layout(&layout)?;
        self.load_from(changing, &loaded, &reference.name, Some(&reference))?;
        Ok(written.config.digest().to_string())
    }

    /// Stores every image of `source`, each blob checked as it is copied.
    /// An image tagged only `TAG` is named `DIR_NAME:TAG`; with `name_as`, the
    /// one image is named that.
    /// Blobs stored before a failure are verified but unreferenced: the
    /// garbage collection that ends every change removes them, so a failed
    /// load leaves the store as it was.
    fn load_from(
        &self,
        _changing: &Changing,
        source: &dyn BlobSource,
        dir_name: &str,
        name_as: Option<&Reference>,
    ) -> Result<Vec<Reference>, StoreError> {
        let index = source.index()?;
        self.load_index(source, dir_name, &index, name_as)
    }

    fn load_index(
        &self,
        layout: &dyn BlobSource,
        dir_name: &str,
        index: &ImageIndex,
        name_as: Option<&Reference>,
    ) -> Result<Vec<Reference>, StoreError> {
        let mut loaded = Vec::new();
        for (ref_name, entries) in by_ref_name(index.manifests()) {
            // One name, several platforms: the host's. A nested index too.
            let descriptor = match entries.as_slice() {
                [one] => *one,
                several => {
                    let owned: Vec<Descriptor> = several.iter().map(|d| (*d).clone()).collect();
                    let chosen = platform::select(&owned, &Platform::host())?;
                    *several
                        .iter()
                        .find(|d| **d == chosen)
                        .expect("chosen among them")
                }
            };
            let manifest_descriptor = layout.manifest_for(descriptor, &Platform::host())?;
            let manifest_digest = self.import_document(layout, &manifest_descriptor, "manifest")?;
            let manifest: ImageManifest =
                self.read_blob_json(&manifest_digest, "a valid OCI image manifest")?;
            let config_digest = self.import_document(layout, manifest.config(), "config")?;
            let config: ImageConfiguration =
                self.read_blob_json(&config_digest, "a valid OCI image config")?;
            let digests = image_digests(&manifest, &config)?;
            for (layer, (blob, diff_id)) in manifest.layers().iter().zip(&digests.layers) {
                self.import_blob(layout, layer, blob)?;
                self.unpack_once(blob, diff_id)?;
            }
            let tag = ref_name.unwrap_or_else(|| "latest".to_string());
            let reference = if let Some(name) = name_as {
                name.clone()
            } else if tag.contains(':') || tag.contains('/') {
                Reference::parse(&tag)?
            } else {
                Reference::parse(&format!("{dir_name}:{tag}"))?
            };
            self.set_reference(&reference, &digest::text(&manifest_digest))?;
            loaded.push(reference);
        }
        Ok(loaded)
    }

    /// Imports a JSON document (a manifest or a config), refusing one larger than
    /// [`MAX_DOCUMENT`] before a byte of it is copied.
    fn import_document(
        &self,
        layout: &dyn BlobSource,
        descriptor: &Descriptor,
        what: &'static str,
    ) -> Result<Sha256Digest, StoreError> {
        let digest = digest::of_descriptor(descriptor).map_err(|source| StoreError::BadDigest {
            what: format!("the {what}'s descriptor"),
            source,
        })?;
        if descriptor.size() > MAX_DOCUMENT {
            return Err(StoreError::DocumentTooLarge {
                digest: digest::text(&digest),
                size: descriptor.size(),
                max: MAX_DOCUMENT,
                what,
            });
        }
        self.import_blob(layout, descriptor, &digest)?;
        Ok(digest)
    }

    /// Copies one blob into the store, streaming: it is read from the layout into
    /// a temporary file beside its final place, hashed on the way, and renamed into
    /// place only when both its size and its digest are what the descriptor says.
    /// Memory use does not depend on the blob's size, and the store never holds a
    /// blob under a name that is not its hash.
    fn import_blob(
        &self,
        layout: &dyn BlobSource,
        descriptor: &Descriptor,
        digest: &Sha256Digest,
    ) -> Result<(), StoreError> {
        let target = self.blob_path(digest);
        if target.is_file() {
            return Ok(()); // already verified when it was first stored
        }
        let (blob, size) = layout.blob(digest)?;
        let expected = descriptor.size();
        let mismatch = |actual| StoreError::SizeMismatch {
            digest: digest::text(digest),
            expected,
            actual,
        };
        if size != expected {
            return Err(mismatch(size));
        }
        let blobs = self.root.join("blobs/sha256");
        if let Some(verified) = layout.verified_file(digest) {
            return self.link_verified(&verified, &target);
        }
        let mut staged = tempfile::Builder::new()
            .prefix(".staged-")
            .tempfile_in(&blobs)
            .map_err(io_at(&blobs))?;
        // Never more than it claims, even if the file grows while it is read.
        let mut hashing = HashingReader {
            inner: blob.take(expected + 1),
            hasher: Sha256::new(),
        };
        let mut buffer = vec![0; crate::fsutil::COPY_BUFFER];
        let copied = crate::fsutil::copy_with(&mut hashing, staged.as_file_mut(), &mut buffer)
            .map_err(io_at(&target))?;
        if copied != expected {
            return Err(mismatch(copied));
        }
        let actual = digest::from_hasher(hashing.hasher);
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                expected: digest::text(digest),
                actual: digest::text(&actual),
            });
        }
        let mode = fs::Permissions::from_mode(0o644);
        fs::set_permissions(staged.path(), mode).map_err(io_at(&target))?;
        staged.persist(&target).map_err(|e| StoreError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        Ok(())
    }

    /// Puts a blob peti verified itself into place: a hard link (the file is
    /// in the store already), made beside the target and renamed onto it.
    fn link_verified(&self, verified: &Path, target: &Path) -> Result<(), StoreError> {
        let blobs = self.root.join("blobs/sha256");
        let staged = blobs.join(format!(
            ".staged-{}",
            target.file_name().unwrap_or_default().to_string_lossy()
        ));
        let _ = fs::remove_file(&staged);
        fs::hard_link(verified, &staged).map_err(io_at(&staged))?;
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o644)).map_err(io_at(&staged))?;
        fs::rename(&staged, target).map_err(io_at(target))
    }

    /// Unpacks a compressed layer blob into `layers/<diff_id>`, unless it is there.
    /// It is unpacked into a temporary directory and renamed into place, so a layer
    /// directory either is complete or does not exist.
    fn unpack_once(
        &self,
        blob_digest: &Sha256Digest,
        diff_id: &Sha256Digest,
    ) -> Result<(), StoreError> {
        let target = self.layer_path(diff_id);
        if target.is_dir() {
            return Ok(());
        }
        let layers = self.root.join("layers");
        let staging = tempfile::Builder::new()
            .prefix(".unpack-")
            .tempdir_in(&layers)
            .map_err(io_at(&layers))?;
        let blob = self.blob_path(blob_digest);
        let file = fs::File::open(&blob).map_err(io_at(&blob))?;
        // Large reads: each system call is dear under nested virtualisation
        // (flate2 alone would read the blob 8 KiB at a time).
        let file = io::BufReader::with_capacity(crate::fsutil::COPY_BUFFER, file);
        let mut hashing = HashingReader {
            inner: flate2::bufread::GzDecoder::new(file),
            hasher: Sha256::new(),
        };
        unpack_layer(&mut hashing, staging.path()).map_err(|source| StoreError::Unpack {
            digest: digest::text(blob_digest),
            source,
        })?;
        // Read what tar left (end-of-archive padding) so the hash covers every byte.
        io::copy(&mut hashing, &mut io::sink()).map_err(io_at(&blob))?;
        let actual = digest::from_hasher(hashing.hasher);
        if actual != *diff_id {
            return Err(StoreError::DiffIdMismatch {
                diff_id: digest::text(diff_id),
                actual: digest::text(&actual),
            });
        }
        fs::rename(staging.path(), &target).map_err(io_at(&target))?;
        let _ = staging.keep();
        Ok(())
    }

    /// A JSON blob of the store: verified when it was stored, and still read with
    /// the same bound as any document.
    fn read_blob_json<T: serde::de::DeserializeOwned>(
        &self,
        digest: &Sha256Digest,
        what: &'static str,
    ) -> Result<T, StoreError> {
        let path = self.blob_path(digest);
        let file = fs::File::open(&path).map_err(io_at(&path))?;
        let size = file.metadata().map_err(io_at(&path))?.len();
        Ok(source::read_document(file, size, &path, what)?)
    }

    /// The manifest and config a manifest digest names, with its digests checked.
    fn read_image(
        &self,
        manifest_digest: &Sha256Digest,
    ) -> Result<(ImageManifest, ImageConfiguration, ImageDigests), StoreError> {
        let manifest: ImageManifest =
            self.read_blob_json(manifest_digest, "a valid OCI image manifest")?;
        let config_digest =
            digest::of_descriptor(manifest.config()).map_err(|source| StoreError::BadDigest {
                what: "the manifest's config".into(),
                source,
            })?;
        let config: ImageConfiguration =
            self.read_blob_json(&config_digest, "a valid OCI image config")?;
        let digests = image_digests(&manifest, &config)?;
        Ok((manifest, config, digests))
    }

    fn references(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let path = self.root.join("repositories.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::BadDocument {
                path,
                what: "a valid repositories.json",
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Changes the references under the lock the caller holds, atomically.
    fn write_references(&self, refs: &BTreeMap<String, String>) -> Result<(), StoreError> {
        let path = self.root.join("repositories.json");
        let json = serde_json::to_vec_pretty(refs).expect("a map of strings serialises");
        write_atomically(&path, &json)
    }

    fn set_reference(
        &self,
        reference: &Reference,
        manifest_digest: &str,
    ) -> Result<(), StoreError> {
        let mut refs = self.references()?;
        refs.insert(reference.to_string(), manifest_digest.to_string());
        self.write_references(&refs)
    }

    /// The manifest digest an image reference names.
    pub fn resolve(&self, reference: &str) -> Result<String, StoreError> {
        Ok(digest::text(&self.resolve_digest(reference)?))
    }

    /// A reference by tag names what repositories.json says; one by digest
    /// (`name@sha256:...`) names that manifest, if some tag of the name has it.
    fn resolve_digest(&self, reference: &str) -> Result<Sha256Digest, StoreError> {
        let parsed = Reference::parse(reference)?;
        let refs = self.references()?;
        let unknown = || StoreError::UnknownImage(reference.to_string());
        if let Some(pinned) = &parsed.digest {
            let wanted = digest::text(pinned);
            let known = refs.iter().any(|(key, d)| {
                *d == wanted && Reference::parse(key).is_ok_and(|r| r.name == parsed.name)
            });
            return if known {
                Ok(pinned.clone())
            } else {
                Err(unknown())
            };
        }
        let digest = refs.get(&parsed.to_string()).ok_or_else(unknown)?;
        stored_digest(digest)
    }

    /// The manifest and config of an image, read once for all a command needs.
    pub fn image(&self, reference: &str) -> Result<StoredImage, StoreError> {
        let manifest_digest = self.resolve_digest(reference)?;
        let (manifest, config, digests) = self.read_image(&manifest_digest)?;
        Ok(StoredImage {
            manifest_digest: digest::text(&manifest_digest),
            manifest,
            config,
            diff_ids: digests.layers.into_iter().map(|(_, d)| d).collect(),
        })
    }

    /// The blobs an image is made of (its manifest, config and layers), by
    /// digest, with their sizes: for `system df`, which counts a blob two
    /// images share once.
    pub fn blobs_of(&self, manifest_digest: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let digest = stored_digest(manifest_digest)?;
        let (manifest, _, _) = self.read_image(&digest)?;
        let manifest_size = fs::metadata(self.blob_path(&digest)).map_or(0, |m| m.len());
        let mut blobs = vec![(manifest_digest.to_string(), manifest_size)];
        for d in std::iter::once(manifest.config()).chain(manifest.layers()) {
            blobs.push((d.digest().to_string(), d.size()));
        }
        Ok(blobs)
    }

    /// `peti tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), StoreError> {
        let target = tag_reference(target)?;
        let _changing = self.change()?;
        let digest = self.resolve(source)?;
        self.set_reference(&target, &digest)
    }

    /// `peti images`: every reference, sorted.
    pub fn list(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let mut rows = Vec::new();
        for (reference, digest) in self.references()? {
            let parsed = Reference::parse(&reference)?;
            let manifest: ImageManifest =
                self.read_blob_json(&stored_digest(&digest)?, "a valid OCI image manifest")?;
            let size = manifest.config().size()
                + manifest.layers().iter().map(Descriptor::size).sum::<u64>();
            let config: ImageConfiguration = self.read_blob_json(
                &stored_digest(manifest.config().digest().as_ref())?,
                "a valid OCI image config",
            )?;
            rows.push(ImageSummary {
                tag: parsed.tag_or_latest().to_string(),
                repository: parsed.name,
                id: manifest.config().digest().to_string(),
                manifest_digest: digest,
                size,
                created: config.created().clone(),
            });
        }
        Ok(rows)
    }

    /// `peti rmi`: removes a reference, then every blob and layer that neither a
    /// remaining reference nor a manifest in `keep` (those containers use) needs.
    /// Returns what was deleted, as Docker prints it.
    pub fn remove(
        &self,
        reference: &str,
        keep: &BTreeSet<String>,
    ) -> Result<Vec<String>, StoreError> {
        let mut changing = self.change()?;
        changing.in_use = keep.clone();
        let mut report = vec![self.untag(&changing, reference)?];
        report.extend(self.collect_garbage(&changing)?);
        Ok(report)
    }

    /// Removes a reference; returns Docker's line for it.
    pub fn untag(&self, _changing: &Changing, reference: &str) -> Result<String, StoreError> {
        let parsed = Reference::parse(reference)?;
        let mut refs = self.references()?;
        if refs.remove(&parsed.to_string()).is_none() {
            return Err(StoreError::UnknownImage(reference.to_string()));
        }
        self.write_references(&refs)?;
        Ok(format!("Untagged: {parsed}"))
    }

    /// The references to `manifest_digest`, as repositories.json spells them
    /// (`busybox:latest`): more than one when an image has several tags.
    pub fn references_to(&self, manifest_digest: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .references()?
            .into_iter()
            .filter(|(_, d)| d == manifest_digest)
            .map(|(r, _)| r)
            .collect())
    }

    /// Whether some reference names this manifest.
    pub fn is_tagged(&self, manifest_digest: &str) -> Result<bool, StoreError> {
        Ok(self.references()?.values().any(|d| d == manifest_digest))
    }

    /// Deletes the blobs and unpacked layers that neither a reference nor a
    /// manifest in use reaches; returns what it deleted, as Docker prints it.
    /// A layer is renamed out of place before it is deleted, so that a kill
    /// midway leaves a leftover to sweep, not a half layer under its name.
    pub fn collect_garbage(&self, changing: &Changing) -> Result<Vec<String>, StoreError> {
        let refs = self.references()?;
        let mut live_blobs = BTreeSet::new();
        let mut live_layers = BTreeSet::new();
        for digest in refs.values().chain(&changing.in_use) {
            let digest = stored_digest(digest)?;
            let (_, _, digests) = self.read_image(&digest)?;
            live_blobs.insert(digest.digest().to_string());
            live_blobs.insert(digests.config.digest().to_string());
            for (blob, diff_id) in digests.layers {
                live_blobs.insert(blob.digest().to_string());
                live_layers.insert(diff_id.digest().to_string());
            }
        }
        let mut deleted = Vec::new();
        for (dir, live, is_layer) in [
            ("blobs/sha256", &live_blobs, false),
            ("layers", &live_layers, true),
        ] {
            let dir = self.root.join(dir);
            for entry in fs::read_dir(&dir).map_err(io_at(&dir))? {
                let entry = entry.map_err(io_at(&dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || live.contains(&name) {
                    continue;
                }
                let path = entry.path();
                if is_layer {
                    let trash = dir.join(format!(".trash-{name}"));
                    fs::rename(&path, &trash).map_err(io_at(&path))?;
                    fs::remove_dir_all(&trash).map_err(io_at(&trash))?;
                } else {
                    fs::remove_file(&path).map_err(io_at(&path))?;
                }
                deleted.push(format!("Deleted: sha256:{name}"));
            }
        }
        Ok(deleted)
    }
}

/// An index's entries by the name they are tagged with, in their order: one
/// name may have an entry per platform.
fn by_ref_name(entries: &[Descriptor]) -> Vec<(Option<String>, Vec<&Descriptor>)> {
    let mut groups: Vec<(Option<String>, Vec<&Descriptor>)> = Vec::new();
    for entry in entries {
        let name = entry
            .annotations()
            .as_ref()
            .and_then(|a| a.get(oci_spec::image::ANNOTATION_REF_NAME))
            .cloned();
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, group)) => group.push(entry),
            None => groups.push((name, vec![entry])),
        }
    }
    groups
}

/// A reference that names a tag to write: one pinned by digest cannot be.
fn tag_reference(text: &str) -> Result<Reference, StoreError> {
    let reference = Reference::parse(text)?;
    if reference.digest.is_some() {
        return Err(StoreError::DigestTag(text.to_string()));
    }
    Ok(reference)
}

/// A manifest digest from peti's own records (repositories.json, a container's
/// record), checked like any other before it becomes a path.
fn stored_digest(text: &str) -> Result<Sha256Digest, StoreError> {
    digest::parse_sha256(text).map_err(|source| StoreError::BadDigest {
        what: "a manifest digest in the store's records".into(),
        source,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::fsutil::write_atomically(path, bytes, 0o644).map_err(io_at(path))
}

/// Reads a whole tar stream: every entry and its content, then what follows the
/// end-of-archive marker, so that a reader behind it sees every byte.
fn read_as_tar(stream: &mut impl Read) -> io::Result<()> {
    {
        let mut archive = tar::Archive::new(&mut *stream);
        for entry in archive.entries()? {
            io::copy(&mut entry?, &mut io::sink())?;
        }
    }
    io::copy(stream, &mut io::sink())?;
    Ok(())
}

/// A reader that writes a copy of everything read through it. A failed write is
/// kept apart, so that a full disk is not reported as a bad tar archive.
struct Tee<'a, R, W> {
    inner: R,
    copy: &'a mut W,
    write_error: Option<io::Error>,
}

impl<R: Read, W: io::Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.copy.write_all(&buf[..n]) {
            self.write_error = Some(e);
            return Err(io::Error::other("cannot write the layer"));
        }
        Ok(n)
    }
}

/// A reader that hashes everything read through it: the diff_id check, in one pass.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
