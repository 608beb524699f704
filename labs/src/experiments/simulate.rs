//! `labs simulate`: this machine's measured costs, extrapolated to a fleet host.
//!
//! Two questions, answered with arithmetic a reader can redo by hand:
//! - how many instances of each way fit in the host's memory, at the per-instance
//!   cost the memory lab measured;
//! - how long a storm of N starts takes on the host's cores, at the start time
//!   the boot-time lab measured.
//!
//! The model is deliberately simple, and says so in every results file: it is a
//! first estimate, the kind a capacity plan starts from, not a prediction.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LabData;
use super::{LabResults, ResultsError};
use crate::charts::{self, Bar, ChartError, Grouped};
use crate::ways::Way;

/// What the simulation is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fleet {
    pub host_mem_mib: f64,
    pub cores: u32,
    pub instances: u64,
}

/// The measured cost of one instance of one way.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    pub way: Way,
    /// Resident memory of one held instance (MiB).
    pub memory_mib: f64,
    /// Median start-to-exit time of `hello` (ms).
    pub start_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulateData {
    pub host_mem_mib: f64,
    pub cores: u32,
    pub instances: u64,
    /// Where the costs came from.
    pub from: String,
    pub assumptions: Vec<String>,
    pub ways: Vec<SimulatedWay>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulatedWay {
    pub cost: Cost,
    /// floor(host memory / memory per instance).
    pub fit: u64,
    /// ceil(instances / cores) waves, each as long as one start.
    pub storm_ms: f64,
}

pub const ASSUMPTIONS: [&str; 4] = [
    "all of the host's memory is available to instances; none is kept for the host itself",
    "an instance costs what one held instance cost on the measured machine: the memory lab's accounted memory (cgroup and monitor for a container, the VMM's PSS for a VM) per instance at its largest K, or its hello footprint when no density was measured",
    "a start keeps one core busy for its whole measured median, and starts on different cores do not slow each other: a storm runs in ceil(N / cores) waves",
    "a VM's untouched guest RAM costs nothing, as with Firecracker and microvm (mmap'd, never touched); a VMM that reserves all guest RAM up front costs its --mem per instance instead",
];

/// Fits and storm times, by the formulas in [`SimulatedWay`].
pub fn simulate(fleet: Fleet, costs: &[Cost]) -> Vec<SimulatedWay> {
    costs
        .iter()
        .map(|cost| SimulatedWay {
            fit: if cost.memory_mib > 0.0 {
                (fleet.host_mem_mib / cost.memory_mib).floor() as u64
            } else {
                0
            },
            storm_ms: fleet.instances.div_ceil(u64::from(fleet.cores.max(1))) as f64
                * cost.start_ms,
            cost: cost.clone(),
        })
        .collect()
}

/// The per-way costs from a results folder's memory.json and boot-time.json.
pub fn costs_from(dir: &Path) -> Result<Vec<Cost>, ResultsError> {
    let memory = LabResults::read(&dir.join("memory.json"))?;
    let boot = LabResults::read(&dir.join("boot-time.json"))?;
    let (LabData::Memory(memory), LabData::BootTime(boot)) = (&memory.data, &boot.data) else {
        return Err(ResultsError::Format {
            path: dir.to_path_buf(),
            reason: "memory.json or boot-time.json holds another lab".into(),
        });
    };
    let mut costs = Vec::new();
    for way in boot.ways.iter().map(|w| w.way) {
        let largest = memory
            .density
            .iter()
            .filter(|d| d.way == way && d.instances > 0)
            .max_by_key(|d| d.instances);
        let memory_mib = match largest {
            Some(d) => d.per_instance_kib / 1024.0,
            None => match memory
                .footprints
                .iter()
                .find(|f| f.way == way && f.workload == "hello")
            {
                Some(f) => f.total_kib.summary.median / 1024.0,
                None => continue,
            },
        };
        let start_ms = boot
            .ways
            .iter()
            .find(|w| w.way == way)
            .map_or(0.0, |w| w.total.summary.median);
        costs.push(Cost {
            way,
            memory_mib,
            start_ms,
        });
    }
    Ok(costs)
}

pub fn data(fleet: Fleet, costs: &[Cost], from: &str) -> SimulateData {
    SimulateData {
        host_mem_mib: fleet.host_mem_mib,
        cores: fleet.cores,
        instances: fleet.instances,
        from: from.to_string(),
        assumptions: ASSUMPTIONS.iter().map(|a| a.to_string()).collect(),
        ways: simulate(fleet, costs),
    }
}

/// Parses a size like `64G`, `512M` or `1024` (MiB) into MiB.
pub fn parse_mib(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size: use a number with M, G or T, like 64G"))?;
    let factor = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" | "M" => 1.0,
        "G" => 1024.0,
        "T" => 1024.0 * 1024.0,
        "K" => 1.0 / 1024.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use K, M, G or T"
            ));
        }
    };
    if value <= 0.0 {
        return Err(format!("{text:?}: a host needs some memory"));
    }
    // "inf" parses as a float too; and the charts need a size they can draw.
    const MOST_MIB: f64 = 1024.0 * 1024.0 * 1024.0; // 1 PiB
    if !value.is_finite() || value * factor > MOST_MIB {
        return Err(format!(
            "{text:?}: give at most 1024T (1 PiB), more than any one host has"
        ));
    }
    Ok(value * factor)
}

