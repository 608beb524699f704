//! Image references, as `peti run NAME` and `peti tag` read them: any text is
//! refused or parsed, and what parses prints back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runtime::image::store::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(reference) = Reference::parse(text) {
        let printed = reference.to_string();
        assert_eq!(
            Reference::parse(&printed).ok(),
            Some(reference),
            "{text:?} -> {printed:?}"
        );
    }
});
