//! `peti system df` and `peti system prune`: what the store holds, what of
//! it is in use, and removing what is not, as Docker's counts them.

use std::collections::{BTreeMap, BTreeSet};

use super::{Engine, EngineError};
use crate::container::state::Status;

/// One line of `system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: usize,
    pub active: usize,
    pub bytes: u64,
    pub reclaimable: u64,
}

/// `system df`: images, containers, local volumes and build cache (peti has
/// none of the last: its column stays at zero, as a daemon's that never built).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub images: Usage,
    pub containers: Usage,
    pub volumes: Usage,
    pub build_cache: Usage,
}

/// What `system prune` removed.
#[derive(Debug, Clone, Default)]
pub struct SystemPruned {
    pub containers: Vec<String>,
    pub images: Vec<String>,
    pub volumes: Vec<String>,
    pub bytes: u64,
}

impl Engine {
    /// `peti system df`. An image is active while a container uses it; its
    /// reclaimable bytes are those of blobs no active image shares. A
    /// container is active while it runs; a stopped one's writable layer is
    /// reclaimable. A volume is active while a container names it.
    pub fn disk_usage(&self) -> Result<DiskUsage, EngineError> {
        let containers = self.all_containers()?;
        let in_use: BTreeSet<String> = containers
            .iter()
            .map(|c| c.manifest_digest.clone())
            .collect();
        let mut manifests: BTreeSet<String> = self
            .images
            .list()?
            .into_iter()
            .map(|i| i.manifest_digest)
            .collect();
        manifests.extend(in_use.iter().cloned());
        let mut sizes = BTreeMap::new();
        let mut active_blobs = BTreeSet::new();
        for manifest in &manifests {
            for (digest, size) in self.images.blobs_of(manifest)? {
                if in_use.contains(manifest) {
                    active_blobs.insert(digest.clone());
                }
                sizes.insert(digest, size);
            }
        }
        let image_bytes: u64 = sizes.values().sum();
        let active_bytes: u64 = active_blobs.iter().filter_map(|d| sizes.get(d)).sum();
        let images = Usage {
            total: manifests.len(),
            active: manifests.iter().filter(|m| in_use.contains(*m)).count(),
            bytes: image_bytes,
            reclaimable: image_bytes - active_bytes,
        };
        let mut container_usage = Usage {
            total: containers.len(),
            ..Usage::default()
        };
        for c in &containers {
            let bytes = self.writable_bytes(c);
            container_usage.bytes += bytes;
            if c.state.status == Status::Running {
                container_usage.active += 1;
            } else {
                container_usage.reclaimable += bytes;
            }
        }
        let named: BTreeSet<&str> = containers
            .iter()
            .flat_map(|c| c.spec.volumes.iter().filter_map(|v| v.volume.as_deref()))
            .collect();
        let mut volumes = Usage::default();
        for volume in self.volumes.list()? {
            let bytes = self.volumes.size(&volume);
            volumes.total += 1;
            volumes.bytes += bytes;
            if named.contains(volume.name.as_str()) {
                volumes.active += 1;
            } else {
                volumes.reclaimable += bytes;
            }
        }
        Ok(DiskUsage {
            images,
            containers: container_usage,
            volumes,
            build_cache: Usage::default(),
        })
    }

    /// `peti system prune [-a] [--volumes]`: every container that is not
    /// running; with `all_images`, every image no container uses (without,
    /// only nameless ones, which peti never keeps); with `volumes`, the
    /// anonymous volumes no container uses.
    pub fn prune_system(
        &self,
        all_images: bool,
        volumes: bool,
    ) -> Result<SystemPruned, EngineError> {
        let mut pruned = SystemPruned::default();
        for (id, bytes) in self.prune_containers()? {
            pruned.containers.push(id);
            pruned.bytes += bytes;
        }
        if all_images {
            let in_use = self.containers.images_in_use()?;
            let before = self.disk_usage()?.images.bytes;
            for image in self.images.list()? {
                if !in_use.contains(&image.manifest_digest) {
                    let name = format!("{}:{}", image.repository, image.tag);
                    pruned.images.extend(self.remove_image(&name, false)?);
                }
            }
            pruned.bytes += before.saturating_sub(self.disk_usage()?.images.bytes);
        }
        if volumes {
            let gone = self.prune_volumes(false)?;
            pruned.volumes = gone.names;
            pruned.bytes += gone.bytes;
        }
        Ok(pruned)
    }
}
