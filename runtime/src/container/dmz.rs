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
//!
//! `--init` puts one more program in the chain: `peti-init` (init/peti-init.c),
//! which becomes the container's PID 1 and runs the program as its child (see
//! that file for why a container may need an init). Docker bind-mounts its init,
//! tini, from the host at `/sbin/docker-init`, read-only. peti gives its own the
//! way it gives peti-dmz: a sealed memfd, made here, that peti-dmz execs as
//! `/proc/self/fd/N`. So nothing is mounted into the image, whose `/sbin` may
//! not exist, or be read-only (`--read-only`); no file is installed on the host
//! (as `monitor::install` must for the monitor, which runs outside any
//! container); and the init, which runs for as long as the container does,
//! where any of its processes can open its `/proc/1/exe`, is a copy that cannot
//! be written to, by root or anyone, rather than a host file. The cost is a
//! second memfd of about 20 KiB, and only with `--init`.

use std::ffi::{CStr, CString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

/// peti-dmz, compiled by build.rs.
const DMZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/peti-dmz"));

/// peti-init, compiled by build.rs: PID 1 of a container run with `--init`.
const INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/peti-init"));

/// Makes this process non-dumpable until its next execve: from now on, no other
/// process without CAP_SYS_PTRACE may open its `/proc/PID/exe`, `fd/` or `mem`.
pub fn shield() -> Result<(), Errno> {
    nix::sys::prctl::set_dumpable(false)
}

/// A memfd named `name` holding `program`, sealed: it can be executed and read,
/// never changed.
fn sealed_copy(name: &CStr, program: &[u8]) -> Result<OwnedFd, std::io::Error> {
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(program)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(&file, FcntlArg::F_ADD_SEALS(seals))?;
    Ok(file.into())
}

/// Execs `program` (found already) with `argv` and `envp`, through peti-dmz;
/// `under_init` (`--init`), through peti-dmz and then peti-init, which runs
/// `argv` as its child, finding `argv[0]` in the PATH of `envp` again.
/// `channel` is the start-up channel: it stays open across the first exec, and
/// peti-dmz closes it by its own exec, or writes why that failed. Returns only
/// if peti-dmz itself could not be run.
pub fn exec(
    program: &CStr,
    argv: &[CString],
    envp: &[CString],
    channel: &impl AsFd,
    under_init: bool,
) -> std::io::Error {
    let dmz = match sealed_copy(c"peti-dmz", DMZ) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    // Open across the exec into peti-dmz, which sets it close-on-exec again.
    if let Err(e) = fcntl(channel, FcntlArg::F_SETFD(FdFlag::empty())) {
        return e.into();
    }
    // Held until the exec: peti-dmz finds the init by this descriptor.
    let init;
    let (program, argv) = if under_init {
        init = match open_for_dmz(c"peti-init", INIT) {
            Ok(fd) => fd,
            Err(e) => return e,
        };
        // The container's own /proc, whose `self` is whichever process opens
        // it: peti-dmz, holding the memfd. The program's argv follows
        // peti-init's name, as tini's follows docker-init's.
        let path = format!("/proc/self/fd/{}", init.as_raw_fd());
        let mut init_argv = vec![c"peti-init".to_owned()];
        init_argv.extend(argv.iter().cloned());
        (CString::new(path).expect("digits hold no NUL"), init_argv)
    } else {
        (program.to_owned(), argv.to_vec())
    };
    let channel = channel.as_fd().as_raw_fd();
    let mut dmz_argv = vec![
        c"peti-dmz".to_owned(),
        CString::new(channel.to_string()).expect("digits hold no NUL"),
        program,
    ];
    dmz_argv.extend(argv);
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

/// A sealed copy of `program` that stays open across the exec into peti-dmz,
/// for peti-dmz to exec in turn: its descriptor is not close-on-exec, since
/// peti-dmz knows nothing of it (peti-init marks it close-on-exec itself, so
/// that the container's program does not get it).
fn open_for_dmz(name: &CStr, program: &[u8]) -> Result<OwnedFd, std::io::Error> {
    let fd = sealed_copy(name, program)?;
    fcntl(&fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
    Ok(fd)
}
