//! Column alignment as Go's `text/tabwriter` does it for Docker's tables.
//!
//! A table template separates its cells with tabs; the writer makes each
//! column as wide as its widest cell plus three spaces, and never narrower
//! than ten (Docker's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: that is
//! why `docker images` has `TAG       ` with seven spaces). The last cell of a
//! line ends no column, so it is not padded. Fixed widths would break as soon
//! as a cell is longer than planned ("Exited (137) Less than a second ago").

/// The narrowest a column is, padding included.
const MIN_WIDTH: usize = 10;
/// Spaces after a column's widest cell.
const PADDING: usize = 3;

/// `text`, each line's tab-separated cells padded into columns.
///
/// Go forms a column from the consecutive lines that have a cell there; a
/// line with fewer cells ends the column above it. The tables here have the
/// same cells on every line, and lines of other shapes (a template's own
/// newlines) start a new block, as in Go.
pub fn align(text: &str) -> String {
    align_with(text, MIN_WIDTH)
}

/// [`align`] with another narrowest column: `docker top` uses 20.
pub fn align_with(text: &str, min_width: usize) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut start = 0;
    while start < lines.len() {
        let cells = lines[start].len();
        let end = start
            + lines[start..]
                .iter()
                .take_while(|l| l.len() == cells)
                .count();
        render_block(&lines[start..end], min_width, &mut out);
        start = end;
    }
    out
}

fn render_block(lines: &[Vec<&str>], min_width: usize, out: &mut String) {
    let columns = lines[0].len().saturating_sub(1);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            let widest = lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0);
            (widest + PADDING).max(min_width)
        })
        .collect();
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(width) = widths.get(i) {
                out.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_grow_to_the_widest_cell() {
        let text = "ID\tSTATUS\tNAMES\na\tExited (137) 2 seconds ago\tweb\nbb\tUp 1 second\tdb\n";
        let lines: Vec<String> = align(text).lines().map(String::from).collect();
        assert_eq!(lines[0], "ID        STATUS                       NAMES");
        assert_eq!(lines[1], "a         Exited (137) 2 seconds ago   web");
        assert_eq!(lines[2], "bb        Up 1 second                  db");
    }

    #[test]
    fn dockers_images_header_has_its_widths() {
        let text =
            "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\nbusybox\tlatest\t0123456789ab\tN/A\t1.2MB\n";
        assert_eq!(
            align(text).lines().next().unwrap(),
            "REPOSITORY   TAG       IMAGE ID       CREATED   SIZE"
        );
    }

    #[test]
    fn a_line_without_tabs_is_left_alone() {
        assert_eq!(align("one line\n"), "one line\n");
        assert_eq!(align(""), "");
    }
}
