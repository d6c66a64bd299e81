//! [`MeasuredTracker`]: watches a run step by step, finds θ₀, measures it, then tracks x_t,
//! y_t and λ1 − 2/η while stepping the predicted map alongside.

use std::time::Instant;

use serde::Serialize;

use super::agreement::predicted_step;
use super::anchor::{AnchorInfo, AnchorMeasurement, measure_anchor};
use super::derivatives::{Derivatives, check_len};
use super::eigen::top_eigen_with;
use super::options::TheoryOptions;
use super::report::{TheoryReport, anchor_reports};
use crate::engine::Precision;
use crate::engine::eigen::WarmStarts;
use crate::engine::session::StepRecord;
use crate::engine::theory::TheoryError;

/// One row of `theory.csv`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TheoryRow {
    /// Steps since the current anchor θ₀.
    pub t: usize,
    pub step: usize,
    pub x_measured: f64,
    pub y_measured: f64,
    pub x_predicted: Option<f64>,
    pub y_predicted: Option<f64>,
    pub lambda1_minus_threshold: f64,
    pub loss_change: f64,
    pub alpha: f64,
    pub beta: f64,
    pub delta: f64,
    pub anchor: usize,
    /// Predicted λ1 − 2/η = e₀ + y_predicted.
    pub excess_predicted: Option<f64>,
}

/// The CSV header of `theory.csv`.
pub const CSV_COLUMNS: [&str; 13] = [
    "t",
    "step",
    "x_measured",
    "y_measured",
    "x_predicted",
    "y_predicted",
    "lambda1_minus_threshold",
    "loss_change",
    "alpha",
    "beta",
    "delta",
    "anchor",
    "excess_predicted",
];

impl TheoryRow {
    pub fn cells(&self) -> Vec<Option<f64>> {
        vec![
            Some(self.t as f64),
            Some(self.step as f64),
            Some(self.x_measured),
            Some(self.y_measured),
            self.x_predicted,
            self.y_predicted,
            Some(self.lambda1_minus_threshold),
            Some(self.loss_change),
            Some(self.alpha),
            Some(self.beta),
            Some(self.delta),
            Some(self.anchor as f64),
            self.excess_predicted,
        ]
    }
}

/// What the tracker needs from one step (θ_t as measured, before the update).
#[derive(Clone, Copy, Debug)]
pub struct StepInput<'a> {
    pub step: usize,
    pub lr: f64,
    pub threshold: f64,
    pub loss: f64,
    /// λ1 from the run's own record at this step, if it measured one.
    pub lambda1: Option<f64>,
    pub params: &'a [f64],
}

impl<'a> StepInput<'a> {
    /// The input for a run's step record and its parameters θ_t (as f64).
    pub fn from_record(r: &StepRecord, params: &'a [f64]) -> Self {
        StepInput {
            step: r.step,
            lr: r.lr,
            threshold: r.threshold,
            loss: r.train_loss,
            lambda1: r.eigs.as_ref().and_then(|e| e.first().copied()),
            params,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Searching,
    Tracking,
    Done,
}

struct Prediction {
    x: f64,
    y: f64,
    step: usize,
    alive: bool,
}

/// Derivatives for the per-step probes in a cheaper arithmetic (an f32 evaluator).
pub type ProbeDerivatives = Box<dyn Derivatives + Send>;

/// Probe counts so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ProbeStats {
    /// Per-step λ1 probes (one per probed step), the HVPs they used (in the probes'
    /// arithmetic) and their wall time in seconds (with the pass that fills the HVP cache).
    pub probes: usize,
    pub hvps: usize,
    pub seconds: f64,
    /// f64 re-probes of an f32 probe that landed near 2/η: count, f64 HVPs, seconds.
    pub refinements: usize,
    pub refinement_hvps: usize,
    pub refinement_seconds: f64,
}

/// Watches a run step by step: finds θ₀, measures, tracks and predicts.
pub struct MeasuredTracker<D: Derivatives> {
    d: D,
    /// Cheaper derivatives for the per-step probes (None: probe with `d`).
    cheap: Option<ProbeDerivatives>,
    opts: TheoryOptions,
    phase: Phase,
    last_known: Option<(usize, f64)>,
    seen_below: bool,
    warm: WarmStarts,
    anchors: Vec<AnchorMeasurement>,
    rows: Vec<TheoryRow>,
    pred: Option<Prediction>,
    first_anchor_step: usize,
    stats: ProbeStats,
    /// Step of the last record that carried λ1, and the spacing of such records.
    last_record_step: Option<usize>,
    record_cadence: Option<usize>,
}

impl<D: Derivatives> MeasuredTracker<D> {
    /// A tracker that measures and probes with `d`.
    pub fn new(d: D, opts: TheoryOptions) -> Result<Self, TheoryError> {
        Self::build(d, None, opts)
    }

    /// A tracker that measures anchors with `d` and probes λ1 with `cheap` (at
    /// `probe_tol_f32`), re-probing with `d` (at `probe_tol`) when the cheap λ1 lands within
    /// `refine_band`·2/η of 2/η.
    pub fn with_cheap_probes(
        d: D,
        cheap: ProbeDerivatives,
        opts: TheoryOptions,
    ) -> Result<Self, TheoryError> {
        check_len("the probe network", cheap.dim(), d.dim())?;
        Self::build(d, Some(cheap), opts)
    }

