//! The boot timer: a pseudo-device that timestamps the moment a guest says
//! "booted". Firecracker has one; the guest writes the value 123 to it (here at
//! MMIO [`BOOT_TIMER_ADDR`](crate::layout::BOOT_TIMER_ADDR)). Each such write is a
//! mark on the timeline, so a guest can mark more than one moment (the kernel
//! reaching `/init`, the workload being ready).

use crate::layout::BOOT_TIMER_MAGIC;
use crate::timeline::monotonic_ns;

/// The marks the guest has made, in CLOCK_MONOTONIC nanoseconds.
#[derive(Debug, Default)]
pub struct BootTimer {
    pub marks: Vec<u64>,
}

impl BootTimer {
    /// A guest write: only the magic value, as the first byte, is a mark.
    pub fn write(&mut self, data: &[u8]) {
        if data.first() == Some(&BOOT_TIMER_MAGIC) {
            self.marks.push(monotonic_ns());
        }
    }
}
