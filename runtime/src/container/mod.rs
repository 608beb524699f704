//! Containers: a process on the host's kernel, in namespaces of its own, under a
//! cgroup, on an overlay of its image's layers.
//!
//! - [`spec`]: what a container is made of (command, env, limits, volumes).
//! - [`state`]: records on disk, the lock, and the truth about live processes.
//! - [`teardown`]: releasing what a container holds, in one step, however it ends.
//! - [`lifecycle`]: create, stop, kill, remove, wait.
//! - [`spawn`]: the parent's side of starting one (cgroup, clone, the channel).
//! - [`init`]: the child's side, from clone to exec.
//! - [`exec`]: `peti exec`, joining a running container.
//! - [`network`]: the network namespace peti makes and the container joins.
//! - [`rootfs`]: overlayfs, /proc, /sys, /dev, pivot_root, masked paths.
//! - [`process`]: stdio, user, capabilities and exec, shared with `peti exec`.
//! - [`dmz`]: the exec through a sealed copy of a tiny program (CVE-2019-5736).
//! - [`security`]: users, capabilities, --privileged, no_new_privs when asked.
//! - [`cgroups`]: v1 and v2.
//! - [`changes`]: what a container changed: `diff`, and the layer `commit` makes.
//! - [`copy`]: `peti cp`, both ways, from inside the container's root.
//! - [`channel`]: the typed messages from child to parent.
//! - [`start_error`]: why a start failed, with Docker's exit code.
//! - [`monitor`]: the small process that stays with a detached container.
//! - [`trace`]: `--trace`, the timeline of a start.
//! - [`tty`]: `-t`, the pseudo-terminal relay.
//! - [`relay`]: a foreground container's output, to the terminal and its log.

pub mod cgroups;
pub mod changes;
pub mod channel;
pub mod copy;
pub mod dmz;
pub mod exec;
pub mod init;
pub mod lifecycle;
pub mod monitor;
pub mod network;
pub mod process;
pub mod relay;
pub mod rootfs;
pub mod seccomp;
pub mod security;
pub mod spawn;
pub mod spec;
pub mod start_error;
pub mod state;
pub mod teardown;
pub mod trace;
pub mod tty;
