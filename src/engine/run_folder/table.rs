//! Numeric CSV tables: how cells are written and a tolerant reader that keeps what is valid
//! and reports precisely what it skipped.

use std::path::{Path, PathBuf};

/// Columns written as integers wherever they appear (`metrics.csv`, probe tables).
pub const INTEGER_COLUMNS: [&str; 6] = ["step", "t", "anchor", "hvps", "first_step", "k"];

/// Whether a column of this name holds whole numbers.
pub fn is_integer_column(name: &str) -> bool {
    INTEGER_COLUMNS.contains(&name)
}

/// Largest integer an f64 holds exactly (2^53).
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// The text of one cell: integers as integers (in integer columns), other numbers in Rust's
/// shortest round-trip form, `nan`, `inf`, `-inf` for non-finite values.
pub fn format_cell_as(x: f64, integer: bool) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else if integer && x.fract() == 0.0 && x.abs() <= EXACT_INT {
        format!("{}", x as i64)
    } else {
        format!("{x:?}")
    }
}

/// Parse one cell: empty → `None`; numbers in any form Rust or Python write (`1`, `1.5`,
/// `1e-3`, `nan`, `NaN`, `inf`, `-Infinity`). The outer `None`: not a number.
pub fn parse_cell(s: &str) -> Option<Option<f64>> {
    let t = s.trim();
    if t.is_empty() {
        return Some(None);
    }
    match t.to_ascii_lowercase().as_str() {
        "nan" | "+nan" | "-nan" => return Some(Some(f64::NAN)),
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(Some(f64::INFINITY)),
        "-inf" | "-infinity" => return Some(Some(f64::NEG_INFINITY)),
        _ => {}
    }
    t.parse::<f64>().ok().map(Some)
}

/// Something the reader skipped, with where it was.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadWarning {
    pub file: PathBuf,
    /// 1-based line number, when the fault is on one line.
    pub line: Option<usize>,
    pub column: Option<String>,
    pub message: String,
}

impl ReadWarning {
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        ReadWarning {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, " line {l}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A numeric table: a header and rows of optional cells (every row has one cell per column).
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Option<f64>>>,
}

/// Bit-exact equality of cells (so NaN equals NaN and 0.0 differs from -0.0).
pub fn same_cells(a: &[Option<f64>], b: &[Option<f64>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.map(f64::to_bits) == y.map(f64::to_bits))
}

impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
            && self.rows.len() == other.rows.len()
            && self
                .rows
                .iter()
                .zip(&other.rows)
                .all(|(a, b)| same_cells(a, b))
    }
}

