//! The measurement at an anchor θ₀: u, ∇S, ∇S⊥, α, β, δ and the oscillation centre x*.

use serde::Serialize;

use super::derivatives::{Derivatives, dot, norm};
use super::eigen::{sharpness_gradient, top_eigen};
use super::options::TheoryOptions;
use crate::engine::theory::TheoryError;

/// The scalar figures of one anchor (serialised into `theory_summary.json`).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct AnchorInfo {
    pub index: usize,
    pub step: usize,
    pub lr: f64,
    pub threshold: f64,
    /// λ1(θ₀) and λ2(θ₀).
    pub lambda1: f64,
    pub lambda2: Option<f64>,
    /// e₀ = λ1(θ₀) − 2/η.
    pub excess0: f64,
    /// The previous probed (step, λ1) before a crossing anchor, if any.
    pub lambda1_before: Option<(usize, f64)>,
    /// Whether λ1 was seen below 2/η before this anchor (a genuine crossing from below).
    pub crossed_from_below: bool,
    pub u_residual: f64,
    pub loss: f64,
    pub grad_norm: f64,
    /// g_u = uᵀ∇L(θ₀).
    pub grad_u: f64,
    /// x* = −g_u/λ1: centre of the period-2 oscillation along u.
    pub x_center: f64,
    pub alpha: f64,
    /// −∇L·∇S with the full ∇S (Shapira, Assumption 2).
    pub alpha_full: f64,
    pub beta: f64,
    pub delta: f64,
    pub grad_s_norm: f64,
    /// uᵀ∇S.
    pub grad_s_u: f64,
    pub fd_eps: f64,
    pub fd_rel_change: f64,
}

/// The vectors of one anchor (kept in memory, not serialised).
#[derive(Clone, Debug)]
pub struct AnchorVectors {
    pub theta0: Vec<f64>,
    pub u: Vec<f64>,
    pub grad_s: Vec<f64>,
    pub grad_s_perp: Vec<f64>,
    pub grad: Vec<f64>,
}

/// Everything measured at one θ₀.
#[derive(Clone, Debug)]
pub struct AnchorMeasurement {
    pub info: AnchorInfo,
    pub vectors: AnchorVectors,
}

/// Measure u, ∇S, ∇S⊥, α, β, δ, x* at `theta0` (a GD iterate with learning rate `lr`).
pub fn measure_anchor<D: Derivatives>(
    d: &mut D,
    theta0: &[f64],
    lr: f64,
    threshold: f64,
    opts: &TheoryOptions,
    warm: &[Vec<f64>],
) -> Result<AnchorMeasurement, TheoryError> {
    let eig = top_eigen(
        d,
        theta0,
        2,
        opts.anchor_tol,
        opts.anchor_max_iter,
        opts.seed,
        warm,
        true,
    )?;
    let (loss, grad) = d.loss_grad(theta0)?;
    let u = eig.u;
    let gs = sharpness_gradient(d, theta0, &u, opts.eps)?;
    let grad_s_u = dot(&gs.grad, &u);
    let perp: Vec<f64> = gs
        .grad
        .iter()
        .zip(&u)
        .map(|(g, x)| g - grad_s_u * x)
        .collect();
    let alpha = -dot(&grad, &perp);
    let alpha_full = -dot(&grad, &gs.grad);
    let beta = dot(&perp, &perp);
    let delta = if alpha > 0.0 && beta > 0.0 {
        (2.0 * alpha / beta).sqrt()
    } else {
        f64::NAN
    };
    let lambda1 = eig.eigenvalues[0];
    let grad_u = dot(&grad, &u);
    let x_center = if lambda1 != 0.0 {
        -grad_u / lambda1
    } else {
        0.0
    };
    Ok(AnchorMeasurement {
        info: AnchorInfo {
            index: 0,
            step: 0,
            lr,
            threshold,
            lambda1,
            lambda2: eig.eigenvalues.get(1).copied(),
            excess0: lambda1 - threshold,
            lambda1_before: None,
            crossed_from_below: false,
            u_residual: eig.residual,
            loss,
            grad_norm: norm(&grad),
            grad_u,
            x_center,
            alpha,
            alpha_full,
            beta,
            delta,
            grad_s_norm: norm(&gs.grad),
            grad_s_u,
            fd_eps: gs.eps,
            fd_rel_change: gs.rel_change,
        },
        vectors: AnchorVectors {
            theta0: theta0.to_vec(),
            u,
            grad_s: gs.grad,
            grad_s_perp: perp,
            grad,
        },
    })
}
