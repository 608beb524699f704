//! The handlers on real guest memory (an anonymous mapping), with no KVM: a
//! hostile program's arguments are the same numbers in RAX, RDI, RSI... here
//! as in a VM, so these cases run on any machine.

use std::io::Write;

use kvm_bindings::{kvm_regs, kvm_sregs};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::*;
use crate::program::machine::{STACK_SIZE, USER_START};

const MEM_END: u64 = 16 << 20;
const BUF: u64 = USER_START + 0x1000;
const BRK_START: u64 = USER_START + 0x10_0000;

struct Program {
    memory: GuestMemoryMmap,
    kernel: Kernel,
    sregs: kvm_sregs,
}

impl Program {
    fn new(grants: Vec<Grant>) -> Self {
        Program {
            memory: GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_END as usize)])
                .expect("guest memory"),
            kernel: Kernel::new(grants, BRK_START, MEM_END - STACK_SIZE, MEM_END, false).quietly(),
            sregs: kvm_sregs::default(),
        }
    }

    /// Makes call `nr` with `args`; its value as the guest sees it in RAX.
    fn call(&mut self, nr: c_long, args: &[u64]) -> i64 {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let mut regs = kvm_regs {
            rax: nr as u64,
            rdi: a[0],
            rsi: a[1],
            rdx: a[2],
            r10: a[3],
            r8: a[4],
            r9: a[5],
            ..Default::default()
        };
        match self.kernel.serve(&self.memory, &mut regs, &mut self.sregs) {
            Next::Resume => regs.rax as i64,
            Next::Exit(status) => panic!("the call ended the program with {status}"),
        }
    }

    /// Puts `text` and a NUL at `addr`; returns `addr`.
    fn put(&self, addr: u64, text: &str) -> u64 {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        self.memory.write_slice(&bytes, GuestAddress(addr)).unwrap();
        addr
    }

    fn bytes(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut data = vec![0u8; len];
        self.memory
            .read_slice(&mut data, GuestAddress(addr))
            .unwrap();
        data
    }
}

fn errno(e: Errno) -> i64 {
    -(e as i64)
}

/// A file on the host, granted to the guest as `guest`.
fn granted(contents: &str, guest: &str, read_only: bool) -> (tempfile::TempDir, Grant) {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("file");
    std::fs::File::create(&host)
        .unwrap()
        .write_all(contents.as_bytes())
        .unwrap();
    let grant = Grant {
        host,
        guest: guest.to_string(),
        read_only,
    };
    (dir, grant)
}

#[test]
fn the_table_is_in_number_order_with_one_entry_per_call() {
    for pair in TABLE.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "{} ({}) comes before {} ({})",
            pair[0].1,
            pair[0].0,
            pair[1].1,
            pair[1].0
        );
    }
    assert_eq!(syscall_name(libc::SYS_getrandom as u64), "getrandom");
    assert_eq!(syscall_name(libc::SYS_exit_group as u64), "exit_group");
    assert_eq!(syscall_name(9999), "syscall_9999");
}

#[test]
fn calls_not_served_get_enosys() {
    let mut p = Program::new(vec![]);
    assert_eq!(p.call(libc::SYS_fork, &[]), errno(Errno::ENOSYS));
    assert_eq!(p.call(9999, &[]), errno(Errno::ENOSYS));
    assert_eq!(p.call(-1, &[]), errno(Errno::ENOSYS));
}

#[test]
fn pointers_outside_user_memory_get_efault() {
    let mut p = Program::new(vec![]);
    let efault = errno(Errno::EFAULT);
    // The VMM's own pages, below 2 MiB: the GDT, the stubs, the page tables.
    assert_eq!(p.call(libc::SYS_write, &[1, 0x1000, 5]), efault);
    assert_eq!(p.call(libc::SYS_uname, &[0x3000]), efault);
    // Past the end of guest RAM, and ranges that wrap around 2^64.
    assert_eq!(p.call(libc::SYS_read, &[0, MEM_END - 2, 5]), efault);
    assert_eq!(p.call(libc::SYS_write, &[1, u64::MAX - 2, 5]), efault);
    assert_eq!(p.call(libc::SYS_clock_gettime, &[0, MEM_END - 8]), efault);
    assert_eq!(p.call(libc::SYS_nanosleep, &[u64::MAX - 7]), efault);
    assert_eq!(p.call(libc::SYS_writev, &[1, u64::MAX - 7, 1]), efault);
    assert_eq!(p.call(libc::SYS_getrandom, &[MEM_END - 4, 8]), efault);
    assert_eq!(p.call(libc::SYS_open, &[u64::MAX, 0]), efault);
    // Nothing in the VMM's pages was written.
    assert_eq!(p.bytes(0x3000, 8), vec![0; 8]);
}

