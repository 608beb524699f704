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

/// A registry of our own that lies or stalls, as the hostile one of the
/// issue: it serves a manifest for `/v2/bad/manifests/TAG` whose one layer is
/// `blob`, and answers each request with what `serve` says for its path.
struct Hostile {
    host: String,
    _thread: std::thread::JoinHandle<()>,
}

impl Hostile {
    fn start(serve: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let serve = std::sync::Arc::new(serve);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let serve = serve.clone();
                // A connection each, so that one left stalled holds up no other.
                std::thread::spawn(move || {
                    let mut request = Vec::new();
                    let mut byte = [0u8; 1];
                    while !request.ends_with(b"\r\n\r\n") {
                        match std::io::Read::read(&mut stream, &mut byte) {
                            Ok(1) => request.push(byte[0]),
                            _ => break,
                        }
                        // A TLS hello: a plain-HTTP server answers 400, as Go's does.
                        if request == [0x16] {
                            let _ = stream.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
                            return;
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split(' ').nth(1).unwrap_or("/").to_string();
                    let answer = serve(&path);
                    let _ = stream.write_all(&answer);
                    // The stalling answer keeps the connection open.
                    std::thread::sleep(std::time::Duration::from_secs(30));
                });
            }
        });
        Hostile {
            host,
            _thread: thread,
        }
    }
}

fn http(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut text = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A manifest naming a config and one layer of `layer_size` bytes whose
/// digest is `layer_digest`; and its bytes' digest.
fn manifest_for(config: &[u8], layer_digest: &str, layer_size: usize) -> (Vec<u8>, String) {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", hex::encode(Sha256::digest(config))),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest, "size": layer_size,
        }],
    })
    .to_string()
    .into_bytes();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
    (manifest, digest)
}

