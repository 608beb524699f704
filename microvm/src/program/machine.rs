//! The machine a program guest (`--elf`) runs on: a static Linux program at user
//! level (CPL3), in a VM with no guest kernel.
//!
//! A user program needs surprisingly little of a kernel to start: its segments
//! in memory, page tables that let user code touch them, a stack holding argc,
//! argv, envp and the auxiliary vector, and a way to make system calls. The
//! last is the trick. `syscall` jumps to the address in the LSTAR MSR; there we
//! put a stub of one instruction, `out %al, $0xf0`, which exits to the VMM. The
//! VMM serves the call from its registers and puts the vCPU back where `sysret`
//! would have: RIP from RCX, RFLAGS from R11, CS and SS at CPL3.
//!
//! On hardware KVM the stub runs at CPL0, as `syscall` promises. On a
//! nested-PVM host it runs with the program's own user privileges (at its exit
//! we found CS still 0x23, the user code selector, at DPL 3), so two things the
//! stub touches must be open to user level: its page, and its port. The first
//! 2 MiB, which hold this small "kernel", are therefore mapped user-readable
//! but read-only, and the TSS's I/O bitmap allows the VMM's ports, 0xc0 to
//! 0xff, and no other. The program can read its GDT but not change it, and the
//! VMM still treats every pointer below 2 MiB as not the program's: a system
//! call given one gets EFAULT.
//!
//! Guest physical addresses are the guest's virtual addresses (one identity
//! map).
//!
//! ```text
//! 0x0000_1000  GDT: null, kernel code 0x08, kernel data 0x10,
//!              user data 0x18 (0x1b), user code 0x20 (0x23), TSS 0x28
//! 0x0000_1800  TSS (RSP0 = the kernel stack, used when an exception arrives)
//! 0x0000_2000  IDT: 32 exception gates, each to its own stub
//! 0x0000_3000  the system-call stub; then one stub per exception vector
//! 0x0000_4000  page tables: PML4, PDPT at 0x5000, PDs from 0x6000
//! 0x0002_0000  top of the kernel stack
//! 0x0020_0000  user memory begins: the program, its heap (brk), mmap
//!              regions growing down from below the stack, the stack at the top
//! ```

use kvm_bindings::{Msrs, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs};
use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::elf::{PHENT_SIZE, Program};

const GDT_START: u64 = 0x1000;
const TSS_START: u64 = 0x1800;
const IDT_START: u64 = 0x2000;
/// The system-call stub (LSTAR points here).
pub const SYSCALL_STUB: u64 = 0x3000;
/// Exception stubs follow, one every 8 bytes.
pub const FAULT_STUBS: u64 = SYSCALL_STUB + 0x100;
/// Bytes between two exception stubs.
pub const FAULT_STUB_SIZE: u64 = 8;
const PML4_START: u64 = 0x4000;
const PDPT_START: u64 = 0x5000;
const PD_START: u64 = 0x6000;
/// Where an exception from user level switches the stack to (the TSS's RSP0):
/// the CPU pushes its frame just below.
pub const KERNEL_STACK_TOP: u64 = 0x2_0000;
/// Where user memory begins: everything below is the VMM's.
pub const USER_START: u64 = 0x20_0000;
/// Where a position-independent program is put.
const PIE_BASE: u64 = 0x40_0000;
/// Space kept for the stack at the top of memory.
pub const STACK_SIZE: u64 = 8 << 20;

/// RFLAGS for the program: interrupts on (there are none to take), IOPL 0.
pub const USER_RFLAGS: u64 = 0x202;

/// The port the system-call stub writes: an 8-bit immediate, so that the stub
/// needs no register (every register but RCX and R11 is the caller's).
pub const SYSCALL_PORT: u16 = 0xf0;
/// Exception vector v arrives on port FAULT_PORT_BASE + v.
pub const FAULT_PORT_BASE: u16 = 0xc0;

/// The TSS proper is 104 bytes; the I/O bitmap follows it.
const IO_BITMAP_OFFSET: u64 = 104;
const TSS_LIMIT: u64 = IO_BITMAP_OFFSET + 33 - 1;

const KERNEL_CS: u16 = 0x08;
const KERNEL_DS: u16 = 0x10;
pub const USER_DS: u16 = 0x18 | 3;
pub const USER_CS: u16 = 0x20 | 3;
const TSS_SELECTOR: u16 = 0x28;

