//! `microvm run --elf` of any bytes: the ELF reader, then the loader into a
//! guest memory of 32 MiB. Either may refuse; neither may panic (the fuzzer
//! builds with overflow checks, so an unchecked add of a header field is one).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use microvm::program::{elf, machine};
use vm_memory::{GuestAddress, GuestMemoryMmap};

const MEM: u64 = 32 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(program) = elf::parse(Path::new("fuzzed.elf"), data.to_vec()) else {
        return;
    };
    let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap();
    let args = vec!["fuzzed".to_string()];
    let _ = machine::load(&memory, MEM, &program, &args, &[], [0; 16]);
});
