//! `microvm initramfs`: a container image becomes a newc initramfs. These tests
//! build images with layers, whiteouts and a config, then read the archive
//! back with a newc parser of their own and check what is in it.
//!
//! The archive's /init only runs inside a Linux guest, which needs hardware
//! virtualisation; the Linux boot test covers that where it can run.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use common::{assert_says, microvm, stderr};
use oci_spec::image::{ConfigBuilder, ImageConfigurationBuilder};

/// One entry of a newc archive: mode, rdev, data.
#[derive(Debug)]
struct Entry {
    mode: u32,
    rdev: (u32, u32),
    data: Vec<u8>,
}

/// Parses a gzipped newc archive, independently of microvm's writer.
fn parse_newc(gzipped: &[u8]) -> BTreeMap<String, Entry> {
    let mut cpio = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .read_to_end(&mut cpio)
        .unwrap();
    let mut entries = BTreeMap::new();
    let mut at = 0;
    let align = |n: usize| n.div_ceil(4) * 4;
    loop {
        assert_eq!(&cpio[at..at + 6], b"070701", "newc magic at {at}");
        let field = |i: usize| {
            let start = at + 6 + i * 8;
            u32::from_str_radix(std::str::from_utf8(&cpio[start..start + 8]).unwrap(), 16).unwrap()
        };
        let (mode, size, rdev, namesize) = (
            field(1),
            field(6) as usize,
            (field(9), field(10)),
            field(11) as usize,
        );
        let name_start = at + 110;
        let name = std::str::from_utf8(&cpio[name_start..name_start + namesize - 1])
            .unwrap()
            .to_string();
        let data_start = align(name_start + namesize);
        let data = cpio[data_start..data_start + size].to_vec();
        at = align(data_start + size);
        if name == "TRAILER!!!" {
            assert_eq!(at, cpio.len(), "nothing after the trailer");
            return entries;
        }
        entries.insert(name, Entry { mode, rdev, data });
    }
}

use testkit::tar_of as tar_layer;

