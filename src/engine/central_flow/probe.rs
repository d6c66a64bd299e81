//! The central flow on the probe seam ([`crate::engine::probe`]): [`CentralFlowProbe`] starts
//! a central flow and a gradient flow (explicit Euler, the same substeps) from the session's
//! θ₀, steps both once per GD step, and reports one [`CentralFlowRow`] per step
//! (`central_flow.csv`); [`CentralFlowLog`] collects the rows on the app's side and both
//! build the same [`CentralFlowReport`] (`central_flow_summary.json`).
//!
//! # Windows and definitions (what the summary's numbers mean)
//!
//! * **Crossings.** GD's first crossing is the first step whose recorded λ1 is ≥ 2/η (only
//!   steps where the run measured λ1 count); the flow's is the first step with
//!   λ1(w_CF) ≥ (1 − 10⁻³)·2/η (the flow approaches 2/η from below and is then held there).
//! * **Predicted loss error.** Over every trailing window of `window` (10) consecutive steps
//!   that starts at or after GD's first crossing: |mean(predicted loss) − mean(GD loss)| /
//!   mean(GD loss); the summary gives the mean and the maximum over those windows. The same
//!   figure for L(w_CF) alone and for gradient flow's loss shows what the ½⟨Σ, ∇²L⟩ term adds.
//! * **Sharpness held at 2/η.** max |λ1(w_CF) − 2/η|/(2/η) over the steps after the flow's
//!   crossing.
//! * **Distances.** ‖w_GD(t) − w_CF(t)‖ and ‖w_GD(t) − w_GF(t)‖ at every step, both at the
//!   same t (θ_t of GD's record, the flows before their substeps t → t + 1); the summary gives
//!   their ratio at the last row.
//! * **Oscillation variance.** At each step with k ≥ 1 the measured squared displacement
//!   d_t² = ((w_GD(t) − w_CF(t))·v₁(t))² along Σ's top eigenvector v₁(t); the row's
//!   `disp2_top_mean` is its mean over the trailing `window` steps (those of them with k ≥ 1),
//!   to set against σ²₁ (the top eigenvalue of X): GD's oscillation has period ≈ 2, so one step
//!   alone says little. The summary compares the mean of σ²₁ with the mean of d_t² over all
//!   steps with k ≥ 1.
//! * **Cost.** HVPs and seconds the probe spent per GD step (flow, gradient flow and the
//!   measurements), before and after the flow's crossing.

use std::collections::VecDeque;
use std::time::Instant;

use serde::Serialize;

use super::flow::Counting;
use super::{
    CentralFlow, CentralFlowError, CentralFlowOptions, DamianLink, FlowEigen, ThirdMethod,
    damian_link, distance,
};
use crate::engine::network::Evaluator;
use crate::engine::probe::{CsvFile, Probe, ProbeError, ProbeFiles, ProbeReport, ProbeUpdate};
use crate::engine::session::{Session, StepRecord};
use crate::engine::theory::measured::{Derivatives, sharpness_gradient, top_eigen};

/// How many of the flow's top eigenvalues `central_flow.csv` has columns for.
pub const EIG_COLUMNS: usize = 4;
/// How many σ² values (eigenvalues of X) `central_flow.csv` has columns for.
pub const SIGMA_COLUMNS: usize = 3;
/// The CSV file and the JSON summary.
pub const CSV_FILE: &str = "central_flow.csv";
pub const SUMMARY_FILE: &str = "central_flow_summary.json";