    fn build(
        d: D,
        cheap: Option<ProbeDerivatives>,
        opts: TheoryOptions,
    ) -> Result<Self, TheoryError> {
        opts.check()?;
        Ok(MeasuredTracker {
            d,
            cheap,
            opts,
            phase: Phase::Searching,
            last_known: None,
            seen_below: false,
            warm: WarmStarts::default(),
            anchors: Vec::new(),
            rows: Vec::new(),
            pred: None,
            first_anchor_step: 0,
            stats: ProbeStats::default(),
            last_record_step: None,
            record_cadence: None,
        })
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }
    pub fn rows(&self) -> &[TheoryRow] {
        &self.rows
    }
    pub fn anchors(&self) -> &[AnchorMeasurement] {
        &self.anchors
    }
    pub fn options(&self) -> &TheoryOptions {
        &self.opts
    }
    pub fn derivatives(&mut self) -> &mut D {
        &mut self.d
    }
    /// Per-step λ1 probes so far and the HVPs they used.
    pub fn probe_stats(&self) -> ProbeStats {
        self.stats
    }
    /// Whether the per-step probes run on cheaper derivatives than the anchor.
    pub fn has_cheap_probes(&self) -> bool {
        self.cheap.is_some()
    }

    /// λ1 at `params`, warm-started from the nearer of the last two probes, extrapolated along
    /// its drift ([`WarmStarts::start`]): on the cheap derivatives if any, then again on `d`
    /// when that lands within the refine band of `threshold` (so which side of 2/η a step is on
    /// is decided at `probe_tol` in `d`'s arithmetic).
    fn probe(&mut self, params: &[f64], step: usize, threshold: f64) -> Result<f64, TheoryError> {
        let seed = self.opts.seed ^ step as u64;
        let opts = &self.opts;
        // One warm-started λ1 solve at `tol` on `d`.
        let solve = |d: &mut dyn Derivatives, tol: f64, warm: &[Vec<f64>]| {
            top_eigen_with(
                opts.probe_solver,
                d,
                params,
                1,
                tol,
                opts.probe_max_iter,
                seed,
                warm,
                false,
            )
        };
        let warm = self.warm.start(params);
        let start = Instant::now();
        let mut e = match self.cheap.as_mut() {
            Some(c) => solve(c.as_mut(), opts.probe_tol_f32, &warm)?,
            None => solve(&mut self.d, opts.probe_tol, &warm)?,
        };
        self.stats.probes += 1;
        self.stats.hvps += e.matvecs;
        self.stats.seconds += start.elapsed().as_secs_f64();
        let band = opts.refine_band * threshold.abs();
        if self.cheap.is_some() && (e.eigenvalues[0] - threshold).abs() <= band {
            let start = Instant::now();
            e = solve(&mut self.d, opts.probe_tol, &e.ritz)?;
            self.stats.refinements += 1;
            self.stats.refinement_hvps += e.matvecs;
            self.stats.refinement_seconds += start.elapsed().as_secs_f64();
        }
        self.warm.push(params, e.ritz);
        let l = e.eigenvalues[0];
        self.last_known = Some((step, l));
        Ok(l)
    }

    fn anchor(&mut self, s: &StepInput, before: Option<(usize, f64)>) -> Result<(), TheoryError> {
        let warm = self.warm.start(s.params);
        let mut m = measure_anchor(&mut self.d, s.params, s.lr, s.threshold, &self.opts, &warm)?;
        m.info.index = self.anchors.len();
        m.info.step = s.step;
        m.info.lambda1_before = before;
        m.info.crossed_from_below = self.seen_below;
        // Loss from the run's record, so loss changes compare like with like.
        m.info.loss = s.loss;
        self.pred = Some(Prediction {
            x: -m.info.x_center,
            y: 0.0,
            step: s.step,
            alive: true,
        });
        self.anchors.push(m);
        Ok(())
    }

    fn advance_prediction(&mut self, to_step: usize) {
        let Some(a) = self.anchors.last() else {
            return;
        };
        let i = &a.info;
        let blowup = self.opts.blowup;
        if let Some(p) = &mut self.pred {
            while p.step < to_step && p.alive {
                let (x, y) = predicted_step(i.lr, i.alpha, i.beta, i.excess0, p.x, p.y);
                p.x = x;
                p.y = y;
                p.step += 1;
                if !(x.is_finite() && y.is_finite() && x.abs() <= blowup && y.abs() <= blowup) {
                    p.alive = false;
                }
            }
        }
    }

