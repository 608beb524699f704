//! Stop, kill, remove, wait for, update and (re)start containers, by name.

use std::time::Duration;

use super::{Engine, EngineError};
use crate::container::lifecycle::{self, LifecycleError};
use crate::container::spec;
use crate::container::state::{Container, Status};
use crate::container::trace::Tracer;

/// What `start` did with one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// It was running already (and `start` without `-a` leaves it so).
    AlreadyRunning,
    /// Started in the background, with a monitor.
    Detached,
    /// Started attached and waited for: its exit code.
    Exited(i32),
}

impl Engine {
    /// `peti start [-a]`: one container, created or exited, started again.
    pub fn start(&self, name: &str, attach: bool) -> Result<Started, EngineError> {
        let container = self.container(name)?;
        if container.state.status == Status::Running {
            if attach {
                return Err(LifecycleError::AlreadyRunning(name.to_string()).into());
            }
            return Ok(Started::AlreadyRunning);
        }
        let mut tracer = Tracer::new(false, "peti");
        if attach {
            super::run::check_terminal(container.spec.tty && container.spec.stdin)?;
            Ok(Started::Exited(
                self.run_attached(container.into(), &mut tracer)?,
            ))
        } else {
            self.start_detached(container.into(), &mut tracer)?;
            Ok(Started::Detached)
        }
    }

    /// `peti stop`: SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&self, name: &str, grace: Duration) -> Result<Container, EngineError> {
        let container = self.container(name)?;
        Ok(lifecycle::stop(&self.containers, &container, grace)?)
    }

    /// `peti pause` (`frozen`) and `peti unpause`.
    pub fn pause(&self, name: &str, frozen: bool) -> Result<(), EngineError> {
        let container = self.container(name)?;
        lifecycle::set_paused(&self.containers, &container, frozen)?;
        Ok(())
    }

    /// `peti kill -s SIGNAL`.
    pub fn kill(&self, name: &str, signal: &str) -> Result<(), EngineError> {
        let signal = lifecycle::parse_signal(signal)?;
        let container = self.container(name)?;
        Ok(lifecycle::kill_container(
            &self.containers,
            &container,
            signal,
        )?)
    }

    /// `peti rm [-f] [-v]`, and then the image's layers if they were kept
    /// only for it; with `volumes`, its anonymous volumes too.
    pub fn remove(&self, name: &str, force: bool, volumes: bool) -> Result<(), EngineError> {
        let container = self.container(name)?;
        lifecycle::remove(&self.containers, &container, force)?;
        self.prune_if_untagged(&container);
        if volumes {
            self.remove_anonymous_volumes(&container);
        }
        Ok(())
    }

    /// `peti container prune`: removes every container that is not running,
    /// as Docker's does; returns each one's ID and the bytes its writable
    /// layer held (Docker's "reclaimed space").
    pub fn prune_containers(&self) -> Result<Vec<(String, u64)>, EngineError> {
        let mut removed = Vec::new();
        for container in self.all_containers()? {
            if container.state.status == crate::container::state::Status::Running {
                continue;
            }
            let bytes = self.writable_bytes(&container);
            lifecycle::remove(&self.containers, &container, false)?;
            self.prune_if_untagged(&container);
            removed.push((container.id.clone(), bytes));
        }
        Ok(removed)
    }

    /// `peti rename OLD NEW`, running or not, as Docker's.
    pub fn rename(&self, name: &str, new_name: &str) -> Result<(), EngineError> {
        let lock = self.containers.lock()?;
        let id = self.containers.find(name)?.id;
        let container = self.containers.refresh_under(&lock, &id)?;
        self.containers.rename(&lock, &container, new_name)?;
        Ok(())
    }

    /// `peti restart [-t N]`: a stop, with its grace period, then a start in
    /// the background, as Docker's; a stopped container just starts.
    pub fn restart(&self, name: &str, grace: Duration) -> Result<(), EngineError> {
        self.stop(name, grace)?;
        self.start(name, false).map(drop)
    }

    /// `peti wait`: blocks until the container stops; returns its exit code.
    pub fn wait(&self, name: &str) -> Result<i32, EngineError> {
        let container = self.container(name)?;
        let container = lifecycle::wait_recorded(&self.containers, &container.id)?;
        Ok(container.state.exit_code.unwrap_or(0))
    }

    /// `peti update`: new limits while it runs; only those given change.
    pub fn update(
        &self,
        name: &str,
        memory: Option<&str>,
        cpus: Option<&str>,
        pids_limit: Option<&str>,
    ) -> Result<Container, EngineError> {
        if memory.is_none() && cpus.is_none() && pids_limit.is_none() {
            return Err(EngineError::NothingToUpdate);
        }
        let limits = spec::parse_limits(memory, cpus, pids_limit)?;
        let container = self.container(name)?;
        Ok(lifecycle::update(&self.containers, &container, &limits)?)
    }
}