/// The columns of `central_flow.csv` (see [`CentralFlowRow`]).
pub fn csv_columns() -> Vec<String> {
    let mut c: Vec<String> = [
        "step",
        "gd_loss",
        "gd_lambda1",
        "cf_loss",
        "cf_predicted_loss",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    c.push("gf_loss".into());
    c.extend((1..=EIG_COLUMNS).map(|i| format!("cf_lambda{i}")));
    c.push("k".into());
    c.extend((1..=SIGMA_COLUMNS).map(|i| format!("sigma2_{i}")));
    c.extend(
        [
            "dist_gd_cf",
            "dist_gd_gf",
            "disp2_top",
            "disp2_top_mean",
            "hvps",
            "seconds",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    c
}

/// The probe's options (the learning rate comes from the run).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CentralFlowProbeOptions {
    /// Euler substeps per GD step, for the central flow and the gradient flow alike.
    pub substeps: usize,
    /// Relative tolerance of the flow's Lanczos eigenvalues.
    pub lanczos_tol: f64,
    /// Most Lanczos iterations per solve (bounds the time of one step).
    pub lanczos_max_iter: usize,
    /// Most eigenpairs tracked per substep.
    pub max_tracked: usize,
    /// Richardson-extrapolated third derivatives (twice the HVPs, O(ε⁴) error).
    pub richardson: bool,
    /// Third derivatives from HVPs at shifted points (the reference) or from gradients only.
    pub third: ThirdMethod,
    /// The eigensolver of each substep.
    pub eigen: FlowEigen,
    /// The averaging window (steps) of the loss comparison and of the measured displacement.
    pub window: usize,
}

impl Default for CentralFlowProbeOptions {
    fn default() -> Self {
        let f = CentralFlowOptions::new(1.0);
        CentralFlowProbeOptions {
            substeps: f.substeps,
            lanczos_tol: f.lanczos_tol,
            lanczos_max_iter: f.lanczos_max_iter,
            max_tracked: f.max_tracked,
            richardson: f.richardson,
            third: f.third,
            eigen: f.eigen,
            window: 10,
        }
    }
}

impl CentralFlowProbeOptions {
    /// Options for watching the flow live beside training (the app's, and `run --cf-live`):
    /// 2 substeps, at most 2 tracked eigenpairs by the block solver to a relative tolerance
    /// of 1e-3, third derivatives from gradients without Richardson's step. On the digits demo
    /// (2026-12-05) this costs 17 HVPs + 20 gradients per GD step at the edge of stability
    /// against the defaults' 294 HVPs, predicts GD's loss as well (windowed error 0.085 vs
    /// 0.092) and holds λ1 within 7e-3 of 2/η instead of 6e-7.
    pub fn live() -> Self {
        CentralFlowProbeOptions {
            substeps: 2,
            lanczos_tol: 1e-3,
            max_tracked: 2,
            richardson: false,
            third: ThirdMethod::Gradients,
            eigen: FlowEigen::Block,
            ..CentralFlowProbeOptions::default()
        }
    }

    /// The flow's options for learning rate `lr`, checked.
    pub fn flow_options(&self, lr: f64, seed: u64) -> Result<CentralFlowOptions, CentralFlowError> {
        if !(1..=100_000).contains(&self.window) {
            return Err(CentralFlowError::InvalidOption {
                name: "window",
                value: self.window.to_string(),
                rule: "average over 1 to 100000 steps (10 is the default)".into(),
            });
        }
        let o = CentralFlowOptions {
            substeps: self.substeps,
            lanczos_tol: self.lanczos_tol,
            lanczos_max_iter: self.lanczos_max_iter,
            max_tracked: self.max_tracked,
            richardson: self.richardson,
            third: self.third,
            eigen: self.eigen,
            seed,
            ..CentralFlowOptions::new(lr)
        };
        o.check()?;
        Ok(o)
    }
}

/// One GD step beside the flows (a row of `central_flow.csv`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CentralFlowRow {
    pub step: usize,
    /// GD's training loss at θ_t (from the run's record).
    pub gd_loss: f64,
    /// GD's λ1 at θ_t when the run measured it.
    pub gd_lambda1: Option<f64>,
    /// L(w_CF(t)).
    pub cf_loss: f64,
    /// The flow's predicted time-averaged GD loss L + ½⟨Σ, ∇²L⟩ at w_CF(t).
    pub cf_predicted_loss: f64,
    /// L(w_GF(t)) of the gradient flow from the same θ₀.
    pub gf_loss: f64,
    /// The flow's tracked top eigenvalues, largest first (the CSV keeps [`EIG_COLUMNS`]).
    pub cf_eigenvalues: Vec<f64>,
    /// Critical eigenvalues (the size of X).
    pub k: usize,
    /// Eigenvalues of X, largest first (the CSV keeps [`SIGMA_COLUMNS`]).
    pub sigma2: Vec<f64>,
    /// ‖w_GD(t) − w_CF(t)‖.
    pub dist_gd_cf: f64,
    /// ‖w_GD(t) − w_GF(t)‖.
    pub dist_gd_gf: f64,
    /// ((w_GD(t) − w_CF(t))·v₁)² along Σ's top eigenvector (k ≥ 1 only).
    pub disp2_top: Option<f64>,
    /// Mean of `disp2_top` over the trailing window (module docs).
    pub disp2_top_mean: Option<f64>,
    /// HVPs the probe spent on this step.
    pub hvps: usize,
    /// Seconds the probe spent on this step.
    pub seconds: f64,
}

impl CentralFlowRow {
    /// The CSV cells, in the order of [`csv_columns`].
    pub fn cells(&self) -> Vec<Option<f64>> {
        let mut c = vec![
            Some(self.step as f64),
            Some(self.gd_loss),
            self.gd_lambda1,
            Some(self.cf_loss),
            Some(self.cf_predicted_loss),
            Some(self.gf_loss),
        ];
        c.extend((0..EIG_COLUMNS).map(|i| self.cf_eigenvalues.get(i).copied()));
        c.push(Some(self.k as f64));
        c.extend((0..SIGMA_COLUMNS).map(|i| self.sigma2.get(i).copied()));
        c.extend([
            Some(self.dist_gd_cf),
            Some(self.dist_gd_gf),
            self.disp2_top,
            self.disp2_top_mean,
            Some(self.hvps as f64),
            Some(self.seconds),
        ]);
        c
    }
}

/// The k = 1 link to Damian et al. 2022, measured once on the flow (see [`damian_link`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkAt {
    /// The GD step whose flow point w_CF(step) was measured.
    pub step: usize,
    /// λ1 there.
    pub lambda1: f64,
    #[serde(flatten)]
    pub link: DamianLink,
}

