//! `microvm initramfs`: the very image a container runs, made into the
//! initramfs a Linux VM boots from.
//!
//! A container image is a stack of layers (tar archives) plus a config (the
//! command, environment, working directory). A Linux kernel wants one archive
//! instead, in the `newc` cpio format, which it unpacks into a RAM file system
//! before running `/init`. So this module:
//! 1. reads the image: an OCI layout (every blob checked against its sha256)
//!    or a plain rootfs tarball;
//! 2. flattens the layers in order, applying whiteouts (`.wh.NAME` deletes NAME,
//!    `.wh..wh..opq` empties its directory), which is what overlayfs does at run
//!    time for a container;
//! 3. adds what the VM needs: our `/init` (init/init.c), `/dev/console`, mount
//!    points, and the command in `/microvm/argv`;
//! 4. writes the cpio by hand (the format is a dozen hex fields per file, worth
//!    seeing), gzipped, reproducibly: same image, same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use oci_spec::image::ImageConfiguration;
use runtime::image::platform::Platform;
use runtime::image::source::{self, BlobSource, LayoutDir, SourceError};
use runtime::image::unpack::{self, Whiteout};

use crate::layout::MAX_MEM_MIB;

/// The most image an initramfs can hold: it is unpacked into guest RAM, so no more
/// than the largest guest memory. A bound on what a gzip bomb can make us hold.
const MAX_IMAGE_BYTES: u64 = MAX_MEM_MIB << 20;

/// The /init that runs the image's command, built from init/init.c.
const INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/microvm-init"));

/// What is wrong with the input or the output.
#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is neither an OCI image layout (a directory with index.json) nor a tar file")]
    NotAnImage { path: PathBuf },
    #[error("{path}: {detail}")]
    BadLayout { path: PathBuf, detail: String },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(
        "the image's layers hold more than {} MiB uncompressed, more than a VM's memory can hold",
        MAX_IMAGE_BYTES >> 20
    )]
    TooLarge,
    #[error("a layer holds {path:?}, which climbs out of the root with `..`: refused")]
    UnsafePath { path: String },
    #[error(
        "no command: the image has no Entrypoint or Cmd; give one after the output, e.g. `-- /hello`"
    )]
    NoCommand,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The image, read: its layers' tar bytes (uncompressed), bottom first, and
/// what to run.
pub struct Image {
    pub layers: Vec<Vec<u8>>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub entries: usize,
    pub cpio_bytes: usize,
    pub gzip_bytes: usize,
    pub command: Vec<String>,
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> InitramfsError + '_ {
    move |source| InitramfsError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads `input`; `command`, if not empty, replaces the image's Cmd (after its
/// Entrypoint), as `docker run IMAGE COMMAND...` does.
pub fn read_image(input: &Path, command: &[String]) -> Result<Image, InitramfsError> {
    let metadata = fs::metadata(input).map_err(read_error(input))?;
    let (layers, config) = if metadata.is_dir() {
        read_layout(input)?
    } else {
        (vec![read_tarball(input)?], None)
    };
    // The image's defaults as a container gets them: peti's own rules.
    let process = config.as_ref().and_then(|c| c.config().clone());
    let strings = |v: Option<Vec<String>>| v.unwrap_or_default();
    let full = runtime::container::spec::command_line(
        &strings(process.as_ref().and_then(|p| p.entrypoint().clone())),
        &strings(process.as_ref().and_then(|p| p.cmd().clone())),
        command,
    )
    .map_err(|_| InitramfsError::NoCommand)?;
    let env = process
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_else(|| vec![runtime::image::DEFAULT_PATH.to_string()]);
    let workdir = process
        .as_ref()
        .and_then(|p| p.working_dir().clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    Ok(Image {
        layers,
        command: full,
        env,
        workdir,
    })
}

/// A rootfs tarball, gzipped or not: a regular file only, read within bounds.
fn read_tarball(path: &Path) -> Result<Vec<u8>, InitramfsError> {
    let (file, _) = source::open_regular(path)?;
    let bytes = read_bounded(file).map_err(read_error(path))??;
    let tar = maybe_gunzip(&bytes).map_err(read_error(path))??;
    // A tar file's header has "ustar" at offset 257.
    if tar.get(257..262) != Some(b"ustar") {
        return Err(InitramfsError::NotAnImage {
            path: path.to_path_buf(),
        });
    }
    Ok(tar)
}

/// Reads at most [`MAX_IMAGE_BYTES`]; more is an error, not a truncation.
fn read_bounded(reader: impl Read) -> std::io::Result<Result<Vec<u8>, InitramfsError>> {
    let mut out = Vec::new();
    reader.take(MAX_IMAGE_BYTES + 1).read_to_end(&mut out)?;
    Ok(if out.len() as u64 > MAX_IMAGE_BYTES {
        Err(InitramfsError::TooLarge)
    } else {
        Ok(out)
    })
}

fn maybe_gunzip(bytes: &[u8]) -> std::io::Result<Result<Vec<u8>, InitramfsError>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        read_bounded(GzDecoder::new(bytes))
    } else {
        Ok(Ok(bytes.to_vec()))
    }
}

