//! The lab images: what `labs prepare` puts in `DIR/images/`.
//!
//! | image | layers | runs |
//! | --- | --- | --- |
//! | `busybox` | busybox | `sh` |
//! | `lab` | busybox + workloads | `sh`; the workloads are on `PATH` |
//! | `hello`, `compute`, ... | that one binary | the binary (`Entrypoint`) |
//!
//! `lab` is built on the very same busybox layer as `busybox`: same bytes, same
//! digest. That is layer sharing, which the disk lab measures. The workload images
//! are "scratch" images, holding one static file, for the disk-footprint lessons.

pub mod busybox;
pub mod catalog;
pub mod rootfs;

pub use catalog::{ImageSpec, catalog};
pub use rootfs::Rootfs;
