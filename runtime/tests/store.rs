//! The image store: loading verifies every digest, layers are unpacked once and
//! shared, references follow Docker's rules, and a failed load leaves nothing behind.

use std::fs;
use std::path::Path;
use std::process::Command;

use oci_spec::image::{Arch, ImageConfigurationBuilder, Os};
use runtime::image::digest;
use runtime::image::layout::{WrittenImage, write_layout};
use runtime::image::platform::Platform;
use runtime::image::source::{BlobSource, LayoutDir, OciArchive, SourceError};
use runtime::image::store::{Store, StoreError};

use testkit::tar_of as layer;

fn image(dir: &Path, layers: &[Vec<u8>]) -> WrittenImage {
    let config = ImageConfigurationBuilder::default()
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .build()
        .unwrap();
    write_layout(dir, "latest", layers, config).unwrap()
}

/// Every file under `dir` whose name starts with a dot: staging left-overs.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["blobs/sha256", "layers"] {
        for entry in fs::read_dir(dir.join(sub)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                found.push(format!("{sub}/{name}"));
            }
        }
    }
    found
}

#[test]
fn load_shares_a_base_layer_and_lists_both_images() {
    let tmp = tempfile::tempdir().unwrap();
    let base = layer(&[("bin/tool", b"base")]);
    let a = image(
        &tmp.path().join("images/alpha"),
        std::slice::from_ref(&base),
    );
    let b = image(
        &tmp.path().join("images/beta"),
        &[base, layer(&[("app", b"app")])],
    );
    let store = Store::open(&tmp.path().join("store")).unwrap();
    assert_eq!(
        store.load_layout(&tmp.path().join("images/alpha")).unwrap()[0].to_string(),
        "alpha:latest"
    );
    assert_eq!(
        store.load_layout(&tmp.path().join("images/beta")).unwrap()[0].to_string(),
        "beta:latest"
    );

    assert_eq!(a.diff_ids[0], b.diff_ids[0]);
    assert_eq!(
        fs::read_dir(tmp.path().join("store/layers"))
            .unwrap()
            .count(),
        2,
        "the base layer is stored once"
    );
    let base_dir = store.layer_path(&digest::parse_sha256(a.diff_ids[0].as_ref()).unwrap());
    assert_eq!(fs::read(base_dir.join("bin/tool")).unwrap(), b"base");

    let names: Vec<String> = store
        .list()
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}", r.repository, r.tag))
        .collect();
    assert_eq!(names, ["alpha:latest", "beta:latest"]);
    assert!(leftovers(&tmp.path().join("store")).is_empty());
}

#[test]
fn a_corrupt_blob_is_refused_and_nothing_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("bad");
    let written = image(&layout, &[layer(&[("f", b"x")])]);
    // Flip one byte of the layer blob: its content no longer matches its name.
    let blob = layout
        .join("blobs/sha256")
        .join(written.layers[0].digest().digest());
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&blob, bytes).unwrap();

    let store = Store::open(&tmp.path().join("store")).unwrap();
    let err = store.load_layout(&layout).unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("is corrupt"));
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(tmp.path().join("store/blobs/sha256"))
            .unwrap()
            .count(),
        0,
        "orphan blobs left"
    );
    assert_eq!(
        fs::read_dir(tmp.path().join("store/layers"))
            .unwrap()
            .count(),
        0
    );
    assert!(leftovers(&tmp.path().join("store")).is_empty());
}