impl LinkAt {
    /// One plain sentence for a panel or a terminal.
    pub fn sentence(&self) -> String {
        let l = &self.link;
        format!(
            "At step {} (λ1 = {:.4}) the central flow's σ² = −2⟨∇S, ∇L⟩/‖∇S‖² = {:.3e}; Damian et al. 2022's δ² = 2α/β = {:.3e} (α = {:.3e}, β = {:.3e}) is the same formula with ∇S replaced by its part orthogonal to the top eigenvector u (u·∇S/‖∇S‖ = {:.3} here).",
            self.step, self.lambda1, l.sigma2, l.delta2, l.alpha, l.beta, l.along_u
        )
    }
}

/// One message from the probe.
#[derive(Clone, Debug, PartialEq)]
pub enum CentralFlowUpdate {
    /// A fresh probe starts at this step (forget earlier updates).
    Started {
        step: usize,
    },
    Row(Box<CentralFlowRow>),
    /// The k = 1 link, measured at the flow's first critical step.
    Link(Box<LinkAt>),
    /// The probe failed and was switched off (the run goes on).
    Failed(String),
}

/// What the probe reported so far (the app's side; the probe keeps one too).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CentralFlowLog {
    pub started: bool,
    pub started_at: usize,
    pub rows: Vec<CentralFlowRow>,
    pub link: Option<LinkAt>,
    pub error: Option<String>,
}

impl CentralFlowLog {
    pub fn apply(&mut self, u: CentralFlowUpdate) {
        match u {
            CentralFlowUpdate::Started { step } => {
                *self = CentralFlowLog {
                    started: true,
                    started_at: step,
                    ..Default::default()
                }
            }
            CentralFlowUpdate::Row(r) => self.rows.push(*r),
            CentralFlowUpdate::Link(l) => self.link = Some(*l),
            CentralFlowUpdate::Failed(e) => self.error = Some(e),
        }
    }

    /// The summary `run --central-flow` writes, from what was reported; `lr` is the run's η.
    pub fn report(&self, options: &CentralFlowProbeOptions, lr: f64) -> CentralFlowReport {
        CentralFlowReport::new(
            options,
            lr,
            &self.rows,
            self.link.clone(),
            self.error.clone(),
        )
    }
}

