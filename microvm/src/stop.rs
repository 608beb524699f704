//! Stopping a vCPU from another thread: for `--timeout`, and for Ctrl-A x at
//! the console. The vCPU thread sits in `KVM_RUN`; a signal to it makes that
//! call return early with EINTR, and the loop then reads why it was stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

/// Why another thread stopped the vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Timeout = 1,
    Quit = 2,
}

/// Stops the vCPU thread from another thread: sets the reason, then signals the
/// vCPU thread until it has seen it. Signalling again matters: a signal that
/// arrives just before `KVM_RUN` is entered interrupts nothing.
#[derive(Clone)]
pub struct Stopper {
    vcpu_thread: ThreadHandle,
    reason: Arc<AtomicU8>,
    finished: Arc<AtomicBool>,
}

/// The vCPU thread's pthread handle. It is an integer with glibc but a pointer
/// with musl, and Rust does not let a raw pointer cross threads by itself.
#[derive(Clone, Copy)]
struct ThreadHandle(libc::pthread_t);

// SAFETY: a pthread_t is an opaque name for a thread, valid in every thread of
// the process; it is never dereferenced here, only passed to pthread_kill.
unsafe impl Send for ThreadHandle {}
// SAFETY: as above; sharing the name changes nothing about it.
unsafe impl Sync for ThreadHandle {}

/// A handler that does nothing: its only effect is to make KVM_RUN return.
extern "C" fn on_kick(_signal: libc::c_int) {}

fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

impl Stopper {
    /// A stopper for the calling thread, which is to run the vCPU.
    pub fn for_this_thread() -> Self {
        // SAFETY: the handler is async-signal-safe (it does nothing), and
        // installing it without SA_RESTART is what makes KVM_RUN return EINTR.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_kick as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(kick_signal(), &action, std::ptr::null_mut());
        }
        Stopper {
            // SAFETY: pthread_self has no preconditions.
            vcpu_thread: ThreadHandle(unsafe { libc::pthread_self() }),
            reason: Arc::new(AtomicU8::new(0)),
            finished: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn reason(&self) -> Option<StopReason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(StopReason::Timeout),
            2 => Some(StopReason::Quit),
            _ => None,
        }
    }

    pub fn stop(&self, reason: StopReason) {
        let _ = self
            .reason
            .compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst);
        while !self.finished.load(Ordering::SeqCst) {
            // SAFETY: the vCPU thread outlives this loop: it sets `finished`
            // before it ends, and the loop stops at that.
            unsafe { libc::pthread_kill(self.vcpu_thread.0, kick_signal()) };
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stop_after(&self, limit: Duration) {
        let stopper = self.clone();
        std::thread::spawn(move || {
            // A limit past what a clock can hold (--timeout 18446744073709551615)
            // is no limit at all, not a panic.
            let Some(deadline) = std::time::Instant::now().checked_add(limit) else {
                return;
            };
            while std::time::Instant::now() < deadline {
                if stopper.finished.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10).min(limit));
            }
            stopper.stop(StopReason::Timeout);
        });
    }

    pub fn finished(&self) {
        self.finished.store(true, Ordering::SeqCst);
    }
}
