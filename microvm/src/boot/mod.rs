//! Getting a guest's first code and data into its memory.
//!
//! - [`linux`]: a Linux kernel (bzImage or ELF), its initrd and command line,
//!   and the boot parameters it reads first.
//! - [`initramfs`]: a container image made into the initramfs a VM boots from.
//! - [`elf`]: reading a static program's ELF headers.
//! - [`direct`]: the machine a direct guest runs on: its address space, stack,
//!   GDT, IDT and the system-call stub.

pub mod direct;
pub mod elf;
pub mod initramfs;
pub mod linux;
