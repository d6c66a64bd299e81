//! The predicted edge-of-stability dynamics of the seed paper, §4 (after Damian et al. 2022).
//!
//! **Definition 4.1** (seed): *"the Predicted Edge of Stability dynamics as the discrete-time
//! dynamical system given by (x_{t+1}, y_{t+1}) := (−(1 + η y_t) x_t, (αη − (η/2) β x_t²) + y_t)
//! with initial conditions y_0 = 0 and x_0 > 0."*
//!
//! Here x_t is the displacement along the top Hessian eigenvector u, y_t the displacement along
//! the part of ∇S orthogonal to u, so that the sharpness is S(θ_t) ≈ 2/η + y_t and the loss has
//! risen by about x_t²/η (seed §4.2, stage 2). α = −∇L·∇S > 0 is the progressive-sharpening
//! rate (Assumption 2) and β = ‖Π_u^⊥ ∇S‖² the stabilising strength.
//!
//! # The four stages (seed §4.2)
//!
//! The seed describes them in words; this module classifies every row t by the sign of y_t and
//! of the coming change y_{t+1} − y_t = η(α − β x_t²/2), which is positive exactly when
//! x_t² < 2α/β = δ²:
//!
//! | stage | seed's words | rule here |
//! |---|---|---|
//! | 1 progressive sharpening | "When \|x_t\| is small, y_t is dominated by the linear component … the sharpness begins to increase" | y_t ≤ 0 and rising |
//! | 2 destabilization | "As y_t > 0, (x_t) begins to diverge" | y_t > 0 and rising |
//! | 3 self-stabilization | "y_t peaks when x_t = √(2α/β). Afterwards, the sharpness begins to decline" | y_t > 0 and not rising |
//! | 4 return to stability | "Eventually, y_t becomes negative, and the sharpness returns to a stable level" | y_t ≤ 0 and not rising |
//!
//! * "Rising" is decided from the sign of the exact increment α − β x_t²/2 (not from the
//!   rounded difference of two stored y's), so the last row is classified like every other.
//! * Tie x_t² = 2α/β exactly (increment 0) counts as **not rising** (stage 3 or 4): the peak of
//!   y belongs to the self-stabilization stage, where the seed places it.
//! * y_t = 0 counts as **stable** (stage 1 or 4): the sharpness 2/η + y_t is then exactly at the
//!   threshold, not above it, so x does not grow (|1 + η y_t| = 1). In particular the seed's
//!   initial condition y_0 = 0, x_0 < δ starts in stage 1.
//!
//! # Cycles
//!
//! A cycle starts at each **entry into stage 2** (a row in stage 2 whose previous row is not, or
//! row 0 if it is in stage 2) and ends just before the next entry; only complete cycles (both
//! ends inside the run) are reported. For every cycle the summary gives its length, the peak
//! y and peak |x| over its rows, and which stages it visited.
//!
//! # A property of the map worth knowing
//!
//! In u = ln x², z = η y the map reads u' = u + 2 ln(1 + z), z' = z + η²α(1 − x²/δ²): an explicit
//! Euler step of a centre (conserved quantity z² + η²α(x²/δ² − ln(x²/δ²)) of the continuous
//! flow). Explicit Euler spirals outward, so each cycle is a little larger and longer than the
//! previous one, and long runs eventually diverge (y swings below −2/η and x explodes). The
//! preset is chosen so that several clean cycles fit well before that.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Outcome, TheoryError};
use crate::engine::export::{CsvWriter, ExportError};

/// Largest number of steps accepted (the rows of a run are kept in memory).
pub const MAX_STEPS: usize = 10_000_000;

/// Largest number of grid points of a displacement field.
pub const MAX_FIELD_POINTS: usize = 1_000_000;

