//! A virtual CPU, set up the way a kernel expects to find the machine.
//!
//! A vCPU starts like a real x86 CPU after reset: in 16-bit real mode at
//! 0xFFFF_FFF0. Linux's 64-bit boot protocol wants far more: long mode, paging
//! on with the kernel identity-mapped, flat segments from a GDT, and RSI
//! pointing at the zero page. Firmware would do that on a PC; a micro-VM's
//! monitor does it directly, by writing the CPU's registers with
//! `KVM_SET_SREGS` and `KVM_SET_REGS`. PVH instead starts the kernel in 32-bit
//! protected mode without paging, with EBX pointing at `hvm_start_info`.

use kvm_bindings::{
    CpuId, KVM_MAX_CPUID_ENTRIES, Msrs, kvm_fpu, kvm_msr_entry, kvm_regs, kvm_segment,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::layout::{
    BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PDE_START, PDPTE_START, PML4_START,
};

/// What can go wrong while setting a vCPU up.
#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    #[error("KVM_CREATE_VCPU failed: {0}")]
    Create(kvm_ioctls::Error),
    #[error("KVM_GET_SUPPORTED_CPUID failed: {0}")]
    SupportedCpuid(kvm_ioctls::Error),
    #[error("{what} failed: {source}")]
    Ioctl {
        what: &'static str,
        source: kvm_ioctls::Error,
    },
    #[error("KVM took {set} of the {wanted} boot MSRs: this KVM cannot start the guest")]
    Msrs { set: usize, wanted: usize },
    #[error("cannot write the boot page tables or GDT into guest memory: {0}")]
    Memory(vm_memory::GuestMemoryError),
}

fn ioctl(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VcpuError {
    move |source| VcpuError::Ioctl { what, source }
}

/// How the kernel is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Linux's 64-bit boot protocol: long mode, RSI = the zero page.
    Linux64 { rip: u64, zero_page: u64 },
    /// PVH: 32-bit protected mode, paging off, EBX = `hvm_start_info`.
    Pvh { eip: u64, start_info: u64 },
}

/// Makes vCPU `index` and sets up its CPUID, MSRs, FPU and local APIC.
pub fn create(kvm: &Kvm, vm: &VmFd, index: u8, count: u8) -> Result<VcpuFd, VcpuError> {
    let vcpu = create_bare(kvm, vm, index, count)?;
    set_boot_msrs(&vcpu)?;
    set_lint(&vcpu)?;
    Ok(vcpu)
}

/// A vCPU with its CPUID and an initialised FPU, and nothing else: what a
/// direct guest, with no interrupt controller, needs.
pub fn create_bare(kvm: &Kvm, vm: &VmFd, index: u8, count: u8) -> Result<VcpuFd, VcpuError> {
    let vcpu = vm
        .create_vcpu(u64::from(index))
        .map_err(VcpuError::Create)?;
    let mut cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(VcpuError::SupportedCpuid)?;
    filter_cpuid(&mut cpuid, index, count);
    vcpu.set_cpuid2(&cpuid).map_err(ioctl("KVM_SET_CPUID2"))?;
    // The FPU as after FNINIT, and SSE exceptions masked, as Linux starts a process.
    let fpu = kvm_fpu {
        fcw: 0x37f,
        mxcsr: 0x1f80,
        ..Default::default()
    };
    vcpu.set_fpu(&fpu).map_err(ioctl("KVM_SET_FPU"))?;
    Ok(vcpu)
}

/// CPUID as the guest sees it: what KVM supports, adjusted as Firecracker's
/// common normalisation does: each vCPU gets its APIC ID, the topology says how
/// many there are, the "running under a hypervisor" bit is set, and the
/// performance-monitoring leaf is emptied (no PMU is emulated).
fn filter_cpuid(cpuid: &mut CpuId, index: u8, count: u8) {
    for entry in cpuid.as_mut_slice() {
        match entry.function {
            0x1 => {
                // EBX: APIC ID, logical processor count, CLFLUSH line size (8 x 8 bytes).
                entry.ebx = (u32::from(index) << 24) | (u32::from(count) << 16) | (8 << 8);
                entry.ecx |= 1 << 31; // hypervisor present
                if count > 1 {
                    entry.edx |= 1 << 28; // HTT: more than one logical processor
                }
            }
            0xb => entry.edx = u32::from(index), // x2APIC ID
            0xa => {
                entry.eax = 0;
                entry.ebx = 0;
                entry.ecx = 0;
                entry.edx = 0;
            }
            _ => {}
        }
    }
}

