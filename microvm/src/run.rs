//! One life of a VM, the same for every kind of guest: open /dev/kvm, map the
//! guest's memory, load the guest, run its vCPU until it ends, measure what it
//! cost. What differs between a Linux kernel ([`crate::linux`]) and a static
//! program with no kernel ([`crate::program`]) is behind two traits: a
//! [`Guest`] says how it is loaded, and once loaded, [`Loaded`] says what each
//! of its exits means.
//!
//! The vCPU runs on this thread. `KVM_RUN` returns to us at each exit (a port
//! or MMIO access, a shutdown); the loop hands the exit to the guest and enters
//! the guest again. To stop a guest that never exits by itself (`--timeout`,
//! or Ctrl-A x at the console), another thread sends this one a signal: the
//! signal makes `KVM_RUN` return early with EINTR ([`crate::stop`]).

use std::time::Duration;

use kvm_ioctls::{VcpuExit, VcpuFd};
use serde::{Deserialize, Serialize};

use crate::linux::LinuxError;
use crate::memory_use::{self, MemoryUse};
use crate::program::ProgramError;
use crate::stop::{StopReason, Stopper};
use crate::timeline::{Timeline, phase};
use crate::vcpu::VcpuError;
use crate::vm::{Vm, VmError};

/// What every VM is given, whatever runs in it.
#[derive(Debug, Clone)]
pub struct Machine {
    pub mem_mib: u64,
    /// Stop the guest after this long.
    pub timeout: Option<Duration>,
}

/// A kind of guest: how it is checked, and loaded into a new VM.
pub trait Guest {
    /// The guest once loaded: what answers its exits.
    type Loaded: Loaded;

    /// What the guest is called in messages: "guest", "program".
    const NOUN: &'static str;

    /// What can be checked, and read, before a VM exists (the files, this host).
    fn check(&mut self) -> Result<(), RunError> {
        Ok(())
    }

    /// What this guest needs of KVM, checked as soon as the VM exists.
    fn check_kvm(&self, _vm: &Vm) -> Result<(), RunError> {
        Ok(())
    }

    /// Hardware to add once the memory is mapped, before "memory mapped" is
    /// marked (interrupt controllers: see [`crate::linux`] for why after).
    fn add_hardware(&self, _vm: &Vm) -> Result<(), RunError> {
        Ok(())
    }

    /// Puts the guest in the VM's memory and makes its vCPU ready to enter it;
    /// marks its own loading phase on the timeline.
    fn load(
        self,
        vm: &Vm,
        timeline: &mut Timeline,
        stop: &Stopper,
    ) -> Result<(Self::Loaded, VcpuFd), RunError>;
}

/// A loaded guest: what each of its exits means, and what it reports.
pub trait Loaded {
    /// How a guest that ended well ended: a reset, or a program's exit code.
    type Ending;
    /// What the report says of this guest, besides the timeline and memory.
    type Outcome: Serialize;

    /// One exit. It borrows the vCPU's run page; what needs the vCPU's
    /// registers too answers [`Flow::Serve`] and is done in [`Loaded::serve`].
    fn exit(&mut self, exit: VcpuExit<'_>) -> Flow<Self::Ending>;

    /// The second half of an exit that asked for the registers.
    fn serve(&mut self, _vcpu: &mut VcpuFd) -> Flow<Self::Ending> {
        Flow::Resume
    }

    /// The user asked to quit (Ctrl-A x).
    fn quit(&mut self) -> Flow<Self::Ending> {
        Flow::Resume
    }

    /// After the last exit: the guest's own marks, if it made any.
    fn ended(&mut self, _timeline: &mut Timeline) {}

    /// What to report, once it ended well.
    fn outcome(self, ending: Self::Ending) -> Self::Outcome;
}

/// What the loop does after an exit.
pub enum Flow<E> {
    /// Enter the guest again.
    Resume,
    /// Call [`Loaded::serve`] with the vCPU, then decide.
    Serve,
    /// The guest ended well.
    End(E),
    /// The guest, or the VM, failed.
    Fail(RunError),
}

/// Why a VM failed. A guest's own failures are in its kind's error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Vcpu(#[from] VcpuError),
    #[error(transparent)]
    Linux(#[from] LinuxError),
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error("the {noun} did not finish within --timeout {seconds} s; stopped it")]
    Timeout { noun: &'static str, seconds: u64 },
    #[error("KVM_RUN failed: {0}")]
    KvmRun(kvm_ioctls::Error),
    #[error("unexpected VM exit: {0}")]
    UnexpectedExit(String),
}

impl RunError {
    /// The process exit code: 124 for a timeout (as timeout(1)); for a program
    /// that crashed, 128 + the signal Linux would have sent; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Timeout { .. } => 124,
            RunError::Program(e) => e.exit_code(),
            _ => 1,
        }
    }
}

/// What a run that worked reports: the guest's outcome, when each phase
/// ended, and what the VM cost in memory at the end.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report<O> {
    #[serde(flatten)]
    pub guest: O,
    pub timeline: Timeline,
    pub memory: MemoryUse,
}

/// A run that failed still has a timeline up to the failure, and, if the VM
/// got to run, what it held in memory when it was stopped (at --timeout, say).
#[derive(Debug)]
pub struct Failed {
    pub error: RunError,
    pub timeline: Timeline,
    pub memory: Option<MemoryUse>,
}

