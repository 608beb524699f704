//! The lab workloads: small static x86-64 Linux programs, written in C against musl.
//!
//! Static, because the same file must run on the host, as the only file of a
//! scratch container image, and inside a micro-VM that has no dynamic loader. musl,
//! because its static binaries are small and its start-up makes few system calls.
//! The sources live in `labs/workloads/` and are compiled into this binary, so
//! `labs prepare` works from wherever the binary is.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One lab workload: its name, its C source, and how the images run it by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// The program's name, which is also its file name and its image's name.
    pub name: &'static str,
    /// One line on what it does, for listings.
    pub summary: &'static str,
    /// Its C source.
    pub source: &'static str,
    /// The arguments its scratch image runs it with (the image's `Cmd`).
    pub default_args: &'static [&'static str],
}

/// Every lab workload, in the order listings show them.
pub const WORKLOADS: [Workload; 6] = [
    Workload {
        name: "hello",
        summary: "prints what it sees (kernel, host name, pid) and exits 0",
        source: include_str!("../workloads/hello.c"),
        default_args: &[],
    },
    Workload {
        name: "compute",
        summary: "compute MIB: hashes MIB mebibytes of a fixed pattern (CPU work)",
        source: include_str!("../workloads/compute.c"),
        default_args: &["100"],
    },
    Workload {
        name: "memtouch",
        summary: "memtouch MIB [HOLD_SECONDS]: allocates and touches MIB mebibytes",
        source: include_str!("../workloads/memtouch.c"),
        default_args: &["64"],
    },
    Workload {
        name: "fileio",
        summary: "fileio MIB [PATH]: writes and reads back a file under /tmp",
        source: include_str!("../workloads/fileio.c"),
        default_args: &["16"],
    },
    Workload {
        name: "serve",
        summary: "serve PORT [COUNT]: a tiny HTTP server",
        source: include_str!("../workloads/serve.c"),
        default_args: &["8080"],
    },
    Workload {
        name: "observe",
        summary: "counts what it can see: processes, mounts, network interfaces, kernel",
        source: include_str!("../workloads/observe.c"),
        default_args: &[],
    },
];

/// The header every workload includes.
const LAB_HEADER: &str = include_str!("../workloads/lab.h");

/// The compiler.
pub const COMPILER: &str = "musl-gcc";

/// How each workload is compiled. Every flag is there for a reason:
/// `-static` for no dynamic loader; `-no-pie` for a plain ET_EXEC at a fixed address,
/// the simplest ELF a loader can meet; `-s` and `--build-id=none` so the bytes depend on
/// the source and compiler alone, which is what makes images reproducible.
pub const CFLAGS: &[&str] = &[
    "-static",
    "-no-pie",
    "-O2",
    "-s",
    "-std=c11",
    "-D_GNU_SOURCE",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--build-id=none",
];

/// What can go wrong while building a workload.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// musl-gcc is not installed.
    #[error(
        "{COMPILER} not found: install the musl-tools package (the README's commands run .ci/setup, which does)"
    )]
    CompilerMissing,
    /// The compiler ran and failed.
    #[error("{COMPILER} failed to build workload {name}:\n{stderr}")]
    CompileFailed { name: &'static str, stderr: String },
    /// A file could not be written or the compiler could not be started.
    #[error("cannot build workload {name} at {path}: {source}")]
    Io {
        name: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Looks a workload up by name.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// Checks that the compiler is there, before any work is done.
pub fn check_compiler() -> Result<(), WorkloadError> {
    match Command::new(COMPILER).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(WorkloadError::CompilerMissing),
    }
}

/// Compiles `workload` to `out_dir/<name>` and returns that path.
///
/// The sources are written to a private temporary directory and the binary is
/// compiled next to its final place, then renamed, so that a failed build leaves no
/// partial file and an old binary is replaced in one step.
pub fn build(workload: &Workload, out_dir: &Path) -> Result<PathBuf, WorkloadError> {
    let name = workload.name;
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WorkloadError::Io { name, path, source }
    };
    let src_dir = tempfile::tempdir().map_err(io_err(Path::new("$TMPDIR")))?;
    let source = src_dir.path().join(format!("{name}.c"));
    fs::write(&source, workload.source).map_err(io_err(&source))?;
    let header = src_dir.path().join("lab.h");
    fs::write(&header, LAB_HEADER).map_err(io_err(&header))?;

    fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let staged = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempfile_in(out_dir)
        .map_err(io_err(out_dir))?;
    let output = Command::new(COMPILER)
        .args(CFLAGS)
        .arg("-o")
        .arg(staged.path())
        .arg(&source)
        // Run in the source directory so no absolute path reaches the compiler.
        .current_dir(src_dir.path())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => WorkloadError::CompilerMissing,
            _ => WorkloadError::Io {
                name,
                path: PathBuf::from(COMPILER),
                source: e,
            },
        })?;
    if !output.status.success() {
        return Err(WorkloadError::CompileFailed {
            name,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let target = out_dir.join(name);
    staged.persist(&target).map_err(|e| WorkloadError::Io {
        name,
        path: target.clone(),
        source: e.error,
    })?;
    set_executable(&target).map_err(io_err(&target))?;
    Ok(target)
}

fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_has_a_distinct_name_and_a_main() {
        for (i, w) in WORKLOADS.iter().enumerate() {
            assert!(w.source.contains("int main("), "{} has no main", w.name);
            assert!(WORKLOADS[i + 1..].iter().all(|o| o.name != w.name));
            assert_eq!(find(w.name), Some(w));
        }
        assert_eq!(find("nope"), None);
    }
}