/// What is wrong with where the program wants to be.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error(
        "a segment of the program wants {start:#x}..{end:#x}, outside user memory ({USER_START:#x}..{limit:#x}): give more --mem, or link it above 2 MiB"
    )]
    OutOfRange { start: u64, end: u64, limit: u64 },
    #[error("the arguments and environment do not fit on the stack")]
    StackTooSmall,
    #[error("cannot write guest memory: {0}")]
    Memory(#[from] vm_memory::GuestMemoryError),
    #[error("{what} failed: {source}")]
    Ioctl {
        what: &'static str,
        source: kvm_ioctls::Error,
    },
}

/// Where the program was put, for the system calls to come.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ProgramLayout {
    pub entry: u64,
    pub stack_pointer: u64,
    /// The first byte after the program: the heap (brk) starts here.
    pub brk_start: u64,
    /// mmap regions are handed out below this, growing down.
    pub mmap_top: u64,
    pub mem_end: u64,
}

/// Loads `program` and builds its stack with `args` (argv[0] first) and `env`.
pub fn load(
    memory: &GuestMemoryMmap,
    mem_end: u64,
    program: &Program,
    args: &[String],
    env: &[String],
    random: [u8; 16],
) -> Result<ProgramLayout, MachineError> {
    let base = if program.pie { PIE_BASE } else { 0 };
    let limit = mem_end.saturating_sub(STACK_SIZE);
    let mut end = 0;
    for s in &program.segments {
        // Checked: a PIE's p_vaddr near 2^64 would wrap below its base.
        let start = base.checked_add(s.vaddr);
        let stop = start.and_then(|a| a.checked_add(s.mem_size));
        let (Some(start), Some(stop)) = (start, stop) else {
            return Err(MachineError::OutOfRange {
                start: s.vaddr,
                end: u64::MAX,
                limit,
            });
        };
        if start < USER_START || stop > limit {
            return Err(MachineError::OutOfRange {
                start,
                end: stop,
                limit,
            });
        }
        let bytes = &program.bytes[s.file_offset as usize..(s.file_offset + s.file_size) as usize];
        memory.write_slice(bytes, GuestAddress(start))?;
        end = end.max(stop);
    }
    // The program headers, where the program itself can find them (AT_PHDR):
    // inside the segment that maps their file offset.
    let phdr = program
        .segments
        .iter()
        .find(|s| (s.file_offset..s.file_offset + s.file_size).contains(&program.phoff))
        .map_or(0, |s| base + s.vaddr + (program.phoff - s.file_offset));
    let auxv = [
        (3, phdr),                     // AT_PHDR
        (4, PHENT_SIZE),               // AT_PHENT
        (5, u64::from(program.phnum)), // AT_PHNUM
        (6, 4096),                     // AT_PAGESZ
        (7, 0),                        // AT_BASE: no interpreter
        (8, 0),                        // AT_FLAGS
        (9, base + program.entry),     // AT_ENTRY
        (11, 0),                       // AT_UID
        (12, 0),                       // AT_EUID
        (13, 0),                       // AT_GID
        (14, 0),                       // AT_EGID
        (17, 100),                     // AT_CLKTCK
        (23, 0),                       // AT_SECURE
    ];
    let stack_pointer = build_stack(memory, mem_end, args, env, &auxv, random)?;
    Ok(ProgramLayout {
        entry: base + program.entry,
        stack_pointer,
        brk_start: end.next_multiple_of(4096),
        mmap_top: limit,
        mem_end,
    })
}

/// The initial stack, as the Linux ABI has it: from RSP up, argc, argv pointers
/// and NULL, envp pointers and NULL, auxv pairs ending with AT_NULL; the strings
/// and AT_RANDOM's 16 bytes above them.
fn build_stack(
    memory: &GuestMemoryMmap,
    mem_end: u64,
    args: &[String],
    env: &[String],
    auxv: &[(u64, u64)],
    random: [u8; 16],
) -> Result<u64, MachineError> {
    let floor = mem_end - STACK_SIZE;
    let mut top = mem_end - 16;
    let mut push_bytes = |bytes: &[u8]| -> Result<u64, MachineError> {
        top = top
            .checked_sub(bytes.len() as u64)
            .filter(|&t| t > floor + 4096)
            .ok_or(MachineError::StackTooSmall)?;
        memory.write_slice(bytes, GuestAddress(top))?;
        Ok(top)
    };
    let random_at = push_bytes(&random)?;
    let mut strings = |items: &[String]| -> Result<Vec<u64>, MachineError> {
        items
            .iter()
            .map(|s| push_bytes(&[s.as_bytes(), &[0]].concat()))
            .collect()
    };
    let argv = strings(args)?;
    let envp = strings(env)?;
    let mut words: Vec<u64> = vec![args.len() as u64];
    words.extend(&argv);
    words.push(0);
    words.extend(&envp);
    words.push(0);
    for (key, value) in auxv {
        words.extend([*key, *value]);
    }
    words.extend([25, random_at, 0, 0]); // AT_RANDOM, then AT_NULL
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    // RSP must be 16-byte aligned where argc is.
    let rsp = (top - bytes.len() as u64) & !0xf;
    if rsp <= floor + 4096 {
        return Err(MachineError::StackTooSmall);
    }
    memory.write_slice(&bytes, GuestAddress(rsp))?;
    Ok(rsp)
}