/// Mean and maximum of a windowed relative error.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowError {
    pub mean: f64,
    pub max: f64,
    /// How many windows.
    pub windows: usize,
}

/// The distances at the last row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndDistances {
    pub step: usize,
    pub dist_gd_cf: f64,
    pub dist_gd_gf: f64,
    /// ‖w_GD − w_CF‖/‖w_GD − w_GF‖ (below 1: the central flow tracks GD better).
    pub ratio: f64,
}

/// σ²₁ against GD's measured squared displacement along Σ's top eigenvector.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SigmaCheck {
    /// Steps with k ≥ 1.
    pub steps: usize,
    pub sigma2_mean: f64,
    pub disp2_mean: f64,
    /// disp2_mean / sigma2_mean.
    pub ratio: f64,
}

/// What the probe cost per GD step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cost {
    pub hvps_total: usize,
    pub seconds_total: f64,
    /// Means over the steps before the flow's crossing (all steps when it did not cross).
    pub hvps_per_step_before: Option<f64>,
    pub seconds_per_step_before: Option<f64>,
    /// Means over the steps from the flow's crossing on.
    pub hvps_per_step_eos: Option<f64>,
    pub seconds_per_step_eos: Option<f64>,
}

/// `central_flow_summary.json` (module docs define every number).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CentralFlowReport {
    pub status: String,
    pub options: CentralFlowProbeOptions,
    pub lr: f64,
    pub threshold: f64,
    /// GD steps observed.
    pub steps: usize,
    pub gd_crossing_step: Option<usize>,
    pub cf_crossing_step: Option<usize>,
    /// Trailing windows of `options.window` steps from GD's first crossing.
    pub predicted_loss_rel_error: Option<WindowError>,
    /// The same with L(w_CF) in place of the predicted loss.
    pub cf_loss_rel_error: Option<WindowError>,
    /// The same with gradient flow's loss.
    pub gf_loss_rel_error: Option<WindowError>,
    /// max |λ1(w_CF) − 2/η|/(2/η) after the flow's crossing.
    pub lambda1_max_rel_deviation: Option<f64>,
    pub end: Option<EndDistances>,
    pub sigma2: Option<SigmaCheck>,
    pub cost: Cost,
    pub damian_link: Option<LinkAt>,
    pub error: Option<String>,
    /// The rows (in `central_flow.csv`, not in the JSON).
    #[serde(skip)]
    pub rows: Vec<CentralFlowRow>,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// Relative error of window means of `pred` against window means of `gd`, over every trailing
/// window of `w` rows that starts at or after row `from`.
fn window_error(
    rows: &[CentralFlowRow],
    from: usize,
    w: usize,
    pred: fn(&CentralFlowRow) -> f64,
) -> Option<WindowError> {
    let mut errs = Vec::new();
    for end in (from + w)..=rows.len() {
        let win = &rows[end - w..end];
        let g = win.iter().map(|r| r.gd_loss).sum::<f64>() / w as f64;
        let p = win.iter().map(pred).sum::<f64>() / w as f64;
        errs.push((p - g).abs() / g.abs());
    }
    Some(WindowError {
        mean: mean(errs.iter().copied())?,
        max: errs.iter().copied().fold(0.0, f64::max),
        windows: errs.len(),
    })
}

