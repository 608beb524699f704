//! microvm: a tiny KVM virtual machine monitor, built on the rust-vmm crates
//! (kvm-ioctls, vm-memory, linux-loader, vm-superio), as a library the labs can
//! call and a command line.
//!
//! - [`host`]: what this machine's KVM can run (`microvm doctor`).
//! - [`vm`]: the KVM VM, its RAM, the in-kernel interrupt controllers.
//! - [`vcpu`]: a vCPU, set up as a kernel expects to find it.
//! - [`layout`]: where everything goes in a PC's memory.
//! - [`run`]: a VM's whole life and its one vCPU loop, for every kind of guest.
//! - [`linux`]: the Linux guest (`run --kernel`): the boot protocol, and the
//!   initramfs made from a container image.
//! - [`devices`]: what a Linux guest talks to: serial console, i8042 reset,
//!   boot timer.
//! - [`program`]: the program guest (`run --elf`): a static program in a VM
//!   with no guest kernel, its system calls served here.
//! - [`test_guests`]: our own tiny Linux-like test guests, embedded.
//! - [`qemu`]: the same small machine in QEMU, to compare with.
//! - [`stop`]: stopping a running vCPU from another thread.
//! - [`timeline`]: when each phase of a boot ended.
//! - [`memory_use`]: what a VM costs the host in memory.

pub mod devices;
pub mod host;
pub mod layout;
pub mod linux;
pub mod memory_use;
pub mod program;
pub mod qemu;
pub mod run;
pub mod stop;
pub mod test_guests;
pub mod timeline;
pub mod vcpu;
pub mod vm;
