//! The image commands: load, import, images, tag, rmi; and `peti image ...`.

use runtime::engine::Engine;
use runtime::engine::view::{human_duration, since};
use runtime::image::store::ImageSummary;

use super::CliError;
use super::args::{Format, ImageCommand, ImageShort};
use crate::cli::out::outln;

impl From<ImageShort> for ImageCommand {
    fn from(short: ImageShort) -> Self {
        match short {
            ImageShort::Load(a) => ImageCommand::Load(a),
            ImageShort::Import(a) => ImageCommand::Import(a),
            ImageShort::Images(a) => ImageCommand::Ls(a),
            ImageShort::Tag(a) => ImageCommand::Tag(a),
            ImageShort::Rmi(a) => ImageCommand::Rm(a),
        }
    }
}

pub fn run(engine: &Engine, command: ImageCommand) -> Result<(), CliError> {
    match command {
        ImageCommand::Load(a) => {
            for reference in engine.load(&a.input)? {
                outln!("Loaded image: {reference}");
            }
        }
        // Like Docker, import prints the new image's ID, its config's digest.
        ImageCommand::Import(a) => outln!("{}", engine.import(&a.file, &a.reference)?),
        ImageCommand::Ls(a) if a.quiet => {
            for row in engine.list_images()? {
                outln!("{}", short_id(&row.id));
            }
        }
        ImageCommand::Ls(a) => print_images(&engine.list_images()?, a.format),
        ImageCommand::Tag(a) => engine.tag(&a.source, &a.target)?,
        ImageCommand::Rm(a) => {
            // As Docker: each image in turn, an error reported and the next
            // one still removed.
            let mut failed = 0;
            for image in &a.images {
                match engine.remove_image(image, a.force) {
                    Ok(lines) => lines.iter().for_each(|line| outln!("{line}")),
                    Err(e) => {
                        eprintln!("peti: error: {e}");
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                return Err(CliError::Reported(failed));
            }
        }
        ImageCommand::Inspect(a) => super::container::inspect_each(&a.images, |image| {
            engine
                .inspect_image(image)
                .map(|i| serde_json::to_value(i).expect("inspect serialises"))
                .map_err(|e| e.to_string())
        })?,
    }
    Ok(())
}

/// `peti images`.
fn print_images(rows: &[ImageSummary], format: Format) {
    match format {
        Format::Json => {
            for row in rows {
                outln!(
                    "{}",
                    serde_json::to_string(row).expect("strings and numbers serialise")
                );
            }
        }
        Format::Table => {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    let created = row.created.as_deref().map_or("N/A".to_string(), |t| {
                        format!("{} ago", human_duration(since(t)))
                    });
                    vec![
                        row.repository.clone(),
                        row.tag.clone(),
                        short_id(&row.id),
                        created,
                        human_size(row.size),
                    ]
                })
                .collect();
            super::table::print_table(
                &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
                &table,
            );
        }
    }
}

/// An image ID as Docker shows it in lists: the first 12 hex digits.
fn short_id(id: &str) -> String {
    let hex = id.trim_start_matches("sha256:");
    hex[..12.min(hex.len())].to_string()
}

/// Sizes as Docker prints them: decimal units, four significant digits (`12.61kB`).
pub(crate) fn human_size(bytes: u64) -> String {
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
