//! `labs book`: the book's charts, drawn from the results files at build time.
//!
//! The book never holds a chart of its own. Before mdbook builds it, this module
//! redraws every machine's charts from the raw samples under `bench-results/`
//! into `book/src/generated/<machine-id>/`, and writes small Markdown pieces that
//! the lab pages include:
//! - `generated/yours/<lab>.md`: the reader's own charts of that lab, or how to
//!   get them when this machine has not run it yet;
//! - `generated/machines.md`: a table of every machine with results;
//! - `generated/figures/<lab>/<name>`: each number of the reference machine's
//!   results that a sentence may quote ([`crate::figures`]).
//!
//! A page shows a reference machine's chart with a plain image link, and the
//! reader's with `{{#include ../generated/yours/<lab>.md}}`. `generated/` is not
//! in git: a chart in the book is always the one its samples draw today.

use std::path::{Path, PathBuf};

use crate::charts::ChartError;
use crate::criterion::CriterionFile;
use crate::experiments::{LabResults, ResultsError};
use crate::machine::Machine;

/// The folder under the book's source that this module owns.
pub const GENERATED: &str = "generated";

/// The labs whose pages include a `generated/yours/<lab>.md` piece: every lab
/// `labs run all` runs, then the three with commands of their own.
fn pages() -> impl Iterator<Item = &'static str> {
    crate::experiments::LABS
        .iter()
        .map(|lab| lab.name)
        .chain(["compare", "simulate", "criterion"])
}

/// What can go wrong drawing the book's charts.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error(transparent)]
    Criterion(#[from] crate::criterion::CriterionError),
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("drawing a chart: {0}")]
    Chart(#[from] ChartError),
    #[error(
        "no machine folders with results in {0}: run `labs run all` first, or build the book from a clone that has bench-results/"
    )]
    NoResults(PathBuf),
    #[error(
        "the book quotes the results of {machine}, and {0} has none: build the book from a clone that has bench-results/{machine}/",
        machine = crate::figures::REFERENCE
    )]
    NoReference(PathBuf),
    #[error("the figures of {0}")]
    Figures(String),
    #[error(
        "pages quote figures the results do not have (a lab run with other options, or renamed data): {}",
        .0.join(", ")
    )]
    MissingFigures(Vec<String>),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BookError + '_ {
    move |source| BookError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One machine's results, as drawn into the book.
#[derive(Debug)]
pub struct MachineCharts {
    pub machine: Machine,
    /// Per lab: its results' date and N, and the charts drawn, in the order the
    /// lab draws them. (criterion has no N: criterion chooses its own samples.)
    pub labs: Vec<LabCharts>,
}

#[derive(Debug)]
pub struct LabCharts {
    pub lab: String,
    pub date: String,
    pub runs: Option<u32>,
    pub charts: Vec<PathBuf>,
}

/// Redraws every chart of one results folder into `out`.
pub fn draw_machine(results: &Path, out: &Path) -> Result<MachineCharts, BookError> {
    let machine_file = results.join("machine.json");
    let text = std::fs::read_to_string(&machine_file).map_err(io(&machine_file))?;
    let machine: Machine = serde_json::from_str(&text).map_err(|e| BookError::Format {
        path: machine_file.clone(),
        reason: e.to_string(),
    })?;
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(results)
        .map_err(io(results))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| !p.ends_with("machine.json"))
        .collect();
    files.sort();
    let mut labs = Vec::new();
    for path in files {
        if path.ends_with("criterion.json") {
            labs.push(draw_criterion(&path, out)?);
            continue;
        }
        let results = LabResults::read(&path)?;
        labs.push(LabCharts {
            lab: results.lab().to_string(),
            date: results.date.clone(),
            runs: Some(results.runs),
            charts: results.data.charts(&results, out)?,
        });
    }
    Ok(MachineCharts { machine, labs })
}

fn draw_criterion(path: &Path, out: &Path) -> Result<LabCharts, BookError> {
    let file = CriterionFile::read(path)?;
    let chart = out.join("criterion.svg");
    crate::criterion::chart(&file.estimates, &chart, &file.machine)?;
    Ok(LabCharts {
        lab: "criterion".into(),
        date: file.date,
        runs: None,
        charts: vec![chart],
    })
}

/// What [`generate`] drew.
#[derive(Debug)]
pub struct Generated {
    pub machines: Vec<MachineCharts>,
    /// Whether this machine has results of its own.
    pub yours: bool,
}

