//! The last exec before a container's program: through `peti-dmz`, a small
//! static program (dmz/peti-dmz.c) run from a sealed memfd, never through peti.
//!
//! CVE-2019-5736 taught runtimes that the process which becomes a container's
//! program must not be the host's runtime binary at any moment a container
//! process can see it, or reach it through `/proc/PID/exe`:
//! - before its exec, the process is peti, in the container's PID namespace.
//!   [`shield`] makes it non-dumpable, so the kernel refuses every other
//!   process's open of its `/proc/PID/exe` (that takes CAP_SYS_PTRACE, which a
//!   container does not get);
//! - at its exec, a program that is a `#!/proc/self/exe` script would run
//!   peti's binary again, inside the container. So peti execs `peti-dmz` from a
//!   memfd sealed against writes, and `peti-dmz` execs the program: what
//!   `/proc/self/exe` names is then the sealed copy, which nobody can change.
//!
//! The copy costs a memfd of 17 KiB and one more exec of a program with no
//! libraries; copying peti itself (8 MiB), as runc 1.1 did, would cost more
//! than a whole start.

use std::ffi::{CStr, CString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

/// peti-dmz, compiled by build.rs.
const DMZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/peti-dmz"));

/// Makes this process non-dumpable until its next execve: from now on, no other
/// process without CAP_SYS_PTRACE may open its `/proc/PID/exe`, `fd/` or `mem`.
pub fn shield() -> Result<(), Errno> {
    nix::sys::prctl::set_dumpable(false)
}

/// A memfd holding peti-dmz, sealed: it can be executed and read, never changed.
fn sealed_copy() -> Result<OwnedFd, std::io::Error> {
    let fd = memfd_create(
        c"peti-dmz",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(DMZ)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
    Ok(file.into())
}

/// Execs `program` (found already) with `argv` and `envp`, through peti-dmz.
/// `channel` is the start-up channel: it stays open across the first exec, and
/// peti-dmz closes it by its own exec, or writes why that failed. Returns only
/// if peti-dmz itself could not be run.
pub fn exec(
    program: &CStr,
    argv: &[CString],
    envp: &[CString],
    channel: &impl AsFd,
) -> std::io::Error {
    let dmz = match sealed_copy() {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    // Open across the exec into peti-dmz, which sets it close-on-exec again.
    if let Err(e) = fcntl(channel, FcntlArg::F_SETFD(FdFlag::empty())) {
        return e.into();
    }
    let channel = channel.as_fd().as_raw_fd();
    let mut dmz_argv = vec![
        c"peti-dmz".to_owned(),
        CString::new(channel.to_string()).expect("digits hold no NUL"),
        program.to_owned(),
    ];
    dmz_argv.extend(argv.iter().cloned());
    // execveat(AT_EMPTY_PATH) runs the memfd itself; a close-on-exec memfd is
    // fine for an ELF program, which the kernel has mapped before it closes.
    match nix::unistd::execveat(
        &dmz,
        c"",
        &dmz_argv,
        envp,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    ) {
        Err(e) => e.into(),
        Ok(never) => match never {},
    }
}
