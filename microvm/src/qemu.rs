//! The same small machine in QEMU, for comparisons: `-M microvm` with 128 MiB,
//! a serial port that goes nowhere and an i8042 whose reset ends it
//! (`-no-reboot`), as a guest of ours needs. `labs compare` and the boot
//! benchmark both run this one command line against `microvm run --kernel`.

use std::path::Path;
use std::process::Command;

/// The QEMU program.
pub const PROGRAM: &str = "qemu-system-x86_64";

/// QEMU's arguments before the kernel's path, as one would type them.
pub const ARGS: &str = "-M microvm,isa-serial=on -enable-kvm -cpu host,-arch-capabilities -m 128 \
                        -nodefaults -no-user-config -display none -serial null -device i8042 \
                        -no-reboot -kernel";

/// `qemu-system-x86_64 -M microvm ... -kernel GUEST`.
pub fn command(guest: &Path) -> Command {
    let mut command = Command::new(PROGRAM);
    command.args(ARGS.split_whitespace()).arg(guest);
    command
}

/// The command line as a reader would type it, for a guest called `guest`.
pub fn shown(guest: &str) -> String {
    let args: Vec<&str> = ARGS.split_whitespace().collect();
    format!("{PROGRAM} {} {guest}", args.join(" "))
}
