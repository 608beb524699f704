//! Layer unpacking against hostile layers: every escape is refused or kept inside,
//! and a directory beside the destination shows that nothing was written outside.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use runtime::image::unpack::{UnpackError, unpack_layer};

/// One tar entry, with its name written as raw bytes, so that a test can build the
/// names a careful tar writer would refuse to (`..`, absolute paths).
fn entry(tar: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut header = tar::Header::new_ustar();
    let raw = header.as_ustar_mut().unwrap();
    raw.name[..name.len()].copy_from_slice(name.as_bytes());
    raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_entry_type(kind);
    header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    header.set_size(data.len() as u64);
    header.set_mtime(0);
    if kind == tar::EntryType::Char {
        header.set_device_major(1).unwrap();
        header.set_device_minor(3).unwrap();
    }
    header.set_cksum();
    tar.write_all(header.as_bytes()).unwrap();
    tar.write_all(data).unwrap();
    tar.write_all(&vec![0; (512 - data.len() % 512) % 512])
        .unwrap();
}

fn finish(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0; 1024]);
    tar
}

/// A destination and an "outside" directory beside it, standing in for the host.
struct Scene {
    _root: tempfile::TempDir,
    dest: std::path::PathBuf,
    outside: std::path::PathBuf,
}

impl Scene {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("store/layer");
        let outside = root.path().join("host");
        fs::create_dir_all(&dest).unwrap();
        fs::create_dir_all(&outside).unwrap();
        Scene {
            dest,
            outside,
            _root: root,
        }
    }

    fn unpack(&self, tar: Vec<u8>) -> Result<runtime::image::unpack::UnpackStats, UnpackError> {
        unpack_layer(finish(tar).as_slice(), &self.dest)
    }

    fn assert_outside_untouched(&self) {
        assert_eq!(
            fs::read_dir(&self.outside).unwrap().count(),
            0,
            "something was written outside"
        );
        let root = self.dest.parent().unwrap().parent().unwrap();
        let mut names: Vec<_> = fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["host", "store"]);
        assert_eq!(
            fs::read_dir(self.dest.parent().unwrap()).unwrap().count(),
            1
        );
    }
}

use tar::EntryType::{Char, Directory, Link, Regular, Symlink};

