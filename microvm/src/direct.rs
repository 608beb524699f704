//! `microvm run --elf`: a static Linux program in a VM with no guest kernel.
//! Its code runs at CPL3 inside the VM; each system call exits to this process,
//! which serves it ([`crate::syscalls`]) and resumes the program where `sysret`
//! would have.
//!
//! The registers travel through KVM's shared run page (KVM_CAP_SYNC_REGS):
//! after an exit they are already there to read, and marked dirty they are
//! loaded on the next KVM_RUN, so a system call costs one exit and no extra
//! ioctls.

use std::path::PathBuf;
use std::time::Duration;

use kvm_ioctls::{SyncReg, VcpuExit, VcpuFd};
use serde::Serialize;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use crate::boot::direct::{self, DirectError, DirectLayout, FAULT_PORT_BASE, SYSCALL_PORT};
use crate::boot::elf::{self, ElfError};
use crate::memory_use::{self, MemoryUse};
use crate::stop::{StopReason, Stopper};
use crate::syscalls::{Grant, Kernel, Next};
use crate::timeline::Timeline;
use crate::vcpu::{self, VcpuError};
use crate::vm::{Vm, VmError};

/// Everything `microvm run --elf` was asked.
#[derive(Debug, Clone)]
pub struct ElfConfig {
    pub program: PathBuf,
    /// argv, argv[0] first.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub files: Vec<Grant>,
    pub mem_mib: u64,
    pub timeout: Option<Duration>,
    pub trace_syscalls: bool,
}

/// Why a direct VM failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectRunError {
    #[error(transparent)]
    Elf(#[from] ElfError),
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Vcpu(#[from] VcpuError),
    #[error(transparent)]
    Load(#[from] DirectError),
    #[error(
        "KVM_CAP_SYNC_REGS is missing: this KVM cannot run direct guests (see `microvm doctor`)"
    )]
    NoSyncRegs,
    #[error("the program crashed: {name} (exception {vector}) at rip {rip:#x}{detail}")]
    Crash {
        vector: u8,
        name: &'static str,
        rip: u64,
        detail: String,
    },
    #[error(
        "the program wrote to I/O port {port:#x} itself (at rip {rip:#x}): that port is how the VM's exception stubs report a fault, not the program's; stopped it, as Linux would stop an `out` from user code (SIGSEGV)"
    )]
    NotAFault { port: u16, rip: u64 },
    #[error("the VM shut down (a triple fault): the program broke the VM's own structures")]
    Shutdown,
    #[error("the program did not finish within --timeout {0} s; stopped it")]
    Timeout(u64),
    #[error("KVM_RUN failed: {0}")]
    KvmRun(kvm_ioctls::Error),
    #[error("unexpected VM exit: {0}")]
    UnexpectedExit(String),
}

impl DirectRunError {
    /// 128 + the signal Linux would have sent, for a crash; 124 for a timeout;
    /// 1 for a VMM failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            DirectRunError::Crash { vector, .. } => 128 + signal_of(*vector),
            DirectRunError::NotAFault { .. } => 128 + 11,
            DirectRunError::Timeout(_) => 124,
            _ => 1,
        }
    }
}

/// What a direct run reports.
#[derive(Debug, Serialize)]
pub struct DirectReport {
    pub exit_code: i32,
    pub timeline: Timeline,
    pub layout: DirectLayout,
    pub memory: MemoryUse,
    pub syscalls: u64,
}

/// A run that failed still has its timeline, and, if the VM got to run, what
/// it held in memory when it was stopped (at --timeout, say).
pub struct DirectFailed {
    pub error: DirectRunError,
    pub timeline: Timeline,
    pub memory: Option<MemoryUse>,
}

/// Runs the program until it exits.
pub fn run_elf(
    config: &ElfConfig,
    mut timeline: Timeline,
) -> Result<DirectReport, Box<DirectFailed>> {
    let mut memory_at_end = None;
    match boot_and_run(config, &mut timeline, &mut memory_at_end) {
        Ok((exit_code, layout, memory, syscalls)) => Ok(DirectReport {
            exit_code,
            timeline,
            layout,
            memory,
            syscalls,
        }),
        Err(error) => {
            if !timeline.phases.iter().any(|p| p.name == "exit") {
                timeline.mark("exit");
            }
            Err(Box::new(DirectFailed {
                error,
                timeline,
                memory: memory_at_end,
            }))
        }
    }
}

