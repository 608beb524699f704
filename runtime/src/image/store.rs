//! The image store: where `peti` keeps images, content-addressed.
//!
//! ```text
//! $PETI_ROOT/                      default /var/lib/peti
//!   blobs/sha256/<hex>             every blob (manifest, config, compressed layer), verified
//!   layers/<diff-id hex>/          each layer unpacked once, shared by every image using it
//!   repositories.json              name:tag -> manifest digest
//!   lock                           taken by every command that changes the store
//! ```
//!
//! Blobs are named by their own sha256, so loading checks each one against its name
//! and storing the same blob twice is a no-op. Unpacked layers are named by their
//! diff_id (the sha256 of the uncompressed tar), which is also checked while unpacking.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use nix::fcntl::Flock;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};

use super::digest::sha256_digest;
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
    #[error(
        "{path} is not an OCI image layout (no index.json or oci-layout): give a directory written by `labs prepare`, skopeo or umoci"
    )]
    NotALayout { path: PathBuf },
    #[error(
        "{path} is not an OCI archive (it holds no index.json or oci-layout): give a tar of an OCI image layout, as `skopeo copy ... oci-archive:` writes it"
    )]
    NotAnArchive { path: PathBuf },
    #[error("{path} is not {what}: {detail}")]
    BadDocument {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("{path} does not exist: give an OCI image layout directory or an OCI archive")]
    NoSuchInput { path: PathBuf },
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
    #[error("no such image: {0} (see `peti images`)")]
    UnknownImage(String),
    #[error(
        "invalid reference format {0:?}: use NAME[:TAG] with lowercase letters, digits and . _ - /"
    )]
    BadReference(String),
}

/// An image reference, `name:tag`, with `latest` when no tag is given (Docker's rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub name: String,
    pub tag: String,
}