impl CentralFlowReport {
    /// The summary of `rows` (module docs).
    pub fn new(
        options: &CentralFlowProbeOptions,
        lr: f64,
        rows: &[CentralFlowRow],
        link: Option<LinkAt>,
        error: Option<String>,
    ) -> Self {
        let thr = 2.0 / lr;
        let gd_cross = rows
            .iter()
            .position(|r| r.gd_lambda1.is_some_and(|l| l >= thr));
        let cf_cross = rows.iter().position(|r| {
            r.cf_eigenvalues
                .first()
                .is_some_and(|&l| l >= thr * (1.0 - 1e-3))
        });
        let w = options.window.max(1);
        let errs =
            |f: fn(&CentralFlowRow) -> f64| gd_cross.and_then(|c| window_error(rows, c, w, f));
        let lambda_dev = cf_cross.and_then(|c| {
            rows.get(c + 1..).filter(|r| !r.is_empty()).map(|r| {
                r.iter()
                    .filter_map(|r| r.cf_eigenvalues.first())
                    .map(|l| (l - thr).abs() / thr)
                    .fold(0.0, f64::max)
            })
        });
        let end = rows.last().map(|r| EndDistances {
            step: r.step,
            dist_gd_cf: r.dist_gd_cf,
            dist_gd_gf: r.dist_gd_gf,
            ratio: if r.dist_gd_gf > 0.0 {
                r.dist_gd_cf / r.dist_gd_gf
            } else {
                f64::NAN
            },
        });
        let crit: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| Some((*r.sigma2.first()?, r.disp2_top?)))
            .collect();
        let sigma2 = (!crit.is_empty()).then(|| {
            let n = crit.len() as f64;
            let s = crit.iter().map(|c| c.0).sum::<f64>() / n;
            let d = crit.iter().map(|c| c.1).sum::<f64>() / n;
            SigmaCheck {
                steps: crit.len(),
                sigma2_mean: s,
                disp2_mean: d,
                ratio: d / s,
            }
        });
        let split = cf_cross.unwrap_or(rows.len());
        let (before, eos) = rows.split_at(split);
        let cost = Cost {
            hvps_total: rows.iter().map(|r| r.hvps).sum(),
            seconds_total: rows.iter().map(|r| r.seconds).sum(),
            hvps_per_step_before: mean(before.iter().map(|r| r.hvps as f64)),
            seconds_per_step_before: mean(before.iter().map(|r| r.seconds)),
            hvps_per_step_eos: mean(eos.iter().map(|r| r.hvps as f64)),
            seconds_per_step_eos: mean(eos.iter().map(|r| r.seconds)),
        };
        let status = match (&error, rows.first(), cf_cross) {
            (Some(e), _, _) => format!("the central flow stopped: {e}"),
            (None, None, _) => "no step observed yet".into(),
            (None, Some(_), None) => format!(
                "{} steps; the flow's λ1 did not reach 2/η (it is gradient flow so far)",
                rows.len()
            ),
            (None, Some(_), Some(c)) => format!(
                "{} steps; the flow reached 2/η at step {}",
                rows.len(),
                rows[c].step
            ),
        };
        CentralFlowReport {
            status,
            options: options.clone(),
            lr,
            threshold: thr,
            steps: rows.len(),
            gd_crossing_step: gd_cross.map(|i| rows[i].step),
            cf_crossing_step: cf_cross.map(|i| rows[i].step),
            predicted_loss_rel_error: errs(|r| r.cf_predicted_loss),
            cf_loss_rel_error: errs(|r| r.cf_loss),
            gf_loss_rel_error: errs(|r| r.gf_loss),
            lambda1_max_rel_deviation: lambda_dev,
            end,
            sigma2,
            cost,
            damian_link: link,
            error,
            rows: rows.to_vec(),
        }
    }

    /// A few lines for a terminal.
    pub fn describe(&self) -> String {
        let opt = |v: Option<usize>| v.map_or("-".to_string(), |s| s.to_string());
        let mut s = format!(
            "central flow (Cohen et al. 2025): {}\n  first crossing of 2/η = {:.4}: GD step {}, central flow step {}\n",
            self.status,
            self.threshold,
            opt(self.gd_crossing_step),
            opt(self.cf_crossing_step)
        );
        if let Some(e) = &self.predicted_loss_rel_error {
            s += &format!(
                "  predicted loss vs GD loss ({}-step trailing windows from GD's crossing, {} windows): mean rel. error {:.4}, max {:.4}",
                self.options.window, e.windows, e.mean, e.max
            );
            if let (Some(c), Some(g)) = (&self.cf_loss_rel_error, &self.gf_loss_rel_error) {
                s += &format!(
                    " (L(w_CF) alone {:.4}, gradient flow {:.4})",
                    c.mean, g.mean
                );
            }
            s += "\n";
        }
        if let Some(d) = self.lambda1_max_rel_deviation {
            s += &format!("  max |λ1(w_CF) − 2/η|/(2/η) after the flow's crossing: {d:.2e}\n");
        }
        if let Some(e) = &self.end {
            s += &format!(
                "  step {}: ‖w_GD − w_CF‖ = {:.4}, ‖w_GD − w_GF‖ = {:.4}, ratio {:.3}\n",
                e.step, e.dist_gd_cf, e.dist_gd_gf, e.ratio
            );
        }
        if let Some(g) = &self.sigma2 {
            s += &format!(
                "  σ²₁ mean {:.3e} vs GD's mean squared displacement along Σ's top eigenvector {:.3e} (ratio {:.2}, {} steps with k ≥ 1)\n",
                g.sigma2_mean, g.disp2_mean, g.ratio, g.steps
            );
        }
        let c = &self.cost;
        let f = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |x| format!("{x:.d$}"));
        s += &format!(
            "  cost per GD step: {} HVPs, {} s before the flow's crossing; {} HVPs, {} s after ({} substeps)\n",
            f(c.hvps_per_step_before, 1),
            f(c.seconds_per_step_before, 3),
            f(c.hvps_per_step_eos, 1),
            f(c.seconds_per_step_eos, 3),
            self.options.substeps
        );
        if let Some(l) = &self.damian_link {
            s += &format!("  {}\n", l.sentence());
        }
        s
    }
}

