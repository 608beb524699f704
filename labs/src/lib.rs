//! The labs: one workload, run as a container and as a virtual machine, measured the
//! same way each time, and charted.
//!
//! - [`workloads`]: the small static programs every lab runs, built with musl-gcc.
//! - [`images`]: the OCI images and rootfs tarballs made from them, reproducibly.
//! - [`prepare`]: `labs prepare`, which builds both into one output directory.
//! - [`ways`]: the three ways to run a workload (container, direct VM, Linux VM).
//! - [`experiments`]: the labs themselves (hello-both-ways, boot-time, memory,
//!   disk, resources, isolation; compare, ours against runc, docker, podman
//!   and QEMU; simulate, measured costs extrapolated to a fleet host), and the
//!   versioned results file each one writes.
//! - [`results`]: a results file's numbers: samples and their summaries.
//! - [`machine`]: the machine a result was measured on.
//! - [`charts`]: the SVG charts.
//! - [`book`]: `labs book`, which draws the book's charts from the results files.
//! - [`check`]: `labs check`, which verifies a reader's own run of a lab.
//! - [`criterion`]: the hot paths' criterion estimates, read back and charted.
//! - [`progress`]: progress output for long work, on a terminal or in a CI log.

pub mod book;
pub mod charts;
pub mod check;
pub mod criterion;
pub mod experiments;
pub mod figures;
pub mod images;
pub mod machine;
pub mod meter;
pub mod prepare;
pub mod progress;
pub mod results;
pub mod ways;
pub mod workloads;