/// The MSRs Firecracker sets at boot: system-call entry points cleared, the
/// TSC at zero, fast string operations on, and MTRRs on with write-back as the
/// default memory type (without it, Linux would treat all RAM as uncached).
fn set_boot_msrs(vcpu: &VcpuFd) -> Result<(), VcpuError> {
    const MSR_IA32_TSC: u32 = 0x10;
    const MSR_IA32_SYSENTER_CS: u32 = 0x174;
    const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
    const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
    const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
    const MSR_MTRR_DEF_TYPE: u32 = 0x2ff;
    const MSR_STAR: u32 = 0xc000_0081;
    const MSR_LSTAR: u32 = 0xc000_0082;
    const MSR_CSTAR: u32 = 0xc000_0083;
    const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
    const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
    let entries = [
        (MSR_IA32_SYSENTER_CS, 0),
        (MSR_IA32_SYSENTER_ESP, 0),
        (MSR_IA32_SYSENTER_EIP, 0),
        (MSR_STAR, 0),
        (MSR_CSTAR, 0),
        (MSR_KERNEL_GS_BASE, 0),
        (MSR_SYSCALL_MASK, 0),
        (MSR_LSTAR, 0),
        (MSR_IA32_TSC, 0),
        (MSR_IA32_MISC_ENABLE, 1),          // fast string operations
        (MSR_MTRR_DEF_TYPE, (1 << 11) | 6), // MTRRs on, write-back by default
    ]
    .map(|(index, data)| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    });
    let msrs = Msrs::from_entries(&entries).map_err(|_| VcpuError::Msrs {
        set: 0,
        wanted: entries.len(),
    })?;
    let set = vcpu.set_msrs(&msrs).map_err(ioctl("KVM_SET_MSRS"))?;
    if set != entries.len() {
        return Err(VcpuError::Msrs {
            set,
            wanted: entries.len(),
        });
    }
    Ok(())
}

/// Local APIC lines as a PC wires them: LINT0 receives the PIC's interrupts
/// (ExtINT), LINT1 receives NMIs.
fn set_lint(vcpu: &VcpuFd) -> Result<(), VcpuError> {
    const APIC_LVT0: usize = 0x350;
    const APIC_LVT1: usize = 0x360;
    const APIC_MODE_EXTINT: u32 = 0x7;
    const APIC_MODE_NMI: u32 = 0x4;
    let mut lapic = vcpu.get_lapic().map_err(ioctl("KVM_GET_LAPIC"))?;
    for (offset, mode) in [(APIC_LVT0, APIC_MODE_EXTINT), (APIC_LVT1, APIC_MODE_NMI)] {
        let bytes: [u8; 4] = std::array::from_fn(|i| lapic.regs[offset + i] as u8);
        let value = (u32::from_le_bytes(bytes) & !0x700) | (mode << 8);
        for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
            lapic.regs[offset + i] = byte as _;
        }
    }
    vcpu.set_lapic(&lapic).map_err(ioctl("KVM_SET_LAPIC"))
}

/// A GDT descriptor from its flags, base and limit (the layout the CPU reads).
const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    let (flags, base, limit) = (flags as u64, base as u64, limit as u64);
    ((base & 0xff00_0000) << 32)
        | ((flags & 0x0000_f0ff) << 40)
        | ((limit & 0x000f_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0x0000_ffff)
}

/// The segment register KVM needs for descriptor `entry` at `selector`: the
/// same fields, unpacked.
fn segment(entry: u64, selector: u16) -> kvm_segment {
    let bit = |n: u32| ((entry >> n) & 1) as u8;
    let base = ((entry >> 16) & 0x00ff_ffff) | ((entry >> 32) & 0xff00_0000);
    let mut limit = ((entry & 0xffff) | ((entry >> 32) & 0xf_0000)) as u32;
    if bit(55) == 1 {
        limit = (limit << 12) | 0xfff; // granularity: the limit counts 4 KiB pages
    }
    kvm_segment {
        base,
        limit,
        selector,
        type_: ((entry >> 40) & 0xf) as u8,
        present: bit(47),
        dpl: ((entry >> 45) & 0x3) as u8,
        db: bit(54),
        s: bit(44),
        l: bit(53),
        g: bit(55),
        avl: bit(52),
        unusable: u8::from(bit(47) == 0),
        padding: 0,
    }
}

/// The GDT: the 64-bit boot protocol names its selectors, __BOOT_CS = 0x10 and
/// __BOOT_DS = 0x18; PVH leaves them free, so the same slots serve.
const CODE_SELECTOR: u16 = 0x10;
const DATA_SELECTOR: u16 = 0x18;
const TSS_SELECTOR: u16 = 0x20;

fn gdt(long_mode: bool) -> [u64; 5] {
    // 0xa09b: present, ring 0, code, execute/read, long (L); 0xc09b the same
    // with 32-bit default size (D) instead of L. 0xc093: data, read/write.
    let code = if long_mode { 0xa09b } else { 0xc09b };
    [
        0,
        0,
        gdt_entry(code, 0, 0xfffff),
        gdt_entry(0xc093, 0, 0xfffff),
        gdt_entry(0x808b, 0, 0xfffff), // a busy 32-bit TSS
    ]
}

