//! The predicted map, an anchor's first cycle, and the agreement figures of prediction and
//! measurement over it (module notes of [`super`]).

use serde::Serialize;

use super::anchor::AnchorInfo;
use super::tracker::TheoryRow;

/// One step of the predicted dynamics in the centred coordinate (module docs):
/// (x̃, y) ↦ (−(1 + η(e₀ + y)) x̃, y + η(α − β x̃²/2)). With e₀ = 0 this is Definition 4.1
/// (the same map as [`crate::engine::theory::self_stab::CheckedSelfStab::map`]).
pub fn predicted_step(lr: f64, alpha: f64, beta: f64, excess0: f64, x: f64, y: f64) -> (f64, f64) {
    (
        -(1.0 + lr * (excess0 + y)) * x,
        y + lr * (alpha - beta * x * x / 2.0),
    )
}

/// An anchor's first cycle (module notes): the measured return is the first t ≥ 1 with
/// λ1 − 2/η < 0, the predicted return the first t ≥ 1 with e₀ + y_t < 0; the cycle runs from
/// t = 0 to the later of the two (to the last row if neither happens). The one place this rule
/// lives: [`agreement`] and [`calibrated`] both use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstCycle {
    pub measured_return: Option<usize>,
    pub predicted_return: Option<usize>,
    /// Last t of the cycle (the later return).
    pub end: usize,
    /// The earlier return (the last row's t if neither happens).
    pub first_return: usize,
}

impl FirstCycle {
    /// The cycle of an anchor's rows (ordered by t), with the predicted excess of the rows.
    pub fn of_rows(rows: &[&TheoryRow]) -> Self {
        let predicted_return = rows
            .iter()
            .find(|r| r.t >= 1 && r.excess_predicted.is_some_and(|e| e < 0.0))
            .map(|r| r.t);
        let last_t = rows.last().map_or(0, |r| r.t);
        Self::from_returns(measured_return(rows), predicted_return, last_t)
    }

    /// The cycle from the two returns (None = no return seen up to `last_t`).
    pub fn from_returns(
        measured_return: Option<usize>,
        predicted_return: Option<usize>,
        last_t: usize,
    ) -> Self {
        let (end, first_return) = match (measured_return, predicted_return) {
            (Some(a), Some(b)) => (a.max(b), a.min(b)),
            (Some(a), None) | (None, Some(a)) => (a, a),
            (None, None) => (last_t, last_t),
        };
        FirstCycle {
            measured_return,
            predicted_return,
            end,
            first_return,
        }
    }
}

/// First t ≥ 1 of an anchor's rows with λ1 − 2/η < 0 (the measured return below 2/η).
pub fn measured_return(rows: &[&TheoryRow]) -> Option<usize> {
    rows.iter()
        .find(|r| r.t >= 1 && r.lambda1_minus_threshold < 0.0)
        .map(|r| r.t)
}

/// Agreement of prediction and measurement over an anchor's first cycle (module docs).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// First t ≥ 1 with λ1 − 2/η < 0 (measured) / e₀ + y_t < 0 (predicted).
    pub measured_return: Option<usize>,
    pub predicted_return: Option<usize>,
    /// Last t of the first cycle used below.
    pub cycle_end: usize,
    /// Pearson correlation of e₀ + y_predicted with the measured λ1 − 2/η.
    pub corr_excess: Option<f64>,
    /// The same correlation over t = 0 ..= the earlier of the two returns (before the map's
    /// overshoot below 2/η, which can be large and would dominate the Pearson figure).
    pub corr_excess_to_first_return: Option<f64>,
    /// Pearson correlation of y_predicted with y_measured.
    pub corr_y: Option<f64>,
    pub delta: f64,
    /// Peak |x_t| measured (and its t), and predicted.
    pub measured_peak_abs_x: f64,
    pub measured_peak_abs_x_t: usize,
    pub predicted_peak_abs_x: Option<f64>,
    /// Peak of the measured λ1 − 2/η, its t, and |x_t| there (the theory puts |x| = δ there).
    pub measured_peak_excess: f64,
    pub measured_peak_excess_t: usize,
    pub abs_x_at_measured_peak_excess: f64,
    pub predicted_peak_excess: Option<f64>,
    pub predicted_peak_excess_t: Option<usize>,
    /// Among the steps of the first cycle with λ1 > 2/η (t ≥ 1), the fraction on which the
    /// centred x̃ = x − x* changed sign.
    pub x_sign_alternation: Option<f64>,
    /// First t from which the measured x_t alternates in sign on every step up to the peak
    /// |x_t| (before it, the drift of uᵀ(θ_t − θ₀) hides the small oscillation).
    pub x_alternating_from: Option<usize>,
    /// |x̃| at the measured sharpness peak over |x̃₀| = |x*|.
    pub x_growth: Option<f64>,
    /// Peak loss change over the cycle, and x²/η at the |x| peak (Shapira §4.2, stage 2).
    pub peak_loss_change: f64,
    pub peak_x_sq_over_lr: f64,
    /// The map restarted from an x̃₀ fitted to the measured oscillation (see [`Calibrated`]).
    pub calibrated: Option<Calibrated>,
}

