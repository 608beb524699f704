//! The charts every lab draws, as SVG files from plotters' SVG backend.
//!
//! No font files are needed: without plotters' `ttf` feature, text goes into
//! the SVG as `<text>` elements and the browser that shows the chart draws it.
//! Every chart has a title, axis labels with units, a legend naming each series,
//! and the number of runs behind it in the title, so a chart copied out of its
//! page still says what it shows.
//!
//! Four shapes cover the labs: grouped bars (one group per category, one bar
//! per series, with a p10–p90 whisker), box plots (the spread of samples),
//! stacked bars (phases of a start, end to end) and lines (a quantity against
//! a count).

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor;

/// Drawing failed: plotters' own error, as text.
#[derive(Debug, thiserror::Error)]
#[error("chart {path}: {reason}")]
pub struct ChartError {
    pub path: String,
    pub reason: String,
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 520;

/// One colour per series, the same way always in the same colour across charts.
pub fn colour(index: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(31, 119, 180),  // blue: container
        RGBColor(255, 127, 14),  // orange: direct VM
        RGBColor(44, 160, 44),   // green: Linux VM
        RGBColor(214, 39, 40),   // red
        RGBColor(148, 103, 189), // purple
        RGBColor(140, 86, 75),   // brown
        RGBColor(227, 119, 194), // pink
        RGBColor(127, 127, 127), // grey
    ];
    PALETTE[index % PALETTE.len()]
}

fn fail(path: &Path) -> impl Fn(String) -> ChartError + '_ {
    move |reason| ChartError {
        path: path.display().to_string(),
        reason,
    }
}

fn area(path: &Path) -> DrawingArea<SVGBackend<'_>, Shift> {
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    let _ = root.fill(&WHITE);
    root
}

/// An axis of `n` categories, one unit wide each: category i spans i..i+1.
/// plotters would put its tick labels at round numbers, not at the middles of
/// the categories, so the axis gets no labels of its own and
/// [`category_labels`] writes the names.
fn category_axis(n: usize) -> std::ops::Range<f64> {
    0f64..n.max(1) as f64
}

/// Which axis carries the categories.
#[derive(Clone, Copy, PartialEq)]
enum Along {
    X,
    Y,
}

/// Writes each category's name beside the axis, at the middle of its span.
fn category_labels(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    ctx: &ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    names: &[String],
    along: Along,
    path: &Path,
) -> Result<(), ChartError> {
    let (x_range, y_range) = (ctx.x_range(), ctx.y_range());
    for (i, name) in names.iter().enumerate() {
        let middle = i as f64 + 0.5;
        let text = match along {
            Along::X => {
                let (px, py) = ctx.backend_coord(&(middle, y_range.start));
                // A label wider than its slot would run into its neighbours:
                // break it into lines that fit (about 8 px a character).
                let (left, _) = ctx.backend_coord(&(i as f64, y_range.start));
                let (right, _) = ctx.backend_coord(&(i as f64 + 1.0, y_range.start));
                let fits = ((right - left).max(0) as usize / 8).max(8);
                for (line, part) in wrap(name, fits).into_iter().enumerate() {
                    let style = ("sans-serif", 15).into_font().into_text_style(root).pos(
                        text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Top),
                    );
                    let y = py + 8 + 18 * line as i32;
                    root.draw(&Text::new(part, (px, y), style))
                        .map_err(|e| fail(path)(e.to_string()))?;
                }
                continue;
            }
            Along::Y => {
                let (px, py) = ctx.backend_coord(&(x_range.start, middle));
                let style = ("sans-serif", 15).into_font().into_text_style(root).pos(
                    text_anchor::Pos::new(text_anchor::HPos::Right, text_anchor::VPos::Center),
                );
                Text::new(name.clone(), (px - 8, py), style)
            }
        };
        root.draw(&text).map_err(|e| fail(path)(e.to_string()))?;
    }
    Ok(())
}

/// `text` broken at spaces into lines of at most `width` characters (a word
/// longer than that gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// A value with its spread, for one bar.
#[derive(Debug, Clone, Copy)]
pub struct Bar {
    pub value: f64,
    /// p10 and p90, drawn as a whisker; `None` for a single number.
    pub spread: Option<(f64, f64)>,
}

/// Grouped bars: for each category (x axis), one bar per series.
pub struct Grouped<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub categories: &'a [String],
    /// (series name, one bar per category; `None` where the series has no value).
    pub series: &'a [(String, Vec<Option<Bar>>)],
}

pub fn grouped_bars(path: &Path, chart: &Grouped) -> Result<(), ChartError> {
    let colours: Vec<usize> = (0..chart.series.len()).collect();
    grouped_bars_coloured(path, chart, &colours)
}

