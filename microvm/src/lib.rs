//! microvm: a tiny KVM virtual machine monitor, built on the rust-vmm crates
//! (kvm-ioctls, vm-memory, linux-loader, vm-superio), as a library the labs can
//! call and a command line.
//!
//! - [`host`]: what this machine's KVM can run (`microvm doctor`).
//! - [`layout`]: where everything goes in guest memory.
//! - [`vm`]: the KVM VM, its RAM, the in-kernel interrupt controllers.
//! - [`vcpu`]: a vCPU, set up as a kernel expects to find it.
//! - [`boot`]: loading a kernel, its initrd and its boot parameters.
//! - [`direct`]: `run --elf`, a static program in a VM with no guest kernel.
//! - [`syscalls`]: the system calls a direct guest makes, served here.
//! - [`devices`]: serial console, i8042 reset, boot timer.
//! - [`guests`]: our own tiny test guests, embedded.
//! - [`run`]: a VM's whole life, and the vCPU loop.
//! - [`stop`]: stopping a running vCPU from another thread.
//! - [`timeline`]: when each phase of a boot ended.
//! - [`memory_use`]: what a VM costs the host in memory.

pub mod boot;
pub mod devices;
pub mod direct;
pub mod guests;
pub mod host;
pub mod layout;
pub mod memory_use;
pub mod run;
pub mod stop;
pub mod syscalls;
pub mod timeline;
pub mod vcpu;
pub mod vm;
