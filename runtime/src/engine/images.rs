//! The image commands' library side: load, import, and removal that knows
//! which images containers use.
//!
//! Each change to the store happens under its exclusive lock, and ends by
//! collecting the garbage: what this change left unreferenced, and what a
//! command killed before it could finish left (see `image::store`). Which
//! images are in use is read from the containers' records under that lock,
//! where no new container can be between looking its image up and naming it
//! in its record (it holds the lock shared for that span).

use super::{Engine, EngineError};
use crate::image::store::{Changing, ImageSummary, Reference};

impl Engine {
    /// Runs `change` under the image store's exclusive lock, then collects the
    /// garbage, keeping every image a container uses, whether `change`
    /// succeeded or not. Returns what `change` did and what was deleted.
    pub(super) fn change_images<T>(
        &self,
        change: impl FnOnce(&Changing) -> Result<T, EngineError>,
    ) -> Result<(T, Vec<String>), EngineError> {
        let mut changing = self.images.change()?;
        changing.in_use = self.containers.images_in_use()?;
        let changed = change(&changing);
        let deleted = self.images.collect_garbage(&changing);
        Ok((changed?, deleted?))
    }

    /// After `rmi -f` untagged an image a container used, its layers were kept
    /// for that container; once no container needs them, they go.
    pub fn prune_if_untagged(&self, container: &super::Container) {
        // Only an untagged image needs the (costlier) look at every container's
        // record: the common case, a tagged image, stops at repositories.json.
        if matches!(self.images.is_tagged(&container.manifest_digest), Ok(false)) {
            let _ = self.change_images(|_| Ok(()));
        }
    }

    /// `peti load -i PATH`: every image of a layout or archive.
    pub fn load(&self, input: &std::path::Path) -> Result<Vec<Reference>, EngineError> {
        let (loaded, _) =
            self.change_images(|changing| Ok(self.images.load_under(changing, input)?))?;
        Ok(loaded)
    }

    /// `peti import FILE NAME[:TAG]`: returns the new image's ID (its config's
    /// digest), which Docker prints.
    pub fn import(&self, file: &std::path::Path, reference: &str) -> Result<String, EngineError> {
        let (reference, _) = self
            .change_images(|changing| Ok(self.images.import_under(changing, file, reference)?))?;
        let manifest = self.images.image(&reference.to_string())?.manifest;
        Ok(manifest.config().digest().to_string())
    }

    /// `peti tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), EngineError> {
        Ok(self.images.tag(source, target)?)
    }

    /// `peti images`: every name, sorted.
    pub fn list_images(&self) -> Result<Vec<ImageSummary>, EngineError> {
        Ok(self.images.list()?)
    }

    /// `peti images --filter KEY=VALUE...`: the names every filter keeps.
    pub fn query_images(&self, filters: &[ImageFilter]) -> Result<Vec<ImageSummary>, EngineError> {
        Ok(self
            .images
            .list()?
            .into_iter()
            .filter(|i| filters.iter().all(|f| f.matches(i)))
            .collect())
    }

    /// `peti rmi [-f] IMAGE`: an image that a container uses keeps its last
    /// name unless `force`; even then its blobs stay until no container needs
    /// them. A name of an image that has others goes whatever uses the image,
    /// as in Docker: the image itself stays. Returns what was untagged and
    /// deleted, as Docker prints it.
    pub fn remove_image(&self, image: &str, force: bool) -> Result<Vec<String>, EngineError> {
        let (untagged, deleted) = self.change_images(|changing| {
            let digest = self.images.resolve(image)?;
            let last_name = self.images.references_to(&digest)?.len() <= 1;
            if changing.in_use.contains(&digest) && last_name && !force {
                let user = self
                    .containers
                    .all()?
                    .into_iter()
                    .find(|c| c.manifest_digest == digest)
                    .map(|c| c.id[..12].to_string())
                    .unwrap_or_default();
                return Err(EngineError::ImageInUse {
                    image: image.to_string(),
                    container: user,
                });
            }
            Ok(self.images.untag(changing, image)?)
        })?;
        Ok(std::iter::once(untagged).chain(deleted).collect())
    }
}

/// One `images --filter`: `dangling=true|false` (an image with no name;
/// peti keeps none, as it removes an image with its last name), or
/// `reference=PATTERN`, a shell pattern on `NAME` or `NAME:TAG` where `*`
/// does not cross a `/`, as Docker's path.Match.
#[derive(Debug, Clone)]
pub enum ImageFilter {
    Dangling(bool),
    Reference(glob::Pattern),
}

impl ImageFilter {
    pub fn parse(text: &str) -> Result<ImageFilter, EngineError> {
        let bad = || EngineError::BadFilter(text.to_string());
        match text.split_once('=') {
            Some(("dangling", "true" | "1")) => Ok(ImageFilter::Dangling(true)),
            Some(("dangling", "false" | "0")) => Ok(ImageFilter::Dangling(false)),
            Some(("reference", pattern)) => glob::Pattern::new(pattern)
                .map(ImageFilter::Reference)
                .map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    fn matches(&self, image: &ImageSummary) -> bool {
        match self {
            // Every image listed has a name.
            ImageFilter::Dangling(dangling) => !dangling,
            ImageFilter::Reference(pattern) => {
                let options = glob::MatchOptions {
                    require_literal_separator: true,
                    ..glob::MatchOptions::new()
                };
                let tagged = format!("{}:{}", image.repository, image.tag);
                pattern.matches_with(&image.repository, options)
                    || pattern.matches_with(&tagged, options)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(repository: &str, tag: &str) -> ImageSummary {
        ImageSummary {
            repository: repository.into(),
            tag: tag.into(),
            id: String::new(),
            manifest_digest: String::new(),
            size: 0,
            created: None,
        }
    }

    #[test]
    fn filters_read_as_dockers() {
        let busybox = image("busybox", "latest");
        let mine = image("me/app", "v1");
        let keeps = |f: &str, i: &ImageSummary| ImageFilter::parse(f).unwrap().matches(i);
        assert!(keeps("reference=busy*", &busybox));
        assert!(keeps("reference=busybox:lat*", &busybox));
        assert!(!keeps("reference=*", &mine), "* does not cross /");
        assert!(keeps("reference=me/*", &mine));
        assert!(keeps("dangling=false", &busybox));
        assert!(!keeps("dangling=true", &busybox));
        for bad in ["colour=red", "dangling=maybe", "reference"] {
            assert!(ImageFilter::parse(bad).is_err(), "{bad}");
        }
    }
}
