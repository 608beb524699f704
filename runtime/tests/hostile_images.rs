//! Images made by an attacker: each must be refused, and nothing outside the store
//! may be read, written or deleted on the way.
//!
//! Each test builds its layout by hand, blob by blob, so that it can say what a
//! careful writer never would: a diff_id that is a path, a whiteout of `..`, lists
//! that disagree, blobs that are links or FIFOs, documents of many megabytes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use runtime::image::source::SourceError;
use runtime::image::store::{Store, StoreError};
use sha2::{Digest, Sha256};

/// An OCI layout written by hand.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    /// Stores a blob; returns its descriptor's digest and size.
    fn blob(&self, bytes: &[u8]) -> (String, usize) {
        let hex = hex::encode(Sha256::digest(bytes));
        fs::write(self.dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    }

    fn path_of(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// A manifest of `layers` (digest, size) and a config with `diff_ids`, in
    /// index.json; returns the manifest's digest.
    fn image(&self, layers: &[(String, usize)], diff_ids: &[String]) -> String {
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = self.blob(config.to_string().as_bytes());
        self.manifest(config, layers)
    }

    fn manifest(&self, config: (String, usize), layers: &[(String, usize)]) -> String {
        let descriptor = |media: &str, (digest, size): &(String, usize)| serde_json::json!({"mediaType": media, "digest": digest, "size": size});
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": layers.iter()
                .map(|l| descriptor("application/vnd.oci.image.layer.v1.tar+gzip", l))
                .collect::<Vec<_>>(),
        });
        let manifest = self.blob(manifest.to_string().as_bytes());
        self.index(&manifest);
        manifest.0
    }

    fn index(&self, (digest, size): &(String, usize)) {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest, "size": size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }],
        });
        fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// A gzipped layer of regular files, and its diff_id.
fn layer(files: &[(&str, &[u8])]) -> (Vec<u8>, String) {
    tar_layer(|tar| {
        for (path, data) in files {
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            tar.append_data(&mut header, path, *data).unwrap();
        }
    })
}

/// A gzipped layer written by `fill`, which may append raw entries, and its diff_id.
fn tar_layer(fill: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    fill(&mut tar);
    let tar = tar.into_inner().unwrap();
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// A layer with one entry of a name a careful tar writer would refuse.
fn layer_with_raw_name(name: &str) -> (Vec<u8>, String) {
    tar_layer(|tar| {
        let mut header = tar::Header::new_ustar();
        header.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_mode(0o644);
        header.set_size(0);
        header.set_cksum();
        tar.append(&header, &[][..]).unwrap();
    })
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// The store has no image and no blob or layer of a failed load.
fn assert_store_empty(store_dir: &Path, store: &Store) {
    assert!(store.list().unwrap().is_empty());
    assert_eq!(count(&store_dir.join("blobs/sha256")), 0, "blobs were left");
    assert_eq!(count(&store_dir.join("layers")), 0, "layers were left");
}

#[test]
fn a_diff_id_cannot_name_a_host_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("secret"), b"the host's").unwrap();
    let store_dir = tmp.path().join("store");
    let store = Store::open(&store_dir).unwrap();
    // From layers/, four levels up is / ; then down to the host folder.
    let climbing = format!("sha256:../../../..{}", host.display());
    for diff_id in [climbing.as_str(), "sha256:ABC", "sha256:"] {
        let layout = Layout::new(&tmp.path().join("evil"));
        let (gz, _) = layer(&[("hello", b"hi")]);
        let layer_blob = layout.blob(&gz);
        layout.image(&[layer_blob], &[diff_id.to_string()]);
        let err = store.load_layout(&layout.dir).unwrap_err();
        assert!(matches!(err, StoreError::BadDigest { .. }), "{err}");
        assert!(err.to_string().contains("diff_id 1 of the config"), "{err}");
        assert_store_empty(&store_dir, &store);
        fs::remove_dir_all(&layout.dir).unwrap();
    }
    assert_eq!(fs::read(host.join("secret")).unwrap(), b"the host's");

    // A digest of another algorithm names no blob peti can check.
    let layout = Layout::new(&tmp.path().join("sha512"));
    let (gz, diff_id) = layer(&[("hello", b"hi")]);
    let (_, size) = layout.blob(&gz);
    layout.image(&[(format!("sha512:{}", "a".repeat(128)), size)], &[diff_id]);
    let err = store.load_layout(&layout.dir).unwrap_err();
    assert!(
        err.to_string().contains("peti verifies and stores sha256"),
        "{err}"
    );
    assert_store_empty(&store_dir, &store);
}

