//! `peti pull` and `peti push`, and the pull that `run` and `create` make
//! of an image that is not here, as Docker's do. Progress goes out on a
//! channel, for the command line to show as it likes.

use std::sync::mpsc::Sender;

use super::{Engine, EngineError};
use crate::image::pull::{self, Progress, PullRequest, Pulled};
use crate::image::push::{self, PushProgress, Pushed};
use crate::image::reference::Reference;
use crate::registry::Options;

impl Engine {
    /// `peti pull NAME`: resolves and downloads with no lock held, then
    /// stores the image under the store's lock.
    pub fn pull(
        &self,
        request: &PullRequest,
        events: &Sender<Progress>,
    ) -> Result<Pulled, EngineError> {
        let resolved = pull::resolve(request, events)?;
        resolved.download(&self.images, events)?;
        let (pulled, _) =
            self.change_images(|changing| Ok(resolved.store(&self.images, changing, events)?))?;
        Ok(pulled)
    }

    /// `peti push NAME`.
    pub fn push(
        &self,
        reference: &str,
        options: &Options,
        events: &Sender<PushProgress>,
    ) -> Result<Pushed, EngineError> {
        let reference =
            Reference::parse(reference).map_err(crate::image::store::StoreError::from)?;
        Ok(push::push(&self.images, &reference, options, events)?)
    }
}