/// An OCI image layout: the image for this machine's platform, its config and
/// its layers, read as `peti load` reads them (see runtime's `image::source`):
/// beneath the folder, no symlinks, regular files only, sizes and digests checked.
fn read_layout(dir: &Path) -> Result<(Vec<Vec<u8>>, Option<ImageConfiguration>), InitramfsError> {
    let bad = |detail: String| InitramfsError::BadLayout {
        path: dir.to_path_buf(),
        detail,
    };
    let layout = LayoutDir::open(dir)?;
    if !layout.has_file("index.json") {
        return Err(InitramfsError::NotAnImage {
            path: dir.to_path_buf(),
        });
    }
    let (manifest, config) = layout.image(&Platform::host())?;
    let mut total = 0u64;
    let layers = manifest
        .layers()
        .iter()
        .map(|layer| {
            let blob = layout.read_verified(layer, MAX_IMAGE_BYTES)?;
            let tar = maybe_gunzip(&blob)
                .map_err(|e| bad(format!("layer {}: {e}", layer.digest())))??;
            total = total.saturating_add(tar.len() as u64);
            if total > MAX_IMAGE_BYTES {
                return Err(InitramfsError::TooLarge);
            }
            Ok(tar)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((layers, Some(config)))
}

/// One file of the flattened tree.
#[derive(Debug, Clone)]
struct Node {
    /// Full st_mode: file type bits and permissions.
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u32,
    data: Vec<u8>,
    rdev: (u32, u32),
}

impl Node {
    /// A root-owned entry from 1970, as everything microvm adds is (so that
    /// the same image gives the same bytes).
    fn new(mode: u32, data: Vec<u8>) -> Self {
        Node {
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            data,
            rdev: (0, 0),
        }
    }
}

const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const S_IFDIR: u32 = 0o040000;
const S_IFBLK: u32 = 0o060000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// A path inside the image, relative, with `.` dropped and `..` refused.
fn normalise(raw: &Path) -> Result<Option<PathBuf>, InitramfsError> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(InitramfsError::UnsafePath {
                    path: raw.display().to_string(),
                });
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Applies the layers in order, as overlayfs would see them stacked.
fn flatten(layers: &[Vec<u8>]) -> Result<BTreeMap<PathBuf, Node>, InitramfsError> {
    let mut tree: BTreeMap<PathBuf, Node> = BTreeMap::new();
    for layer in layers {
        let mut archive = tar::Archive::new(&layer[..]);
        let entries = archive.entries().map_err(|e| InitramfsError::BadLayout {
            path: PathBuf::from("layer"),
            detail: e.to_string(),
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| InitramfsError::BadLayout {
                path: PathBuf::from("layer"),
                detail: e.to_string(),
            })?;
            let raw = entry
                .path()
                .map_err(|e| InitramfsError::BadLayout {
                    path: PathBuf::from("layer"),
                    detail: e.to_string(),
                })?
                .into_owned();
            let Some(path) = normalise(&raw)? else {
                continue;
            };
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
            // The same reading of whiteouts as peti's unpacker, refusals included.
            let whiteout = unpack::whiteout(name, &raw.to_string_lossy()).map_err(|e| {
                InitramfsError::BadLayout {
                    path: PathBuf::from("layer"),
                    detail: e.to_string(),
                }
            })?;
            match whiteout {
                Some(Whiteout::Opaque) => {
                    // An opaque directory: what lower layers put in it is hidden.
                    tree.retain(|p, _| !p.starts_with(&parent) || *p == parent);
                    continue;
                }
                Some(Whiteout::Hide(hidden)) => {
                    let gone = parent.join(hidden);
                    tree.retain(|p, _| !p.starts_with(&gone));
                    continue;
                }
                Some(Whiteout::AufsMetadata) => continue,
                None => {}
            }
            let node = node_of(&mut entry, &tree)?;
            if node.mode & S_IFDIR == 0 {
                // A file replaces whatever was at its path, a directory included.
                tree.retain(|p, _| !p.starts_with(&path) || *p == path);
            }
            // A layer may list a file without its directories; they exist all
            // the same, and stay when a later layer deletes the file.
            add_parents(&mut tree, &path);
            tree.insert(path, node);
        }
    }
    Ok(tree)
}

fn node_of<R: Read>(
    entry: &mut tar::Entry<R>,
    tree: &BTreeMap<PathBuf, Node>,
) -> Result<Node, InitramfsError> {
    let header = entry.header().clone();
    let perm = header.mode().unwrap_or(0o644) & 0o7777;
    let mut node = Node {
        mode: perm,
        uid: header.uid().unwrap_or(0) as u32,
        gid: header.gid().unwrap_or(0) as u32,
        mtime: header.mtime().unwrap_or(0) as u32,
        data: Vec::new(),
        rdev: (0, 0),
    };
    let link = || {
        header
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    use tar::EntryType;
    match header.entry_type() {
        EntryType::Directory => node.mode |= S_IFDIR,
        EntryType::Symlink => {
            node.mode = S_IFLNK | 0o777;
            node.data = link().into_bytes();
        }
        EntryType::Link => {
            // A hard link becomes a copy: simpler than sharing an inode, and the
            // kernel's unpacker gives the same contents.
            let target = normalise(Path::new(&link()))?.unwrap_or_default();
            match tree.get(&target) {
                Some(original) => node = original.clone(),
                None => node.mode |= S_IFREG,
            }
        }
        EntryType::Char | EntryType::Block => {
            node.mode |= if header.entry_type() == EntryType::Char {
                S_IFCHR
            } else {
                S_IFBLK
            };
            node.rdev = (
                header.device_major().ok().flatten().unwrap_or(0),
                header.device_minor().ok().flatten().unwrap_or(0),
            );
        }
        EntryType::Fifo => node.mode |= S_IFIFO,
        _ => {
            node.mode |= S_IFREG;
            entry
                .read_to_end(&mut node.data)
                .map_err(|e| InitramfsError::BadLayout {
                    path: PathBuf::from("layer"),
                    detail: e.to_string(),
                })?;
        }
    }
    Ok(node)
}

/// What the VM adds to the image: /init, the console, mount points, the command.
fn add_vm_files(tree: &mut BTreeMap<PathBuf, Node>, image: &Image) {
    let node = Node::new;
    for dir in ["dev", "proc", "sys", "microvm"] {
        tree.entry(PathBuf::from(dir))
            .or_insert_with(|| node(S_IFDIR | 0o755, Vec::new()));
    }
    // The kernel opens /dev/console for init's stdio before devtmpfs exists.
    let mut console = node(S_IFCHR | 0o600, Vec::new());
    console.rdev = (5, 1);
    tree.insert(PathBuf::from("dev/console"), console);
    tree.insert(PathBuf::from("init"), node(S_IFREG | 0o755, INIT.to_vec()));
    let strings = |items: &[String]| {
        items
            .iter()
            .flat_map(|s| s.bytes().chain([0]))
            .collect::<Vec<u8>>()
    };
    tree.insert(
        PathBuf::from("microvm/argv"),
        node(S_IFREG | 0o644, strings(&image.command)),
    );
    tree.insert(
        PathBuf::from("microvm/env"),
        node(S_IFREG | 0o644, strings(&image.env)),
    );
    tree.insert(
        PathBuf::from("microvm/workdir"),
        node(S_IFREG | 0o644, image.workdir.clone().into_bytes()),
    );
}

/// Every directory on the way to `path`, as plain 0755 directories where the
/// image did not list them.
fn add_parents(tree: &mut BTreeMap<PathBuf, Node>, path: &Path) {
    for parent in path.ancestors().skip(1) {
        if parent.as_os_str().is_empty() {
            break;
        }
        tree.entry(parent.to_path_buf())
            .or_insert_with(|| Node::new(S_IFDIR | 0o755, Vec::new()));
    }
}

/// One newc record: "070701", thirteen 8-digit hex fields, the name with its
/// NUL, padding to 4 bytes, the data, padding to 4 bytes.
fn newc_record(out: &mut Vec<u8>, ino: u32, node: &Node, name: &str) {
    let fields = [
        ino,
        node.mode,
        node.uid,
        node.gid,
        if node.mode & S_IFDIR != 0 { 2 } else { 1 }, // nlink
        node.mtime,
        node.data.len() as u32,
        0, // devmajor: the archive's own device, unused
        0, // devminor
        node.rdev.0,
        node.rdev.1,
        name.len() as u32 + 1, // namesize, with the NUL
        0,                     // check: only for the "070702" variant
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(&node.data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// The whole gzipped newc archive for `image`.
pub fn build(image: &Image) -> Result<(Vec<u8>, Written), InitramfsError> {
    let mut tree = flatten(&image.layers)?;
    add_vm_files(&mut tree, image);
    let mut cpio = Vec::new();
    for (ino, (path, node)) in tree.iter().enumerate() {
        newc_record(&mut cpio, ino as u32 + 1, node, &path.to_string_lossy());
    }
    let trailer = Node::new(0, Vec::new());
    newc_record(&mut cpio, 0, &trailer, "TRAILER!!!");
    // No name and no time in the gzip header: the same image gives the same bytes.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    gz.write_all(&cpio)
        .and_then(|()| gz.try_finish())
        .map_err(|source| InitramfsError::Write {
            path: PathBuf::from("(memory)"),
            source,
        })?;
    let gzipped = gz.finish().map_err(|source| InitramfsError::Write {
        path: PathBuf::from("(memory)"),
        source,
    })?;
    let written = Written {
        entries: tree.len(),
        cpio_bytes: cpio.len(),
        gzip_bytes: gzipped.len(),
        command: image.command.clone(),
    };
    Ok((gzipped, written))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a
/// failure leaves no half-written initramfs.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), InitramfsError> {
    let fail = |source| InitramfsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut staged = tempfile::Builder::new()
        .prefix(".initramfs-")
        .tempfile_in(dir)
        .map_err(fail)?;
    staged.write_all(bytes).map_err(fail)?;
    staged.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}
