//! Releasing what a container holds on the host, in one step, for every way a
//! container ends: `peti rm`, the end of a `--rm` container (attached, or
//! through its monitor), and the recovery of a lost `--rm` container that no
//! one was left to remove.
//!
//! What it holds, released in this order: its cgroup, while the record still
//! says where it is; then its writable layer and run-time files; its record
//! last (`ContainerStore::delete`), so that a failure midway leaves a record
//! naming what is left. Network addresses and links will join here.
//!
//! And one more way: a container whose making was cut short (peti killed
//! between reserving its name and writing its record) has no record to say
//! what it holds. [`reclaim`] clears everything such a container could hold,
//! by the names peti gives things: its directories, its name, its cgroup.

use super::cgroups::{Cgroup, CgroupError};
use super::state::{Container, ContainerStore, Locked, StateError};

/// Releases everything `container` (not running) holds, and its record.
pub fn release(
    store: &ContainerStore,
    lock: &Locked,
    container: &Container,
) -> Result<(), StateError> {
    // One after the other: the cgroup's rmdirs take about 0.1 ms, less than
    // starting a thread to overlap them with the file removal would.
    match &container.cgroup {
        Some(cgroup) => cgroup.remove()?,
        // A start cut short may have made one and not recorded it.
        None => remove_everywhere(&container.id, container.spec.cgroup_parent.as_deref())?,
    }
    store.delete(lock, container)
}

/// Removes the cgroup `<parent>/<id>` wherever it could be. A host with no
/// cgroup file system mounted has none to remove (and `peti create` works
/// there; only a start needs cgroups).
fn remove_everywhere(id: &str, parent: Option<&str>) -> Result<(), StateError> {
    match Cgroup::everywhere(id, parent) {
        Ok(cgroup) => Ok(cgroup.remove()?),
        Err(CgroupError::NotMounted(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Clears what the unfinished container `id` may hold (see
/// `ContainerStore::is_unfinished`, which the caller asked under `lock`).
/// With no record, no start can have run (a start reads the record), so the
/// only cgroup a start cut short could have left is under the default parent.
pub fn reclaim(store: &ContainerStore, lock: &Locked, id: &str) -> Result<(), StateError> {
    remove_everywhere(id, None)?;
    store.forget_unfinished(lock, id)
}

/// Clears every unfinished container among `record_less` (directories with
/// no record, as a scan found them); a directory that someone is still
/// making is left alone. Best effort: what cannot be cleared now is tried
/// again by the next command that looks.
pub fn reclaim_unfinished(store: &ContainerStore, record_less: &[String]) {
    if record_less.is_empty() {
        return;
    }
    let Ok(lock) = store.lock() else { return };
    for id in record_less {
        if store.is_unfinished(&lock, id) {
            let _ = reclaim(store, &lock, id);
        }
    }
}

/// Whether `container` is a `--rm` container that ran, ended, and that nobody
/// is left to remove: its peti or its monitor was killed. Docker's daemon
/// removes such a container when it finds it exited; peti does the same, the
/// first time a command looks (see `Engine::container`).
pub fn is_abandoned(container: &Container) -> bool {
    use super::state::{ProcessId, Status};
    container.spec.auto_remove
        && container.state.status == Status::Exited
        && !container
            .state
            .monitor
            .as_ref()
            .is_some_and(ProcessId::is_alive)
}