#[test]
fn an_ordinary_layer_unpacks_with_its_kinds_and_contents() {
    let scene = Scene::new();
    let mut tar = Vec::new();
    entry(&mut tar, "bin/", Directory, "", b"");
    entry(&mut tar, "bin/busybox", Regular, "", b"#!binary");
    entry(&mut tar, "bin/sh", Symlink, "/bin/busybox", b"");
    entry(&mut tar, "bin/ash", Link, "bin/busybox", b"");
    entry(&mut tar, "etc/motd", Regular, "", b"hi\n"); // parent created implicitly
    let stats = scene.unpack(tar).unwrap();
    assert_eq!(
        (stats.files, stats.dirs, stats.symlinks, stats.hardlinks),
        (2, 1, 1, 1)
    );
    assert_eq!(stats.bytes, 11);
    let d = &scene.dest;
    assert_eq!(fs::read(d.join("etc/motd")).unwrap(), b"hi\n");
    assert_eq!(
        fs::read_link(d.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(
        fs::metadata(d.join("bin/ash")).unwrap().ino(),
        fs::metadata(d.join("bin/busybox")).unwrap().ino()
    );
    scene.assert_outside_untouched();
}

#[test]
fn dot_dot_is_refused() {
    let scene = Scene::new();
    let mut tar = Vec::new();
    entry(&mut tar, "../../host/x", Regular, "", b"pwned");
    let err = scene.unpack(tar).unwrap_err();
    assert!(matches!(err, UnpackError::ParentComponent { .. }), "{err}");
    assert!(err.to_string().contains("uses '..' to leave the layer"));
    scene.assert_outside_untouched();
}

#[test]
fn an_absolute_path_stays_inside_the_layer() {
    let scene = Scene::new();
    let absolute = format!("{}/x", scene.outside.display());
    let mut tar = Vec::new();
    entry(&mut tar, &absolute, Regular, "", b"kept inside");
    scene.unpack(tar).unwrap();
    let inside = scene.dest.join(absolute.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"kept inside");
    scene.assert_outside_untouched();
}

#[test]
fn writing_through_a_symlink_is_refused_absolute_or_relative() {
    for link in ["ABS", "../../host"] {
        let scene = Scene::new();
        let link = if link == "ABS" {
            scene.outside.display().to_string()
        } else {
            link.to_string()
        };
        let mut tar = Vec::new();
        entry(&mut tar, "escape", Symlink, &link, b"");
        entry(&mut tar, "escape/pwned", Regular, "", b"pwned");
        let err = scene.unpack(tar).unwrap_err();
        assert!(
            matches!(err, UnpackError::ThroughSymlink { .. }),
            "{link}: {err}"
        );
        scene.assert_outside_untouched();
    }
}

#[test]
fn hard_links_must_point_at_a_file_of_this_layer() {
    let host_file = Scene::new();
    fs::write(host_file.outside.join("secret"), b"s").unwrap();
    for target in [
        format!("{}/secret", host_file.outside.display()), // absolute: not in the layer
        "../../host/secret".to_string(),                   // climbs out
        "via/secret".to_string(),                          // through a symlink
        "bin".to_string(),                                 // a directory
    ] {
        let scene = Scene::new();
        let mut tar = Vec::new();
        entry(&mut tar, "bin/", Directory, "", b"");
        entry(
            &mut tar,
            "via",
            Symlink,
            &host_file.outside.display().to_string(),
            b"",
        );
        entry(&mut tar, "stolen", Link, &target, b"");
        let err = scene.unpack(tar).unwrap_err();
        assert!(
            matches!(err, UnpackError::HardlinkTarget { .. }),
            "{target}: {err}"
        );
        assert!(!scene.dest.join("stolen").exists());
        scene.assert_outside_untouched();
    }
    assert_eq!(
        fs::metadata(host_file.outside.join("secret"))
            .unwrap()
            .nlink(),
        1
    );
}

#[test]
fn device_nodes_are_skipped() {
    let scene = Scene::new();
    let mut tar = Vec::new();
    entry(&mut tar, "dev/null-ish", Char, "", b"");
    let stats = scene.unpack(tar).unwrap();
    assert_eq!(stats.skipped_specials, 1);
    assert!(!scene.dest.join("dev/null-ish").exists());
}

#[test]
fn whiteouts_become_what_overlayfs_expects() {
    if !common::is_root() {
        return common::skip(
            "whiteouts_become_what_overlayfs_expects",
            "mknod and trusted.* xattrs need root",
        );
    }
    let scene = Scene::new();
    let mut tar = Vec::new();
    entry(&mut tar, "etc/.wh.motd", Regular, "", b"");
    entry(&mut tar, "var/cache/.wh..wh..opq", Regular, "", b"");
    let stats = scene.unpack(tar).unwrap();
    assert_eq!((stats.whiteouts, stats.opaque_dirs), (1, 1));
    let whiteout = fs::symlink_metadata(scene.dest.join("etc/motd")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!(whiteout.rdev(), 0);
    assert!(!scene.dest.join("etc/.wh.motd").exists());
    let cache = std::ffi::CString::new(scene.dest.join("var/cache").to_str().unwrap()).unwrap();
    let mut value = [0u8; 4];
    // SAFETY: NUL-terminated strings; value is a writable buffer of the given length.
    let n = unsafe {
        libc::lgetxattr(
            cache.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    assert_eq!(n, 1, "no opaque xattr: {}", std::io::Error::last_os_error());
    assert_eq!(&value[..1], b"y");
}

/// The unpacker remembers the directories it has walked, so as not to look
/// at them again: a symlink that later replaces one of them must still stop
/// an entry that would go through it, whether the entry replaces the
/// directory as a symlink, a file over it first, or a whiteout of it.
#[test]
fn a_directory_replaced_by_a_symlink_is_not_trusted_any_more() {
    for replace_first_with_file in [false, true] {
        let scene = Scene::new();
        let mut tar = Vec::new();
        entry(&mut tar, "a/", Directory, "", b"");
        entry(&mut tar, "a/inside", Regular, "", b"fine");
        if replace_first_with_file {
            entry(&mut tar, "a", Regular, "", b"a file now");
        }
        entry(
            &mut tar,
            "a",
            Symlink,
            &scene.outside.display().to_string(),
            b"",
        );
        entry(&mut tar, "a/pwned", Regular, "", b"pwned");
        let err = scene.unpack(tar).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err}");
        scene.assert_outside_untouched();
    }
}

/// An entry that replaces an earlier one of the same name (a tar may hold
/// both) replaces it, whatever the two kinds: created first, and what was in
/// the way removed only when the creation finds it there.
#[test]
fn a_later_entry_replaces_an_earlier_one_of_the_same_name() {
    let scene = Scene::new();
    let mut tar = Vec::new();
    entry(&mut tar, "x", Regular, "", b"first");
    entry(&mut tar, "x", Regular, "", b"second");
    entry(&mut tar, "y", Symlink, "x", b"");
    entry(&mut tar, "y", Regular, "", b"a file");
    entry(&mut tar, "z/", Directory, "", b"");
    entry(&mut tar, "z/deep", Regular, "", b"gone");
    entry(&mut tar, "z", Link, "x", b"");
    scene.unpack(tar).unwrap();
    let d = &scene.dest;
    assert_eq!(fs::read(d.join("x")).unwrap(), b"second");
    assert!(
        !fs::symlink_metadata(d.join("y"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(d.join("y")).unwrap(), b"a file");
    assert_eq!(fs::read(d.join("z")).unwrap(), b"second");
    scene.assert_outside_untouched();
}

/// Root's own files are not chowned to root, which they already are; but in
/// a setgid directory a new file takes the directory's group, so there
/// the owner the layer gives (root's group) is set after all.
#[test]
fn owners_are_the_layers_even_in_a_setgid_directory() {
    if !nix::unistd::Uid::effective().is_root() {
        return common::skip(
            "owners_are_the_layers_even_in_a_setgid_directory",
            "needs root, to own files as others",
        );
    }
    let scene = Scene::new();
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, gid: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(gid);
        header.set_size(0);
        header.set_cksum();
        tar.append_data(&mut header, name, &[][..]).unwrap();
    };
    add("shared/", tar::EntryType::Directory, 0o2775, 50);
    add("shared/roots", tar::EntryType::Regular, 0o644, 0);
    add("shared/staffs", tar::EntryType::Regular, 0o644, 50);
    let bytes = tar.into_inner().unwrap();
    unpack_layer(bytes.as_slice(), &scene.dest).unwrap();
    let gid = |p: &str| fs::metadata(scene.dest.join(p)).unwrap().gid();
    assert_eq!(gid("shared"), 50);
    assert_eq!(
        gid("shared/roots"),
        0,
        "the layer's group, not the directory's"
    );
    assert_eq!(gid("shared/staffs"), 50);
}
