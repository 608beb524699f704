//! The serial console: a 16550 UART at port 0x3f8 (COM1) on IRQ 4, from
//! vm-superio, the same device model Firecracker uses.
//!
//! Output goes where `--console` says. Input comes from this terminal, which is
//! put in raw mode, so that keys reach the guest one by one (Ctrl-C included);
//! Ctrl-A then `x` quits, as in QEMU. The UART raises its interrupt by writing
//! an eventfd that KVM turns into IRQ 4 (an irqfd), without a trip through
//! this process.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

use nix::sys::termios::{self, SetArg, Termios};
use vm_superio::serial::NoEvents;
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

/// An eventfd as vm-superio's interrupt or reset line.
pub struct EventFdTrigger(pub EventFd);

impl Trigger for EventFdTrigger {
    type E = io::Error;

    fn trigger(&self) -> io::Result<()> {
        self.0.write(1)
    }
}

type Uart = Serial<EventFdTrigger, NoEvents, Box<dyn Write + Send>>;

/// The first key of the quit sequence (Ctrl-A), then `x`.
const ESCAPE: u8 = 0x01;

/// The UART, shared between the vCPU loop and the thread that reads input.
pub struct SerialConsole {
    uart: Arc<Mutex<Uart>>,
}

impl SerialConsole {
    /// A UART that raises `interrupt` and writes to `out`.
    pub fn new(interrupt: EventFd, out: Box<dyn Write + Send>) -> Self {
        SerialConsole {
            uart: Arc::new(Mutex::new(Serial::new(EventFdTrigger(interrupt), out))),
        }
    }

    pub fn write(&self, offset: u8, value: u8) {
        // A write error (a closed stdout) loses console output, never the guest.
        let _ = self.lock().write(offset, value);
    }

    pub fn read(&self, offset: u8) -> u8 {
        self.lock().read(offset)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Uart> {
        // A thread that panicked holding the lock left a usable UART behind.
        self.uart.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds this terminal's keys to the guest, on a thread of its own, until
    /// stdin ends or the user types Ctrl-A x; then calls `quit`.
    pub fn forward_stdin(&self, quit: impl Fn() + Send + 'static) {
        let uart = Arc::clone(&self.uart);
        std::thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut buf = [0u8; 64];
            let mut escaped = false;
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut keys = Vec::with_capacity(n);
                let mut quitting = false;
                for &key in &buf[..n] {
                    match (escaped, key) {
                        (true, b'x') => {
                            quitting = true;
                            break;
                        }
                        (true, _) => {
                            escaped = false;
                            keys.push(key);
                        }
                        (false, ESCAPE) => escaped = true,
                        (false, _) => keys.push(key),
                    }
                }
                {
                    let mut uart = uart.lock().unwrap_or_else(|e| e.into_inner());
                    // A full FIFO drops keys, as a real UART would.
                    let _ = uart.enqueue_raw_bytes(&keys);
                }
                if quitting {
                    quit();
                    return;
                }
            }
        });
    }
}

/// This terminal in raw mode, restored on drop, and also if microvm is killed
/// by a signal (a terminal left raw would be unusable).
pub struct RawTerminal {
    saved: Termios,
}

/// The settings to restore, for the signal handler, which can only read a
/// static. Set once, before the handler is installed.
static SAVED_TERMINAL: std::sync::OnceLock<libc::termios> = std::sync::OnceLock::new();

/// Restores the terminal, then dies of the same signal as if not caught.
extern "C" fn restore_terminal_and_die(signal: libc::c_int) {
    if let Some(saved) = SAVED_TERMINAL.get() {
        // SAFETY: tcsetattr, signal and raise are async-signal-safe; `saved`
        // is a fully initialised termios that is never written again.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
        }
    }
    // SAFETY: as above.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

impl RawTerminal {
    /// Raw mode if stdin is a terminal; `None` otherwise (a pipe or a file).
    pub fn enter() -> Option<Self> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        // Keep output processing, so the guest's "\n" still starts a new line.
        raw.output_flags = saved.output_flags;
        if SAVED_TERMINAL.set(saved.clone().into()).is_ok() {
            for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGINT] {
                // SAFETY: the handler only calls async-signal-safe functions.
                unsafe {
                    libc::signal(
                        signal,
                        restore_terminal_and_die as *const () as libc::sighandler_t,
                    )
                };
            }
        }
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
