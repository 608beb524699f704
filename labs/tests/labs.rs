//! Every lab, end to end, with small N: `labs run all` as a reader runs it, then
//! what it wrote is checked the way a reader would trust it:
//! - every results file validates against the published JSON Schema;
//! - every chart is an SVG document naming the series it should show;
//! - `labs check` passes the run, and fails it once a number is edited;
//! - `labs simulate` on the run agrees with the same arithmetic done here;
//! - nothing is left behind: no container, no mount, no VM process.
//!
//! The labs run containers (root) and VMs (/dev/kvm); without either, these
//! tests skip with the reason.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const LABS: [&str; 6] = [
    "hello-both-ways",
    "boot-time",
    "memory",
    "disk",
    "resources",
    "isolation",
];

/// Why the labs cannot all run here, if they cannot.
fn unavailable() -> Option<&'static str> {
    if let Some(reason) = common::prepare_unavailable() {
        return Some(reason);
    }
    if !common::is_root() {
        return Some("the labs run containers, which need root");
    }
    if !Path::new("/dev/kvm").exists() {
        return Some("the labs run VMs, which need /dev/kvm");
    }
    None
}

macro_rules! needs_labs {
    ($test:literal) => {
        if let Some(reason) = unavailable() {
            return common::skip($test, reason);
        }
    };
}

struct Ran {
    out: PathBuf,
    mounts_before: Vec<String>,
    mounts_after: Vec<String>,
    lab_dir: PathBuf,
}

/// `labs run all` once for every test of this binary.
fn ran() -> &'static Ran {
    static RAN: OnceLock<(tempfile::TempDir, Ran)> = OnceLock::new();
    let (_, ran) = RAN.get_or_init(|| {
        let lab_dir = common::prepared().to_path_buf();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("results");
        let mounts_before = common::mount_points();
        common::succeeded(
            common::labs()
                .args(["run", "all", "--runs", "2", "--density", "1,2"])
                .arg("--out")
                .arg(&out)
                .arg("--lab-dir")
                .arg(&lab_dir),
        );
        let mounts_after = common::mount_points();
        (
            dir,
            Ran {
                out,
                mounts_before,
                mounts_after,
                lab_dir,
            },
        )
    });
    ran
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_results_file_validates_against_the_published_schema() {
    needs_labs!("every_results_file_validates_against_the_published_schema");
    let ran = ran();
    let schema =
        read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json"));
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for lab in LABS {
        let results = read_json(&ran.out.join(format!("{lab}.json")));
        let errors: Vec<String> = validator
            .iter_errors(&results)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{lab}.json: {errors:#?}");
        assert_eq!(results["lab"], lab);
        assert_eq!(results["runs"], 2);
        assert!(!results["commands"].as_array().unwrap().is_empty());
    }
    // And the schema rejects what it should: a file with the wrong shape.
    let mut broken = read_json(&ran.out.join("boot-time.json"));
    broken["data"]["ways"][0]["total"]["samples"] = serde_json::json!("fast");
    assert!(!validator.is_valid(&broken));
    let machine = read_json(&ran.out.join("machine.json"));
    for field in [
        "id",
        "cpu_model",
        "cores",
        "memory_mib",
        "kernel",
        "virtualisation",
        "cgroup_mode",
        "tools",
    ] {
        assert!(!machine[field].is_null(), "machine.json has no {field}");
    }
}

#[test]
fn the_published_schema_is_the_one_the_code_writes() {
    let committed =
        read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/results.schema.json"));
    let output = common::labs().arg("schema").output().unwrap();
    assert!(output.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        committed == generated,
        "labs/schema/results.schema.json is stale: regenerate it with \
         `labs schema > labs/schema/results.schema.json`"
    );
}

/// Every piece of text in an SVG document, which must parse as XML with <svg>
/// at its root.
fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let document = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert_eq!(
        document.root_element().tag_name().name(),
        "svg",
        "{}",
        path.display()
    );
    document
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect()
}

#[test]
fn every_chart_is_svg_naming_its_series() {
    needs_labs!("every_chart_is_svg_naming_its_series");
    let out = &ran().out;
    let ways = ["container (peti)", "direct VM (microvm --elf)"];
    let charts: Vec<(&str, Vec<&str>)> = vec![
        ("hello-both-ways.svg", ways.to_vec()),
        (
            "boot-time-phases.svg",
            vec!["start", "set up", "workload", "tear down", "N=2"],
        ),
        ("boot-time-distribution.svg", ways.to_vec()),
        (
            "boot-time-phases-container.svg",
            vec!["create: record, upper/, work/", "cleanup (--rm)"],
        ),
        (
            "boot-time-phases-direct-vm.svg",
            vec!["first KVM_RUN", "ELF loaded"],
        ),
        (
            "memory-footprint.svg",
            vec![
                "cgroup memory",
                "peti-monitor RSS",
                "VMM outside the guest",
                "guest pages touched",
            ],
        ),
        (
            "memory-footprint-hello.svg",
            vec!["cgroup memory", "VMM outside the guest", "container: hello"],
        ),
        (
            "memory-density.svg",
            vec![
                "container (peti): accounted",
                "direct VM (microvm --elf): host-wide",
            ],
        ),
        (
            "disk-per-way.svg",
            vec!["container (image blobs)", "direct-vm (ELF)"],
        ),
        (
            "disk-sharing.svg",
            vec!["stored once (content-addressed)", "busybox", "lab"],
        ),
        (
            "resources-container.svg",
            vec!["memory limit (MiB)", "raise to 256m", "lower to 32m"],
        ),
        (
            "resources-vm.svg",
            vec!["memory limit (MiB)", "100 MiB in a 64 MiB VM"],
        ),
        (
            "isolation.svg",
            vec![
                "the host",
                "container (peti)",
                "processes",
                "network interfaces",
            ],
        ),
    ];
    for (chart, expected) in charts {
        let texts = svg_texts(&out.join(chart));
        let all = texts.join("\n");
        for name in expected {
            assert!(
                all.contains(name),
                "{chart} does not name {name:?}; its texts:\n{all}"
            );
        }
        // A title and axis descriptions are there too: more texts than series.
        assert!(texts.len() > 5, "{chart} has almost no text: {texts:?}");
    }
}

