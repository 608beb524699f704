//! `peti pull`: an image from a registry into the store.
//!
//! 1. The manifest the reference names is fetched, checked against its
//!    digest; an index (several platforms) gives the one for this platform,
//!    fetched by its digest in turn.
//! 2. The config and the layers the store does not have are downloaded, up
//!    to three at a time as Docker does, each into a `.part-` file that is
//!    hashed as it streams and renamed into `downloads/verified/` only when
//!    its size and digest are right. No lock of the store is held meanwhile,
//!    so other commands go on.
//! 3. Under the store's lock, the manifest and the blobs are laid out as an
//!    OCI layout beside the store and loaded as any layout is (every blob
//!    checked again as it is copied, the layers unpacked), then named.
//!
//! A pull killed halfway leaves no image: only step 3 names one. What it
//! downloaded and verified is kept for the next pull; a `.part-` file whose
//! writer is gone (its lock can be taken) is removed by the next command
//! that changes the store.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::Sender;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::platform::{self, Platform};
use super::reference::Reference;
use super::store::{Changing, Store, StoreError};
use crate::registry::{Fetched, Options, RegistryError, Repository, Transport};

/// How many blobs download at once (Docker's `max-concurrent-downloads`).
const PARALLEL_DOWNLOADS: usize = 3;

/// What can go wrong in a pull.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
    #[error("the manifest of {reference} is not a manifest peti reads ({media_type}): {detail}")]
    BadManifest {
        reference: String,
        media_type: String,
        detail: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> PullError + '_ {
    move |source| PullError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a pull reports as it goes, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `TAG: Pulling from REPOSITORY`.
    Pulling { tag: String, repository: String },
    /// A layer (by its short ID) the store has already.
    Exists(String),
    /// A layer that will be downloaded, and its size.
    Waiting(String, u64),
    /// Bytes of a layer received so far.
    Downloading(String, u64, u64),
    /// A layer downloaded and checked.
    Verified(String),
    /// A layer stored.
    Complete(String),
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub reference: Reference,
    /// The digest of what the reference named (the index, for several
    /// platforms), which `Digest:` shows.
    pub digest: String,
    /// Whether the store had this image under this name already.
    pub up_to_date: bool,
}

/// What a pull is asked for.
#[derive(Debug, Clone)]
pub struct PullRequest {
    pub reference: Reference,
    pub platform: Platform,
    pub options: Options,
}

/// An image found on its registry: its manifest, and what the store lacks.
pub struct Resolved {
    repository: Repository,
    request: PullRequest,
    /// What the reference named.
    digest: String,
    manifest: Fetched,
    parsed: ImageManifest,
}

/// Step 1: the manifest, through an index if there is one.
pub fn resolve(request: &PullRequest, events: &Sender<Progress>) -> Result<Resolved, PullError> {
    let reference = &request.reference;
    let transport =
        Transport::connect(reference.registry(), &request.options).map_err(RegistryError::from)?;
    let repository = Repository::open(transport, &reference.repository(), false)?;
    let asked = match &reference.digest {
        Some(d) => super::digest::text(d),
        None => reference.tag_or_latest().to_string(),
    };
    let first = repository.manifest(&asked)?;
    let _ = events.send(Progress::Pulling {
        tag: asked.clone(),
        repository: reference.repository(),
    });
    let digest = first.digest.clone();
    let (manifest, parsed) = match read_document(reference, &first, &request.platform)? {
        Document::Manifest(parsed) => (first, *parsed),
        Document::Index(chosen) => {
            let manifest = repository.manifest(&chosen)?;
            match read_document(reference, &manifest, &request.platform)? {
                Document::Manifest(parsed) => (manifest, *parsed),
                Document::Index(_) => {
                    return Err(PullError::BadManifest {
                        reference: reference.to_string(),
                        media_type: manifest.media_type,
                        detail: "an index names another index, not an image's manifest".into(),
                    });
                }
            }
        }
    };
    Ok(Resolved {
        repository,
        request: request.clone(),
        digest,
        manifest,
        parsed,
    })
}

/// What a manifest request gave: an image's manifest, or an index whose
/// entry for the platform names (by digest) the manifest to ask for next.
#[derive(Debug)]
pub enum Document {
    Manifest(Box<ImageManifest>),
    Index(String),
}

