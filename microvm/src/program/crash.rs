//! A program's crash: an exception from user code, which the VM's exception
//! stubs report on their ports ([`super::machine`]), turned into the report and
//! exit code Linux would give (139 for a segmentation fault). A report is
//! believed only if the CPU, not the program, made it.

use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use super::ProgramError;
use super::machine;

/// The exception names of the x86 manual, for the crash report.
fn exception_name(vector: u8) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating-point error",
        17 => "alignment check",
        19 => "SIMD floating-point exception",
        _ => "exception",
    }
}

/// The signal Linux sends for each exception.
pub fn signal_of(vector: u8) -> u8 {
    match vector {
        0 | 16 | 19 => 8, // SIGFPE
        1 | 3 => 5,       // SIGTRAP
        6 => 4,           // SIGILL
        17 => 7,          // SIGBUS
        _ => 11,          // SIGSEGV
    }
}

/// Reads where the exception happened from the frame the CPU pushed on the
/// kernel stack: RIP, after the error code for the vectors that have one. With
/// `MICROVM_DEBUG` set in the environment, the whole frame is printed too.
///
/// The fault ports are open to the program too (on nested PVM the stubs run at
/// user level, so the I/O bitmap must let user code reach them), and the stub
/// page is readable and executable by it. So a report is believed only if all
/// of this holds, which only a real exception from the program makes true: the
/// exit came from inside that vector's stub, the stack is the kernel stack with
/// exactly one frame on it, and the frame's CS and SS are the program's. The
/// kernel stack is read-only to the program, so it cannot write a frame there.
pub fn crash(vcpu: &VcpuFd, memory: &GuestMemoryMmap, vector: u8) -> ProgramError {
    let synced = vcpu.sync_regs();
    let has_error_code = matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30);
    let words = 5 + u64::from(has_error_code);
    let frame = synced.regs.rsp;
    let word = |i: u64| -> Option<u64> {
        let at = frame.checked_add(i.checked_mul(8)?)?;
        memory.read_obj(GuestAddress(at)).ok()
    };
    let at = u64::from(has_error_code);
    let stub = machine::FAULT_STUBS + u64::from(vector) * machine::FAULT_STUB_SIZE;
    let from_stub = (stub..stub + machine::FAULT_STUB_SIZE).contains(&synced.regs.rip);
    let one_frame = frame == machine::KERNEL_STACK_TOP - words * 8;
    let pushed_by_cpu = word(at + 1) == Some(u64::from(machine::USER_CS))
        && word(at + 4) == Some(u64::from(machine::USER_DS));
    if !(from_stub && one_frame && pushed_by_cpu) {
        return ProgramError::NotAFault {
            port: machine::FAULT_PORT_BASE + u16::from(vector),
            rip: synced.regs.rip,
        };
    }
    let rip = word(at).unwrap_or_default();
    if std::env::var_os("MICROVM_DEBUG").is_some() {
        let w = |i| word(i).unwrap_or_default();
        eprintln!(
            "microvm: exception frame: error {:#x} rip {:#x} cs {:#x} rflags {:#x} rsp {:#x} ss {:#x}; cpl cs {:#x}",
            if has_error_code { w(0) } else { 0 },
            rip,
            w(at + 1),
            w(at + 2),
            w(at + 3),
            w(at + 4),
            synced.sregs.cs.selector
        );
    }
    let detail = match vector {
        14 => format!(
            ", reading or writing address {:#x}{}",
            synced.sregs.cr2,
            if synced.sregs.cr2 < machine::USER_START {
                " (not user memory)"
            } else if synced.sregs.cr2 >= memory.last_addr().0 {
                " (beyond guest memory)"
            } else {
                ""
            }
        ),
        _ => String::new(),
    };
    ProgramError::Crash {
        vector,
        name: exception_name(vector),
        rip,
        detail,
    }
}
