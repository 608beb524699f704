//! Criterion benchmarks of microvm's hot paths:
//! - `vm`: creating a VM with 128 MiB of memory and one vCPU, and dropping it;
//! - `syscall`: one system call of a direct guest, a round trip through the VMM;
//! - `initramfs`: building an initramfs from the lab's hello image.
//!
//! `cargo bench -p microvm --bench hot_paths`; `labs criterion` charts the
//! estimates criterion leaves in target/criterion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn kvm_unavailable() -> Option<&'static str> {
    (!Path::new("/dev/kvm").exists()).then_some("no /dev/kvm")
}

fn vm(c: &mut Criterion) {
    if let Some(reason) = kvm_unavailable() {
        println!("vm benchmark skipped: {reason}");
        return;
    }
    let mut group = c.benchmark_group("vm");
    group.measurement_time(Duration::from_secs(10));
    group.sample_size(30);
    group.bench_function("create with 128 MiB and a vCPU", |b| {
        b.iter(|| {
            let mut vm = microvm::vm::Vm::create().expect("a VM");
            vm.add_memory(128).expect("memory");
            let vcpu = microvm::vcpu::create_bare(&vm.kvm, &vm.fd, 0, 1).expect("a vCPU");
            (vm, vcpu)
        })
    });
    group.finish();
}

/// getpid-loop N makes N getpid calls and prints the time per call measured
/// inside the guest: VM start and exit are not in it, only round trips.
fn syscall(c: &mut Criterion) {
    if let Some(reason) = kvm_unavailable() {
        println!("syscall benchmark skipped: {reason}");
        return;
    }
    let program = PathBuf::from(env!("MICROVM_PROGRAM_DIR")).join("getpid-loop");
    let mut group = c.benchmark_group("syscall");
    group.measurement_time(Duration::from_secs(10));
    group.sample_size(20);
    group.bench_function("getpid round trip (direct guest)", |b| {
        b.iter_custom(|iters| {
            let output = Command::new(env!("CARGO_BIN_EXE_microvm"))
                .args(["run", "--elf"])
                .arg(&program)
                .arg("--")
                .arg(iters.to_string())
                .output()
                .expect("microvm runs");
            let text = String::from_utf8_lossy(&output.stdout);
            let per_call: u64 = text
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ns_per_call="))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no ns_per_call in {text:?}"));
            Duration::from_nanos(per_call * iters)
        })
    });
    group.finish();
}

fn initramfs(c: &mut Criterion) {
    let layout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lab/images/hello");
    if !layout.is_dir() {
        println!("initramfs benchmark skipped: no lab images: run `labs prepare` first");
        return;
    }
    let image = microvm::linux::initramfs::read_image(&layout, &[]).expect("the hello image");
    let (bytes, _) = microvm::linux::initramfs::build(&image).expect("an initramfs");
    let mut group = c.benchmark_group("initramfs");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("build from the hello image", |b| {
        b.iter(|| microvm::linux::initramfs::build(&image).expect("an initramfs"))
    });
    group.finish();
}

criterion_group!(benches, vm, syscall, initramfs);
criterion_main!(benches);
