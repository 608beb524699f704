//! disk: how many bytes each way needs before it can run `hello`.
//!
//! - A container needs its image: the manifest, the config and the layers, as
//!   compressed blobs (what a registry sends and the store keeps). Layers are
//!   content-addressed, so an image built on a base another image already has
//!   costs only its own new layers: the second part of the lab loads `busybox`
//!   and `lab` (busybox plus the workloads) and counts their blobs once each.
//! - A Linux VM needs a kernel and an initramfs made from the same image.
//! - A direct VM needs the program alone: there is no guest kernel to carry.
//!
//! And a container needs more than it fetches: to run it, peti keeps the
//! blobs and the layer unpacked beside them (`kept`), which for `hello` is
//! more than the direct VM's one file. Which is smaller depends on which
//! figure is asked, and the lab gives both.
//!
//! Sizes are read from the files `labs prepare` wrote, so this lab needs
//! neither root nor KVM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabResults;
use super::{LabContext, LabData, LabError, linux_kernel};
use crate::charts::{self, Bar, ChartError, Grouped};
use crate::ways::{Way, WayError, checked};
use runtime::image::platform::Platform;
use runtime::image::source::{BlobSource, LayoutDir, SourceError};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiskData {
    /// What each way needs to run hello.
    pub ways: Vec<DiskWay>,
    pub sharing: Sharing,
    /// What peti's store keeps to run hello: the blobs, and the layer
    /// unpacked. (Absent from results of before it was measured.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<Kept>,
}

/// A container image as peti's store keeps it to run it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Kept {
    /// The blobs: manifest, config and compressed layers.
    pub blobs_bytes: u64,
    /// The bytes of the unpacked layers' regular files (their content, not
    /// the blocks the file system gives them).
    pub unpacked_bytes: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiskWay {
    pub way: Way,
    pub artifacts: Vec<Artifact>,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub name: String,
    pub path: String,
    pub bytes: u64,
}

/// Two images on one base: their sizes apart, and stored together.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sharing {
    /// (image, blob bytes of that image alone).
    pub images: Vec<(String, u64)>,
    /// The sum of the images' sizes, as if nothing were shared.
    pub separately_bytes: u64,
    /// Their blobs counted once each, as a content-addressed store keeps them.
    pub stored_bytes: u64,
    /// The blobs both images use.
    pub shared_blobs: Vec<(String, u64)>,
}

/// An image's blobs in an OCI layout, as (what it is, digest, size): the
/// manifest, the config, and the layers in order ("layer 1", ...), read by
/// peti's own image library, every document checked.
fn image_blobs(layout: &Path) -> Result<Vec<(String, String, u64)>, WayError> {
    let fail = |e: SourceError| WayError::Report {
        what: layout.display().to_string(),
        reason: e.to_string(),
    };
    let (descriptor, manifest) = LayoutDir::open(layout)
        .and_then(|dir| dir.image_manifest(&Platform::host()))
        .map_err(fail)?;
    let named = [
        ("manifest".to_string(), &descriptor),
        ("config".to_string(), manifest.config()),
    ];
    let layers = manifest
        .layers()
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("layer {}", i + 1), d));
    Ok(named
        .into_iter()
        .chain(layers)
        .map(|(what, d)| (what, d.digest().to_string(), d.size()))
        .collect())
}

fn file_bytes(path: &Path) -> Result<u64, WayError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| WayError::Report {
            what: path.display().to_string(),
            reason: e.to_string(),
        })
}

