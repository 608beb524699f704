//! `labs compare`: our two programs against the peers people use, on the same
//! rootfs, interleaved in one run, as ratios.
//!
//! - peti against `runc run` + `runc delete`, `docker run --rm` (dockerd from
//!   Debian's docker.io, started and stopped by the lab) and
//!   `podman run --rm --runtime runc`;
//! - microvm against `qemu-system-x86_64 -M microvm`, both booting the same
//!   bzImage test guest.
//!
//! A peer that is missing or cannot run here is reported as skipped, with the
//! reason, and the others still run.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::charts::{self, Bar, ChartError, Grouped};
use crate::experiments::{LabContext, LabData, LabError};
use crate::results::{LabResults, Series};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CompareData {
    pub comparisons: Vec<Comparison>,
    pub skipped: Vec<PeerSkipped>,
}

/// One of ours against one peer, measured in the same interleaved rounds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub ours: Measured,
    pub peer: Measured,
    /// The peer's median wall time over ours: 8.0 means ours is 8 times faster.
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    pub name: String,
    pub command: String,
    /// Wall time, spawn to exit (ms).
    pub wall: Series,
    /// Peak resident memory of the command's process tree, where measured (KiB).
    pub peak_rss_kib: Option<Series>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerSkipped {
    pub peer: String,
    pub reason: String,
}

pub fn run(_ctx: &mut LabContext) -> Result<(LabData, Vec<String>), LabError> {
    Err(LabError::Other("labs compare is being written".into()))
}

pub fn charts(
    data: &CompareData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let path = dir.join("compare.svg");
    let categories: Vec<String> = data
        .comparisons
        .iter()
        .map(|c| format!("{} vs {}", c.ours.name, c.peer.name))
        .collect();
    let bar = |m: &Measured| {
        Some(Bar {
            value: m.wall.summary.median,
            spread: Some((m.wall.summary.p10, m.wall.summary.p90)),
        })
    };
    let series = vec![
        (
            "ours (peti, microvm)".to_string(),
            data.comparisons.iter().map(|c| bar(&c.ours)).collect(),
        ),
        (
            "peer".to_string(),
            data.comparisons.iter().map(|c| bar(&c.peer)).collect(),
        ),
    ];
    charts::grouped_bars(
        &path,
        &Grouped {
            title: &format!(
                "Ours against the peers: median and p10-p90 of N={} interleaved runs",
                results.runs
            ),
            y_label: "wall time, spawn to exit (ms)",
            categories: &categories,
            series: &series,
        },
    )?;
    Ok(vec![path])
}

pub fn problems(data: &CompareData) -> Vec<String> {
    let mut problems = Vec::new();
    for c in &data.comparisons {
        for m in [&c.ours, &c.peer] {
            if !m.wall.is_consistent() {
                problems.push(format!("{}: summary does not match its samples", m.name));
            }
        }
        let ratio = c.peer.wall.summary.median / c.ours.wall.summary.median;
        if (ratio - c.ratio).abs() > 1e-6 * ratio.abs().max(1.0) {
            problems.push(format!(
                "{} vs {}: ratio {} does not follow from the medians ({ratio})",
                c.ours.name, c.peer.name, c.ratio
            ));
        }
    }
    problems
}
