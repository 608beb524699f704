//! The Linux guest (`microvm run --kernel`): a kernel, its initrd and command
//! line, booted the way the x86 boot protocol says ([`boot`]), with the PC
//! devices it talks to ([`crate::devices`]) answering its exits. An OCI image
//! becomes the initramfs it boots from with [`initramfs`].
//!
//! A VM of this kind works if it ends by asking the keyboard controller for a
//! reset: a Linux guest with `reboot=k` does that when its init exits.

pub mod boot;
pub mod initramfs;

use std::path::PathBuf;

use kvm_ioctls::{VcpuExit, VcpuFd};
use serde::{Deserialize, Serialize};
use vmm_sys_util::eventfd::EventFd;

use self::boot::{BootError, BootLayout, LinuxBootConfig};
use crate::devices::serial::{RawTerminal, SerialConsole};
use crate::devices::{DeviceError, Devices, Outcome};
use crate::host::{self, Virtualisation};
use crate::layout::SERIAL_IRQ;
use crate::run::{self, Flow, Guest, Loaded, Machine, Report, RunError};
use crate::stop::{StopReason, Stopper};
use crate::timeline::{Timeline, phase};
use crate::vcpu;
use crate::vm::Vm;

/// Where the guest's serial output goes.
#[derive(Debug, Clone)]
pub enum Console {
    Stdio,
    File(PathBuf),
    None,
}

/// Everything `microvm run --kernel` was asked, besides the machine.
#[derive(Debug, Clone)]
pub struct LinuxConfig {
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    pub cmdline: String,
    pub vcpus: u8,
    pub console: Console,
}

/// Why a Linux guest failed. Its own faults are errors too: a VM that did not
/// end by asking for a reset did not finish its work.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
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
}

/// How a Linux VM that worked ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ending {
    /// The guest reset the machine through the i8042: the normal end.
    Reset,
    /// The user typed Ctrl-A x.
    Quit,
}

/// What a Linux run reports of its guest: how it ended, where the kernel and
/// initrd went, and the accesses to ports and addresses with no device.
#[derive(Debug, Serialize, Deserialize)]
pub struct LinuxOutcome {
    pub ending: Ending,
    pub boot: BootLayout,
    pub unknown_accesses: u64,
    pub unknown_places: usize,
}

/// Boots the kernel and runs the VM until it ends.
pub fn run_linux(
    config: LinuxConfig,
    machine: &Machine,
    timeline: Timeline,
) -> Result<Report<LinuxOutcome>, Box<run::Failed>> {
    run::run(config, machine, timeline)
}

impl Guest for LinuxConfig {
    type Loaded = LinuxGuest;
    const NOUN: &'static str = "guest";

    fn check(&mut self) -> Result<(), RunError> {
        if self.vcpus != 1 {
            return Err(LinuxError::VcpuCount(self.vcpus).into());
        }
        let linux_kernel = boot::is_linux_kernel(&self.kernel).map_err(LinuxError::from)?;
        if linux_kernel && host::virtualisation() == Virtualisation::NestedPvm {
            return Err(LinuxError::LinuxOnPvm(self.kernel.clone()).into());
        }
        Ok(())
    }

    // Memory before the interrupt controllers: on a nested-PVM host the
    // memory-slot change took 7 ms after KVM_CREATE_IRQCHIP, 0.1 ms before it.
    // Why is not proven: KVM waits for an SRCU grace period at every slot
    // change, in either order; what the irqchip adds to the wait, untraced.
    fn add_hardware(&self, vm: &Vm) -> Result<(), RunError> {
        Ok(vm.add_interrupt_hardware()?)
    }

