//! `labs`: the command line of the lab experiments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use labs::criterion::CriterionFile;
use labs::experiments::LabResults;
use labs::experiments::simulate::{self, Fleet};
use labs::experiments::{self, LABS, LabContext, LabError};
use labs::machine::Machine;
use labs::prepare::{DEFAULT_OUT, Prepared, prepare};
use labs::ways::Tools;

/// Run the same workload as a container and as a VM, and measure both.
#[derive(Parser)]
#[command(name = "labs", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the workloads and the lab images (OCI layouts and rootfs tarballs).
    Prepare {
        /// Where to write bin/ and images/.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_OUT)]
        out: PathBuf,
    },
    /// List the labs.
    List,
    /// Run labs (or `all`), write their results and charts.
    Run {
        /// Lab names from `labs list`, or `all`.
        #[arg(required = true)]
        labs: Vec<String>,
        #[command(flatten)]
        options: RunOptions,
        /// Instance counts for the memory lab's density part.
        #[arg(long, value_delimiter = ',', default_value = "1,10,50,100")]
        density: Vec<u32>,
    },
    /// Redraw the charts of every results file in DIR.
    Chart {
        /// A results folder (default: this machine's, under bench-results/).
        dir: Option<PathBuf>,
    },
    /// Check a results file from your own run of a lab.
    Check {
        lab: String,
        /// Where the results are (default: this machine's folder under bench-results/).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Compare peti and microvm with runc, docker, podman and QEMU.
    Compare {
        #[command(flatten)]
        options: RunOptions,
    },
    /// Extrapolate this machine's measured costs to a bigger host.
    Simulate {
        /// The host's memory, like 64G.
        #[arg(long, default_value = "64G")]
        host_mem: String,
        #[arg(long, default_value_t = 32)]
        cores: u32,
        /// How many instances to fit and to start.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        instances: u64,
        /// The results folder whose memory and boot-time results give the costs.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Where to write simulate.json and its charts (default: FROM).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the JSON Schema of results files.
    Schema,
    /// Print this machine's id: the folder under bench-results/ its results go to.
    MachineId,
    /// Draw every machine's charts into the book's source, then build the book.
    Book {
        /// The folder of machine folders.
        #[arg(long, default_value = "bench-results")]
        results: PathBuf,
        /// The mdBook's folder.
        #[arg(long, default_value = "book")]
        book: PathBuf,
        /// Only draw the charts; do not run `mdbook build`.
        #[arg(long)]
        no_build: bool,
    },
    /// Chart criterion's estimates of the hot paths (after `cargo bench ... --bench hot_paths`).
    Criterion {
        /// criterion's output folder.
        #[arg(long, default_value = "target/criterion")]
        dir: PathBuf,
        /// Where criterion.json and criterion.svg go (default: bench-results/<machine-id>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunOptions {
    /// Measured runs per way (warm-up runs come on top).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=10000))]
    runs: u32,
    /// Where results and charts go (default: bench-results/<machine-id>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// What `labs prepare` wrote.
    #[arg(long, default_value = DEFAULT_OUT)]
    lab_dir: PathBuf,
}

/// musl's malloc maps and unmaps memory for small allocations, a cost paid on
/// every start; dlmalloc keeps what it maps (see .cargo/config.toml).
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Prepare { out } => prepare(&out)
            .map(|prepared| print_prepared(&prepared))
            .map_err(|e| e.to_string()),
        Command::List => {
            list();
            Ok(())
        }
        Command::Run {
            labs,
            options,
            density,
        } => run(&labs, &options, density),
        Command::Chart { dir } => chart(dir),
        Command::Check { lab, dir } => return check(&lab, dir),
        Command::Compare { options } => compare(&options),
        Command::Simulate {
            host_mem,
            cores,
            instances,
            from,
            out,
        } => run_simulate(&host_mem, cores, instances, from, out),
        Command::Criterion { dir, out } => criterion(&dir, out),
        Command::Book {
            results,
            book,
            no_build,
        } => build_book(&results, &book, no_build),
        Command::MachineId => {
            println!("{}", Machine::this().id);
            Ok(())
        }
        Command::Schema => {
            let schema = labs::experiments::json_schema();
            println!("{}", serde_json::to_string_pretty(&schema).expect("JSON"));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("labs: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn list() {
    println!("{:<16} WHAT IT MEASURES", "LAB");
    for lab in &LABS {
        println!("{:<16} {}", lab.name, lab.summary);
    }
    println!(
        "{:<16} ours against runc, docker, podman and QEMU (labs compare)",
        "compare"
    );
    println!(
        "{:<16} this machine's costs on a bigger host (labs simulate)",
        "simulate"
    );
}

fn default_dir(machine: &Machine) -> PathBuf {
    Path::new("bench-results").join(&machine.id)
}

/// Writes machine.json beside the results, and a results file's charts.
fn write_results(results: &LabResults, dir: &Path, machine: &Machine) -> Result<(), String> {
    write_machine(machine, dir)?;
    let path = results.write(dir).map_err(|e| e.to_string())?;
    let charts = results
        .data
        .charts(results, dir)
        .map_err(|e| e.to_string())?;
    println!("{}: wrote {}", results.lab(), path.display());
    for chart in charts {
        println!("{}: drew {}", results.lab(), chart.display());
    }
    Ok(())
}

fn write_machine(machine: &Machine, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("machine.json");
    let mut bytes = serde_json::to_vec_pretty(machine).expect("JSON");
    bytes.push(b'\n');
    runtime::fsutil::write_atomically(&path, &bytes, 0o644)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn context(
    options: &RunOptions,
    density: Vec<u32>,
) -> Result<(LabContext, PathBuf, tempfile::TempDir), String> {
    let machine = Machine::this();
    let tools = Tools::find(&options.lab_dir).map_err(|e| e.to_string())?;
    let scratch = tempfile::Builder::new()
        .prefix("labs-")
        .tempdir()
        .map_err(|e| format!("a scratch folder: {e}"))?;
    let out = options.out.clone().unwrap_or_else(|| default_dir(&machine));
    let ctx = LabContext {
        tools,
        machine,
        runs: options.runs,
        density,
        scratch: scratch.path().to_path_buf(),
        progress: None,
    };
    Ok((ctx, out, scratch))
}

fn run(names: &[String], options: &RunOptions, density: Vec<u32>) -> Result<(), String> {
    let chosen: Vec<&experiments::Lab> = if names.iter().any(|n| n == "all") {
        LABS.iter().collect()
    } else {
        names
            .iter()
            .map(|n| experiments::find(n).ok_or_else(|| LabError::Unknown(n.clone()).to_string()))
            .collect::<Result<_, _>>()?
    };
    let (mut ctx, out, _scratch) = context(options, density)?;
    // A lab that cannot run here (the resources lab without root, say) is
    // reported, and the others still run.
    let mut failed = Vec::new();
    for lab in chosen {
        let results = experiments::run_lab(lab, &mut ctx);
        ctx.end();
        let results = match results {
            Ok(results) => results,
            Err(e) => {
                eprintln!("labs: error: {}: {e}", lab.name);
                failed.push(lab.name);
                continue;
            }
        };
        write_results(&results, &out, &ctx.machine)?;
        for problem in results.data.problems() {
            eprintln!("{}: note: {problem}", lab.name);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("these labs did not run: {}", failed.join(", ")))
    }
}

fn compare(options: &RunOptions) -> Result<(), String> {
    let (mut ctx, out, _scratch) = context(options, Vec::new())?;
    let (data, commands) = labs::experiments::compare::run(&mut ctx).map_err(|e| e.to_string())?;
    ctx.end();
    let results = LabResults::new(&ctx.machine.id, ctx.runs, commands, data);
    write_results(&results, &out, &ctx.machine)
}

fn chart(dir: Option<PathBuf>) -> Result<(), String> {
    let dir = dir.unwrap_or_else(|| default_dir(&Machine::this()));
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut drawn = 0;
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        // machine.json describes the machine; criterion.json is criterion's
        // estimates (`labs criterion` draws its chart).
        if !name.ends_with(".json") || name == "machine.json" || name == "criterion.json" {
            continue;
        }
        let results = LabResults::read(&path).map_err(|e| e.to_string())?;
        for chart in results
            .data
            .charts(&results, &dir)
            .map_err(|e| e.to_string())?
        {
            println!("drew {}", chart.display());
            drawn += 1;
        }
    }
    if drawn == 0 {
        return Err(format!(
            "no results files in {}: run `labs run all` first",
            dir.display()
        ));
    }
    Ok(())
}

fn build_book(results: &Path, book: &Path, no_build: bool) -> Result<(), String> {
    let machine = Machine::this();
    let source = book.join("src");
    let generated =
        labs::book::generate(results, &source, &machine.id).map_err(|e| e.to_string())?;
    for m in &generated.machines {
        let charts: usize = m.labs.iter().map(|l| l.charts.len()).sum();
        println!("book: drew {charts} charts of {}", m.machine.id);
    }
    if !generated.yours {
        println!(
            "book: this machine ({}) has no results yet; its pages say how to get them",
            machine.id
        );
    }
    if no_build {
        return Ok(());
    }
    let built = std::process::Command::new("mdbook")
        .arg("build")
        .arg(book)
        .status()
        .map_err(|e| format!("mdbook: {e} (run .ci/setup, which installs mdbook)"))?;
    if !built.success() {
        return Err(format!("mdbook build {} failed", book.display()));
    }
    let index = book.join("book/index.html");
    println!("book: built; open {}", index.display());
    Ok(())
}

fn criterion(dir: &Path, out: Option<PathBuf>) -> Result<(), String> {
    let machine = Machine::this();
    let out = out.unwrap_or_else(|| default_dir(&machine));
    let estimates = labs::criterion::read_estimates(dir).map_err(|e| e.to_string())?;
    write_machine(&machine, &out)?;
    let file = CriterionFile::new(&machine.id, estimates);
    let path = out.join("criterion.json");
    file.write(&path).map_err(|e| e.to_string())?;
    let chart = out.join("criterion.svg");
    labs::criterion::chart(&file.estimates, &chart, &machine.id).map_err(|e| e.to_string())?;
    for e in &file.estimates {
        println!("{:<50} median {:>12.2} µs", e.id, e.median_ns / 1000.0);
    }
    println!(
        "criterion: wrote {} and {}",
        path.display(),
        chart.display()
    );
    Ok(())
}

fn check(lab: &str, dir: Option<PathBuf>) -> ExitCode {
    let machine = Machine::this();
    let dir = dir.unwrap_or_else(|| default_dir(&machine));
    let verdict = labs::check::check(lab, &dir, &machine);
    if verdict.passed() {
        let r = verdict
            .results
            .as_ref()
            .expect("a passed check read its results");
        println!(
            "labs check {lab}: ok: {} (N={}, measured {} on {})",
            verdict.path.display(),
            r.runs,
            r.date,
            r.machine
        );
        ExitCode::SUCCESS
    } else {
        println!("labs check {lab}: FAILED: {}", verdict.path.display());
        for problem in &verdict.problems {
            println!("  - {problem}");
        }
        ExitCode::FAILURE
    }
}

fn run_simulate(
    host_mem: &str,
    cores: u32,
    instances: u64,
    from: Option<PathBuf>,
    out: Option<PathBuf>,
) -> Result<(), String> {
    let machine = Machine::this();
    let from = from.unwrap_or_else(|| default_dir(&machine));
    let fleet = Fleet {
        host_mem_mib: simulate::parse_mib(host_mem)?,
        cores: if cores == 0 {
            return Err("--cores must be at least 1".into());
        } else {
            cores
        },
        instances,
    };
    let costs = simulate::costs_from(&from)
        .map_err(|e| format!("{e}: run `labs run memory boot-time` first, or give --from DIR"))?;
    let data = simulate::data(fleet, &costs, &from.display().to_string());
    println!(
        "{:.0} GiB, {} cores, {} instances (from {})",
        fleet.host_mem_mib / 1024.0,
        fleet.cores,
        fleet.instances,
        from.display()
    );
    println!(
        "{:<30} {:>12} {:>10} {:>10} {:>14}",
        "WAY", "MIB/INSTANCE", "START MS", "FIT", "STORM"
    );
    for w in &data.ways {
        println!(
            "{:<30} {:>12.2} {:>10.2} {:>10} {:>12.2} s",
            w.cost.way.label(),
            w.cost.memory_mib,
            w.cost.start_ms,
            w.fit,
            w.storm_ms / 1000.0
        );
    }
    println!("assumptions:");
    for a in &data.assumptions {
        println!("  - {a}");
    }
    let from_dir = from.clone();
    let out = out.unwrap_or(from);
    let results = LabResults::new(
        &machine.id,
        // The N behind the costs: the boot-time lab's runs.
        LabResults::read(&from_dir.join("boot-time.json")).map_or(1, |r| r.runs),
        vec![format!(
            "labs simulate --host-mem {host_mem} --cores {cores} --instances {instances}"
        )],
        experiments::LabData::Simulate(data),
    );
    write_results(&results, &out, &machine)
}

fn print_prepared(prepared: &Prepared) {
    println!("workloads in {}:", prepared.out.join("bin").display());
    for path in &prepared.binaries {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!(
            "  {:<10} {:>8} bytes",
            path.file_name().unwrap_or_default().to_string_lossy(),
            size
        );
    }
    println!("images in {}:", prepared.out.join("images").display());
    println!(
        "  {:<10} {:<20} {:>6} {:>12}",
        "NAME", "MANIFEST DIGEST", "LAYERS", "BLOB BYTES"
    );
    for image in &prepared.images {
        let digest = image.written.manifest.digest().digest();
        println!(
            "  {:<10} sha256:{:<13} {:>6} {:>12}",
            image.name,
            &digest[..12],
            image.written.layers.len(),
            image.written.blob_bytes()
        );
    }
}
