//! `.ci/setup` refuses clearly where it cannot work, and says what to install by hand.
//!
//! Both refusals are produced for real: the script runs as an unprivileged user
//! (setpriv), and on a machine without apt-get (apt-get and dpkg-query hidden by bind
//! mounts in a private mount namespace that ends with the command).
//!
//! And set-up chooses its packages right on a fresh machine, whose package lists are
//! empty until `apt-get update`. The test plays one with apt's and dpkg's own
//! settings (APT_CONFIG, DPKG_ADMINDIR): empty lists, a package database without
//! chromium, and, as the mirror, a local file repository holding what this machine's
//! lists hold, so no byte leaves the machine. `--dry-run` makes apt-get simulate.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn setup_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/setup")
}

fn assert_refused(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    assert!(
        stderr.contains("Install these by hand"),
        "no manual steps in:\n{stderr}"
    );
    assert!(
        stderr.contains("busybox-static"),
        "manual steps do not list packages:\n{stderr}"
    );
}

#[test]
fn setup_refuses_to_run_without_root() {
    if !common::is_root() {
        // A normal user gets the refusal directly.
        let output = Command::new("bash").arg(setup_script()).output().unwrap();
        return assert_refused(&output, "run as root");
    }
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "bash"])
        .arg(setup_script())
        .output()
        .unwrap();
    assert_refused(&output, "run as root");
}

#[test]
fn setup_refuses_without_apt_and_says_what_to_install() {
    if !common::is_root() {
        return common::skip(
            "setup_refuses_without_apt_and_says_what_to_install",
            "needs root to hide apt-get in a private mount namespace",
        );
    }
    // /dev/null bound over the tools: they still exist, but cannot be executed.
    let script = format!(
        "for t in apt-get dpkg-query; do p=$(command -v $t) && mount --bind /dev/null \"$p\"; done; exec bash '{}'",
        setup_script().display()
    );
    let output = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_refused(&output, "no apt-get/dpkg");
}

/// A fresh Debian machine as apt and dpkg see it, in a temporary folder: package
/// lists that are empty until `apt-get update`, which reads a local repository.
struct FreshMachine {
    dir: tempfile::TempDir,
}

impl FreshMachine {
    /// `installed_chromium`: whether the package database says chromium is installed.
    fn new(installed_chromium: bool) -> FreshMachine {
        let dir = tempfile::tempdir().unwrap();
        let at = |p: &str| dir.path().join(p);
        for sub in [
            "lists/partial",
            "repo",
            "dpkg",
            "cache/archives/partial",
            "none",
        ] {
            std::fs::create_dir_all(at(sub)).unwrap();
        }
        // The mirror: every package this machine's own lists know of.
        let available = Command::new("apt-cache").arg("dumpavail").output().unwrap();
        assert!(available.status.success());
        std::fs::write(at("repo/Packages"), &available.stdout).unwrap();
        std::fs::write(
            at("sources.list"),
            format!("deb [trusted=yes] file:{} ./\n", at("repo").display()),
        )
        .unwrap();
        // This machine's package database, as if `dpkg -r chromium` had run, or
        // with chromium installed.
        let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
        let mut stanzas: Vec<&str> = status
            .split("\n\n")
            .filter(|s| !s.trim().is_empty() && !s.starts_with("Package: chromium\n"))
            .collect();
        let chromium =
            "Package: chromium\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1";
        if installed_chromium {
            stanzas.push(chromium);
        }
        std::fs::write(at("dpkg/status"), stanzas.join("\n\n") + "\n\n").unwrap();
        let config = [
            ("Dir::State::lists", at("lists/")),
            ("Dir::State::status", at("dpkg/status")),
            ("Dir::Etc::sourcelist", at("sources.list")),
            ("Dir::Etc::sourceparts", at("none")),
            ("Dir::Cache", at("cache/")),
        ]
        .iter()
        .map(|(key, path)| format!("{key} \"{}\";\n", path.display()))
        .collect::<String>()
            // The download runs as root: the folder is not the _apt user's to read.
            + "APT::Sandbox::User \"root\";\n";
        std::fs::write(at("apt.conf"), config).unwrap();
        FreshMachine { dir }
    }

    /// `.ci/setup --dry-run` on this machine.
    fn setup(&self) -> Output {
        Command::new("bash")
            .arg(setup_script())
            .arg("--dry-run")
            .env("APT_CONFIG", self.dir.path().join("apt.conf"))
            .env("DPKG_ADMINDIR", self.dir.path().join("dpkg"))
            .output()
            .unwrap()
    }

    fn has_lists(&self) -> bool {
        has_packages_file(&self.dir.path().join("lists"))
    }
}

fn has_packages_file(lists: &Path) -> bool {
    std::fs::read_dir(lists)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
}

/// Whether this machine's distribution packages chromium (Debian does; Ubuntu
/// ships it as a snap).
fn chromium_is_packaged() -> bool {
    let shown = Command::new("apt-cache")
        .args(["show", "chromium"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&shown.stdout)
        .lines()
        .any(|l| l == "Package: chromium")
}

#[test]
fn on_a_fresh_machine_setup_updates_the_lists_before_it_chooses_the_browser() {
    let test = "on_a_fresh_machine_setup_updates_the_lists_before_it_chooses_the_browser";
    if !common::is_root() {
        return common::skip(test, "set-up runs as root only");
    }
    let fresh = FreshMachine::new(false);
    assert!(!fresh.has_lists());
    let output = fresh.setup();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // Before the update, the browser could only be a placeholder.
    assert!(stdout.contains("setup: missing: BROWSER"), "{stdout}");
    assert!(stdout.contains("setup: apt-get update"), "{stdout}");
    assert!(fresh.has_lists(), "apt-get update did not fill the lists");
    if chromium_is_packaged() {
        assert!(
            stdout.contains("would install: chromium fonts-dejavu-core"),
            "{stdout}"
        );
        assert!(
            stdout.lines().any(|l| l.starts_with("Inst chromium ")),
            "apt-get cannot install chromium:\n{stdout}"
        );
    } else {
        assert!(stderr.contains("no chromium package here"), "{stderr}");
    }
}

#[test]
fn with_everything_installed_setup_does_not_update_even_with_empty_lists() {
    let test = "with_everything_installed_setup_does_not_update_even_with_empty_lists";
    if !common::is_root() {
        return common::skip(test, "set-up runs as root only");
    }
    // This machine's own packages, which set-up installed, plus chromium.
    let fresh = FreshMachine::new(true);
    let output = fresh.setup();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("all Debian packages present"), "{stdout}");
    assert!(!fresh.has_lists(), "it updated the lists: {stdout}");
}
