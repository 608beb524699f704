//! ps, inspect, logs and stats: what the engine reports, as tables or JSON.

use std::io::Write;
use std::time::Duration;

use runtime::engine::Engine;
use runtime::engine::view::{PsRow, command_text, go_quote, human_duration, since, status_text};

use super::args::{LogsArgs, PsArgs};
use crate::cli::CliError;
use crate::cli::args::Format;
use crate::cli::out::outln;
use crate::cli::table::print_table;

/// `peti ps [-a] [-q] [--format json]`.
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
    let rows = engine.query(&query)?;
    if args.quiet {
        rows.iter().for_each(|c| outln!("{}", &c.id[..12]));
        return Ok(());
    }
    if args.format == Format::Json {
        for c in &rows {
            let row = serde_json::to_string(&PsRow::of(c)).expect("a row serialises");
            outln!("{row}");
        }
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            vec![
                c.id[..12].to_string(),
                c.image.clone(),
                go_quote(&truncate(&command_text(&c.spec.args), 20)),
                format!("{} ago", human_duration(since(&c.created))),
                status_text(c),
                c.name.clone(),
            ]
        })
        .collect();
    let header = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ];
    print_table(&header, &table);
    Ok(())
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let cut: String = text.chars().take(width - 1).collect();
    format!("{cut}…")
}

/// `peti inspect`: a JSON array, with Docker's field names where Docker has one.
pub fn inspect(engine: &Engine, names: &[String], images_too: bool) -> Result<(), CliError> {
    use runtime::container::state::StateError;
    use runtime::engine::EngineError;
    inspect_each(names, |name| match engine.inspect(name) {
        Ok(c) => Ok(serde_json::to_value(c).expect("inspect serialises")),
        // No container has the name: Docker's plain inspect tries an image.
        Err(EngineError::State(StateError::NoSuchContainer(_))) if images_too => engine
            .inspect_image(name)
            .map(|i| serde_json::to_value(i).expect("inspect serialises"))
            .map_err(|_| format!("No such object: {name}")),
        Err(e) => Err(e.to_string()),
    })
}

/// Looks up each name and prints what was found as Docker does: one JSON
/// array, `[]` if nothing, even when some names were not found. Those are
/// reported one by one, and make the exit 1.
pub fn inspect_each(
    names: &[String],
    lookup: impl Fn(&str) -> Result<serde_json::Value, String>,
) -> Result<(), CliError> {
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
    outln!(
        "{}",
        serde_json::to_string_pretty(&found).expect("inspect serialises")
    );
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
    let mut cursor = engine.logs(&args.container)?;
    let mut first = cursor.next_lines()?;
    if let Some(n) = tail {
        first.drain(..first.len().saturating_sub(n));
    }
    print_lines(first, args.timestamps);
    loop {
        if !args.follow {
            return Ok(());
        }
        if !engine.still_running(&cursor)? {
            print_lines(cursor.next_lines()?, args.timestamps);
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
        print_lines(cursor.next_lines()?, args.timestamps);
    }
}

fn print_lines(lines: Vec<runtime::engine::logs::LogLine>, timestamps: bool) {
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

/// `peti stats --no-stream`: what each container's cgroup has counted.
pub fn stats(engine: &Engine, names: &[String], format: Format) -> Result<(), CliError> {
    let rows = engine.stats(names)?;
    if format == Format::Json {
        for row in &rows {
            outln!("{}", serde_json::to_string(row).expect("a row serialises"));
        }
        return Ok(());
    }
    let mib = |b: u64| format!("{:.1}MiB", b as f64 / (1 << 20) as f64);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.name.clone(),
                format!("{:.3}s", r.cpu_nanos as f64 / 1e9),
                mib(r.memory_bytes),
                r.memory_peak_bytes.map_or("-".into(), mib),
                r.memory_limit_bytes.map_or("none".into(), mib),
            ]
        })
        .collect();
    let header = [
        "CONTAINER ID",
        "NAME",
        "CPU TIME",
        "MEM",
        "MEM PEAK",
        "LIMIT",
    ];
    print_table(&header, &table);
    Ok(())
}