#[test]
fn a_hostile_layer_fails_the_load_and_leaves_no_layer_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut hostile = tar::Builder::new(Vec::new());
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    hostile
        .append_link(&mut link, "escape", tmp.path().join("host"))
        .unwrap();
    let mut file = tar::Header::new_ustar();
    file.set_size(5);
    file.set_mode(0o644);
    hostile
        .append_data(&mut file, "escape/pwned", &b"pwned"[..])
        .unwrap();
    fs::create_dir(tmp.path().join("host")).unwrap();
    let layout = tmp.path().join("evil");
    image(&layout, &[hostile.into_inner().unwrap()]);

    let store = Store::open(&tmp.path().join("store")).unwrap();
    let err = store.load_layout(&layout).unwrap_err();
    assert!(
        err.to_string().contains("goes through the symlink"),
        "{err}"
    );
    assert_eq!(fs::read_dir(tmp.path().join("host")).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(tmp.path().join("store/layers"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        fs::read_dir(tmp.path().join("store/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn tag_and_rmi_untag_first_then_delete_what_nothing_uses() {
    let tmp = tempfile::tempdir().unwrap();
    image(&tmp.path().join("app"), &[layer(&[("f", b"1")])]);
    let store = Store::open(&tmp.path().join("store")).unwrap();
    store.load_layout(&tmp.path().join("app")).unwrap();
    store.tag("app", "app:v2").unwrap();
    assert_eq!(
        store.remove("app", &Default::default()).unwrap(),
        ["Untagged: app:latest"]
    );
    let report = store.remove("app:v2", &Default::default()).unwrap();
    assert_eq!(report[0], "Untagged: app:v2");
    assert_eq!(
        report.len(),
        1 + 4,
        "manifest, config, layer blob and unpacked layer: {report:?}"
    );
    assert_eq!(
        fs::read_dir(tmp.path().join("store/blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        fs::read_dir(tmp.path().join("store/layers"))
            .unwrap()
            .count(),
        0
    );
    assert!(matches!(
        store.remove("app", &Default::default()).unwrap_err(),
        StoreError::UnknownImage(_)
    ));
    assert!(matches!(
        store.tag("app", "x").unwrap_err(),
        StoreError::UnknownImage(_)
    ));
}

#[test]
fn peti_cli_loads_lists_and_fails_as_docker_does() {
    let tmp = tempfile::tempdir().unwrap();
    image(&tmp.path().join("demo"), &[layer(&[("f", b"1")])]);
    let peti = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_peti"))
            .env("PETI_ROOT", tmp.path().join("root"))
            .args(args)
            .output()
            .unwrap()
    };
    let load = peti(&["load", "-i", tmp.path().join("demo").to_str().unwrap()]);
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&load.stdout),
        "Loaded image: demo:latest\n"
    );
    let table = String::from_utf8_lossy(&peti(&["images"]).stdout).into_owned();
    assert!(
        table.starts_with("REPOSITORY") && table.lines().nth(1).unwrap().starts_with("demo "),
        "{table}"
    );
    let json = peti(&["images", "--format", "json"]);
    let row: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(row["Repository"], "demo");
    let not_archive = tmp.path().join("notes.txt");
    fs::write(&not_archive, b"not a tar archive at all").unwrap();
    let not_archive = not_archive.to_str().unwrap();
    for (args, needle) in [
        (&["rmi", "nope"][..], "no such image: nope"),
        (
            &["load", "-i", "/nonexistent"][..],
            "/nonexistent does not exist",
        ),
        (&["load", "-i", "/etc"][..], "is not an OCI image layout"),
        // An archive is named in its error, not the temporary directory it was
        // unpacked into.
        (
            &["load", "-i", not_archive][..],
            &format!("{not_archive} is not an OCI archive"),
        ),
        // What is not a regular file is refused before a byte is read: /dev/zero
        // would be read without end, a FIFO would hang.
        (
            &["load", "-i", "/dev/zero"][..],
            "/dev/zero is a character device, not a regular file",
        ),
        (&["tag", "demo", "Bad Name"][..], "invalid reference format"),
        (&["tag", "demo", "a:b:c"][..], "invalid reference format"),
        (&["images", "--bogus"][..], "unexpected argument '--bogus'"),
    ] {
        // Docker: 125 for a usage error, 1 for a command that fails.
        let usage = args.contains(&"--bogus");
        let out = peti(args);
        assert_eq!(
            out.status.code(),
            Some(if usage { 125 } else { 1 }),
            "{args:?}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn import_makes_a_one_layer_image_from_a_plain_or_gzipped_tarball() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = layer(&[("bin/sh", b"shell"), ("etc/motd", b"hi")]);
    fs::write(tmp.path().join("rootfs.tar"), &rootfs).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &rootfs).unwrap();
    fs::write(tmp.path().join("rootfs.tar.gz"), gz.finish().unwrap()).unwrap();

    let store = Store::open(&tmp.path().join("store")).unwrap();
    let plain = store
        .import_rootfs(&tmp.path().join("rootfs.tar"), "mine:1")
        .unwrap();
    let zipped = store
        .import_rootfs(&tmp.path().join("rootfs.tar.gz"), "mine:2")
        .unwrap();
    assert_eq!(
        (plain.to_string(), zipped.to_string()),
        ("mine:1".into(), "mine:2".into())
    );
    let image = store.image("mine:1").unwrap();
    let (manifest, config) = (image.manifest.clone(), image.config.clone());
    assert_eq!(manifest.layers().len(), 1);
    assert!(config.config().as_ref().unwrap().env().as_ref().unwrap()[0].starts_with("PATH="));
    // The same content imported twice is the same layer, stored once.
    assert_eq!(
        store.image("mine:2").unwrap().manifest.layers(),
        manifest.layers()
    );
    let unpacked = store.layer_path(&image.diff_ids[0]);
    assert_eq!(fs::read(unpacked.join("etc/motd")).unwrap(), b"hi");

    fs::write(tmp.path().join("not.tar"), b"definitely not a tar archive").unwrap();
    let err = store
        .import_rootfs(&tmp.path().join("not.tar"), "bad")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is not a tar archive of a root file system"),
        "{err}"
    );
    assert!(matches!(
        store.import_rootfs(&tmp.path().join("rootfs.tar"), "Bad:Name"),
        Err(StoreError::BadReference(_))
    ));
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn load_reads_an_oci_archive_named_after_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    image(&layout, &[layer(&[("f", b"1")])]);
    let mut archive = tar::Builder::new(Vec::new());
    archive.append_dir_all(".", &layout).unwrap();
    fs::write(tmp.path().join("app.tar"), archive.into_inner().unwrap()).unwrap();
    let store = Store::open(&tmp.path().join("store")).unwrap();
    let loaded = store.load(&tmp.path().join("app.tar")).unwrap();
    assert_eq!(loaded[0].to_string(), "app:latest");
    let err = store.load(&tmp.path().join("missing.tar")).unwrap_err();
    assert!(matches!(err, StoreError::NoSuchInput { .. }), "{err}");
}

#[test]
fn a_layout_and_its_archive_are_one_source_of_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let written = image(&layout, &[layer(&[("f", b"1")]), layer(&[("g", b"2")])]);
    let mut archive = tar::Builder::new(Vec::new());
    archive.append_dir_all(".", &layout).unwrap();
    let tar = tmp.path().join("app.tar");
    fs::write(&tar, archive.into_inner().unwrap()).unwrap();
    let host = Platform::host();
    let dir = LayoutDir::open_layout(&layout).unwrap();
    let packed = OciArchive::open(&tar).unwrap();
    let sources: [&dyn BlobSource; 2] = [&dir, &packed];
    for source in sources {
        let index = source.index().unwrap();
        let descriptor = source.manifest_for(&index.manifests()[0], &host).unwrap();
        assert_eq!(descriptor.digest(), written.manifest.digest());
        // Every layer comes back whole, checked against its descriptor.
        let manifest: oci_spec::image::ImageManifest =
            serde_json::from_slice(&source.read_verified(&descriptor, 1 << 20).unwrap()).unwrap();
        for layer in manifest.layers() {
            let bytes = source.read_verified(layer, 1 << 20).unwrap();
            assert_eq!(bytes.len() as u64, layer.size());
        }
        // A descriptor that claims another size is refused, not read on.
        let mut lying = manifest.layers()[0].clone();
        lying.set_size(lying.size() + 1);
        assert!(matches!(
            source.read_verified(&lying, 1 << 20),
            Err(SourceError::WrongSize { .. })
        ));
    }
    // What is no layout inside is no archive.
    let mut not_a_layout = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(2);
    header.set_mode(0o644);
    not_a_layout
        .append_data(&mut header, "readme", &b"hi"[..])
        .unwrap();
    let other = tmp.path().join("other.tar");
    fs::write(&other, not_a_layout.into_inner().unwrap()).unwrap();
    assert!(matches!(
        OciArchive::open(&other),
        Err(SourceError::NotAnArchive { .. })
    ));
}
