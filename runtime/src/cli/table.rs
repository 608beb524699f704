//! Column-aligned tables for `peti ps` and `peti images`.
//!
//! Docker prints its tables through Go's tabwriter: each column is as wide as
//! its widest cell, and columns are separated by three spaces. Fixed widths
//! would break as soon as a cell is longer than planned ("Exited (137) Less
//! than a second ago"), so the widths are computed from the rows.

/// Spaces between two columns, as Docker's tabwriter uses.
const COLUMN_GAP: usize = 3;

/// Prints `header` and `rows` with every column padded to its widest cell.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    super::out::write(format_args!("{}", render_table(header, rows)));
}

fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| render_row(row, &widths))
        .collect()
}

fn render_row(row: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, cell) in row.iter().enumerate() {
        line.push_str(cell);
        if i + 1 < row.len() {
            let pad = widths[i] - cell.chars().count() + COLUMN_GAP;
            line.extend(std::iter::repeat_n(' ', pad));
        }
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_grow_to_the_widest_cell() {
        let rows = vec![
            vec![
                "a".to_string(),
                "Exited (137) 2 seconds ago".to_string(),
                "web".to_string(),
            ],
            vec![
                "bb".to_string(),
                "Up 1 second".to_string(),
                "db".to_string(),
            ],
        ];
        let text = render_table(&["ID", "STATUS", "NAMES"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID   STATUS                       NAMES");
        assert_eq!(lines[1], "a    Exited (137) 2 seconds ago   web");
        assert_eq!(lines[2], "bb   Up 1 second                  db");
    }
}
