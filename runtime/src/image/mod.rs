//! OCI images: what an image is on disk.
//!
//! An image is a stack of layers (tar archives of file-system changes) plus a JSON
//! configuration (environment, entrypoint, ...). Every piece is stored as a *blob*
//! named by the sha256 of its bytes, so identical layers are stored once and any
//! change to any byte changes every name above it: layer, config, manifest.

pub mod digest;
pub mod layout;
pub mod store;
pub mod unpack;