/// How much of the disagreement is the initial condition: x̃₀ = |x*| is tiny (1e-9 here) and
/// real runs seed the instability from elsewhere too (round-off, the rotation of u), so the
/// time the oscillation takes to grow is the weakest part of the prediction. This re-runs the
/// map from the x̃₀ that its own linear growth takes to the measured |x̃_T| at the first step T
/// where the measured x̃ alternates in sign and reaches δ/10 (β x̃²/2 ≤ α/100 up to there, so
/// the growth is the linear one), and compares the rest of the cycle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibrated {
    pub fit_t: usize,
    /// |x̃_T| measured, and the map's gain ∏_{s<T} |1 + η(e₀ + y_s)| from 0 to T.
    pub x_fit: f64,
    pub gain: f64,
    /// The fitted x̃₀ = x_fit / gain, and the measured one |x*|.
    pub x0_fitted: f64,
    pub x0_measured: f64,
    pub predicted_return: Option<usize>,
    pub predicted_peak_excess: Option<f64>,
    pub predicted_peak_excess_t: Option<usize>,
    pub predicted_peak_abs_x: Option<f64>,
    /// Pearson correlation of the re-run e₀ + y_t with the measured λ1 − 2/η over the rows up
    /// to the later of the two returns.
    pub corr_excess: Option<f64>,
}