/// The central flow and a gradient flow from the session's θ₀, stepped once per GD step
/// (module docs).
pub struct CentralFlowProbe {
    cf: CentralFlow<Evaluator<f64>>,
    gf: Vec<f64>,
    opts: CentralFlowProbeOptions,
    lr: f64,
    log: CentralFlowLog,
    /// (step, d²) of the trailing window's steps with k ≥ 1.
    disp: VecDeque<(usize, f64)>,
    link_done: bool,
}

impl CentralFlowProbe {
    /// Both flows start at the session's current parameters (θ₀ before the first step).
    pub fn new(session: &Session, opts: CentralFlowProbeOptions) -> Result<Self, ProbeError> {
        let lr = session.lr();
        let flow = opts.flow_options(lr, session.config().seed)?;
        let w0 = session.current_params_f64();
        let cf = CentralFlow::new(session.evaluator_f64(), w0.clone(), flow)?;
        Ok(CentralFlowProbe {
            cf,
            gf: w0,
            opts,
            lr,
            log: CentralFlowLog::default(),
            disp: VecDeque::new(),
            link_done: false,
        })
    }

    /// The central flow's w at the current step.
    pub fn flow_params(&self) -> &[f64] {
        self.cf.params()
    }

    /// The gradient flow's w at the current step.
    pub fn gradient_flow_params(&self) -> &[f64] {
        &self.gf
    }

    /// σ²-link at the flow's current point: λ1, u (warm from `dir`), ∇L, ∇S = ∇³L[u, u].
    fn measure_link(&mut self, step: usize, dir: &[f64]) -> Result<(LinkAt, usize), ProbeError> {
        let w = self.cf.params().to_vec();
        let tol = self.opts.lanczos_tol.max(1e-10);
        let max_iter = self.opts.lanczos_max_iter;
        let mut c = Counting {
            d: self.cf.derivatives(),
            hvps: 0,
            grads: 0,
        };
        let top = top_eigen(&mut c, &w, 1, tol, max_iter, 0, &[dir.to_vec()], false)?;
        let (_, grad) = c.loss_grad(&w)?;
        let gs = sharpness_gradient(&mut c, &w, &top.u, None)?;
        let link = damian_link(&grad, &gs.grad, &top.u);
        Ok((
            LinkAt {
                step,
                lambda1: top.eigenvalues.first().copied().unwrap_or(f64::NAN),
                link,
            },
            c.hvps,
        ))
    }
}