/// Draws every machine's charts under `results_root` into `<book_src>/generated/`
/// and writes the pieces the pages include. `this_machine` is the reader's
/// machine id. The folder is rebuilt beside the old one and swapped in, so a
/// failure leaves the previous charts whole.
pub fn generate(
    results_root: &Path,
    book_src: &Path,
    this_machine: &str,
) -> Result<Generated, BookError> {
    let staging = tempfile::Builder::new()
        .prefix(".generated-")
        .tempdir_in(book_src)
        .map_err(io(book_src))?;
    let mut machines = Vec::new();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(results_root)
        .map_err(io(results_root))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("machine.json").is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let id = folder.file_name().unwrap_or_default();
        machines.push(draw_machine(&folder, &staging.path().join(id))?);
    }
    if machines.is_empty() {
        return Err(BookError::NoResults(results_root.to_path_buf()));
    }
    let yours = machines.iter().find(|m| m.machine.id == this_machine);
    let pieces = staging.path().join("yours");
    std::fs::create_dir_all(&pieces).map_err(io(&pieces))?;
    for lab in pages() {
        let piece = pieces.join(format!("{lab}.md"));
        let text = your_piece(lab, this_machine, yours, staging.path());
        std::fs::write(&piece, text).map_err(io(&piece))?;
    }
    let reference = results_root.join(crate::figures::REFERENCE);
    if !reference.join("machine.json").is_file() {
        return Err(BookError::NoReference(results_root.to_path_buf()));
    }
    let figures = crate::figures::of_folder(&reference).map_err(BookError::Figures)?;
    let missing = crate::figures::missing_in_pages(book_src, &figures);
    if !missing.is_empty() {
        return Err(BookError::MissingFigures(missing));
    }
    let figures_dir = staging.path().join("figures");
    crate::figures::write(&figures_dir, &figures).map_err(io(&figures_dir))?;
    let table = staging.path().join("machines.md");
    std::fs::write(&table, machines_table(&machines)).map_err(io(&table))?;
    let generated = book_src.join(GENERATED);
    if generated.exists() {
        std::fs::remove_dir_all(&generated).map_err(io(&generated))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &generated).map_err(io(&generated))?;
    let yours = machines.iter().any(|m| m.machine.id == this_machine);
    Ok(Generated { machines, yours })
}

/// The piece a lab page includes for the reader's own machine. Its image links
/// are relative to `book/src/labs/`, where the lab pages are.
fn your_piece(
    lab: &str,
    this_machine: &str,
    yours: Option<&MachineCharts>,
    generated: &Path,
) -> String {
    let Some(charts) = yours.and_then(|m| m.labs.iter().find(|l| l.lab == lab)) else {
        let command =
            crate::experiments::command_for(lab).unwrap_or_else(|| format!("labs run {lab}"));
        return format!(
            "> **Your machine** (`{this_machine}`) has no results for this lab yet. Run \
             `{command}`, then `labs book`, and your own charts appear here.\n"
        );
    };
    let n = charts.runs.map_or(String::new(), |n| format!(", N = {n}"));
    let mut text = format!(
        "**Your machine** (`{this_machine}`), measured {}{n}:\n\n",
        charts.date
    );
    for chart in &charts.charts {
        let relative = chart.strip_prefix(generated).unwrap_or(chart);
        let name = chart.file_stem().unwrap_or_default().to_string_lossy();
        text.push_str(&format!(
            "![{name}, your machine](../{GENERATED}/{})\n\n",
            relative.display()
        ));
    }
    text
}

fn machines_table(machines: &[MachineCharts]) -> String {
    let mut text = String::from(
        "| machine | CPU | cores | memory | kernel | virtualisation | cgroups | labs |\n\
         | --- | --- | --: | --: | --- | --- | --- | --- |\n",
    );
    for m in machines {
        let labs: Vec<&str> = m.labs.iter().map(|l| l.lab.as_str()).collect();
        let machine = &m.machine;
        text.push_str(&format!(
            "| `{}` | {} | {} | {} MiB | {} | {} | {} | {} |\n",
            machine.id,
            machine.cpu_model,
            machine.cores,
            machine.memory_mib,
            machine.kernel,
            machine.virtualisation,
            machine.cgroup_mode,
            labs.join(", ")
        ));
    }
    text
}
