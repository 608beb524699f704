//! `peti volume`: create, ls, inspect, rm and prune, as Docker's.

use clap::{Args, Subcommand};
use runtime::engine::Engine;
use runtime::volume::VolumeInfo;

use super::CliError;
use super::format::{Columns, Format, print_rows};
use super::out::{self, outln};

/// The volume commands.
#[derive(Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name if none is given).
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Show volumes' details as JSON.
    Inspect(InspectArgs),
    /// Remove volumes that no container uses.
    #[command(alias = "remove")]
    Rm(RemoveArgs),
    /// Remove the anonymous volumes no container uses (all unused with -a).
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// The volume's name.
    pub name: Option<String>,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only names.
    #[arg(short, long)]
    pub quiet: bool,
    /// table, json, or a Go template (`{{.Name}}`).
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: Format,
}

#[derive(Args)]
pub struct InspectArgs {
    /// A Go template run on each volume (`{{.Mountpoint}}`).
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct RemoveArgs {
    /// Accepted, as Docker's: a volume in use is still refused.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Named volumes too, not only anonymous ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask.
    #[arg(short, long)]
    pub force: bool,
}

/// `docker volume ls`'s columns.
const VOLUMES: Columns = Columns {
    default: "{{.Driver}}\t{{.Name}}",
    headings: &[
        ("Driver", "DRIVER"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Name", "VOLUME NAME"),
        ("Scope", "SCOPE"),
        ("Size", "SIZE"),
    ],
};

/// One volume as `docker volume ls` gives it to a template. Links and Size
/// are "N/A", as Docker's are outside `system df`.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct VolumeRow {
    driver: &'static str,
    labels: String,
    links: &'static str,
    mountpoint: String,
    name: String,
    scope: &'static str,
    size: &'static str,
}

/// One volume as `docker volume inspect` prints it.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct VolumeInspect {
    created_at: String,
    driver: &'static str,
    labels: Option<()>,
    mountpoint: String,
    name: String,
    options: Option<()>,
    scope: &'static str,
}

impl VolumeInspect {
    fn of(v: &VolumeInfo) -> VolumeInspect {
        VolumeInspect {
            created_at: v.created_at.clone(),
            driver: "local",
            labels: None,
            mountpoint: v.mountpoint.display().to_string(),
            name: v.name.clone(),
            options: None,
            scope: "local",
        }
    }
}

pub fn run(engine: &Engine, command: VolumeCommand) -> Result<(), CliError> {
    match command {
        VolumeCommand::Create(a) => outln!("{}", engine.create_volume(a.name.as_deref())?.name),
        VolumeCommand::Ls(a) if a.quiet => {
            engine
                .list_volumes()?
                .iter()
                .for_each(|v| outln!("{}", v.name));
        }
        VolumeCommand::Ls(a) => {
            let rows: Vec<VolumeRow> = engine
                .list_volumes()?
                .into_iter()
                .map(|v| VolumeRow {
                    driver: "local",
                    labels: String::new(),
                    links: "N/A",
                    mountpoint: v.mountpoint.display().to_string(),
                    name: v.name,
                    scope: "local",
                    size: "N/A",
                })
                .collect();
            print_rows(&a.format, &VOLUMES, &rows)?;
        }
        VolumeCommand::Inspect(a) => {
            super::container::inspect_each(&a.names, a.format.as_deref(), |name| {
                engine
                    .inspect_volume(name)
                    .map(|v| {
                        serde_json::to_value(VolumeInspect::of(&v)).expect("inspect serialises")
                    })
                    .map_err(|e| e.to_string())
            })?
        }
        VolumeCommand::Rm(a) => {
            // As Docker: each in turn, a failure reported and the rest done.
            let failed = a
                .names
                .iter()
                .filter(|name| match engine.remove_volume(name) {
                    Ok(()) => {
                        outln!("{name}");
                        false
                    }
                    Err(e) => {
                        eprintln!("peti: error: {e}");
                        true
                    }
                })
                .count();
            if failed > 0 {
                return Err(CliError::Reported(failed));
            }
        }
        VolumeCommand::Prune(a) => {
            let warning = if a.all {
                "WARNING! This will remove all local volumes not used by at least one container."
            } else {
                "WARNING! This will remove anonymous local volumes not used by at least one container."
            };
            if !a.force && !out::confirm(warning) {
                return Ok(());
            }
            let pruned = engine.prune_volumes(a.all)?;
            out::pruned("Deleted Volumes:", &pruned.names, pruned.bytes);
        }
    }
    Ok(())
}