pub fn charts(
    data: &SimulateData,
    results: &LabResults,
    dir: &Path,
) -> Result<Vec<PathBuf>, ChartError> {
    let fit = dir.join("simulate-fit.svg");
    let categories = vec![format!("{:.0} GiB host", data.host_mem_mib / 1024.0)];
    let series = |value: &dyn Fn(&SimulatedWay) -> f64| -> Vec<(String, Vec<Option<Bar>>)> {
        data.ways
            .iter()
            .map(|w| {
                (
                    w.cost.way.label().to_string(),
                    vec![Some(Bar {
                        value: value(w),
                        spread: None,
                    })],
                )
            })
            .collect()
    };
    charts::grouped_bars(
        &fit,
        &Grouped {
            title: &format!(
                "Instances that fit in memory (simulated from N={} measured runs)",
                results.runs
            ),
            y_label: "instances",
            categories: &categories,
            series: &series(&|w| w.fit as f64),
        },
    )?;
    let storm = dir.join("simulate-storm.svg");
    let categories = vec![format!("{} starts on {} cores", data.instances, data.cores)];
    charts::grouped_bars(
        &storm,
        &Grouped {
            title: &format!(
                "A storm of starts: time until all have run (from N={} runs)",
                results.runs
            ),
            y_label: "time (s)",
            categories: &categories,
            series: &series(&|w| w.storm_ms / 1000.0),
        },
    )?;
    Ok(vec![fit, storm])
}