/// Parameters of the map of Definition 4.1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelfStabParams {
    /// Learning rate η.
    pub lr: f64,
    /// Progressive-sharpening rate α = −∇L·∇S (> 0, Assumption 2).
    pub alpha: f64,
    /// Stabilising strength β = ‖Π_u^⊥ ∇S‖² (> 0).
    pub beta: f64,
    /// Initial displacement along the top eigenvector, x_0 > 0.
    pub x0: f64,
    /// Initial displacement along ∇S, y_0 (the seed uses 0).
    pub y0: f64,
    /// Number of map applications; rows are t = 0..=steps.
    pub steps: usize,
    /// The run counts as diverged once |x_t| or |y_t| exceeds this (or is not finite).
    pub blowup: f64,
}

impl SelfStabParams {
    /// A preset like the seed's Figure 2: η = 0.1, α = 0.5, β = 1 (so δ = √(2α/β) = 1),
    /// x_0 = 0.4, y_0 = 0, 400 steps. The run shows four complete cycles through all four stages
    /// (entries into stage 2 at t = 1, 71, 149, 242, 367; cycle lengths 70, 78, 93, 125; peak y
    /// 0.75 → 2.18, i.e. the sharpness 2/η + y peaks at 20.75 … 22.18 against 2/η = 20), growing
    /// slowly as explained in the module notes, and never diverges within the 400 steps.
    pub fn four_stage_example() -> Self {
        SelfStabParams {
            lr: 0.1,
            alpha: 0.5,
            beta: 1.0,
            x0: 0.4,
            y0: 0.0,
            steps: 400,
            blowup: 1e6,
        }
    }

    /// Validate. Rules: η, α, β, x_0 finite and > 0; y_0 finite; 1 ≤ steps ≤ [`MAX_STEPS`];
    /// blowup finite, > 0 and larger than |x_0| and |y_0|.
    ///
    /// Why these are rejected rather than simulated: α ≤ 0 or β ≤ 0 breaks the sign assumptions
    /// the four stages rest on (Assumption 2 and β being a squared norm); x_0 = 0 is a fixed line
    /// of the x-map (x stays 0 forever and y just grows linearly), and x_0 < 0 is the mirror
    /// image of x_0 > 0 (the map is odd in x), which Definition 4.1 excludes.
    pub fn check(&self) -> Result<CheckedSelfStab, TheoryError> {
        positive_finite(
            "lr",
            self.lr,
            "the learning rate η must be a finite number > 0",
        )?;
        positive_finite(
            "alpha",
            self.alpha,
            "α = −∇L·∇S is the progressive-sharpening rate and must be a finite number > 0 (Assumption 2)",
        )?;
        positive_finite(
            "beta",
            self.beta,
            "β = ‖Π⊥∇S‖² is a squared norm and must be a finite number > 0",
        )?;
        positive_finite(
            "x0",
            self.x0,
            "Definition 4.1 starts from x_0 > 0 (x_0 = 0 stays 0 forever; x_0 < 0 is the mirror image of −x_0)",
        )?;
        if !self.y0.is_finite() {
            return Err(TheoryError::invalid(
                "y0",
                self.y0,
                "y_0 must be a finite number",
            ));
        }
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(TheoryError::invalid(
                "steps",
                self.steps,
                format!("the number of steps must be between 1 and {MAX_STEPS}"),
            ));
        }
        positive_finite(
            "blowup",
            self.blowup,
            "the divergence bound must be a finite number > 0",
        )?;
        if self.x0.abs() >= self.blowup || self.y0.abs() >= self.blowup {
            return Err(TheoryError::invalid(
                "blowup",
                self.blowup,
                format!(
                    "the divergence bound must exceed |x0| = {} and |y0| = {}",
                    self.x0.abs(),
                    self.y0.abs()
                ),
            ));
        }
        Ok(CheckedSelfStab(self.clone()))
    }
}

impl Default for SelfStabParams {
    fn default() -> Self {
        Self::four_stage_example()
    }
}

fn positive_finite(name: &'static str, v: f64, rule: &str) -> Result<(), TheoryError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(TheoryError::invalid(name, v, rule))
    }
}

/// Parameters that passed [`SelfStabParams::check`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckedSelfStab(SelfStabParams);

