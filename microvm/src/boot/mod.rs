//! Getting a guest's first code and data into its memory.
//!
//! - [`linux`]: a Linux kernel (bzImage or ELF), its initrd and command line,
//!   and the boot parameters it reads first.
//! - [`initramfs`]: a container image made into the initramfs a VM boots from.

pub mod initramfs;
pub mod linux;
