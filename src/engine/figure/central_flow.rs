//! The central flow's layers and figures (Cohen et al. 2025), as data: its predicted
//! time-averaged loss on the loss figure, its top eigenvalues on the sharpness figure (both in
//! `training.rs`, from [`TrainingView::central_flow`](super::training::TrainingView)), and two
//! figures of their own: the distances of GD from the central flow and from gradient flow,
//! and the predicted oscillation variance σ²₁ against GD's measured squared displacement from
//! the flow along Σ's top eigenvector.

use super::{Dash, Figure, Layer, Role};
use crate::engine::central_flow::CentralFlowRow;
use crate::engine::central_flow::probe::EIG_COLUMNS;

/// Legend names (the app's tests and the exporter's find the layers by them).
pub const PREDICTED_LOSS_NAME: &str = "predicted time-averaged loss (central flow)";
pub const DIST_CF_NAME: &str = "‖w_GD − w_CF‖ (central flow)";
pub const DIST_GF_NAME: &str = "‖w_GD − w_GF‖ (gradient flow)";
pub const SIGMA2_NAME: &str = "σ²₁ predicted (central flow)";
pub const DISP2_NAME: &str = "((w_GD − w_CF)·v₁)² measured";

/// The central flow's series, (step, value) each, as the figures draw them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CentralFlowSeries {
    pub predicted_loss: Vec<[f64; 2]>,
    /// λ1, λ2, … of the flow (at most [`EIG_COLUMNS`]), each over the steps where it was
    /// tracked.
    pub eigs: Vec<Vec<[f64; 2]>>,
    pub dist_cf: Vec<[f64; 2]>,
    pub dist_gf: Vec<[f64; 2]>,
    /// σ²₁ at the steps with k ≥ 1.
    pub sigma2: Vec<[f64; 2]>,
    /// The measured squared displacement along Σ's top eigenvector at each step with k ≥ 1.
    pub disp2: Vec<[f64; 2]>,
    /// Its mean over the trailing window.
    pub disp2_mean: Vec<[f64; 2]>,
    /// The window (steps) of `disp2_mean`.
    pub window: usize,
}

impl CentralFlowSeries {
    pub fn new(window: usize) -> Self {
        CentralFlowSeries {
            window,
            ..Default::default()
        }
    }

    /// The series of `rows`, averaged over `window` steps.
    pub fn from_rows(rows: &[CentralFlowRow], window: usize) -> Self {
        let mut s = CentralFlowSeries::new(window);
        for r in rows {
            s.push(r);
        }
        s
    }

    pub fn push(&mut self, r: &CentralFlowRow) {
        let x = r.step as f64;
        self.predicted_loss.push([x, r.cf_predicted_loss]);
        for (i, l) in r.cf_eigenvalues.iter().take(EIG_COLUMNS).enumerate() {
            if self.eigs.len() <= i {
                self.eigs.push(Vec::new());
            }
            self.eigs[i].push([x, *l]);
        }
        self.dist_cf.push([x, r.dist_gd_cf]);
        self.dist_gf.push([x, r.dist_gd_gf]);
        if let Some(s) = r.sigma2.first() {
            self.sigma2.push([x, *s]);
        }
        if let Some(d) = r.disp2_top {
            self.disp2.push([x, d]);
        }
        if let Some(d) = r.disp2_top_mean {
            self.disp2_mean.push([x, d]);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.dist_cf.is_empty()
    }
}

/// The loss figure's layer: the predicted time-averaged loss, a smooth line through GD's
/// oscillating loss.
pub fn loss_layer(s: &CentralFlowSeries) -> Layer {
    Layer::line(
        PREDICTED_LOSS_NAME,
        Role::CentralFlow,
        s.predicted_loss.clone(),
    )
    .with_width(2.2)
}

/// The sharpness figure's layers: the flow's tracked eigenvalues (held at 2/η during the
/// edge of stability).
pub fn sharpness_layers(s: &CentralFlowSeries) -> Vec<Layer> {
    s.eigs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let l = Layer::line(
                format!("λ{} central flow", i + 1),
                Role::CentralFlow,
                e.clone(),
            );
            if i == 0 {
                l.with_width(2.2)
            } else {
                l.with_dash(Dash::Dashed(4.0)).with_width(1.2)
            }
        })
        .collect()
}

/// ‖w_GD − w_CF‖ and ‖w_GD − w_GF‖ over the steps: the central flow should stay close to GD
/// while gradient flow drifts away.
pub fn distance(s: &CentralFlowSeries) -> Figure {
    let mut f = Figure::new(
        "distance",
        "Distance of GD from the flows",
        "step",
        "‖w_GD − w‖",
    );
    f.include_y = vec![0.0];
    f.push(Layer::line(DIST_GF_NAME, Role::Flow, s.dist_gf.clone()));
    f.push(Layer::line(DIST_CF_NAME, Role::CentralFlow, s.dist_cf.clone()).with_width(2.2));
    f
}

/// The predicted oscillation variance σ²₁ against GD's measured squared displacement from the
/// flow along Σ's top eigenvector (each step, and its trailing mean).
pub fn sigma2(s: &CentralFlowSeries) -> Figure {
    let mut f = Figure::new("sigma2", "Oscillation variance σ²₁", "step", "variance");
    f.include_y = vec![0.0];
    f.push(Layer::points(DISP2_NAME, Role::Measured, s.disp2.clone()).with_width(1.5));
    f.push(
        Layer::line(
            format!("{DISP2_NAME}, mean over {} steps", s.window),
            Role::Measured,
            s.disp2_mean.clone(),
        )
        .with_width(1.5),
    );
    f.push(Layer::line(SIGMA2_NAME, Role::CentralFlow, s.sigma2.clone()).with_width(2.2));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_series_and_figures() {
        let row = |step: usize, k: usize| CentralFlowRow {
            step,
            gd_loss: 1.0,
            gd_lambda1: None,
            cf_loss: 0.9,
            cf_predicted_loss: 0.95,
            gf_loss: 0.9,
            cf_eigenvalues: vec![3.0, 2.0],
            k,
            sigma2: vec![0.1; k],
            dist_gd_cf: 0.1,
            dist_gd_gf: 0.2,
            disp2_top: (k > 0).then_some(0.2),
            disp2_top_mean: (k > 0).then_some(0.15),
            hvps: 1,
            seconds: 0.0,
        };
        let s = CentralFlowSeries::from_rows(&[row(0, 0), row(1, 1), row(2, 1)], 10);
        assert_eq!(s.eigs.len(), 2);
        assert_eq!(s.sigma2, vec![[1.0, 0.1], [2.0, 0.1]]);
        assert_eq!(s.predicted_loss.len(), 3);
        assert_eq!(sharpness_layers(&s).len(), 2);
        let d = distance(&s);
        assert_eq!(d.legend().len(), 2);
        let v = sigma2(&s);
        assert!(
            v.legend()
                .iter()
                .any(|(n, _)| n.contains("mean over 10 steps"))
        );
        assert!(!v.is_empty());
    }
}