#[test]
fn a_whiteout_of_dot_or_dot_dot_deletes_nothing_outside_its_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let store = Store::open(&store_dir).unwrap();
    // Another image's layer, which `.wh...` at a layer's root would have deleted.
    let good = Layout::new(&tmp.path().join("good"));
    let (gz, diff_id) = layer(&[("kept", b"1")]);
    let blob = good.blob(&gz);
    good.image(&[blob], &[diff_id]);
    store.load_layout(&good.dir).unwrap();
    let layers_before = count(&store_dir.join("layers"));
    for name in [".wh...", ".wh..", ".wh.", "dir/.wh...", "dir/.wh.."] {
        let evil = Layout::new(&tmp.path().join("evil"));
        let (gz, diff_id) = layer_with_raw_name(name);
        let blob = evil.blob(&gz);
        evil.image(&[blob], &[diff_id]);
        let err = store.load_layout(&evil.dir).unwrap_err();
        assert!(
            err.to_string()
                .contains("is a whiteout of '.', '..' or nothing"),
            "{name}: {err}"
        );
        assert_eq!(count(&store_dir.join("layers")), layers_before, "{name}");
        assert_eq!(store.list().unwrap().len(), 1, "{name}");
        fs::remove_dir_all(&evil.dir).unwrap();
    }
    // AUFS's own metadata names are skipped, as Docker skips them.
    let aufs = Layout::new(&tmp.path().join("aufs"));
    let (gz, diff_id) = layer(&[(".wh..wh.plnk/x", b""), ("f", b"1")]);
    let blob = aufs.blob(&gz);
    aufs.image(&[blob], &[diff_id]);
    store.load_layout(&aufs.dir).unwrap();
}

#[test]
fn a_whiteout_in_an_oci_archive_deletes_nothing_beside_it() {
    // `peti load -i` unpacks an archive into a temporary folder first: a `.wh...`
    // at its root named that folder's parent, which is $TMPDIR.
    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().join("tmpdir");
    fs::create_dir(&tmpdir).unwrap();
    fs::write(tmpdir.join("canary"), b"alive").unwrap();
    let mut archive = Vec::new();
    {
        let mut tar = tar::Builder::new(&mut archive);
        let mut header = tar::Header::new_ustar();
        header.as_ustar_mut().unwrap().name[..6].copy_from_slice(b".wh...");
        header.set_mode(0o644);
        header.set_size(0);
        header.set_cksum();
        tar.append(&header, &[][..]).unwrap();
        tar.finish().unwrap();
    }
    let file = tmp.path().join("evil.tar");
    fs::write(&file, archive).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_peti"))
        .env("PETI_ROOT", tmp.path().join("root"))
        .env("TMPDIR", &tmpdir)
        .args(["load", "-i", file.to_str().unwrap()])
        .output()
        .unwrap();
    // Docker's load exits 1 for a refused archive.
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is a whiteout of"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(tmpdir.join("canary")).unwrap(), b"alive");
}

#[test]
fn layer_counts_that_disagree_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let store = Store::open(&store_dir).unwrap();
    let (a, a_id) = layer(&[("a", b"1")]);
    let (b, b_id) = layer(&[("b", b"2")]);
    for (layers, diff_ids, said) in [
        (
            vec![a.clone(), b.clone()],
            vec![a_id.clone()],
            "lists 2 layers, but the config names 1",
        ),
        (
            vec![a.clone()],
            vec![a_id.clone(), b_id.clone()],
            "lists 1 layers, but the config names 2",
        ),
    ] {
        let layout = Layout::new(&tmp.path().join("odd"));
        let blobs: Vec<_> = layers.iter().map(|l| layout.blob(l)).collect();
        layout.image(&blobs, &diff_ids);
        let err = store.load_layout(&layout.dir).unwrap_err();
        assert!(matches!(err, StoreError::LayerCount { .. }), "{err}");
        assert!(err.to_string().contains(said), "{err}");
        assert_store_empty(&store_dir, &store);
        fs::remove_dir_all(&layout.dir).unwrap();
    }
}

/// Runs `f` on a thread and fails the test if it takes more than 10 s: a FIFO
/// opened for reading with no writer blocks for ever.
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("it hung: a FIFO in the layout was opened and read")
}