    fn load(
        self,
        vm: &Vm,
        timeline: &mut Timeline,
        stop: &Stopper,
    ) -> Result<(LinuxGuest, VcpuFd), RunError> {
        let boot = LinuxBootConfig {
            kernel: &self.kernel,
            initrd: self.initrd.as_deref(),
            cmdline: &self.cmdline,
        };
        let (entry, layout) = boot::load(&vm.memory, &boot).map_err(LinuxError::from)?;
        timeline.mark(phase::KERNEL_LOADED);
        let vcpu = vcpu::create(&vm.kvm, &vm.fd, 0, 1)?;
        vcpu::set_entry(&vcpu, &vm.memory, entry)?;
        let devices = make_devices(vm, &self.console)?;
        // Keys from stdin reach the guest's serial port; a terminal is put in
        // raw mode first, so they arrive one by one, Ctrl-C included.
        let raw_terminal = match self.console {
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
        let guest = LinuxGuest {
            devices,
            layout,
            _raw_terminal: raw_terminal,
        };
        Ok((guest, vcpu))
    }
}

fn make_devices(vm: &Vm, console: &Console) -> Result<Devices, LinuxError> {
    let interrupt = EventFd::new(libc::EFD_NONBLOCK).map_err(|source| DeviceError::EventFd {
        what: "the serial interrupt",
        source,
    })?;
    vm.fd
        .register_irqfd(&interrupt, SERIAL_IRQ)
        .map_err(LinuxError::Irqfd)?;
    let out: Box<dyn std::io::Write + Send> = match console {
        Console::Stdio => Box::new(std::io::stdout()),
        Console::File(path) => {
            Box::new(
                std::fs::File::create(path).map_err(|source| LinuxError::Console {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        Console::None => Box::new(std::io::sink()),
    };
    Ok(Devices::new(SerialConsole::new(interrupt, out))?)
}

/// A booted Linux guest: its devices answer its exits.
pub struct LinuxGuest {
    devices: Devices,
    layout: BootLayout,
    /// The terminal goes back to how it was when the guest is dropped.
    _raw_terminal: Option<RawTerminal>,
}

impl Loaded for LinuxGuest {
    type Ending = Ending;
    type Outcome = LinuxOutcome;

    fn exit(&mut self, exit: VcpuExit<'_>) -> Flow<Ending> {
        let devices = &mut self.devices;
        match exit {
            VcpuExit::IoOut(port, data) => {
                if devices.io_out(port, data) == Outcome::Reset {
                    return Flow::End(Ending::Reset);
                }
            }
            VcpuExit::IoIn(port, data) => devices.io_in(port, data),
            VcpuExit::MmioWrite(addr, data) => devices.mmio_write(addr, data),
            VcpuExit::MmioRead(addr, data) => devices.mmio_read(addr, data),
            VcpuExit::Shutdown => return fail(LinuxError::Shutdown),
            VcpuExit::Hlt => return fail(LinuxError::Halted),
            VcpuExit::FailEntry(reason, _) => return fail(LinuxError::FailEntry(reason)),
            VcpuExit::InternalError => {
                return fail(LinuxError::Internal {
                    hint: if host::virtualisation() == Virtualisation::NestedPvm {
                        " (this host is nested PVM, whose emulator handles few kernel-mode instructions)"
                    } else {
                        ""
                    },
                });
            }
            other => return Flow::Fail(RunError::UnexpectedExit(format!("{other:?}"))),
        }
        Flow::Resume
    }

    fn quit(&mut self) -> Flow<Ending> {
        Flow::End(Ending::Quit)
    }

    fn ended(&mut self, timeline: &mut Timeline) {
        for mark in &self.devices.boot_timer.marks {
            timeline.mark_at(phase::BOOT_TIMER, *mark);
        }
    }

    fn outcome(self, ending: Ending) -> LinuxOutcome {
        let (unknown_accesses, unknown_places) = self.devices.unknown_accesses();
        LinuxOutcome {
            ending,
            boot: self.layout,
            unknown_accesses,
            unknown_places,
        }
    }
}

fn fail<E>(error: LinuxError) -> Flow<E> {
    Flow::Fail(error.into())
}