#[test]
fn bad_descriptors_and_counts_get_ebadf_and_einval() {
    let mut p = Program::new(vec![]);
    let ebadf = errno(Errno::EBADF);
    assert_eq!(p.call(libc::SYS_read, &[99, BUF, 1]), ebadf);
    assert_eq!(
        p.call(libc::SYS_write, &[0, BUF, 1]),
        ebadf,
        "stdin is not writable"
    );
    assert_eq!(p.call(libc::SYS_close, &[5]), ebadf);
    assert_eq!(p.call(libc::SYS_close, &[u64::MAX]), ebadf);
    assert_eq!(p.call(libc::SYS_lseek, &[1, 0, 0]), errno(Errno::ESPIPE));
    assert_eq!(p.call(libc::SYS_lseek, &[1, 0, 7]), errno(Errno::EINVAL));
    assert_eq!(
        p.call(libc::SYS_writev, &[1, BUF, 1025]),
        errno(Errno::EINVAL)
    );
    assert_eq!(
        p.call(libc::SYS_ioctl, &[1, 0x5413, BUF]),
        errno(Errno::ENOTTY)
    );
}

#[test]
fn a_read_only_grant_refuses_every_way_of_writing() {
    let (_dir, grant) = granted("hello", "/data", true);
    let host = grant.host.clone();
    let mut p = Program::new(vec![grant]);
    let path = p.put(BUF, "/data");
    let fd = p.call(libc::SYS_open, &[path, libc::O_RDONLY as u64]);
    assert_eq!(fd, 3, "the lowest free descriptor");
    let into = BUF + 0x100;
    assert_eq!(p.call(libc::SYS_read, &[fd as u64, into, 100]), 5);
    assert_eq!(p.bytes(into, 5), b"hello");
    let eacces = errno(Errno::EACCES);
    for flags in [
        libc::O_WRONLY,
        libc::O_RDWR,
        libc::O_RDONLY | libc::O_TRUNC,
        libc::O_RDONLY | libc::O_APPEND,
        libc::O_RDONLY | libc::O_CREAT,
    ] {
        assert_eq!(
            p.call(libc::SYS_open, &[path, flags as u64]),
            eacces,
            "{flags:#o}"
        );
    }
    assert_eq!(p.call(libc::SYS_unlink, &[path]), eacces);
    assert_eq!(
        p.call(libc::SYS_write, &[fd as u64, BUF, 1]),
        errno(Errno::EBADF)
    );
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "hello");
}

#[test]
fn only_granted_paths_exist() {
    let (_dir, grant) = granted("x", "/data", false);
    let mut p = Program::new(vec![grant]);
    let enoent = errno(Errno::ENOENT);
    for path in ["/etc/passwd", "/data/", "data", "/data/../data", "/"] {
        let at = p.put(BUF, path);
        assert_eq!(p.call(libc::SYS_open, &[at, 0]), enoent, "{path}");
        assert_eq!(
            p.call(libc::SYS_newfstatat, &[0, at, BUF + 0x800, 0]),
            enoent
        );
        assert_eq!(p.call(libc::SYS_unlinkat, &[0, at, 0]), enoent);
    }
    // A path with no NUL within PATH_MAX is too long, not read on and on.
    p.memory
        .write_slice(&[b'a'; 5000], GuestAddress(BUF))
        .unwrap();
    assert_eq!(
        p.call(libc::SYS_open, &[BUF, 0]),
        errno(Errno::ENAMETOOLONG)
    );
    // One that runs into the end of guest memory is a fault.
    p.memory
        .write_slice(&[b'a'; 16], GuestAddress(MEM_END - 16))
        .unwrap();
    assert_eq!(
        p.call(libc::SYS_open, &[MEM_END - 16, 0]),
        errno(Errno::EFAULT)
    );
}

#[test]
fn a_writable_grant_is_written_and_removed_on_the_host() {
    let (_dir, grant) = granted("", "/out", false);
    let host = grant.host.clone();
    let mut p = Program::new(vec![grant]);
    let path = p.put(BUF, "/out");
    let flags = (libc::O_WRONLY | libc::O_TRUNC) as u64;
    let fd = p.call(libc::SYS_openat, &[libc::AT_FDCWD as u64, path, flags]) as u64;
    let text = p.put(BUF + 0x100, "written by the guest");
    assert_eq!(p.call(libc::SYS_write, &[fd, text, 20]), 20);
    assert_eq!(
        std::fs::read_to_string(&host).unwrap(),
        "written by the guest"
    );
    let stat = BUF + 0x800;
    assert_eq!(p.call(libc::SYS_fstat, &[fd, stat]), 0);
    assert_eq!(
        u64::from_le_bytes(p.bytes(stat + 48, 8).try_into().unwrap()),
        20
    );
    assert_eq!(p.call(libc::SYS_close, &[fd]), 0);
    assert_eq!(p.call(libc::SYS_unlink, &[path]), 0);
    assert!(!host.exists());
}

