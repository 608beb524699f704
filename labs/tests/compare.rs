//! `labs compare` against the real peers: runc, dockerd (started and stopped by
//! the lab), podman and QEMU. Each comparison is measured interleaved, its
//! memory metered in cgroups; a peer that cannot run is skipped with its
//! reason; and nothing is left behind: no daemon, no mount, no cgroup, no
//! container of the peers.

mod common;

use std::path::Path;

/// Processes whose command line names one of `names`.
fn processes(names: &[&str]) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| {
            names
                .iter()
                .any(|n| c.split(' ').next().is_some_and(|p| p.ends_with(n)))
        })
        .collect()
}

#[test]
fn compare_measures_the_peers_interleaved_and_leaves_nothing_behind() {
    let test = "compare_measures_the_peers_interleaved_and_leaves_nothing_behind";
    if let Some(reason) = common::prepare_unavailable() {
        return common::skip(test, reason);
    }
    if !common::is_root() || !Path::new("/dev/kvm").exists() {
        return common::skip(test, "compare runs containers (root) and VMs (/dev/kvm)");
    }
    let lab = common::prepared();
    let out = tempfile::tempdir().unwrap();
    let before = common::mount_points();
    let daemons = ["dockerd", "containerd", "conmon", "qemu-system-x86_64"];
    let running_before = processes(&daemons);
    common::succeeded(
        common::labs()
            .args(["compare", "--runs", "2", "--out"])
            .arg(out.path())
            .arg("--lab-dir")
            .arg(lab),
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("compare.json")).unwrap())
            .unwrap();
    let data = &results["data"];
    let compared: Vec<&str> = data["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["peer"]["name"].as_str().unwrap())
        .collect();
    let skipped: Vec<&str> = data["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["peer"].as_str().unwrap())
        .collect();
    // Every peer is either compared or skipped with a reason.
    for peer in ["runc", "docker", "podman"] {
        assert!(
            compared.contains(&peer) || skipped.contains(&peer),
            "{peer} neither compared nor skipped: {data}"
        );
    }
    for s in data["skipped"].as_array().unwrap() {
        assert!(!s["reason"].as_str().unwrap().is_empty(), "{s}");
    }
    for c in data["comparisons"].as_array().unwrap() {
        let median = |m: &serde_json::Value| m["wall"]["summary"]["median"].as_f64().unwrap();
        assert_eq!(c["ours"]["wall"]["samples"].as_array().unwrap().len(), 2);
        assert_eq!(c["peer"]["wall"]["samples"].as_array().unwrap().len(), 2);
        let ratio = median(&c["peer"]) / median(&c["ours"]);
        assert!((c["ratio"].as_f64().unwrap() - ratio).abs() < 1e-9, "{c}");
    }
    // Each run's memory is metered in a cgroup of its own, its whole tree
    // included: no side costs nothing, and a container runtime's figure
    // holds at least its container's process. docker's daemons are counted
    // on their own, and nobody else has any.
    assert!(data["unmetered"].is_null(), "{}", data["unmetered"]);
    for c in data["comparisons"].as_array().unwrap() {
        for side in [&c["ours"], &c["peer"]] {
            let samples = side["memory_kib"]["samples"].as_array().unwrap();
            assert_eq!(samples.len(), 2, "{side}");
            assert!(
                samples.iter().all(|s| s.as_f64().unwrap() >= 256.0),
                "{side}"
            );
            let daemons = side["name"] == "docker";
            assert_eq!(side["daemons_kib"].is_object(), daemons, "{side}");
        }
    }
    let left: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .flat_map(|h| std::fs::read_dir(h.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .chain(
            std::fs::read_dir("/sys/fs/cgroup")
                .unwrap()
                .flatten()
                .map(|e| e.path()),
        )
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("labs-compare-"))
        })
        .collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
    // The charts are there.
    assert!(out.path().join("compare.svg").is_file());
    assert!(out.path().join("compare-memory.svg").is_file());
    let added: Vec<String> = common::mount_points()
        .into_iter()
        .filter(|m| !before.contains(m))
        .collect();
    assert!(added.is_empty(), "mounts left behind: {added:?}");
    let left: Vec<String> = processes(&daemons)
        .into_iter()
        .filter(|p| !running_before.contains(p))
        .collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
