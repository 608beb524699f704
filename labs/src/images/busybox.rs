//! The busybox layer: Debian's static busybox and a link for each of its applets.
//!
//! busybox is one program that acts as `sh`, `ls`, `cat` and some 300 others,
//! choosing by the name it was started as. One static file plus links is a whole
//! small Unix user land, which is why it is the base of the lab images.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Rootfs;

/// Where Debian's busybox-static puts the binary (`/bin` is a link to `/usr/bin` on
/// merged-/usr systems, so either may be the real one).
const CANDIDATES: [&str; 2] = ["/usr/bin/busybox", "/bin/busybox"];

/// What can go wrong while reading the host's busybox.
#[derive(Debug, thiserror::Error)]
pub enum BusyboxError {
    #[error("busybox not found at {}: install the busybox-static package (.ci/setup does)", CANDIDATES.join(" or "))]
    Missing,
    #[error(
        "{0} is dynamically linked, so it cannot run alone in an image: install busybox-static instead of busybox"
    )]
    NotStatic(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} --list-full failed: {detail}")]
    ListFailed { path: PathBuf, detail: String },
}

/// Finds the host's static busybox.
pub fn locate() -> Result<PathBuf, BusyboxError> {
    let path = CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .ok_or(BusyboxError::Missing)?;
    let bytes = std::fs::read(path).map_err(|source| BusyboxError::Io {
        path: path.into(),
        source,
    })?;
    if has_interpreter(&bytes) {
        return Err(BusyboxError::NotStatic(path.into()));
    }
    Ok(path.to_path_buf())
}

/// The busybox layer: the binary at `/bin/busybox`, its applet links, and the few
/// directories and files a Unix program expects to find.
pub fn layer(busybox: &Path) -> Result<Rootfs, BusyboxError> {
    let io_err = |source| BusyboxError::Io {
        path: busybox.into(),
        source,
    };
    let binary = std::fs::read(busybox).map_err(io_err)?;
    let output = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(io_err)?;
    if !output.status.success() {
        return Err(BusyboxError::ListFailed {
            path: busybox.into(),
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }

    let mut tree = Rootfs::new();
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "home", "var",
    ] {
        tree.dir(dir, 0o755);
    }
    tree.dir("root", 0o700)
        .dir("tmp", 0o1777)
        .dir("var/tmp", 0o1777);
    tree.file("bin/busybox", 0o755, binary);
    for applet in String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
    {
        if !applet.is_empty() && applet != "bin/busybox" && !applet.contains("..") {
            tree.symlink(applet, "/bin/busybox");
        }
    }
    // Users and groups, so that `-u nobody` and `id` mean something in a container.
    tree.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            .to_vec(),
    );
    tree.file(
        "etc/group",
        0o644,
        b"root:x:0:\nnogroup:x:65534:\n".to_vec(),
    );
    Ok(tree)
}

/// Whether an ELF file names a program interpreter (PT_INTERP): a dynamic loader.
///
/// Read by hand, because it is ten lines and shows what "statically linked" means in
/// the file itself: no PT_INTERP program header, so the kernel jumps straight to the
/// program's entry point.
pub fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    if elf.get(0..4) != Some(b"\x7fELF") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == Some(PT_INTERP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_program_has_an_interpreter_and_garbage_does_not() {
        // /bin/sh on any Debian or Ubuntu machine is dash or bash, dynamically linked.
        let sh = std::fs::read("/bin/sh").unwrap();
        assert!(has_interpreter(&sh));
        assert!(!has_interpreter(b"\x7fELF short"));
        assert!(!has_interpreter(b"not an elf at all"));
    }
}