/// A hostile registry: a blob whose bytes are not its digest's, a manifest
/// over 4 MiB, a redirect loop, an upload Location on another host. Each is
/// a clear error, and nothing lands in the store.
#[test]
fn a_lying_registry_gets_clear_errors_and_nothing_lands() {
    if let Some(reason) = common::containers_unavailable() {
        return common::skip(
            "a_lying_registry_gets_clear_errors_and_nothing_lands",
            reason,
        );
    }
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#.to_vec();
    let claimed = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(b"what it should be"))
    );
    let (manifest, _) = manifest_for(&config, &claimed, 12);
    let hostile = Hostile::start(move |path| {
        let json = |body: &[u8]| {
            http(
                "200 OK",
                &[(
                    "Content-Type",
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )],
                body,
            )
        };
        match path {
            "/v2/" => http("200 OK", &[], b"{}"),
            "/v2/bad/manifests/1" => json(&manifest),
            "/v2/huge/manifests/1" => json(&vec![b' '; 5 << 20]),
            "/v2/loop/manifests/1" => http(
                "302 Found",
                &[("Location", "/v2/loop/manifests/1".into())],
                b"",
            ),
            p if p.starts_with("/v2/bad/blobs/sha256:")
                && p.contains(&hex::encode(Sha256::digest(b"what it should be"))) =>
            {
                http("200 OK", &[], b"but is this!")
            }
            p if p.starts_with("/v2/bad/blobs/") => http("200 OK", &[], &config),
            "/v2/away/blobs/uploads/" => http(
                "202 Accepted",
                &[("Location", "http://192.0.2.1/steal".into())],
                b"",
            ),
            p if p.starts_with("/v2/away/blobs/") => http("404 Not Found", &[], b""),
            _ => http("404 Not Found", &[], b""),
        }
    });
    let sandbox = Sandbox::new();
    let before = sandbox.ok(&["images", "-q"]);
    let host = &hostile.host;
    let lying = sandbox.peti(&["pull", &format!("{host}/bad:1")]);
    assert_eq!(code(&lying), 1, "{lying:?}");
    assert!(
        stderr(&lying).contains("the registry sent something else"),
        "{lying:?}"
    );
    let huge = sandbox.peti(&["pull", &format!("{host}/huge:1")]);
    assert!(stderr(&huge).contains("larger than"), "{huge:?}");
    let looping = sandbox.peti(&["pull", &format!("{host}/loop:1")]);
    assert!(stderr(&looping).contains("redirect"), "{looping:?}");
    sandbox.ok(&["tag", "bb", &format!("{host}/away:1")]);
    let away = sandbox.peti(&["push", &format!("{host}/away:1")]);
    assert!(stderr(&away).contains("is not on"), "{away:?}");
    sandbox.ok(&["rmi", &format!("{host}/away:1")]);
    assert_eq!(sandbox.ok(&["images", "-q"]), before, "nothing landed");
    let downloads = sandbox.store().join("downloads");
    let leftovers: Vec<_> = std::fs::read_dir(&downloads)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name() != "verified")
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A pull killed in the middle of a blob (the registry stalls there) leaves
/// no image; its half-written file goes with the next command that changes
/// the store.
#[test]
fn a_pull_killed_halfway_leaves_no_image_and_no_temporary_file() {
    if let Some(reason) = common::containers_unavailable() {
        return common::skip(
            "a_pull_killed_halfway_leaves_no_image_and_no_temporary_file",
            reason,
        );
    }
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let layer = vec![7u8; 1 << 20];
    let layer_digest = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let (manifest, _) = manifest_for(&config, &layer_digest, layer.len());
    let hostile = Hostile::start(move |path| match path {
        "/v2/" => http("200 OK", &[], b"{}"),
        "/v2/slow/manifests/1" => http(
            "200 OK",
            &[(
                "Content-Type",
                "application/vnd.oci.image.manifest.v1+json".into(),
            )],
            &manifest,
        ),
        p if p.contains(&layer_digest) => {
            // Half the blob, then nothing: the answer is never finished.
            let mut head = http("200 OK", &[], &[]);
            let text = String::from_utf8_lossy(&head)
                .replace("Content-Length: 0", &format!("Content-Length: {}", 1 << 20));
            head = text.into_bytes();
            head.extend_from_slice(&[7u8; 1 << 19]);
            head
        }
        p if p.starts_with("/v2/slow/blobs/") => http("200 OK", &[], &config),
        _ => http("404 Not Found", &[], b""),
    });
    let sandbox = Sandbox::new();
    let before = sandbox.ok(&["images", "-q"]);
    let mut pull = sandbox
        .command(&["pull", &format!("{}/slow:1", hostile.host)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let downloads = sandbox.store().join("downloads");
    let part = || {
        std::fs::read_dir(&downloads)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains(".part-"))
            })
            .unwrap_or(false)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !part() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(part(), "the pull started a download");
    std::thread::sleep(std::time::Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pull.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = pull.wait();
    assert_eq!(
        sandbox.ok(&["images", "-q"]),
        before,
        "no image from a killed pull"
    );
    // The next command that changes the store sweeps the dead download.
    sandbox.ok(&["tag", "bb", "bb:swept"]);
    assert!(!part(), "the half-written blob is gone");
}

/// Runs openssl; the test cannot go on without it.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// HTTPS with a CA of the test's own (made with openssl): refused while
/// peti does not trust it, with words that say where the CA goes; trusted
/// from certs.d/HOST:PORT/ca.crt, Docker's layout; or not checked with
/// --tls-verify=false.
#[test]
fn https_is_checked_against_the_ca_in_certs_d() {
    if let Some(reason) = common::containers_unavailable() {
        return common::skip("https_is_checked_against_the_ca_in_certs_d", reason);
    }
    if tool("openssl").is_none() {
        return common::skip(
            "https_is_checked_against_the_ca_in_certs_d",
            "openssl is not installed (.ci/setup installs it)",
        );
    }
    let pki = tempfile::tempdir().unwrap();
    let d = pki.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=peti test CA",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    let tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        d.join("server.crt").display(),
        d.join("server.key").display()
    );
    let Some(registry) = Registry::start_with(0, &tls) else {
        return common::skip(
            "https_is_checked_against_the_ca_in_certs_d",
            "docker-registry is not installed (.ci/setup installs it)",
        );
    };
    let certs = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new();
    let name = format!("{}/secure:1", registry.host);
    sandbox.ok(&["tag", "bb", &name]);
    let with_certs = |args: &[&str]| {
        sandbox
            .command(args)
            .env("PETI_CERTS_D", certs.path())
            .output()
            .unwrap()
    };
    let refused = with_certs(&["push", &name]);
    assert_eq!(code(&refused), 1, "{refused:?}");
    let said = stderr(&refused);
    let ca_at = certs.path().join(&registry.host).join("ca.crt");
    assert!(said.contains("certificate is not trusted"), "{said}");
    assert!(
        said.contains(&ca_at.display().to_string()),
        "names where the CA goes: {said}"
    );
    let unchecked = with_certs(&["push", "--tls-verify=false", &name]);
    assert_eq!(code(&unchecked), 0, "{unchecked:?}");
    std::fs::create_dir_all(ca_at.parent().unwrap()).unwrap();
    std::fs::copy(d.join("ca.crt"), &ca_at).unwrap();
    let trusted = with_certs(&["pull", &name]);
    assert_eq!(code(&trusted), 0, "{trusted:?}");
    assert!(stdout(&trusted).contains("Status: "), "{trusted:?}");
}