/// [`grouped_bars`] with a colour index per series, so that a way keeps its
/// colour (see [`crate::ways::Way::colour`]) whichever series come before it.
pub fn grouped_bars_coloured(
    path: &Path,
    chart: &Grouped,
    colours: &[usize],
) -> Result<(), ChartError> {
    let root = area(path);
    let top = chart
        .series
        .iter()
        .flat_map(|(_, bars)| bars.iter().flatten())
        .map(|b| b.spread.map_or(b.value, |(_, hi)| hi.max(b.value)))
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE)
        // Headroom for the legend in the upper right.
        * 1.4;
    let groups = chart.categories.len();
    let per_group = chart.series.len().max(1);
    let mut ctx = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 22))
        .margin(16)
        // Room for a category label broken into three lines.
        .x_label_area_size(66)
        .y_label_area_size(72)
        .build_cartesian_2d(category_axis(groups), 0f64..top)
        .map_err(|e| fail(path)(e.to_string()))?;
    let categories = chart.categories.to_vec();
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(chart.y_label)
        .draw()
        .map_err(|e| fail(path)(e.to_string()))?;
    let width = 0.8 / per_group as f64;
    for (s, (name, bars)) in chart.series.iter().enumerate() {
        let fill = colour(colours.get(s).copied().unwrap_or(s)).filled();
        let x0 = |g: usize| g as f64 + 0.1 + s as f64 * width;
        ctx.draw_series(bars.iter().enumerate().filter_map(|(g, bar)| {
            bar.map(|b| Rectangle::new([(x0(g), 0.0), (x0(g) + width * 0.9, b.value)], fill))
        }))
        .map_err(|e| fail(path)(e.to_string()))?
        .label(name.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
        ctx.draw_series(bars.iter().enumerate().filter_map(|(g, bar)| {
            let (lo, hi) = bar.as_ref()?.spread?;
            let mid = x0(g) + width * 0.45;
            Some(PathElement::new(
                vec![(mid, lo), (mid, hi)],
                BLACK.stroke_width(2),
            ))
        }))
        .map_err(|e| fail(path)(e.to_string()))?;
        // The value over each bar: a bar of 0 is otherwise invisible.
        ctx.draw_series(bars.iter().enumerate().filter_map(|(g, bar)| {
            let b = bar.as_ref()?;
            let style =
                ("sans-serif", 13)
                    .into_font()
                    .into_text_style(&root)
                    .pos(text_anchor::Pos::new(
                        text_anchor::HPos::Center,
                        text_anchor::VPos::Bottom,
                    ));
            Some(Text::new(
                short_number(b.value),
                (x0(g) + width * 0.45, b.value),
                style,
            ))
        }))
        .map_err(|e| fail(path)(e.to_string()))?;
    }
    category_labels(&root, &ctx, &categories, Along::X, path)?;
    legend(&mut ctx, path)?;
    root.present().map_err(|e| fail(path)(e.to_string()))
}

