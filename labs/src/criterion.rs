//! criterion's estimates of the hot paths, read back and charted with the labs.
//!
//! `cargo bench -p runtime --bench hot_paths` and `-p microvm --bench hot_paths`
//! leave, for every benchmark, `target/criterion/<group>/<function>/new/` with
//! `benchmark.json` (its name and throughput) and `estimates.json` (the mean
//! and median per iteration, in nanoseconds, each with a 95 % confidence
//! interval). `labs criterion` gathers them into `criterion.json` and one
//! chart, beside the labs' own results.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::charts::{self, ChartError};

/// What can go wrong reading criterion's files.
#[derive(Debug, thiserror::Error)]
pub enum CriterionError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not criterion's format: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(
        "no benchmark results in {0}: run `cargo bench -p runtime --bench hot_paths` and `cargo bench -p microvm --bench hot_paths` first"
    )]
    Empty(PathBuf),
}

/// One benchmark's estimate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Estimate {
    /// `group/function`, as criterion names it.
    pub id: String,
    pub median_ns: f64,
    /// The 95 % confidence interval of the median.
    pub median_low_ns: f64,
    pub median_high_ns: f64,
    pub mean_ns: f64,
    /// Bytes per iteration, where the benchmark declared a throughput.
    pub bytes_per_iteration: Option<u64>,
}

/// criterion's estimates.json, the parts we read.
#[derive(Deserialize)]
struct Estimates {
    mean: Statistic,
    median: Statistic,
}