impl Reference {
    /// Parses `NAME[:TAG]`.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::BadReference(text.to_string());
        // A ':' after the last '/' separates the tag; one before it is a registry port.
        let (name, tag) = match text.rfind(':') {
            Some(i) if !text[i..].contains('/') => (&text[..i], &text[i + 1..]),
            _ => (text, "latest"),
        };
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_is_valid(name) || !tag_ok {
            return Err(bad());
        }
        Ok(Reference {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }
}

/// Docker's grammar for a repository name: an optional registry host (it has a
/// `.` or a `:port`, or is `localhost`), then path components of lowercase
/// letters and digits, joined inside a component by `.`, `_`, `__` or dashes.
/// `a:b` is no name: the text before the tag's `:` holds a second `:` with no
/// registry port behind it.
fn name_is_valid(name: &str) -> bool {
    let path = match name.split_once('/') {
        Some((host, path))
            if (host.contains(['.', ':']) || host == "localhost") && host_is_valid(host) =>
        {
            path
        }
        _ => name,
    };
    path.split('/').all(path_component_is_valid)
}

/// `host` or `host:port`, the host made of letters, digits, dashes and dots.
fn host_is_valid(host: &str) -> bool {
    let (host, port) = match host.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// `[a-z0-9]+` runs joined by one `.`, one or two `_`, or any number of `-`.
fn path_component_is_valid(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let separator_ok = |s: &str| s == "." || s == "_" || s == "__" || s.chars().all(|c| c == '-');
    component.starts_with(alnum)
        && component.ends_with(alnum)
        && component
            .split(alnum)
            .filter(|s| !s.is_empty())
            .all(separator_ok)
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
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
}

/// An image in the store, as a reference names it.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The digest of its manifest, which is what a reference points at.
    pub manifest_digest: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

/// The image store at a root directory.
pub struct Store {
    root: PathBuf,
}

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
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// Takes the store's lock until the returned guard is dropped, so that two
    /// `peti` commands never interleave their changes.
    fn lock(&self) -> Result<Flock<fs::File>, StoreError> {
        let path = self.root.join("lock");
        crate::fsutil::lock_exclusive(&path).map_err(io_at(&path))
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.root
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// The directory of an unpacked layer, by diff_id.
    pub fn layer_path(&self, diff_id: &str) -> PathBuf {
        self.root
            .join("layers")
            .join(diff_id.trim_start_matches("sha256:"))
    }

    /// `peti load -i PATH`: an OCI layout directory, or an OCI archive (the same
    /// directory as a tar file, as `skopeo copy ... oci-archive:` writes it).
    pub fn load(&self, path: &Path) -> Result<Vec<Reference>, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoSuchInput {
                path: path.to_path_buf(),
            });
        }
        if path.is_dir() {
            return self.load_layout(path);
        }
        let file = fs::File::open(path).map_err(io_at(path))?;
        let unpacked = tempfile::Builder::new()
            .prefix("peti-load-")
            .tempdir()
            .map_err(io_at(path))?;
        // The archive is as untrusted as any layer, so it goes through the same
        // careful unpacker.
        unpack_layer(file, unpacked.path()).map_err(|source| StoreError::Unpack {
            digest: path.display().to_string(),
            source,
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        // The unpacked directory is ours, a temporary name: the user gave the archive.
        self.load_layout_named(unpacked.path(), &stem, None)
            .map_err(|e| match e {
                StoreError::NotALayout { .. } => StoreError::NotAnArchive {
                    path: path.to_path_buf(),
                },
                other => other,
            })
    }

    /// Loads every tagged image of the OCI layout at `dir`. An image tagged only
    /// `TAG` is named after the layout's directory: `images/lab` tagged `latest`
    /// becomes `lab:latest`.
    pub fn load_layout(&self, dir: &Path) -> Result<Vec<Reference>, StoreError> {
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        self.load_layout_named(dir, &dir_name, None)
    }

    /// `peti import ROOTFS.tar NAME[:TAG]`: a plain file-system tarball (gzip or not)
    /// becomes a one-layer image. It is written as an OCI layout first and loaded from
    /// there, so an imported image is checked exactly as a loaded one.
    pub fn import_rootfs(&self, tarball: &Path, reference: &str) -> Result<Reference, StoreError> {
        let reference = Reference::parse(reference)?;
        let mut bytes = fs::read(tarball).map_err(io_at(tarball))?;
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            GzDecoder::new(bytes.as_slice())
                .read_to_end(&mut plain)
                .map_err(io_at(tarball))?;
            bytes = plain;
        }
        let bad = |what: &'static str, detail: String| StoreError::BadDocument {
            path: tarball.to_path_buf(),
            what,
            detail,
        };
        let readable = tar::Archive::new(bytes.as_slice())
            .entries()
            .and_then(|mut entries| entries.try_for_each(|e| e.map(drop)));
        if let Err(e) = readable {
            return Err(bad("a tar archive of a root file system", e.to_string()));
        }
        let config =
            super::import_config().map_err(|e| bad("a valid OCI image config", e.to_string()))?;
        let staging = tempfile::Builder::new()
            .prefix("peti-import-")
            .tempdir()
            .map_err(io_at(tarball))?;
        let layout = staging.path().join("image");
        super::layout::write_layout(&layout, &reference.tag, &[bytes], config)
            .map_err(|e| bad("importable as an image", e.to_string()))?;
        let mut loaded = self.load_layout_named(&layout, &reference.name, Some(&reference))?;
        Ok(loaded.remove(0))
    }

    fn load_layout_named(
        &self,
        dir: &Path,
        dir_name: &str,
        name_as: Option<&Reference>,
    ) -> Result<Vec<Reference>, StoreError> {
        if !dir.join("index.json").is_file() || !dir.join("oci-layout").is_file() {
            return Err(StoreError::NotALayout {
                path: dir.to_path_buf(),
            });
        }
        let index: ImageIndex = read_json(&dir.join("index.json"), "a valid OCI index.json")?;
        let _guard = self.lock()?;
        let result = self.load_index(dir, dir_name, &index, name_as);
        if result.is_err() {
            // Blobs stored before the failure are verified but unreferenced: remove
            // them, so a failed load leaves the store as it was.
            if let Ok(refs) = self.references() {
                let _ = self.collect_garbage(&refs, &BTreeSet::new());
            }
        }
        result
    }

    fn load_index(
        &self,
        dir: &Path,
        dir_name: &str,
        index: &ImageIndex,
        name_as: Option<&Reference>,
    ) -> Result<Vec<Reference>, StoreError> {
        let mut loaded = Vec::new();
        for descriptor in index.manifests() {
            let manifest_digest = self.import_blob(dir, descriptor)?;
            let manifest: ImageManifest =
                self.read_blob_json(&manifest_digest, "a valid OCI image manifest")?;
            let config_digest = self.import_blob(dir, manifest.config())?;
            let config: ImageConfiguration =
                self.read_blob_json(&config_digest, "a valid OCI image config")?;
            for (layer, diff_id) in manifest.layers().iter().zip(config.rootfs().diff_ids()) {
                let digest = self.import_blob(dir, layer)?;
                self.unpack_once(&digest, diff_id)?;
            }
            let tag = descriptor
                .annotations()
                .as_ref()
                .and_then(|a| a.get(oci_spec::image::ANNOTATION_REF_NAME))
                .cloned()
                .unwrap_or_else(|| "latest".to_string());
            let reference = if let Some(name) = name_as {
                name.clone()
            } else if tag.contains(':') || tag.contains('/') {
                Reference::parse(&tag)?
            } else {
                Reference::parse(&format!("{dir_name}:{tag}"))?
            };
            self.set_reference(&reference, &manifest_digest)?;
            loaded.push(reference);
        }
        Ok(loaded)
    }

    /// Copies one blob into the store, checking it against its digest.
    fn import_blob(&self, layout: &Path, descriptor: &Descriptor) -> Result<String, StoreError> {
        let digest = descriptor.digest().to_string();
        let target = self.blob_path(&digest);
        if target.is_file() {
            return Ok(digest); // already verified when it was first stored
        }
        let source = layout
            .join("blobs")
            .join(descriptor.digest().algorithm().as_ref())
            .join(descriptor.digest().digest());
        let bytes = fs::read(&source).map_err(io_at(&source))?;
        let actual = sha256_digest(&bytes).to_string();
        if actual != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest,
                actual,
            });
        }
        write_atomically(&target, &bytes)?;
        Ok(digest)
    }

    /// Unpacks a compressed layer blob into `layers/<diff_id>`, unless it is there.
    /// It is unpacked into a temporary directory and renamed into place, so a layer
    /// directory either is complete or does not exist.
    fn unpack_once(&self, blob_digest: &str, diff_id: &str) -> Result<(), StoreError> {
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
        let mut hashing = HashingReader {
            inner: GzDecoder::new(file),
            hasher: Sha256::new(),
        };
        unpack_layer(&mut hashing, staging.path()).map_err(|source| StoreError::Unpack {
            digest: blob_digest.to_string(),
            source,
        })?;
        // Read what tar left (end-of-archive padding) so the hash covers every byte.
        io::copy(&mut hashing, &mut io::sink()).map_err(io_at(&blob))?;
        let actual = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
        if actual != diff_id {
            return Err(StoreError::DiffIdMismatch {
                diff_id: diff_id.to_string(),
                actual,
            });
        }
        fs::rename(staging.path(), &target).map_err(io_at(&target))?;
        let _ = staging.keep();
        Ok(())
    }

    fn read_blob_json<T: serde::de::DeserializeOwned>(
        &self,
        digest: &str,
        what: &'static str,
    ) -> Result<T, StoreError> {
        read_json(&self.blob_path(digest), what)
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
        let parsed = Reference::parse(reference)?;
        self.references()?
            .get(&parsed.to_string())
            .cloned()
            .ok_or_else(|| StoreError::UnknownImage(reference.to_string()))
    }

    /// The manifest and config of an image, read once for all a command needs.
    pub fn image(&self, reference: &str) -> Result<StoredImage, StoreError> {
        let manifest_digest = self.resolve(reference)?;
        let manifest: ImageManifest =
            self.read_blob_json(&manifest_digest, "a valid OCI image manifest")?;
        let config = self.read_blob_json(
            manifest.config().digest().as_ref(),
            "a valid OCI image config",
        )?;
        Ok(StoredImage {
            manifest_digest,
            manifest,
            config,
        })
    }

    /// `peti tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), StoreError> {
        let target = Reference::parse(target)?;
        let _guard = self.lock()?;
        let digest = self.resolve(source)?;
        self.set_reference(&target, &digest)
    }

    /// `peti images`: every reference, sorted.
    pub fn list(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let mut rows = Vec::new();
        for (reference, digest) in self.references()? {
            let parsed = Reference::parse(&reference)?;
            let manifest: ImageManifest =
                self.read_blob_json(&digest, "a valid OCI image manifest")?;
            let size = manifest.config().size()
                + manifest.layers().iter().map(Descriptor::size).sum::<u64>();
            rows.push(ImageSummary {
                repository: parsed.name,
                tag: parsed.tag,
                id: manifest.config().digest().to_string(),
                manifest_digest: digest,
                size,
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
        let parsed = Reference::parse(reference)?;
        let _guard = self.lock()?;
        let mut refs = self.references()?;
        if refs.remove(&parsed.to_string()).is_none() {
            return Err(StoreError::UnknownImage(reference.to_string()));
        }
        self.write_references(&refs)?;
        let mut report = vec![format!("Untagged: {parsed}")];
        report.extend(self.collect_garbage(&refs, keep)?);
        Ok(report)
    }

    /// Deletes what no reference and no manifest in `keep` needs: after the last
    /// container of an image that `rmi -f` untagged is removed.
    pub fn prune(&self, keep: &BTreeSet<String>) -> Result<Vec<String>, StoreError> {
        let _guard = self.lock()?;
        let refs = self.references()?;
        self.collect_garbage(&refs, keep)
    }

    /// Whether some reference names this manifest.
    pub fn is_tagged(&self, manifest_digest: &str) -> Result<bool, StoreError> {
        Ok(self.references()?.values().any(|d| d == manifest_digest))
    }

    /// Deletes blobs and unpacked layers that no reference reaches.
    fn collect_garbage(
        &self,
        refs: &BTreeMap<String, String>,
        keep: &BTreeSet<String>,
    ) -> Result<Vec<String>, StoreError> {
        let mut live_blobs = BTreeSet::new();
        let mut live_layers = BTreeSet::new();
        for digest in refs.values().chain(keep) {
            let manifest: ImageManifest =
                self.read_blob_json(digest, "a valid OCI image manifest")?;
            let config: ImageConfiguration = self.read_blob_json(
                manifest.config().digest().as_ref(),
                "a valid OCI image config",
            )?;
            live_blobs.insert(digest.trim_start_matches("sha256:").to_string());
            live_blobs.insert(manifest.config().digest().digest().to_string());
            live_blobs.extend(
                manifest
                    .layers()
                    .iter()
                    .map(|l| l.digest().digest().to_string()),
            );
            live_layers.extend(
                config
                    .rootfs()
                    .diff_ids()
                    .iter()
                    .map(|d| d.trim_start_matches("sha256:").to_string()),
            );
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
                let removed = if is_layer {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                removed.map_err(io_at(&path))?;
                deleted.push(format!("Deleted: sha256:{name}"));
            }
        }
        Ok(deleted)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<T, StoreError> {
    let bytes = fs::read(path).map_err(io_at(path))?;
    serde_json::from_slice(&bytes).map_err(|e| StoreError::BadDocument {
        path: path.to_path_buf(),
        what,
        detail: e.to_string(),
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::fsutil::write_atomically(path, bytes, 0o644).map_err(io_at(path))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_dockers_rules() {
        assert_eq!(Reference::parse("lab").unwrap().to_string(), "lab:latest");
        assert_eq!(Reference::parse("lab:v1").unwrap().to_string(), "lab:v1");
        assert_eq!(
            Reference::parse("127.0.0.1:5000/lab").unwrap().to_string(),
            "127.0.0.1:5000/lab:latest"
        );
        assert_eq!(Reference::parse("127.0.0.1:5000/lab:2").unwrap().tag, "2");
        for good in [
            "localhost/lab",
            "localhost:5000/a/b:c",
            "registry.example.com/team/lab-app:1.0",
            "a__b",
            "a---b",
            "my_app.v2",
        ] {
            assert!(Reference::parse(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "Lab",
            "lab:",
            "lab:bad tag",
            "a b",
            "a:b:c",
            "a:b/c",
            "/lab",
            "lab/",
            "a//b",
            "-lab",
            "lab-",
            "a___b",
            "a..b",
            "lab:.v1",
            "host:/lab",
            "Host.example/Lab",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }
}
