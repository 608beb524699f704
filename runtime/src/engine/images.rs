//! The image commands' library side: load, import, and removal that knows
//! which images containers use.

use super::{Engine, EngineError};
use crate::image::store::{ImageSummary, Reference};

impl Engine {
    /// `peti load -i PATH`: every image of a layout or archive.
    pub fn load(&self, input: &std::path::Path) -> Result<Vec<Reference>, EngineError> {
        Ok(self.images.load(input)?)
    }

    /// `peti import FILE NAME[:TAG]`: returns the new image's ID (its config's
    /// digest), which Docker prints.
    pub fn import(&self, file: &std::path::Path, reference: &str) -> Result<String, EngineError> {
        let reference = self.images.import_rootfs(file, reference)?;
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

    /// `peti rmi [-f] IMAGE`: an image that a container uses is kept unless
    /// `force`; even then its blobs stay until no container needs them. Returns
    /// what was untagged and deleted, as Docker prints it.
    pub fn remove_image(&self, image: &str, force: bool) -> Result<Vec<String>, EngineError> {
        let digest = self.images.resolve(image)?;
        let in_use = self.containers.images_in_use()?;
        if in_use.contains(&digest) && !force {
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
        Ok(self.images.remove(image, &in_use)?)
    }
}
