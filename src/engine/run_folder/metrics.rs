//! `metrics.csv`: the known columns (name, unit, meaning), the row of a [`StepRecord`], and
//! typed columns read back.

use crate::engine::session::StepRecord;

use super::table::{Table, same_cells};

/// A column of `metrics.csv` that eos-explorer knows. Every row is measured at θ_t, the
/// parameters *before* the update of step t (row 0 is the initial network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// t, the number of updates applied before this row's measurement (integer).
    Step,
    /// Compute seconds since the run started (pauses and file writes excluded).
    WallS,
    /// η used by the update that follows this row.
    Lr,
    /// Full-batch training loss at θ_t.
    TrainLoss,
    /// Training accuracy at θ_t, a fraction in [0, 1] (empty for regression).
    TrainAcc,
    /// Test loss at θ_t (empty where not measured).
    TestLoss,
    /// Test accuracy at θ_t, a fraction (empty where not measured).
    TestAcc,
    /// The i-th largest Hessian eigenvalue of the training loss at θ_t (1-based; empty where
    /// not measured).
    Lambda(usize),
    /// Hessian–vector products the eigenvalue estimate used (integer).
    Hvps,
    /// Largest eigen-solve residual ‖Hy − θy‖ of the top-k pairs (Lanczos or the block solver).
    LanczosResidual,
    /// ‖∇L(θ_t)‖₂.
    GradNorm,
    /// The sharpness at which the update rule becomes unstable (2/η for GD).
    Threshold,
}

impl Known {
    /// The column of a header name, if known.
    pub fn parse(name: &str) -> Option<Known> {
        Some(match name {
            "step" => Known::Step,
            "wall_s" => Known::WallS,
            "lr" => Known::Lr,
            "train_loss" => Known::TrainLoss,
            "train_acc" => Known::TrainAcc,
            "test_loss" => Known::TestLoss,
            "test_acc" => Known::TestAcc,
            "hvps" => Known::Hvps,
            "lanczos_residual" => Known::LanczosResidual,
            "grad_norm" => Known::GradNorm,
            "threshold" => Known::Threshold,
            other => {
                let i: usize = other.strip_prefix("lambda_")?.parse().ok()?;
                if i == 0 || other != format!("lambda_{i}") {
                    return None;
                }
                Known::Lambda(i)
            }
        })
    }

    pub fn name(&self) -> String {
        match self {
            Known::Step => "step".into(),
            Known::WallS => "wall_s".into(),
            Known::Lr => "lr".into(),
            Known::TrainLoss => "train_loss".into(),
            Known::TrainAcc => "train_acc".into(),
            Known::TestLoss => "test_loss".into(),
            Known::TestAcc => "test_acc".into(),
            Known::Lambda(i) => format!("lambda_{i}"),
            Known::Hvps => "hvps".into(),
            Known::LanczosResidual => "lanczos_residual".into(),
            Known::GradNorm => "grad_norm".into(),
            Known::Threshold => "threshold".into(),
        }
    }

    /// Unit of the values.
    pub fn unit(&self) -> &'static str {
        match self {
            Known::Step | Known::Hvps => "count",
            Known::WallS => "seconds",
            Known::TrainAcc | Known::TestAcc => "fraction",
            Known::Lr => "1 (η)",
            Known::TrainLoss | Known::TestLoss => "loss",
            Known::Lambda(_) | Known::Threshold | Known::LanczosResidual => "1/η (eigenvalue)",
            Known::GradNorm => "loss per parameter",
        }
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, Known::Step | Known::Hvps)
    }
}

/// The header eos-explorer writes for `neigs` eigenvalues.
pub fn header(neigs: usize) -> Vec<String> {
    let mut h: Vec<String> = [
        "step",
        "wall_s",
        "lr",
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 1..=neigs {
        h.push(format!("lambda_{i}"));
    }
    for c in ["hvps", "lanczos_residual", "grad_norm", "threshold"] {
        h.push(c.to_string());
    }
    h
}

/// The row of one record under [`header`]`(neigs)`.
pub fn row(r: &StepRecord, neigs: usize) -> Vec<Option<f64>> {
    let mut row = vec![
        Some(r.step as f64),
        Some(r.wall_s),
        Some(r.lr),
        Some(r.train_loss),
        r.train_acc,
        r.test_loss,
        r.test_acc,
    ];
    for i in 0..neigs {
        row.push(r.eigs.as_ref().and_then(|e| e.get(i).copied()));
    }
    row.push(r.hvps.map(|h| h as f64));
    row.push(r.lanczos_residual);
    row.push(Some(r.grad_norm));
    row.push(Some(r.threshold));
    row
}

/// One column of `metrics.csv` other than `step`.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    /// `None` for a column eos-explorer does not know (kept by name, plottable).
    pub known: Option<Known>,
    /// One cell per row (empty = not measured at that step).
    pub values: Vec<Option<f64>>,
}

