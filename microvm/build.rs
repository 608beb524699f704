//! Builds, with the system's compilers and no network:
//! - the initramfs's /init (init/init.c, static with musl-gcc), which `microvm`
//!   embeds;
//! - the test guests in guests/ (gcc, ld and objcopy). Each is one variant of
//!   guests/guest.S (see its header). They land in OUT_DIR, and
//!   `MICROVM_GUEST_DIR` tells the tests and benchmarks where.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (file name, preprocessor defines, packaging)
const GUESTS: &[(&str, &[&str], Packaging)] = &[
    ("report.bzImage", &["BZIMAGE"], Packaging::BzImage),
    ("report-pvh.elf", &["ELF", "PVH_NOTE"], Packaging::Elf),
    ("report64.elf", &["ELF"], Packaging::Elf),
    (
        "triple-fault.bzImage",
        &["BZIMAGE", "TRIPLE_FAULT"],
        Packaging::BzImage,
    ),
    ("spin.bzImage", &["BZIMAGE", "SPIN"], Packaging::BzImage),
    (
        "garbage.bzImage",
        &["BZIMAGE", "GARBAGE"],
        Packaging::BzImage,
    ),
    ("echo.bzImage", &["BZIMAGE", "ECHO"], Packaging::BzImage),
];

#[derive(Clone, Copy)]
enum Packaging {
    /// A flat file: the assembled bytes are the bzImage.
    BzImage,
    /// Linked at 1 MiB by guests/elf.ld.
    Elf,
}

fn main() {
    build_init();
    build_programs();
    println!("cargo:rerun-if-changed=guests/guest.S");
    println!("cargo:rerun-if-changed=guests/elf.ld");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("guests");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    for (name, defines, packaging) in GUESTS {
        build_guest(&out, name, defines, *packaging);
    }
    println!("cargo:rustc-env=MICROVM_GUEST_DIR={}", out.display());
}

/// The initramfs's /init (init/init.c): static, with musl, so that it runs
/// in an image that has nothing else. `microvm` embeds it.
fn build_init() {
    println!("cargo:rerun-if-changed=init/init.c");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("microvm-init");
    run(
        Command::new("musl-gcc")
            .args(["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&out)
            .arg("init/init.c"),
        "musl-gcc (install musl-tools; .ci/setup does)",
    );
}

/// Static musl programs for `run --elf`: the tests' hostile guest and crash,
/// the benchmark's getpid loop, and the lab workloads (from labs/workloads/,
/// built the way `labs prepare` builds them).
fn build_programs() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("programs");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    let mut sources: Vec<PathBuf> = [
        "hostile",
        "getpid-loop",
        "exit-loop",
        "crash",
        "blocker",
        "forger",
    ]
    .iter()
    .map(|name| PathBuf::from(format!("programs/{name}.c")))
    .collect();
    for workload in ["hello", "compute", "memtouch", "fileio", "serve"] {
        sources.push(PathBuf::from(format!("../labs/workloads/{workload}.c")));
    }
    println!("cargo:rerun-if-changed=../labs/workloads/lab.h");
    for source in &sources {
        println!("cargo:rerun-if-changed={}", source.display());
        let name = source.file_stem().expect("a file name");
        run(
            Command::new("musl-gcc")
                .args([
                    "-static",
                    "-no-pie",
                    "-O2",
                    "-s",
                    "-std=c11",
                    "-D_GNU_SOURCE",
                ])
                .args(["-Wall", "-Wextra", "-Wl,--build-id=none", "-o"])
                .arg(out.join(name))
                .arg(source),
            "musl-gcc (install musl-tools; .ci/setup does)",
        );
    }
    // A position-independent static program (ET_DYN without PT_INTERP), with
    // glibc: Debian's musl-gcc cannot make a working one.
    run(
        Command::new("gcc")
            .args(["-static-pie", "-O2", "-std=c11", "-D_GNU_SOURCE", "-o"])
            .arg(out.join("hello-pie"))
            .arg("../labs/workloads/hello.c"),
        "gcc -static-pie (install libc6-dev; .ci/setup does)",
    );
    println!("cargo:rustc-env=MICROVM_PROGRAM_DIR={}", out.display());
}

fn build_guest(out: &Path, name: &str, defines: &[&str], packaging: Packaging) {
    let object = out.join(format!("{name}.o"));
    let mut gcc = Command::new("gcc");
    gcc.args(["-c", "-nostdlib", "-ffreestanding", "-o"])
        .arg(&object)
        .arg("guests/guest.S");
    for define in defines {
        gcc.arg(format!("-D{define}"));
    }
    run(&mut gcc, "gcc (install gcc and binutils; .ci/setup does)");
    let target = out.join(name);
    match packaging {
        Packaging::BzImage => run(
            Command::new("objcopy")
                .args(["-O", "binary", "-j", ".text"])
                .arg(&object)
                .arg(&target),
            "objcopy",
        ),
        Packaging::Elf => run(
            Command::new("ld")
                .args([
                    "-T",
                    "guests/elf.ld",
                    "-nostdlib",
                    "-z",
                    "noexecstack",
                    "-o",
                ])
                .arg(&target)
                .arg(&object),
            "ld",
        ),
    }
}

fn run(command: &mut Command, what: &str) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("{what} failed ({status}) building the test guests: {command:?}"),
        Err(e) => panic!("cannot run {what}: {e}"),
    }
}
