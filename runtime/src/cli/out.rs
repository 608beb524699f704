//! Printing to standard output as a tool in a pipeline should. When the
//! reader has gone (`peti ps | head -1`, `peti inspect web | true`), a write
//! fails with EPIPE; Rust's `println!` would panic with a backtrace. Go's and
//! C's tools are killed by SIGPIPE instead, silently, and the shell reports
//! status 141: peti ends the same way.
//!
//! Rust ignores SIGPIPE in every program it starts, and peti keeps it so:
//! a peer that closes a socket or pipe peti writes to (a container's
//! start-up channel, a registry) must give an error peti can clean up
//! after, not a death halfway through. Only standard output is a reader's
//! pipe, so only here does EPIPE mean "stop now".

use std::fmt;
use std::io::{self, Write};

/// `println!` for peti's standard output (see the module's comment).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// Writes `text` to standard output; ends peti as SIGPIPE would when
/// nobody reads it any more.
pub fn write(text: fmt::Arguments) {
    let mut out = io::stdout().lock();
    let Err(error) = out.write_fmt(text).and_then(|()| out.flush()) else {
        return;
    };
    if error.kind() == io::ErrorKind::BrokenPipe {
        die_of_sigpipe();
    }
    eprintln!("peti: error: writing to standard output: {error}");
    std::process::exit(i32::from(super::EXIT_PETI_FAILED));
}

/// Standard output as a byte stream (`export`, `cp C:SRC -`), ended as
/// SIGPIPE would end it when nobody reads it any more, as [`write`] is.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match io::stdout().lock().write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => die_of_sigpipe(),
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match io::stdout().lock().flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => die_of_sigpipe(),
            other => other,
        }
    }
}

/// Ends the process killed by SIGPIPE, as a pipeline expects of a writer
/// whose reader has gone.
fn die_of_sigpipe() -> ! {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, raise, signal, sigprocmask};
    // SAFETY: SIG_DFL is not a handler, so no code of ours runs in signal
    // context; this process ends with the raise that follows.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    // Blocked, it would wait: peti may have been started with it blocked.
    let _ = sigprocmask(
        SigmaskHow::SIG_UNBLOCK,
        Some(&SigSet::from(Signal::SIGPIPE)),
        None,
    );
    let _ = raise(Signal::SIGPIPE);
    // Not reached: SIGPIPE's default action ends the process.
    std::process::exit(128 + Signal::SIGPIPE as i32)
}

/// Docker's question before a prune: the warning, then `[y/N]`; only a yes
/// goes on.
pub fn confirm(warning: &str) -> bool {
    use std::io::BufRead;
    write(format_args!(
        "{warning}\nAre you sure you want to continue? [y/N] "
    ));
    let mut answer = String::new();
    let _ = io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y")
}

/// What a prune removed, in Docker's words: a heading and the names (none
/// when nothing went), then the bytes reclaimed.
pub fn pruned(heading: &str, names: &[String], bytes: u64) {
    if !names.is_empty() {
        outln!("{heading}");
        names.iter().for_each(|n| outln!("{n}"));
        outln!("");
    }
    outln!(
        "Total reclaimed space: {}",
        super::format::units::decimal(bytes, 4)
    );
}
