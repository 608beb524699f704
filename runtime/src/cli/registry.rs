//! `peti pull` and `peti push`: the engine's progress, printed as Docker
//! prints it: on a terminal, a line per layer redrawn in place with a bar
//! (indicatif); otherwise a line per layer and step, for a log to keep.

use std::io::IsTerminal;
use std::sync::mpsc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use runtime::engine::Engine;
use runtime::image::platform::Platform;
use runtime::image::pull::{Progress, PullRequest};
use runtime::image::push::PushProgress;
use runtime::image::reference::Reference;

use super::CliError;
use super::args::{PullArgs, PushArgs};
use super::out::outln;

/// `peti pull [--platform P] [-q] NAME`.
pub fn pull(engine: &Engine, args: &PullArgs) -> Result<(), CliError> {
    let reference =
        Reference::parse(&args.image).map_err(|e| runtime::engine::EngineError::Image(e.into()))?;
    let platform = Platform::parse(&args.platform).map_err(CliError::Platform)?;
    let request = PullRequest {
        reference,
        platform,
        options: args.registry.options(),
    };
    pull_showing(engine, &request, args.quiet)
}

/// A pull, its progress printed (nothing with `quiet` but the name).
pub fn pull_showing(engine: &Engine, request: &PullRequest, quiet: bool) -> Result<(), CliError> {
    let name = if !quiet && std::io::stdout().is_terminal() {
        pull_with_bars(engine, request)?
    } else {
        let say = move |line: String| {
            if !quiet {
                outln!("{line}")
            }
        };
        pull_saying(engine, request, say)?
    };
    outln!("{name}");
    Ok(())
}

/// A pull on a terminal: a bar per layer, as Docker draws them.
fn pull_with_bars(engine: &Engine, request: &PullRequest) -> Result<String, CliError> {
    let (sender, receiver) = mpsc::channel();
    let printer = std::thread::spawn(move || {
        let bars = Bars::new();
        for event in receiver {
            bars.show(&event);
        }
    });
    let pulled = engine.pull(request, &sender);
    drop(sender);
    let _ = printer.join();
    finish_pull(pulled?, |line| outln!("{line}"))
}

/// The layers of a pull on a terminal, one line each.
struct Bars {
    all: MultiProgress,
    layers: std::cell::RefCell<Vec<(String, ProgressBar)>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            all: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            layers: Default::default(),
        }
    }

    /// The line of the layer `id`, if it has one: the image's config is
    /// downloaded too, but Docker shows layers only.
    fn existing(&self, id: &str) -> Option<ProgressBar> {
        let layers = self.layers.borrow();
        layers
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, bar)| bar.clone())
    }

    /// A new line for the layer `id`.
    fn layer(&self, id: &str, size: u64) -> ProgressBar {
        let mut layers = self.layers.borrow_mut();
        let style = ProgressStyle::with_template(
            "{prefix}: {msg:<18} {bar:40.cyan/blue} {bytes:>10}/{total_bytes}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = self.all.add(ProgressBar::new(size).with_style(style));
        bar.set_prefix(id.to_string());
        layers.push((id.to_string(), bar.clone()));
        bar
    }

    fn show(&self, event: &Progress) {
        let done = |bar: &ProgressBar, message: &str| {
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}").expect("a valid template"),
            );
            bar.finish_with_message(message.to_string());
        };
        match event {
            Progress::Pulling { .. } => {
                let _ = self.all.println(pull_lines(event).concat());
            }
            Progress::Exists(id) => done(&self.layer(id, 0), "Already exists"),
            Progress::Waiting(id, size) => self.layer(id, *size).set_message("Pulling fs layer"),
            Progress::Downloading(id, received, _) => {
                if let Some(bar) = self.existing(id) {
                    bar.set_message("Downloading");
                    bar.set_position(*received);
                }
            }
            Progress::Verified(id) => {
                if let Some(bar) = self.existing(id) {
                    bar.set_message("Download complete");
                }
            }
            Progress::Complete(id) => {
                if let Some(bar) = self.existing(id) {
                    done(&bar, "Pull complete");
                }
            }
        }
    }
}

/// The pull `run` makes: its lines on stderr, so that stdout is the
/// container's alone.
pub fn pull_to_stderr(engine: &Engine, request: &PullRequest) -> Result<(), CliError> {
    pull_saying(engine, request, |line| eprintln!("{line}")).map(drop)
}

/// Runs the pull with each line of its progress given to `say`; returns the
/// image's full name.
fn pull_saying(
    engine: &Engine,
    request: &PullRequest,
    say: impl Fn(String) + Send + Copy + 'static,
) -> Result<String, CliError> {
    let (sender, receiver) = mpsc::channel();
    let printer = std::thread::spawn(move || {
        for event in receiver {
            pull_lines(&event).into_iter().for_each(say);
        }
    });
    let pulled = engine.pull(request, &sender);
    drop(sender);
    let _ = printer.join();
    finish_pull(pulled?, say)
}

/// The pull's last lines, `Digest:` and `Status:`; returns the image's full
/// name.
fn finish_pull(
    pulled: runtime::image::pull::Pulled,
    say: impl Fn(String),
) -> Result<String, CliError> {
    say(format!("Digest: {}", pulled.digest));
    let name = pulled.reference.to_string();
    say(if pulled.up_to_date {
        format!("Status: Image is up to date for {name}")
    } else {
        format!("Status: Downloaded newer image for {name}")
    });
    Ok(pulled.reference.normalized())
}

/// Docker's lines for a step of a pull, as it prints them with no terminal.
fn pull_lines(event: &Progress) -> Vec<String> {
    match event {
        Progress::Pulling { tag, repository } => vec![format!("{tag}: Pulling from {repository}")],
        Progress::Exists(id) => vec![format!("{id}: Already exists")],
        Progress::Waiting(id, _) => vec![format!("{id}: Pulling fs layer")],
        Progress::Downloading(..) => Vec::new(),
        Progress::Verified(id) => vec![
            format!("{id}: Verifying Checksum"),
            format!("{id}: Download complete"),
        ],
        Progress::Complete(id) => vec![format!("{id}: Pull complete")],
    }
}

/// `peti push [-q] NAME[:TAG]`.
pub fn push(engine: &Engine, args: &PushArgs) -> Result<(), CliError> {
    let (sender, receiver) = mpsc::channel();
    let quiet = args.quiet;
    let printer = std::thread::spawn(move || {
        for event in receiver {
            if quiet {
                continue;
            }
            match event {
                PushProgress::Repository(name) => {
                    outln!("The push refers to repository [{name}]")
                }
                PushProgress::Preparing(id) => outln!("{id}: Preparing"),
                PushProgress::Exists(id) => outln!("{id}: Layer already exists"),
                PushProgress::Mounted(id, from) => outln!("{id}: Mounted from {from}"),
                PushProgress::Pushed(id) => outln!("{id}: Pushed"),
            }
        }
    });
    let pushed = engine.push(&args.image, &args.registry.options(), &sender);
    drop(sender);
    let _ = printer.join();
    let pushed = pushed?;
    if quiet {
        outln!("{}", pushed.digest);
    } else {
        outln!(
            "{}: digest: {} size: {}",
            pushed.tag,
            pushed.digest,
            pushed.size
        );
    }
    Ok(())
}
