//! The devices a guest can reach: a 16550 serial port, the i8042 keyboard
//! controller (only for its reset line), and a boot timer. Everything else is
//! "nothing there": reads return all ones, as on a real bus with no device, and
//! writes are dropped. Both are logged, so that a guest's probing is visible.
//!
//! A guest reaches a device in one of two ways, and each traps to this process:
//! - port I/O (`in`/`out` instructions): a `KVM_EXIT_IO`;
//! - memory-mapped I/O, a load or store to a guest physical address with no
//!   RAM behind it: a `KVM_EXIT_MMIO`.

pub mod boot_timer;
pub mod serial;

use std::collections::BTreeMap;

use vm_superio::I8042Device;
use vmm_sys_util::eventfd::EventFd;

use self::boot_timer::BootTimer;
use self::serial::{EventFdTrigger, SerialConsole};
use crate::layout::{BOOT_TIMER_ADDR, I8042_PORT_BASE, SERIAL_PORT_BASE};

/// What can go wrong while making the devices.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("cannot make an eventfd for {what}: {source}")]
    EventFd {
        what: &'static str,
        source: std::io::Error,
    },
}

/// Most distinct unknown ports or addresses logged; a hostile guest could
/// otherwise fill the terminal.
const MAX_LOGGED_UNKNOWN: usize = 16;

/// What the vCPU loop should do after an access.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// The guest asked for a reset (i8042 command 0xFE): the VM ends.
    Reset,
}

/// All the devices of one VM.
pub struct Devices {
    pub serial: SerialConsole,
    i8042: I8042Device<EventFdTrigger>,
    reset: EventFd,
    pub boot_timer: BootTimer,
    unknown: UnknownAccesses,
}

impl Devices {
    pub fn new(serial: SerialConsole) -> Result<Self, DeviceError> {
        let reset = EventFd::new(libc::EFD_NONBLOCK).map_err(|source| DeviceError::EventFd {
            what: "the i8042 reset line",
            source,
        })?;
        let trigger = reset.try_clone().map_err(|source| DeviceError::EventFd {
            what: "the i8042 reset line",
            source,
        })?;
        Ok(Devices {
            serial,
            i8042: I8042Device::new(EventFdTrigger(trigger)),
            reset,
            boot_timer: BootTimer::default(),
            unknown: UnknownAccesses::default(),
        })
    }

    /// A guest `out` to `port`.
    pub fn io_out(&mut self, port: u16, data: &[u8]) -> Outcome {
        match (port, data) {
            (p, [value]) if (SERIAL_PORT_BASE..SERIAL_PORT_BASE + 8).contains(&p) => {
                self.serial.write((p - SERIAL_PORT_BASE) as u8, *value);
            }
            (p, [value]) if p == I8042_PORT_BASE || p == I8042_PORT_BASE + 4 => {
                let _ = self.i8042.write((p - I8042_PORT_BASE) as u8, *value);
                if self.reset.read().is_ok() {
                    return Outcome::Reset;
                }
            }
            _ => self
                .unknown
                .record("port write", u64::from(port), &format!("{data:02x?}")),
        }
        Outcome::Continue
    }

    /// A guest `in` from `port`.
    pub fn io_in(&mut self, port: u16, data: &mut [u8]) {
        match (port, data.len()) {
            (p, 1) if (SERIAL_PORT_BASE..SERIAL_PORT_BASE + 8).contains(&p) => {
                data[0] = self.serial.read((p - SERIAL_PORT_BASE) as u8);
            }
            (p, 1) if p == I8042_PORT_BASE || p == I8042_PORT_BASE + 4 => {
                data[0] = self.i8042.read((p - I8042_PORT_BASE) as u8);
            }
            _ => {
                data.fill(0xff);
                let size = format!("({} bytes)", data.len());
                self.unknown.record("port read", u64::from(port), &size);
            }
        }
    }

    /// A guest store to `addr`, where no RAM is.
    pub fn mmio_write(&mut self, addr: u64, data: &[u8]) {
        if addr == BOOT_TIMER_ADDR {
            self.boot_timer.write(data);
        } else {
            self.unknown
                .record("MMIO write", addr, &format!("{data:02x?}"));
        }
    }

    /// A guest load from `addr`, where no RAM is.
    pub fn mmio_read(&mut self, addr: u64, data: &mut [u8]) {
        data.fill(0xff);
        let size = format!("({} bytes)", data.len());
        self.unknown.record("MMIO read", addr, &size);
    }

    /// How many accesses went to no device, and to how many distinct places.
    pub fn unknown_accesses(&self) -> (u64, usize) {
        (self.unknown.total, self.unknown.seen.len())
    }
}

/// Accesses to ports and addresses where no device is.
#[derive(Default)]
struct UnknownAccesses {
    seen: BTreeMap<(&'static str, u64), u64>,
    total: u64,
}

impl UnknownAccesses {
    fn record(&mut self, kind: &'static str, at: u64, what: &str) {
        self.total += 1;
        let count = self.seen.entry((kind, at)).or_insert(0);
        *count += 1;
        if *count > 1 {
            return;
        }
        match self.seen.len() {
            n if n <= MAX_LOGGED_UNKNOWN => {
                eprintln!("microvm: guest {kind} at {at:#x} {what}: no device there, ignored")
            }
            n if n == MAX_LOGGED_UNKNOWN + 1 => {
                eprintln!("microvm: more accesses to absent devices follow; not logged")
            }
            _ => {}
        }
    }
}
