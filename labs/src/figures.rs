//! The numbers the book quotes, taken from the results files when the book is
//! built, as the charts are.
//!
//! A number pasted into a page drifts: the lab is run again, the results file
//! and its chart change, and the sentence still says what the old run said.
//! So a page does not type a measured number. It includes it:
//!
//! ```text
//! peti took {{#include ../generated/figures/compare/runc.ours.wall.median}} ms
//! ```
//!
//! `labs book` writes one small file per figure under `generated/figures/`,
//! from the book's reference machine ([`REFERENCE`]), and mdBook's own
//! `{{#include}}` puts its text in the sentence. A figure's name is its path
//! in the results file's data, with list items named by what they are (their
//! `way`, `workload`, `name` or `id`, or a comparison's peer), so
//! `boot-time/container.total.median` is the container's median total. The
//! book's tests fail on a page that quotes a measured number any other way.
//!
//! Every number is written to three significant figures, or as a whole number
//! with thousands separators from 100 on, and some have converted twins: a
//! figure in KiB also in MiB (`-mib`), a byte count in KB and MB (`-kb`,
//! `-mb`, decimal, as `ls` and `du -h --si` show them), nanoseconds in µs and
//! ms (`-us`, `-ms`). `generated/figures/index.txt` lists them all, with their
//! values, for whoever writes a page.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// The machine whose results the book's sentences quote: the book's build
/// machine, whose charts the pages show by name too.
pub const REFERENCE: &str = "amd-epyc-2cpu-24g-nested-pvm";

/// Every figure of one lab's results data, by name.
pub fn of_lab(data: &Value) -> BTreeMap<String, String> {
    let mut figures = BTreeMap::new();
    walk(data, "", "", &mut figures);
    figures
}

/// Walks the data. `unit` is what the nearest enclosing series or field name
/// says the numbers are in.
fn walk(value: &Value, path: &str, unit: &str, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(fields) => {
            // A series: its summary's figures, in its unit.
            if let (Some(Value::Object(summary)), Some(unit)) = (
                fields.get("summary"),
                fields.get("unit").and_then(Value::as_str),
            ) {
                for (stat, v) in summary {
                    // n, the count of samples, is a count, not a measurement.
                    match v {
                        Value::Number(n) if n.is_u64() => {
                            out.insert(join(path, stat), n.to_string());
                        }
                        _ => {
                            if let Some(v) = v.as_f64() {
                                put(out, &join(path, stat), v, unit);
                            }
                        }
                    }
                }
                return;
            }
            for (key, v) in fields {
                walk(
                    v,
                    &join(path, &slug(key)),
                    unit_of(key).unwrap_or(unit),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let label = label_of(item).unwrap_or_else(|| i.to_string());
                walk(item, &join(path, &label), unit, out);
            }
        }
        // A count is shown whole; a measurement to three figures.
        Value::Number(n) if n.is_u64() || n.is_i64() => {
            let v = n.as_f64().unwrap_or_default();
            out.insert(path.to_string(), grouped(v.round() as i64));
            put_twins(out, path, v, unit);
        }
        Value::Number(n) => {
            if let Some(v) = n.as_f64() {
                put(out, path, v, unit);
            }
        }
        _ => {}
    }
}

