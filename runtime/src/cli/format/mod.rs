//! Docker's `--format`: how a list (ps, images, stats) or an inspected
//! object is printed.
//!
//! Docker prints every list through one Go template (`text/template`). Its
//! default table is itself a template, `table {{.ID}}\t{{.Image}}...`: the
//! word `table` asks for a header line and aligned columns, and each row is
//! the template run on that row's fields. `--format json` is `{{json .}}`;
//! anything else is the user's own template, one line per row. peti does the
//! same with `gotmpl`, a port of Go's `text/template`, so a template from a
//! Docker tutorial gives the same text here.
//!
//! - [`tabwriter`]: the column alignment of Go's tabwriter, as Docker sets it;
//! - [`funcs`]: the functions Docker adds to Go's (`json`, `join`, `upper`...);
//! - [`units`]: sizes in Docker's units and digits.

mod funcs;
pub mod tabwriter;
pub mod units;

use std::str::FromStr;

use gotmpl::{MissingKey, Template, Value};
use serde::Serialize;

/// Why a `--format` template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The template does not parse (Docker's words, then Go's).
    #[error("template parsing error: {0}")]
    Parse(gotmpl::TemplateError),
    /// The template names a field the row does not have, or a function
    /// failed on its arguments.
    #[error("{0}")]
    Execute(gotmpl::TemplateError),
    /// A row could not be made into template data.
    #[error("the row could not be made into template data: {0}")]
    Data(gotmpl::TemplateError),
}

/// What `--format` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Docker's own table for the command (no `--format`, or `table`).
    Table,
    /// One JSON object per row (`json`), the same as `{{json .}}`.
    Json,
    /// The user's template; `table` when it began with the word `table`.
    Template { table: bool, source: String },
}

impl FromStr for Format {
    type Err = std::convert::Infallible;

    /// Docker's reading of the flag: `table`, `json`, `table TEMPLATE`, or a
    /// template. `\t` and `\n` typed as two characters (as they are inside
    /// shell quotes) become a tab and a newline, as Docker makes them.
    fn from_str(text: &str) -> Result<Format, Self::Err> {
        let text = text.trim_matches(' ');
        Ok(match text {
            "" | "table" => Format::Table,
            "json" => Format::Json,
            _ => {
                let source = text.replace(r"\t", "\t").replace(r"\n", "\n");
                match source.strip_prefix("table") {
                    Some(rest) if rest.starts_with([' ', '\t', '\n']) => Format::Template {
                        table: true,
                        source: rest.trim_start_matches(' ').to_string(),
                    },
                    _ => Format::Template {
                        table: false,
                        source,
                    },
                }
            }
        })
    }
}

/// How a command's rows look in Docker: its default table, and the heading
/// of each field a template can name.
pub struct Columns {
    /// The template of the default table, without the word `table`.
    pub default: &'static str,
    /// Each field's heading, as `{{.Field}}` prints in the header line.
    pub headings: &'static [(&'static str, &'static str)],
}

/// Prints `rows` as `format` asks.
pub fn print_rows<T: Serialize>(
    format: &Format,
    columns: &Columns,
    rows: &[T],
) -> Result<(), FormatError> {
    super::out::write(format_args!("{}", render_rows(format, columns, rows)?));
    Ok(())
}

/// The text of [`print_rows`].
pub fn render_rows<T: Serialize>(
    format: &Format,
    columns: &Columns,
    rows: &[T],
) -> Result<String, FormatError> {
    let (table, source) = match format {
        Format::Table => (true, columns.default),
        Format::Json => (false, "{{json .}}"),
        Format::Template { table, source } => (*table, source.as_str()),
    };
    let template = compile(source, false)?;
    let mut text = String::new();
    if table {
        text.push_str(&execute(&compile(source, true)?, &headings(columns))?);
        text.push('\n');
    }
    for row in rows {
        let data = gotmpl::to_value(row).map_err(FormatError::Data)?;
        text.push_str(&execute(&template, &data)?);
        text.push('\n');
    }
    Ok(if table { tabwriter::align(&text) } else { text })
}

/// `inspect -f`: the template run on each object, a line each.
pub fn render_each(source: &str, objects: &[serde_json::Value]) -> Result<String, FormatError> {
    let source = match source.parse::<Format>() {
        Ok(Format::Template { source, .. }) => source,
        // `-f json` (or `table`) is Docker's JSON of each object, `{{json .}}`.
        _ => "{{json .}}".to_string(),
    };
    // Inspect data is a map: a name that is not in it prints "<no value>",
    // as Docker's does when it falls back to the raw JSON.
    let template = compile(&source, false)?.missing_key(MissingKey::Invalid);
    let mut text = String::new();
    for object in objects {
        let data = gotmpl::to_value(object).map_err(FormatError::Data)?;
        text.push_str(&execute(&template, &data)?);
        text.push('\n');
    }
    Ok(text)
}

/// Parses a template with Docker's functions; `header` gives the header
/// line's versions of them, which pass a heading through unchanged.
fn compile(source: &str, header: bool) -> Result<Template, FormatError> {
    Template::new("")
        .funcs(funcs::docker(header))
        .missing_key(MissingKey::Error)
        .parse(source)
        .map_err(FormatError::Parse)
}

fn execute(template: &Template, data: &Value) -> Result<String, FormatError> {
    template
        .execute_to_string(data)
        .map_err(FormatError::Execute)
}

