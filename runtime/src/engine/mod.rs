//! The engine: what every command does, as a library with a plain API.
//!
//! The command line (`cli/`) only parses arguments and prints what the engine
//! returns. Whatever else will drive containers (a `build` that runs each
//! RUN step in a container, a `compose` that starts a set of them) calls the
//! engine directly, never by running `peti` as a subprocess.
//!
//! - [`run`]: create a container from an image and options, start it attached
//!   (waiting for it) or detached (a monitor stays with it).
//! - [`lifecycle`]: stop, kill, remove, wait for, update, restart-free start.
//! - [`exec`]: one more process in a running container.
//! - [`copy`]: `peti cp`, both ways.
//! - [`changes`]: `diff`, `commit` and `export`: what a container changed.
//! - [`view`]: what `ps`, `inspect` and `stats` show, as serde types with
//!   Docker's field names.
//! - [`logs`]: what a container printed, from its log.
//! - [`top`]: the processes a container runs, seen from the host.
//! - [`registry`]: pull and push, and the pull of `run` for an image not here.
//! - [`images`]: load, import, list, tag and remove images.
//! - [`system`]: `system df` and `system prune`: what the stores hold.
//! - [`volumes`]: create, list, inspect, remove and prune volumes.
//!
//! Below it sit the mechanisms: `image` (the store, layouts, layers) and
//! `container` (namespaces, cgroups, the root file system, the start path).

pub mod changes;
pub mod copy;
pub mod exec;
pub mod images;
pub mod lifecycle;
pub mod logs;
pub mod registry;
pub mod run;
pub mod system;
pub mod top;
pub mod view;
pub mod volumes;

use std::path::{Path, PathBuf};

use crate::container::cgroups::CgroupError;
use crate::container::lifecycle::LifecycleError;
use crate::container::monitor::MonitorError;
use crate::container::process::StartError;
use crate::container::spec::SpecError;
use crate::container::state::{Container, ContainerStore, StateError};
use crate::container::teardown;
use crate::image::store::{Store, StoreError};
use crate::volume::{VolumeError, VolumeStore};

/// Docker's exit status when the runtime itself fails.
pub const EXIT_RUNTIME_FAILED: u8 = 125;

/// Everything that can make an engine call fail.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Image(#[from] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Pull(#[from] crate::image::pull::PullError),
    #[error(transparent)]
    Push(#[from] crate::image::push::PushError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Copy(#[from] crate::container::copy::CopyError),
    /// A failure to start, with Docker's exit code (125, 126 or 127).
    #[error(transparent)]
    Start(StartError),
    #[error(
        "conflict: unable to remove image {image:?} (must force): container {container} is using it"
    )]
    ImageInUse { image: String, container: String },
    #[error("the input device is not a TTY: drop -t, or run from a terminal")]
    NotATerminal,
    #[error("the container's monitor died while starting it: see `peti ps -a`")]
    MonitorLost,
    #[error("container {0} has never run: no usage to show")]
    NeverRan(String),
    #[error("you must provide one or more flags when using this command")]
    NothingToUpdate,
    #[error(
        "invalid filter {0:?}: use status=, name=, id= or ancestor= (status: created, running, paused, exited, dead)"
    )]
    BadFilter(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    /// Docker's exit status for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Start(failure) => failure.exit_code(),
            _ => EXIT_RUNTIME_FAILED,
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let what = what.into();
        move |source| EngineError::Io { what, source }
    }
}

impl From<StartError> for EngineError {
    fn from(failure: StartError) -> Self {
        EngineError::Start(failure)
    }
}

/// The two stores every command works on, and where they are.
pub struct Engine {
    pub root: PathBuf,
    pub run_root: PathBuf,
    pub images: Store,
    pub containers: ContainerStore,
    pub volumes: VolumeStore,
}

impl Engine {
    /// Opens (creating if needed) the image store and the container store.
    pub fn open(root: &Path, run_root: &Path) -> Result<Engine, EngineError> {
        Ok(Engine {
            images: Store::open(root)?,
            containers: ContainerStore::open(root, run_root)?,
            volumes: VolumeStore::new(root),
            root: root.to_path_buf(),
            run_root: run_root.to_path_buf(),
        })
    }

    /// The container a name or ID prefix names, as it is now.
    pub fn container(&self, name: &str) -> Result<Container, EngineError> {
        let container = self.containers.refresh(self.containers.find(name)?)?;
        match self.reap_if_abandoned(container)? {
            Some(container) => Ok(container),
            None => Err(StateError::NoSuchContainer(name.to_string()).into()),
        }
    }

    /// Every container as it is now, oldest first; gone ones left out.
    pub fn all_containers(&self) -> Result<Vec<Container>, EngineError> {
        let scan = self.containers.scan()?;
        teardown::reclaim_unfinished(&self.containers, &scan.record_less);
        let mut found = Vec::new();
        for container in scan.records {
            match self.containers.refresh(container) {
                Ok(c) => found.extend(self.reap_if_abandoned(c)?),
                // Removed by another command meanwhile.
                Err(StateError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(found)
    }

    /// Removes a `--rm` container that nobody is left to remove (its peti or
    /// monitor was killed), as Docker's daemon removes one when it finds it
    /// exited; to the command that looked, it no longer exists. If removing
    /// fails, it stays, exited, for `peti rm` to try again and say why.
    fn reap_if_abandoned(&self, container: Container) -> Result<Option<Container>, EngineError> {
        if !teardown::is_abandoned(&container) {
            return Ok(Some(container));
        }
        let lock = self.containers.lock()?;
        // Under the lock, read again: another command may have reaped it.
        // (refreshed: on a full disk the record on disk may still say running)
        let Ok(container) = self.containers.refresh_under(&lock, &container.id) else {
            return Ok(None);
        };
        if !teardown::is_abandoned(&container) {
            return Ok(Some(container));
        }
        match teardown::release(&self.containers, &lock, &container) {
            Ok(()) => {
                drop(lock);
                self.prune_if_untagged(&container);
                self.remove_anonymous_volumes(&container);
                Ok(None)
            }
            Err(_) => Ok(Some(container)),
        }
    }
}
