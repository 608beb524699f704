//! The same workload three ways: on the host, in a `peti` container, and in a
//! direct `microvm --elf` VM. Each lab workload must print the same RESULT
//! line every way: only its READY and INFO lines (kernel, pid, timings) may
//! differ.
//!
//! Uses the `peti` and `microvm` binaries that `cargo test --workspace` builds
//! next to this test. The container leg needs root; the VM leg needs /dev/kvm;
//! each skips with its reason where it cannot run.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn result_line(output: &Output, what: &str) -> String {
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("{what} printed no RESULT line:\n{text}"))
        .to_string()
}

/// (workload, arguments); fileio's path is filled in per way.
const CASES: [(&str, &[&str]); 4] = [
    ("hello", &[]),
    ("compute", &["4"]),
    ("memtouch", &["16"]),
    ("fileio", &["1"]),
];

fn peti(store: &Path, args: &[&str]) -> Output {
    Command::new(common::workspace_binary("peti").expect("checked"))
        .env("PETI_ROOT", store.join("root"))
        .env("PETI_RUN", store.join("run"))
        .args(args)
        .output()
        .expect("peti runs")
}

#[test]
fn every_workload_gives_one_result_on_the_host_in_a_container_and_in_a_vm() {
    let test = "every_workload_gives_one_result_on_the_host_in_a_container_and_in_a_vm";
    needs_prepare!("every_workload_gives_one_result_on_the_host_in_a_container_and_in_a_vm");
    let lab = common::prepared();
    let tmp = tempfile::tempdir().unwrap();
    let container = match (common::is_root(), common::workspace_binary("peti")) {
        (true, Some(_)) => {
            let layout = lab.join("images/lab");
            let loaded = peti(tmp.path(), &["load", "-i", layout.to_str().unwrap()]);
            assert!(
                loaded.status.success(),
                "{}",
                String::from_utf8_lossy(&loaded.stderr)
            );
            true
        }
        (false, _) => {
            common::skip(test, "the container leg needs root");
            false
        }
        (true, None) => {
            common::skip(
                test,
                "no peti binary next to this test (run cargo test --workspace)",
            );
            false
        }
    };
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let microvm = common::workspace_binary("microvm").filter(|_| kvm);
    if microvm.is_none() {
        common::skip(test, "the VM leg needs /dev/kvm and the microvm binary");
    }
    for (name, args) in CASES {
        let binary = lab.join("bin").join(name);
        let data = tmp.path().join(format!("{name}.dat"));
        let with_path = |path: &str| {
            let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            if name == "fileio" {
                all.push(path.to_string());
            }
            all
        };
        let host_args = with_path(data.to_str().unwrap());
        let host = Command::new(&binary).args(&host_args).output().unwrap();
        let expected = result_line(&host, &format!("{name} on the host"));
        if container {
            let mut run = vec!["run".to_string(), "--rm".into(), "lab".into(), name.into()];
            run.extend(with_path("/tmp/fileio.dat"));
            let args: Vec<&str> = run.iter().map(String::as_str).collect();
            let output = peti(tmp.path(), &args);
            assert_eq!(
                result_line(&output, &format!("{name} in peti")),
                expected,
                "{name} in peti"
            );
        }
        if let Some(microvm) = &microvm {
            let grant = format!("{}:/data/fileio.dat", tmp.path().join("vm.dat").display());
            let mut run: Vec<String> =
                vec!["run".into(), "--elf".into(), binary.display().to_string()];
            run.extend(["--mem".into(), "128".into(), "--file".into(), grant]);
            run.push("--".into());
            run.extend(with_path("/data/fileio.dat"));
            let output = Command::new(microvm).args(&run).output().unwrap();
            assert_eq!(
                result_line(&output, &format!("{name} in microvm")),
                expected,
                "{name} in microvm"
            );
        }
    }
}
