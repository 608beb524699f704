//! The process: its identity (the only process of its VM, running as root),
//! its thread-local storage (the FS base), its end, and the few things it asks
//! of a kernel at start-up that need no more than an answer.

use nix::errno::Errno;

use super::{Answer, Call, Kernel, MAX_IO};

/// exit(2) and exit_group(2): one thread, so both end the program.
pub(super) fn exit(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    kernel.exit_status = Some(call.args[0] as i32);
    Ok(0)
}

/// getpid, gettid, set_tid_address: the only process of its VM, and its only
/// thread, is number 1.
pub(super) fn the_only_process(_: &mut Kernel, _: &mut Call<'_>) -> Answer {
    Ok(1)
}

/// getuid, getgid, geteuid, getegid: root, as the only process of its VM (its
/// calls are served with what microvm itself was granted).
pub(super) fn root(_: &mut Kernel, _: &mut Call<'_>) -> Answer {
    Ok(0)
}

/// rt_sigaction, rt_sigprocmask: accepted; no signal is ever delivered here.
pub(super) fn no_signals(_: &mut Kernel, _: &mut Call<'_>) -> Answer {
    Ok(0)
}

/// set_robust_list: accepted; one thread, nothing to clean up after it.
pub(super) fn accepted(_: &mut Kernel, _: &mut Call<'_>) -> Answer {
    Ok(0)
}

/// arch_prctl(2): the FS base, where musl keeps its thread pointer.
pub(super) fn arch_prctl(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    let [code, addr, ..] = call.args;
    match code {
        ARCH_SET_FS => {
            call.sregs.fs.base = addr;
            Ok(0)
        }
        ARCH_GET_FS => call
            .user
            .write(addr, &call.sregs.fs.base.to_le_bytes())
            .map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// uname(2): the VM's own identity, not the host's: there is no guest kernel,
/// so this VMM is the only "kernel" the program talks to.
pub(super) fn uname(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    const FIELD: usize = 65; // each field of struct utsname, NUL included
    let fields = [
        "Linux",
        "microvm",
        "microvm-direct",
        "#1 no guest kernel: system calls served by the microvm VMM",
        "x86_64",
        "(none)",
    ];
    let mut bytes = vec![0u8; FIELD * fields.len()];
    for (i, field) in fields.iter().enumerate() {
        bytes[i * FIELD..i * FIELD + field.len()].copy_from_slice(field.as_bytes());
    }
    call.user.write(call.args[0], &bytes)?;
    Ok(0)
}

/// getcwd(2): the guest's working directory is always `/`. Linux's system call
/// returns the length written, NUL included.
pub(super) fn getcwd(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [buf, size, ..] = call.args;
    if size < 2 {
        return Err(Errno::ERANGE);
    }
    call.user.write(buf, b"/\0")?;
    Ok(2)
}

/// getrandom(2): the host's random bytes, at most MAX_IO at a time.
pub(super) fn getrandom(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [buf, len, ..] = call.args;
    let len = len.min(MAX_IO);
    call.user.check(buf, len)?;
    let mut bytes = vec![0u8; len as usize];
    let mut got = 0;
    while got < bytes.len() {
        // SAFETY: the pointer and length describe `bytes[got..]`.
        let n = unsafe { libc::getrandom(bytes[got..].as_mut_ptr().cast(), bytes.len() - got, 0) };
        match Errno::result(n) {
            Ok(n) => got += n as usize,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    call.user.write(buf, &bytes)?;
    Ok(len as i64)
}
