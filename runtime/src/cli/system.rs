//! `peti system df` and `peti system prune`, in Docker's words.

use clap::{Args, Subcommand};
use runtime::engine::Engine;
use runtime::engine::system::Usage;

use super::CliError;
use super::format::{Columns, Format, print_rows, units};
use super::out::{self, outln};

#[derive(Subcommand)]
pub enum SystemCommand {
    /// Show how much disk images, containers and volumes take.
    Df(DfArgs),
    /// Remove stopped containers (and unused images with -a, volumes with --volumes).
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct DfArgs {
    /// table, json, or a Go template (`{{.Type}}: {{.Size}}`).
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: Format,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Every image no container uses, not only nameless ones.
    #[arg(short, long)]
    pub all: bool,
    /// The anonymous volumes no container uses, too.
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask.
    #[arg(short, long)]
    pub force: bool,
}

/// `docker system df`'s columns.
const DF: Columns = Columns {
    default: "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    headings: &[
        ("Active", "ACTIVE"),
        ("Reclaimable", "RECLAIMABLE"),
        ("Size", "SIZE"),
        ("TotalCount", "TOTAL"),
        ("Type", "TYPE"),
    ],
};

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct DfRow {
    active: String,
    reclaimable: String,
    size: String,
    total_count: String,
    #[serde(rename = "Type")]
    kind: &'static str,
}

impl DfRow {
    /// Docker's reclaimable column: the bytes, and their share of the size
    /// when there is any size.
    fn of(kind: &'static str, usage: &Usage) -> DfRow {
        let reclaimable = units::decimal(usage.reclaimable, 4);
        DfRow {
            active: usage.active.to_string(),
            reclaimable: match (usage.reclaimable * 100).checked_div(usage.bytes) {
                Some(percent) => format!("{reclaimable} ({percent}%)"),
                None => reclaimable,
            },
            size: units::decimal(usage.bytes, 4),
            total_count: usage.total.to_string(),
            kind,
        }
    }
}

pub fn run(engine: &Engine, command: SystemCommand) -> Result<(), CliError> {
    match command {
        SystemCommand::Df(a) => {
            let usage = engine.disk_usage()?;
            let rows = [
                DfRow::of("Images", &usage.images),
                DfRow::of("Containers", &usage.containers),
                DfRow::of("Local Volumes", &usage.volumes),
                DfRow::of("Build Cache", &usage.build_cache),
            ];
            print_rows(&a.format, &DF, &rows)?;
        }
        SystemCommand::Prune(a) => {
            let mut warning =
                String::from("WARNING! This will remove:\n  - all stopped containers\n");
            if a.volumes {
                warning.push_str("  - all anonymous volumes not used by at least one container\n");
            }
            warning.push_str(if a.all {
                "  - all images without at least one container associated to them\n"
            } else {
                "  - all dangling images\n"
            });
            if !a.force && !out::confirm(&warning) {
                return Ok(());
            }
            let pruned = engine.prune_system(a.all, a.volumes)?;
            for (heading, names) in [
                ("Deleted Containers:", &pruned.containers),
                ("Deleted Volumes:", &pruned.volumes),
                ("Deleted Images:", &pruned.images),
            ] {
                if !names.is_empty() {
                    outln!("{heading}");
                    names.iter().for_each(|n| outln!("{n}"));
                    outln!("");
                }
            }
            outln!("Total reclaimed space: {}", units::decimal(pruned.bytes, 4));
        }
    }
    Ok(())
}
