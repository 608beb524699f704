//! The image commands: load, import, images, tag, rmi; and `peti image ...`.

use runtime::engine::Engine;
use runtime::engine::view::{human_duration, since};
use runtime::image::store::ImageSummary;

use super::CliError;
use super::args::{ImageCommand, ImageShort, ListImagesArgs};
use super::format::{Columns, print_rows, units};
use crate::cli::out::outln;

impl From<ImageShort> for ImageCommand {
    fn from(short: ImageShort) -> Self {
        match short {
            ImageShort::Load(a) => ImageCommand::Load(a),
            ImageShort::Import(a) => ImageCommand::Import(a),
            ImageShort::Images(a) => ImageCommand::Ls(a),
            ImageShort::Tag(a) => ImageCommand::Tag(a),
            ImageShort::Rmi(a) => ImageCommand::Rm(a),
            ImageShort::Pull(a) => ImageCommand::Pull(a),
            ImageShort::Push(a) => ImageCommand::Push(a),
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
        ImageCommand::Ls(a) => {
            let filters = a
                .filter
                .iter()
                .map(|f| runtime::engine::images::ImageFilter::parse(f))
                .collect::<Result<Vec<_>, _>>()?;
            let images = engine.query_images(&filters)?;
            if a.quiet {
                images
                    .iter()
                    .for_each(|row| outln!("{}", short_id(&row.id)));
            } else {
                print_images(&images, &a)?;
            }
        }
        ImageCommand::Tag(a) => engine.tag(&a.source, &a.target)?,
        ImageCommand::Pull(a) => super::registry::pull(engine, &a)?,
        ImageCommand::Push(a) => super::registry::push(engine, &a)?,
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
        ImageCommand::Inspect(a) => {
            super::container::inspect_each(&a.images, a.format.as_deref(), |image| {
                engine
                    .inspect_image(image)
                    .map(|i| serde_json::to_value(i).expect("inspect serialises"))
                    .map_err(|e| e.to_string())
            })?
        }
    }
    Ok(())
}

/// `docker images`'s columns.
const IMAGES: Columns = Columns {
    default: "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
    headings: &[
        ("Containers", "CONTAINERS"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedSince", "CREATED"),
        ("Digest", "DIGEST"),
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("SharedSize", "SHARED SIZE"),
        ("Size", "SIZE"),
        ("Tag", "TAG"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
    ],
};

/// One image name, as `docker images` gives it to a template. Docker fills
/// Containers, SharedSize and UniqueSize only for `system df`; here too they
/// are "N/A".
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageRow {
    containers: String,
    created_at: String,
    created_since: String,
    digest: String,
    #[serde(rename = "ID")]
    id: String,
    repository: String,
    shared_size: String,
    size: String,
    tag: String,
    unique_size: String,
    virtual_size: String,
}

impl ImageRow {
    fn of(row: &ImageSummary, trunc: bool) -> ImageRow {
        let created = row.created.as_deref();
        ImageRow {
            containers: "N/A".to_string(),
            created_at: created.map_or(String::new(), units::go_time),
            created_since: created.map_or("N/A".to_string(), |t| {
                format!("{} ago", human_duration(since(t)))
            }),
            digest: row.manifest_digest.clone(),
            id: if trunc {
                short_id(&row.id)
            } else {
                row.id.clone()
            },
            repository: row.repository.clone(),
            shared_size: "N/A".to_string(),
            size: units::decimal(row.size, 3),
            tag: row.tag.clone(),
            unique_size: "N/A".to_string(),
            virtual_size: units::decimal(row.size, 4),
        }
    }
}

/// `peti images`.
fn print_images(rows: &[ImageSummary], args: &ListImagesArgs) -> Result<(), CliError> {
    let rows: Vec<ImageRow> = rows
        .iter()
        .map(|r| ImageRow::of(r, !args.no_trunc))
        .collect();
    print_rows(&args.format, &IMAGES, &rows)?;
    Ok(())
}

/// An image ID as Docker shows it in lists: the first 12 hex digits.
fn short_id(id: &str) -> String {
    let hex = id.trim_start_matches("sha256:");
    hex[..12.min(hex.len())].to_string()
}
