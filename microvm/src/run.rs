//! `microvm run --kernel`: the whole life of a Linux VM, from opening
//! /dev/kvm to the guest's reset, with the timeline of each phase.
//!
//! The vCPU runs on this thread. `KVM_RUN` returns to us at each exit (a port
//! or MMIO access, a shutdown); the loop hands the access to a device and
//! enters the guest again. To stop a guest that never exits by itself
//! (`--timeout`, or Ctrl-A x at the console), another thread sends this one a
//! signal: the signal makes `KVM_RUN` return early with EINTR.

use std::path::PathBuf;
use std::time::Duration;

use kvm_ioctls::{VcpuExit, VcpuFd};
use serde::Serialize;
use vmm_sys_util::eventfd::EventFd;

use crate::boot::linux::{self, BootError, BootLayout, LinuxBootConfig};
use crate::devices::serial::{RawTerminal, SerialConsole};
use crate::devices::{DeviceError, Devices, Outcome};
use crate::host::{self, Virtualisation};
use crate::layout::SERIAL_IRQ;
use crate::memory_use::{self, MemoryUse};
use crate::stop::{StopReason, Stopper};
use crate::timeline::Timeline;
use crate::vcpu::{self, VcpuError};
use crate::vm::{Vm, VmError};

/// Where the guest's serial output goes.
#[derive(Debug, Clone)]
pub enum Console {
    Stdio,
    File(PathBuf),
    None,
}

/// Everything `microvm run --kernel` was asked.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub mem_mib: u64,
    pub vcpus: u8,
    pub console: Console,
    pub timeout: Option<Duration>,
}

/// Why a VM failed. The guest's own faults are errors too: a VM that did not
/// end by asking for a reset did not finish its work.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Vcpu(#[from] VcpuError),
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error(transparent)]
    Devices(#[from] DeviceError),
    #[error(
        "--vcpus {0}: more than one vCPU needs an MP table, which microvm does not write yet; use --vcpus 1"
    )]
    VcpuCount(u8),
    #[error(
        "{0} is a stock Linux kernel, and this host's KVM is nested PVM: its ring-0 code would run in KVM's instruction emulator, which fails on it. To boot it, use a host with {LINUX_NEEDS}. Here, run a static program with --elf instead; `microvm doctor` says what this host can run",
        LINUX_NEEDS = crate::host::LINUX_NEEDS
    )]
    LinuxOnPvm(PathBuf),
    #[error("cannot open the console file {path}: {source}")]
    Console {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect the serial port's interrupt (KVM_IRQFD): {0}")]
    Irqfd(kvm_ioctls::Error),
    #[error(
        "the guest shut down: a triple fault (an exception with no handler that works), or a shutdown command; the VM cannot continue"
    )]
    Shutdown,
    #[error(
        "KVM could not run the guest (KVM_EXIT_INTERNAL_ERROR): an instruction it had to emulate failed{hint}"
    )]
    Internal { hint: &'static str },
    #[error(
        "KVM refused to enter the guest (KVM_EXIT_FAIL_ENTRY, reason {0:#x}): the vCPU state is invalid"
    )]
    FailEntry(u64),
    #[error("the guest halted (HLT) with nothing to wake it")]
    Halted,
    #[error("the guest did not finish within --timeout {0} s; stopped it")]
    Timeout(u64),
    #[error("KVM_RUN failed: {0}")]
    KvmRun(kvm_ioctls::Error),
    #[error("unexpected VM exit: {0}")]
    UnexpectedExit(String),
}

impl RunError {
    /// The process exit code: 124 for a timeout (as timeout(1)), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Timeout(_) => 124,
            _ => 1,
        }
    }
}

/// How a VM that worked ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ending {
    /// The guest reset the machine through the i8042: the normal end.
    Reset,
    /// The user typed Ctrl-A x.
    Quit,
}

/// What a run reports: how it ended, the timeline, where things went, memory.
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub ending: Ending,
    pub timeline: Timeline,
    pub boot: BootLayout,
    pub memory: MemoryUse,
    /// Accesses to ports and addresses with no device, and how many places.
    pub unknown_accesses: u64,
    pub unknown_places: usize,
}

/// A run that failed still has a timeline up to the failure.
pub struct Failed {
    pub error: RunError,
    pub timeline: Timeline,
}

/// Boots the kernel and runs the VM until it ends.
pub fn run_linux(config: &RunConfig, mut timeline: Timeline) -> Result<RunReport, Box<Failed>> {
    match boot_and_run(config, &mut timeline) {
        Ok((ending, boot, memory, unknown)) => Ok(RunReport {
            ending,
            timeline,
            boot,
            memory,
            unknown_accesses: unknown.0,
            unknown_places: unknown.1,
        }),
        Err(error) => {
            if !timeline.phases.iter().any(|p| p.name == "exit") {
                timeline.mark("exit");
            }
            Err(Box::new(Failed { error, timeline }))
        }
    }
}

type Outcomes = (Ending, BootLayout, MemoryUse, (u64, usize));

