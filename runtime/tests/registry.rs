//! `peti pull` and `peti push` against a real registry: the CNCF
//! distribution server (`docker-registry`), started on 127.0.0.1 with a free
//! port and its storage in a temporary folder, and checked with skopeo and
//! umoci, which share no code with peti.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Registry, Sandbox, code, stderr, stdout};
use sha2::{Digest, Sha256};

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The parts these tests need, or why they skip.
macro_rules! needs_registry {
    ($test:literal) => {{
        if let Some(reason) = common::containers_unavailable() {
            return common::skip($test, reason);
        }
        for t in ["skopeo", "umoci"] {
            if tool(t).is_none() {
                return common::skip(
                    $test,
                    &format!("{t} is not installed (.ci/setup installs it)"),
                );
            }
        }
        match Registry::start(0) {
            Some(r) => r,
            None => {
                return common::skip(
                    $test,
                    "docker-registry is not installed (.ci/setup installs it)",
                );
            }
        }
    }};
}

fn skopeo(args: &[&str]) -> std::process::Output {
    let out = Command::new(tool("skopeo").unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// peti pushes an image; skopeo sees it and copies it into an OCI layout,
/// which umoci unpacks into the same files; skopeo puts that layout back
/// under another name, and peti pulls and runs it; a second pull finds it
/// up to date.
#[test]
fn push_and_pull_round_trip_through_a_real_registry() {
    let registry = needs_registry!("push_and_pull_round_trip_through_a_real_registry");
    let sandbox = Sandbox::new();
    let host = &registry.host;
    let name = format!("{host}/bb:1");
    sandbox.ok(&["tag", "bb", &name]);
    let pushed = sandbox.ok(&["push", &name]);
    assert!(
        pushed.starts_with(&format!("The push refers to repository [{host}/bb]\n")),
        "{pushed}"
    );
    assert!(pushed.contains(": Pushed\n"), "{pushed}");
    let last = pushed.lines().last().unwrap();
    assert!(
        last.starts_with("1: digest: sha256:") && last.contains(" size: "),
        "{pushed}"
    );
    let digest = last.split(' ').nth(2).unwrap().to_string();
    // Pushed again: every layer is there already.
    assert!(
        sandbox
            .ok(&["push", &name])
            .contains(": Layer already exists\n")
    );

    let seen = skopeo(&["inspect", "--tls-verify=false", &format!("docker://{name}")]);
    let seen: serde_json::Value = serde_json::from_slice(&seen.stdout).unwrap();
    assert_eq!(seen["Digest"], digest.as_str());
    let layout = sandbox.path().join("layout");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{name}"),
        &format!("oci:{}:1", layout.display()),
    ]);
    let bundle = sandbox.path().join("bundle");
    let unpacked = Command::new(tool("umoci").unwrap())
        .args([
            "raw",
            "unpack",
            "--image",
            &format!("{}:1", layout.display()),
            bundle.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        unpacked.status.success(),
        "{}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    let inside = std::fs::read(bundle.join("bin/busybox")).unwrap();
    let host_busybox = std::fs::read("/bin/busybox")
        .or_else(|_| std::fs::read("/usr/bin/busybox"))
        .unwrap();
    assert_eq!(
        Sha256::digest(&inside),
        Sha256::digest(&host_busybox),
        "the same files"
    );

    let other = format!("{host}/copied:2");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", layout.display()),
        &format!("docker://{other}"),
    ]);
    let fresh = Sandbox::new();
    let pulled = fresh.ok(&["pull", &other]);
    let lines: Vec<&str> = pulled.lines().collect();
    assert_eq!(lines[0], "2: Pulling from copied", "{pulled}");
    // The fresh store has busybox's layer already (every sandbox imports
    // it): Docker says so, and does not download it again.
    assert!(pulled.contains(": Already exists\n"), "{pulled}");
    assert!(
        pulled.contains(&format!("Status: Downloaded newer image for {other}\n")),
        "{pulled}"
    );
    assert_eq!(*lines.last().unwrap(), other);
    assert_eq!(
        fresh.ok(&["run", "--rm", &other, "echo", "pulled and run"]),
        "pulled and run\n"
    );
    let listed = fresh.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(listed.lines().any(|l| l == other), "{listed}");
    let again = fresh.ok(&["pull", &other]);
    assert!(
        again.contains(&format!("Status: Image is up to date for {other}")),
        "{again}"
    );
    assert!(
        !again.contains("Pulling fs layer"),
        "nothing downloaded again: {again}"
    );
    let quiet = fresh.ok(&["pull", "-q", &other]);
    assert_eq!(quiet, format!("{other}\n"));

    // Into an empty store, every layer comes down, and is checked.
    let empty = Sandbox::empty();
    let pulled = empty.ok(&["pull", &other]);
    for step in [
        "Pulling fs layer",
        "Verifying Checksum",
        "Download complete",
        "Pull complete",
    ] {
        assert!(pulled.contains(&format!(": {step}\n")), "{step}: {pulled}");
    }
    assert_eq!(empty.ok(&["run", "--rm", &other, "echo", "ok"]), "ok\n");
    let downloads = empty.store().join("downloads/verified");
    assert_eq!(
        std::fs::read_dir(&downloads).unwrap().count(),
        0,
        "nothing kept twice"
    );
}

