//! The layer unpacker, on any bytes as a layer: it may refuse them, but nothing
//! may appear beside the layer's directory, and it may not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir().expect("a temporary directory");
    let layer = root.path().join("layer");
    let outside = root.path().join("outside");
    std::fs::create_dir(&layer).unwrap();
    std::fs::create_dir(&outside).unwrap();
    let _ = runtime::image::unpack::unpack_layer(data, &layer);
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "the layer wrote beside itself"
    );
    let mut names: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["layer", "outside"], "the layer wrote beside itself");
});
