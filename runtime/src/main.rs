//! `peti`: the command line of the container runtime. Commands and flags follow
//! Docker's; each one is a thin layer over the library.
//!
//! Exit codes follow Docker: 125 when peti itself fails.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use runtime::image::store::{DEFAULT_ROOT, ImageSummary, Store, StoreError};

/// A minimal, daemonless container runtime with Docker's command line.
#[derive(Parser)]
#[command(name = "peti", version, about, long_about = None)]
struct Cli {
    /// Where images live (default /var/lib/peti).
    #[arg(long, env = "PETI_ROOT", default_value = DEFAULT_ROOT, global = true, value_name = "DIR")]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load images from an OCI image layout directory or OCI archive.
    Load {
        /// The OCI layout or archive to read (for example target/lab/images/lab).
        #[arg(short, long, value_name = "PATH")]
        input: PathBuf,
    },
    /// Create an image from a rootfs tarball (tar or tar.gz).
    Import {
        /// The tarball.
        file: PathBuf,
        /// NAME[:TAG] of the new image.
        reference: String,
    },
    /// List images.
    Images {
        /// Output format: a table, or one JSON object per image.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Give an image another name: SOURCE[:TAG] TARGET[:TAG].
    Tag { source: String, target: String },
    /// Remove images.
    Rmi {
        /// Remove even if a container uses it.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Docker's exit status when the runtime itself fails.
const EXIT_PETI_FAILED: u8 = 125;

fn main() -> ExitCode {
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        // Docker exits 125 for a usage error too; help and version are not errors.
        let code = if e.use_stderr() {
            i32::from(EXIT_PETI_FAILED)
        } else {
            0
        };
        let _ = e.print();
        std::process::exit(code)
    });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("peti: error: {error}");
            ExitCode::from(EXIT_PETI_FAILED)
        }
    }
}

fn run(cli: Cli) -> Result<(), StoreError> {
    let store = Store::open(&cli.root)?;
    match cli.command {
        Command::Load { input } => {
            for reference in store.load(&input)? {
                println!("Loaded image: {reference}");
            }
        }
        Command::Import { file, reference } => {
            // Like Docker, print the new image's ID: the digest of its config.
            let reference = store.import_rootfs(&file, &reference)?;
            let (manifest, _) = store.image(&reference.to_string())?;
            println!("{}", manifest.config().digest());
        }
        Command::Images { format } => print_images(&store.list()?, format),
        Command::Tag { source, target } => store.tag(&source, &target)?,
        // Containers do not exist yet, so no image is in use and -f changes nothing.
        Command::Rmi { force: _, images } => {
            for image in images {
                for line in store.remove(&image)? {
                    println!("{line}");
                }
            }
        }
    }
    Ok(())
}

fn print_images(rows: &[ImageSummary], format: Format) {
    match format {
        Format::Json => {
            for row in rows {
                println!(
                    "{}",
                    serde_json::to_string(row).expect("strings and numbers serialise")
                );
            }
        }
        Format::Table => {
            println!(
                "{:<24} {:<10} {:<14} {:>10}",
                "REPOSITORY", "TAG", "IMAGE ID", "SIZE"
            );
            for row in rows {
                let id = row.id.trim_start_matches("sha256:");
                println!(
                    "{:<24} {:<10} {:<14} {:>10}",
                    row.repository,
                    row.tag,
                    &id[..12],
                    human_size(row.size)
                );
            }
        }
    }
}

/// Sizes as Docker prints them: decimal units, four significant digits (`12.61kB`).
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = match value {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}{}", units[unit])
}
