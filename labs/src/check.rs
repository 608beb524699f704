//! `labs check LAB`: does a reader's own results file show a real, complete run
//! of that lab on this machine?
//!
//! The book's exercises end with it. It reads `<dir>/<lab>.json` (by default the
//! reader's own folder, `bench-results/<this machine's id>/`) and checks:
//! - it is a results file of this version, for this lab, from this machine;
//! - every summary follows from its samples, and every part adds up to its
//!   whole: a number edited by hand shows up here;
//! - the outcome is one the lab's question allows (the container shares the
//!   host's kernel, 64 MiB in a 32m cgroup is OOM-killed, ...);
//! - its charts are there beside it.

use std::path::{Path, PathBuf};

use crate::experiments::LabResults;
use crate::machine::Machine;

/// The verdict on one results file.
#[derive(Debug)]
pub struct Verdict {
    pub path: PathBuf,
    pub results: Option<LabResults>,
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

pub fn check(lab: &str, dir: &Path, machine: &Machine) -> Verdict {
    let path = dir.join(format!("{lab}.json"));
    let mut verdict = Verdict {
        path: path.clone(),
        results: None,
        problems: Vec::new(),
    };
    let Some(command) = crate::experiments::command_for(lab) else {
        verdict
            .problems
            .push(format!("unknown lab {lab:?}: `labs list` shows them"));
        return verdict;
    };
    let results = match LabResults::read(&path) {
        Ok(results) => results,
        Err(e) => {
            verdict
                .problems
                .push(format!("{e} (run `{command}` first)"));
            return verdict;
        }
    };
    if results.lab() != lab {
        verdict.problems.push(format!(
            "the file holds the {} lab, not {lab}",
            results.lab()
        ));
    }
    if results.machine != machine.id {
        verdict.problems.push(format!(
            "measured on {}, not on this machine ({}): run `{command}` here",
            results.machine, machine.id
        ));
    }
    if results.runs == 0 {
        verdict.problems.push("no measured runs".into());
    }
    verdict.problems.extend(results.data.problems());
    verdict.problems.extend(missing_charts(&results, dir));
    verdict.results = Some(results);
    verdict
}

/// Charts the results should have beside them: the lab draws them again into a
/// scratch folder, and each name must also be in `dir`.
fn missing_charts(results: &LabResults, dir: &Path) -> Vec<String> {
    let Ok(scratch) = tempfile::tempdir() else {
        return vec!["cannot make a scratch folder to list the charts".into()];
    };
    match results.data.charts(results, scratch.path()) {
        Ok(charts) => charts
            .iter()
            .filter_map(|c| c.file_name())
            .filter(|name| !dir.join(name).is_file())
            .map(|name| {
                format!(
                    "chart {} is missing: run `labs chart {}`",
                    name.to_string_lossy(),
                    dir.display()
                )
            })
            .collect(),
        Err(e) => vec![format!("its charts cannot be drawn: {e}")],
    }
}
