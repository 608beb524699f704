//! What a container changed, and keeping it: `peti diff` lists the changes,
//! `peti commit` makes them a new image (its base image's layers, and one
//! more with the changes), and `peti export` writes its whole file system as
//! a tar.

use oci_spec::image::{ConfigBuilder, HistoryBuilder, ImageConfiguration};

use super::{Engine, EngineError};
use crate::container::changes::{self, Change};
use crate::container::state::Container;

/// What `peti commit` records besides the files (`-a`, `-m`).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub container: String,
    pub reference: String,
    pub author: Option<String>,
    pub message: Option<String>,
}

impl Engine {
    /// `peti diff CONTAINER`: its changes, by path, as Docker lists them.
    pub fn diff(&self, name: &str) -> Result<Vec<Change>, EngineError> {
        let container = self.container(name)?;
        let upper = self.containers.dir(&container.id).join("upper");
        changes::changes(&upper, &container.lower_dirs)
            .map_err(EngineError::io(format!("the changes of {name}")))
    }

    /// `peti export CONTAINER`: its whole file system as a tar: its layers
    /// and its changes, merged, read-only (running or not).
    pub fn export(&self, name: &str, out: &mut dyn std::io::Write) -> Result<(), EngineError> {
        let container = self.container(name)?;
        let upper = self.containers.dir(&container.id).join("upper");
        let root = crate::container::copy::Root::Layers {
            lower: &container.lower_dirs,
            upper: &upper,
            scratch: self.containers.scratch_dir(),
        };
        Ok(crate::container::copy::export(&root, out)?)
    }

    /// `peti commit CONTAINER REPOSITORY[:TAG]`: a new image of the
    /// container's image and its changes, with the container's own settings
    /// (command, environment, working directory, user) as its config, as
    /// Docker's commit records them. Returns the image's ID.
    pub fn commit(&self, request: &CommitRequest) -> Result<String, EngineError> {
        let container = self.container(&request.container)?;
        let upper = self.containers.dir(&container.id).join("upper");
        let (id, _) = self.change_images(|changing| {
            Ok(self.images.commit_under(
                changing,
                &container.manifest_digest,
                |out| changes::write_layer(&upper, out),
                |config| configure(config, &container, request),
                &request.reference,
            )?)
        })?;
        Ok(id)
    }
}

/// The committed image's config: the base's, with the container's settings
/// and a line of history for the new layer.
fn configure(config: &mut ImageConfiguration, container: &Container, request: &CommitRequest) {
    let spec = &container.spec;
    let base = config.config().clone().unwrap_or_default();
    let entrypoint = base.entrypoint().clone().unwrap_or_default();
    // The container's command is the image's entrypoint and its CMD: keep
    // the entrypoint where the command still starts with it.
    let (entrypoint, cmd) = if !entrypoint.is_empty() && spec.args.starts_with(&entrypoint) {
        (
            Some(entrypoint.clone()),
            spec.args[entrypoint.len()..].to_vec(),
        )
    } else {
        (None, spec.args.clone())
    };
    let mut built = ConfigBuilder::default()
        .env(spec.env.clone())
        .cmd(cmd)
        .working_dir(if spec.workdir_given {
            spec.workdir.clone()
        } else {
            String::new()
        })
        .user(spec.user.clone().unwrap_or_default())
        .build()
        .unwrap_or_default();
    built.set_entrypoint(entrypoint);
    built.set_exposed_ports(base.exposed_ports().clone());
    built.set_volumes(base.volumes().clone());
    built.set_labels(base.labels().clone());
    built.set_stop_signal(base.stop_signal().clone());
    config.set_config(Some(built));
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    config.set_created(Some(now.clone()));
    if let Some(author) = &request.author {
        config.set_author(Some(author.clone()));
    }
    let mut history = config.history().clone().unwrap_or_default();
    let mut entry = HistoryBuilder::default()
        .created(now)
        .created_by(format!("peti commit {}", container.name))
        .build()
        .unwrap_or_default();
    entry.set_comment(request.message.clone());
    entry.set_author(request.author.clone());
    history.push(entry);
    config.set_history(Some(history));
}