pub fn problems(data: &SimulateData) -> Vec<String> {
    let fleet = Fleet {
        host_mem_mib: data.host_mem_mib,
        cores: data.cores,
        instances: data.instances,
    };
    let costs: Vec<Cost> = data.ways.iter().map(|w| w.cost.clone()).collect();
    let again = simulate(fleet, &costs);
    // The storm time is a product of two floats; the fit, an integer.
    let follows = again.len() == data.ways.len()
        && again.iter().zip(&data.ways).all(|(fresh, read)| {
            fresh.fit == read.fit && crate::results::close(fresh.storm_ms, read.storm_ms)
        });
    if follows {
        Vec::new()
    } else {
        vec!["the fits and storm times do not follow from the costs".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_a_hand_calculation() {
        // 1 GiB host, 2 cores, 10 starts. A container of 10 MiB starting in 5 ms:
        // 1024 / 10 = 102.4 -> 102 fit; 10 / 2 = 5 waves x 5 ms = 25 ms.
        // A VM of 20 MiB starting in 12 ms: 51 fit; 5 waves x 12 ms = 60 ms.
        let fleet = Fleet {
            host_mem_mib: 1024.0,
            cores: 2,
            instances: 10,
        };
        let costs = [
            Cost {
                way: Way::Container,
                memory_mib: 10.0,
                start_ms: 5.0,
            },
            Cost {
                way: Way::DirectVm,
                memory_mib: 20.0,
                start_ms: 12.0,
            },
        ];
        let out = simulate(fleet, &costs);
        assert_eq!((out[0].fit, out[0].storm_ms), (102, 25.0));
        assert_eq!((out[1].fit, out[1].storm_ms), (51, 60.0));
        // An odd count rounds the waves up: 11 starts on 2 cores is 6 waves.
        let out = simulate(
            Fleet {
                instances: 11,
                ..fleet
            },
            &costs,
        );
        assert_eq!(out[0].storm_ms, 30.0);
    }

    #[test]
    fn sizes_parse_like_docker_s() {
        assert_eq!(parse_mib("64G"), Ok(65536.0));
        assert_eq!(parse_mib("512m"), Ok(512.0));
        assert_eq!(parse_mib("2GiB"), Ok(2048.0));
        assert_eq!(parse_mib("1024"), Ok(1024.0));
        assert!(parse_mib("lots").is_err());
        assert!(parse_mib("5X").is_err());
        assert!(parse_mib("0G").is_err());
        assert!(parse_mib("inf").is_err());
        assert!(parse_mib("99999999999999999999T").is_err());
        assert_eq!(parse_mib("1024T"), Ok(1024.0 * 1024.0 * 1024.0));
    }
}

#[cfg(test)]
mod read_back {
    use super::*;

    /// The numbers of a fresh machine whose `labs check simulate` failed: the
    /// results file, written and read back, must still check.
    #[test]
    fn a_results_file_read_back_still_checks() {
        let fleet = Fleet {
            host_mem_mib: 65536.0,
            cores: 32,
            instances: 1000,
        };
        let costs = [
            Cost {
                way: Way::Container,
                memory_mib: 1.118828125,
                start_ms: 3.149588,
            },
            Cost {
                way: Way::DirectVm,
                memory_mib: 1.27140625,
                start_ms: 3.1110170000000004,
            },
        ];
        let written = data(fleet, &costs, "a fresh machine");
        assert!(problems(&written).is_empty());
        // Through the results file, as `labs check` reads it (the lab's data is
        // flattened into it, which serde reads through a buffer of its own).
        let results = LabResults {
            schema: crate::results::SCHEMA.into(),
            machine: "m".into(),
            date: "2026-12-01T00:00:00Z".into(),
            runs: 30,
            commands: Vec::new(),
            data: LabData::Simulate(written),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = results.write(dir.path()).unwrap();
        let LabData::Simulate(read) = LabResults::read(&path).unwrap().data else {
            panic!("read back another lab");
        };
        let json = std::fs::read_to_string(&path).unwrap();
        assert_eq!(problems(&read), Vec::<String>::new(), "{json}");
    }

    /// A parser that is not exact (serde_json without `float_roundtrip`, which
    /// the labs binary was built without) may read a storm time back one bit
    /// off. That is still the number the costs give.
    #[test]
    fn a_storm_time_one_bit_off_still_follows_from_its_costs() {
        let fleet = Fleet {
            host_mem_mib: 65536.0,
            cores: 32,
            instances: 1000,
        };
        let cost = Cost {
            way: Way::DirectVm,
            memory_mib: 1.27140625,
            start_ms: 3.1110170000000004,
        };
        let mut read = data(fleet, &[cost], "a fresh machine");
        let storm = &mut read.ways[0].storm_ms;
        *storm = f64::from_bits(storm.to_bits() + 1);
        assert!(problems(&read).is_empty());
        // But a storm time that is really another one is caught.
        read.ways[0].storm_ms *= 1.001;
        assert_eq!(problems(&read).len(), 1);
    }
}
