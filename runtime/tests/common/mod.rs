//! What the runtime's integration tests share: skipping with a reason, and a
//! sandbox with its own image store and run-time directory, holding a busybox
//! image, in which the real `peti` binary is run.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use testkit::{Blame, is_root, skip, skip_because, skip_for_machine};

/// Why containers cannot run here, if they cannot.
pub fn containers_unavailable() -> Option<&'static str> {
    if !is_root() {
        return Some("containers need root (namespaces, mounts and cgroups)");
    }
    if busybox().is_none() {
        return Some("busybox-static is not installed (run .ci/setup)");
    }
    None
}

/// Returns early from a test, as skipped, when containers cannot run here.
#[macro_export]
macro_rules! needs_containers {
    ($test:literal) => {
        if let Some(reason) = common::containers_unavailable() {
            return common::skip($test, reason);
        }
    };
}

/// The host's static busybox.
fn busybox() -> Option<PathBuf> {
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A root file system: busybox and a link for each applet, plus users, plus
/// `extra` executable files.
pub fn busybox_rootfs_tar(extra: &[(&str, &[u8])]) -> Vec<u8> {
    busybox_rootfs_tar_with_links(extra, &[])
}

/// [`busybox_rootfs_tar`], plus `links`: (path, target) symlinks.
pub fn busybox_rootfs_tar_with_links(extra: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    busybox_rootfs_tar_with(extra, links, &[])
}

/// [`busybox_rootfs_tar_with_links`], plus `modes`: (path, mode) files that
/// are copies of busybox with that mode (04755 for a setuid one, say).
pub fn busybox_rootfs_tar_with(
    extra: &[(&str, &[u8])],
    links: &[(&str, &str)],
    modes: &[(&str, u32)],
) -> Vec<u8> {
    let busybox = busybox().expect("checked by containers_unavailable");
    let binary = std::fs::read(&busybox).expect("busybox is readable");
    let list = Command::new(&busybox)
        .arg("--list-full")
        .output()
        .expect("busybox runs");
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, kind: tar::EntryType, data: &[u8], link: &str| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        if !link.is_empty() {
            header.set_link_name(link).unwrap();
        }
        tar.append_data(&mut header, path, data).unwrap();
    };
    for dir in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp"] {
        add(dir, 0o755, tar::EntryType::Directory, b"", "");
    }
    add("bin/busybox", 0o755, tar::EntryType::Regular, &binary, "");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if !applet.is_empty() && applet != "bin/busybox" {
            add(applet, 0o777, tar::EntryType::Symlink, b"", "/bin/busybox");
        }
    }
    add(
        "etc/passwd",
        0o644,
        tar::EntryType::Regular,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        "",
    );
    for (path, data) in extra {
        add(path, 0o755, tar::EntryType::Regular, data, "");
    }
    for (path, target) in links {
        add(path, 0o777, tar::EntryType::Symlink, b"", target);
    }
    for (path, mode) in modes {
        add(path, *mode, tar::EntryType::Regular, &binary, "");
    }
    tar.into_inner().unwrap()
}

/// Its own `PETI_ROOT` and `PETI_RUN`, with busybox imported as `bb`. Dropping it
/// removes every container it made, so a failed test leaves no cgroups behind.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self::new_with(|_| {})
    }

    /// A sandbox with an empty store: no image at all.
    #[allow(dead_code)]
    pub fn empty() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A sandbox whose folder `prepare` is given before busybox is imported
    /// into it: to mount a small file system on its store, say.
    pub fn new_with(prepare: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        prepare(dir.path());
        let sandbox = Sandbox { dir };
        let tar = sandbox.path().join("busybox.tar");
        std::fs::write(&tar, busybox_rootfs_tar(&[])).unwrap();
        sandbox.ok(&["import", tar.to_str().unwrap(), "bb"]);
        sandbox
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join("store")
    }

    pub fn run_root(&self) -> PathBuf {
        self.path().join("run")
    }

    /// Where `peti login` keeps its logins here (Docker's `DOCKER_CONFIG`).
    pub fn docker_config(&self) -> PathBuf {
        self.path().join("docker")
    }

    /// `peti ARGS` in this sandbox, with no stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_peti")), args)
    }

    /// [`Sandbox::command`], of another peti binary (a copy, say).
    pub fn command_of(&self, peti: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(peti);
        command
            .args(args)
            .env("PETI_ROOT", self.store())
            .env("PETI_RUN", self.run_root())
            // Logins go in the sandbox, never in the user's ~/.docker.
            .env("DOCKER_CONFIG", self.docker_config())
            .stdin(Stdio::null());
        command
    }

    pub fn peti(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("peti runs")
    }

    /// Runs `peti ARGS`, insists that it succeeds, and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.peti(args);
        assert!(
            output.status.success(),
            "peti {args:?} failed ({}):\n{}{}",
            output.status,
            stdout(&output),
            stderr(&output)
        );
        stdout(&output)
    }

    /// The container's record, as `peti inspect` prints it.
    pub fn inspect(&self, container: &str) -> serde_json::Value {
        let text = self.ok(&["inspect", container]);
        let mut all: serde_json::Value = serde_json::from_str(&text).expect("inspect is JSON");
        all[0].take()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let ids = stdout(&self.peti(&["ps", "-aq"]));
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.peti(&args);
        }
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The exit code, as a shell would report it.
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("peti exits, it is not killed")
}

/// A registry of our own, stopped when dropped.
pub struct Registry {
    child: std::process::Child,
    pub host: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one on 127.0.0.1:`port` (0: a free port); none if the
    /// server is not installed.
    #[allow(dead_code)]
    pub fn start(port: u16) -> Option<Registry> {
        Self::start_with(port, "")
    }

    /// [`Registry::start`], with `http` lines added to its config's `http:`
    /// section (`tls:` with a certificate and key, say).
    #[allow(dead_code)]
    pub fn start_with(port: u16, http: &str) -> Option<Registry> {
        Self::start_config(port, http, "")
    }

    /// [`Registry::start_with`], with `top` added at the config's top level
    /// (an `auth:` section, say).
    #[allow(dead_code)]
    pub fn start_config(port: u16, http: &str, top: &str) -> Option<Registry> {
        let binary = ["/usr/bin/docker-registry", "/usr/bin/registry"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())?;
        let dir = tempfile::tempdir().unwrap();
        // A free port: bound, read, let go.
        let port = match port {
            0 => std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
            given => given,
        };
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n{http}{top}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        // Its access log (a line per request, on stdout) is kept for tests
        // that check which requests were made.
        let log = std::fs::File::create(dir.path().join("access.log")).unwrap();
        let child = std::process::Command::new(binary)
            .args(["serve", config.to_str().unwrap()])
            .stdout(log)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            host,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(&registry.host).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the registry did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(registry)
    }
}

impl Registry {
    /// The requests it has served, a line each (`"PATCH /v2/... HTTP/1.1" 202`).
    #[allow(dead_code)]
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