/// A failed run as `--json` prints it: the error's message, the timeline up
/// to it, and the memory the VM held when it ended, if it got that far.
#[derive(Debug, Serialize, Deserialize)]
pub struct FailedReport {
    pub error: String,
    pub timeline: Timeline,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryUse>,
}

impl From<Failed> for FailedReport {
    fn from(failed: Failed) -> Self {
        FailedReport {
            error: failed.error.to_string(),
            timeline: failed.timeline,
            memory: failed.memory,
        }
    }
}

/// What `microvm run --timeline --json` prints as its last line: `{"microvm":
/// ...}`, the report of a run that failed or of one that worked. Readers (the
/// labs) parse it with this same type.
#[derive(Debug, Serialize, Deserialize)]
pub struct JsonLine<O> {
    pub microvm: Printed<O>,
}

/// One run's report, either way. A failed one is told by its `error`, so it
/// is tried first.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Printed<O> {
    Failed(FailedReport),
    Ran(Report<O>),
}

impl<O> Printed<O> {
    pub fn timeline(&self) -> &Timeline {
        match self {
            Printed::Failed(f) => &f.timeline,
            Printed::Ran(r) => &r.timeline,
        }
    }

    /// What the VM held at its end; a run that failed before the VM ran has
    /// none.
    pub fn memory(&self) -> Option<&MemoryUse> {
        match self {
            Printed::Failed(f) => f.memory.as_ref(),
            Printed::Ran(r) => Some(&r.memory),
        }
    }
}

/// Runs `guest` in a new VM until it ends.
pub fn run<G: Guest>(
    guest: G,
    machine: &Machine,
    mut timeline: Timeline,
) -> Result<Report<<G::Loaded as Loaded>::Outcome>, Box<Failed>> {
    let mut memory = None;
    match life(guest, machine, &mut timeline, &mut memory) {
        Ok(outcome) => Ok(Report {
            guest: outcome,
            timeline,
            memory: memory.unwrap_or_default(),
        }),
        Err(error) => {
            if !timeline.phases.iter().any(|p| p.name == phase::EXIT) {
                timeline.mark(phase::EXIT);
            }
            Err(Box::new(Failed {
                error,
                timeline,
                memory,
            }))
        }
    }
}

fn life<G: Guest>(
    mut guest: G,
    machine: &Machine,
    timeline: &mut Timeline,
    memory_at_end: &mut Option<MemoryUse>,
) -> Result<<G::Loaded as Loaded>::Outcome, RunError> {
    guest.check()?;
    let mut vm = Vm::create()?;
    guest.check_kvm(&vm)?;
    timeline.mark(phase::KVM_READY);
    vm.add_memory(machine.mem_mib)?;
    guest.add_hardware(&vm)?;
    timeline.mark(phase::MEMORY_MAPPED);
    let stop = Stopper::for_this_thread();
    let (mut loaded, mut vcpu) = guest.load(&vm, timeline, &stop)?;
    if let Some(limit) = machine.timeout {
        stop.stop_after(limit);
    }
    timeline.mark(phase::FIRST_KVM_RUN);
    let timeout = Timeout {
        noun: G::NOUN,
        seconds: machine.timeout.map_or(0, |t| t.as_secs()),
    };
    let ending = run_vcpu(&mut vcpu, &mut loaded, &stop, timeout);
    // The VM's end is the last exit; tearing the VM down comes after, the
    // vCPU first.
    let ended_at = crate::timeline::monotonic_ns();
    stop.finished();
    drop(vcpu);
    loaded.ended(timeline);
    timeline.mark_at(phase::EXIT, ended_at);
    *memory_at_end = Some(memory_use::measure(&vm.memory));
    Ok(loaded.outcome(ending?))
}

/// What a timeout is reported as.
#[derive(Clone, Copy)]
struct Timeout {
    noun: &'static str,
    seconds: u64,
}

/// The vCPU loop: `KVM_RUN`, hand the exit to the guest, again.
fn run_vcpu<L: Loaded>(
    vcpu: &mut VcpuFd,
    guest: &mut L,
    stop: &Stopper,
    timeout: Timeout,
) -> Result<L::Ending, RunError> {
    loop {
        let flow = match vcpu.run() {
            Ok(exit) => guest.exit(exit),
            // Interrupted by the stopper's signal: why is read below.
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Flow::Resume,
            Err(e) => Flow::Fail(RunError::KvmRun(e)),
        };
        let flow = match flow {
            Flow::Serve => guest.serve(vcpu),
            other => other,
        };
        match flow {
            Flow::Resume | Flow::Serve => {}
            Flow::End(ending) => return Ok(ending),
            Flow::Fail(error) => return Err(error),
        }
        // Looked at after every exit, not only after EINTR: an exit the VMM
        // served slowly (a guest's sleep, an accept) was cut short by the
        // stopper's kick, not KVM_RUN.
        match stop.reason() {
            Some(StopReason::Timeout) => {
                return Err(RunError::Timeout {
                    noun: timeout.noun,
                    seconds: timeout.seconds,
                });
            }
            Some(StopReason::Quit) => match guest.quit() {
                Flow::End(ending) => return Ok(ending),
                Flow::Fail(error) => return Err(error),
                Flow::Resume | Flow::Serve => {}
            },
            None => {}
        }
    }
}
