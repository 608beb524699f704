//! OCI images: what an image is on disk.
//!
//! An image is a stack of layers (tar archives of file-system changes) plus a JSON
//! configuration (environment, entrypoint, ...). Every piece is stored as a *blob*
//! named by the sha256 of its bytes, so identical layers are stored once and any
//! change to any byte changes every name above it: layer, config, manifest.

pub mod digest;
pub mod layout;
pub mod platform;
pub mod pull;
pub mod push;
pub mod reference;
pub mod source;
pub mod store;
pub mod unpack;

use oci_spec::OciSpecError;
use oci_spec::image::{Arch, ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder, Os};

/// The `PATH` Docker gives an image that does not set one.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The configuration of an imported rootfs: only what Docker's `import` sets, the
/// platform and the default `PATH`. No `Cmd`, so `run` must be given a command.
pub fn import_config() -> Result<ImageConfiguration, OciSpecError> {
    ImageConfigurationBuilder::default()
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .env(vec![DEFAULT_PATH.to_string()])
                .build()?,
        )
        .build()
}