/// Reads what a registry sent for a manifest request: all of it is the
/// registry's to choose, so every digest a manifest names must be a sha256
/// one (it becomes a file name under `downloads/`) before it is used.
pub fn read_document(
    reference: &Reference,
    fetched: &Fetched,
    platform: &Platform,
) -> Result<Document, PullError> {
    if is_index(fetched) {
        let index: ImageIndex =
            serde_json::from_slice(&fetched.bytes).map_err(|e| bad(reference, fetched, e))?;
        let chosen = platform::select(index.manifests(), platform)?;
        let digest =
            super::digest::of_descriptor(chosen).map_err(|e| bad(reference, fetched, e))?;
        return Ok(Document::Index(super::digest::text(&digest)));
    }
    let parsed: ImageManifest =
        serde_json::from_slice(&fetched.bytes).map_err(|e| bad(reference, fetched, e))?;
    for descriptor in std::iter::once(parsed.config()).chain(parsed.layers()) {
        super::digest::of_descriptor(descriptor).map_err(|e| bad(reference, fetched, e))?;
    }
    Ok(Document::Manifest(Box::new(parsed)))
}

fn is_index(fetched: &Fetched) -> bool {
    fetched.media_type.contains("index") || fetched.media_type.contains("manifest.list")
}

fn bad(reference: &Reference, fetched: &Fetched, e: impl std::fmt::Display) -> PullError {
    PullError::BadManifest {
        reference: reference.to_string(),
        media_type: fetched.media_type.clone(),
        detail: e.to_string(),
    }
}

impl Resolved {
    /// The manifest's digest, what the store will name.
    pub fn manifest_digest(&self) -> &str {
        &self.manifest.digest
    }

    /// Step 2: every blob the store lacks, into `downloads/verified/`.
    pub fn download(&self, store: &Store, events: &Sender<Progress>) -> Result<(), PullError> {
        let downloads = store.downloads_dir();
        let verified = downloads.join("verified");
        fs::create_dir_all(&verified).map_err(io_at(&verified))?;
        let mut wanted = VecDeque::new();
        for descriptor in std::iter::once(self.parsed.config()).chain(self.parsed.layers()) {
            let digest = descriptor.digest().to_string();
            let is_layer = descriptor != self.parsed.config();
            let have = store.has_blob(&digest) || verified_path(&downloads, &digest).is_file();
            if is_layer {
                let id = short_id(&digest);
                let _ = events.send(if have {
                    Progress::Exists(id)
                } else {
                    Progress::Waiting(id, descriptor.size())
                });
            }
            if !have {
                wanted.push_back(descriptor.clone());
            }
        }
        let queue = Mutex::new(wanted);
        let failure: Mutex<Option<PullError>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..PARALLEL_DOWNLOADS {
                scope.spawn(|| {
                    while let Some(descriptor) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                        if failure.lock().is_ok_and(|f| f.is_some()) {
                            return;
                        }
                        if let Err(e) = self.download_one(&downloads, &descriptor, events) {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            return;
                        }
                    }
                });
            }
        });
        match failure.into_inner().ok().flatten() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn download_one(
        &self,
        downloads: &Path,
        descriptor: &Descriptor,
        events: &Sender<Progress>,
    ) -> Result<(), PullError> {
        let digest = descriptor.digest().to_string();
        let id = short_id(&digest);
        // Locked while it is written: a command that can take the lock knows
        // its writer is gone.
        let part = tempfile::Builder::new()
            .prefix(&format!("{}.part-", hex_of(&digest)))
            .tempfile_in(downloads)
            .map_err(io_at(downloads))?;
        let lock = nix::fcntl::Flock::lock(
            part.reopen().map_err(io_at(part.path()))?,
            nix::fcntl::FlockArg::LockExclusive,
        )
        .map_err(|(_, e)| io_at(part.path())(e.into()))?;
        let mut out = std::io::BufWriter::new(part.as_file());
        let mut received = 0u64;
        let size = descriptor.size();
        let mut told = 0u64;
        self.repository
            .blob_into(&digest, size, &mut out, &mut |n| {
                received += n;
                // A line a few times a blob, not one per read.
                if received - told > size / 8 || received == size {
                    told = received;
                    let _ = events.send(Progress::Downloading(id.clone(), received, size));
                }
            })?;
        out.flush().map_err(io_at(part.path()))?;
        drop(out);
        let target = verified_path(downloads, &digest);
        part.persist(&target).map_err(|e| io_at(&target)(e.error))?;
        drop(lock);
        if descriptor != self.parsed.config() {
            let _ = events.send(Progress::Verified(id));
        }
        Ok(())
    }

    /// Step 3, under the store's lock: an OCI layout of the image, loaded and
    /// named; then the downloads it used are let go.
    pub fn store(
        &self,
        store: &Store,
        changing: &Changing,
        events: &Sender<Progress>,
    ) -> Result<Pulled, PullError> {
        let reference = &self.request.reference;
        let name = Reference {
            name: reference.name.clone(),
            tag: Some(reference.tag_or_latest().to_string()),
            digest: None,
        };
        let up_to_date = store
            .resolve(&name.to_string())
            .is_ok_and(|d| d == self.manifest.digest);
        let downloads = store.downloads_dir();
        let staging = tempfile::Builder::new()
            .prefix(".load-")
            .tempdir_in(store.root())
            .map_err(io_at(store.root()))?;
        let layout = staging.path().join("image");
        let blobs = layout.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_at(&blobs))?;
        fs::write(
            blobs.join(hex_of(&self.manifest.digest)),
            &self.manifest.bytes,
        )
        .map_err(io_at(&blobs))?;
        let mut used = Vec::new();
        for descriptor in std::iter::once(self.parsed.config()).chain(self.parsed.layers()) {
            let digest = descriptor.digest().to_string();
            let from = if store.has_blob(&digest) {
                store.blob_file(&digest)?
            } else {
                used.push(verified_path(&downloads, &digest));
                verified_path(&downloads, &digest)
            };
            let to = blobs.join(hex_of(&digest));
            if !to.exists() && fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).map_err(io_at(&from))?;
            }
        }
        write_index(&layout, &self.manifest, reference.tag_or_latest())?;
        let downloaded: Vec<String> = self
            .parsed
            .layers()
            .iter()
            .filter(|l| !store.has_blob(l.digest().as_ref()))
            .map(|l| short_id(l.digest().as_ref()))
            .collect();
        store.load_named_under(changing, &layout, &name)?;
        for id in downloaded {
            let _ = events.send(Progress::Complete(id));
        }
        for path in used {
            let _ = fs::remove_file(path);
        }
        Ok(Pulled {
            reference: name,
            digest: self.digest.clone(),
            up_to_date,
        })
    }
}