impl CheckedSelfStab {
    pub fn params(&self) -> &SelfStabParams {
        &self.0
    }

    /// δ = √(2α/β): |x| at which y stops rising.
    pub fn delta(&self) -> f64 {
        (2.0 * self.0.alpha / self.0.beta).sqrt()
    }

    /// One application of the map: (x, y) ↦ (−(1 + η y) x, y + η(α − β x²/2)).
    pub fn map(&self, x: f64, y: f64) -> (f64, f64) {
        let p = &self.0;
        (-(1.0 + p.lr * y) * x, y + increment(p, x))
    }
}

/// y_{t+1} − y_t = η(α − β x²/2), computed directly (its sign decides rising / falling).
fn increment(p: &SelfStabParams, x: f64) -> f64 {
    p.lr * (p.alpha - p.beta * x * x / 2.0)
}

/// The four stages of seed §4.2 (numbered 1..=4 as in the seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    ProgressiveSharpening = 1,
    Destabilization = 2,
    SelfStabilization = 3,
    ReturnToStability = 4,
}

impl Stage {
    /// The stage of a state with displacement `y` whose coming y-increment is `dy`
    /// (see the module notes for the rule and its ties).
    pub fn classify(y: f64, dy: f64) -> Stage {
        match (y > 0.0, dy > 0.0) {
            (false, true) => Stage::ProgressiveSharpening,
            (true, true) => Stage::Destabilization,
            (true, false) => Stage::SelfStabilization,
            (false, false) => Stage::ReturnToStability,
        }
    }

    /// 1..=4.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Index 0..=3 (for arrays of per-stage counts).
    pub fn index(self) -> usize {
        self as usize - 1
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::ProgressiveSharpening => "progressive sharpening",
            Stage::Destabilization => "destabilization",
            Stage::SelfStabilization => "self-stabilization",
            Stage::ReturnToStability => "return to stability",
        }
    }

    pub const ALL: [Stage; 4] = [
        Stage::ProgressiveSharpening,
        Stage::Destabilization,
        Stage::SelfStabilization,
        Stage::ReturnToStability,
    ];
}

/// One time step of the map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelfStabRow {
    pub t: usize,
    pub x: f64,
    pub y: f64,
    /// Predicted sharpness 2/η + y_t.
    pub sharpness: f64,
    /// Predicted loss rise x_t²/η.
    pub loss_rise: f64,
    pub stage: Stage,
}

/// One complete cycle: rows `start..end` (from one entry into stage 2 to just before the next).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    pub start: usize,
    pub end: usize,
    /// `end − start`, in steps.
    pub length: usize,
    pub peak_y: f64,
    pub peak_abs_x: f64,
    /// Whether each stage (index 0..=3 for stages 1..=4) occurs in the cycle.
    pub stages_seen: [bool; 4],
}

/// What a run shows, in numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelfStabSummary {
    /// δ = √(2α/β).
    pub delta: f64,
    /// Rows spent in each stage (index 0..=3 for stages 1..=4).
    pub stage_counts: [usize; 4],
    /// Steps t at which stage 2 is entered.
    pub stage2_entries: Vec<usize>,
    /// The complete cycles.
    pub cycles: Vec<Cycle>,
    pub max_y: f64,
    pub min_y: f64,
    pub max_abs_x: f64,
}

impl SelfStabSummary {
    /// Number of stages with at least one row.
    pub fn stages_visited(&self) -> usize {
        self.stage_counts.iter().filter(|&&c| c > 0).count()
    }
}

/// A finished simulation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SelfStabRun {
    pub params: SelfStabParams,
    /// Rows t = 0..=steps, or 0..step−1 if the run diverged at `step`.
    pub rows: Vec<SelfStabRow>,
    pub outcome: Outcome,
    pub summary: SelfStabSummary,
}

