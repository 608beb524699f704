//! `labs prepare`: valid OCI images, as judged by tools no one here wrote; reproducible
//! output; layer sharing; and clear errors for a bad `--out`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{have, labs, prepare_unavailable, prepared, run_prepare, skip};

fn files_under(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

fn index_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn manifest(layout: &Path) -> serde_json::Value {
    let digest = index_digest(layout);
    let blob = layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap()
}

#[test]
fn prepare_writes_every_binary_layout_and_tarball() {
    needs_prepare!("prepare_writes_every_binary_layout_and_tarball");
    let out = prepared();
    for name in ["hello", "compute", "memtouch", "fileio", "serve"] {
        assert!(out.join("bin").join(name).is_file(), "bin/{name}");
    }
    for name in [
        "busybox", "lab", "hello", "compute", "memtouch", "fileio", "serve",
    ] {
        let layout = out.join("images").join(name);
        assert!(layout.join("oci-layout").is_file(), "{name}/oci-layout");
        assert!(layout.join("index.json").is_file(), "{name}/index.json");
        assert!(
            out.join("images").join(format!("{name}.tar")).is_file(),
            "{name}.tar"
        );
    }
    // Nothing but the final files: no staging directory or temp file left over.
    let leftovers: Vec<_> = files_under(out)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains("/."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn two_runs_give_identical_bytes_and_digests() {
    needs_prepare!("two_runs_give_identical_bytes_and_digests");
    let dir = tempfile::tempdir().unwrap();
    let second = dir.path().join("again");
    assert!(run_prepare(&second).status.success());
    let (a, b) = (files_under(prepared()), files_under(&second));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(
            bytes == &b[path],
            "{} differs between two runs",
            path.display()
        );
    }
    // And running again over an existing output replaces it with the same bytes.
    assert!(run_prepare(&second).status.success());
    assert_eq!(files_under(&second), b);
}

#[test]
fn lab_is_built_on_the_same_busybox_layer() {
    needs_prepare!("lab_is_built_on_the_same_busybox_layer");
    let images = prepared().join("images");
    let busybox = manifest(&images.join("busybox"));
    let lab = manifest(&images.join("lab"));
    assert_eq!(lab["layers"].as_array().unwrap().len(), 2);
    assert_eq!(busybox["layers"][0]["digest"], lab["layers"][0]["digest"]);
}

#[test]
fn image_configs_are_what_docker_users_expect() {
    needs_prepare!("image_configs_are_what_docker_users_expect");
    let images = prepared().join("images");
    let config = |name: &str| -> serde_json::Value {
        let layout = images.join(name);
        let digest = manifest(&layout)["config"]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let blob = layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap()
    };
    let lab = config("lab");
    assert_eq!(lab["architecture"], "amd64");
    assert_eq!(lab["os"], "linux");
    assert_eq!(lab["config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(
        lab["config"]["Env"][0]
            .as_str()
            .unwrap()
            .starts_with("PATH=/usr/local/sbin:/usr/local/bin:")
    );
    let serve = config("serve");
    assert_eq!(serve["config"]["Entrypoint"], serde_json::json!(["/serve"]));
    assert_eq!(serve["config"]["Cmd"], serde_json::json!(["8080"]));
    assert!(serve["config"]["ExposedPorts"]["8080/tcp"].is_object());
    assert_eq!(
        config("hello")["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn skopeo_inspects_the_lab_layout() {
    needs_prepare!("skopeo_inspects_the_lab_layout");
    if !have("skopeo") {
        return skip(
            "skopeo_inspects_the_lab_layout",
            "skopeo is not installed (run .ci/setup)",
        );
    }
    let target = format!("oci:{}:latest", prepared().join("images/lab").display());
    let output = common::succeeded(Command::new("skopeo").args(["inspect", &target]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["Architecture"], "amd64");
    assert_eq!(report["Os"], "linux");
    assert_eq!(report["Layers"].as_array().unwrap().len(), 2);
}

#[test]
fn umoci_unpacks_the_lab_layout_into_a_runnable_tree() {
    needs_prepare!("umoci_unpacks_the_lab_layout_into_a_runnable_tree");
    if !have("umoci") {
        return skip(
            "umoci_unpacks_the_lab_layout_into_a_runnable_tree",
            "umoci is not installed (run .ci/setup)",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let image = format!("{}:latest", prepared().join("images/lab").display());
    let mut command = Command::new("umoci");
    command.args(["unpack", "--image", &image]).arg(&bundle);
    // As a normal user umoci must be told to unpack without changing owners.
    if !common::is_root() {
        command.arg("--rootless");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("usr/local/bin/hello").is_file());
    assert_eq!(
        std::fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    // The unpacked hello is the very binary prepare built.
    assert_eq!(
        std::fs::read(rootfs.join("usr/local/bin/hello")).unwrap(),
        std::fs::read(prepared().join("bin/hello")).unwrap()
    );
}

#[test]
fn out_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let output = run_prepare(&file);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if prepare_unavailable().is_none() {
        assert!(stderr.contains("exists and is not a directory"), "{stderr}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn out_on_a_read_only_file_system_is_a_clear_error_and_writes_nothing() {
    needs_prepare!("out_on_a_read_only_file_system_is_a_clear_error_and_writes_nothing");
    let dir = tempfile::tempdir().unwrap();
    let output = if common::is_root() {
        // Root can write anywhere permissions say no, so make the file system itself
        // read-only: a read-only tmpfs in a private mount namespace that dies with the
        // command, leaving no mount behind.
        let script = format!(
            "mount -t tmpfs -o ro none '{dir}' && exec '{labs}' prepare --out '{dir}/out'",
            dir = dir.path().display(),
            labs = env!("CARGO_BIN_EXE_labs")
        );
        Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .output()
            .unwrap()
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
        labs()
            .arg("prepare")
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .unwrap()
    };
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot use --out") && stderr.contains("give a directory you can write to"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "something was written"
    );
}

#[test]
fn a_missing_compiler_is_named_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = labs()
        .arg("prepare")
        .arg("--out")
        .arg(&out)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("musl-gcc not found: install the musl-tools package"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn a_wrong_flag_is_a_usage_error() {
    let output = labs().args(["prepare", "--outt", "x"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unexpected argument '--outt'"));
}

#[test]
fn an_unknown_lab_is_named_as_such_by_run_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let run = labs().args(["run", "no-such-lab"]).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("unknown lab \"no-such-lab\""),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let check = labs()
        .args(["check", "no-such-lab", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("unknown lab \"no-such-lab\""), "{text}");
    // A lab with a command of its own is pointed at that command.
    let compare = labs()
        .args(["check", "compare", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&compare.stdout);
    assert!(text.contains("(run `labs compare` first)"), "{text}");
}

#[test]
fn simulate_refuses_a_fleet_that_cannot_be() {
    for (args, needle) in [
        (&["--instances", "0"][..], "0 is not in 1..=100000000"),
        (&["--cores", "0"][..], "--cores must be at least 1"),
        (&["--host-mem", "0"][..], "a host needs some memory"),
        (
            &["--host-mem", "99999999999999999999T"][..],
            "give at most 1024T",
        ),
    ] {
        let output = labs().arg("simulate").args(args).output().unwrap();
        assert_ne!(output.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(text.contains(needle), "{args:?}: {text}");
    }
}
