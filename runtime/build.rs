//! Builds `peti-monitor` (monitor/peti-monitor.c), the small C process that stays
//! with each detached container. peti embeds the binary and writes it out on first
//! use; see `container::monitor` for why it is C and static.

use std::env;
use std::path::PathBuf;
use std::process::Command;

use sha2::Digest;

fn main() {
    let source = "monitor/peti-monitor.c";
    println!("cargo:rerun-if-changed={source}");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("peti-monitor");
    let status = Command::new("musl-gcc")
        .args(["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(source)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("musl-gcc failed to build {source} ({s})"),
        Err(e) => panic!(
            "cannot run musl-gcc ({e}): install the musl-tools package (the README's commands run .ci/setup, which does)"
        ),
    }
    // Its content address names the installed copy; computed here, once, rather
    // than on every `peti run -d`.
    let bytes = std::fs::read(&out).expect("musl-gcc wrote the monitor");
    let digest = sha2::Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=PETI_MONITOR_SHA256={hex}");
}
