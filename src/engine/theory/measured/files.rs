//! Reading a `run --theory` folder back: `theory_summary.json` and `theory.csv`, with every
//! row checked (order, finiteness) and the skipped ones reported.
//!
//! A file that cannot be a `theory.csv` (wrong header, a cell that is not a number, a wrong
//! number of cells, an anchor the summary does not have) is an error. A row that parses but
//! cannot be right is skipped with its line and reason, because one such row silently changes
//! the agreement figures: a NaN in the measured x made the peak |x| NaN (NaN is the largest
//! value in a total order), and rows out of order moved the measured return below 2/η.

use std::path::Path;

use super::anchor::AnchorInfo;
use super::tracker::{CSV_COLUMNS, TheoryRow};
use crate::engine::theory::TheoryError;

/// A row of `theory.csv` that [`read_theory_run`] left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRow {
    /// 1-based line number in `theory.csv` (the header is line 1).
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for SkippedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What [`read_theory_run`] read: the anchors, the rows that passed the checks (in file
/// order, which is step order) and the rows it skipped.
#[derive(Clone, Debug, PartialEq)]
pub struct TheoryRun {
    pub anchors: Vec<AnchorInfo>,
    pub rows: Vec<TheoryRow>,
    pub skipped: Vec<SkippedRow>,
}

impl TheoryRun {
    /// One line per skipped row, for a terminal (empty when nothing was skipped).
    pub fn describe_skipped(&self) -> String {
        if self.skipped.is_empty() {
            return String::new();
        }
        let mut s = format!(
            "skipped {} of {} rows of theory.csv:\n",
            self.skipped.len(),
            self.skipped.len() + self.rows.len()
        );
        for k in &self.skipped {
            s += &format!("  {k}\n");
        }
        s
    }
}

/// Why a parsed row cannot be used, given the last row kept before it (None when it is fine).
fn row_problem(row: &TheoryRow, anchor: &AnchorInfo, prev: Option<&TheoryRow>) -> Option<String> {
    let required = [
        ("x_measured", row.x_measured),
        ("y_measured", row.y_measured),
        ("lambda1_minus_threshold", row.lambda1_minus_threshold),
        ("loss_change", row.loss_change),
        ("alpha", row.alpha),
        ("beta", row.beta),
    ];
    // δ is NaN by definition when α ≤ 0; the predictions are empty when the map has blown up.
    let optional = [
        ("x_predicted", row.x_predicted),
        ("y_predicted", row.y_predicted),
        ("excess_predicted", row.excess_predicted),
    ];
    if let Some((name, v)) = required.iter().find(|(_, v)| !v.is_finite()) {
        return Some(format!("`{name}` = {v} (a finite number is required)"));
    }
    if let Some((name, v)) = optional
        .iter()
        .find_map(|(n, v)| v.filter(|v| !v.is_finite()).map(|v| (n, v)))
    {
        return Some(format!("`{name}` = {v} (must be empty or a finite number)"));
    }
    if row.step != anchor.step + row.t {
        return Some(format!(
            "step {} is not anchor {}'s step {} + t = {}",
            row.step, anchor.index, anchor.step, row.t
        ));
    }
    if let Some(p) = prev {
        if row.step <= p.step {
            return Some(format!(
                "step {} does not come after step {} of the row before (rows must be in step order)",
                row.step, p.step
            ));
        }
        if row.anchor < p.anchor {
            return Some(format!(
                "anchor {} after anchor {} (anchors must be in order)",
                row.anchor, p.anchor
            ));
        }
    }
    None
}

/// Read back a `run --theory` folder: the anchors of `theory_summary.json` and the rows of
/// `theory.csv` (so runs can be re-analysed with newer agreement figures). Rows with a
/// non-finite measured value, or out of step order, are skipped and listed in
/// [`TheoryRun::skipped`].
pub fn read_theory_run(dir: &Path) -> Result<TheoryRun, TheoryError> {
    let err = |path: &Path, message: String| TheoryError::Read {
        path: path.to_path_buf(),
        message,
    };
    let jp = dir.join("theory_summary.json");
    let text = std::fs::read_to_string(&jp).map_err(|e| err(&jp, e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| err(&jp, format!("not JSON: {e}")))?;
    let Some(list) = v.get("anchors").and_then(|a| a.as_array()) else {
        return Err(err(&jp, "no `anchors` list".into()));
    };
    let anchors = list
        .iter()
        .enumerate()
        .map(|(i, a)| {
            serde_json::from_value::<AnchorInfo>(a.get("anchor").cloned().unwrap_or_default())
                .map_err(|e| err(&jp, format!("anchor {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cp = dir.join("theory.csv");
    let text = std::fs::read_to_string(&cp).map_err(|e| err(&cp, e.to_string()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    if header != CSV_COLUMNS.join(",") {
        return Err(err(
            &cp,
            format!("unexpected header `{header}` (expected the columns of `run --theory`)"),
        ));
    }
    let mut rows: Vec<TheoryRow> = Vec::new();
    let mut skipped = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line_no = n + 2;
        let bad = |m: String| err(&cp, format!("line {line_no}: {m}"));
        let cells: Vec<Option<f64>> = line
            .split(',')
            .map(|c| match c.trim() {
                "" => Ok(None),
                "nan" => Ok(Some(f64::NAN)),
                "inf" => Ok(Some(f64::INFINITY)),
                "-inf" => Ok(Some(f64::NEG_INFINITY)),
                t => t
                    .parse::<f64>()
                    .map(Some)
                    .map_err(|_| bad(format!("`{t}` is not a number"))),
            })
            .collect::<Result<_, _>>()?;
        if cells.len() != CSV_COLUMNS.len() {
            return Err(bad(format!(
                "{} cells, expected {}",
                cells.len(),
                CSV_COLUMNS.len()
            )));
        }
        let num = |i: usize| cells[i].ok_or_else(|| bad(format!("empty `{}`", CSV_COLUMNS[i])));
        let count = |i: usize| {
            num(i).and_then(|v| {
                (v >= 0.0 && v.fract() == 0.0 && v < 1e15)
                    .then_some(v as usize)
                    .ok_or_else(|| bad(format!("`{}` = {v} is not a count", CSV_COLUMNS[i])))
            })
        };
        let row = TheoryRow {
            t: count(0)?,
            step: count(1)?,
            x_measured: num(2)?,
            y_measured: num(3)?,
            x_predicted: cells[4],
            y_predicted: cells[5],
            lambda1_minus_threshold: num(6)?,
            loss_change: num(7)?,
            alpha: num(8)?,
            beta: num(9)?,
            delta: num(10)?,
            anchor: count(11)?,
            excess_predicted: cells[12],
        };
        let Some(anchor) = anchors.get(row.anchor) else {
            return Err(bad(format!(
                "anchor {} but the summary has {}",
                row.anchor,
                anchors.len()
            )));
        };
        match row_problem(&row, anchor, rows.last()) {
            None => rows.push(row),
            Some(reason) => skipped.push(SkippedRow {
                line: line_no,
                reason,
            }),
        }
    }
    Ok(TheoryRun {
        anchors,
        rows,
        skipped,
    })
}
