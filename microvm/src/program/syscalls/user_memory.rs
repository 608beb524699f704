//! The program's memory as a system call sees it: only user memory (from
//! [`USER_START`] to the end of guest RAM), only through vm-memory, every range
//! checked with checked arithmetic. A pointer the guest passes is a number it
//! chose; nothing here trusts it.

use nix::errno::Errno;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::program::machine::USER_START;

/// The longest path a guest may pass, NUL included (Linux's PATH_MAX).
pub const MAX_PATH: u64 = 4096;

/// The guest's user memory.
pub struct UserMemory<'a> {
    memory: &'a GuestMemoryMmap,
    mem_end: u64,
}

impl<'a> UserMemory<'a> {
    /// User memory is `memory` from [`USER_START`] up to `mem_end`.
    pub fn new(memory: &'a GuestMemoryMmap, mem_end: u64) -> Self {
        UserMemory { memory, mem_end }
    }

    /// EFAULT unless `[addr, addr + len)` is all user memory.
    pub fn check(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
        if addr < USER_START || end > self.mem_end {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    pub fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
        self.check(addr, len)?;
        let mut data = vec![0u8; len as usize];
        self.memory
            .read_slice(&mut data, GuestAddress(addr))
            .map_err(|_| Errno::EFAULT)?;
        Ok(data)
    }

    pub fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        let bytes = self.read(addr, 8)?;
        Ok(u64::from_le_bytes(
            bytes.try_into().map_err(|_| Errno::EFAULT)?,
        ))
    }

    pub fn read_u32(&self, addr: u64) -> Result<u32, Errno> {
        let bytes = self.read(addr, 4)?;
        Ok(u32::from_le_bytes(
            bytes.try_into().map_err(|_| Errno::EFAULT)?,
        ))
    }

    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        self.check(addr, data.len() as u64)?;
        self.memory
            .write_slice(data, GuestAddress(addr))
            .map_err(|_| Errno::EFAULT)
    }

    /// A NUL-terminated path of at most [`MAX_PATH`] bytes; ENOENT if it is
    /// not UTF-8 (no granted path is).
    pub fn read_path(&self, addr: u64) -> Result<String, Errno> {
        let mut path = Vec::new();
        for i in 0..MAX_PATH {
            let at = addr.checked_add(i).ok_or(Errno::EFAULT)?;
            self.check(at, 1)?;
            let byte: u8 = self
                .memory
                .read_obj(GuestAddress(at))
                .map_err(|_| Errno::EFAULT)?;
            if byte == 0 {
                return String::from_utf8(path).map_err(|_| Errno::ENOENT);
            }
            path.push(byte);
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// Gives `[addr, addr + len)` back to the host: it reads as zero afterwards.
    pub fn discard(&self, addr: u64, len: u64) {
        if len == 0 || self.check(addr, len).is_err() {
            return;
        }
        if let Ok(host) = self.memory.get_host_address(GuestAddress(addr)) {
            // SAFETY: the range was checked to lie in guest RAM, which is one
            // mapping owned by `memory`; MADV_DONTNEED on private anonymous
            // memory only zeroes it.
            unsafe { libc::madvise(host.cast(), len as usize, libc::MADV_DONTNEED) };
        }
    }
}