/// What a list item is called: its `way`, `workload` and `instances`, or its
/// `name`, `id` or `label`; failing those, its `peer`'s (a comparison is
/// named by the peer), or the first of its fields that has a name.
fn label_of(item: &Value) -> Option<String> {
    let field = |k: &str| match item.get(k)? {
        Value::String(s) => Some(slug(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let named = ["way", "workload", "instances"]
        .iter()
        .filter_map(|k| field(k))
        .collect::<Vec<_>>()
        .join(".");
    if !named.is_empty() {
        return Some(named);
    }
    if let Some(own) = ["name", "id", "label"].iter().find_map(|k| field(k)) {
        return Some(own);
    }
    let fields = item.as_object()?;
    fields
        .get("peer")
        .into_iter()
        .chain(fields.values())
        .filter(|v| v.is_object())
        .find_map(label_of)
}

/// The unit a field's name gives its number: `total_bytes`, `memory_kib`,
/// `median_ns`, `start_ms`.
fn unit_of(key: &str) -> Option<&'static str> {
    [
        ("bytes", "B"),
        ("kib", "KiB"),
        ("mib", "MiB"),
        ("_ns", "ns"),
        ("_ms", "ms"),
    ]
    .into_iter()
    .find(|(suffix, _)| key.ends_with(suffix))
    .map(|(_, unit)| unit)
}

/// Puts a figure and its converted twins.
fn put(out: &mut BTreeMap<String, String>, name: &str, value: f64, unit: &str) {
    out.insert(name.to_string(), format(value));
    put_twins(out, name, value, unit);
}

/// The figure in the other units a page may want it in.
fn put_twins(out: &mut BTreeMap<String, String>, name: &str, value: f64, unit: &str) {
    let twins: &[(&str, f64)] = match unit {
        "KiB" => &[("mib", 1024.0)],
        "B" => &[
            ("kb", 1e3),
            ("mb", 1e6),
            ("kib", 1024.0),
            ("mib", 1024.0 * 1024.0),
        ],
        "ns" => &[("us", 1e3), ("ms", 1e6)],
        "ms" => &[("s", 1e3)],
        _ => &[],
    };
    for (suffix, divisor) in twins {
        out.insert(format!("{name}-{suffix}"), format(value / divisor));
    }
}

/// Three significant figures below 100 (6.05, 29.5), a whole number with
/// thousands separators from 100 on (278, 1,344).
pub fn format(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 99.95 {
        return grouped(value.round() as i64);
    }
    let decimals = if magnitude >= 9.995 {
        1
    } else if magnitude >= 0.9995 || magnitude == 0.0 {
        2
    } else {
        // 0.48, 0.061: three significant figures, at most four decimals.
        (2 - magnitude.log10().floor() as i32).clamp(2, 4) as usize
    };
    format!("{value:.decimals$}")
}

/// A whole number with thousands separators: 57,890.
fn grouped(whole: i64) -> String {
    let digits = whole.unsigned_abs().to_string();
    let mut text = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            text.push(',');
        }
        text.push(c);
    }
    if whole < 0 { format!("-{text}") } else { text }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Lower case, with every run of other characters one `-`.
fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

/// Writes one file per figure under `dir/<lab>/`, with no newline at the
/// end (mdBook includes the text inline), and `dir/index.txt`.
pub fn write(dir: &Path, labs: &BTreeMap<String, BTreeMap<String, String>>) -> std::io::Result<()> {
    let mut index = String::new();
    for (lab, figures) in labs {
        let folder = dir.join(lab);
        std::fs::create_dir_all(&folder)?;
        for (name, value) in figures {
            std::fs::write(folder.join(name), value)?;
            index.push_str(&format!("{lab}/{name}\t{value}\n"));
        }
    }
    std::fs::write(dir.join("index.txt"), index)
}

/// Every figure a page under `book_src` includes that `figures` does not
/// have, as "page: lab/name". mdBook would print such an include as it is,
/// braces and all, and build the book anyway.
pub fn missing_in_pages(
    book_src: &Path,
    figures: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<String> {
    let mut missing = Vec::new();
    for page in markdown_under(book_src) {
        let text = std::fs::read_to_string(&page).unwrap_or_default();
        for piece in text.split("{{#include ").skip(1) {
            let target = piece.split("}}").next().unwrap_or("");
            let Some((_, figure)) = target.split_once("generated/figures/") else {
                continue;
            };
            let (lab, name) = figure.split_once('/').unwrap_or((figure, ""));
            if !figures.get(lab).is_some_and(|f| f.contains_key(name)) {
                let shown = page.strip_prefix(book_src).unwrap_or(&page).display();
                missing.push(format!("{shown}: {figure}"));
            }
        }
    }
    missing
}

/// The Markdown files under `dir`, `generated/` left out, sorted.
pub fn markdown_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut pages = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with(crate::book::GENERATED) {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// Every figure of the results folder `folder` (one machine's), by lab.
pub fn of_folder(folder: &Path) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let mut labs = BTreeMap::new();
    let entries = std::fs::read_dir(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("machine.json"))
        .collect();
    files.sort();
    for path in files {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let lab = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A lab's file keeps its data under "data"; criterion's is flat.
        let data = value.get("data").unwrap_or(&value);
        let mut figures = of_lab(data);
        derive(&lab, data, &mut figures);
        labs.insert(lab, figures);
    }
    Ok(labs)
}

/// The few figures a page wants that are a sum or a ratio of others, made
/// here rather than by hand in the page (`derived.*`), and names that do
/// not depend on how a lab was run: the memory lab's largest K, whatever K
/// it was run with, is also `density.<way>.largest`.
fn derive(lab: &str, data: &Value, out: &mut BTreeMap<String, String>) {
    match lab {
        "disk" => derive_disk(data, out),
        "memory" => derive_largest_density(out),
        _ => {}
    }
}

/// `density.<way>.<K>.*` of the largest K, again as `density.<way>.largest.*`.
fn derive_largest_density(out: &mut BTreeMap<String, String>) {
    let mut largest: BTreeMap<String, u64> = BTreeMap::new();
    for name in out.keys() {
        let mut parts = name.splitn(4, '.');
        if let (Some("density"), Some(way), Some(k)) = (parts.next(), parts.next(), parts.next())
            && let Ok(k) = k.parse::<u64>()
        {
            let best = largest.entry(way.to_string()).or_insert(k);
            *best = (*best).max(k);
        }
    }
    for (way, k) in largest {
        let from = format!("density.{way}.{k}.");
        let copies: Vec<(String, String)> = out
            .range(from.clone()..)
            .take_while(|(name, _)| name.starts_with(&from))
            .map(|(name, v)| {
                (
                    format!("density.{way}.largest.{}", &name[from.len()..]),
                    v.clone(),
                )
            })
            .collect();
        out.extend(copies);
    }
}

fn derive_disk(data: &Value, out: &mut BTreeMap<String, String>) {
    let number = |path: &str| data.pointer(path).and_then(Value::as_f64);
    let total = |way: &str| {
        data.get("ways")?
            .as_array()?
            .iter()
            .find(|w| w.get("way").and_then(Value::as_str) == Some(way))?
            .get("total_bytes")?
            .as_f64()
    };
    if let (Some(linux), Some(container)) = (total("linux-vm"), total("container")) {
        out.insert(
            "derived.linux-vm-over-container".into(),
            format(linux / container),
        );
    }
    // What the second image of the sharing part adds to the store.
    if let (Some(stored), Some(first)) = (
        number("/sharing/stored_bytes"),
        number("/sharing/images/0/1"),
    ) {
        put(out, "derived.second-image-adds-bytes", stored - first, "B");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_three_significant_figures_or_are_whole_and_grouped() {
        let cases = [
            (6.0448, "6.04"),
            (29.49, "29.5"),
            (84.2, "84.2"),
            (278.28, "278"),
            (1344.0, "1,344"),
            (57890.0, "57,890"),
            (0.48, "0.480"),
            (0.0612, "0.0612"),
            (0.0, "0.00"),
            (9.996, "10.0"),
            (99.96, "100"),
        ];
        for (value, shown) in cases {
            assert_eq!(format(value), shown, "{value}");
        }
    }

    #[test]
    fn figures_are_named_by_what_the_items_are_and_converted() {
        let data = serde_json::json!({
            "comparisons": [{
                "ours": {"name": "peti", "wall": {"unit": "ms", "samples": [6.0],
                    "summary": {"median": 6.04, "n": 1}}},
                "peer": {"name": "runc", "memory_kib": {"unit": "KiB", "samples": [5632.0],
                    "summary": {"median": 5632.0}}},
                "ratio": 5.31
            }],
            "ways": [{"way": "direct-vm", "total_bytes": 25744}],
            "estimates": [{"id": "vm/one exit", "median_ns": 27700.0}]
        });
        let figures = of_lab(&data);
        let get = |k: &str| figures.get(k).map(String::as_str);
        assert_eq!(get("comparisons.runc.ours.wall.median"), Some("6.04"));
        assert_eq!(
            get("comparisons.runc.peer.memory-kib.median"),
            Some("5,632")
        );
        assert_eq!(
            get("comparisons.runc.peer.memory-kib.median-mib"),
            Some("5.50")
        );
        assert_eq!(get("comparisons.runc.ratio"), Some("5.31"));
        assert_eq!(get("ways.direct-vm.total-bytes"), Some("25,744"));
        assert_eq!(get("ways.direct-vm.total-bytes-kb"), Some("25.7"));
        assert_eq!(get("estimates.vm-one-exit.median-ns-us"), Some("27.7"));
    }

    #[test]
    fn the_largest_density_point_has_a_name_that_does_not_depend_on_k() {
        let data = serde_json::json!({"density": [
            {"way": "container", "instances": 1, "per_instance_kib": 1360.0},
            {"way": "container", "instances": 10, "per_instance_kib": 1264.4},
            {"way": "direct-vm", "instances": 3, "per_instance_kib": 1400.0}
        ]});
        let mut figures = of_lab(&data);
        derive("memory", &data, &mut figures);
        let get = |k: &str| figures.get(k).map(String::as_str);
        assert_eq!(get("density.container.largest.instances"), Some("10"));
        assert_eq!(
            get("density.container.largest.per-instance-kib"),
            Some("1,264")
        );
        assert_eq!(get("density.direct-vm.largest.instances"), Some("3"));
    }
}
