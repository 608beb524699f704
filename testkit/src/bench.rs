//! What the hand-written benchmarks share (the `harness = false` ones that time
//! whole commands, round by round): where the workspace is, how many rounds, a
//! median, and where their figures go. They assert nothing about speed.

use std::path::{Path, PathBuf};

/// The workspace's root folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ is in the workspace")
        .to_path_buf()
}

/// How many measured rounds: the variable `var`, or `default`.
pub fn rounds(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(default)
}

/// The middle value (of an odd count; the upper middle of an even one).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Why VMs cannot be benchmarked here, if they cannot: /dev/kvm must open
/// read-write.
pub fn kvm() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|e| format!("/dev/kvm: {e}"))
}

/// Writes a benchmark's figures to `target/bench/NAME`.
pub fn write_figures(name: &str, figures: &serde_json::Value) -> Result<(), String> {
    let dir = workspace().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let bytes = serde_json::to_vec_pretty(figures).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(name), bytes).map_err(|e| e.to_string())
}

/// Shuffles `order` the same way for the same `seed` (xorshift): the ways of
/// a benchmark run in another order each round, so drift hits them alike.
pub fn shuffle(order: &mut [usize], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
}
