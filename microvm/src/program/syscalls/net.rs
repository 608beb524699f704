//! TCP sockets for a direct guest: the VMM's own sockets, lent to the program.
//!
//! A direct VM has no network stack of its own (there is no guest kernel to
//! hold one), so `socket` here makes a socket in the VMM process and gives the
//! guest a descriptor for it. That shares the host's network, as `peti run
//! --network host` would, so microvm narrows it: IPv4 TCP only, every `bind` is
//! to 127.0.0.1 whatever address the program asked for, and not to a port
//! below 1024 (which a VMM run as root could bind, and the guest should not),
//! and `connect` reaches 127.0.0.0/8 only. Enough for the `serve` workload and a
//! curl from the host; nothing reachable from outside the machine.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use super::files::{read, write_from};
use super::{Answer, Call, Descriptor, Kernel, UserMemory};

/// Ports below this are privileged: only root may bind them.
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;
/// Bytes of a `struct sockaddr_in`.
const SOCKADDR_IN: u64 = std::mem::size_of::<libc::sockaddr_in>() as u64;
/// The bits of socket(2)'s type that say the type (the rest are flags).
const SOCK_TYPE_MASK: u64 = 0xf;

/// The port (host order) and IPv4 address of the guest's `struct sockaddr_in`.
fn read_inet_address(user: &UserMemory<'_>, addr: u64) -> Result<(u16, [u8; 4]), Errno> {
    let bytes = user.read(addr, SOCKADDR_IN)?;
    if i32::from(u16::from_le_bytes([bytes[0], bytes[1]])) != libc::AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    let port = u16::from_be_bytes([bytes[2], bytes[3]]);
    Ok((port, [bytes[4], bytes[5], bytes[6], bytes[7]]))
}

/// bind(2) or connect(2) of socket `raw` to 127.0.0.1:`port`, whatever address
/// the guest asked for.
fn on_loopback(
    raw: i32,
    port: u16,
    call: unsafe extern "C" fn(libc::c_int, *const libc::sockaddr, libc::socklen_t) -> libc::c_int,
) -> Answer {
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `address` is a complete sockaddr_in of the size passed, alive for
    // the call; `call` is bind or connect, which only read it.
    let rc = unsafe {
        call(
            raw,
            (&address as *const libc::sockaddr_in).cast(),
            SOCKADDR_IN as libc::socklen_t,
        )
    };
    Errno::result(rc).map(|_| 0)
}

impl Kernel {
    fn socket_fd(&mut self, fd: u64) -> Result<i32, Errno> {
        match self.descriptor(fd)? {
            Descriptor::Socket(socket) => Ok(socket.as_raw_fd()),
            _ => Err(Errno::ENOTSOCK),
        }
    }

    /// The socket, and the port and address, that a bind or connect names.
    fn socket_and_address(
        &mut self,
        user: &UserMemory<'_>,
        [fd, addr, len, ..]: [u64; 6],
    ) -> Result<(i32, u16, [u8; 4]), Errno> {
        let raw = self.socket_fd(fd)?;
        if len < SOCKADDR_IN {
            return Err(Errno::EINVAL);
        }
        let (port, ip) = read_inet_address(user, addr)?;
        Ok((raw, port, ip))
    }
}

pub(super) fn socket(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [family, kind, ..] = call.args;
    if family != libc::AF_INET as u64 || kind & SOCK_TYPE_MASK != libc::SOCK_STREAM as u64 {
        return Err(Errno::EAFNOSUPPORT);
    }
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    let raw = Errno::result(raw)?;
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    kernel.install(Descriptor::Socket(socket))
}

/// setsockopt(2): SO_REUSEADDR is passed on; other options are accepted and
/// ignored.
pub(super) fn setsockopt(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, level, name, value, len, _] = call.args;
    let raw = kernel.socket_fd(fd)?;
    if level != libc::SOL_SOCKET as u64 || name != libc::SO_REUSEADDR as u64 || len != 4 {
        return Ok(0);
    }
    let flag = call.user.read_u32(value)? as i32;
    // SAFETY: `flag` is a live int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&flag as *const i32).cast(),
            4,
        )
    };
    Errno::result(rc).map(|_| 0)
}