/// `peti login SERVER -u USER --password-stdin` with `password` on stdin.
fn login(sandbox: &Sandbox, server: &str, user: &str, password: &str) -> std::process::Output {
    let mut child = sandbox
        .command(&["login", server, "-u", user, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

/// A registry whose config has `auth`, and a sandbox with busybox tagged
/// for its repository `private`; none if there is no docker-registry.
fn private_registry(auth: &str) -> Option<(Registry, Sandbox, String)> {
    let registry = Registry::start_config(0, "", auth)?;
    let sandbox = Sandbox::new();
    let name = format!("{}/private:1", registry.host);
    sandbox.ok(&["tag", "bb", &name]);
    Some((registry, sandbox, name))
}

/// What a registry that wants a login does to `peti push NAME`: refuses it
/// while peti has no login, saying how to make one; refuses `peti login`
/// with a wrong password, and keeps nothing; accepts the right one.
fn refused_then_logged_in(sandbox: &Sandbox, host: &str, name: &str) {
    let anonymous = sandbox.peti(&["push", name]);
    assert_eq!(code(&anonymous), 1, "{anonymous:?}");
    assert!(
        stderr(&anonymous).contains(&format!(
            "unauthorized: authentication required: log in first with `peti login {host}`"
        )),
        "{anonymous:?}"
    );
    let wrong = login(sandbox, host, "learner", "guess");
    assert_eq!(code(&wrong), 1, "{wrong:?}");
    assert!(
        stderr(&wrong).contains("incorrect username or password"),
        "{wrong:?}"
    );
    let config = sandbox.docker_config().join("config.json");
    assert!(!config.exists(), "a refused login is not kept");
    let right = login(sandbox, host, "learner", "s3cret");
    assert_eq!(code(&right), 0, "{right:?}");
    assert_eq!(stdout(&right), "Login Succeeded\n");
}

/// A registry that wants a login (Basic auth, checked by docker-registry
/// against an htpasswd file of bcrypt hashes): refused without one, and
/// with a wrong password; served after `peti login`, whose config.json
/// (0600) skopeo reads as Docker's; refused again after `peti logout`.
#[test]
fn a_registry_that_wants_a_login_gets_one() {
    const TEST: &str = "a_registry_that_wants_a_login_gets_one";
    if let Some(reason) = common::containers_unavailable() {
        return common::skip(TEST, reason);
    }
    for t in ["htpasswd", "skopeo"] {
        if tool(t).is_none() {
            return common::skip(
                TEST,
                &format!("{t} is not installed (.ci/setup installs it)"),
            );
        }
    }
    let secrets = tempfile::tempdir().unwrap();
    let htpasswd = secrets.path().join("htpasswd");
    let made = Command::new(tool("htpasswd").unwrap())
        .args(["-Bbc", htpasswd.to_str().unwrap(), "learner", "s3cret"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: peti-test\n    path: {}\n",
        htpasswd.display()
    );
    let Some((registry, sandbox, name)) = private_registry(&auth) else {
        return common::skip(
            TEST,
            "docker-registry is not installed (.ci/setup installs it)",
        );
    };
    let host = &registry.host;
    refused_then_logged_in(&sandbox, host, &name);
    let config = sandbox.docker_config().join("config.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner reads a password");
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(kept["auths"][host.as_str()]["auth"], "bGVhcm5lcjpzM2NyZXQ=");

    sandbox.ok(&["push", &name]);
    let inspected = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        config.to_str().unwrap(),
        &format!("docker://{name}"),
    ]);
    assert!(stdout(&inspected).contains("\"Digest\""), "{inspected:?}");
    sandbox.ok(&["rmi", &name]);
    sandbox.ok(&["pull", &name]);

    let out = sandbox.ok(&["logout", host]);
    assert_eq!(out, format!("Removing login credentials for {host}\n"));
    assert_eq!(
        sandbox.ok(&["logout", host]),
        format!("Not logged in to {host}\n")
    );
    let refused = sandbox.peti(&["pull", &name]);
    assert_eq!(code(&refused), 1, "{refused:?}");
    assert!(stderr(&refused).contains("unauthorized"), "{refused:?}");
}

/// A token service of the test's own for docker-registry's `token` auth, as
/// Docker Hub's auth.docker.io is for its registry: it checks Basic
/// credentials (learner:s3cret) and signs a JWT (RS256, with openssl, its
/// certificate in the `x5c` header) granting the scope asked for; an
/// anonymous caller gets a token that grants nothing, as Docker Hub's does
/// for a private repository. The registry checks every token's signature,
/// issuer, audience, times and grants itself.
struct TokenService {
    url: String,
    issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _thread: std::thread::JoinHandle<()>,
}

impl TokenService {
    fn start(pki: &Path) -> TokenService {
        use base64::Engine as _;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let pem = std::fs::read_to_string(pki.join("token.crt")).unwrap();
        let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let key = pki.join("token.key");
        let issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = issued.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0
                        || line == "\r\n"
                    {
                        break;
                    }
                    head.push(line.trim_end().to_string());
                }
                let target = head.first().and_then(|l| l.split(' ').nth(1)).unwrap_or("");
                // Every `scope=` of the query: a push that mounts asks for two.
                let scopes: Vec<String> = target
                    .split_once('?')
                    .map(|(_, q)| q)
                    .unwrap_or("")
                    .split('&')
                    .filter_map(|kv| kv.strip_prefix("scope="))
                    .map(|v| {
                        percent_encoding::percent_decode_str(v)
                            .decode_utf8_lossy()
                            .into_owned()
                    })
                    .collect();
                let basic = head.iter().find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("authorization")
                        .then(|| value.trim().strip_prefix("Basic ").map(str::to_string))?
                });
                let right = base64::engine::general_purpose::STANDARD.encode("learner:s3cret");
                let access = match &basic {
                    Some(b) if *b != right => {
                        let _ = stream.write_all(&http("401 Unauthorized", &[], b""));
                        continue;
                    }
                    Some(_) => scopes
                        .iter()
                        .map(|scope| {
                            let mut parts = scope.splitn(3, ':');
                            let (kind, name, actions) = (
                                parts.next().unwrap(),
                                parts.next().unwrap(),
                                parts.next().unwrap(),
                            );
                            serde_json::json!({
                                "type": kind, "name": name,
                                "actions": actions.split(',').collect::<Vec<_>>(),
                            })
                        })
                        .collect(),
                    None => Vec::new(),
                };
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let url64 =
                    |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
                let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [der]});
                let claims = serde_json::json!({
                    "iss": "peti-token-service", "sub": "learner", "aud": "peti-registry",
                    "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", counter.load(std::sync::atomic::Ordering::SeqCst)),
                    "access": access,
                });
                let signed = format!(
                    "{}.{}",
                    url64(header.to_string().as_bytes()),
                    url64(claims.to_string().as_bytes())
                );
                let mut openssl = Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign", key.to_str().unwrap()])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                openssl
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(signed.as_bytes())
                    .unwrap();
                let signature = openssl.wait_with_output().unwrap().stdout;
                let token = format!("{signed}.{}", url64(&signature));
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
                let _ = stream.write_all(&http(
                    "200 OK",
                    &[("Content-Type", "application/json".into())],
                    body.as_bytes(),
                ));
            }
        });
        TokenService {
            url,
            issued,
            _thread: thread,
        }
    }

    fn issued(&self) -> usize {
        self.issued.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The Bearer flow, Docker Hub's: docker-registry with `token` auth sends
/// peti to a token service for each repository's scope. Without a login the
/// token grants nothing and the registry refuses; a wrong password is
/// refused by the token service; after `peti login` a push and a pull each
/// ask for one token, not one per request.
#[test]
fn a_registry_with_a_token_service_gets_a_token() {
    const TEST: &str = "a_registry_with_a_token_service_gets_a_token";
    if let Some(reason) = common::containers_unavailable() {
        return common::skip(TEST, reason);
    }
    if tool("openssl").is_none() {
        return common::skip(TEST, "openssl is not installed (.ci/setup installs it)");
    }
    let pki = tempfile::tempdir().unwrap();
    openssl(
        pki.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.crt",
            "-days",
            "2",
            "-subj",
            "/CN=peti token service",
        ],
    );
    let tokens = TokenService::start(pki.path());
    let auth = format!(
        "auth:\n  token:\n    realm: {}\n    service: peti-registry\n    issuer: peti-token-service\n    rootcertbundle: {}\n",
        tokens.url,
        pki.path().join("token.crt").display()
    );
    let Some((registry, sandbox, name)) = private_registry(&auth) else {
        return common::skip(
            TEST,
            "docker-registry is not installed (.ci/setup installs it)",
        );
    };
    let host = &registry.host;
    refused_then_logged_in(&sandbox, host, &name);

    let before = tokens.issued();
    sandbox.ok(&["push", &name]);
    assert_eq!(tokens.issued() - before, 1, "one token for the whole push");
    sandbox.ok(&["rmi", &name]);
    let before = tokens.issued();
    sandbox.ok(&["pull", &name]);
    assert_eq!(tokens.issued() - before, 1, "one token for the whole pull");
    assert_eq!(sandbox.ok(&["run", "--rm", &name, "echo", "ran"]), "ran\n");
    // A mount needs pull on the repository it is from: a second scope in
    // the one token.
    let other = format!("{host}/other:1");
    sandbox.ok(&["tag", "bb", &other]);
    let pushed = sandbox.ok(&["push", &other]);
    assert!(pushed.contains(": Mounted from private\n"), "{pushed}");
}

