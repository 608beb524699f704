//! `peti volume`: create, list, inspect, remove and prune volumes, and the
//! anonymous volumes a container takes with it when it is removed.

use super::{Engine, EngineError};
use crate::container::state::Container;
use crate::volume::{VolumeError, VolumeInfo};

/// `volume prune`'s result: what went, and the bytes it held.
#[derive(Debug, Default)]
pub struct Pruned {
    pub names: Vec<String>,
    pub bytes: u64,
}

impl Engine {
    /// `peti volume create [NAME]`.
    pub fn create_volume(&self, name: Option<&str>) -> Result<VolumeInfo, EngineError> {
        Ok(self.volumes.create(name)?)
    }

    /// `peti volume ls`.
    pub fn list_volumes(&self) -> Result<Vec<VolumeInfo>, EngineError> {
        Ok(self.volumes.list()?)
    }

    /// `peti volume inspect NAME`.
    pub fn inspect_volume(&self, name: &str) -> Result<VolumeInfo, EngineError> {
        Ok(self.volumes.get(name)?)
    }

    /// Every container's record as it is on disk: whether one names a
    /// volume needs no more, and the caller holds the containers' lock,
    /// which the look at each container's state would take again.
    fn records(&self) -> Result<Vec<Container>, EngineError> {
        Ok(self.containers.scan()?.records)
    }

    /// The IDs of the containers, in any state, whose spec names the volume.
    fn users_of(&self, name: &str) -> Result<Vec<String>, EngineError> {
        Ok(self
            .records()?
            .iter()
            .filter(|c| uses(c, name))
            .map(|c| c.id.clone())
            .collect())
    }

    /// `peti volume rm [-f] NAME`: refused while a container, running or
    /// not, names it (even with `-f`, as Docker's). Under the containers'
    /// lock, so no container is made with it meanwhile.
    pub fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let _lock = self.containers.lock()?;
        self.volumes.get(name)?;
        let users = self.users_of(name)?;
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                containers: users.join(", "),
            }
            .into());
        }
        Ok(self.volumes.remove(name)?)
    }

    /// `peti volume prune [-a]`: every volume no container names, anonymous
    /// ones only unless `all` (Docker's rule since 23.0: a named volume is
    /// kept on purpose).
    pub fn prune_volumes(&self, all: bool) -> Result<Pruned, EngineError> {
        let _lock = self.containers.lock()?;
        let containers = self.records()?;
        let mut pruned = Pruned::default();
        for volume in self.volumes.list()? {
            let used = containers.iter().any(|c| uses(c, &volume.name));
            if used || !(all || volume.anonymous) {
                continue;
            }
            let bytes = self.volumes.size(&volume);
            self.volumes.remove(&volume.name)?;
            pruned.bytes += bytes;
            pruned.names.push(volume.name);
        }
        Ok(pruned)
    }

    /// `peti rm -v` and `--rm`: the container's anonymous volumes, once it
    /// is gone. One that another container names (`--volumes-from` would
    /// make that) is kept.
    pub fn remove_anonymous_volumes(&self, container: &Container) {
        for volume in container.spec.volumes.iter().filter(|v| v.anonymous) {
            if let Some(name) = &volume.volume {
                let _ = self.remove_volume(name);
            }
        }
    }
}

fn uses(container: &Container, volume: &str) -> bool {
    container
        .spec
        .volumes
        .iter()
        .any(|v| v.volume.as_deref() == Some(volume))
}
