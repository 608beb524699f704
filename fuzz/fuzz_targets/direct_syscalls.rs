//! The direct VM's system calls, served on guest memory with no KVM: the guest's
//! memory is fuzzed bytes, and so is every register of a run of calls. Every
//! pointer the guest passes must be checked, so no call may panic, and none may
//! reach a file that was not granted.
//!
//! Calls that would wait for ever on the host (a sleep, an accept, a read from
//! stdin) are cut short as microvm cuts them at --timeout: a timer signal every
//! 10 ms makes them return EINTR. Writes to the fuzzer's own stdout and stderr
//! are skipped, so that the fuzzer's output stays readable.
#![no_main]

use std::sync::Once;

use kvm_bindings::{kvm_regs, kvm_sregs};
use libfuzzer_sys::fuzz_target;
use microvm::program::machine::{STACK_SIZE, USER_START};
use microvm::program::syscalls::{Kernel, Next};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const MEM: u64 = 8 << 20;

extern "C" fn on_alarm(_: libc::c_int) {}

/// A timer that interrupts blocking calls, as the VMM's kick does.
fn interrupt_blocking_calls() {
    static START: Once = Once::new();
    START.call_once(|| {
        // SAFETY: the handler does nothing, and is installed without SA_RESTART
        // so that blocking calls return EINTR; setitimer takes plain structs.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_alarm as *const () as usize;
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
            let tick = libc::timeval {
                tv_sec: 0,
                tv_usec: 10_000,
            };
            let timer = libc::itimerval {
                it_interval: tick,
                it_value: tick,
            };
            libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut());
        }
    });
}

fuzz_target!(|data: &[u8]| {
    interrupt_blocking_calls();
    // The first byte: how many system calls follow, seven words each (number,
    // six arguments); the rest: the guest's memory, from the start of user memory.
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let (calls, memory_bytes) = rest.split_at(rest.len().min(usize::from(count % 65) * 56));
    let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap();
    memory
        .write_slice(memory_bytes, GuestAddress(USER_START))
        .unwrap();
    let brk_start = USER_START + (1 << 20);
    let mut kernel = Kernel::new(Vec::new(), brk_start, MEM - STACK_SIZE / 2, MEM, false).quietly();
    let mut sregs = kvm_sregs::default();
    for call in calls.chunks_exact(56) {
        let word = |i: usize| u64::from_le_bytes(call[i * 8..i * 8 + 8].try_into().unwrap());
        let (nr, fd) = (word(0) % 512, word(1));
        let to_our_terminal = matches!(nr, 1 | 18 | 20 | 44) && matches!(fd, 1 | 2);
        if to_our_terminal {
            continue;
        }
        let mut regs = kvm_regs {
            rax: nr,
            rdi: fd,
            rsi: word(2),
            rdx: word(3),
            r10: word(4),
            r8: word(5),
            r9: word(6),
            ..Default::default()
        };
        if kernel.serve(&memory, &mut regs, &mut sregs) != Next::Resume {
            break;
        }
    }
});