impl Table {
    pub fn new(header: Vec<String>) -> Self {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    /// The index of a column.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// One column's cells, top to bottom.
    pub fn column(&self, name: &str) -> Option<Vec<Option<f64>>> {
        let i = self.index(name)?;
        Some(
            self.rows
                .iter()
                .map(|r| r.get(i).copied().flatten())
                .collect(),
        )
    }

    /// The whole file's text (header and rows, each line ending in `\n`).
    pub fn to_csv(&self) -> String {
        let integer: Vec<bool> = self.header.iter().map(|h| is_integer_column(h)).collect();
        let mut s = self.header.join(",");
        s.push('\n');
        for r in &self.rows {
            let cells: Vec<String> = r
                .iter()
                .zip(&integer)
                .map(|(c, int)| c.map(|x| format_cell_as(x, *int)).unwrap_or_default())
                .collect();
            s += &cells.join(",");
            s.push('\n');
        }
        s
    }
}

/// Why a table could not be read at all.
#[derive(Clone, Debug, PartialEq)]
pub enum TableFault {
    Empty,
    BadHeader(String),
}

/// Parse a CSV table from text. Rows with the wrong number of cells and a last line without
/// its line end (a write cut short) are skipped; a cell that is not a number is left empty.
/// Each skip adds a warning naming `file`, the line and the column.
pub fn parse_table(
    file: &Path,
    text: &str,
    warnings: &mut Vec<ReadWarning>,
) -> Result<Table, TableFault> {
    parse_table_lines(file, text, warnings).map(|(t, _)| t)
}

/// [`parse_table`], also returning the 1-based line number of each kept row.
pub fn parse_table_lines(
    file: &Path,
    text: &str,
    warnings: &mut Vec<ReadWarning>,
) -> Result<(Table, Vec<usize>), TableFault> {
    let mut lines = text.split('\n').enumerate().peekable();
    let header_line = match lines.next() {
        Some((_, l)) if !l.trim().is_empty() => l.trim_end_matches('\r'),
        _ => return Err(TableFault::Empty),
    };
    if lines.peek().is_none() {
        return Err(TableFault::BadHeader(
            "the header line has no line end (the file was cut short)".into(),
        ));
    }
    let header: Vec<String> = header_line
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_string())
        .collect();
    if header.iter().any(|h| h.is_empty()) {
        return Err(TableFault::BadHeader(format!(
            "the header `{header_line}` has an empty column name"
        )));
    }
    for (i, h) in header.iter().enumerate() {
        if header[..i].contains(h) {
            return Err(TableFault::BadHeader(format!(
                "the column `{h}` appears twice in the header"
            )));
        }
    }
    let mut table = Table::new(header);
    let mut numbers = Vec::new();
    while let Some((n, raw)) = lines.next() {
        let line_no = n + 1;
        let is_last = lines.peek().is_none();
        let line = raw.trim_end_matches('\r');
        if is_last {
            if !line.is_empty() {
                warnings.push(ReadWarning {
                    file: file.to_path_buf(),
                    line: Some(line_no),
                    column: None,
                    message: "the last line has no line end (the write was cut short); skipped"
                        .into(),
                });
            }
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != table.header.len() {
            warnings.push(ReadWarning {
                file: file.to_path_buf(),
                line: Some(line_no),
                column: None,
                message: format!(
                    "{} cells, the header has {}; row skipped",
                    cells.len(),
                    table.header.len()
                ),
            });
            continue;
        }
        let mut row = Vec::with_capacity(cells.len());
        for (c, name) in cells.iter().zip(&table.header) {
            match parse_cell(c) {
                Some(v) => row.push(v),
                None => {
                    warnings.push(ReadWarning {
                        file: file.to_path_buf(),
                        line: Some(line_no),
                        column: Some(name.clone()),
                        message: format!("`{}` is not a number; cell left empty", c.trim()),
                    });
                    row.push(None);
                }
            }
        }
        table.rows.push(row);
        numbers.push(line_no);
    }
    Ok((table, numbers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_as_integers_and_floats_round_trip() {
        assert_eq!(format_cell_as(17.0, true), "17");
        assert_eq!(format_cell_as(17.0, false), "17.0");
        assert_eq!(format_cell_as(0.1, true), "0.1");
        for x in [
            0.1f64,
            1.0 / 3.0,
            1e-300,
            f64::MAX,
            -2.5e17,
            f32::MAX as f64,
        ] {
            let s = format_cell_as(x, false);
            assert_eq!(parse_cell(&s), Some(Some(x)));
        }
        assert!(parse_cell("nan").is_some_and(|v| v.is_some_and(f64::is_nan)));
        assert_eq!(parse_cell("-Infinity"), Some(Some(f64::NEG_INFINITY)));
        assert_eq!(parse_cell("1.2.3"), None);
    }

    #[test]
    fn faults_are_skipped_with_their_place() {
        let p = Path::new("t.csv");
        let mut w = Vec::new();
        let t = parse_table(p, "step,a\n0,1.5\n1,x\n2\n3,4.5\n4,5.", &mut w).expect("table");
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[1], vec![Some(1.0), None]);
        assert_eq!(w.len(), 3, "{w:?}");
        assert_eq!((w[0].line, w[0].column.as_deref()), (Some(3), Some("a")));
        assert_eq!(w[1].line, Some(4));
        assert_eq!(w[2].line, Some(6));
        assert_eq!(parse_table(p, "", &mut w), Err(TableFault::Empty));
        assert!(matches!(
            parse_table(p, "step,step\n", &mut w),
            Err(TableFault::BadHeader(_))
        ));
    }
}