/// A push of a blob larger than the chunk size goes in PATCH requests (the
/// registry's access log shows them, and the blob it assembled verifies);
/// a push of an image whose blobs another repository of the registry has
/// mounts them from there, sending no layer's bytes; the mounted image
/// pulls and runs.
#[test]
fn a_push_sends_chunks_and_mounts_what_the_registry_has() {
    let registry = needs_registry!("a_push_sends_chunks_and_mounts_what_the_registry_has");
    let sandbox = Sandbox::new();
    let host = &registry.host;
    let name = format!("{host}/bb:1");
    sandbox.ok(&["tag", "bb", &name]);
    let engine = runtime::engine::Engine::open(&sandbox.store(), &sandbox.run_root()).unwrap();
    let options = runtime::registry::Options {
        chunk_size: 256 * 1024,
        logins: None,
        ..runtime::registry::Options::default()
    };
    let (events, _receiver) = std::sync::mpsc::channel();
    engine.push(&name, &options, &events).unwrap();
    let log = registry.access_log();
    let patches = log
        .lines()
        .filter(|l| l.contains("\"PATCH /v2/bb/blobs/uploads/") && l.contains("\" 202 "))
        .count();
    assert!(patches >= 2, "the layer went in chunks:\n{log}");

    let copy = format!("{host}/copy:1");
    sandbox.ok(&["tag", "bb", &copy]);
    let pushed = sandbox.ok(&["push", &copy]);
    assert!(pushed.contains(": Mounted from bb\n"), "{pushed}");
    assert!(!pushed.contains(": Pushed\n"), "{pushed}");
    assert!(
        registry
            .access_log()
            .lines()
            .any(|l| l.contains("\"POST /v2/copy/blobs/uploads/?mount=") && l.contains("\" 201 ")),
        "the registry mounted the blob"
    );
    let empty = Sandbox::empty();
    empty.ok(&["pull", &copy]);
    assert_eq!(
        empty.ok(&["run", "--rm", &copy, "echo", "mounted"]),
        "mounted\n"
    );
}