pub(super) fn bind(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let (raw, port, _) = kernel.socket_and_address(&call.user, call.args)?;
    // The VMM may run as root; the guest is no more than an ordinary process.
    if port != 0 && port < FIRST_UNPRIVILEGED_PORT {
        return Err(Errno::EACCES);
    }
    on_loopback(raw, port, libc::bind)
}

/// connect(2) to a port on this machine's loopback, and nowhere else. A
/// blocking connect to loopback completes or fails at once; EINTR (the
/// stopper's kick) goes to the guest, as for every call here.
pub(super) fn connect(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let (raw, port, ip) = kernel.socket_and_address(&call.user, call.args)?;
    if ip[0] != 127 {
        return Err(Errno::ENETUNREACH);
    }
    on_loopback(raw, port, libc::connect)
}

pub(super) fn listen(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, backlog, ..] = call.args;
    let raw = kernel.socket_fd(fd)?;
    // SAFETY: listen(2) on a socket we own.
    let rc = unsafe { libc::listen(raw, backlog.min(4096) as i32) };
    Errno::result(rc).map(|_| 0)
}

pub(super) fn getsockname(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, addr, len_ptr, ..] = call.args;
    let raw = kernel.socket_fd(fd)?;
    // SAFETY: sockaddr_in is plain data; getsockname fills `len` bytes of it.
    let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = SOCKADDR_IN as libc::socklen_t;
    // SAFETY: the pointers describe `address` and `len`, both live.
    let rc = unsafe {
        libc::getsockname(
            raw,
            (&mut address as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    };
    Errno::result(rc)?;
    let room = call.user.read_u32(len_ptr)?.min(SOCKADDR_IN as u32);
    let mut bytes = Vec::with_capacity(SOCKADDR_IN as usize);
    bytes.extend(address.sin_family.to_le_bytes());
    bytes.extend(address.sin_port.to_ne_bytes());
    bytes.extend(address.sin_addr.s_addr.to_ne_bytes());
    bytes.extend([0u8; 8]);
    call.user.write(addr, &bytes[..room as usize])?;
    call.user
        .write(len_ptr, &(SOCKADDR_IN as u32).to_le_bytes())?;
    Ok(0)
}

/// Who connected is not passed on: the peer address, if asked for, is left
/// unwritten (every peer is on this machine's loopback anyway).
pub(super) fn accept(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let raw = kernel.socket_fd(call.args[0])?;
    // SAFETY: accept4 with null address pointers is allowed.
    let conn = unsafe {
        libc::accept4(
            raw,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    let conn = Errno::result(conn)?;
    // SAFETY: a new descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(conn) };
    kernel.install(Descriptor::Socket(socket))
}

/// sendto(2) on a connected TCP socket, as musl's `send` makes it: no
/// address, or EISCONN, as Linux answers for TCP.
pub(super) fn sendto(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, buf, len, _flags, addr, _] = call.args;
    if addr != 0 {
        return Err(Errno::EISCONN);
    }
    kernel.socket_fd(fd)?;
    write_from(kernel, &call.user, fd, buf, len)
}

/// recvfrom(2) on a TCP socket, as musl's `recv` makes it. TCP has no peer
/// address to give per message: an address length asked for is set to 0.
pub(super) fn recvfrom(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [fd, _buf, _len, _flags, addr, addr_len] = call.args;
    kernel.socket_fd(fd)?;
    let n = read(kernel, call)?;
    if addr != 0 && addr_len != 0 {
        call.user.write(addr_len, &0u32.to_le_bytes())?;
    }
    Ok(n)
}

/// Reads from or writes to a socket descriptor. EINTR is not retried: the
/// only signal is the stopper's kick at `--timeout`, and a guest blocked in
/// `recv` must not outlive it; the guest gets EINTR, as Linux would give it,
/// and the vCPU loop ends the VM.
pub(super) fn socket_io(socket: &OwnedFd, data: &mut [u8], write: bool) -> Result<usize, Errno> {
    // SAFETY: `data` is a live buffer of the length passed.
    let n = unsafe {
        if write {
            libc::send(
                socket.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL,
            )
        } else {
            libc::recv(socket.as_raw_fd(), data.as_mut_ptr().cast(), data.len(), 0)
        }
    };
    Errno::result(n).map(|n| n as usize)
}