impl PartialEq for Column {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.known == o.known && same_cells(&self.values, &o.values)
    }
}

/// `metrics.csv` in memory: the steps, and every other column in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    pub step: Vec<usize>,
    pub columns: Vec<Column>,
}

impl Metrics {
    /// The table of these records with `neigs` eigenvalue columns (what a run writes).
    pub fn from_records(records: &[StepRecord], neigs: usize) -> Self {
        let mut t = Table::new(header(neigs));
        t.rows = records.iter().map(|r| row(r, neigs)).collect();
        let mut m = Metrics::default();
        for (i, name) in t.header.iter().enumerate() {
            let values: Vec<Option<f64>> = t.rows.iter().map(|r| r[i]).collect();
            if i == 0 {
                m.step = records.iter().map(|r| r.step).collect();
            } else {
                m.columns.push(Column {
                    name: name.clone(),
                    known: Known::parse(name),
                    values,
                });
            }
        }
        m
    }

    pub fn len(&self) -> usize {
        self.step.len()
    }

    pub fn is_empty(&self) -> bool {
        self.step.is_empty()
    }

    /// Append the rows of `more` (a follower's new rows): cells go to the column of the same
    /// name; a column `more` lacks gets empty cells, a column only `more` has is added.
    pub fn append(&mut self, more: Metrics) {
        let before = self.len();
        self.step.extend(more.step);
        for c in more.columns {
            match self.columns.iter_mut().find(|m| m.name == c.name) {
                Some(mine) => mine.values.extend(c.values),
                None => {
                    let mut values = vec![None; before];
                    values.extend(c.values);
                    self.columns.push(Column { values, ..c });
                }
            }
        }
        let n = self.len();
        for c in &mut self.columns {
            c.values.resize(n, None);
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn known(&self, k: Known) -> Option<&Column> {
        self.columns.iter().find(|c| c.known == Some(k))
    }

    /// How many `lambda_i` columns there are (consecutive from 1).
    pub fn neigs(&self) -> usize {
        (1..)
            .take_while(|i| self.known(Known::Lambda(*i)).is_some())
            .count()
    }

    /// As a table (`step` first), the form it is written in.
    pub fn to_table(&self) -> Table {
        let mut header = vec!["step".to_string()];
        header.extend(self.columns.iter().map(|c| c.name.clone()));
        let rows = (0..self.len())
            .map(|i| {
                let mut r = vec![Some(self.step[i] as f64)];
                r.extend(
                    self.columns
                        .iter()
                        .map(|c| c.values.get(i).copied().flatten()),
                );
                r
            })
            .collect();
        Table { header, rows }
    }

    /// The rows as step records. Required numbers missing from the file (`lr`, `train_loss`,
    /// `threshold`, `grad_norm`, `wall_s`) come back as NaN; eigenvalues as the leading
    /// `lambda_i` cells present on the row.
    pub fn to_records(&self) -> Vec<StepRecord> {
        let cell = |k: Known, i: usize| {
            self.known(k)
                .and_then(|c| c.values.get(i).copied().flatten())
        };
        let num = |k: Known, i: usize| cell(k, i).unwrap_or(f64::NAN);
        let k = self.neigs();
        (0..self.len())
            .map(|i| {
                let eigs: Vec<f64> = (1..=k).map_while(|j| cell(Known::Lambda(j), i)).collect();
                StepRecord {
                    step: self.step[i],
                    wall_s: num(Known::WallS, i),
                    lr: num(Known::Lr, i),
                    threshold: num(Known::Threshold, i),
                    train_loss: num(Known::TrainLoss, i),
                    train_acc: cell(Known::TrainAcc, i),
                    test_loss: cell(Known::TestLoss, i),
                    test_acc: cell(Known::TestAcc, i),
                    eigs: (!eigs.is_empty()).then_some(eigs),
                    hvps: cell(Known::Hvps, i)
                        .filter(|h| *h >= 0.0 && h.fract() == 0.0)
                        .map(|h| h as usize),
                    lanczos_residual: cell(Known::LanczosResidual, i),
                    grad_norm: num(Known::GradNorm, i),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_round_trip() {
        for name in header(3) {
            let k = Known::parse(&name).expect("known");
            assert_eq!(k.name(), name);
        }
        assert_eq!(Known::parse("lambda_0"), None);
        assert_eq!(Known::parse("lambda_01"), None);
        assert_eq!(Known::parse("sharpness"), None);
    }
}
