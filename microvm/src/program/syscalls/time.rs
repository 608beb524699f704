//! Clocks and sleeping: the host's clocks, read for the guest, and a sleep that
//! the VMM's own stop signal cuts short.

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::time::ClockId;

use super::{Answer, Call, Kernel};

/// The highest clock id Linux has: CLOCK_TAI.
const MAX_CLOCK: u64 = 11;

pub(super) fn clock_gettime(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [clock, timespec, ..] = call.args;
    if clock > MAX_CLOCK {
        return Err(Errno::EINVAL);
    }
    let now = nix::time::clock_gettime(ClockId::from_raw(clock as libc::clockid_t))?;
    let mut bytes = (now.tv_sec() as i64).to_le_bytes().to_vec();
    bytes.extend((now.tv_nsec() as i64).to_le_bytes());
    call.user.write(timespec, &bytes)?;
    Ok(0)
}

/// gettimeofday(2): the host's wall clock, as seconds and microseconds. The
/// obsolete timezone, if asked for, is UTC with no daylight saving.
pub(super) fn gettimeofday(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let [timeval, timezone, ..] = call.args;
    let now = wall_clock()?;
    if timeval != 0 {
        let mut bytes = now.tv_sec().to_le_bytes().to_vec();
        bytes.extend((now.tv_nsec() / 1000).to_le_bytes());
        call.user.write(timeval, &bytes)?;
    }
    if timezone != 0 {
        call.user.write(timezone, &[0; 8])?;
    }
    Ok(0)
}

/// time(2): the host's wall clock in seconds, also stored at `out` if given.
pub(super) fn time(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let out = call.args[0];
    let seconds = wall_clock()?.tv_sec();
    if out != 0 {
        call.user.write(out, &seconds.to_le_bytes())?;
    }
    Ok(seconds)
}

fn wall_clock() -> Result<TimeSpec, Errno> {
    nix::time::clock_gettime(ClockId::CLOCK_REALTIME)
}

pub(super) fn nanosleep(_: &mut Kernel, call: &mut Call<'_>) -> Answer {
    let request = call.args[0];
    let seconds = call.user.read_u64(request)? as i64;
    let nanos = call
        .user
        .read_u64(request.checked_add(8).ok_or(Errno::EFAULT)?)? as i64;
    if seconds < 0 || !(0..1_000_000_000).contains(&nanos) {
        return Err(Errno::EINVAL);
    }
    // Not std::thread::sleep, which sleeps again after a signal: the signal
    // that interrupts this sleep is the VMM's own kick (see `stop`), sent to
    // end the VM at --timeout, and a guest asleep for an hour must not hold
    // the VM up until it wakes.
    let wanted = libc::timespec {
        tv_sec: seconds,
        tv_nsec: nanos,
    };
    // SAFETY: nanosleep reads `wanted` and writes nothing (no remainder
    // pointer); `wanted` outlives the call.
    if unsafe { libc::nanosleep(&wanted, std::ptr::null_mut()) } != 0 {
        return Err(Errno::EINTR);
    }
    Ok(0)
}
