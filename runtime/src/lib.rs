//! The `peti` container runtime, as a library.
//!
//! The binary `peti` is a thin command line over these modules, so that the labs and
//! the tests can use the same code the command line does.
//!
//! - [`image`]: OCI images: content-addressed blobs, layers, and the OCI image layout.
//! - [`container`]: containers: namespaces, cgroups, overlayfs, pivot_root, the monitor.
//! - [`engine`]: what each command does, with a plain API: the command line,
//!   the labs (and soon build and compose) call it.
//! - [`registry`]: the OCI distribution API: pull and push against a registry.
//! - [`volume`]: named and anonymous volumes, kept apart from any container.
//! - [`network`]: bridge networks: subnets and addresses (more to come).
//! - [`fsutil`]: file-system helpers, such as atomic writes.

pub mod container;
pub mod engine;
pub mod fsutil;
pub mod image;
pub mod network;
pub mod registry;
pub mod volume;