impl Probe for CentralFlowProbe {
    fn observe(
        &mut self,
        session: &Session,
        record: &StepRecord,
        out: &mut Vec<ProbeUpdate>,
    ) -> Result<(), ProbeError> {
        if (record.lr - self.lr).abs() > 1e-12 * self.lr {
            return Err(ProbeError::LrChanged {
                probe: "central flow",
                from: self.lr,
                to: record.lr,
            });
        }
        let t0 = Instant::now();
        let w_gd = session.params_f64();
        let w_cf = self.cf.params().to_vec();
        let dist_gd_cf = distance(&w_gd, &w_cf);
        let dist_gd_gf = distance(&w_gd, &self.gf);
        let f = self.cf.step()?;
        let mut hvps = f.hvps;
        // Gradient flow: the same explicit-Euler substeps, without Σ.
        let h = self.lr / self.opts.substeps as f64;
        let mut gf_loss = f64::NAN;
        for s in 0..self.opts.substeps {
            let (l, g) = Derivatives::loss_grad(self.cf.derivatives(), &self.gf)?;
            if s == 0 {
                gf_loss = l;
            }
            self.gf.iter_mut().zip(&g).for_each(|(w, gi)| *w -= h * gi);
        }
        let disp2_top = f.sigma_directions.first().map(|v| {
            let d: f64 = w_gd
                .iter()
                .zip(&w_cf)
                .zip(v)
                .map(|((a, b), x)| (a - b) * x)
                .sum();
            d * d
        });
        let w = self.opts.window.max(1);
        if let Some(d) = disp2_top {
            self.disp.push_back((record.step, d));
        }
        while self.disp.front().is_some_and(|(s, _)| s + w <= record.step) {
            self.disp.pop_front();
        }
        let disp2_top_mean = mean(self.disp.iter().map(|d| d.1));
        if !self.link_done
            && f.k == 1
            && let Some(dir) = f.sigma_directions.first().cloned()
        {
            self.link_done = true;
            let (link, h) = self.measure_link(record.step + 1, &dir)?;
            hvps += h;
            self.log.link = Some(link.clone());
            out.push(ProbeUpdate::CentralFlow(CentralFlowUpdate::Link(Box::new(
                link,
            ))));
        }
        let row = CentralFlowRow {
            step: record.step,
            gd_loss: record.train_loss,
            gd_lambda1: record.eigs.as_ref().and_then(|e| e.first().copied()),
            cf_loss: f.loss,
            cf_predicted_loss: f.predicted_loss,
            gf_loss,
            cf_eigenvalues: f.eigenvalues,
            k: f.k,
            sigma2: f.sigma2,
            dist_gd_cf,
            dist_gd_gf,
            disp2_top,
            disp2_top_mean,
            hvps,
            seconds: t0.elapsed().as_secs_f64(),
        };
        self.log.rows.push(row.clone());
        out.push(ProbeUpdate::CentralFlow(CentralFlowUpdate::Row(Box::new(
            row,
        ))));
        Ok(())
    }

    fn is_done(&self) -> bool {
        false
    }

    fn files(&self) -> ProbeFiles {
        ProbeFiles {
            csv: Some(CsvFile {
                name: CSV_FILE,
                columns: csv_columns(),
            }),
            summary: Some(SUMMARY_FILE),
        }
    }

