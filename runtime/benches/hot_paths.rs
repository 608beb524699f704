//! Criterion benchmarks of peti's hot paths:
//! - `unpack`: unpacking a layer (throughput in bytes of tar);
//! - `container`: `peti create`, `peti start -a`, `peti rm` of the hello image,
//!   one container's whole life (needs root and `labs prepare`'s images).
//!
//! `cargo bench -p runtime --bench hot_paths`; `labs criterion` charts the
//! estimates criterion leaves in target/criterion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// A layer like a small application's: many small files and a few big ones.
fn layer_tar() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: String, size: usize| {
        let mut header = tar::Header::new_ustar();
        header.set_size(size as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        tar.append_data(&mut header, path, &bytes[..])
            .expect("an in-memory tar takes any entry");
    };
    for i in 0..400 {
        add(format!("usr/share/doc/file{i:03}.txt"), 4096);
    }
    for i in 0..4 {
        add(format!("usr/lib/big{i}.so"), 512 * 1024);
    }
    tar.into_inner().expect("an in-memory tar finishes")
}

fn unpack(c: &mut Criterion) {
    let tar = layer_tar();
    let mut group = c.benchmark_group("unpack");
    group.throughput(Throughput::Bytes(tar.len() as u64));
    group.measurement_time(Duration::from_secs(10));
    group.sample_size(20);
    group.bench_function("layer 400 small + 4 large files", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("a temp dir"),
            |dir| {
                runtime::image::unpack::unpack_layer(&tar[..], dir.path()).expect("unpacks");
                dir
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ is in the workspace")
        .to_path_buf()
}

/// Why the container benchmark cannot run here, if it cannot.
fn container_unavailable(lab: &Path) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (namespaces, mounts, cgroups)".into());
    }
    if !lab.join("images/hello").is_dir() {
        return Some(format!(
            "no lab images in {}: run `labs prepare` first",
            lab.display()
        ));
    }
    None
}

fn container(c: &mut Criterion) {
    let lab = workspace().join("target/lab");
    if let Some(reason) = container_unavailable(&lab) {
        println!("container benchmark skipped: {reason}");
        return;
    }
    let store = tempfile::tempdir().expect("a temp dir");
    let peti = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_peti"))
            .env("PETI_ROOT", store.path().join("root"))
            .env("PETI_RUN", store.path().join("run"))
            .args(args)
            .output()
            .expect("peti runs");
        assert!(
            output.status.success(),
            "peti {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    peti(&["load", "-i", lab.join("images/hello").to_str().unwrap()]);
    let mut group = c.benchmark_group("container");
    group.measurement_time(Duration::from_secs(10));
    group.sample_size(30);
    group.bench_function("create, start -a, rm", |b| {
        b.iter(|| {
            let id = peti(&["create", "hello"]);
            peti(&["start", "-a", &id]);
            peti(&["rm", &id]);
        })
    });
    group.bench_function("run --rm", |b| b.iter(|| peti(&["run", "--rm", "hello"])));
    group.finish();
}

criterion_group!(benches, unpack, container);
criterion_main!(benches);