pub fn run(ctx: &mut LabContext) -> Result<(LabData, Vec<String>), LabError> {
    let tools = ctx.tools.clone();
    ctx.begin("disk", 4);
    ctx.step("the hello image's blobs");
    let hello = image_blobs(&tools.image_layout("hello"))?;
    let mut ways = vec![DiskWay {
        way: Way::Container,
        total_bytes: hello.iter().map(|(_, _, bytes)| bytes).sum(),
        artifacts: hello
            .iter()
            .map(|(what, digest, bytes)| Artifact {
                name: format!("blob: {what}"),
                path: format!("images/hello/blobs/{}", digest.replace(':', "/")),
                bytes: *bytes,
            })
            .collect(),
    }];
    let mut commands = vec![format!(
        "du -b {}/images/hello/blobs",
        tools.lab_dir.display()
    )];
    ctx.step("an initramfs made from the hello image");
    let initramfs = ctx.scratch.join("disk-hello.cpio.gz");
    checked(
        std::process::Command::new(&tools.microvm)
            .arg("initramfs")
            .arg(tools.image_layout("hello"))
            .arg("-o")
            .arg(&initramfs),
        "microvm initramfs images/hello -o hello.cpio.gz",
    )?;
    commands.push("microvm initramfs target/lab/images/hello -o hello.cpio.gz".into());
    let mut linux = vec![Artifact {
        name: "initramfs (hello image + /init)".into(),
        path: "hello.cpio.gz".into(),
        bytes: file_bytes(&initramfs)?,
    }];
    if let Some(kernel) = linux_kernel() {
        linux.insert(
            0,
            Artifact {
                name: "Linux kernel (bzImage)".into(),
                path: kernel.display().to_string(),
                bytes: file_bytes(&kernel)?,
            },
        );
    }
    let _ = std::fs::remove_file(&initramfs);
    ways.push(DiskWay {
        way: Way::LinuxVm,
        total_bytes: linux.iter().map(|a| a.bytes).sum(),
        artifacts: linux,
    });
    let elf = tools.binary("hello");
    ways.push(DiskWay {
        way: Way::DirectVm,
        artifacts: vec![Artifact {
            name: "hello (static ELF)".into(),
            path: "bin/hello".into(),
            bytes: file_bytes(&elf)?,
        }],
        total_bytes: file_bytes(&elf)?,
    });
    ctx.step("busybox and lab: one base layer, stored once");
    let sharing = sharing(&tools, &["busybox", "lab"])?;
    commands.push("du -b target/lab/images/{busybox,lab}/blobs".into());
    ctx.step("the hello image as peti keeps it to run it");
    let kept = kept(&tools, "hello", ways[0].total_bytes)?;
    commands.push("peti load -i target/lab/images/hello".into());
    Ok((
        LabData::Disk(DiskData {
            ways,
            sharing,
            kept: Some(kept),
        }),
        commands,
    ))
}

/// Loads `image` into the labs' store and counts what the store keeps of it:
/// `blobs_bytes`, and the files of its unpacked layers.
fn kept(tools: &crate::ways::Tools, image: &str, blobs_bytes: u64) -> Result<Kept, WayError> {
    tools.load_image(image)?;
    let fail = |e: &dyn std::fmt::Display| WayError::Report {
        what: format!("the {image} image in {}", tools.peti_root.display()),
        reason: e.to_string(),
    };
    let store = runtime::image::store::Store::open(&tools.peti_root).map_err(|e| fail(&e))?;
    let stored = store.image(image).map_err(|e| fail(&e))?;
    let mut unpacked_bytes = 0;
    for dir in store.layer_dirs(&stored) {
        unpacked_bytes += runtime::fsutil::file_bytes_under(&dir).map_err(|e| fail(&e))?;
    }
    Ok(Kept {
        blobs_bytes,
        unpacked_bytes,
        total_bytes: blobs_bytes + unpacked_bytes,
    })
}

fn sharing(tools: &crate::ways::Tools, images: &[&str]) -> Result<Sharing, WayError> {
    let mut each = Vec::new();
    let mut stored: BTreeMap<String, u64> = BTreeMap::new();
    let mut users: BTreeMap<String, u32> = BTreeMap::new();
    for image in images {
        let blobs = image_blobs(&tools.image_layout(image))?;
        each.push((
            image.to_string(),
            blobs.iter().map(|(_, _, b)| b).sum::<u64>(),
        ));
        for (_, digest, bytes) in blobs {
            *users.entry(digest.clone()).or_default() += 1;
            stored.insert(digest, bytes);
        }
    }
    let shared_blobs = users
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(d, _)| (d.clone(), stored[d]))
        .collect();
    Ok(Sharing {
        separately_bytes: each.iter().map(|(_, b)| b).sum(),
        stored_bytes: stored.values().sum(),
        images: each,
        shared_blobs,
    })
}