/// Iterate the map. A state with a non-finite coordinate, |x| > blowup or |y| > blowup ends the
/// run as [`Outcome::Diverged`] at its step; that state itself is not stored as a row (the
/// reason names its values).
pub fn simulate(checked: &CheckedSelfStab) -> SelfStabRun {
    let p = checked.params();
    let mut rows = Vec::with_capacity(p.steps.saturating_add(1).min(1 << 20));
    let mut outcome = Outcome::Completed;
    let (mut x, mut y) = (p.x0, p.y0);
    for t in 0..=p.steps {
        if !x.is_finite() || !y.is_finite() || x.abs() > p.blowup || y.abs() > p.blowup {
            outcome = Outcome::Diverged {
                step: t,
                reason: format!(
                    "x = {x:.2e}, y = {y:.2e} beyond the bound {:.0e} on |x|, |y|",
                    p.blowup
                ),
            };
            break;
        }
        let dy = increment(p, x);
        rows.push(SelfStabRow {
            t,
            x,
            y,
            sharpness: 2.0 / p.lr + y,
            loss_rise: x * x / p.lr,
            stage: Stage::classify(y, dy),
        });
        let xn = -(1.0 + p.lr * y) * x;
        y += dy;
        x = xn;
    }
    let summary = summarize(checked, &rows);
    SelfStabRun {
        params: p.clone(),
        rows,
        outcome,
        summary,
    }
}

/// Summary numbers of a run's rows (see the module notes for the cycle definition).
pub fn summarize(checked: &CheckedSelfStab, rows: &[SelfStabRow]) -> SelfStabSummary {
    let mut stage_counts = [0usize; 4];
    let mut entries = Vec::new();
    let (mut max_y, mut min_y, mut max_abs_x) = (f64::NEG_INFINITY, f64::INFINITY, 0.0f64);
    for (i, r) in rows.iter().enumerate() {
        stage_counts[r.stage.index()] += 1;
        let prev_is_2 = i > 0 && rows[i - 1].stage == Stage::Destabilization;
        if r.stage == Stage::Destabilization && !prev_is_2 {
            entries.push(r.t);
        }
        max_y = max_y.max(r.y);
        min_y = min_y.min(r.y);
        max_abs_x = max_abs_x.max(r.x.abs());
    }
    let first_t = rows.first().map(|r| r.t).unwrap_or(0);
    let cycles = entries
        .windows(2)
        .map(|w| {
            let (start, end) = (w[0], w[1]);
            let slice = &rows[start - first_t..end - first_t];
            let mut stages_seen = [false; 4];
            for r in slice {
                stages_seen[r.stage.index()] = true;
            }
            Cycle {
                start,
                end,
                length: end - start,
                peak_y: slice.iter().map(|r| r.y).fold(f64::NEG_INFINITY, f64::max),
                peak_abs_x: slice.iter().map(|r| r.x.abs()).fold(0.0, f64::max),
                stages_seen,
            }
        })
        .collect();
    SelfStabSummary {
        delta: checked.delta(),
        stage_counts,
        stage2_entries: entries,
        cycles,
        max_y: if rows.is_empty() { f64::NAN } else { max_y },
        min_y: if rows.is_empty() { f64::NAN } else { min_y },
        max_abs_x,
    }
}

