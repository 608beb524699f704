//! The numbers of a results file: samples, the summaries worked out from them,
//! and how two numbers read back are compared. The file itself (the envelope
//! around each lab's data) is [`crate::experiments::LabResults`].
//!
//! The raw samples are kept next to the summaries computed from them, so that a
//! chart can be redrawn and `labs check` can recompute every summary: a result
//! whose median does not follow from its samples was edited by hand.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The version of the results format. Bump it when a field changes meaning.
pub const SCHEMA: &str = "peti-labs/results/v1";

/// Whether two numbers are equal up to the last few bits: the test for a number
/// that was worked out again from a results file. JSON carries decimals, and a
/// number read back may differ from the one written in its last bit (serde_json
/// parses exactly only with its `float_roundtrip` feature, which the workspace
/// turns on; this keeps a check honest even where a file came from elsewhere).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Median and spread of a set of samples. The samples themselves are kept in
/// the results file too; this is what charts and text show.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub n: u32,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// Nearest-rank percentiles of the samples (which need not be sorted).
    pub fn of(samples: &[f64]) -> Summary {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if sorted.is_empty() {
                return f64::NAN;
            }
            sorted[((sorted.len() - 1) as f64 * q).round() as usize]
        };
        Summary {
            n: sorted.len() as u32,
            median: at(0.5),
            p10: at(0.1),
            p90: at(0.9),
            min: at(0.0),
            max: at(1.0),
        }
    }

    /// Whether `self` is what [`Summary::of`] gives for `samples`, up to the
    /// rounding that a JSON round trip may add.
    pub fn matches(&self, samples: &[f64]) -> bool {
        let fresh = Summary::of(samples);
        self.n == fresh.n
            && close(self.median, fresh.median)
            && close(self.p10, fresh.p10)
            && close(self.p90, fresh.p90)
            && close(self.min, fresh.min)
            && close(self.max, fresh.max)
    }
}

/// Samples with their summary, in one unit.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Series {
    pub unit: String,
    pub samples: Vec<f64>,
    pub summary: Summary,
}

impl Series {
    pub fn new(unit: &str, samples: Vec<f64>) -> Series {
        Series {
            unit: unit.to_string(),
            summary: Summary::of(&samples),
            samples,
        }
    }

    pub fn is_consistent(&self) -> bool {
        self.summary.matches(&self.samples)
    }
}

/// Now, as RFC 3339 in UTC, to the second.
pub fn now_rfc3339() -> String {
    runtime::container::state::now_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = Summary::of(&[5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!((s.n, s.median, s.min, s.max), (5, 3.0, 1.0, 5.0));
        let ten: Vec<f64> = (1..=11).map(f64::from).collect();
        let s = Summary::of(&ten);
        assert_eq!((s.p10, s.median, s.p90), (2.0, 6.0, 10.0));
        assert!(s.matches(&ten));
        assert!(!s.matches(&ten[1..]));
    }

    #[test]
    fn an_edited_median_no_longer_matches_its_samples() {
        let mut series = Series::new("ms", vec![1.0, 2.0, 3.0]);
        assert!(series.is_consistent());
        series.summary.median = 1.5;
        assert!(!series.is_consistent());
    }
}