/// A number as a label: three significant digits or so, no trailing zeros.
pub fn short_number(value: f64) -> String {
    if value.abs() >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The first and third quartiles of samples (nearest rank).
fn quartiles(samples: &[f64]) -> (f64, f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    (at(0.25), at(0.75))
}

/// Box plots of samples, one box per group, on a shared value axis.
pub fn box_plots(
    path: &Path,
    title: &str,
    y_label: &str,
    groups: &[(String, Vec<f64>)],
) -> Result<(), ChartError> {
    let root = area(path);
    // The axis ends a little above the highest sample that is not an outlier
    // (Tukey's far fence, three interquartile ranges above the third quartile),
    // so that one 120 ms stall does not squash thirty 6 ms boxes into a line.
    // Samples above it are drawn on the top edge and counted in the legend.
    let top = groups
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(_, s)| {
            let (q1, q3) = quartiles(s);
            let highest = s.iter().copied().fold(0.0f64, f64::max);
            highest.min(q3 + 3.0 * (q3 - q1))
        })
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.15;
    let names: Vec<String> = groups.iter().map(|(n, _)| n.clone()).collect();
    let mut ctx = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(category_axis(groups.len()), 0f64..top)
        .map_err(|e| fail(path)(e.to_string()))?;
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_label)
        .draw()
        .map_err(|e| fail(path)(e.to_string()))?;
    for (g, (name, samples)) in groups.iter().enumerate() {
        if samples.is_empty() {
            continue;
        }
        let q = crate::results::Summary::of(samples);
        let quartiles = quartiles(samples);
        let above = samples.iter().filter(|v| **v > top).count();
        let colour = colour(g);
        let (left, right, mid) = (g as f64 + 0.3, g as f64 + 0.7, g as f64 + 0.5);
        let shapes: Vec<PathElement<(f64, f64)>> = vec![
            // The box from the first to the third quartile, the median across it,
            // whiskers out to p10 and p90.
            PathElement::new(
                vec![
                    (left, quartiles.0),
                    (right, quartiles.0),
                    (right, quartiles.1),
                    (left, quartiles.1),
                    (left, quartiles.0),
                ],
                colour.stroke_width(2),
            ),
            PathElement::new(
                vec![(left, q.median), (right, q.median)],
                BLACK.stroke_width(3),
            ),
            PathElement::new(
                vec![(mid, quartiles.1), (mid, q.p90)],
                colour.stroke_width(1),
            ),
            PathElement::new(
                vec![(mid, quartiles.0), (mid, q.p10)],
                colour.stroke_width(1),
            ),
            PathElement::new(
                vec![(mid - 0.1, q.p90), (mid + 0.1, q.p90)],
                colour.stroke_width(1),
            ),
            PathElement::new(
                vec![(mid - 0.1, q.p10), (mid + 0.1, q.p10)],
                colour.stroke_width(1),
            ),
        ];
        let legend_colour = colour;
        ctx.draw_series(shapes)
            .map_err(|e| fail(path)(e.to_string()))?
            .label(if above == 0 {
                format!("{name}: median {:.2}", q.median)
            } else {
                format!(
                    "{name}: median {:.2}; {above} above {}, on the top edge",
                    q.median,
                    short_number(top)
                )
            })
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], legend_colour.filled())
            });
        // Every sample as a dot beside its box: the reader sees the outliers.
        ctx.draw_series(samples.iter().enumerate().map(|(i, v)| {
            let jitter = ((i * 37) % 11) as f64 / 11.0 * 0.12;
            Circle::new(
                (right + 0.05 + jitter, v.min(top)),
                2,
                colour.mix(0.5).filled(),
            )
        }))
        .map_err(|e| fail(path)(e.to_string()))?;
    }
    category_labels(&root, &ctx, &names, Along::X, path)?;
    legend(&mut ctx, path)?;
    root.present().map_err(|e| fail(path)(e.to_string()))
}

/// Horizontal stacked bars: one bar per row (a way of running a workload), made
/// of its phases end to end, in milliseconds.
pub fn stacked_bars(
    path: &Path,
    title: &str,
    x_label: &str,
    rows: &[(String, Vec<(String, f64)>)],
) -> Result<(), ChartError> {
    let root = area(path);
    let longest = rows
        .iter()
        .map(|(_, phases)| phases.iter().map(|(_, v)| v.max(0.0)).sum::<f64>())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let widest_name = rows
        .iter()
        .flat_map(|(_, phases)| phases.iter().map(|(n, _)| n.chars().count()))
        .max()
        .unwrap_or(0);
    let right = longest * room_for_legend(widest_name, 230);
    let names: Vec<String> = rows.iter().map(|(n, _)| n.clone()).collect();
    let mut ctx = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(230)
        .build_cartesian_2d(0f64..right, category_axis(rows.len()))
        .map_err(|e| fail(path)(e.to_string()))?;
    ctx.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_label)
        .draw()
        .map_err(|e| fail(path)(e.to_string()))?;
    // Each distinct phase name is one series, in the order first seen.
    let mut phase_names: Vec<&str> = Vec::new();
    for (_, phases) in rows {
        for (name, _) in phases {
            if !phase_names.contains(&name.as_str()) {
                phase_names.push(name);
            }
        }
    }
    for (p, phase) in phase_names.iter().enumerate() {
        let fill = colour(p).filled();
        let mut segments = Vec::new();
        for (r, (_, phases)) in rows.iter().enumerate() {
            let mut start = 0.0;
            for (name, ms) in phases {
                let ms = ms.max(0.0);
                if name == phase {
                    let (y0, y1) = (r as f64 + 0.2, r as f64 + 0.8);
                    segments.push(Rectangle::new([(start, y0), (start + ms, y1)], fill));
                }
                start += ms;
            }
        }
        ctx.draw_series(segments)
            .map_err(|e| fail(path)(e.to_string()))?
            .label(*phase)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
    }
    // Each bar's total at its end, so the reader need not add up the phases.
    ctx.draw_series(rows.iter().enumerate().map(|(r, (_, phases))| {
        let total: f64 = phases.iter().map(|(_, v)| v.max(0.0)).sum();
        Text::new(
            format!(" {total:.2}"),
            (total, r as f64 + 0.5),
            ("sans-serif", 14).into_font(),
        )
    }))
    .map_err(|e| fail(path)(e.to_string()))?;
    category_labels(&root, &ctx, &names, Along::Y, path)?;
    legend(&mut ctx, path)?;
    root.present().map_err(|e| fail(path)(e.to_string()))
}

