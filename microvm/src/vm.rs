//! The virtual machine: a KVM VM file descriptor, its RAM, and the interrupt
//! hardware KVM emulates in the kernel.
//!
//! A KVM VM starts empty: no memory, no CPUs, no devices. Making one usable is
//! four ioctls, each a lesson in what a machine is:
//! 1. `KVM_CREATE_VM` gives the VM file descriptor;
//! 2. `KVM_SET_USER_MEMORY_REGION` says "guest physical address G is this
//!    process's virtual address H, for N bytes": guest RAM is ordinary
//!    anonymous memory of the VMM process, which is why touching it shows up in
//!    the VMM's RSS;
//! 3. `KVM_CREATE_IRQCHIP` puts the PIC, IOAPIC and local APICs in the kernel,
//!    so interrupts do not need a trip through this process;
//! 4. `KVM_CREATE_PIT2` does the same for the 8254 timer Linux calibrates with.

use kvm_bindings::{KVM_PIT_SPEAKER_DUMMY, kvm_pit_config, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VmFd};
use vm_memory::{Address, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

use crate::layout::{MAX_MEM_MIB, MIN_MEM_MIB};

/// Where the TSS goes on Intel: three pages just below 4 GiB, inside the MMIO
/// gap, where no RAM is (Firecracker's choice).
const KVM_TSS_ADDRESS: usize = 0xfffb_d000;

/// What can go wrong while making the VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("cannot open /dev/kvm: {0} (run `microvm doctor`)")]
    OpenKvm(kvm_ioctls::Error),
    #[error("KVM_CREATE_VM failed: {0}")]
    CreateVm(kvm_ioctls::Error),
    #[error("--mem {0} MiB is out of range: give {MIN_MEM_MIB} to {MAX_MEM_MIB} MiB")]
    MemorySize(u64),
    #[error("cannot allocate {mib} MiB of guest memory: {reason}")]
    AllocateMemory { mib: u64, reason: String },
    #[error("KVM_SET_USER_MEMORY_REGION failed: {0}")]
    SetMemory(kvm_ioctls::Error),
    #[error("KVM_SET_TSS_ADDR failed: {0}")]
    SetTss(kvm_ioctls::Error),
    #[error("KVM_CREATE_IRQCHIP failed: {0}")]
    CreateIrqchip(kvm_ioctls::Error),
    #[error("KVM_CREATE_PIT2 failed: {0}")]
    CreatePit(kvm_ioctls::Error),
}

/// A VM with RAM and interrupt controllers, ready for vCPUs.
pub struct Vm {
    pub kvm: Kvm,
    pub fd: VmFd,
    pub memory: GuestMemoryMmap,
}

impl Vm {
    /// Opens /dev/kvm and makes a VM.
    pub fn create() -> Result<Self, VmError> {
        let kvm = Kvm::new().map_err(VmError::OpenKvm)?;
        let fd = kvm.create_vm().map_err(VmError::CreateVm)?;
        // Creating a VM with no memory is cheap; allocating is not. Checking the
        // size here lets `--mem` errors come before any allocation.
        Ok(Vm {
            kvm,
            fd,
            memory: GuestMemoryMmap::default(),
        })
    }

    /// Gives the VM `mib` MiB of RAM from guest physical address 0.
    pub fn add_memory(&mut self, mib: u64) -> Result<(), VmError> {
        if !(MIN_MEM_MIB..=MAX_MEM_MIB).contains(&mib) {
            return Err(VmError::MemorySize(mib));
        }
        let bytes = (mib << 20) as usize;
        self.memory = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), bytes)]).map_err(|e| {
            VmError::AllocateMemory {
                mib,
                reason: e.to_string(),
            }
        })?;
        for (slot, region) in self.memory.iter().enumerate() {
            let host = self
                .memory
                .get_host_address(region.start_addr())
                .map_err(|e| VmError::AllocateMemory {
                    mib,
                    reason: e.to_string(),
                })?;
            let region = kvm_userspace_memory_region {
                slot: slot as u32,
                flags: 0,
                guest_phys_addr: region.start_addr().raw_value(),
                memory_size: region.len(),
                userspace_addr: host as u64,
            };
            // SAFETY: `host` is the start of a mapping of `memory_size` bytes
            // owned by `self.memory`, which lives as long as the VM (both are
            // fields of `self`, and the memory is dropped after the VM fd).
            unsafe { self.fd.set_user_memory_region(region) }.map_err(VmError::SetMemory)?;
        }
        Ok(())
    }

    /// The in-kernel interrupt controllers and timer.
    pub fn add_interrupt_hardware(&self) -> Result<(), VmError> {
        self.fd
            .set_tss_address(KVM_TSS_ADDRESS)
            .map_err(VmError::SetTss)?;
        self.fd.create_irq_chip().map_err(VmError::CreateIrqchip)?;
        let pit = kvm_pit_config {
            // A dummy speaker port, so that the guest's beeps do not exit to us.
            flags: KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        self.fd.create_pit2(pit).map_err(VmError::CreatePit)
    }

    /// Bytes of guest RAM.
    pub fn memory_size(&self) -> u64 {
        self.memory.iter().map(|r| r.len()).sum()
    }
}