    fn report(&self) -> ProbeReport {
        ProbeReport::CentralFlow(Box::new(self.log.report(&self.opts, self.lr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: usize, gd: f64, pred: f64, l1: f64, k: usize) -> CentralFlowRow {
        CentralFlowRow {
            step,
            gd_loss: gd,
            gd_lambda1: Some(l1),
            cf_loss: pred * 0.9,
            cf_predicted_loss: pred,
            gf_loss: gd * 2.0,
            cf_eigenvalues: vec![l1, 1.0],
            k,
            sigma2: if k > 0 { vec![0.5] } else { Vec::new() },
            dist_gd_cf: 1.0,
            dist_gd_gf: 4.0,
            disp2_top: (k > 0).then_some(1.0),
            disp2_top_mean: (k > 0).then_some(1.0),
            hvps: 10 + 100 * k,
            seconds: 0.01,
        }
    }

    #[test]
    fn csv_cells_match_the_columns() {
        let r = row(3, 1.0, 1.1, 2.0, 1);
        assert_eq!(r.cells().len(), csv_columns().len());
        assert_eq!(csv_columns()[0], "step");
        assert_eq!(r.cells()[4], Some(1.1));
    }

    /// The summary's numbers on rows where the answer is known by hand.
    #[test]
    fn report_numbers_follow_their_definitions() {
        let lr = 0.5; // 2/η = 4
        let opts = CentralFlowProbeOptions {
            window: 2,
            ..Default::default()
        };
        // λ1 crosses 4 at step 2 (both); after it the flow sits at 4.02 (0.5 % off).
        let rows = vec![
            row(0, 1.0, 1.0, 3.0, 0),
            row(1, 1.0, 1.0, 3.5, 0),
            row(2, 1.0, 1.1, 4.0, 1),
            row(3, 1.0, 1.1, 4.02, 1),
            row(4, 2.0, 2.2, 4.0, 1),
        ];
        let r = CentralFlowReport::new(&opts, lr, &rows, None, None);
        assert_eq!((r.gd_crossing_step, r.cf_crossing_step), (Some(2), Some(2)));
        let e = r.predicted_loss_rel_error.clone().unwrap_or(WindowError {
            mean: f64::NAN,
            max: f64::NAN,
            windows: 0,
        });
        // Windows [2,3] and [3,4]: errors 0.1 and |1.65 − 1.5|/1.5 = 0.1.
        assert_eq!(e.windows, 2);
        assert!((e.mean - 0.1).abs() < 1e-12 && (e.max - 0.1).abs() < 1e-12);
        assert!(
            r.lambda1_max_rel_deviation
                .is_some_and(|d| (d - 0.005).abs() < 1e-12)
        );
        assert!(
            r.end
                .as_ref()
                .is_some_and(|e| e.ratio == 0.25 && e.step == 4)
        );
        assert!(
            r.sigma2
                .as_ref()
                .is_some_and(|s| s.steps == 3 && s.ratio == 2.0)
        );
        assert_eq!(r.cost.hvps_per_step_before, Some(10.0));
        assert_eq!(r.cost.hvps_per_step_eos, Some(110.0));
        assert!(r.describe().contains("central flow step 2"));
    }

    /// On a short digits run far below 2/η nothing is critical: the central flow is the
    /// gradient flow (same losses, same distance to GD), one row per step, and σ² is empty.
    #[test]
    fn below_the_edge_the_probe_reports_gradient_flow() {
        use crate::engine::config::RunConfig;
        use crate::engine::data::DatasetSpec;
        let cfg = RunConfig {
            dataset: DatasetSpec::Digits {
                n_train: 60,
                n_test: 0,
            },
            hidden: vec![6],
            lr: 0.05,
            max_steps: 4,
            eig_every: 1,
            threads: 1,
            ..RunConfig::default()
        };
        let Ok((mut session, _)) = Session::from_config(&cfg) else {
            panic!("session")
        };
        let Ok(mut probe) = CentralFlowProbe::new(&session, CentralFlowProbeOptions::default())
        else {
            panic!("probe")
        };
        let mut out = Vec::new();
        while let Some((rec, stop)) = session.step() {
            let r = probe.observe(&session, &rec, &mut out);
            assert!(r.is_ok(), "{r:?}");
            if stop.is_some() {
                break;
            }
        }
        let rows: Vec<&CentralFlowRow> = out
            .iter()
            .filter_map(|u| match u {
                ProbeUpdate::CentralFlow(CentralFlowUpdate::Row(r)) => Some(&**r),
                _ => None,
            })
            .collect();
        // Steps 0 ..= 4 (the last record ends the run).
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].dist_gd_cf, 0.0);
        for r in &rows {
            assert_eq!(r.k, 0);
            assert!(r.sigma2.is_empty() && r.disp2_top.is_none());
            assert_eq!(r.cf_loss, r.gf_loss);
            assert_eq!(r.cf_predicted_loss, r.cf_loss);
            assert_eq!(r.dist_gd_cf, r.dist_gd_gf);
            assert!(r.hvps > 0 && r.cf_eigenvalues[0] < 1.5 / 0.05);
        }
        // GD moves away from both flows (its steps are η, theirs four substeps of η/4).
        assert!(rows[3].dist_gd_cf > 0.0);
        assert_eq!(probe.flow_params(), probe.gradient_flow_params());
        let ProbeReport::CentralFlow(rep) = probe.report() else {
            panic!("not the central flow's report")
        };
        assert_eq!(rep.steps, 5);
        assert_eq!(rep.cf_crossing_step, None);
    }
}