/// `run` of an image that is not here pulls it first, saying so on stderr,
/// as Docker's does; stdout is the container's alone.
#[test]
fn run_pulls_an_image_that_is_not_here() {
    let registry = needs_registry!("run_pulls_an_image_that_is_not_here");
    let sandbox = Sandbox::new();
    let name = format!("{}/bb:run", registry.host);
    sandbox.ok(&["tag", "bb", &name]);
    sandbox.ok(&["push", &name]);
    let fresh = Sandbox::new();
    let ran = fresh.peti(&["run", "--rm", &name, "echo", "hi"]);
    assert_eq!(code(&ran), 0, "{ran:?}");
    assert_eq!(stdout(&ran), "hi\n");
    let said = stderr(&ran);
    assert!(
        said.starts_with(&format!("Unable to find image '{name}' locally\n")),
        "{said}"
    );
    assert!(said.contains("Status: Downloaded newer image"), "{said}");
}

/// An index with amd64 and arm64 entries: the host's is pulled, and
/// `--platform linux/arm64` picks the other; a platform it lacks is an
/// error that lists the ones it has.
#[test]
fn an_index_gives_the_platform_asked_for() {
    let registry = needs_registry!("an_index_gives_the_platform_asked_for");
    let sandbox = Sandbox::new();
    let single = format!("{}/bb:single", registry.host);
    sandbox.ok(&["tag", "bb", &single]);
    sandbox.ok(&["push", &single]);
    let layout = sandbox.path().join("multi");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{single}"),
        &format!("oci:{}:x", layout.display()),
    ]);
    make_two_platform_index(&layout);
    let multi = format!("{}/multi:1", registry.host);
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}", layout.display()),
        &format!("docker://{multi}"),
    ]);
    let fresh = Sandbox::new();
    fresh.ok(&["pull", &multi]);
    let arch = |f: &Sandbox| f.ok(&["image", "inspect", "-f", "{{.Architecture}}", &multi]);
    assert_eq!(arch(&fresh), "amd64\n");
    fresh.ok(&["pull", "--platform", "linux/arm64", &multi]);
    assert_eq!(arch(&fresh), "arm64\n");
    let missing = fresh.peti(&["pull", "--platform", "linux/riscv64", &multi]);
    assert_eq!(code(&missing), 1);
    let said = stderr(&missing);
    assert!(
        said.contains("linux/amd64") && said.contains("linux/arm64"),
        "{said}"
    );
}

/// Rewrites the one-image layout at `dir` into an index of two: the image
/// for linux/amd64, and the same layers with a config that says arm64.
fn make_two_platform_index(dir: &Path) {
    let blobs = dir.join("blobs/sha256");
    let write_blob = |bytes: &[u8]| -> (String, usize) {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::File::create(blobs.join(&hex))
            .unwrap()
            .write_all(bytes)
            .unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let first = index["manifests"][0].clone();
    let digest = first["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.join(digest)).unwrap()).unwrap();
    let config_hex = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.join(&config_hex)).unwrap()).unwrap();
    config["architecture"] = "arm64".into();
    let (config_digest, config_size) = write_blob(config.to_string().as_bytes());
    manifest["config"]["digest"] = config_digest.into();
    manifest["config"]["size"] = config_size.into();
    let (arm_digest, arm_size) = write_blob(manifest.to_string().as_bytes());
    let mut amd = first.clone();
    amd["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
    amd.as_object_mut().unwrap().remove("annotations");
    let arm = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": arm_digest, "size": arm_size,
        "platform": {"architecture": "arm64", "os": "linux"},
    });
    let inner = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd, arm],
    });
    let (inner_digest, inner_size) = write_blob(inner.to_string().as_bytes());
    let outer = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": inner_digest, "size": inner_size,
        }],
    });
    std::fs::write(dir.join("index.json"), outer.to_string()).unwrap();
}

/// What a user gets wrong: a tag or repository the registry lacks, a
/// registry nobody runs, a name that is no reference. Each is a clear
/// error, and nothing lands in the store.
#[test]
fn a_pull_that_cannot_be_done_says_why_and_leaves_nothing() {
    let registry = needs_registry!("a_pull_that_cannot_be_done_says_why_and_leaves_nothing");
    let sandbox = Sandbox::new();
    let before = sandbox.ok(&["images", "-q"]);
    let unknown = sandbox.peti(&["pull", &format!("{}/nothing:here", registry.host)]);
    assert_eq!(code(&unknown), 1);
    assert!(stderr(&unknown).contains("manifest unknown"), "{unknown:?}");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = sandbox.peti(&["pull", &format!("127.0.0.1:{port}/x:1")]);
    assert_eq!(code(&refused), 1);
    assert!(
        stderr(&refused).contains(&format!(
            "cannot reach the registry 127.0.0.1:{port}: connection refused"
        )),
        "{refused:?}"
    );
    let bad = sandbox.peti(&["pull", "Not A Reference"]);
    assert_eq!(code(&bad), 1);
    assert!(stderr(&bad).contains("invalid reference format"), "{bad:?}");
    assert_eq!(sandbox.ok(&["images", "-q"]), before);
    let missing = sandbox.peti(&["push", &format!("{}/not-here:1", registry.host)]);
    assert_eq!(code(&missing), 1);
}