/// How far past the longest bar a horizontal chart's axis must reach so that
/// the legend, in the upper right, does not cover it: the legend is about
/// 7.5 px a character of its widest name, plus its swatch and padding. The
/// bar keeps at least a third of the plot.
fn room_for_legend(widest_name: usize, y_label_area: u32) -> f64 {
    let plot = f64::from(WIDTH - y_label_area - 32);
    let legend = 60.0 + 7.5 * widest_name as f64;
    let bar = (plot - legend - 20.0).max(plot / 3.0);
    plot / bar
}

/// Horizontal bars on a logarithmic axis, for quantities that differ by orders
/// of magnitude (bytes of a 25 KB program against a 14 MB kernel): on a linear
/// axis the small ones would vanish. Each row is (name, value, colour index).
pub fn log_bars(
    path: &Path,
    title: &str,
    x_label: &str,
    rows: &[(String, f64, usize)],
) -> Result<(), ChartError> {
    let root = area(path);
    // Largest at the bottom: the legend, upper right, then covers only the
    // empty ends of the shortest bars.
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let rows = &rows[..];
    let positive = |v: f64| v.max(1e-9);
    let low = rows
        .iter()
        .map(|r| positive(r.1))
        .fold(f64::INFINITY, f64::min);
    let high = rows.iter().map(|r| positive(r.1)).fold(0.0f64, f64::max);
    let (low, high) = if rows.is_empty() {
        (1.0, 10.0)
    } else {
        // Room on the right, in decades, for the legend.
        (low / 4.0, high * 40.0)
    };
    let names: Vec<String> = rows.iter().map(|(n, _, _)| n.clone()).collect();
    let mut ctx = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(230)
        .build_cartesian_2d((low..high).log_scale(), category_axis(rows.len()))
        .map_err(|e| fail(path)(e.to_string()))?;
    ctx.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(x_label)
        .draw()
        .map_err(|e| fail(path)(e.to_string()))?;
    for (r, (name, value, colour_index)) in rows.iter().enumerate() {
        let fill = colour(*colour_index).filled();
        let (y0, y1) = (r as f64 + 0.2, r as f64 + 0.8);
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(low, y0), (positive(*value), y1)],
            fill,
        )))
        .map_err(|e| fail(path)(e.to_string()))?
        .label(format!("{name}: {}", short_number(*value)))
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
        ctx.draw_series(std::iter::once(Text::new(
            format!(" {}", short_number(*value)),
            (positive(*value), r as f64 + 0.5),
            ("sans-serif", 14).into_font(),
        )))
        .map_err(|e| fail(path)(e.to_string()))?;
    }
    for (r, name) in names.iter().enumerate() {
        let (px, py) = ctx.backend_coord(&(low, r as f64 + 0.5));
        let style =
            ("sans-serif", 15)
                .into_font()
                .into_text_style(&root)
                .pos(text_anchor::Pos::new(
                    text_anchor::HPos::Right,
                    text_anchor::VPos::Center,
                ));
        root.draw(&Text::new(name.clone(), (px - 8, py), style))
            .map_err(|e| fail(path)(e.to_string()))?;
    }
    legend(&mut ctx, path)?;
    root.present().map_err(|e| fail(path)(e.to_string()))
}

/// Lines with points: each series is (x, y) pairs.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), ChartError> {
    let root = area(path);
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (x_max, y_max) = points.fold((0.0f64, 0.0f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    let mut ctx = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..(x_max * 1.05).max(1.0), 0f64..(y_max * 1.4).max(1.0))
        .map_err(|e| fail(path)(e.to_string()))?;
    ctx.configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(|e| fail(path)(e.to_string()))?;
    for (s, (name, pts)) in series.iter().enumerate() {
        let style = colour(s).stroke_width(2);
        ctx.draw_series(LineSeries::new(pts.iter().copied(), style))
            .map_err(|e| fail(path)(e.to_string()))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        ctx.draw_series(pts.iter().map(|p| Circle::new(*p, 4, colour(s).filled())))
            .map_err(|e| fail(path)(e.to_string()))?;
    }
    legend(&mut ctx, path)?;
    root.present().map_err(|e| fail(path)(e.to_string()))
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    ctx: &mut ChartContext<'a, DB, CT>,
    path: &Path,
) -> Result<(), ChartError> {
    ctx.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| fail(path)(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn a_long_label_breaks_at_spaces_into_lines_that_fit() {
        assert_eq!(
            wrap("start 64 MiB in 32m (OOM-killed)", 16),
            ["start 64 MiB in", "32m (OOM-killed)"]
        );
        assert_eq!(wrap("short", 16), ["short"]);
        // A word longer than the width gets a line of its own, whole.
        assert_eq!(
            wrap("a unbreakablelongword b", 8),
            ["a", "unbreakablelongword", "b"]
        );
    }
}
