//! The container's network namespace: made by peti, joined by the container.
//!
//! Docker does not let runc make a container's network namespace. Its network
//! library makes one first (a "sandbox"), sets it up, and the container's process
//! joins it with setns(2). peti does the same on a small scale. While the
//! container's first process builds its root file system, peti:
//! 1. unshares a new network namespace for itself;
//! 2. brings that namespace's loopback device up, as Docker does for
//!    `--network none`: a new namespace starts with `lo` down, and programs that
//!    talk to 127.0.0.1 would fail;
//! 3. keeps a descriptor of it (`/proc/self/ns/net`) and returns to its own.
//!
//! The descriptor then travels to the container over the start-up channel. Two
//! things are gained. Making a network namespace takes about half a millisecond,
//! and here it overlaps the container's own work instead of adding to it. And
//! a namespace held by a descriptor can be set up from outside, which is how a
//! veth pair gets plugged in for user-defined networks.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
use nix::sys::stat::Mode;

/// A step of making the namespace failed.
#[derive(Debug, thiserror::Error)]
#[error("network namespace: {step}: {source}")]
pub struct NetworkError {
    pub step: &'static str,
    pub source: Errno,
}

fn fail(step: &'static str) -> impl FnOnce(Errno) -> NetworkError {
    move |source| NetworkError { step, source }
}

/// Makes a network namespace with only `lo`, up, and returns a descriptor of it.
/// The calling thread ends in the namespace it started in.
pub fn isolated_namespace() -> Result<OwnedFd, NetworkError> {
    let own_namespace = || {
        open(
            "/proc/thread-self/ns/net",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    let original = own_namespace().map_err(fail("open our own namespace"))?;
    unshare(CloneFlags::CLONE_NEWNET).map_err(fail("unshare(CLONE_NEWNET)"))?;
    let made = own_namespace()
        .map_err(fail("open the new namespace"))
        .and_then(|made| bring_up_loopback().map(|()| made));
    // Go back whatever happened: peti's later work (and a monitor it becomes)
    // belongs in the host's namespace.
    setns(&original, CloneFlags::CLONE_NEWNET).map_err(fail("setns back"))?;
    made
}

/// `ip link set lo up`, with the two ioctls that predate netlink. Bringing `lo`
/// up is enough: the kernel then gives it 127.0.0.1/8 and ::1 by itself.
fn bring_up_loopback() -> Result<(), NetworkError> {
    // Any socket will do; it only names the namespace the ioctls act in.
    let socket = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(fail("socket"))?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name in `request` and writes
    // the flags into it; `request` is a live, writable ifreq.
    let got = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::SIOCGIFFLAGS as libc::Ioctl,
            &mut request,
        )
    };
    Errno::result(got).map_err(fail("SIOCGIFFLAGS lo"))?;
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads `request`, which is still valid.
    let set = unsafe {
        libc::ioctl(
            socket.as_raw_fd(),
            libc::SIOCSIFFLAGS as libc::Ioctl,
            &request,
        )
    };
    Errno::result(set)
        .map(drop)
        .map_err(fail("SIOCSIFFLAGS lo"))
}