#[test]
fn descriptors_stop_at_the_guests_own_limit() {
    let (_dir, grant) = granted("x", "/data", true);
    let mut p = Program::new(vec![grant]);
    let path = p.put(BUF, "/data");
    let mut opened = 0;
    loop {
        match p.call(libc::SYS_open, &[path, 0]) {
            fd if fd >= 0 => opened += 1,
            e => {
                assert_eq!(e, errno(Errno::EMFILE));
                break;
            }
        }
        assert!(opened <= MAX_FDS, "no limit");
    }
    assert_eq!(opened, MAX_FDS - 3, "stdin, stdout and stderr count too");
    assert_eq!(p.call(libc::SYS_close, &[10]), 0);
    assert_eq!(
        p.call(libc::SYS_open, &[path, 0]),
        10,
        "the lowest free number"
    );
}

#[test]
fn mappings_are_anonymous_private_and_never_meet_the_heap() {
    let mut p = Program::new(vec![]);
    let anon_private = (libc::MAP_ANONYMOUS | libc::MAP_PRIVATE) as u64;
    let none = u64::MAX; // fd -1
    let einval = errno(Errno::EINVAL);
    let fixed = anon_private | libc::MAP_FIXED as u64;
    assert_eq!(
        p.call(libc::SYS_mmap, &[0, 4096, 3, fixed, none, 0]),
        einval
    );
    assert_eq!(
        p.call(libc::SYS_mmap, &[0, 0, 3, anon_private, none, 0]),
        einval
    );
    let file = libc::MAP_PRIVATE as u64;
    assert_eq!(
        p.call(libc::SYS_mmap, &[0, 4096, 3, file, 3, 0]),
        errno(Errno::EACCES)
    );
    let enomem = errno(Errno::ENOMEM);
    assert_eq!(
        p.call(libc::SYS_mmap, &[0, u64::MAX, 3, anon_private, none, 0]),
        enomem
    );
    assert_eq!(
        p.call(libc::SYS_mmap, &[0, MEM_END, 3, anon_private, none, 0]),
        enomem
    );
    let top = MEM_END - STACK_SIZE;
    let at = p.call(libc::SYS_mmap, &[0, 100, 3, anon_private, none, 0]) as u64;
    assert_eq!(at, top - 4096, "one page, just below the stack");
    // The heap stops a page below the mappings; brk returns the old end.
    assert_eq!(p.call(libc::SYS_brk, &[0]) as u64, BRK_START);
    assert_eq!(p.call(libc::SYS_brk, &[at]) as u64, BRK_START);
    assert_eq!(
        p.call(libc::SYS_brk, &[BRK_START + 8192]) as u64,
        BRK_START + 8192
    );
    // Given back, the pages read as zero again.
    p.memory.write_slice(b"dirty", GuestAddress(at)).unwrap();
    assert_eq!(p.call(libc::SYS_munmap, &[at, 4096]), 0);
    assert_eq!(p.bytes(at, 5), vec![0; 5]);
    assert_eq!(p.call(libc::SYS_munmap, &[at + 1, 4096]), einval);
    assert_eq!(p.call(libc::SYS_munmap, &[!4095, 8192]), einval);
    assert_eq!(
        p.call(libc::SYS_mprotect, &[0x1000, 4096, 7]),
        errno(Errno::EFAULT)
    );
}

#[test]
fn clocks_and_sleeps_check_their_arguments() {
    let mut p = Program::new(vec![]);
    let einval = errno(Errno::EINVAL);
    assert_eq!(p.call(libc::SYS_clock_gettime, &[12, BUF]), einval);
    assert_eq!(p.call(libc::SYS_clock_gettime, &[u64::MAX, BUF]), einval);
    assert_eq!(
        p.call(
            libc::SYS_clock_gettime,
            &[libc::CLOCK_MONOTONIC as u64, BUF]
        ),
        0
    );
    p.memory.write_obj(0u64, GuestAddress(BUF)).unwrap();
    p.memory
        .write_obj(1_000_000_000u64, GuestAddress(BUF + 8))
        .unwrap();
    assert_eq!(
        p.call(libc::SYS_nanosleep, &[BUF]),
        einval,
        "a second's worth of ns"
    );
    p.memory.write_obj(u64::MAX, GuestAddress(BUF)).unwrap();
    p.memory.write_obj(0u64, GuestAddress(BUF + 8)).unwrap();
    assert_eq!(
        p.call(libc::SYS_nanosleep, &[BUF]),
        einval,
        "negative seconds"
    );
    let seconds = p.call(libc::SYS_time, &[BUF]);
    assert!(seconds > 1_700_000_000, "{seconds}");
    assert_eq!(
        p.memory.read_obj::<i64>(GuestAddress(BUF)).unwrap(),
        seconds
    );
}

