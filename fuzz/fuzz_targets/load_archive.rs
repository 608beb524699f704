//! `peti load -i` of any bytes as an OCI archive: the archive reader, the
//! layout reader (index, manifests, configs, digests, layer counts) and the
//! layer unpacker together. A load may fail; a failed one leaves the store
//! empty, nothing may appear outside the store and $TMPDIR, and it may not panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use runtime::image::store::Store;

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The machine's temporary directory, read before the first input changes it.
fn base() -> &'static Path {
    static BASE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(std::env::temp_dir)
}

fuzz_target!(|data: &[u8]| {
    let root = tempfile::tempdir_in(base()).expect("a temporary directory");
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // SAFETY: the fuzzer runs one input at a time, on one thread.
    unsafe { std::env::set_var("TMPDIR", &tmp) };
    let archive = root.path().join("image.tar");
    std::fs::write(&archive, data).unwrap();
    let store_dir = root.path().join("store");
    let store = Store::open(&store_dir).unwrap();
    let loaded = store.load(&archive);
    if loaded.is_err() {
        assert!(
            store.list().unwrap().is_empty(),
            "a failed load left an image"
        );
        assert!(
            entries(&store_dir.join("blobs/sha256")).is_empty(),
            "a failed load left blobs"
        );
        let layers: Vec<String> = entries(&store_dir.join("layers"))
            .into_iter()
            .filter(|n| n != "init")
            .collect();
        assert!(layers.is_empty(), "a failed load left layers: {layers:?}");
    }
    assert!(entries(&tmp).is_empty(), "the load left files in $TMPDIR");
    assert_eq!(entries(root.path()), ["image.tar", "store", "tmp"]);
});
