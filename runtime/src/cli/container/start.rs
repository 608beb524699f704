//! run, create and start; and the loop that stop, kill, rm and update share:
//! do it to each container named, and print the name, as Docker does.

use std::path::Path;

use runtime::container::trace::{Trace, TraceEvent, Tracer};
use runtime::engine::lifecycle::Started;
use runtime::engine::run::{CreateRequest, check_terminal};
use runtime::engine::{Engine, EngineError};

use super::args::{CreateArgs, RunArgs};
use crate::cli::CliError;
use crate::cli::out::outln;

fn request(args: &CreateArgs) -> CreateRequest {
    CreateRequest {
        image: args.image.clone(),
        command: args.command.clone(),
        options: args.options.to_options(),
    }
}

/// `peti create`: prints the new container's ID.
pub fn create(engine: &Engine, args: CreateArgs) -> Result<(), CliError> {
    outln!(
        "{}",
        create_pulling(engine, &request(&args), false)?.container.id
    );
    Ok(())
}

/// Docker's `run` and `create` pull an image that is not here first, saying
/// so on stderr. peti does the same for an image whose name has a registry
/// (`127.0.0.1:5000/lab`); a name with none means Docker Hub, which peti does
/// not reach on its own (its machines cannot, and its tests must not): that
/// one is "no such image", and `peti pull` fetches it on purpose.
/// The look-up is the create's own: only when it finds no image does the
/// pull happen, so a start of an image that is here pays nothing for it.
fn create_pulling(
    engine: &Engine,
    request: &runtime::engine::run::CreateRequest,
    starting_now: bool,
) -> Result<runtime::engine::run::Created, CliError> {
    use runtime::image::reference::{DOCKER_HUB, Reference};
    use runtime::image::store::StoreError;
    match engine.create(request, starting_now) {
        Err(EngineError::Image(StoreError::UnknownImage(name))) => {
            let Some(reference) = Reference::parse(&request.image)
                .ok()
                .filter(|r| r.registry() != DOCKER_HUB)
            else {
                return Err(EngineError::Image(StoreError::UnknownImage(name)).into());
            };
            eprintln!("Unable to find image '{reference}' locally");
            let pull = runtime::image::pull::PullRequest {
                reference,
                platform: runtime::image::platform::Platform::host(),
                options: runtime::registry::Options::default(),
            };
            crate::cli::registry::pull_to_stderr(engine, &pull)?;
            Ok(engine.create(request, starting_now)?)
        }
        other => Ok(other?),
    }
}

/// `peti run`: create, then start in the foreground or (`-d`) detached.
pub fn run(engine: &Engine, args: RunArgs) -> Result<u8, CliError> {
    let terminal = &args.container.options.terminal;
    if !args.detach {
        check_terminal(terminal.tty && terminal.interactive)?;
    }
    let mut tracer = Tracer::new(args.trace || args.trace_json.is_some(), "peti");
    let detail = format!("record, upper/ and work/ for {}", args.container.image);
    let created = tracer.step("create", &detail, || {
        create_pulling(engine, &request(&args.container), true)
    })?;
    let id = created.container.id.clone();
    let result = if args.detach {
        engine.start_detached(created, &mut tracer).map(|()| {
            outln!("{id}");
            0
        })
    } else {
        engine
            .run_attached(created, &mut tracer)
            .map(|code| code as u8)
    };
    if tracer.enabled {
        emit_trace(
            &id,
            std::mem::take(&mut tracer.events),
            args.trace,
            args.trace_json.as_deref(),
        )?;
    }
    Ok(result?)
}

fn emit_trace(
    id: &str,
    events: Vec<TraceEvent>,
    print: bool,
    json_file: Option<&Path>,
) -> Result<(), CliError> {
    let origin_ns = events.iter().map(|e| e.start_ns).min().unwrap_or(0);
    let trace = Trace {
        container: id.to_string(),
        origin_ns,
        events,
    };
    if print {
        let _ = trace.print(&mut std::io::stderr().lock());
    }
    if let Some(path) = json_file {
        let bytes = serde_json::to_vec_pretty(&trace).expect("a trace serialises");
        std::fs::write(path, bytes).map_err(|source| CliError::TraceFile {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// `peti start [-a]`: the exit code of the last one attached to.
pub fn start(engine: &Engine, names: &[String], attach: bool) -> Result<u8, CliError> {
    let mut last = 0;
    for name in names {
        match engine.start(name, attach)? {
            Started::Exited(code) => last = code as u8,
            Started::AlreadyRunning | Started::Detached => outln!("{name}"),
        }
    }
    Ok(last)
}

/// Does `action` to each name, printing the names done, as Docker does: a
/// name that fails is reported and the next one is still done.
pub fn each(
    names: &[String],
    mut action: impl FnMut(&str) -> Result<(), EngineError>,
) -> Result<(), CliError> {
    let mut failed = 0;
    for name in names {
        match action(name) {
            Ok(()) => outln!("{name}"),
            // A flag's value that does not parse is wrong for every name.
            Err(e @ EngineError::Spec(_)) => return Err(e.into()),
            Err(e) => {
                eprintln!("peti: error: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(CliError::Reported(failed));
    }
    Ok(())
}
