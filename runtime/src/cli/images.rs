//! The image commands: load, import, images, tag, rmi.

use runtime::container::state::ContainerStore;
use runtime::image::store::{ImageSummary, Store};

use super::{CliError, Format};

/// `peti load -i PATH`.
pub fn load(store: &Store, input: &std::path::Path) -> Result<(), CliError> {
    for reference in store.load(input)? {
        println!("Loaded image: {reference}");
    }
    Ok(())
}

/// `peti import FILE NAME[:TAG]`: like Docker, prints the new image's ID, the
/// digest of its config.
pub fn import(store: &Store, file: &std::path::Path, reference: &str) -> Result<(), CliError> {
    let reference = store.import_rootfs(file, reference)?;
    let manifest = store.image(&reference.to_string())?.manifest;
    println!("{}", manifest.config().digest());
    Ok(())
}

/// `peti rmi [-f] IMAGE...`: an image that a container uses is kept unless
/// `force`; even then its blobs stay until no container needs them.
pub fn rmi(
    store: &Store,
    containers: &ContainerStore,
    images: &[String],
    force: bool,
) -> Result<(), CliError> {
    for image in images {
        let digest = store.resolve(image)?;
        let in_use = containers.images_in_use()?;
        if in_use.contains(&digest) && !force {
            let user = containers
                .all()?
                .into_iter()
                .find(|c| c.manifest_digest == digest)
                .map(|c| c.id[..12].to_string())
                .unwrap_or_default();
            return Err(CliError::ImageInUse {
                image: image.clone(),
                container: user,
            });
        }
        for line in store.remove(image, &in_use)? {
            println!("{line}");
        }
    }
    Ok(())
}

/// `peti images`.
pub fn print_images(rows: &[ImageSummary], format: Format) {
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
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    let id = row.id.trim_start_matches("sha256:");
                    vec![
                        row.repository.clone(),
                        row.tag.clone(),
                        id[..12].to_string(),
                        human_size(row.size),
                    ]
                })
                .collect();
            super::table::print_table(&["REPOSITORY", "TAG", "IMAGE ID", "SIZE"], &table);
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
