//! `.ci/setup` refuses clearly where it cannot work, and says what to install by hand.
//!
//! Both refusals are produced for real: the script runs as an unprivileged user
//! (setpriv), and on a machine without apt-get (apt-get and dpkg-query hidden by bind
//! mounts in a private mount namespace that ends with the command).

mod common;

use std::path::PathBuf;
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