#[test]
fn blobs_that_are_links_or_not_regular_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let (gz, diff_id) = layer(&[("hello", b"hi")]);
    // Each case: how the layer blob is replaced, and what the error must say.
    let shadow = Path::new("/etc/shadow");
    type Replace<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: [(&str, Replace, &str); 4] = [
        (
            "a link to /dev/zero",
            Box::new(|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
            "is a symlink",
        ),
        (
            "a link to /etc/shadow",
            Box::new(|p: &Path| std::os::unix::fs::symlink(shadow, p).unwrap()),
            "is a symlink",
        ),
        (
            "a FIFO",
            Box::new(|p: &Path| {
                nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap()
            }),
            "is a FIFO, not a regular file",
        ),
        (
            "a directory",
            Box::new(|p: &Path| fs::create_dir(p).unwrap()),
            "is a directory, not a regular file",
        ),
    ];
    for (what, replace, said) in cases {
        let layout = Layout::new(&tmp.path().join("evil"));
        let blob = layout.blob(&gz);
        layout.image(std::slice::from_ref(&blob), std::slice::from_ref(&diff_id));
        let path = layout.path_of(&blob.0);
        fs::remove_file(&path).unwrap();
        replace(&path);
        let (dir, store_dir2) = (layout.dir.clone(), store_dir.clone());
        let err = within_10s(move || {
            let store = Store::open(&store_dir2).unwrap();
            store.load_layout(&dir).unwrap_err().to_string()
        });
        assert!(err.contains(said), "{what}: {err}");
        if let Ok(secret) = fs::read(shadow) {
            let leaked = hex::encode(Sha256::digest(secret));
            assert!(
                !err.contains(&leaked),
                "{what}: the error holds /etc/shadow's hash"
            );
        }
        assert_store_empty(&store_dir, &Store::open(&store_dir).unwrap());
        fs::remove_dir_all(&layout.dir).unwrap();
    }

    // A link anywhere on the way counts: here blobs/ itself, to a real copy.
    let real = Layout::new(&tmp.path().join("real"));
    let blob = real.blob(&gz);
    real.image(&[blob], std::slice::from_ref(&diff_id));
    let linked = tmp.path().join("linked");
    fs::create_dir(&linked).unwrap();
    for name in ["index.json", "oci-layout"] {
        fs::copy(real.dir.join(name), linked.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(real.dir.join("blobs"), linked.join("blobs")).unwrap();
    let store = Store::open(&store_dir).unwrap();
    let err = store.load_layout(&linked).unwrap_err();
    assert!(
        err.to_string()
            .contains("is a symlink, or its path passes through one"),
        "{err}"
    );
    // And index.json as a link is no layout at all.
    let index_linked = tmp.path().join("index-linked");
    fs::create_dir(&index_linked).unwrap();
    fs::copy(real.dir.join("oci-layout"), index_linked.join("oci-layout")).unwrap();
    std::os::unix::fs::symlink(real.dir.join("index.json"), index_linked.join("index.json"))
        .unwrap();
    let err = store.load_layout(&index_linked).unwrap_err();
    assert!(
        matches!(err, StoreError::Source(SourceError::NotALayout { .. })),
        "{err}"
    );
    assert_store_empty(&store_dir, &store);
}

#[test]
fn documents_and_blobs_are_read_within_their_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let store = Store::open(&store_dir).unwrap();

    // An index.json of 5 MiB: valid JSON, but no real index is that large.
    let layout = Layout::new(&tmp.path().join("big-index"));
    let padding = " ".repeat(5 << 20);
    fs::write(layout.dir.join("index.json"), format!("{{{padding}}}")).unwrap();
    let err = store.load_layout(&layout.dir).unwrap_err();
    assert!(
        err.to_string().contains("more than the 4194304 bytes"),
        "{err}"
    );

    // A manifest whose descriptor claims 5 MiB is refused before it is copied.
    let layout = Layout::new(&tmp.path().join("big-manifest"));
    let (digest, _) = layout.blob(b"{}");
    layout.index(&(digest, 5 << 20));
    let err = store.load_layout(&layout.dir).unwrap_err();
    assert!(matches!(err, StoreError::DocumentTooLarge { .. }), "{err}");

    // A layer whose file is longer than its descriptor says.
    let layout = Layout::new(&tmp.path().join("long-layer"));
    let (gz, diff_id) = layer(&[("hello", b"hi")]);
    let (digest, size) = layout.blob(&gz);
    layout.image(&[(digest, size - 1)], &[diff_id]);
    let err = store.load_layout(&layout.dir).unwrap_err();
    assert!(matches!(err, StoreError::SizeMismatch { .. }), "{err}");
    assert_store_empty(&store_dir, &store);
}

/// `peti ARGS` with its own store; returns its exit code, stderr, and the peak
/// resident memory of the peti process itself (wait4's rusage), in KiB.
/// Runs peti, and gives its exit code, its stderr, and its own peak resident
/// memory in KiB. Through GNU time: `wait4` of a child of this test gives
/// the wrong peak, because exec records the old address space's high-water
/// mark, and a spawned child's old address space is this whole test process
/// (tens of MiB, with the other tests' data in it). time is exec'd first, and
/// peti forked from it, a small process, so peti's figure is its own.
fn peti_measured(root: &Path, args: &[&str]) -> (Option<i32>, String, i64) {
    let stderr = root.with_extension("stderr");
    let report = root.with_extension("time");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%x %M", "-o"])
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_peti"))
        .args(args)
        .env("PETI_ROOT", root)
        .stderr(fs::File::create(&stderr).unwrap())
        .status()
        .expect("/usr/bin/time (Debian's time package; run .ci/setup)");
    let report = fs::read_to_string(&report).unwrap();
    // "Command exited with non-zero status N" may come first.
    let last = report.lines().last().unwrap_or("");
    let (code, peak) = last.split_once(' ').expect("time's report");
    let code = out.code().and(code.parse().ok());
    (
        code,
        fs::read_to_string(&stderr).unwrap(),
        peak.trim().parse().unwrap(),
    )
}

#[test]
fn import_streams_a_gzip_bomb_and_refuses_what_is_not_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    // A small tar, then 64 MiB of zeros: tar stops at its end marker, but every
    // byte still goes through gunzip and the hashes. Compressed, about 64 KiB.
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_mode(0o644);
    header.set_size(2);
    tar.append_data(&mut header, "f", &b"hi"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let bomb = tmp.path().join("bomb.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(&bomb).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&tar).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    gz.finish().unwrap();
    assert!(fs::metadata(&bomb).unwrap().len() < 2 << 20);

    let root = tmp.path().join("root");
    let (code, stderr, peak_kib) =
        peti_measured(&root, &["import", bomb.to_str().unwrap(), "bomb"]);
    assert_eq!(code, Some(0), "{stderr}");
    // Held in memory, the tarball alone would be 64 MiB.
    assert!(peak_kib < 32 << 10, "peti import peaked at {peak_kib} KiB");
    eprintln!("peti import of a 64 MiB gzip bomb: peak {peak_kib} KiB");

    let fifo = tmp.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    for (input, said) in [
        (
            "/dev/zero",
            "/dev/zero is a character device, not a regular file",
        ),
        (fifo.to_str().unwrap(), "is a FIFO, not a regular file"),
    ] {
        let root = root.clone();
        let input = input.to_string();
        let (code, stderr, _) = within_10s(move || peti_measured(&root, &["import", &input, "x"]));
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
    }
    // Nothing of the imports is left in the store's root but the store.
    let mut names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["blobs", "containers", "layers", "lock", "repositories.json"]
    );
}

#[test]
fn from_an_index_of_platforms_the_hosts_image_is_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let store = Store::open(&store_dir).unwrap();
    let layout = Layout::new(&tmp.path().join("multi"));
    // Two images, one per platform, each with a file that says which it is.
    let mut entries = Vec::new();
    for arch in ["arm64", "amd64"] {
        let (gz, diff_id) = layer(&[("arch", arch.as_bytes())]);
        let blob = layout.blob(&gz);
        let manifest = layout.image(&[blob], &[diff_id]);
        let path = layout.path_of(&manifest);
        let size = fs::metadata(&path).unwrap().len();
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest, "size": size,
            "platform": {"os": "linux", "architecture": arch},
        }));
    }
    entries.insert(
        0,
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", "0".repeat(64)), "size": 2,
            "platform": {"os": "unknown", "architecture": "unknown"},
        }),
    );
    // As a nested index (what a registry or `docker buildx` writes)...
    let nested = serde_json::json!({"schemaVersion": 2, "manifests": entries});
    let nested = layout.blob(nested.to_string().as_bytes());
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": nested.0, "size": nested.1,
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    fs::write(layout.dir.join("index.json"), top.to_string()).unwrap();
    let loaded = store.load_layout(&layout.dir).unwrap();
    assert_eq!(loaded.len(), 1);
    let image = store.image("multi").unwrap();
    let unpacked = store.layer_path(&image.diff_ids[0]);
    assert_eq!(fs::read(unpacked.join("arch")).unwrap(), b"amd64");

    // ...and as entries of the top index under one name.
    let mut flat = entries.clone();
    for e in &mut flat {
        e["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "flat"});
    }
    let top = serde_json::json!({"schemaVersion": 2, "manifests": flat});
    fs::write(layout.dir.join("index.json"), top.to_string()).unwrap();
    assert_eq!(
        store.load_layout(&layout.dir).unwrap()[0].to_string(),
        "multi:flat"
    );
    let image = store.image("multi:flat").unwrap();
    let unpacked = store.layer_path(&image.diff_ids[0]);
    assert_eq!(fs::read(unpacked.join("arch")).unwrap(), b"amd64");

    // An index with no image for this platform says which it has.
    entries.remove(2);
    let nested = layout.blob(
        serde_json::json!({"schemaVersion": 2, "manifests": entries})
            .to_string()
            .as_bytes(),
    );
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": nested.0, "size": nested.1,
    }]});
    fs::write(layout.dir.join("index.json"), top.to_string()).unwrap();
    let err = store.load_layout(&layout.dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no image for linux/amd64 in the index; it has: linux/arm64"
    );
}