/// On a terminal (a pty made by util-linux's `script`), a pull draws a bar
/// per layer, redrawn in place with escape sequences, and ends with the
/// same `Digest:` and `Status:` lines; in a pipe it prints plain lines.
#[test]
fn a_pull_on_a_terminal_draws_bars() {
    let registry = needs_registry!("a_pull_on_a_terminal_draws_bars");
    if tool("script").is_none() {
        return common::skip(
            "a_pull_on_a_terminal_draws_bars",
            "script is not installed (util-linux; .ci/setup installs it)",
        );
    }
    let sandbox = Sandbox::new();
    let name = format!("{}/bars:1", registry.host);
    sandbox.ok(&["tag", "bb", &name]);
    sandbox.ok(&["push", &name]);
    sandbox.ok(&["rmi", &name]);
    let empty = Sandbox::empty();
    let piped = empty.ok(&["pull", &name]);
    assert!(piped.contains(": Pull complete\n"), "{piped}");
    assert!(!piped.contains('\u{1b}'), "no escapes in a pipe: {piped:?}");
    empty.ok(&["rmi", &name]);
    let command = format!("{} pull {name}", env!("CARGO_BIN_EXE_peti"));
    let on_tty = Command::new(tool("script").unwrap())
        .args(["-qec", &command, "/dev/null"])
        .env("PETI_ROOT", empty.store())
        .env("PETI_RUN", empty.run_root())
        .env("DOCKER_CONFIG", empty.docker_config())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&on_tty);
    assert!(on_tty.status.success(), "{text}");
    assert!(text.contains("Pull complete"), "{text:?}");
    assert!(text.contains('\u{1b}'), "redrawn in place: {text:?}");
    assert!(
        text.contains("Status: Downloaded newer image for"),
        "{text:?}"
    );
}
