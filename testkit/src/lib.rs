//! What the tests of every crate share.
//!
//! A test that cannot run here does not pass silently: it calls [`skip`] or
//! [`skip_for_machine`], which print why and append the reason to the file
//! `.ci/test` names in `PETI_TEST_SKIP_LOG`, so that the run's summary line
//! counts it and lists the reason.
//!
//! The two differ in who is to blame. [`skip`] is for what set-up gives: a tool,
//! a package, root, a usable `/dev/kvm`. On CI (`PETI_CI=1`, set by `.ci/run`),
//! set-up has run, so such a skip is set-up's bug and fails the test instead of
//! hiding it. [`skip_for_machine`] is for what no set-up can change, such as a
//! CPU without hardware virtualisation: it skips everywhere.

use std::io::Write;

pub mod bench;

/// Who could have let the test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// A tool, a package, root or `/dev/kvm`: `.ci/setup` should have given it.
    Setup,
    /// What the machine is: its CPU's virtualisation, its kernel's cgroup layout.
    Machine,
}

impl Blame {
    /// The word the skip log and `.ci/test`'s summary use.
    pub fn as_str(self) -> &'static str {
        match self {
            Blame::Setup => "set-up",
            Blame::Machine => "machine",
        }
    }
}

/// Marks a test as skipped for lack of something set-up provides. Use it as
/// `return skip("name", "why")`. On CI it fails the test: set-up has run there,
/// so the lack is a bug of set-up's.
pub fn skip(test: &str, reason: &str) {
    skip_because(Blame::Setup, test, reason);
}

/// Marks a test as skipped for what this machine is, which no set-up can change
/// (no hardware virtualisation, the other cgroup version). Skips on CI too.
pub fn skip_for_machine(test: &str, reason: &str) {
    skip_because(Blame::Machine, test, reason);
}

/// Whether this run is CI's, where every set-up skip is a failure.
pub fn on_ci() -> bool {
    std::env::var_os("PETI_CI").is_some_and(|v| v == "1")
}

/// Records the skip, then fails the test if it is set-up's and this is CI.
pub fn skip_because(blame: Blame, test: &str, reason: &str) {
    eprintln!("SKIPPED {test} ({}): {reason}", blame.as_str());
    if let Ok(log) = std::env::var("PETI_TEST_SKIP_LOG")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
    {
        let _ = writeln!(file, "{}\t{test}: {reason}", blame.as_str());
    }
    if blame == Blame::Setup && on_ci() {
        panic!(
            "{test} would skip on CI: {reason}. .ci/setup runs before the tests there, \
             so it should have provided this; fix set-up (or, if no set-up can, \
             skip with testkit::skip_for_machine)"
        );
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// An uncompressed tar of `files` (path, contents), each a regular file of
/// mode 0755: a layer as a test writes one.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o755);
        header.set_size(data.len() as u64);
        builder
            .append_data(&mut header, path, *data)
            .expect("an in-memory tar takes any entry");
    }
    builder.into_inner().expect("an in-memory tar finishes")
}

/// The lines of the README's section `## HEADING` that start with `prefix`
/// (a command), each split from its `  # comment` if it has one.
pub fn readme_lines(heading: &str, prefix: &str) -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(&format!("{heading}\n")))
        .unwrap_or_else(|| panic!("the README has a `## {heading}` section"));
    section
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(prefix))
        .map(|l| match l.split_once("  #") {
            Some((command, comment)) => (command.trim().to_string(), comment.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test for both, since they set the process's environment.
    #[test]
    fn a_setup_skip_fails_on_ci_and_a_machine_skip_does_not() {
        let log = tempfile_path();
        // SAFETY: no other test of this crate reads or writes the environment.
        unsafe {
            std::env::set_var("PETI_TEST_SKIP_LOG", &log);
            std::env::set_var("PETI_CI", "1");
        }
        skip_for_machine("t1", "no VT-x");
        let setup = std::panic::catch_unwind(|| skip("t2", "no tool"));
        // SAFETY: as above.
        unsafe { std::env::set_var("PETI_CI", "0") };
        skip("t3", "no tool");
        let logged = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        assert!(setup.is_err(), "a set-up skip on CI must fail");
        assert_eq!(
            logged,
            "machine\tt1: no VT-x\nset-up\tt2: no tool\nset-up\tt3: no tool\n"
        );
    }

    fn tempfile_path() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("testkit-skips-{}", std::process::id()))
    }
}
