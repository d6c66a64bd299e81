//! [`TheoryReport`] (`theory_summary.json`) and the text a terminal shows.

use serde::Serialize;

use super::agreement::{Agreement, agreement};
use super::anchor::AnchorInfo;
use super::options::TheoryOptions;
use super::tracker::{Phase, TheoryRow};
use crate::engine::Precision;

/// One anchor's measurement and its agreement figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnchorReport {
    pub anchor: AnchorInfo,
    pub rows: usize,
    pub agreement: Option<Agreement>,
}

/// `theory_summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TheoryReport {
    pub status: String,
    pub phase: Phase,
    pub options: TheoryOptions,
    /// The arithmetic of the per-step λ1 probes.
    pub probe_precision: Precision,
    /// Per-step λ1 probes, the HVPs they used (in `probe_precision`) and their wall time.
    pub probes: usize,
    pub probe_hvps: usize,
    pub probe_seconds: f64,
    /// f64 re-probes of f32 probes that landed near 2/η: count, f64 HVPs, wall time.
    pub refinements: usize,
    pub refinement_hvps: usize,
    pub refinement_seconds: f64,
    pub anchors: Vec<AnchorReport>,
    /// The tracked rows (in `theory.csv`, not in the summary JSON).
    #[serde(skip)]
    pub rows: Vec<TheoryRow>,
}

impl TheoryReport {
    /// A few lines for a terminal.
    pub fn describe(&self) -> String {
        format!(
            "theory: {}\n{}{}",
            self.status,
            describe_anchors(&self.anchors),
            self.describe_probes()
        )
    }

    /// What the per-step λ1 probes cost, one line.
    pub fn describe_probes(&self) -> String {
        let mut s = format!(
            "  λ1 probes: {} in {} ({} HVPs, {:.1} s)",
            self.probes,
            self.probe_precision.name(),
            self.probe_hvps,
            self.probe_seconds
        );
        if self.refinements > 0 {
            s += &format!(
                ", {} redone in f64 near 2/η ({} HVPs, {:.1} s)",
                self.refinements, self.refinement_hvps, self.refinement_seconds
            );
        }
        s.push('\n');
        s
    }
}

/// Each anchor's measurements and agreement figures, a few lines each.
pub fn describe_anchors(anchors: &[AnchorReport]) -> String {
    let mut s = String::new();
    {
        for a in anchors {
            let i = &a.anchor;
            s += &format!(
                "  anchor {} at step {}: λ1 = {:.6} (2/η = {:.6}, λ2 = {}), α = {:.4e} (full ∇S: {:.4e}), β = {:.4e}, δ = {:.4e}, uᵀ∇L = {:.3e}, x* = {:.3e}, ∇S finite-difference rel. change {:.1e}\n",
                i.index,
                i.step,
                i.lambda1,
                i.threshold,
                i.lambda2.map(|l| format!("{l:.4}")).unwrap_or("-".into()),
                i.alpha,
                i.alpha_full,
                i.beta,
                i.delta,
                i.grad_u,
                i.x_center,
                i.fd_rel_change
            );
            if let Some(g) = &a.agreement {
                let opt = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or("-".into());
                let optu = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or("none".into());
                s += &format!(
                    "    first cycle t = 0..{}: return below 2/η measured t = {}, predicted t = {}; corr(pred. excess, λ1 − 2/η) = {} (up to the earlier return: {}), corr(pred. y, meas. y) = {}\n",
                    g.cycle_end,
                    optu(g.measured_return),
                    optu(g.predicted_return),
                    opt(g.corr_excess),
                    opt(g.corr_excess_to_first_return),
                    opt(g.corr_y)
                );
                s += &format!(
                    "    δ = {:.4e}; peak |x| measured {:.4e} (t = {}), predicted {}; |x| at the measured λ1 peak ({:.4} at t = {}) = {:.4e}; predicted peak excess {} at t = {}\n",
                    g.delta,
                    g.measured_peak_abs_x,
                    g.measured_peak_abs_x_t,
                    g.predicted_peak_abs_x
                        .map(|v| format!("{v:.4e}"))
                        .unwrap_or("-".into()),
                    g.measured_peak_excess,
                    g.measured_peak_excess_t,
                    g.abs_x_at_measured_peak_excess,
                    opt(g.predicted_peak_excess),
                    optu(g.predicted_peak_excess_t)
                );
                s += &format!(
                    "    x̃ sign flips on {} of the steps above 2/η; x alternates in sign on every step from t = {} to the |x| peak; |x̃| grew {}×; peak loss change {:.4e} vs x²/η = {:.4e}\n",
                    opt(g.x_sign_alternation),
                    optu(g.x_alternating_from),
                    g.x_growth.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
                    g.peak_loss_change,
                    g.peak_x_sq_over_lr
                );
                if let Some(c) = &g.calibrated {
                    s += &format!(
                        "    with x̃₀ fitted to the measured |x̃| = {:.3e} at t = {} ({:.3e}, measured x̃₀ = {:.3e}): return predicted t = {}, peak excess {} at t = {}, corr(pred. excess, λ1 − 2/η) = {}\n",
                        c.x_fit,
                        c.fit_t,
                        c.x0_fitted,
                        c.x0_measured,
                        optu(c.predicted_return),
                        opt(c.predicted_peak_excess),
                        optu(c.predicted_peak_excess_t),
                        opt(c.corr_excess)
                    );
                }
            }
        }
    }
    s
}

/// Agreement figures of every anchor from its rows (what [`super::MeasuredTracker::report`] computes).
pub fn anchor_reports(anchors: &[AnchorInfo], rows: &[TheoryRow]) -> Vec<AnchorReport> {
    anchors
        .iter()
        .map(|a| {
            let mine: Vec<&TheoryRow> = rows.iter().filter(|r| r.anchor == a.index).collect();
            AnchorReport {
                anchor: a.clone(),
                rows: mine.len(),
                agreement: agreement(a, &mine),
            }
        })
        .collect()
}
