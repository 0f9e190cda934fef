//! Text tables sized to their content: each column is as wide as its widest cell, so large
//! values never run into their neighbours, and lines carry no trailing blanks.

use std::fmt::Write as _;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

enum Row {
    /// One cell per column; missing trailing cells are blank.
    Cells(Vec<String>),
    /// A line of its own (a section heading within the table); it does not size columns.
    Line(String),
    /// Leading cells, then text spanning the columns after them (it does not size them).
    Note(Vec<String>, String),
}

/// A table: a header row, then rows, printed with two spaces of indent.
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Row>,
}

impl Table {
    pub fn new(columns: impl IntoIterator<Item = (impl Into<String>, Align)>) -> Table {
        Table {
            columns: columns.into_iter().map(|(h, a)| (h.into(), a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(Row::Cells(cells));
    }

    /// Adds leading cells and text that spans the columns after them.
    pub fn note(&mut self, cells: Vec<String>, text: impl Into<String>) {
        self.rows.push(Row::Note(cells, text.into()));
    }

    /// Adds a line that spans the table.
    pub fn line(&mut self, text: impl Into<String>) {
        self.rows.push(Row::Line(text.into()));
    }

    /// The table as text, each line starting with `indent` spaces.
    pub fn render(&self, indent: usize) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| width(h)).collect();
        for row in &self.rows {
            if let Row::Cells(cells) | Row::Note(cells, _) = row {
                for (w, cell) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(width(cell));
                }
            }
        }
        let mut out = String::new();
        let headers: Vec<&str> = self.columns.iter().map(|(h, _)| h.as_str()).collect();
        self.write_cells(&mut out, indent, &widths, &headers);
        for row in &self.rows {
            match row {
                Row::Cells(cells) => {
                    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                    self.write_cells(&mut out, indent, &widths, &cells);
                }
                Row::Line(text) => {
                    let _ = writeln!(out, "{:indent$}{text}", "");
                }
                Row::Note(cells, text) => {
                    let mut cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                    cells.truncate(widths.len());
                    let mut line = self.cells_line(indent, &widths[..cells.len()], &cells);
                    line.push_str("  ");
                    line.push_str(text);
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }

    fn write_cells(&self, out: &mut String, indent: usize, widths: &[usize], cells: &[&str]) {
        let line = self.cells_line(indent, widths, cells);
        let _ = writeln!(out, "{}", line.trim_end());
    }

    /// Cells padded to `widths` (as many columns as `widths` has).
    fn cells_line(&self, indent: usize, widths: &[usize], cells: &[&str]) -> String {
        let mut line = " ".repeat(indent);
        for (i, ((_, align), w)) in self.columns.iter().zip(widths).enumerate() {
            let cell = cells.get(i).copied().unwrap_or("");
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(w - width(cell));
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        line
    }
}

/// Width on a terminal: characters, not bytes ("µs", "→").
fn width(s: &str) -> usize {
    s.chars().count()
}

/// `items` after `lead`, each but the last followed by `separator` and a space, wrapped
/// before `limit` characters; continuation lines are indented under the first item.
pub fn wrapped(lead: &str, items: &[String], separator: char, limit: usize) -> String {
    let hang = width(lead);
    let mut out = String::from(lead);
    let mut column = hang;
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item}{separator}")
        } else {
            item.clone()
        };
        if i > 0 {
            if column + 1 + width(&piece) > limit {
                out.push('\n');
                out.push_str(&" ".repeat(hang));
                column = hang;
            } else {
                out.push(' ');
                column += 1;
            }
        }
        out.push_str(&piece);
        column += width(&piece);
    }
    out.push('\n');
    out
}

/// Member indices as ranges: `[0, 1, 2, 5, 7, 8]` → "0–2, 5, 7–8". `indices` sorted.
pub fn ranges(indices: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}–{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new([("name", Align::Left), ("value", Align::Right)]);
        t.row(vec!["hop 0→1".into(), "1504706.56".into()]);
        t.line("a heading");
        t.row(vec!["tour".into(), "68.16".into()]);
        t.row(vec!["x".into()]);
        t.note(vec!["member 2".into()], "no data");
        assert_eq!(
            t.render(2),
            "  name           value\n  hop 0→1   1504706.56\n  a heading\n  tour           68.16\n  x\n  member 2  no data\n"
        );
    }

    #[test]
    fn lists_wrap_under_their_first_item() {
        let items: Vec<String> = (0..12).map(|i| format!("member {i}")).collect();
        let text = wrapped("  members: ", &items, ',', 50);
        assert_eq!(
            text,
            "  members: member 0, member 1, member 2, member 3,\n           member 4, member 5, member 6, member 7,\n           member 8, member 9, member 10,\n           member 11\n"
        );
        assert!(text.lines().all(|l| l.chars().count() <= 50));
    }

    #[test]
    fn indices_read_as_ranges() {
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), "0–2, 5, 7–8");
        assert_eq!(ranges(&[3]), "3");
        assert_eq!(ranges(&[]), "");
    }
}
