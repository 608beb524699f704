//! How much memory a VM costs the host, split the way that teaches something:
//! the guest's pages that were actually touched (a page of guest RAM costs
//! nothing until the guest first uses it), and the VMM's own overhead (its
//! resident set minus those guest pages).

use serde::{Deserialize, Serialize};
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

/// Memory use at one moment, in KiB.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct MemoryUse {
    /// This process's resident set (VmRSS).
    pub vmm_rss_kib: u64,
    /// Guest RAM pages resident in the host, as mincore(2) sees them.
    pub guest_touched_kib: u64,
    /// The difference: what the VMM itself costs.
    pub vmm_overhead_kib: u64,
    /// Guest RAM as configured (--mem).
    pub guest_ram_kib: u64,
}

/// Measures now.
pub fn measure(memory: &GuestMemoryMmap) -> MemoryUse {
    let vmm_rss_kib = resident_kib();
    let guest_touched_kib = memory
        .iter()
        .map(|region| {
            memory
                .get_host_address(region.start_addr())
                .map_or(0, |host| resident_pages(host, region.len() as usize))
        })
        .sum::<u64>()
        * (page_size() / 1024);
    MemoryUse {
        vmm_rss_kib,
        guest_touched_kib,
        vmm_overhead_kib: vmm_rss_kib.saturating_sub(guest_touched_kib),
        guest_ram_kib: memory.iter().map(|r| r.len()).sum::<u64>() / 1024,
    }
}

/// VmRSS from /proc/self/status, in KiB.
pub fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// Resident pages of the mapping at `host`, `len` bytes long.
fn resident_pages(host: *mut u8, len: usize) -> u64 {
    let pages = len.div_ceil(page_size() as usize);
    let mut residency = vec![0u8; pages];
    // SAFETY: `host..host+len` is one mapping owned by the guest memory, which
    // outlives this call; `residency` has one byte per page, as mincore needs.
    let rc = unsafe { libc::mincore(host.cast(), len, residency.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    residency.iter().filter(|&&b| b & 1 == 1).count() as u64
}
