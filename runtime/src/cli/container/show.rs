//! ps, inspect, logs and stats: what the engine reports, as tables or JSON.

use std::io::Write;
use std::time::Duration;

use runtime::engine::Engine;
use runtime::engine::logs::{LogLine, parse_time};

use super::args::{InspectArgs, LogsArgs, PsArgs, StatsArgs};
use super::rows::{self, PsRow, StatsContext};
use crate::cli::CliError;
use crate::cli::format::{Format, print_rows, render_each};
use crate::cli::out::{self, outln};

/// `peti ps`: the containers a query finds, as Docker's table, JSON or
/// the user's template.
pub fn ps(engine: &Engine, args: &PsArgs) -> Result<(), CliError> {
    let query = runtime::engine::view::PsQuery {
        all: args.all,
        last: if args.latest { Some(1) } else { args.last },
        filters: args
            .filter
            .iter()
            .map(|f| runtime::engine::view::PsFilter::parse(f))
            .collect::<Result<_, _>>()?,
    };
    let containers = engine.query(&query)?;
    if args.quiet {
        containers
            .iter()
            .for_each(|c| outln!("{}", if args.no_trunc { &c.id } else { &c.id[..12] }));
        return Ok(());
    }
    // Sizes take a walk of each writable layer: Docker measures them only
    // for -s, or for a template that shows them.
    let sized = args.size
        || matches!(&args.format, Format::Template { source, .. } if source.contains(".Size"));
    let sizes = if sized {
        engine
            .sizes_of(&containers)?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; containers.len()]
    };
    let rows: Vec<PsRow> = containers
        .iter()
        .zip(sizes)
        .map(|(c, size)| PsRow::of(c, !args.no_trunc, size))
        .collect();
    let columns = if args.size {
        &rows::PS_WITH_SIZE
    } else {
        &rows::PS
    };
    print_rows(&args.format, columns, &rows)?;
    Ok(())
}

/// `peti inspect [-f TEMPLATE]`: a JSON array, with Docker's field names
/// where Docker has one, or the template run on each.
pub fn inspect(engine: &Engine, args: &InspectArgs, images_too: bool) -> Result<(), CliError> {
    use runtime::container::state::StateError;
    use runtime::engine::EngineError;
    inspect_each(
        &args.containers,
        args.format.as_deref(),
        |name| match engine.inspect(name) {
            Ok(c) => Ok(serde_json::to_value(c).expect("inspect serialises")),
            // No container has the name: Docker's plain inspect tries an image.
            Err(EngineError::State(StateError::NoSuchContainer(_))) if images_too => engine
                .inspect_image(name)
                .map(|i| serde_json::to_value(i).expect("inspect serialises"))
                .map_err(|_| format!("No such object: {name}")),
            Err(e) => Err(e.to_string()),
        },
    )
}

/// Looks up each name and prints what was found as Docker does: one JSON
/// array, `[]` if nothing, even when some names were not found; with a
/// template, its text for each one found. Names not found are reported one
/// by one, and make the exit 1.
pub fn inspect_each(
    names: &[String],
    template: Option<&str>,
    lookup: impl Fn(&str) -> Result<serde_json::Value, String>,
) -> Result<(), CliError> {
    // A template that does not parse is refused before any lookup.
    if let Some(source) = template {
        render_each(source, &[]).map_err(CliError::InspectTemplate)?;
    }
    let mut found = Vec::new();
    let mut failed = 0;
    for name in names {
        match lookup(name) {
            Ok(value) => found.push(value),
            Err(e) => {
                eprintln!("peti: error: {e}");
                failed += 1;
            }
        }
    }
    match template {
        Some(source) => out::write(format_args!(
            "{}",
            render_each(source, &found).map_err(CliError::InspectTemplate)?
        )),
        None => outln!(
            "{}",
            serde_json::to_string_pretty(&found).expect("inspect serialises")
        ),
    }
    if failed > 0 {
        return Err(CliError::Reported(failed));
    }
    Ok(())
}

/// `peti logs [-f]`: the log's lines, back on stdout and stderr.
///
/// `--tail N` keeps the last N lines of what is there when it starts (what
/// `-f` follows after that all comes); `-t` puts each line's time first.
pub fn logs(engine: &Engine, args: &LogsArgs) -> Result<(), CliError> {
    let tail = match args.tail.as_str() {
        "all" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| CliError::BadTail(n.to_string()))?,
        ),
    };
    let now = std::time::SystemTime::now();
    let time = |flag: &'static str, given: &Option<String>| -> Result<_, CliError> {
        given
            .as_deref()
            .map(|t| parse_time(t, now).ok_or_else(|| CliError::BadTime(flag, t.to_string())))
            .transpose()
    };
    let (since, until) = (time("--since", &args.since)?, time("--until", &args.until)?);
    // A line is shown if it was logged in [since, until).
    let within = |line: &LogLine| {
        let at = line.logged_at();
        since.is_none_or(|s| at.is_some_and(|t| t >= s))
            && until.is_none_or(|u| at.is_some_and(|t| t < u))
    };
    let mut cursor = engine.logs(&args.container)?;
    let mut first: Vec<LogLine> = cursor.next_lines()?.into_iter().filter(within).collect();
    if let Some(n) = tail {
        first.drain(..first.len().saturating_sub(n));
    }
    print_lines(first, args.timestamps);
    // With --until there is nothing to follow past it.
    let follow = args.follow && until.is_none();
    loop {
        if !follow {
            return Ok(());
        }
        let running = engine.still_running(&cursor)?;
        if running {
            std::thread::sleep(Duration::from_millis(100));
        }
        print_lines(
            cursor.next_lines()?.into_iter().filter(within).collect(),
            args.timestamps,
        );
        if !running {
            return Ok(());
        }
    }
}

fn print_lines(lines: Vec<LogLine>, timestamps: bool) {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for line in lines {
        let target: &mut dyn Write = if line.is_stderr() { &mut err } else { &mut out };
        if timestamps {
            let _ = write!(target, "{} ", line.time);
        }
        let _ = target.write_all(line.log.as_bytes());
    }
    let _ = out.flush();
}

/// How long `stats` watches CPU time to give a CPU %. Docker's daemon
/// samples once a second; a tenth of a second keeps a script or a lab that
/// asks often from waiting, and still tells a busy container from an idle one.
const CPU_SAMPLE: Duration = Duration::from_millis(100);

/// `peti stats --no-stream`: what each container's cgroup has counted, in
/// Docker's columns, with the peak of memory after them.
pub fn stats(engine: &Engine, args: &StatsArgs) -> Result<(), CliError> {
    let host_memory = runtime::engine::view::meminfo_total_bytes();
    let rows: Vec<StatsContext> = engine
        .stats(&args.containers, CPU_SAMPLE)?
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            // Docker's CONTAINER column is what the user named it by.
            let named = args
                .containers
                .get(i)
                .cloned()
                .unwrap_or_else(|| row.id.clone());
            StatsContext::of(row, named, host_memory)
        })
        .collect();
    print_rows(&args.format, &rows::STATS, &rows)?;
    Ok(())
}