fn boot_and_run(config: &RunConfig, timeline: &mut Timeline) -> Result<Outcomes, RunError> {
    if config.vcpus != 1 {
        return Err(RunError::VcpuCount(config.vcpus));
    }
    let linux_kernel = linux::is_linux_kernel(&config.kernel)?;
    if linux_kernel && host::virtualisation() == Virtualisation::NestedPvm {
        return Err(RunError::LinuxOnPvm(config.kernel.clone()));
    }
    let mut vm = Vm::create()?;
    timeline.mark("KVM ready");
    // Memory before the interrupt controllers: once an irqchip exists, every
    // memory-slot change waits for an (expedited) SRCU grace period, which we
    // measured at 7 ms on a nested-PVM host against 0.1 ms in this order.
    vm.add_memory(config.mem_mib)?;
    vm.add_interrupt_hardware()?;
    timeline.mark("memory mapped");
    let boot = LinuxBootConfig {
        kernel: &config.kernel,
        initrd: config.initrd.as_deref(),
        cmdline: &config.cmdline,
    };
    let (entry, layout) = linux::load(&vm.memory, &boot)?;
    timeline.mark("kernel and initrd loaded");
    let vcpu = vcpu::create(&vm.kvm, &vm.fd, 0, 1)?;
    vcpu::set_entry(&vcpu, &vm.memory, entry)?;
    let mut devices = make_devices(&vm, &config.console)?;
    let stop = Stopper::for_this_thread();
    // Keys from stdin reach the guest's serial port; a terminal is put in raw
    // mode first, so they arrive one by one, Ctrl-C included.
    let _raw_terminal = match config.console {
        Console::Stdio => {
            let raw = RawTerminal::enter();
            let stopper = stop.clone();
            devices
                .serial
                .forward_stdin(move || stopper.stop(StopReason::Quit));
            raw
        }
        _ => None,
    };
    if let Some(limit) = config.timeout {
        stop.stop_after(limit);
    }
    let ending = run_vcpu(vcpu, &mut devices, timeline, &stop, config.timeout);
    let ended_at = crate::timeline::monotonic_ns();
    stop.finished();
    for mark in &devices.boot_timer.marks {
        timeline.mark_at("boot-timer mark", *mark);
    }
    // The VM's end is the last exit; tearing the VM down comes after.
    timeline.mark_at("exit", ended_at);
    let ending = ending?;
    let memory = memory_use::measure(&vm.memory);
    Ok((ending, layout, memory, devices.unknown_accesses()))
}

fn make_devices(vm: &Vm, console: &Console) -> Result<Devices, RunError> {
    let interrupt = EventFd::new(libc::EFD_NONBLOCK).map_err(|source| DeviceError::EventFd {
        what: "the serial interrupt",
        source,
    })?;
    vm.fd
        .register_irqfd(&interrupt, SERIAL_IRQ)
        .map_err(RunError::Irqfd)?;
    let out: Box<dyn std::io::Write + Send> = match console {
        Console::Stdio => Box::new(std::io::stdout()),
        Console::File(path) => {
            Box::new(
                std::fs::File::create(path).map_err(|source| RunError::Console {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        Console::None => Box::new(std::io::sink()),
    };
    Ok(Devices::new(SerialConsole::new(interrupt, out))?)
}

fn run_vcpu(
    mut vcpu: VcpuFd,
    devices: &mut Devices,
    timeline: &mut Timeline,
    stop: &Stopper,
    timeout: Option<Duration>,
) -> Result<Ending, RunError> {
    timeline.mark("first KVM_RUN");
    loop {
        match vcpu.run() {
            Ok(VcpuExit::IoOut(port, data)) => {
                if devices.io_out(port, data) == Outcome::Reset {
                    return Ok(Ending::Reset);
                }
            }
            Ok(VcpuExit::IoIn(port, data)) => devices.io_in(port, data),
            Ok(VcpuExit::MmioWrite(addr, data)) => devices.mmio_write(addr, data),
            Ok(VcpuExit::MmioRead(addr, data)) => devices.mmio_read(addr, data),
            Ok(VcpuExit::Shutdown) => return Err(RunError::Shutdown),
            Ok(VcpuExit::Hlt) => return Err(RunError::Halted),
            Ok(VcpuExit::FailEntry(reason, _)) => return Err(RunError::FailEntry(reason)),
            Ok(VcpuExit::InternalError) => {
                return Err(RunError::Internal {
                    hint: if host::virtualisation() == Virtualisation::NestedPvm {
                        " (this host is nested PVM, whose emulator handles few kernel-mode instructions)"
                    } else {
                        ""
                    },
                });
            }
            Ok(other) => return Err(RunError::UnexpectedExit(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR => match stop.reason() {
                Some(StopReason::Timeout) => {
                    return Err(RunError::Timeout(timeout.map_or(0, |t| t.as_secs())));
                }
                Some(StopReason::Quit) => return Ok(Ending::Quit),
                None => {}
            },
            Err(e) if e.errno() == libc::EAGAIN => {}
            Err(e) => return Err(RunError::KvmRun(e)),
        }
    }
}
