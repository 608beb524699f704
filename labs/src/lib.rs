//! The labs: one workload, run as a container and as a virtual machine, measured the
//! same way each time, and charted.
//!
//! - [`workloads`]: the small static programs every lab runs, built with musl-gcc.
//! - [`images`]: the OCI images and rootfs tarballs made from them, reproducibly.
//! - [`prepare`]: `labs prepare`, which builds both into one output directory.
//! - [`progress`]: progress output for long work, on a terminal or in a CI log.

pub mod images;
pub mod prepare;
pub mod progress;
pub mod workloads;
