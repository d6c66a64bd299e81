//! The plotted series of one training run, accumulated record by record. The app's view model,
//! the CLI's `--plot` and the run-folder reader all build a [`RunSeries`] and hand it to the
//! figure builders, so the first crossing and the edge-of-stability bands follow one rule.

use crate::engine::session::StepRecord;

/// Fraction of the threshold above which λ1 counts as "at the edge" (after the first crossing).
pub const EDGE_FRACTION: f64 = 0.9;

/// Series of one run, x = step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSeries {
    pub train_loss: Vec<[f64; 2]>,
    pub test_loss: Vec<[f64; 2]>,
    pub train_acc: Vec<[f64; 2]>,
    pub test_acc: Vec<[f64; 2]>,
    /// λ1 … λk where measured.
    pub eigs: Vec<Vec<[f64; 2]>>,
    /// (step, stability threshold) at every record: a step function where η changed.
    pub threshold: Vec<[f64; 2]>,
    /// First record where λ1 ≥ its threshold: (step, λ1).
    pub first_crossing: Option<[f64; 2]>,
    /// Closed step ranges where λ1 ≥ [`EDGE_FRACTION`] × threshold, after the first crossing.
    pub edge_bands: Vec<[f64; 2]>,
    open_band: Option<f64>,
    last_step: Option<f64>,
}

impl RunSeries {
    pub fn new() -> Self {
        RunSeries::default()
    }

    /// Series of a whole list of records.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a StepRecord>) -> Self {
        let mut s = RunSeries::new();
        for r in records {
            s.push(r);
        }
        s
    }

    /// Append one record.
    pub fn push(&mut self, r: &StepRecord) {
        self.push_values(
            r.step as f64,
            r.train_loss,
            r.train_acc,
            r.test_loss,
            r.test_acc,
            r.eigs.as_deref(),
            r.threshold,
        );
    }

    /// Append one record given by its values (for rows read from files).
    #[allow(clippy::too_many_arguments)]
    pub fn push_values(
        &mut self,
        x: f64,
        train_loss: f64,
        train_acc: Option<f64>,
        test_loss: Option<f64>,
        test_acc: Option<f64>,
        eigs: Option<&[f64]>,
        threshold: f64,
    ) {
        self.train_loss.push([x, train_loss]);
        if let Some(v) = test_loss {
            self.test_loss.push([x, v]);
        }
        if let Some(v) = train_acc {
            self.train_acc.push([x, v]);
        }
        if let Some(v) = test_acc {
            self.test_acc.push([x, v]);
        }
        if threshold.is_finite() {
            self.threshold.push([x, threshold]);
        }
        self.last_step = Some(x);
        let Some(e) = eigs else { return };
        if self.eigs.len() < e.len() {
            self.eigs.resize(e.len(), Vec::new());
        }
        for (i, v) in e.iter().enumerate() {
            self.eigs[i].push([x, *v]);
        }
        let Some(&l1) = e.first() else { return };
        if !threshold.is_finite() {
            return;
        }
        if self.first_crossing.is_none() && l1 >= threshold {
            self.first_crossing = Some([x, l1]);
        }
        let at_edge = self.first_crossing.is_some() && l1 >= EDGE_FRACTION * threshold;
        match (at_edge, self.open_band) {
            (true, None) => self.open_band = Some(x),
            (false, Some(s)) => {
                self.edge_bands.push([s, x]);
                self.open_band = None;
            }
            _ => {}
        }
    }

    /// Edge bands including the one still open (ending at the latest step).
    pub fn bands(&self) -> Vec<[f64; 2]> {
        let mut b = self.edge_bands.clone();
        if let (Some(s), Some(x)) = (self.open_band, self.last_step) {
            b.push([s, x]);
        }
        b
    }

    /// Number of records pushed so far.
    pub fn len(&self) -> usize {
        self.train_loss.len()
    }

    pub fn is_empty(&self) -> bool {
        self.train_loss.is_empty()
    }
}

/// Threshold breakpoints: the first point and every point where the value changed.
pub fn step_breakpoints(thr: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::new();
    for p in thr {
        if out.last().is_none_or(|l| l[1] != p[1]) {
            out.push(*p);
        }
    }
    out
}

/// The threshold as a polyline of horizontal segments with vertical jumps where η changed,
/// ending at the last point's x (at least one unit after the last breakpoint).
pub fn step_line(thr: &[[f64; 2]]) -> Vec<[f64; 2]> {
    steps_to_line(&step_breakpoints(thr), thr.last().map(|p| p[0]))
}

/// Breakpoints drawn as a step polyline to `end` (or one unit past the last breakpoint).
pub fn steps_to_line(bp: &[[f64; 2]], end: Option<f64>) -> Vec<[f64; 2]> {
    let end = end.unwrap_or(f64::NEG_INFINITY);
    let mut out = Vec::with_capacity(bp.len() * 2);
    for (i, p) in bp.iter().enumerate() {
        let x1 = bp.get(i + 1).map(|q| q[0]).unwrap_or(end.max(p[0] + 1.0));
        out.push(*p);
        out.push([x1, p[1]]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(s: &mut RunSeries, x: f64, l1: f64, thr: f64) {
        s.push_values(x, 1.0, None, None, None, Some(&[l1]), thr);
    }

    #[test]
    fn crossing_and_bands_follow_lambda1_against_the_threshold() {
        let mut s = RunSeries::new();
        for (x, l1) in [
            (0.0, 1.0),
            (1.0, 1.9),
            (2.0, 2.1),
            (3.0, 1.85),
            (4.0, 1.5),
            (5.0, 1.95),
        ] {
            push(&mut s, x, l1, 2.0);
        }
        assert_eq!(s.first_crossing, Some([2.0, 2.1]));
        // At the edge (≥ 1.8) from 2 to 3, left at 4, back at 5 (open to the last step).
        assert_eq!(s.edge_bands, vec![[2.0, 4.0]]);
        assert_eq!(s.bands(), vec![[2.0, 4.0], [5.0, 5.0]]);
    }

    #[test]
    fn step_line_jumps_where_the_threshold_changes() {
        let thr = [[0.0, 5.0], [1.0, 5.0], [2.0, 4.0], [3.0, 4.0]];
        assert_eq!(step_breakpoints(&thr), vec![[0.0, 5.0], [2.0, 4.0]]);
        assert_eq!(
            step_line(&thr),
            vec![[0.0, 5.0], [2.0, 5.0], [2.0, 4.0], [3.0, 4.0]]
        );
    }
}