fn boot_and_run(
    config: &ElfConfig,
    timeline: &mut Timeline,
    memory_at_end: &mut Option<MemoryUse>,
) -> Result<(i32, DirectLayout, MemoryUse, u64), DirectRunError> {
    let program = elf::read(&config.program)?;
    let mut vm = Vm::create()?;
    if !vm.kvm.check_extension(kvm_ioctls::Cap::SyncRegs) {
        return Err(DirectRunError::NoSyncRegs);
    }
    timeline.mark("KVM ready");
    vm.add_memory(config.mem_mib)?;
    timeline.mark("memory mapped");
    let mem_end = vm.memory_size();
    direct::write_machine(&vm.memory, mem_end)?;
    let layout = direct::load(
        &vm.memory,
        mem_end,
        &program,
        &config.args,
        &config.env,
        random_bytes(),
    )?;
    timeline.mark("ELF loaded");
    let mut vcpu = vcpu::create_bare(&vm.kvm, &vm.fd, 0, 1)?;
    direct::set_cpu(&vcpu, &layout)?;
    vcpu.set_sync_valid_reg(SyncReg::Register);
    vcpu.set_sync_valid_reg(SyncReg::SystemRegister);
    let mut kernel = Kernel::new(
        config.files.clone(),
        layout.brk_start,
        layout.mmap_top,
        mem_end,
        config.trace_syscalls,
    );
    let stop = Stopper::for_this_thread();
    if let Some(limit) = config.timeout {
        stop.stop_after(limit);
    }
    timeline.mark("first KVM_RUN");
    let result = run_vcpu(&mut vcpu, &vm.memory, &mut kernel, &stop, config.timeout);
    let ended = crate::timeline::monotonic_ns();
    stop.finished();
    if let Some(ready) = kernel.ready_ns {
        timeline.mark_at("workload READY", ready);
    }
    timeline.mark_at("exit", ended);
    let memory = memory_use::measure(&vm.memory);
    *memory_at_end = Some(memory);
    let code = result?;
    Ok((code, layout, memory, kernel.calls))
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    // SAFETY: the pointer and length describe `bytes`.
    let _ = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    bytes
}

fn run_vcpu(
    vcpu: &mut VcpuFd,
    memory: &GuestMemoryMmap,
    kernel: &mut Kernel,
    stop: &Stopper,
    timeout: Option<Duration>,
) -> Result<i32, DirectRunError> {
    loop {
        let port = match vcpu.run() {
            Ok(VcpuExit::IoOut(port, _)) => port,
            Ok(VcpuExit::IoIn(_, data)) => {
                data.fill(0xff);
                continue;
            }
            Ok(VcpuExit::Shutdown) => return Err(DirectRunError::Shutdown),
            Ok(other) => return Err(DirectRunError::UnexpectedExit(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR => match stop.reason() {
                Some(StopReason::Timeout) => {
                    return Err(DirectRunError::Timeout(timeout.map_or(0, |t| t.as_secs())));
                }
                _ => continue,
            },
            Err(e) if e.errno() == libc::EAGAIN => continue,
            Err(e) => return Err(DirectRunError::KvmRun(e)),
        };
        if port == SYSCALL_PORT {
            if let Next::Exit(code) = system_call(vcpu, memory, kernel) {
                return Ok(code & 0xff);
            }
            // A system call that blocked in the VMM (a sleep, an accept) was
            // interrupted by the stopper's kick, not KVM_RUN: look at why here.
            if stop.reason() == Some(StopReason::Timeout) {
                return Err(DirectRunError::Timeout(timeout.map_or(0, |t| t.as_secs())));
            }
        } else if (FAULT_PORT_BASE..FAULT_PORT_BASE + 32).contains(&port) {
            return Err(crash(vcpu, memory, (port - FAULT_PORT_BASE) as u8));
        }
    }
}

/// One system call: the registers are in the run page already; serve the call,
/// then return to CPL3 as `sysret` would (RIP from RCX, RFLAGS from R11).
///
/// Loading the system registers back is the expensive part of the round trip,
/// so it happens only when they changed: a new FS base (arch_prctl), or CS and
/// SS to put back to user level. On nested PVM they never left user level (the
/// stub runs with the program's CS), so most calls skip it.
fn system_call(vcpu: &mut VcpuFd, memory: &GuestMemoryMmap, kernel: &mut Kernel) -> Next {
    let synced = vcpu.sync_regs_mut();
    let (mut regs, before) = (synced.regs, synced.sregs);
    let mut sregs = before;
    let next = kernel.serve(memory, &mut regs, &mut sregs);
    regs.rip = regs.rcx;
    regs.rflags = regs.r11;
    direct::set_user_segments(&mut sregs);
    let changed = sregs.fs.base != before.fs.base
        || sregs.cs.selector != before.cs.selector
        || sregs.ss.selector != before.ss.selector
        || sregs.cs.dpl != before.cs.dpl;
    let synced = vcpu.sync_regs_mut();
    synced.regs = regs;
    if changed {
        synced.sregs = sregs;
        vcpu.set_sync_dirty_reg(SyncReg::SystemRegister);
    }
    vcpu.set_sync_dirty_reg(SyncReg::Register);
    next
}

/// The exception names of the x86 manual, for the crash report.
fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating-point error",
        17 => "alignment check",
        19 => "SIMD floating-point exception",
        _ => "exception",
    }
}

