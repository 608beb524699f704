//! Where things go in the guest's physical memory, in one place.
//!
//! The x86 boot protocol fixes some of these (the kernel at 1 MiB, the zero page
//! below it); the rest follow the choices Firecracker and rust-vmm's
//! vmm-reference made, so that a reader who knows one knows this one.
//!
//! ```text
//! 0x0000_0500  GDT (4 entries)
//! 0x0000_0520  IDT (empty: a fault with no handler becomes a triple fault)
//! 0x0000_7000  zero page: struct boot_params (bzImage and 64-bit ELF boot)
//! 0x0000_6000  hvm_start_info and its memory map (PVH boot)
//! 0x0000_8ff0  boot stack top, growing down
//! 0x0000_9000  page tables: PML4, then PDPT at 0xa000, then PDs at 0xb000..
//! 0x0002_0000  kernel command line (up to CMDLINE_MAX_SIZE)
//! 0x0009_fc00  end of low RAM (EBDA and BIOS area follow, left out of the E820 map)
//! 0x0010_0000  the kernel (HIMEM_START)
//!      ...     the initrd, high, page-aligned, below min(initrd_addr_max, RAM end)
//! 0xc000_0000  start of the MMIO gap: no RAM between here and 4 GiB
//! 0xc000_0000  the boot-timer device (one 8-byte MMIO register)
//! ```
//!
//! Guest RAM above the gap would start at 4 GiB; microvm keeps guests below the
//! gap (`--mem` at most 3 GiB), which is plenty for what it runs.

/// Where the GDT lives; the kernel replaces it early.
pub const BOOT_GDT_START: u64 = 0x500;
/// An empty IDT: no interrupts before the kernel installs its own.
pub const BOOT_IDT_START: u64 = 0x520;
/// The zero page (`struct boot_params`).
pub const ZERO_PAGE_START: u64 = 0x7000;
/// PVH's `struct hvm_start_info`, followed by its memory map.
pub const PVH_INFO_START: u64 = 0x6000;
/// Top of the boot stack (the 64-bit boot protocol does not require one; it helps
/// test guests and is what Firecracker does).
pub const BOOT_STACK_POINTER: u64 = 0x8ff0;
/// The 4-level page tables that identity-map the first GiB for the boot.
pub const PML4_START: u64 = 0x9000;
pub const PDPTE_START: u64 = 0xa000;
pub const PDE_START: u64 = 0xb000;
/// The kernel command line.
pub const CMDLINE_START: u64 = 0x20000;
/// Longest command line accepted (the kernel's own limit on x86 is 2048 before
/// protocol 2.06; newer kernels say theirs in `cmdline_size`).
pub const CMDLINE_MAX_SIZE: usize = 2048;
/// End of usable low memory: the EBDA and the BIOS area above are not RAM.
pub const EBDA_START: u64 = 0x9fc00;
/// Where the kernel is loaded: 1 MiB, as the boot protocol expects.
pub const HIMEM_START: u64 = 0x10_0000;
/// Start of the 32-bit MMIO gap: no guest RAM from here to 4 GiB.
pub const MMIO_GAP_START: u64 = 0xc000_0000;
/// The boot-timer device: a guest write of [`BOOT_TIMER_MAGIC`] here is
/// timestamped (Firecracker's device, at an address of our own).
pub const BOOT_TIMER_ADDR: u64 = 0xc000_0000;
/// The value that marks "booted", as in Firecracker.
pub const BOOT_TIMER_MAGIC: u8 = 123;
/// The serial port (COM1) and its interrupt line.
pub const SERIAL_PORT_BASE: u16 = 0x3f8;
pub const SERIAL_IRQ: u32 = 4;
/// The i8042 keyboard controller's command port; 0xFE written here resets.
pub const I8042_PORT_BASE: u16 = 0x60;
/// Smallest and largest guest memory accepted, in MiB.
pub const MIN_MEM_MIB: u64 = 8;
pub const MAX_MEM_MIB: u64 = MMIO_GAP_START >> 20;
