//! `peti pull` and `peti push`: the engine's progress, printed as Docker
//! prints it when its output is not a terminal (a line per layer and step).

use std::sync::mpsc;

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
    let say = move |line: String| {
        if !quiet {
            outln!("{line}")
        }
    };
    let name = pull_saying(engine, request, say)?;
    outln!("{name}");
    Ok(())
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
    let pulled = pulled?;
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