/// The signal Linux sends for each exception.
fn signal_of(vector: u8) -> u8 {
    match vector {
        0 | 16 | 19 => 8, // SIGFPE
        1 | 3 => 5,       // SIGTRAP
        6 => 4,           // SIGILL
        17 => 7,          // SIGBUS
        _ => 11,          // SIGSEGV
    }
}

/// Reads where the exception happened from the frame the CPU pushed on the
/// kernel stack: RIP, after the error code for the vectors that have one. With
/// `MICROVM_DEBUG` set in the environment, the whole frame is printed too.
///
/// The fault ports are open to the program too (on nested PVM the stubs run at
/// user level, so the I/O bitmap must let user code reach them), and the stub
/// page is readable and executable by it. So a report is believed only if all
/// of this holds, which only a real exception from the program makes true: the
/// exit came from inside that vector's stub, the stack is the kernel stack with
/// exactly one frame on it, and the frame's CS and SS are the program's. The
/// kernel stack is read-only to the program, so it cannot write a frame there.
fn crash(vcpu: &VcpuFd, memory: &GuestMemoryMmap, vector: u8) -> DirectRunError {
    let synced = vcpu.sync_regs();
    let has_error_code = matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30);
    let words = 5 + u64::from(has_error_code);
    let frame = synced.regs.rsp;
    let word = |i: u64| -> Option<u64> {
        let at = frame.checked_add(i.checked_mul(8)?)?;
        memory.read_obj(GuestAddress(at)).ok()
    };
    let at = u64::from(has_error_code);
    let stub = direct::FAULT_STUBS + u64::from(vector) * direct::FAULT_STUB_SIZE;
    let from_stub = (stub..stub + direct::FAULT_STUB_SIZE).contains(&synced.regs.rip);
    let one_frame = frame == direct::KERNEL_STACK_TOP - words * 8;
    let pushed_by_cpu = word(at + 1) == Some(u64::from(direct::USER_CS))
        && word(at + 4) == Some(u64::from(direct::USER_DS));
    if !(from_stub && one_frame && pushed_by_cpu) {
        return DirectRunError::NotAFault {
            port: direct::FAULT_PORT_BASE + u16::from(vector),
            rip: synced.regs.rip,
        };
    }
    let rip = word(at).unwrap_or_default();
    if std::env::var_os("MICROVM_DEBUG").is_some() {
        let w = |i| word(i).unwrap_or_default();
        eprintln!(
            "microvm: exception frame: error {:#x} rip {:#x} cs {:#x} rflags {:#x} rsp {:#x} ss {:#x}; cpl cs {:#x}",
            if has_error_code { w(0) } else { 0 },
            rip,
            w(at + 1),
            w(at + 2),
            w(at + 3),
            w(at + 4),
            synced.sregs.cs.selector
        );
    }
    let detail = match vector {
        14 => format!(
            ", reading or writing address {:#x}{}",
            synced.sregs.cr2,
            if synced.sregs.cr2 < direct::USER_START {
                " (not user memory)"
            } else if synced.sregs.cr2 >= memory.last_addr().0 {
                " (beyond guest memory)"
            } else {
                ""
            }
        ),
        _ => String::new(),
    };
    DirectRunError::Crash {
        vector,
        name: exception_name(vector),
        rip,
        detail,
    }
}