/// See [`Calibrated`]. None when the measured x̃ never alternates at δ/10 or δ is undefined.
pub fn calibrated(info: &AnchorInfo, rows: &[&TheoryRow]) -> Option<Calibrated> {
    if !(info.delta.is_finite() && info.delta > 0.0 && info.alpha > 0.0) {
        return None;
    }
    let level = 0.1 * info.delta;
    let xc = info.x_center;
    let fit = rows.windows(2).find_map(|w| {
        let (a, b) = (w[0].x_measured - xc, w[1].x_measured - xc);
        (w[1].t == w[0].t + 1 && a * b < 0.0 && b.abs() >= level).then_some((w[1].t, b.abs()))
    })?;
    let (fit_t, x_fit) = fit;
    // Linear growth of the map from x̃ = 1 (y follows η α per step while x̃ is small).
    let mut gain = 1.0f64;
    let mut y = 0.0f64;
    for _ in 0..fit_t {
        gain *= (1.0 + info.lr * (info.excess0 + y)).abs();
        y += info.lr * info.alpha;
    }
    if !(gain.is_finite() && gain > 0.0) {
        return None;
    }
    let x0 = x_fit / gain;
    let last_t = rows.last().map_or(0, |r| r.t);
    let (mut x, mut y) = (x0, 0.0f64);
    let mut excess = Vec::with_capacity(last_t + 1);
    let mut peak_x: Option<f64> = None;
    for _ in 0..=last_t {
        excess.push(info.excess0 + y);
        peak_x = Some(peak_x.map_or(x.abs(), |p: f64| p.max(x.abs())));
        let (nx, ny) = predicted_step(info.lr, info.alpha, info.beta, info.excess0, x, y);
        if !(nx.is_finite() && ny.is_finite() && nx.abs() <= 1e8 && ny.abs() <= 1e8) {
            break;
        }
        (x, y) = (nx, ny);
    }
    // The re-run's return counts over all its steps (it may outlive the rows).
    let predicted_return = (1..excess.len()).find(|&t| excess[t] < 0.0);
    let end = FirstCycle::from_returns(measured_return(rows), predicted_return, last_t).end;
    let peak = excess
        .iter()
        .enumerate()
        .take(end + 1)
        .max_by(|a, b| a.1.total_cmp(b.1));
    let pairs: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.t <= end)
        .filter_map(|r| Some((*excess.get(r.t)?, r.lambda1_minus_threshold)))
        .collect();
    Some(Calibrated {
        fit_t,
        x_fit,
        gain,
        x0_fitted: x0,
        x0_measured: xc.abs(),
        predicted_return,
        predicted_peak_excess: peak.map(|p| *p.1),
        predicted_peak_excess_t: peak.map(|p| p.0),
        predicted_peak_abs_x: peak_x,
        corr_excess: pearson(
            &pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
            &pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
        ),
    })
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 3 {
        return None;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let mut sab = 0.0;
    let mut saa = 0.0;
    let mut sbb = 0.0;
    for i in 0..n {
        let da = a[i] - ma;
        let db = b[i] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    let r = sab / (saa * sbb).sqrt();
    r.is_finite().then_some(r)
}

/// The agreement figures of one anchor's rows (ordered by t).
pub fn agreement(info: &AnchorInfo, rows: &[&TheoryRow]) -> Option<Agreement> {
    if rows.is_empty() {
        return None;
    }
    let cycle = FirstCycle::of_rows(rows);
    let cycle_end = cycle.end;
    let cyc: Vec<&TheoryRow> = rows.iter().copied().filter(|r| r.t <= cycle_end).collect();
    let both: Vec<(f64, f64, f64, f64)> = cyc
        .iter()
        .filter_map(|r| {
            Some((
                r.excess_predicted?,
                r.lambda1_minus_threshold,
                r.y_predicted?,
                r.y_measured,
            ))
        })
        .collect();
    let both_to_return: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.t <= cycle.first_return)
        .filter_map(|r| Some((r.excess_predicted?, r.lambda1_minus_threshold)))
        .collect();
    let pe: Vec<f64> = both.iter().map(|v| v.0).collect();
    let me: Vec<f64> = both.iter().map(|v| v.1).collect();
    let py: Vec<f64> = both.iter().map(|v| v.2).collect();
    let my: Vec<f64> = both.iter().map(|v| v.3).collect();
    let argmax = |f: &dyn Fn(&TheoryRow) -> f64| {
        cyc.iter()
            .copied()
            .max_by(|a, b| f(a).total_cmp(&f(b)))
            .map(|r| (r.t, f(r), r.x_measured))
    };
    let (px_t, px, _) = argmax(&|r| r.x_measured.abs())?;
    let (pe_t, pe_v, x_at_pe) = argmax(&|r| r.lambda1_minus_threshold)?;
    let pred_peak_x = cyc
        .iter()
        .filter_map(|r| r.x_predicted.map(f64::abs))
        .reduce(f64::max);
    let pred_peak = cyc
        .iter()
        .filter_map(|r| r.excess_predicted.map(|e| (r.t, e)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let xc = info.x_center;
    let mut flips = 0usize;
    let mut above = 0usize;
    for w in cyc.windows(2) {
        if w[1].lambda1_minus_threshold > 0.0 {
            above += 1;
            let a = w[0].x_measured - xc;
            let b = w[1].x_measured - xc;
            if a * b < 0.0 {
                flips += 1;
            }
        }
    }
    let mut x_alternating_from = None;
    for r in cyc.iter().rev().filter(|r| r.t <= px_t) {
        match x_alternating_from {
            None => x_alternating_from = Some((r.t, r.x_measured)),
            Some((_, next)) if next * r.x_measured < 0.0 => {
                x_alternating_from = Some((r.t, r.x_measured))
            }
            Some(_) => break,
        }
    }
    let x_growth = (xc != 0.0).then(|| (x_at_pe - xc).abs() / xc.abs());
    let peak_loss_change = cyc
        .iter()
        .map(|r| r.loss_change)
        .fold(f64::NEG_INFINITY, f64::max);
    Some(Agreement {
        measured_return: cycle.measured_return,
        predicted_return: cycle.predicted_return,
        cycle_end,
        corr_excess: pearson(&pe, &me),
        corr_excess_to_first_return: pearson(
            &both_to_return.iter().map(|v| v.0).collect::<Vec<_>>(),
            &both_to_return.iter().map(|v| v.1).collect::<Vec<_>>(),
        ),
        corr_y: pearson(&py, &my),
        delta: info.delta,
        measured_peak_abs_x: px,
        measured_peak_abs_x_t: px_t,
        predicted_peak_abs_x: pred_peak_x,
        measured_peak_excess: pe_v,
        measured_peak_excess_t: pe_t,
        abs_x_at_measured_peak_excess: x_at_pe.abs(),
        predicted_peak_excess: pred_peak.map(|p| p.1),
        predicted_peak_excess_t: pred_peak.map(|p| p.0),
        x_sign_alternation: (above > 0).then(|| flips as f64 / above as f64),
        x_alternating_from: x_alternating_from.map(|v| v.0),
        x_growth,
        peak_loss_change,
        peak_x_sq_over_lr: px * px / info.lr,
        calibrated: calibrated(info, rows),
    })
}