impl SelfStabRun {
    /// A one-paragraph description (δ, stages visited, cycles, outcome) for the CLI.
    pub fn describe(&self) -> String {
        let p = &self.params;
        let s = &self.summary;
        let mut out = format!(
            "Self-stabilization map (seed Definition 4.1) with η = {}, α = {}, β = {}, x0 = {}, y0 = {}: \
             δ = √(2α/β) = {:.6}, threshold 2/η = {}. {} rows (t = 0..{}); ",
            p.lr,
            p.alpha,
            p.beta,
            p.x0,
            p.y0,
            s.delta,
            2.0 / p.lr,
            self.rows.len(),
            self.rows.len().saturating_sub(1),
        );
        let visited: Vec<String> = Stage::ALL
            .iter()
            .filter(|st| s.stage_counts[st.index()] > 0)
            .map(|st| {
                format!(
                    "{} ({}, {} rows)",
                    st.number(),
                    st.name(),
                    s.stage_counts[st.index()]
                )
            })
            .collect();
        out.push_str(&format!(
            "stages visited: {}/4: {}. ",
            s.stages_visited(),
            visited.join(", ")
        ));
        if s.cycles.is_empty() {
            out.push_str(&format!(
                "No complete cycle (entries into stage 2 at t = {:?}). ",
                s.stage2_entries
            ));
        } else {
            let lens: Vec<String> = s.cycles.iter().map(|c| c.length.to_string()).collect();
            let peaks: Vec<String> = s
                .cycles
                .iter()
                .map(|c| format!("{:.4}", c.peak_y))
                .collect();
            let px: Vec<String> = s
                .cycles
                .iter()
                .map(|c| format!("{:.4}", c.peak_abs_x))
                .collect();
            out.push_str(&format!(
                "{} complete cycles (from each entry into stage 2, at t = {:?}): lengths [{}] steps, \
                 peak y [{}], peak |x| [{}]. ",
                s.cycles.len(),
                s.stage2_entries,
                lens.join(", "),
                peaks.join(", "),
                px.join(", ")
            ));
        }
        out.push_str(&format!(
            "y ranged over [{:.4}, {:.4}], max |x| = {:.4}. Outcome: {}.",
            s.min_y, s.max_y, s.max_abs_x, self.outcome
        ));
        out
    }
}

/// The CSV header of [`write_csv`].
pub const CSV_COLUMNS: [&str; 6] = ["t", "x", "y", "sharpness", "loss_rise", "stage"];

/// Write the rows as CSV with columns t,x,y,sharpness,loss_rise,stage (shortest round-trip
/// floats, so a reader gets back the exact `f64`s).
pub fn write_csv(run: &SelfStabRun, path: &Path) -> Result<(), ExportError> {
    let header: Vec<String> = CSV_COLUMNS.iter().map(|s| s.to_string()).collect();
    let mut w = CsvWriter::create(path, &header)?;
    for r in &run.rows {
        w.row(&[
            Some(r.t as f64),
            Some(r.x),
            Some(r.y),
            Some(r.sharpness),
            Some(r.loss_rise),
            Some(f64::from(r.stage.number())),
        ])?;
    }
    Ok(())
}

/// One arrow of a displacement field: the grid point (x, y) and the displacement the map applies
/// to it, (Δx, Δy) = (−(2 + η y) x, η(α − β x²/2)).
pub type FieldArrow = ([f64; 2], [f64; 2]);

/// Displacement of one map step on an `nx` × `ny` grid spanning `x_range` × `y_range`
/// (endpoints included), row by row in y then x. Because x flips sign every step, Δx is
/// dominated by −2x; [`displacement_field_two_step`] shows the slow motion instead.
pub fn displacement_field(
    checked: &CheckedSelfStab,
    x_range: (f64, f64),
    y_range: (f64, f64),
    nx: usize,
    ny: usize,
) -> Result<Vec<FieldArrow>, TheoryError> {
    field(checked, x_range, y_range, nx, ny, 1)
}

/// Like [`displacement_field`] but for two map steps (x_{t+2} − x_t, y_{t+2} − y_t): the sign
/// flips cancel, leaving the slow rotation of the cycles in the (x, y) plane.
pub fn displacement_field_two_step(
    checked: &CheckedSelfStab,
    x_range: (f64, f64),
    y_range: (f64, f64),
    nx: usize,
    ny: usize,
) -> Result<Vec<FieldArrow>, TheoryError> {
    field(checked, x_range, y_range, nx, ny, 2)
}

fn check_range(name: &'static str, r: (f64, f64)) -> Result<(), TheoryError> {
    if r.0.is_finite() && r.1.is_finite() && r.0 < r.1 {
        Ok(())
    } else {
        Err(TheoryError::invalid(
            name,
            format!("({}, {})", r.0, r.1),
            "the range must be two finite numbers with lo < hi",
        ))
    }
}