/// `index.json` and `oci-layout` of a layout with the one manifest.
fn write_index(layout: &Path, manifest: &Fetched, tag: &str) -> Result<(), PullError> {
    let media_type = if manifest.media_type.is_empty() {
        "application/vnd.oci.image.manifest.v1+json"
    } else {
        &manifest.media_type
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": media_type,
            "digest": manifest.digest,
            "size": manifest.bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    let path = layout.join("index.json");
    fs::write(&path, index.to_string()).map_err(io_at(&path))?;
    let path = layout.join("oci-layout");
    fs::write(&path, r#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_at(&path))
}

fn hex_of(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// A layer as Docker's progress names it: 12 hex digits.
pub fn short_id(digest: &str) -> String {
    hex_of(digest).chars().take(12).collect()
}

fn verified_path(downloads: &Path, digest: &str) -> PathBuf {
    downloads.join("verified").join(hex_of(digest))
}

/// Removes the `.part-` files of downloads whose writer is gone: their
/// lock can be taken. (A live pull holds its files' locks.)
pub fn sweep_downloads(downloads: &Path) {
    let Ok(entries) = fs::read_dir(downloads) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().contains(".part-") {
            continue;
        }
        let Ok(file) = fs::File::open(entry.path()) else {
            continue;
        };
        if let Ok(Some(_held)) = crate::fsutil::try_flock(file) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(media_type: &str, json: String) -> Fetched {
        Fetched {
            bytes: json.into_bytes(),
            digest: String::new(),
            media_type: media_type.into(),
        }
    }

    fn manifest_naming(layer: &str) -> Fetched {
        let config = format!("sha256:{}", "a".repeat(64));
        fetched(
            "application/vnd.oci.image.manifest.v1+json",
            format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":3}}]}}"#
            ),
        )
    }

    #[test]
    fn a_manifest_names_sha256_blobs_only() {
        let reference = Reference::parse("127.0.0.1:5000/x:1").unwrap();
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let good = format!("sha256:{}", "b".repeat(64));
        assert!(matches!(
            read_document(&reference, &manifest_naming(&good), &amd64),
            Ok(Document::Manifest(_))
        ));
        let sha512 = format!("sha512:{}", "c".repeat(128));
        let refused = read_document(&reference, &manifest_naming(&sha512), &amd64).unwrap_err();
        assert!(
            refused.to_string().contains("sha256 content only"),
            "{refused}"
        );
    }

    #[test]
    fn an_index_gives_the_platforms_manifest() {
        let reference = Reference::parse("127.0.0.1:5000/x:1").unwrap();
        let entry = |arch: &str, hex: char| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{}","size":9,"platform":{{"os":"linux","architecture":"{arch}"}}}}"#,
                hex.to_string().repeat(64)
            )
        };
        let index = fetched(
            "application/vnd.oci.image.index.v1+json",
            format!(
                r#"{{"schemaVersion":2,"manifests":[{},{}]}}"#,
                entry("arm64", 'd'),
                entry("amd64", 'e')
            ),
        );
        let amd64 = Platform::parse("linux/amd64").unwrap();
        match read_document(&reference, &index, &amd64) {
            Ok(Document::Index(digest)) => assert_eq!(digest, format!("sha256:{}", "e".repeat(64))),
            other => panic!("{other:?}"),
        }
    }
}