#[test]
fn sockets_stay_on_loopback_and_above_the_privileged_ports() {
    let mut p = Program::new(vec![]);
    let eafnosupport = errno(Errno::EAFNOSUPPORT);
    assert_eq!(
        p.call(libc::SYS_socket, &[libc::AF_INET6 as u64, 1]),
        eafnosupport
    );
    assert_eq!(
        p.call(libc::SYS_socket, &[libc::AF_INET as u64, 2]),
        eafnosupport
    );
    let fd = p.call(
        libc::SYS_socket,
        &[libc::AF_INET as u64, libc::SOCK_STREAM as u64],
    );
    assert_eq!(fd, 3);
    let address = |p: &Program, port: u16, ip: [u8; 4]| {
        let mut bytes = (libc::AF_INET as u16).to_le_bytes().to_vec();
        bytes.extend(port.to_be_bytes());
        bytes.extend(ip);
        bytes.extend([0u8; 8]);
        p.memory.write_slice(&bytes, GuestAddress(BUF)).unwrap();
        BUF
    };
    let fd = fd as u64;
    let low = address(&p, 80, [0, 0, 0, 0]);
    assert_eq!(p.call(libc::SYS_bind, &[fd, low, 16]), errno(Errno::EACCES));
    assert_eq!(p.call(libc::SYS_bind, &[fd, low, 8]), errno(Errno::EINVAL));
    assert_eq!(
        p.call(libc::SYS_bind, &[1, low, 16]),
        errno(Errno::ENOTSOCK)
    );
    // Refused before any packet is sent: nothing leaves the machine.
    let outside = address(&p, 8080, [10, 0, 0, 1]);
    assert_eq!(
        p.call(libc::SYS_connect, &[fd, outside, 16]),
        errno(Errno::ENETUNREACH)
    );
    // Any address asked for is bound as 127.0.0.1.
    let any = address(&p, 0, [0, 0, 0, 0]);
    assert_eq!(p.call(libc::SYS_bind, &[fd, any, 16]), 0);
    let name = BUF + 0x100;
    let len = BUF + 0x200;
    p.memory.write_obj(16u32, GuestAddress(len)).unwrap();
    assert_eq!(p.call(libc::SYS_getsockname, &[fd, name, len]), 0);
    assert_eq!(p.bytes(name + 4, 4), vec![127, 0, 0, 1]);
}

#[test]
fn the_fs_base_is_set_and_read_back() {
    let mut p = Program::new(vec![]);
    assert_eq!(p.call(libc::SYS_arch_prctl, &[0x1002, 0x1234_5000]), 0);
    assert_eq!(p.sregs.fs.base, 0x1234_5000);
    assert_eq!(p.call(libc::SYS_arch_prctl, &[0x1003, BUF]), 0);
    assert_eq!(
        p.memory.read_obj::<u64>(GuestAddress(BUF)).unwrap(),
        0x1234_5000
    );
    assert_eq!(
        p.call(libc::SYS_arch_prctl, &[0x1003, 0x10]),
        errno(Errno::EFAULT)
    );
    assert_eq!(
        p.call(libc::SYS_arch_prctl, &[0x9999, 0]),
        errno(Errno::EINVAL)
    );
}

#[test]
fn exit_group_ends_the_program_with_its_status() {
    let mut p = Program::new(vec![]);
    let mut regs = kvm_regs {
        rax: libc::SYS_exit_group as u64,
        rdi: 3,
        ..Default::default()
    };
    let next = p.kernel.serve(&p.memory, &mut regs, &mut p.sregs);
    assert_eq!(next, Next::Exit(3));
}

#[test]
fn one_call_moves_at_most_max_io_bytes() {
    let mut p = Program::new(vec![]);
    assert_eq!(
        p.call(libc::SYS_getrandom, &[BUF, 4 * MAX_IO]),
        MAX_IO as i64
    );
    assert_eq!(p.call(libc::SYS_getcwd, &[BUF, 1]), errno(Errno::ERANGE));
    assert_eq!(p.call(libc::SYS_getcwd, &[BUF, 64]), 2);
    assert_eq!(p.bytes(BUF, 2), b"/\0");
}
