//! The test guests of guests/guest.S, built by build.rs and embedded here, so
//! that `microvm guests --out DIR` can hand them to a reader: on a host where a
//! Linux guest cannot boot, they still show the whole boot path.

/// One guest of the table: its file name (once, for the table and the path
/// build.rs wrote it to), what it does, and its bytes.
macro_rules! guest {
    ($name:literal, $what:literal) => {
        (
            $name,
            $what,
            include_bytes!(concat!(env!("MICROVM_GUEST_DIR"), "/", $name)),
        )
    };
}

/// (file name, what it does, bytes)
pub const GUESTS: &[(&str, &str, &[u8])] = &[
    guest!(
        "report.bzImage",
        "a bzImage: prints its E820 map, command line and initrd checksum, then resets"
    ),
    guest!(
        "report-pvh.elf",
        "the same as an ELF with a PVH note: entered in 32-bit mode, reaches 64-bit by itself"
    ),
    guest!(
        "report64.elf",
        "the same as an ELF without the note: entered at its 64-bit e_entry"
    ),
    guest!(
        "echo.bzImage",
        "echoes what you type until a '.', then resets"
    ),
    guest!("triple-fault.bzImage", "faults with no IDT: a triple fault"),
    guest!("spin.bzImage", "loops forever (try --timeout)"),
    guest!(
        "garbage.bzImage",
        "pokes ports and MMIO where no device is, then resets"
    ),
];
