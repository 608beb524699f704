//! Builds the three small C programs that peti carries inside its own binary:
//! `peti-monitor` (monitor/peti-monitor.c), the process that stays with each
//! detached container (see `container::monitor` for why it is C and static),
//! `peti-dmz` (dmz/peti-dmz.c), the program peti execs inside a container
//! in place of the container's own (see `container::dmz`), and `peti-init`
//! (init/peti-init.c), the init that `--init` makes a container's PID 1 (see
//! `container::dmz` too, which starts it).

use std::env;
use std::path::PathBuf;
use std::process::Command;

use sha2::Digest;

/// Compiles `source` into `$OUT_DIR/name`, static, with musl.
fn compile(source: &str, name: &str) -> PathBuf {
    println!("cargo:rerun-if-changed={source}");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join(name);
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
    out
}

fn main() {
    let monitor = compile("monitor/peti-monitor.c", "peti-monitor");
    // Its content address names the installed copy; computed here, once, rather
    // than on every `peti run -d`.
    let bytes = std::fs::read(&monitor).expect("musl-gcc wrote the monitor");
    let digest = sha2::Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=PETI_MONITOR_SHA256={hex}");
    compile("dmz/peti-dmz.c", "peti-dmz");
    compile("init/peti-init.c", "peti-init");
}