    fn row(&mut self, s: &StepInput, lambda1: f64) -> Result<TheoryRow, TheoryError> {
        self.advance_prediction(s.step);
        let Some(a) = self.anchors.last() else {
            return Err(TheoryError::Shape(
                "a theory row was requested before any anchor was measured".into(),
            ));
        };
        let (info, v) = (&a.info, &a.vectors);
        let mut x = 0.0;
        let mut y = 0.0;
        for ((p, t0), (u, g)) in s
            .params
            .iter()
            .zip(&v.theta0)
            .zip(v.u.iter().zip(&v.grad_s_perp))
        {
            let dlt = p - t0;
            x += u * dlt;
            y += g * dlt;
        }
        let (xp, yp) = match &self.pred {
            Some(p) if p.alive && p.step == s.step => (Some(info.x_center + p.x), Some(p.y)),
            _ => (None, None),
        };
        Ok(TheoryRow {
            t: s.step - info.step,
            step: s.step,
            x_measured: x,
            y_measured: y,
            x_predicted: xp,
            y_predicted: yp,
            lambda1_minus_threshold: lambda1 - s.threshold,
            loss_change: s.loss - info.loss,
            alpha: info.alpha,
            beta: info.beta,
            delta: info.delta,
            anchor: info.index,
            excess_predicted: yp.map(|y| info.excess0 + y),
        })
    }

    /// Feed one step. Returns the `theory.csv` row when this step is tracked.
    pub fn observe(&mut self, s: &StepInput) -> Result<Option<TheoryRow>, TheoryError> {
        check_len("the parameter vector", s.params.len(), self.d.dim())?;
        if !s.loss.is_finite() || s.params.iter().any(|p| !p.is_finite()) {
            return Ok(None);
        }
        match self.phase {
            Phase::Done => Ok(None),
            Phase::Searching => {
                let near_level = self.opts.near_fraction * s.threshold;
                let near = |l: f64| l >= near_level;
                let before = self.last_known;
                let must_probe = match (s.lambda1, self.last_known) {
                    (Some(l), _) => {
                        self.last_known = Some((s.step, l));
                        if let Some(prev) = self.last_record_step {
                            self.record_cadence = Some(s.step.saturating_sub(prev).max(1));
                        }
                        self.last_record_step = Some(s.step);
                        if l < s.threshold {
                            self.seen_below = true;
                        }
                        near(l)
                    }
                    (None, None) => true,
                    (None, Some((at, l))) => {
                        // Far from 2/η: the run's own records say when λ1 gets near, as long
                        // as they keep coming at their cadence; else probe now and then.
                        let overdue = match (self.record_cadence, self.last_record_step) {
                            (Some(c), Some(r)) => s.step > r + c,
                            _ => s.step >= at + self.opts.far_probe_every.max(1),
                        };
                        near(l) || overdue
                    }
                };
                if !must_probe {
                    return Ok(None);
                }
                let l = self.probe(s.params, s.step, s.threshold)?;
                if l < s.threshold {
                    self.seen_below = true;
                    return Ok(None);
                }
                self.anchor(s, before)?;
                self.first_anchor_step = s.step;
                self.phase = Phase::Tracking;
                let row = self.row(s, l)?;
                self.rows.push(row.clone());
                Ok(Some(row))
            }
            Phase::Tracking => {
                if s.step >= self.first_anchor_step + self.opts.window {
                    self.phase = Phase::Done;
                    return Ok(None);
                }
                let l = self.probe(s.params, s.step, s.threshold)?;
                let since = self
                    .anchors
                    .last()
                    .map(|a| s.step - a.info.step)
                    .unwrap_or(0);
                if self.opts.reanchor_every > 0 && since >= self.opts.reanchor_every {
                    self.anchor(s, None)?;
                }
                let row = self.row(s, l)?;
                self.rows.push(row.clone());
                Ok(Some(row))
            }
        }
    }

    /// The arithmetic the per-step probes ran in.
    pub fn probe_precision(&self) -> Precision {
        let u = match &self.cheap {
            Some(c) => c.unit_roundoff(),
            None => self.d.unit_roundoff(),
        };
        if u > 1e-10 {
            Precision::F32
        } else {
            Precision::F64
        }
    }

    /// Agreement figures per anchor and the run's status.
    pub fn report(&self) -> TheoryReport {
        let infos: Vec<AnchorInfo> = self.anchors.iter().map(|a| a.info.clone()).collect();
        let anchors = anchor_reports(&infos, &self.rows);
        let status = match (&self.phase, self.last_known) {
            (Phase::Searching, Some((at, l))) => format!(
                "λ1 never reached 2/η: last probe λ1 = {l:.6} at step {at}; nothing to compare"
            ),
            (Phase::Searching, None) => "λ1 was never measured; nothing to compare".into(),
            _ => format!(
                "{} anchor(s), {} tracked steps, first crossing at step {}",
                anchors.len(),
                self.rows.len(),
                self.first_anchor_step
            ),
        };
        TheoryReport {
            status,
            phase: self.phase.clone(),
            options: self.opts.clone(),
            probe_precision: self.probe_precision(),
            probes: self.stats.probes,
            probe_hvps: self.stats.hvps,
            probe_seconds: self.stats.seconds,
            refinements: self.stats.refinements,
            refinement_hvps: self.stats.refinement_hvps,
            refinement_seconds: self.stats.refinement_seconds,
            anchors,
            rows: self.rows.clone(),
        }
    }
}
