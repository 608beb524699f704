//! Which images `labs prepare` builds, and the configuration Docker users expect of
//! each: `PATH` in `Env`, `sh` as the `Cmd` of the shell images, an `Entrypoint` for
//! each workload image, and `architecture`/`os` set.

use oci_spec::OciSpecError;
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os,
};

use super::Rootfs;
use crate::workloads::{WORKLOADS, Workload};

/// The `PATH` Docker gives images, as peti's own images have it.
pub use runtime::image::DEFAULT_PATH;

/// The fixed creation time of every lab image, so digests do not depend on the clock.
const CREATED: &str = "1970-01-01T00:00:00Z";

/// One image to build: its name, its layers (bottom first), and its configuration.
pub struct ImageSpec {
    pub name: String,
    /// Each layer with the line `history` shows for it.
    pub layers: Vec<(Rootfs, String)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub exposed_ports: Vec<String>,
}

impl ImageSpec {
    /// The OCI image configuration (without `rootfs`, which the layout writer fills in).
    pub fn config(&self) -> Result<ImageConfiguration, OciSpecError> {
        let mut config = ConfigBuilder::default()
            .env(vec![DEFAULT_PATH.to_string()])
            .cmd(self.cmd.clone());
        if let Some(entrypoint) = &self.entrypoint {
            config = config.entrypoint(entrypoint.clone());
        }
        if !self.exposed_ports.is_empty() {
            config = config.exposed_ports(self.exposed_ports.clone());
        }
        let history = self
            .layers
            .iter()
            .map(|(_, created_by)| {
                HistoryBuilder::default()
                    .created(CREATED)
                    .created_by(created_by.clone())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        ImageConfigurationBuilder::default()
            .created(CREATED)
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .config(config.build()?)
            .history(history)
            .build()
    }

    /// All layers laid over each other: the file tree a container of this image sees.
    pub fn flattened(&self) -> Rootfs {
        let mut tree = Rootfs::new();
        for (layer, _) in &self.layers {
            tree.overlay(layer);
        }
        tree
    }
}

/// Every lab image, given the busybox layer and the built workload binaries.
pub fn catalog(busybox: &Rootfs, binaries: &[(&Workload, Vec<u8>)]) -> Vec<ImageSpec> {
    let busybox_layer = (
        busybox.clone(),
        "labs prepare: Debian busybox-static and its applet links".to_string(),
    );
    let shell = vec!["sh".to_string()];
    let mut workloads = Rootfs::new();
    for (workload, bytes) in binaries {
        workloads.file(
            &format!("usr/local/bin/{}", workload.name),
            0o755,
            bytes.clone(),
        );
    }
    let mut images = vec![
        ImageSpec {
            name: "busybox".into(),
            layers: vec![busybox_layer.clone()],
            entrypoint: None,
            cmd: shell.clone(),
            exposed_ports: vec![],
        },
        ImageSpec {
            name: "lab".into(),
            layers: vec![
                busybox_layer,
                (
                    workloads,
                    "labs prepare: the lab workloads in /usr/local/bin".to_string(),
                ),
            ],
            entrypoint: None,
            cmd: shell,
            exposed_ports: vec![],
        },
    ];
    images.extend(
        binaries
            .iter()
            .map(|(workload, bytes)| scratch_image(workload, bytes)),
    );
    images
}

/// A "FROM scratch" image holding one static binary, run as its entrypoint.
fn scratch_image(workload: &Workload, bytes: &[u8]) -> ImageSpec {
    let name = workload.name;
    let mut tree = Rootfs::new();
    tree.file(name, 0o755, bytes.to_vec());
    // fileio writes under /tmp, and a scratch image has no directories at all.
    if name == "fileio" {
        tree.dir("tmp", 0o1777);
    }
    let exposed_ports = match name {
        "serve" => workload
            .default_args
            .iter()
            .map(|port| format!("{port}/tcp"))
            .collect(),
        _ => vec![],
    };
    ImageSpec {
        name: name.to_string(),
        layers: vec![(tree, format!("labs prepare: COPY {name} /{name}"))],
        entrypoint: Some(vec![format!("/{name}")]),
        cmd: workload
            .default_args
            .iter()
            .map(|a| a.to_string())
            .collect(),
        exposed_ports,
    }
}

/// The names of the images [`catalog`] builds, in order.
pub fn image_names() -> Vec<&'static str> {
    let mut names = vec!["busybox", "lab"];
    names.extend(WORKLOADS.iter().map(|w| w.name));
    names
}