/// The data of the header line: each field is its own heading.
fn headings(columns: &Columns) -> Value {
    let map = columns
        .headings
        .iter()
        .map(|(field, heading)| {
            (
                std::sync::Arc::from(*field),
                Value::String((*heading).into()),
            )
        })
        .collect();
    Value::Map(std::sync::Arc::new(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Row {
        names: &'static str,
        status: &'static str,
        labels: &'static str,
    }

    const COLUMNS: Columns = Columns {
        default: "{{.Names}}\t{{.Status}}",
        headings: &[
            ("Names", "NAMES"),
            ("Status", "STATUS"),
            ("Labels", "LABELS"),
        ],
    };

    fn rows() -> [Row; 2] {
        [
            Row {
                names: "web",
                status: "Up 2 seconds",
                labels: "tier=front,app=shop",
            },
            Row {
                names: "database",
                status: "Exited (0) 1 second ago",
                labels: "",
            },
        ]
    }

    fn render(format: &str) -> String {
        render_rows(&format.parse().unwrap(), &COLUMNS, &rows()).unwrap()
    }

    #[test]
    fn the_flag_reads_as_dockers() {
        assert_eq!("".parse::<Format>().unwrap(), Format::Table);
        assert_eq!("table".parse::<Format>().unwrap(), Format::Table);
        assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
        assert_eq!(
            r"table {{.Names}}\t{{.Status}}".parse::<Format>().unwrap(),
            Format::Template {
                table: true,
                source: "{{.Names}}\t{{.Status}}".into()
            }
        );
        assert_eq!(
            "{{.Names}}".parse::<Format>().unwrap(),
            Format::Template {
                table: false,
                source: "{{.Names}}".into()
            }
        );
        // A field that begins with "table" is not the word table.
        assert!(matches!(
            "tablet".parse::<Format>().unwrap(),
            Format::Template { table: false, .. }
        ));
    }

    #[test]
    fn a_template_prints_a_line_per_row() {
        assert_eq!(render("{{.Names}}"), "web\ndatabase\n");
        assert_eq!(
            render("{{.Names}}: {{.Status}}"),
            "web: Up 2 seconds\ndatabase: Exited (0) 1 second ago\n"
        );
        assert_eq!(
            render(r#"{{if eq .Names "web"}}{{.Names}}{{end}}"#),
            "web\n\n"
        );
    }

    #[test]
    fn table_gives_headings_and_tabwriter_columns() {
        // Go's tabwriter as Docker sets it: cells at least 10 wide, 3 spaces
        // of padding, and the last column not padded.
        assert_eq!(
            render(r"table {{.Names}}\t{{.Status}}"),
            "NAMES      STATUS\n\
             web        Up 2 seconds\n\
             database   Exited (0) 1 second ago\n"
        );
        assert_eq!(render("table"), render(r"table {{.Names}}\t{{.Status}}"));
    }

    #[test]
    fn json_is_each_row_whole() {
        let text = render("json");
        assert_eq!(text, render("{{json .}}"));
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["Names"], "web");
        assert_eq!(render("{{json .Names}}"), "\"web\"\n\"database\"\n");
    }

    #[test]
    fn dockers_functions_are_there() {
        assert_eq!(render("{{upper .Names}}"), "WEB\nDATABASE\n");
        assert_eq!(render("{{.Names | lower | title}}"), "Web\nDatabase\n");
        assert_eq!(
            render(r#"{{join (split .Labels ",") " "}}"#),
            "tier=front app=shop\n\n"
        );
        assert_eq!(render("{{truncate .Names 3}}"), "web\ndat\n");
        assert_eq!(render("{{pad .Names 1 2}}|"), " web  |\n database  |\n");
        assert_eq!(
            render(r"table {{upper .Names}}\t{{json .Status}}"),
            "NAMES      STATUS\n\
             WEB        \"Up 2 seconds\"\n\
             DATABASE   \"Exited (0) 1 second ago\"\n"
        );
    }

    #[test]
    fn a_bad_template_is_refused_with_dockers_words() {
        let bad = render_rows(&"{{.Names".parse().unwrap(), &COLUMNS, &rows()).unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("template parsing error: template: "),
            "{bad}"
        );
        let missing = render_rows(&"{{.Colour}}".parse().unwrap(), &COLUMNS, &rows()).unwrap_err();
        assert!(matches!(missing, FormatError::Execute(_)), "{missing}");
    }

    #[test]
    fn inspect_templates_read_nested_fields() {
        let object = serde_json::json!({
            "State": {"Status": "exited", "ExitCode": 3, "Running": false},
            "Config": {"Env": ["PATH=/bin", "A=1"]},
        });
        let each = |t: &str| render_each(t, std::slice::from_ref(&object)).unwrap();
        assert_eq!(each("{{.State.Status}} {{.State.ExitCode}}"), "exited 3\n");
        assert_eq!(each("{{.State.Running}}"), "false\n");
        assert_eq!(
            each("{{range .Config.Env}}{{println .}}{{end}}"),
            "PATH=/bin\nA=1\n\n"
        );
        assert_eq!(
            each("{{json .State}}"),
            "{\"ExitCode\":3,\"Running\":false,\"Status\":\"exited\"}\n"
        );
        assert_eq!(each("{{.Nope}}"), "<no value>\n");
    }
}
