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

use super::{Descriptor, EINVAL, Guest, Kernel};

const AF_INET: u64 = 2;
const SOCK_STREAM: u64 = 1;
const SOCK_TYPE_MASK: u64 = 0xf;
const SOL_SOCKET: u64 = 1;
const SO_REUSEADDR: u64 = 2;
const EAFNOSUPPORT: i64 = 97;
const EACCES: i64 = 13;
const ENETUNREACH: i64 = 101;
const EISCONN: i64 = 106;
/// Ports below this are privileged: only root may bind them.
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;
const ENOTSOCK: i64 = 88;
/// Bytes of a `struct sockaddr_in`.
const SOCKADDR_IN: u64 = 16;

fn errno(e: Errno) -> i64 {
    e as i64
}

/// The port (host order) and IPv4 address of the guest's `struct sockaddr_in`.
fn read_inet_address(guest: &Guest, addr: u64) -> Result<(u16, [u8; 4]), i64> {
    let bytes = guest.read(addr, SOCKADDR_IN)?;
    if u16::from_le_bytes([bytes[0], bytes[1]]) != AF_INET as u16 {
        return Err(EAFNOSUPPORT);
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
) -> Result<i64, i64> {
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
    Errno::result(rc).map(|_| 0).map_err(errno)
}

impl Kernel {
    fn socket_fd(&mut self, fd: u64) -> Result<i32, i64> {
        match self.descriptor(fd)? {
            Descriptor::Socket(socket) => Ok(socket.as_raw_fd()),
            _ => Err(ENOTSOCK),
        }
    }

    pub(super) fn socket(&mut self, [family, kind, ..]: [u64; 6]) -> Result<i64, i64> {
        if family != AF_INET || kind & SOCK_TYPE_MASK != SOCK_STREAM {
            return Err(EAFNOSUPPORT);
        }
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        let raw = Errno::result(raw).map_err(errno)?;
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(raw) };
        self.install(Descriptor::Socket(socket))
    }

    pub(super) fn setsockopt(
        &mut self,
        [fd, level, name, value, len, _]: [u64; 6],
        guest: &Guest,
    ) -> Result<i64, i64> {
        let raw = self.socket_fd(fd)?;
        if level != SOL_SOCKET || name != SO_REUSEADDR || len != 4 {
            return Ok(0); // other options are accepted and ignored
        }
        let bytes = guest.read(value, 4)?;
        let flag = i32::from_le_bytes(bytes.try_into().map_err(|_| EINVAL)?);
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
        Errno::result(rc).map(|_| 0).map_err(errno)
    }

    pub(super) fn bind(
        &mut self,
        [fd, addr, len, ..]: [u64; 6],
        guest: &Guest,
    ) -> Result<i64, i64> {
        let (raw, port, _) = self.socket_and_address(fd, addr, len, guest)?;
        // The VMM may run as root; the guest is no more than an ordinary process.
        if port != 0 && port < FIRST_UNPRIVILEGED_PORT {
            return Err(EACCES);
        }
        on_loopback(raw, port, libc::bind)
    }

    /// connect(2) to a port on this machine's loopback, and nowhere else. A
    /// blocking connect to loopback completes or fails at once; EINTR (the
    /// stopper's kick) goes to the guest, as for every call here.
    pub(super) fn connect(
        &mut self,
        [fd, addr, len, ..]: [u64; 6],
        guest: &Guest,
    ) -> Result<i64, i64> {
        let (raw, port, ip) = self.socket_and_address(fd, addr, len, guest)?;
        if ip[0] != 127 {
            return Err(ENETUNREACH);
        }
        on_loopback(raw, port, libc::connect)
    }

    /// The socket, and the port and address, that a bind or connect names.
    fn socket_and_address(
        &mut self,
        fd: u64,
        addr: u64,
        len: u64,
        guest: &Guest,
    ) -> Result<(i32, u16, [u8; 4]), i64> {
        let raw = self.socket_fd(fd)?;
        if len < SOCKADDR_IN {
            return Err(EINVAL);
        }
        let (port, ip) = read_inet_address(guest, addr)?;
        Ok((raw, port, ip))
    }

    pub(super) fn listen(&mut self, [fd, backlog, ..]: [u64; 6]) -> Result<i64, i64> {
        let raw = self.socket_fd(fd)?;
        // SAFETY: listen(2) on a socket we own.
        let rc = unsafe { libc::listen(raw, backlog.min(4096) as i32) };
        Errno::result(rc).map(|_| 0).map_err(errno)
    }

    pub(super) fn getsockname(
        &mut self,
        [fd, addr, len_ptr, ..]: [u64; 6],
        guest: &Guest,
    ) -> Result<i64, i64> {
        let raw = self.socket_fd(fd)?;
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
        Errno::result(rc).map_err(errno)?;
        let wanted = guest.read(len_ptr, 4)?;
        let room =
            u32::from_le_bytes(wanted.try_into().map_err(|_| EINVAL)?).min(SOCKADDR_IN as u32);
        let mut bytes = Vec::with_capacity(16);
        bytes.extend(address.sin_family.to_le_bytes());
        bytes.extend(address.sin_port.to_ne_bytes());
        bytes.extend(address.sin_addr.s_addr.to_ne_bytes());
        bytes.extend([0u8; 8]);
        guest.write(addr, &bytes[..room as usize])?;
        guest.write(len_ptr, &(SOCKADDR_IN as u32).to_le_bytes())?;
        Ok(0)
    }

    /// Who connected is not passed on: the peer address, if asked for, is left
    /// unwritten (every peer is on this machine's loopback anyway).
    pub(super) fn accept(&mut self, [fd, ..]: [u64; 6]) -> Result<i64, i64> {
        let raw = self.socket_fd(fd)?;
        // SAFETY: accept4 with null address pointers is allowed.
        let conn = unsafe {
            libc::accept4(
                raw,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        let conn = Errno::result(conn).map_err(errno)?;
        // SAFETY: a new descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(conn) };
        self.install(Descriptor::Socket(socket))
    }

    /// sendto(2) on a connected TCP socket, as musl's `send` makes it: no
    /// address, or EISCONN, as Linux answers for TCP.
    pub(super) fn sendto(
        &mut self,
        guest: &mut Guest,
        [fd, buf, len, _flags, addr, _]: [u64; 6],
    ) -> Result<i64, i64> {
        if addr != 0 {
            return Err(EISCONN);
        }
        self.socket_fd(fd)?;
        self.write(guest, fd, buf, len)
    }

    /// recvfrom(2) on a TCP socket, as musl's `recv` makes it. TCP has no peer
    /// address to give per message: an address length asked for is set to 0.
    pub(super) fn recvfrom(
        &mut self,
        guest: &mut Guest,
        [fd, buf, len, _flags, addr, addr_len]: [u64; 6],
    ) -> Result<i64, i64> {
        self.socket_fd(fd)?;
        let n = self.read(guest, [fd, buf, len, 0, 0, 0])?;
        if addr != 0 && addr_len != 0 {
            guest.write(addr_len, &0u32.to_le_bytes())?;
        }
        Ok(n)
    }

    /// Reads from or writes to a socket descriptor. EINTR is not retried: the
    /// only signal is the stopper's kick at `--timeout`, and a guest blocked in
    /// `recv` must not outlive it; the guest gets EINTR, as Linux would give it,
    /// and the vCPU loop ends the VM.
    pub(super) fn socket_io(socket: &OwnedFd, data: &mut [u8], write: bool) -> Result<usize, i64> {
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
        Errno::result(n).map(|n| n as usize).map_err(errno)
    }
}
