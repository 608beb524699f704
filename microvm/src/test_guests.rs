//! The test guests of guests/guest.S, built by build.rs and embedded here, so
//! that `microvm guests --out DIR` can hand them to a reader: on a host where a
//! Linux guest cannot boot, they still show the whole boot path.

/// (file name, what it does, bytes)
pub const GUESTS: &[(&str, &str, &[u8])] = &[
    (
        "report.bzImage",
        "a bzImage: prints its E820 map, command line and initrd checksum, then resets",
        include_bytes!(concat!(env!("MICROVM_GUEST_DIR"), "/report.bzImage")),
    ),
    (
        "report-pvh.elf",
        "the same as an ELF with a PVH note: entered in 32-bit mode, reaches 64-bit by itself",
        include_bytes!(concat!(env!("MICROVM_GUEST_DIR"), "/report-pvh.elf")),
    ),
    (
        "report64.elf",
        "the same as an ELF without the note: entered at its 64-bit e_entry",
        include_bytes!(concat!(env!("MICROVM_GUEST_DIR"), "/report64.elf")),
    ),
    (
        "echo.bzImage",
        "echoes what you type until a '.', then resets",
        include_bytes!(concat!(env!("MICROVM_GUEST_DIR"), "/echo.bzImage")),
    ),
    (
        "triple-fault.bzImage",
        "faults with no IDT: a triple fault",
        include_bytes!(concat!(env!("MICROVM_GUEST_DIR"), "/triple-fault.bzImage")),
    ),
    (
        "spin.bzImage",
        "loops forever (try --timeout)",
        include_bytes!(concat!(env!("MICROVM_GUEST_DIR"), "/spin.bzImage")),
    ),
    (
        "garbage.bzImage",
        "pokes ports and MMIO where no device is, then resets",
        include_bytes!(concat!(env!("MICROVM_GUEST_DIR"), "/garbage.bzImage")),
    ),
];