/// A GDT descriptor from its flags, base and limit.
const fn descriptor(flags: u64, base: u64, limit: u64) -> u64 {
    ((base & 0xff00_0000) << 32)
        | ((flags & 0x0000_f0ff) << 40)
        | ((limit & 0x000f_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0x0000_ffff)
}

/// Writes the GDT, TSS, IDT, stubs and page tables.
pub fn write_machine(memory: &GuestMemoryMmap, mem_end: u64) -> Result<(), MachineError> {
    let gdt = [
        0,
        descriptor(0xa09b, 0, 0xfffff), // 0x08 kernel code, 64-bit
        descriptor(0xc093, 0, 0xfffff), // 0x10 kernel data
        descriptor(0xc0f3, 0, 0xfffff), // 0x18 user data, DPL 3
        descriptor(0xa0fb, 0, 0xfffff), // 0x20 user code, 64-bit, DPL 3
        descriptor(0x0089, TSS_START, TSS_LIMIT), // 0x28 available 64-bit TSS
        0,                              // its upper half: base bits 32..63
    ];
    for (i, entry) in gdt.iter().enumerate() {
        memory.write_obj(*entry, GuestAddress(GDT_START + i as u64 * 8))?;
    }
    // The TSS holds RSP0, the stack an exception from CPL3 switches to, and an
    // I/O permission bitmap. On hardware KVM the stubs run at CPL0, where ports
    // are always allowed. On nested PVM, `syscall` and exceptions reach them
    // with user privileges (we measured CS still 0x23, DPL 3, there), so their
    // `out` is checked against this bitmap: it allows our ports, 0xc0 to 0xff,
    // and denies every other. The program may reach these ports itself; they are
    // exits to the VMM, which treats them the same.
    memory.write_obj(KERNEL_STACK_TOP, GuestAddress(TSS_START + 4))?;
    memory.write_obj(IO_BITMAP_OFFSET as u16, GuestAddress(TSS_START + 102))?;
    let mut bitmap = [0xffu8; 33]; // ports 0..0xff, then the required 0xff byte
    bitmap[(FAULT_PORT_BASE / 8) as usize..32].fill(0);
    memory.write_slice(&bitmap, GuestAddress(TSS_START + IO_BITMAP_OFFSET))?;
    // The system-call stub: `out %al, $0xf0`, then ud2, which never runs.
    memory.write_slice(
        &[0xe6, SYSCALL_PORT as u8, 0x0f, 0x0b],
        GuestAddress(SYSCALL_STUB),
    )?;
    // Exception v: `out %al, $(0xc0 + v)`; the VMM ends the VM there.
    for vector in 0..32u64 {
        let stub = FAULT_STUBS + vector * FAULT_STUB_SIZE;
        let port = FAULT_PORT_BASE as u8 + vector as u8;
        memory.write_slice(&[0xe6, port, 0xf4, 0xeb, 0xfe], GuestAddress(stub))?;
        // A 64-bit interrupt gate: offset, code selector, present, DPL 0.
        let gate_low = (stub & 0xffff)
            | (u64::from(KERNEL_CS) << 16)
            | (0x8e00u64 << 32)
            | ((stub >> 16) & 0xffff) << 48;
        memory.write_obj(gate_low, GuestAddress(IDT_START + vector * 16))?;
        memory.write_obj(stub >> 32, GuestAddress(IDT_START + vector * 16 + 8))?;
    }
    write_page_tables(memory, mem_end)
}

/// Identity-maps guest RAM with 2 MiB pages. Nothing beyond RAM is mapped.
///
/// The first page holds this VM's own structures. A kernel would map it for
/// CPL0 only; here it is user-readable and read-only, because on nested-PVM
/// hosts the stubs run with user privileges (see write_machine). CR0.WP is off
/// so that the CPU's own writes (an exception frame on the kernel stack) still
/// go through. The program can read the GDT but not change it, and the VMM
/// treats every pointer below 2 MiB as not the program's (EFAULT).
fn write_page_tables(memory: &GuestMemoryMmap, mem_end: u64) -> Result<(), MachineError> {
    const PRESENT_WRITABLE: u64 = 0x3;
    const USER: u64 = 0x4;
    const HUGE: u64 = 0x80;
    let two_mib_pages = mem_end.div_ceil(2 << 20);
    memory.write_obj(
        PDPT_START | PRESENT_WRITABLE | USER,
        GuestAddress(PML4_START),
    )?;
    for gib in 0..two_mib_pages.div_ceil(512) {
        let pd = PD_START + gib * 0x1000;
        memory.write_obj(
            pd | PRESENT_WRITABLE | USER,
            GuestAddress(PDPT_START + gib * 8),
        )?;
    }
    const PRESENT: u64 = 0x1;
    for page in 0..two_mib_pages {
        let access = if page == 0 { PRESENT } else { PRESENT_WRITABLE };
        let entry = (page << 21) | access | HUGE | USER;
        memory.write_obj(entry, GuestAddress(PD_START + page * 8))?;
    }
    Ok(())
}

fn segment(selector: u16, code: bool, dpl: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 0xb } else { 0x3 },
        present: 1,
        dpl,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// The user-level segment registers a `sysret` would load.
pub fn set_user_segments(sregs: &mut kvm_sregs) {
    sregs.cs = segment(USER_CS, true, 3);
    let data = segment(USER_DS, false, 3);
    sregs.ss = data;
    sregs.ds = data;
    sregs.es = data;
}

/// Puts the vCPU at the program's entry, at CPL3, in 64-bit mode.
pub fn set_cpu(vcpu: &VcpuFd, layout: &ProgramLayout) -> Result<(), MachineError> {
    let ioctl = |what| move |source| MachineError::Ioctl { what, source };
    let mut sregs = vcpu.get_sregs().map_err(ioctl("KVM_GET_SREGS"))?;
    sregs.gdt.base = GDT_START;
    sregs.gdt.limit = 7 * 8 - 1;
    sregs.idt.base = IDT_START;
    sregs.idt.limit = 32 * 16 - 1;
    sregs.tr = kvm_segment {
        base: TSS_START,
        limit: TSS_LIMIT as u32,
        selector: TSS_SELECTOR,
        type_: 0xb, // busy 64-bit TSS, as after `ltr`
        present: 1,
        ..Default::default()
    };
    set_user_segments(&mut sregs);
    sregs.fs = segment(0, false, 3);
    sregs.gs = segment(0, false, 3);
    sregs.cr3 = PML4_START;
    // PG | NE | ET | MP | PE: paging, and the FPU as a modern OS sets it.
    // WP stays off (see write_page_tables).
    sregs.cr0 = 0x8000_0033;
    // PAE, plus OSFXSR and OSXMMEXCPT: without them every SSE instruction,
    // which compiled code is full of, would fault.
    sregs.cr4 = 0x20 | 0x200 | 0x400;
    // SCE: `syscall` is allowed. LME | LMA: long mode.
    sregs.efer = 0x1 | 0x100 | 0x400;
    vcpu.set_sregs(&sregs).map_err(ioctl("KVM_SET_SREGS"))?;
    let regs = kvm_regs {
        rip: layout.entry,
        rsp: layout.stack_pointer,
        rflags: USER_RFLAGS,
        ..Default::default()
    };
    vcpu.set_regs(&regs).map_err(ioctl("KVM_SET_REGS"))?;
    // STAR: the selectors `syscall` loads (kernel CS 0x08, SS 0x10) and
    // `sysret` would (user base 0x10: CS 0x23, SS 0x1b). LSTAR: the stub.
    // SFMASK: flags cleared on entry (TF, IF, DF, IOPL, AC, NT), as Linux does.
    let msrs = [
        (
            0xc000_0081,
            (u64::from(KERNEL_DS) << 48) | (u64::from(KERNEL_CS) << 32),
        ),
        (0xc000_0082, SYSCALL_STUB),
        (0xc000_0084, 0x4_7700),
    ]
    .map(|(index, data)| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    });
    let msrs = Msrs::from_entries(&msrs).map_err(|_| MachineError::Ioctl {
        what: "KVM_SET_MSRS",
        source: kvm_ioctls::Error::new(libc::EINVAL),
    })?;
    vcpu.set_msrs(&msrs).map_err(ioctl("KVM_SET_MSRS"))?;
    Ok(())
}