pub fn charts(
    data: &DiskData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let per_way = dir.join("disk-per-way.svg");
    let mut rows: Vec<(String, f64, usize)> = data
        .ways
        .iter()
        .map(|w| {
            let parts: Vec<String> = w.artifacts.iter().map(|a| artifact_kind(&a.name)).collect();
            let mut parts_named = parts.clone();
            parts_named.dedup();
            (
                format!("{} ({})", w.way, parts_named.join(" + ")),
                w.total_bytes as f64 / 1024.0,
                w.way.colour(),
            )
        })
        .collect();
    if let Some(kept) = &data.kept {
        rows.insert(
            1,
            (
                "container kept (blobs + files)".into(),
                kept.total_bytes as f64 / 1024.0,
                Way::Container.colour(),
            ),
        );
    }
    charts::log_bars(
        &per_way,
        &format!(
            "Bytes on disk to run hello, each way (N=1: file sizes, {})",
            results.machine
        ),
        "size (KiB, logarithmic)",
        &rows,
    )?;
    let sharing = dir.join("disk-sharing.svg");
    let s = &data.sharing;
    let mut categories: Vec<String> = s.images.iter().map(|(n, _)| n.clone()).collect();
    categories.push("both".into());
    let kib = |b: u64| {
        Some(Bar {
            value: b as f64 / 1024.0,
            spread: None,
        })
    };
    let mut apart: Vec<Option<Bar>> = s.images.iter().map(|(_, b)| kib(*b)).collect();
    apart.push(kib(s.separately_bytes));
    let mut once: Vec<Option<Bar>> = vec![None; s.images.len()];
    once.push(kib(s.stored_bytes));
    let series = vec![
        ("each image's blobs, counted apart".to_string(), apart),
        ("stored once (content-addressed)".to_string(), once),
    ];
    charts::grouped_bars(
        &sharing,
        &Grouped {
            title: "Two images on one base layer: blob bytes apart and stored (N=1)",
            y_label: "compressed blob bytes (KiB)",
            categories: &categories,
            series: &series,
        },
    )?;
    Ok(vec![per_way, sharing])
}

/// A short name of an artifact: blobs of one image are one kind.
fn artifact_kind(name: &str) -> String {
    if name.starts_with("blob") {
        "image blobs".into()
    } else if name.starts_with("Linux kernel") {
        "kernel".into()
    } else if name.starts_with("initramfs") {
        "initramfs".into()
    } else {
        "ELF".into()
    }
}

pub fn problems(data: &DiskData) -> Vec<String> {
    let mut problems = Vec::new();
    for w in &data.ways {
        let sum: u64 = w.artifacts.iter().map(|a| a.bytes).sum();
        if sum != w.total_bytes {
            problems.push(format!(
                "{}: artifacts add up to {sum}, not {}",
                w.way, w.total_bytes
            ));
        }
    }
    let s = &data.sharing;
    let shared: u64 = s.shared_blobs.iter().map(|(_, b)| b).sum();
    if s.separately_bytes != s.stored_bytes + shared {
        problems.push(format!(
            "sharing: {} apart should be {} stored plus {shared} shared",
            s.separately_bytes, s.stored_bytes
        ));
    }
    if s.shared_blobs.is_empty() {
        problems.push("sharing: the two images share no blob".into());
    }
    if let Some(k) = &data.kept
        && k.total_bytes != k.blobs_bytes + k.unpacked_bytes
    {
        problems.push(format!(
            "kept: {} is not the blobs' {} plus the unpacked {}",
            k.total_bytes, k.blobs_bytes, k.unpacked_bytes
        ));
    }
    problems
}
