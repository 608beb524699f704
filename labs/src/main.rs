//! `labs`: the command line of the lab experiments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use labs::prepare::{DEFAULT_OUT, Prepared, prepare};

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
}

/// musl's malloc maps and unmaps memory for small allocations, a cost paid on
/// every start; dlmalloc keeps what it maps (see .cargo/config.toml).
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Prepare { out } => prepare(&out).map(|prepared| print_prepared(&prepared)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("labs: error: {error}");
            ExitCode::FAILURE
        }
    }
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
