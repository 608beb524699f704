//! `peti push`: an image from the store to a registry. The layers and the
//! config go first, each only if the registry does not have it yet (a HEAD
//! asks); then the manifest, as the exact bytes the store holds, with its
//! own media type. Nothing in the store changes, whatever happens.

use std::collections::BTreeSet;
use std::fs;
use std::sync::mpsc::Sender;

use super::pull::short_id;
use super::reference::Reference;
use super::store::{Store, StoreError};
use crate::registry::{Options, RegistryError, Repository, Transport};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// What a push reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushProgress {
    /// `The push refers to repository [NAME]`.
    Repository(String),
    Preparing(String),
    Exists(String),
    /// `Mounted from REPOSITORY`: the registry linked the blob another
    /// of its repositories has, and no byte was sent.
    Mounted(String, String),
    Pushed(String),
}

/// What a push did: the manifest's digest and size, which Docker prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub tag: String,
    pub digest: String,
    pub size: u64,
}

/// Pushes the stored image `reference` to its registry.
pub fn push(
    store: &Store,
    reference: &Reference,
    options: &Options,
    events: &Sender<PushProgress>,
) -> Result<Pushed, PushError> {
    let stored = store.image(&reference.to_string())?;
    let manifest_path = store.blob_file(&stored.manifest_digest)?;
    let manifest_bytes = fs::read(&manifest_path).map_err(|source| PushError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    let transport =
        Transport::connect(reference.registry(), options).map_err(RegistryError::from)?;
    let lenders = lenders(store, reference, &stored.manifest_digest)?;
    let mut scopes = vec![crate::registry::auth::scope(&reference.repository(), true)];
    scopes.extend(
        lenders
            .iter()
            .map(|(repo, _)| crate::registry::auth::scope(repo, false)),
    );
    let repository = Repository::open_for(transport, &reference.repository(), &scopes)?;
    let _ = events.send(PushProgress::Repository(reference.name.clone()));
    let layers = stored.manifest.layers();
    for descriptor in layers
        .iter()
        .chain(std::iter::once(stored.manifest.config()))
    {
        let digest = descriptor.digest().to_string();
        let id = short_id(&digest);
        let is_layer = descriptor != stored.manifest.config();
        if is_layer {
            let _ = events.send(PushProgress::Preparing(id.clone()));
        }
        if repository.has_blob(&digest)? {
            if is_layer {
                let _ = events.send(PushProgress::Exists(id));
            }
            continue;
        }
        let path = store.blob_file(&digest)?;
        let mut file = fs::File::open(&path).map_err(|source| PushError::Io {
            path: path.clone(),
            source,
        })?;
        let from = lenders
            .iter()
            .find(|(_, blobs)| blobs.contains(&digest))
            .map(|(repo, _)| repo.as_str());
        let mounted = repository.push_blob(
            &digest,
            descriptor.size(),
            &mut file,
            from,
            options.chunk_size,
        )?;
        if is_layer {
            let _ = events.send(if mounted {
                PushProgress::Mounted(id, from.unwrap_or_default().to_string())
            } else {
                PushProgress::Pushed(id)
            });
        }
    }
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_string());
    let tag = reference.tag_or_latest().to_string();
    repository.put_manifest(&tag, &media_type, &manifest_bytes)?;
    Ok(Pushed {
        tag,
        digest: stored.manifest_digest,
        size: manifest_bytes.len() as u64,
    })
}

/// The other repositories of `reference`'s registry that may lend it some of
/// the blobs of the image `manifest_digest`, with the blobs of theirs this
/// store knows: the images stored under a name on that registry came from
/// it or went to it. Only those that share a blob are kept, since each one
/// is a scope more in a Bearer token. A wrong guess costs one request: the
/// registry answers 202 and the blob is uploaded after all.
fn lenders(
    store: &Store,
    reference: &Reference,
    manifest_digest: &str,
) -> Result<Vec<(String, BTreeSet<String>)>, PushError> {
    let ours: BTreeSet<String> = store
        .blobs_of(manifest_digest)?
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    let mut lenders: Vec<(String, BTreeSet<String>)> = Vec::new();
    for image in store.list()? {
        let Ok(other) = Reference::parse(&image.repository) else {
            continue;
        };
        if other.registry() != reference.registry() || other.repository() == reference.repository()
        {
            continue;
        }
        let blobs: Vec<String> = store
            .blobs_of(&image.manifest_digest)?
            .into_iter()
            .map(|(d, _)| d)
            .filter(|d| ours.contains(d))
            .collect();
        if blobs.is_empty() {
            continue;
        }
        let repository = other.repository();
        match lenders.iter_mut().find(|(r, _)| *r == repository) {
            Some((_, known)) => known.extend(blobs),
            None => lenders.push((repository, blobs.into_iter().collect())),
        }
    }
    Ok(lenders)
}