#[derive(Deserialize)]
struct Statistic {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

/// criterion's benchmark.json, the parts we read.
#[derive(Deserialize)]
struct Benchmark {
    full_id: String,
    throughput: Option<Throughput>,
}

/// A declared throughput: `{"Bytes": N}` (or Elements, which we do not chart).
#[derive(Deserialize)]
struct Throughput {
    #[serde(rename = "Bytes")]
    bytes: Option<u64>,
}

/// `criterion.json`, as `labs criterion` writes it beside the labs' results
/// and `labs book` reads it back (fields in the order they are written).
#[derive(Debug, Serialize, Deserialize)]
pub struct CriterionFile {
    /// The commands that produced the estimates.
    pub commands: Vec<String>,
    pub date: String,
    pub estimates: Vec<Estimate>,
    pub machine: String,
    /// Always "ns per iteration".
    pub unit: String,
}

impl CriterionFile {
    /// The estimates, measured now on `machine`.
    pub fn new(machine: &str, estimates: Vec<Estimate>) -> CriterionFile {
        CriterionFile {
            commands: vec![
                "cargo bench -p runtime --bench hot_paths".into(),
                "cargo bench -p microvm --bench hot_paths".into(),
            ],
            date: crate::results::now_rfc3339(),
            estimates,
            machine: machine.to_string(),
            unit: "ns per iteration".into(),
        }
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<(), CriterionError> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("estimates serialise");
        bytes.push(b'\n');
        runtime::fsutil::write_atomically(path, &bytes, 0o644).map_err(|source| {
            CriterionError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    pub fn read(path: &Path) -> Result<CriterionFile, CriterionError> {
        read(path)
    }
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CriterionError> {
    let text = std::fs::read_to_string(path).map_err(|source| CriterionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| CriterionError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Every benchmark under `dir` (criterion's folder), sorted by id.
pub fn read_estimates(dir: &Path) -> Result<Vec<Estimate>, CriterionError> {
    let mut found = Vec::new();
    collect(dir, &mut found)?;
    if found.is_empty() {
        return Err(CriterionError::Empty(dir.to_path_buf()));
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// Walks the folder for `new/` directories holding both files.
fn collect(dir: &Path, found: &mut Vec<Estimate>) -> Result<(), CriterionError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CriterionError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let (benchmark, estimates) = (path.join("benchmark.json"), path.join("estimates.json"));
        if path.file_name().is_some_and(|n| n == "new") && estimates.is_file() {
            let benchmark: Benchmark = read(&benchmark)?;
            let estimates: Estimates = read(&estimates)?;
            found.push(Estimate {
                id: benchmark.full_id,
                median_ns: estimates.median.point_estimate,
                median_low_ns: estimates.median.confidence_interval.lower_bound,
                median_high_ns: estimates.median.confidence_interval.upper_bound,
                mean_ns: estimates.mean.point_estimate,
                bytes_per_iteration: benchmark.throughput.and_then(|t| t.bytes),
            });
        } else if path
            .file_name()
            .is_some_and(|n| n != "base" && n != "report")
        {
            collect(&path, found)?;
        }
    }
    Ok(())
}

/// One bar per benchmark, its median in microseconds, on a logarithmic axis:
/// a 28 µs system call and a 150 ms unpack share the chart.
pub fn chart(estimates: &[Estimate], path: &Path, machine: &str) -> Result<(), ChartError> {
    let rows: Vec<(String, f64, usize)> = estimates
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.clone(), e.median_ns / 1000.0, i + 3))
        .collect();
    charts::log_bars(
        path,
        &format!(
            "Hot paths, criterion medians per iteration (N per bench: criterion's samples; {machine})"
        ),
        "time per iteration (µs, logarithmic)",
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A benchmark folder as criterion 0.8 writes it (shapes copied from a run).
    fn fake(dir: &Path, group: &str, function: &str, median: f64, throughput: Option<u64>) {
        let new = dir.join(group).join(function).join("new");
        std::fs::create_dir_all(&new).unwrap();
        let throughput = throughput.map_or("null".to_string(), |b| format!("{{\"Bytes\":{b}}}"));
        std::fs::write(
            new.join("benchmark.json"),
            format!(
                "{{\"group_id\":\"{group}\",\"function_id\":\"{function}\",\"value_str\":null,\"throughput\":{throughput},\"full_id\":\"{group}/{function}\",\"directory_name\":\"{group}/{function}\",\"title\":\"{group}/{function}\"}}"
            ),
        )
        .unwrap();
        let stat = |point: f64| {
            format!(
                "{{\"confidence_interval\":{{\"confidence_level\":0.95,\"lower_bound\":{},\"upper_bound\":{}}},\"point_estimate\":{point},\"standard_error\":1.0}}",
                point * 0.9,
                point * 1.1
            )
        };
        std::fs::write(
            new.join("estimates.json"),
            format!(
                "{{\"mean\":{},\"median\":{},\"median_abs_dev\":{},\"slope\":null,\"std_dev\":{}}}",
                stat(median * 1.05),
                stat(median),
                stat(1.0),
                stat(2.0)
            ),
        )
        .unwrap();
        // criterion keeps the previous run beside it; it must not count twice.
        let base = dir.join(group).join(function).join("base");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::copy(new.join("estimates.json"), base.join("estimates.json")).unwrap();
    }

    #[test]
    fn estimates_are_read_and_charted() {
        let dir = tempfile::tempdir().unwrap();
        fake(dir.path(), "syscall", "getpid round trip", 28_000.0, None);
        fake(
            dir.path(),
            "unpack",
            "layer",
            150_000_000.0,
            Some(3_784_704),
        );
        let estimates = read_estimates(dir.path()).unwrap();
        assert_eq!(estimates.len(), 2);
        assert_eq!(estimates[0].id, "syscall/getpid round trip");
        assert_eq!(estimates[0].median_ns, 28_000.0);
        assert_eq!(estimates[0].median_low_ns, 28_000.0 * 0.9);
        assert_eq!(estimates[1].bytes_per_iteration, Some(3_784_704));
        let svg = dir.path().join("criterion.svg");
        chart(&estimates, &svg, "test-machine").unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("syscall/getpid round trip") && text.contains("unpack/layer"));
    }

    #[test]
    fn an_empty_folder_says_what_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_estimates(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("cargo bench -p runtime --bench hot_paths"),
            "{error}"
        );
    }
}