#[test]
fn check_passes_the_run_and_fails_an_edited_one() {
    needs_labs!("check_passes_the_run_and_fails_an_edited_one");
    let out = &ran().out;
    for lab in LABS {
        let output = common::labs()
            .args(["check", lab, "--dir"])
            .arg(out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "labs check {lab} failed on a real run:\n{}",
            common::stdout(&output)
        );
    }
    let tampered = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(out).unwrap().flatten() {
        std::fs::copy(entry.path(), tampered.path().join(entry.file_name())).unwrap();
    }
    let edit = |lab: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let path = tampered.path().join(format!("{lab}.json"));
        let mut results = read_json(&path);
        change(&mut results);
        std::fs::write(&path, serde_json::to_vec_pretty(&results).unwrap()).unwrap();
    };
    let fails = |lab: &str, why: &str| {
        let output = common::labs()
            .args(["check", lab, "--dir"])
            .arg(tampered.path())
            .output()
            .unwrap();
        let text = common::stdout(&output);
        assert!(
            !output.status.success(),
            "labs check {lab} passed an edited file:\n{text}"
        );
        assert!(
            text.contains(why),
            "labs check {lab} should say {why:?}:\n{text}"
        );
    };
    // A faster median than the samples give.
    edit("boot-time", &|r| {
        let median = &mut r["data"]["ways"][0]["total"]["summary"]["median"];
        *median = serde_json::json!(median.as_f64().unwrap() / 2.0);
    });
    fails("boot-time", "does not match its samples");
    // A container that saw another kernel than the host's.
    edit("hello-both-ways", &|r| {
        r["data"]["ways"][0]["seen"]["kernel_release"] = serde_json::json!("9.9.9-made-up");
    });
    fails("hello-both-ways", "another kernel than the host's");
    // Someone else's results.
    edit("disk", &|r| {
        r["machine"] = serde_json::json!("another-machine")
    });
    fails("disk", "not on this machine");
    // A chart that was never drawn.
    std::fs::remove_file(tampered.path().join("isolation.svg")).unwrap();
    fails("isolation", "chart isolation.svg is missing");
}

#[test]
fn simulate_agrees_with_the_same_arithmetic_done_by_hand() {
    needs_labs!("simulate_agrees_with_the_same_arithmetic_done_by_hand");
    let out = &ran().out;
    let sim = tempfile::tempdir().unwrap();
    let output = common::labs()
        .args([
            "simulate",
            "--host-mem",
            "8G",
            "--cores",
            "4",
            "--instances",
            "100",
            "--from",
        ])
        .arg(out)
        .arg("--out")
        .arg(sim.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let simulated = read_json(&sim.path().join("simulate.json"));
    let memory = read_json(&out.join("memory.json"));
    let boot = read_json(&out.join("boot-time.json"));
    for way in simulated["data"]["ways"].as_array().unwrap() {
        let name = way["cost"]["way"].as_str().unwrap();
        // Per instance: the median accounted memory at the largest K, over K.
        let largest = memory["data"]["density"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["way"] == name)
            .max_by_key(|d| d["instances"].as_u64().unwrap())
            .unwrap();
        let mib = largest["accounted_mib"]["summary"]["median"]
            .as_f64()
            .unwrap()
            / largest["instances"].as_f64().unwrap();
        let start_ms = boot["data"]["ways"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["way"] == name)
            .unwrap()["total"]["summary"]["median"]
            .as_f64()
            .unwrap();
        let fit = (8.0 * 1024.0 / mib).floor() as u64;
        let storm_ms = (100.0f64 / 4.0).ceil() * start_ms;
        assert_eq!(way["fit"].as_u64().unwrap(), fit, "{name}");
        assert!(
            (way["storm_ms"].as_f64().unwrap() - storm_ms).abs() < 1e-6,
            "{name}"
        );
    }
    assert!(sim.path().join("simulate-fit.svg").is_file());
    assert!(sim.path().join("simulate-storm.svg").is_file());
}

#[test]
fn the_labs_leave_no_container_mount_or_vm_behind() {
    needs_labs!("the_labs_leave_no_container_mount_or_vm_behind");
    let ran = ran();
    let added: Vec<&String> = ran
        .mounts_after
        .iter()
        .filter(|m| !ran.mounts_before.contains(m))
        .collect();
    assert!(added.is_empty(), "mounts left behind: {added:?}");
    let peti = common::workspace_binary("peti").unwrap();
    let ps = std::process::Command::new(peti)
        .env("PETI_ROOT", ran.lab_dir.join("peti-root"))
        .env("PETI_RUN", ran.lab_dir.join("peti-run"))
        .args(["ps", "-a", "--format", "json"])
        .output()
        .unwrap();
    assert!(ps.status.success());
    assert_eq!(common::stdout(&ps).trim(), "", "containers left behind");
    let microvms = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("cmdline")).ok())
        .filter(|c| c.contains("microvm") && c.contains(ran.lab_dir.to_str().unwrap()))
        .count();
    assert_eq!(microvms, 0, "microvm processes left running");
}
