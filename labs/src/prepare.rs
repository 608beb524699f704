//! `labs prepare`: builds every workload and every lab image into one directory.
//!
//! ```text
//! DIR/bin/<workload>          the static workload binaries
//! DIR/images/<name>/          one OCI image layout per image, tagged `latest`
//! DIR/images/<name>.tar       the same image as one plain rootfs tarball
//! ```
//!
//! Running it twice gives byte-identical output: see [`crate::images::rootfs`].

use std::fs;
use std::path::{Path, PathBuf};

use runtime::image::layout::{LayoutError, WrittenImage, write_layout};

use crate::images::busybox::{self, BusyboxError};
use crate::images::catalog;
use crate::progress::Progress;
use crate::workloads::{self, WORKLOADS, WorkloadError};

/// The default output directory, relative to where `labs` runs.
pub const DEFAULT_OUT: &str = "target/lab";

/// What can go wrong in `labs prepare`.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("--out {0} exists and is not a directory: give a directory path")]
    OutNotADirectory(PathBuf),
    #[error("cannot use --out {path}: {source}; give a directory you can write to")]
    OutUnusable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Busybox(#[from] BusyboxError),
    #[error("image {name}: {source}")]
    Layout {
        name: String,
        #[source]
        source: LayoutError,
    },
    #[error("image {name}: cannot build its configuration: {source}")]
    Config {
        name: String,
        #[source]
        source: oci_spec::OciSpecError,
    },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One image that `prepare` wrote.
#[derive(Debug, Clone)]
pub struct PreparedImage {
    pub name: String,
    pub layout: PathBuf,
    pub tarball: PathBuf,
    pub written: WrittenImage,
}

/// Everything `prepare` wrote.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub out: PathBuf,
    pub binaries: Vec<PathBuf>,
    pub images: Vec<PreparedImage>,
}

/// Builds the workloads and images into `out`.
///
/// Every tool and input is checked before anything is written, so a machine that
/// lacks one gets an error and no half-filled directory.
pub fn prepare(out: &Path) -> Result<Prepared, PrepareError> {
    workloads::check_compiler()?;
    let busybox_path = busybox::locate()?;
    let (bin_dir, images_dir) = create_out_dirs(out)?;

    let image_names = catalog::image_names();
    let mut progress = Progress::new("prepare", (WORKLOADS.len() + image_names.len()) as u64);
    let mut binaries = Vec::new();
    let mut built = Vec::new();
    for workload in &WORKLOADS {
        progress.step(format!("compiling workload {}", workload.name));
        let path = workloads::build(workload, &bin_dir)?;
        let bytes = fs::read(&path).map_err(|source| PrepareError::Io {
            path: path.clone(),
            source,
        })?;
        binaries.push(path);
        built.push((workload, bytes));
    }

    let busybox_layer = busybox::layer(&busybox_path)?;
    let mut images = Vec::new();
    for spec in catalog::catalog(&busybox_layer, &built) {
        progress.step(format!("writing image {}", spec.name));
        images.push(write_image(&spec, &images_dir)?);
    }
    progress.finish();
    Ok(Prepared {
        out: out.to_path_buf(),
        binaries,
        images,
    })
}

fn create_out_dirs(out: &Path) -> Result<(PathBuf, PathBuf), PrepareError> {
    if out.exists() && !out.is_dir() {
        return Err(PrepareError::OutNotADirectory(out.to_path_buf()));
    }
    let (bin, images) = (out.join("bin"), out.join("images"));
    for dir in [&bin, &images] {
        fs::create_dir_all(dir).map_err(|source| PrepareError::OutUnusable {
            path: out.to_path_buf(),
            source,
        })?;
    }
    Ok((bin, images))
}

fn write_image(
    spec: &catalog::ImageSpec,
    images_dir: &Path,
) -> Result<PreparedImage, PrepareError> {
    let name = spec.name.clone();
    let config = spec.config().map_err(|source| PrepareError::Config {
        name: name.clone(),
        source,
    })?;
    let tars: Vec<Vec<u8>> = spec
        .layers
        .iter()
        .map(|(layer, _)| layer.to_tar())
        .collect();
    let layout = images_dir.join(&name);
    let written =
        write_layout(&layout, "latest", &tars, config).map_err(|source| PrepareError::Layout {
            name: name.clone(),
            source,
        })?;

    let tarball = images_dir.join(format!("{name}.tar"));
    write_atomically(&tarball, &spec.flattened().to_tar())?;
    Ok(PreparedImage {
        name,
        layout,
        tarball,
        written,
    })
}

/// Writes an image tarball atomically, readable by everyone.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PrepareError> {
    runtime::fsutil::write_atomically(path, bytes, 0o644).map_err(|source| PrepareError::Io {
        path: path.to_path_buf(),
        source,
    })
}
