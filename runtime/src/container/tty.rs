//! `-t`: the container's terminal, relayed to ours.
//!
//! The container's program gets the slave side of a pseudo-terminal from its own
//! /dev/pts; peti holds the master. Our own terminal goes into raw mode, so every
//! key (Ctrl-C included) passes through untouched and the container's line
//! discipline turns it into a signal for the container's foreground process, as a
//! real terminal would. Window size changes (SIGWINCH) are passed on too.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

static RESIZED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    RESIZED.store(true, Ordering::Relaxed);
}

/// Puts our terminal back as it was, however the relay ends.
struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    fn enter() -> Self {
        let stdin = io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Copies the window size of our terminal to the container's.
fn copy_window_size(master: BorrowedFd) {
    // SAFETY: winsize is a plain C struct that TIOCGWINSZ fills in; TIOCSWINSZ only
    // reads it. Both calls are given a valid pointer for their duration.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(io::stdin().as_raw_fd(), libc::TIOCGWINSZ, &mut size) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size);
        }
    }
}

/// Relays between our terminal and the container's until the container closes its
/// side. With `forward_stdin` false (`-t` without `-i`) only output flows.
pub fn relay(
    master: OwnedFd,
    forward_stdin: bool,
    mut log: Option<super::relay::LogWriter>,
) -> io::Result<()> {
    let _raw = forward_stdin.then(RawMode::enter);
    copy_window_size(master.as_fd());
    // SAFETY: the handler only stores to an atomic.
    let _ = unsafe { signal(Signal::SIGWINCH, SigHandler::Handler(on_winch)) };
    let mut master_file = std::fs::File::from(master);
    let mut buffer = [0u8; 8192];
    let stdin = io::stdin();
    let mut stdin_open = forward_stdin;
    loop {
        if RESIZED.swap(false, Ordering::Relaxed) {
            copy_window_size(master_file.as_fd());
        }
        let mut fds = vec![PollFd::new(master_file.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let master_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let stdin_ready = stdin_open && fds[1].revents().is_some_and(|r| !r.is_empty());
        drop(fds);
        if master_ready {
            match master_file.read(&mut buffer) {
                // EIO: every slave descriptor is closed, so the container is done.
                Ok(0) => return log.map_or(Ok(()), |mut l| l.finish()),
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    return log.map_or(Ok(()), |mut l| l.finish());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
                Ok(n) => {
                    let mut out = io::stdout().lock();
                    out.write_all(&buffer[..n])?;
                    out.flush()?;
                    // A terminal has one stream: Docker logs it as stdout.
                    if let Some(log) = log.as_mut() {
                        log.write(super::relay::Stream::Stdout, &buffer[..n])?;
                    }
                }
            }
        }
        if stdin_ready {
            match stdin.lock().read(&mut buffer) {
                Ok(0) => stdin_open = false,
                Ok(n) => master_file.write_all(&buffer[..n])?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => stdin_open = false,
            }
        }
    }
}
