//! Aligned tables for people. Cells are cleaned of control characters first: names and details
//! come from other people, and an escape sequence in a name must not reach the terminal.

use unicode_width::UnicodeWidthStr;

/// A table: a header row and rows of cells, printed with columns two spaces apart.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| clean(c)).collect());
    }

    /// The width of each column: its widest cell, header included.
    pub fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < w.len() {
                    w[i] = w[i].max(cell.width());
                }
            }
        }
        w
    }

    /// The header and every row, one line each.
    pub fn render(&self) -> String {
        let widths = self.widths();
        let mut out = line(&self.headers, &widths);
        for row in &self.rows {
            out.push_str(&line(row, &widths));
        }
        out
    }

    /// The header alone, for a table whose rows come later (`events --follow`).
    pub fn render_header(&self, widths: &[usize]) -> String {
        line(&self.headers, widths)
    }

    /// The rows alone, aligned to `widths` (a wider cell pushes the rest of its line along).
    pub fn render_rows(&self, widths: &[usize]) -> String {
        self.rows.iter().map(|r| line(r, widths)).collect()
    }
}

fn line(cells: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        out.push_str(cell);
        if i + 1 < cells.len() {
            let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.width()) + 2;
            out.extend(std::iter::repeat_n(' ', pad));
        }
    }
    let mut out = out.trim_end().to_string();
    out.push('\n');
    out
}

/// Text safe to print on a terminal: tabs and line breaks become spaces, other control
/// characters (the start of escape sequences) and bidirectional overrides become `?`.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => ' ',
            c if c.is_control() => '?',
            // Bidirectional overrides can make a name read as something else.
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => '?',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_with_wide_characters_and_names_lose_escapes() {
        let mut t = Table::new(&["NAME", "PHONE"]);
        t.row(vec!["김민준".into(), "+821012345678".into()]);
        t.row(vec!["Ana".into(), "+12025550123".into()]);
        t.row(vec!["Eve\u{1b}[2J\nx".into(), "+33612345678".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        // The widest name is the cleaned "Eve?[2J x" (9 columns).
        assert_eq!(lines[0], format!("NAME{}PHONE", " ".repeat(7)));
        // Hangul is two columns wide: 6 columns, padded like a 6-letter name.
        assert_eq!(lines[1], format!("김민준{}+821012345678", " ".repeat(5)));
        assert_eq!(lines[2], format!("Ana{}+12025550123", " ".repeat(8)));
        assert_eq!(lines[3], "Eve?[2J x  +33612345678");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn streamed_rows_keep_the_header_s_columns() {
        let mut t = Table::new(&["AT", "WHAT"]);
        let widths = vec![5, 4];
        assert_eq!(t.render_header(&widths), "AT     WHAT\n");
        t.row(vec!["12:00".into(), "access".into()]);
        t.row(vec!["12:00:01".into(), "lockout".into()]);
        assert_eq!(t.render_rows(&widths), "12:00  access\n12:00:01  lockout\n");
    }
}