/// Page tables that identity-map the first 4 GiB with 2 MiB pages, so that the
/// kernel, the zero page, the command line and the initrd are all reachable.
fn write_page_tables(memory: &GuestMemoryMmap) -> Result<(), VcpuError> {
    const PRESENT_WRITABLE: u64 = 0x3;
    const HUGE: u64 = 0x80;
    memory
        .write_obj(PDPTE_START | PRESENT_WRITABLE, GuestAddress(PML4_START))
        .map_err(VcpuError::Memory)?;
    for gib in 0..4u64 {
        let pd = PDE_START + gib * 0x1000;
        memory
            .write_obj(pd | PRESENT_WRITABLE, GuestAddress(PDPTE_START + gib * 8))
            .map_err(VcpuError::Memory)?;
        for i in 0..512u64 {
            let frame = ((gib << 9) + i) << 21;
            memory
                .write_obj(frame | PRESENT_WRITABLE | HUGE, GuestAddress(pd + i * 8))
                .map_err(VcpuError::Memory)?;
        }
    }
    Ok(())
}

/// Sets the registers so that the vCPU's first instruction is the kernel's.
pub fn set_entry(vcpu: &VcpuFd, memory: &GuestMemoryMmap, entry: Entry) -> Result<(), VcpuError> {
    const X86_CR0_PE: u64 = 0x1;
    const X86_CR0_ET: u64 = 0x10;
    const X86_CR0_PG: u64 = 0x8000_0000;
    const X86_CR4_PAE: u64 = 0x20;
    const EFER_LME: u64 = 0x100;
    const EFER_LMA: u64 = 0x400;
    let long_mode = matches!(entry, Entry::Linux64 { .. });
    let table = gdt(long_mode);
    for (i, descriptor) in table.iter().enumerate() {
        memory
            .write_obj(*descriptor, GuestAddress(BOOT_GDT_START + i as u64 * 8))
            .map_err(VcpuError::Memory)?;
    }
    // An empty IDT: until the kernel installs its own, any exception is fatal.
    memory
        .write_obj(0u64, GuestAddress(BOOT_IDT_START))
        .map_err(VcpuError::Memory)?;

    let mut sregs = vcpu.get_sregs().map_err(ioctl("KVM_GET_SREGS"))?;
    sregs.gdt.base = BOOT_GDT_START;
    sregs.gdt.limit = (std::mem::size_of_val(&table) - 1) as u16;
    sregs.idt.base = BOOT_IDT_START;
    sregs.idt.limit = 7;
    let data = segment(table[3], DATA_SELECTOR);
    sregs.cs = segment(table[2], CODE_SELECTOR);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.tr = segment(table[4], TSS_SELECTOR);
    sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
    sregs.cr4 = 0;
    sregs.efer = 0;
    let mut regs = kvm_regs {
        rflags: 0x2, // bit 1 is always set; interrupts stay off
        ..Default::default()
    };
    match entry {
        Entry::Linux64 { rip, zero_page } => {
            write_page_tables(memory)?;
            sregs.cr3 = PML4_START;
            sregs.cr4 |= X86_CR4_PAE;
            sregs.efer |= EFER_LME | EFER_LMA;
            sregs.cr0 |= X86_CR0_PG;
            regs.rip = rip;
            regs.rsi = zero_page;
            regs.rsp = BOOT_STACK_POINTER;
            regs.rbp = BOOT_STACK_POINTER;
        }
        Entry::Pvh { eip, start_info } => {
            regs.rip = eip;
            regs.rbx = start_info;
        }
    }
    vcpu.set_sregs(&sregs).map_err(ioctl("KVM_SET_SREGS"))?;
    vcpu.set_regs(&regs).map_err(ioctl("KVM_SET_REGS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_long_mode_code_descriptor_unpacks_as_the_cpu_reads_it() {
        let code = segment(gdt_entry(0xa09b, 0, 0xfffff), CODE_SELECTOR);
        assert_eq!((code.base, code.limit), (0, 0xffff_ffff));
        assert_eq!((code.type_, code.present, code.dpl, code.s), (0xb, 1, 0, 1));
        assert_eq!((code.l, code.db, code.g), (1, 0, 1));
        let data = segment(gdt_entry(0xc093, 0, 0xfffff), DATA_SELECTOR);
        assert_eq!((data.type_, data.db, data.l), (0x3, 1, 0));
        // The well-known encodings of the same descriptors.
        assert_eq!(gdt_entry(0xa09b, 0, 0xfffff), 0x00af_9b00_0000_ffff);
        assert_eq!(gdt_entry(0xc093, 0, 0xfffff), 0x00cf_9300_0000_ffff);
    }
}