fn layout_with(dir: &Path, layers: &[Vec<u8>]) {
    let config = ImageConfigurationBuilder::default()
        .architecture(oci_spec::image::Arch::Amd64)
        .os(oci_spec::image::Os::Linux)
        .config(
            ConfigBuilder::default()
                .entrypoint(vec!["/bin/app".to_string()])
                .cmd(vec!["--flag".to_string()])
                .env(vec!["PATH=/bin".to_string(), "MODE=vm".to_string()])
                .working_dir("/srv".to_string())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    runtime::image::layout::write_layout(dir, "latest", layers, config).unwrap();
}

fn build(input: &Path, out: &Path, command: &[&str]) -> std::process::Output {
    let mut args = vec![
        "initramfs",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    if !command.is_empty() {
        args.push("--");
        args.extend(command);
    }
    microvm(&args)
}

#[test]
fn an_image_becomes_an_initramfs_with_its_layers_flattened() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tar_layer(&[
        ("bin/app", b"app v1"),
        ("etc/motd", b"hello"),
        ("var/cache/a", b"1"),
        ("var/cache/b", b"2"),
    ]);
    let top = tar_layer(&[
        ("bin/app", b"app v2"),
        ("etc/.wh.motd", b""),
        ("var/cache/.wh..wh..opq", b""),
        ("var/cache/c", b"3"),
    ]);
    let layout = tmp.path().join("image");
    layout_with(&layout, &[base, top]);
    let out = tmp.path().join("image.cpio.gz");
    let output = build(&layout, &out, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let bytes = std::fs::read(&out).unwrap();
    let entries = parse_newc(&bytes);

    assert_eq!(entries["bin/app"].data, b"app v2", "the top layer wins");
    assert!(!entries.contains_key("etc/motd"), "a whiteout deletes");
    assert!(entries.contains_key("etc"), "but not its directory");
    assert!(!entries.contains_key("var/cache/a") && !entries.contains_key("var/cache/b"));
    assert_eq!(
        entries["var/cache/c"].data, b"3",
        "an opaque directory keeps only its own"
    );
    // What the VM adds.
    let init = &entries["init"];
    assert_eq!(init.mode, 0o100755);
    assert!(
        init.data.starts_with(b"\x7fELF"),
        "/init is a static program"
    );
    assert_eq!(entries["dev/console"].mode, 0o020600);
    assert_eq!(entries["dev/console"].rdev, (5, 1));
    for dir in ["dev", "proc", "sys", "bin", "var/cache"] {
        assert_eq!(
            entries[dir].mode & 0o170000,
            0o040000,
            "{dir} is a directory"
        );
    }
    assert_eq!(entries["microvm/argv"].data, b"/bin/app\0--flag\0");
    assert_eq!(entries["microvm/env"].data, b"PATH=/bin\0MODE=vm\0");
    assert_eq!(entries["microvm/workdir"].data, b"/srv");

    // The same image gives the same bytes.
    let again = tmp.path().join("again.cpio.gz");
    assert!(build(&layout, &again, &[]).status.success());
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // A command replaces Cmd, after the Entrypoint, as `docker run` does.
    let other = tmp.path().join("other.cpio.gz");
    assert!(build(&layout, &other, &["--other", "x"]).status.success());
    let entries = parse_newc(&std::fs::read(&other).unwrap());
    assert_eq!(entries["microvm/argv"].data, b"/bin/app\0--other\0x\0");
}

#[test]
fn a_rootfs_tarball_needs_a_command() {
    let tmp = tempfile::tempdir().unwrap();
    let tarball = tmp.path().join("rootfs.tar");
    std::fs::write(&tarball, tar_layer(&[("hello", b"#!")])).unwrap();
    let out = tmp.path().join("out.cpio.gz");
    let refused = build(&tarball, &out, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_says(&refused, "no command");
    assert!(!out.exists(), "nothing is written on failure");
    assert!(build(&tarball, &out, &["/hello"]).status.success());
    let entries = parse_newc(&std::fs::read(&out).unwrap());
    assert_eq!(entries["microvm/argv"].data, b"/hello\0");
    assert_eq!(entries["microvm/workdir"].data, b"/");
}

#[test]
fn corrupt_or_hostile_images_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("image");
    layout_with(&layout, &[tar_layer(&[("bin/app", b"app")])]);
    // Flip a byte of the layer blob: its digest no longer matches.
    let blobs = layout.join("blobs/sha256");
    let mut largest = None;
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let len = std::fs::metadata(&path).unwrap().len();
        if largest.as_ref().is_none_or(|(l, _)| len > *l) {
            largest = Some((len, path));
        }
    }
    let (_, blob) = largest.unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let out = tmp.path().join("out.cpio.gz");
    let refused = build(&layout, &out, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_says(&refused, "does not match its digest");

    // A layer that climbs out with `..`.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
    header.set_cksum();
    builder.append(&header, &b"x"[..]).unwrap();
    let tarball = tmp.path().join("evil.tar");
    std::fs::write(&tarball, builder.into_inner().unwrap()).unwrap();
    let refused = build(&tarball, &out, &["/x"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_says(&refused, "climbs out of the root");
    let refused = build(Path::new("/etc/hostname"), &out, &["/x"]);
    assert_says(&refused, "neither an OCI image layout");
}

#[test]
fn an_image_is_read_as_carefully_as_peti_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.cpio.gz");
    // A blob that is a link out of the layout (here to the host's /etc/hostname).
    let layout = tmp.path().join("linked");
    layout_with(&layout, &[tar_layer(&[("bin/app", b"app")])]);
    let blobs = layout.join("blobs/sha256");
    let blob = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &blob).unwrap();
    let refused = build(&layout, &out, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert_says(&refused, "is a symlink");

    // A whiteout of `..`: refused, as peti's unpacker refuses it.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.as_ustar_mut().unwrap().name[..6].copy_from_slice(b".wh...");
    header.set_size(0);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append(&header, &[][..]).unwrap();
    let tarball = tmp.path().join("whiteout.tar");
    std::fs::write(&tarball, builder.into_inner().unwrap()).unwrap();
    let refused = build(&tarball, &out, &["/x"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_says(&refused, "is a whiteout of '.', '..' or nothing");

    // What is not a regular file is not read: /dev/zero would never end.
    let refused = build(Path::new("/dev/zero"), &out, &["/x"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_says(&refused, "is a character device, not a regular file");
    assert!(!out.exists());
}
