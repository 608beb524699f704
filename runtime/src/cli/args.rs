//! What peti's command line accepts at its top level, and the image commands:
//! clap's definitions, nothing else. Each group of commands is an enum of its
//! own, so that Docker's two spellings of a command come from one definition:
//! `peti ps` and `peti container ls`, `peti rmi` and `peti image rm`.
//!
//! (Plain comments, not doc comments, on the Args structs: clap reads a doc
//! comment as the command's description, and with the subcommands' arguments
//! deferred it would replace the description written on the subcommand.)

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use runtime::container::state::DEFAULT_RUN_ROOT;
use runtime::image::store::DEFAULT_ROOT;

use super::container::ContainerCommand;
pub use super::format::Format;

/// A minimal, daemonless container runtime with Docker's command line.
#[derive(Parser)]
#[command(name = "peti", version, about, long_about = None)]
pub struct Cli {
    // `required = false` keeps clap from listing these two global options in
    // every subcommand's usage line, as if they had to be given.
    /// Where images and containers live.
    #[arg(long, env = "PETI_ROOT", default_value = DEFAULT_ROOT, global = true, value_name = "DIR", required = false)]
    pub root: PathBuf,
    /// Where run-time state lives.
    #[arg(long, env = "PETI_RUN", default_value = DEFAULT_RUN_ROOT, global = true, value_name = "DIR", required = false)]
    pub run_root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

// Deferred: clap builds a subcommand's arguments only when that subcommand is
// the one given (or its help is asked for). Building all of them took about
// 0.2 ms of every start, most of it page faults on the memory they fill:
// `peti --version` went from 83 to 53 page faults and from 0.63 to 0.45 ms
// (median of 200, interleaved). Descriptions stay on the variants, which are
// built at once for `peti --help`.
#[derive(Subcommand)]
#[command(defer = true)]
pub enum Command {
    #[command(flatten)]
    Image(ImageShort),
    #[command(flatten)]
    Container(ContainerCommand),
    /// Manage containers (the same commands: `peti container ls` is `peti ps`).
    #[command(name = "container")]
    Containers {
        #[command(subcommand)]
        command: ContainerCommand,
    },
    /// Manage images (`peti image ls` is `peti images`, `peti image rm` is `peti rmi`).
    #[command(name = "image")]
    Images {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Manage volumes: directories kept for containers, apart from them.
    #[command(name = "volume")]
    Volumes {
        #[command(subcommand)]
        command: super::volume::VolumeCommand,
    },
    /// What the store holds (df) and removing what nothing uses (prune).
    #[command(name = "system")]
    System {
        #[command(subcommand)]
        command: super::system::SystemCommand,
    },
    /// Log in to a registry (the login is kept in Docker's config.json).
    Login(super::login::LoginArgs),
    /// Log out from a registry.
    Logout(super::login::LogoutArgs),
    /// Show peti's version.
    Version,
    /// Show what peti holds and what it runs on.
    Info,
}

/// The image commands under their short, top-level names. (Deferred too: a
/// flattened group does not inherit its parent's `defer`.)
#[derive(Subcommand)]
#[command(defer = true)]
pub enum ImageShort {
    /// Load images from an OCI image layout directory or OCI archive.
    Load(LoadArgs),
    /// Create an image from a rootfs tarball (tar or tar.gz).
    Import(ImportArgs),
    /// List images.
    Images(ListImagesArgs),
    /// Give an image another name: SOURCE[:TAG] TARGET[:TAG].
    Tag(TagArgs),
    /// Remove images.
    Rmi(RemoveImagesArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
}

/// `peti image ...`.
#[derive(Subcommand)]
#[command(defer = true)]
pub enum ImageCommand {
    /// Load images from an OCI image layout directory or OCI archive.
    Load(LoadArgs),
    /// Create an image from a rootfs tarball (tar or tar.gz).
    Import(ImportArgs),
    /// List images.
    #[command(alias = "list")]
    Ls(ListImagesArgs),
    /// Give an image another name: SOURCE[:TAG] TARGET[:TAG].
    Tag(TagArgs),
    /// Remove images.
    #[command(alias = "rmi", alias = "remove")]
    Rm(RemoveImagesArgs),
    /// Show images' details, as JSON.
    Inspect(InspectImagesArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
}

/// How a registry is reached: `--tls-verify`.
#[derive(Args, Clone)]
pub struct RegistryArgs {
    /// Check the registry's TLS certificate, and use HTTPS (false: plain HTTP
    /// allowed, certificates not checked).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
}

impl RegistryArgs {
    pub fn options(&self) -> runtime::registry::Options {
        runtime::registry::Options {
            insecure: !self.tls_verify,
            ..runtime::registry::Options::default()
        }
    }
}

#[derive(Args)]
pub struct PullArgs {
    /// The platform to pull from an index: OS/ARCH[/VARIANT].
    #[arg(long, default_value = "linux/amd64", value_name = "PLATFORM")]
    pub platform: String,
    /// Print only the image's name at the end.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// NAME[:TAG|@sha256:DIGEST]
    pub image: String,
}

#[derive(Args)]
pub struct PushArgs {
    /// Print only the pushed digest.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// NAME[:TAG]
    pub image: String,
}

#[derive(Args)]
pub struct InspectImagesArgs {
    /// A Go template run on each image (`{{.Id}}`), as Docker's.
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Args)]
pub struct LoadArgs {
    /// The OCI layout or archive to read (for example target/lab/images/lab).
    #[arg(short, long, value_name = "PATH")]
    pub input: PathBuf,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The tarball.
    pub file: PathBuf,
    /// NAME[:TAG] of the new image.
    pub reference: String,
}

#[derive(Args)]
pub struct ListImagesArgs {
    /// table, json, or a Go template (`{{.Repository}}:{{.Tag}}`).
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: Format,
    /// Full image IDs.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only those that match: dangling=true|false, reference=PATTERN.
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Only image IDs, one per name, as Docker prints them.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args)]
pub struct RemoveImagesArgs {
    /// Untag even if a container uses it (its layers stay while it does).
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}