fn field(
    checked: &CheckedSelfStab,
    x_range: (f64, f64),
    y_range: (f64, f64),
    nx: usize,
    ny: usize,
    k: usize,
) -> Result<Vec<FieldArrow>, TheoryError> {
    check_range("x_range", x_range)?;
    check_range("y_range", y_range)?;
    if nx < 2 {
        return Err(TheoryError::invalid(
            "nx",
            nx,
            "the grid needs at least 2 points along x",
        ));
    }
    if ny < 2 {
        return Err(TheoryError::invalid(
            "ny",
            ny,
            "the grid needs at least 2 points along y",
        ));
    }
    if nx.saturating_mul(ny) > MAX_FIELD_POINTS {
        return Err(TheoryError::invalid(
            "nx*ny",
            nx.saturating_mul(ny),
            format!("the grid may have at most {MAX_FIELD_POINTS} points"),
        ));
    }
    let mut out = Vec::with_capacity(nx * ny);
    for j in 0..ny {
        let y = y_range.0 + (y_range.1 - y_range.0) * j as f64 / (ny - 1) as f64;
        for i in 0..nx {
            let x = x_range.0 + (x_range.1 - x_range.0) * i as f64 / (nx - 1) as f64;
            let (mut xs, mut ys) = (x, y);
            for _ in 0..k {
                (xs, ys) = checked.map(xs, ys);
            }
            out.push(([x, y], [xs - x, ys - y]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(p: &SelfStabParams) -> CheckedSelfStab {
        match p.check() {
            Ok(c) => c,
            Err(e) => panic!("preset rejected: {e}"),
        }
    }

    #[test]
    fn preset_shows_repeated_cycles() {
        let run = simulate(&checked(&SelfStabParams::four_stage_example()));
        assert_eq!(run.outcome, Outcome::Completed);
        assert_eq!(run.rows.len(), 401);
        assert!(run.summary.cycles.len() >= 3, "{:?}", run.summary.cycles);
        for c in &run.summary.cycles {
            assert_eq!(c.stages_seen, [true; 4], "cycle {c:?}");
        }
        assert!((run.summary.delta - 1.0).abs() < 1e-15);
    }

    #[test]
    fn stage_rule_and_ties() {
        assert_eq!(Stage::classify(0.0, 1.0), Stage::ProgressiveSharpening);
        assert_eq!(Stage::classify(0.1, 1.0), Stage::Destabilization);
        assert_eq!(Stage::classify(0.1, 0.0), Stage::SelfStabilization);
        assert_eq!(Stage::classify(0.0, 0.0), Stage::ReturnToStability);
        assert_eq!(Stage::classify(-1.0, -1.0), Stage::ReturnToStability);
    }

    #[test]
    fn field_arrows_match_the_map() {
        let c = checked(&SelfStabParams::four_stage_example());
        let f = displacement_field(&c, (-2.0, 2.0), (-1.0, 1.0), 5, 3).unwrap_or_default();
        assert_eq!(f.len(), 15);
        for ([x, y], [dx, dy]) in f {
            assert!((dx - (-(2.0 + 0.1 * y) * x)).abs() < 1e-14);
            assert!((dy - 0.1 * (0.5 - x * x / 2.0)).abs() < 1e-14);
        }
        assert!(displacement_field(&c, (1.0, 1.0), (0.0, 1.0), 5, 5).is_err());
        assert!(displacement_field(&c, (0.0, 1.0), (0.0, f64::NAN), 5, 5).is_err());
        assert!(displacement_field(&c, (0.0, 1.0), (0.0, 1.0), 1, 5).is_err());
        assert!(displacement_field(&c, (0.0, 1.0), (0.0, 1.0), 5000, 5000).is_err());
        assert_eq!(
            displacement_field_two_step(&c, (0.0, 1.0), (0.0, 1.0), 2, 2)
                .map(|v| v.len())
                .unwrap_or(0),
            4
        );
    }
}
