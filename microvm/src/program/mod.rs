//! The program guest (`microvm run --elf`): a static Linux program in a VM with
//! no guest kernel. Its code runs at CPL3 inside the VM, on a small machine of
//! the VMM's making ([`machine`]); each system call exits to this process,
//! which serves it ([`syscalls`]) and resumes the program where `sysret` would
//! have. An exception ends it as Linux would end it ([`crash`]).
//!
//! The registers travel through KVM's shared run page (KVM_CAP_SYNC_REGS):
//! after an exit they are already there to read, and marked dirty they are
//! loaded on the next KVM_RUN, so a system call costs one exit and no extra
//! ioctls.

pub mod crash;
pub mod elf;
pub mod machine;
pub mod syscalls;

use std::path::PathBuf;

use kvm_ioctls::{SyncReg, VcpuExit, VcpuFd};
use serde::{Deserialize, Serialize};
use vm_memory::GuestMemoryMmap;

use self::elf::{ElfError, Program};
use self::machine::{FAULT_PORT_BASE, MachineError, ProgramLayout, SYSCALL_PORT};
use self::syscalls::{Grant, Kernel, Next};
use crate::run::{self, Flow, Guest, Loaded, Machine, Report, RunError};
use crate::stop::Stopper;
use crate::timeline::{Timeline, phase};
use crate::vcpu;
use crate::vm::Vm;

/// Everything `microvm run --elf` was asked, besides the machine.
#[derive(Debug, Clone)]
pub struct ProgramConfig {
    pub program: PathBuf,
    /// argv, argv[0] first.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub files: Vec<Grant>,
    pub trace_syscalls: bool,
}

/// Why a program guest failed.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error(transparent)]
    Elf(#[from] ElfError),
    #[error(transparent)]
    Load(#[from] MachineError),
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
}

impl ProgramError {
    /// 128 + the signal Linux would have sent, for a crash; 1 for a VMM failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            ProgramError::Crash { vector, .. } => 128 + crash::signal_of(*vector),
            ProgramError::NotAFault { .. } => 128 + 11,
            _ => 1,
        }
    }
}

/// What a program run reports of its guest: its exit code, where it was put,
/// and how many system calls the VMM served.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProgramOutcome {
    pub exit_code: i32,
    pub layout: ProgramLayout,
    pub syscalls: u64,
}

/// Runs the program until it exits.
pub fn run_program(
    config: ProgramConfig,
    machine: &Machine,
    timeline: Timeline,
) -> Result<Report<ProgramOutcome>, Box<run::Failed>> {
    run::run(ProgramGuest::from(config), machine, timeline)
}

/// A program about to be loaded: read (and checked) before the VM exists.
pub struct ProgramGuest {
    config: ProgramConfig,
    program: Option<Program>,
}

impl From<ProgramConfig> for ProgramGuest {
    fn from(config: ProgramConfig) -> Self {
        ProgramGuest {
            config,
            program: None,
        }
    }
}

impl Guest for ProgramGuest {
    type Loaded = RunningProgram;
    const NOUN: &'static str = "program";

    /// The ELF is read and checked before a VM is made for it.
    fn check(&mut self) -> Result<(), RunError> {
        let program = elf::read(&self.config.program).map_err(ProgramError::from)?;
        self.program = Some(program);
        Ok(())
    }

    /// The registers travel through the shared run page, or not at all.
    fn check_kvm(&self, vm: &Vm) -> Result<(), RunError> {
        if !vm.kvm.check_extension(kvm_ioctls::Cap::SyncRegs) {
            return Err(ProgramError::NoSyncRegs.into());
        }
        Ok(())
    }

    fn load(
        self,
        vm: &Vm,
        timeline: &mut Timeline,
        _stop: &Stopper,
    ) -> Result<(RunningProgram, VcpuFd), RunError> {
        let fail = |e: ProgramError| RunError::from(e);
        let program = match self.program {
            Some(program) => program,
            None => elf::read(&self.config.program).map_err(|e| fail(e.into()))?,
        };
        let config = self.config;
        let mem_end = vm.memory_size();
        machine::write_machine(&vm.memory, mem_end).map_err(|e| fail(e.into()))?;
        let layout = machine::load(
            &vm.memory,
            mem_end,
            &program,
            &config.args,
            &config.env,
            random_bytes(),
        )
        .map_err(|e| fail(e.into()))?;
        timeline.mark(phase::ELF_LOADED);
        let mut vcpu = vcpu::create_bare(&vm.kvm, &vm.fd, 0, 1)?;
        machine::set_cpu(&vcpu, &layout).map_err(|e| fail(e.into()))?;
        vcpu.set_sync_valid_reg(SyncReg::Register);
        vcpu.set_sync_valid_reg(SyncReg::SystemRegister);
        let kernel = Kernel::new(
            config.files,
            layout.brk_start,
            layout.mmap_top,
            mem_end,
            config.trace_syscalls,
        );
        let running = RunningProgram {
            memory: vm.memory.clone(),
            kernel,
            layout,
            port: 0,
        };
        Ok((running, vcpu))
    }
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    // SAFETY: the pointer and length describe `bytes`.
    let _ = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    bytes
}

/// A program in its VM: the little kernel that serves its calls.
pub struct RunningProgram {
    /// The VM's memory (a second handle on the same mapping).
    memory: GuestMemoryMmap,
    kernel: Kernel,
    layout: ProgramLayout,
    /// The port of the exit being served.
    port: u16,
}

impl Loaded for RunningProgram {
    type Ending = i32;
    type Outcome = ProgramOutcome;

    fn exit(&mut self, exit: VcpuExit<'_>) -> Flow<i32> {
        match exit {
            VcpuExit::IoOut(port, _) => {
                self.port = port;
                Flow::Serve
            }
            VcpuExit::IoIn(_, data) => {
                data.fill(0xff);
                Flow::Resume
            }
            VcpuExit::Shutdown => Flow::Fail(ProgramError::Shutdown.into()),
            other => Flow::Fail(RunError::UnexpectedExit(format!("{other:?}"))),
        }
    }

    fn serve(&mut self, vcpu: &mut VcpuFd) -> Flow<i32> {
        let port = self.port;
        if port == SYSCALL_PORT {
            match system_call(vcpu, &self.memory, &mut self.kernel) {
                Next::Exit(code) => Flow::End(code & 0xff),
                Next::Resume => Flow::Resume,
            }
        } else if (FAULT_PORT_BASE..FAULT_PORT_BASE + 32).contains(&port) {
            let vector = (port - FAULT_PORT_BASE) as u8;
            Flow::Fail(crash::crash(vcpu, &self.memory, vector).into())
        } else {
            Flow::Resume
        }
    }

    fn ended(&mut self, timeline: &mut Timeline) {
        if let Some(ready) = self.kernel.ready_ns {
            timeline.mark_at(phase::WORKLOAD_READY, ready);
        }
    }

    fn outcome(self, exit_code: i32) -> ProgramOutcome {
        ProgramOutcome {
            exit_code,
            layout: self.layout,
            syscalls: self.kernel.calls,
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
    machine::set_user_segments(&mut sregs);
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
