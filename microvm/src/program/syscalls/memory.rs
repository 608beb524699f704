//! The program's address space: the heap (brk) grows up from the end of the
//! program, anonymous mappings are handed out downwards from below the stack,
//! and the two may not meet. Guest RAM is already mapped, so "mapping" here is
//! bookkeeping; giving memory back drops its pages from the host.

use nix::errno::Errno;

use super::{Answer, Call, Kernel};

const PAGE: u64 = 4096;

/// Anonymous private mappings only, handed out downwards from below the
/// stack. Fresh guest memory reads as zero; memory given back with munmap
/// is dropped from the host (MADV_DONTNEED), so it reads as zero again.
/// The address hint is ignored, as Linux may; MAP_FIXED is refused.
pub(super) fn mmap(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [_addr, len, _prot, flags, fd, _offset] = call.args;
    let flags = flags as i32;
    if flags & libc::MAP_ANONYMOUS == 0 || fd as i64 != -1 {
        return Err(Errno::EACCES); // no file mappings here
    }
    if flags & libc::MAP_PRIVATE == 0 || flags & libc::MAP_FIXED != 0 || len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.checked_next_multiple_of(PAGE).ok_or(Errno::ENOMEM)?;
    let start = kernel.mmap_top.checked_sub(len).ok_or(Errno::ENOMEM)?;
    if start < kernel.brk.next_multiple_of(PAGE) + PAGE {
        return Err(Errno::ENOMEM);
    }
    kernel.mmap_top = start;
    Ok(start as i64)
}

/// mprotect(2): every page of user memory is readable, writable and
/// executable already; only the range is checked.
pub(super) fn mprotect(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [addr, len, ..] = call.args;
    call.user.check(addr, len).map(|()| 0)
}

pub(super) fn munmap(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [addr, len, ..] = call.args;
    if addr % PAGE != 0 || len == 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.checked_next_multiple_of(PAGE).ok_or(Errno::EINVAL)?;
    let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
    if addr < kernel.mmap_top || end > kernel.mmap_ceiling {
        return Ok(0); // not ours to give back; Linux ignores unmapped ranges too
    }
    call.user.discard(addr, len);
    if addr == kernel.mmap_top {
        kernel.mmap_top = end;
    }
    Ok(0)
}

/// brk(2): moves the end of the heap if it stays between the program's end
/// and a page below the mappings, and returns where the end is now (as Linux
/// does, failure is the old end, not an errno).
pub(super) fn brk(kernel: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let wanted = call.args[0];
    let limit = kernel.mmap_top.saturating_sub(PAGE);
    if wanted >= kernel.brk_start && wanted <= limit {
        if wanted < kernel.brk {
            let from = wanted.next_multiple_of(PAGE);
            call.user.discard(from, kernel.brk.saturating_sub(from));
        }
        kernel.brk = wanted;
    }
    Ok(kernel.brk as i64)
}
