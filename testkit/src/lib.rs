//! What the tests of every crate share.
//!
//! A test that needs something this machine lacks (root, /dev/kvm, a tool)
//! does not pass silently: it calls [`skip`], which prints why and appends the
//! reason to the file `.ci/test` names in `PETI_TEST_SKIP_LOG`, so that the
//! run's summary line counts it and lists the reason.

use std::io::Write;

/// Marks a test as skipped: prints why, and records it for `.ci/test`'s summary.
/// Use it as `return skip("name", "why")` only when the machine cannot run the test.
pub fn skip(test: &str, reason: &str) {
    eprintln!("SKIPPED {test}: {reason}");
    if let Ok(log) = std::env::var("PETI_TEST_SKIP_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            let _ = writeln!(file, "{test}: {reason}");
        }
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
