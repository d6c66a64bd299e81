//! Damian et al.'s self-stabilization quantities measured along a real gradient-descent run,
//! with the predicted dynamics of the seed's Definition 4.1 stepped alongside (GitHub issue 5).
//!
//! # What is measured
//!
//! * **Anchor θ₀.** The first iterate at which the top Hessian eigenvalue λ1 reaches the
//!   threshold 2/η. No interpolation between iterates: θ₀ must be a GD iterate so that the
//!   following iterates θ_1, θ_2, … are exactly the steps the map of Definition 4.1 models.
//!   The overshoot e₀ = λ1(θ₀) − 2/η is therefore in [0, one step of sharpening ≈ ηα) and is
//!   reported (and used, see below).
//! * **u** = top eigenvector of ∇²L(θ₀) by Lanczos in f64 with a tight tolerance (k = 2, so λ2
//!   and the eigengap of Assumption 1 are reported too), with its residual ‖Hu − λ1 u‖.
//! * **∇S(θ₀) = ∇³L(θ₀)[u, u]** (seed Lemma 2), by central differences of exact HVPs along u,
//!   D(ε) = (H(θ₀+εu)u − H(θ₀−εu)u)/(2ε), Richardson-extrapolated:
//!   ∇S ≈ (4 D(ε/2) − D(ε))/3 (error O(ε⁴) instead of O(ε²)). The step is
//!   ε = 1e-3 · max(1, ‖θ₀‖/√p) in f64 (u is a unit vector, so ε is a parameter-space distance;
//!   ‖θ‖/√p is the typical size of one weight). With Richardson the round-off error
//!   ~ u_mach‖Hu‖/ε and the truncation error ~ ε⁴ balance near ε ≈ u_mach^{1/5} ≈ 1e-3; the test
//!   `tests/theory_measured.rs` checks the result against finite differences of the dense λ1 to
//!   1e-5 relative, and every anchor reports ‖D(ε) − D(ε/2)‖/‖D(ε/2)‖ as a quality figure.
//!   For f32 derivatives (not used by the CLI, which probes in f64) ε is 30× larger.
//! * ∇S⊥ = ∇S − u(uᵀ∇S), **α = −∇L(θ₀)·∇S⊥** (the rate of y in the derivation of Eq. (2);
//!   the seed's Assumption 2 uses the full ∇S, reported as `alpha_full`), **β = ‖∇S⊥‖²**,
//!   **δ = √(2α/β)** (NaN unless α > 0).
//! * Along the following iterates: x_t = uᵀ(θ_t − θ₀), y_t = ∇S⊥ᵀ(θ_t − θ₀), λ1(θ_t) − 2/η
//!   (Lanczos in f64 at every tracked step, warm-started) and L(θ_t) − L(θ₀).
//!
//! # The prediction and its initial condition
//!
//! x_t is 0 at t = 0 by definition, and the map of Definition 4.1 keeps x ≡ 0 from x₀ = 0, so
//! the prediction cannot start from the measured x₀. The seed's Assumption 3
//! (uᵀ∇L(θ₀) = 0) fails on real runs: with g_u = uᵀ∇L(θ₀) ≠ 0 the GD step along u is
//! x_{t+1} = (1 − ηλ1) x_t − η g_u, a period-2 oscillation about the centre
//! x* = −g_u/λ1 (= −η g_u/2 at λ1 = 2/η) — the point the seed's relaxation of Assumption 3
//! expands about ("the projection of θ₀ onto {∇L·u = 0}"). So the prediction runs the map on
//! the **centred** coordinate x̃ = x − x*, started from x̃₀ = −x* = g_u/λ1, and reports
//! x_predicted = x* + x̃_t, which equals the measured x at t = 0 (both 0) and, to first order,
//! at t = 1 (x₁ = −η g_u). y starts at y₀ = 0 as in Definition 4.1 (y_t is a displacement from
//! θ₀, 0 there by definition). Because θ₀ overshoots 2/η by e₀, the x-factor uses the actual
//! sharpness excess: x̃_{t+1} = −(1 + η(e₀ + y_t)) x̃_t, y_{t+1} = y_t + η(α − β x̃_t²/2); this is
//! the seed's derivation of Eq. (3) without assuming S(θ₀) = 2/η exactly, and is Definition 4.1
//! when e₀ = 0. The predicted sharpness excess S(θ_t) − 2/η is e₀ + y_t (`excess_predicted`).
//!
//! # Re-anchoring
//!
//! With `reanchor_every = K > 0` a new anchor (θ₀, u, ∇S, α, β, x*) is taken every K tracked
//! steps at the current iterate (whatever its λ1; e₀ may then be negative) and the prediction
//! restarts there. `t` counts steps since the current anchor.
//!
//! # Agreement figures (per anchor, over its first cycle)
//!
//! The measured return is the first t ≥ 1 with λ1 − 2/η < 0, the predicted return the first
//! t ≥ 1 with e₀ + y_t < 0; the first cycle is t = 0 ..= the later of the two (all rows if
//! neither happens). Over it: the Pearson correlation of the predicted excess e₀ + y_t with the
//! measured λ1 − 2/η (and of predicted y with measured y), δ against the peak |x_t| measured (and
//! |x_t| at the step of the measured sharpness peak, where the theory puts |x| = δ), and the
//! fraction of steps with λ1 > 2/η on which the centred x̃ changed sign.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::TheoryError;
use crate::engine::Float;
use crate::engine::error::EngineError;
use crate::engine::export::{CsvWriter, write_json};
use crate::engine::lanczos::{LanczosOptions, lanczos};
use crate::engine::network::Evaluator;
use crate::engine::session::{Observer, Session, StepRecord, StopReason};

/// Loss, gradient and exact HVPs at arbitrary parameters (f64 vectors whatever the arithmetic).
pub trait Derivatives {
    fn dim(&self) -> usize;
    fn loss_grad(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), TheoryError>;
    fn hvp(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError>;
    /// Unit round-off of the arithmetic (picks the finite-difference step).
    fn unit_roundoff(&self) -> f64;
}

fn check_len(what: &str, got: usize, want: usize) -> Result<(), TheoryError> {
    if got == want {
        Ok(())
    } else {
        Err(TheoryError::Shape(format!(
            "{what} has {got} entries, the network has {want} parameters"
        )))
    }
}

impl<T: Float> Derivatives for Evaluator<T> {
    fn dim(&self) -> usize {
        self.num_params()
    }
    fn loss_grad(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), TheoryError> {
        check_len("the parameter vector", params.len(), self.num_params())?;
        let p: Vec<T> = params.iter().map(|x| T::of(*x)).collect();
        let mut g = vec![T::zero(); p.len()];
        let s = Evaluator::loss_grad(self, &p, &mut g);
        Ok((s.loss, g.iter().map(|x| x.f64()).collect()))
    }
    fn hvp(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError> {
        check_len("the parameter vector", params.len(), self.num_params())?;
        check_len("the direction", v.len(), self.num_params())?;
        let p: Vec<T> = params.iter().map(|x| T::of(*x)).collect();
        let vt: Vec<T> = v.iter().map(|x| T::of(*x)).collect();
        let mut out = vec![T::zero(); p.len()];
        Evaluator::hvp(self, &p, &vt, &mut out);
        Ok(out.iter().map(|x| x.f64()).collect())
    }
    fn unit_roundoff(&self) -> f64 {
        T::epsilon().f64() / 2.0
    }
}

impl Derivatives for Session {
    fn dim(&self) -> usize {
        self.num_params()
    }
    fn loss_grad(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), TheoryError> {
        self.loss_grad_at(params)
            .map_err(|e| TheoryError::Shape(e.to_string()))
    }
    fn hvp(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError> {
        self.hvp_at(params, v)
            .map_err(|e| TheoryError::Shape(e.to_string()))
    }
    fn unit_roundoff(&self) -> f64 {
        match self.precision() {
            crate::engine::Precision::F32 => f32::EPSILON as f64 / 2.0,
            crate::engine::Precision::F64 => f64::EPSILON / 2.0,
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// Top eigenpairs of ∇²L(params).
#[derive(Clone, Debug)]
pub struct TopEigen {
    /// Largest first (k values).
    pub eigenvalues: Vec<f64>,
    /// Unit top eigenvector.
    pub u: Vec<f64>,
    /// ‖H u − λ1 u‖ recomputed with one extra HVP (0 when not recomputed).
    pub residual: f64,
    pub matvecs: usize,
    /// All Ritz vectors (for warm starts).
    pub ritz: Vec<Vec<f64>>,
}

/// Lanczos for the top `k` (1 or 2) eigenpairs on the exact HVPs at `params`.
#[allow(clippy::too_many_arguments)]
pub fn top_eigen<D: Derivatives>(
    d: &mut D,
    params: &[f64],
    k: usize,
    tol: f64,
    max_iter: usize,
    seed: u64,
    warm: &[Vec<f64>],
    check_residual: bool,
) -> Result<TopEigen, TheoryError> {
    let p = d.dim();
    check_len("the parameter vector", params.len(), p)?;
    if p == 0 {
        return Err(TheoryError::Shape("the network has no parameters".into()));
    }
    let opts = LanczosOptions {
        k: k.clamp(1, 2).min(p),
        max_iter: max_iter.min(p).max(1),
        min_iter: 1,
        tol,
        seed,
    };
    let mut err = None;
    let r = lanczos(
        p,
        |v, out| match d.hvp(params, v) {
            Ok(h) => out.copy_from_slice(&h),
            Err(e) => {
                out.iter_mut().for_each(|o| *o = f64::NAN);
                err = Some(e);
            }
        },
        &opts,
        warm,
    );
    if let Some(e) = err {
        return Err(e);
    }
    let (Some(&l1), Some(u)) = (r.eigenvalues.first(), r.eigenvectors.first()) else {
        return Err(TheoryError::Shape("Lanczos returned no eigenpair".into()));
    };
    let u = u.clone();
    let mut residual = 0.0;
    let mut matvecs = r.matvecs;
    if check_residual {
        let hu = d.hvp(params, &u)?;
        matvecs += 1;
        residual = hu
            .iter()
            .zip(&u)
            .map(|(h, x)| (h - l1 * x).powi(2))
            .sum::<f64>()
            .sqrt();
    }
    Ok(TopEigen {
        eigenvalues: r.eigenvalues,
        u,
        residual,
        matvecs,
        ritz: r.eigenvectors,
    })
}

/// ∇S(θ) = ∇³L(θ)[u, u] by finite differences of exact HVPs.
#[derive(Clone, Debug)]
pub struct SharpnessGradient {
    pub grad: Vec<f64>,
    /// The step ε used (the half step ε/2 enters the Richardson combination).
    pub eps: f64,
    /// ‖D(ε) − D(ε/2)‖ / ‖D(ε/2)‖: an upper estimate of the relative error of D(ε/2) alone.
    pub rel_change: f64,
}

/// The default finite-difference step for ∇S (see the module docs).
pub fn default_fd_step(unit_roundoff: f64, params: &[f64]) -> f64 {
    let scale = if params.is_empty() {
        1.0
    } else {
        (norm(params) / (params.len() as f64).sqrt()).max(1.0)
    };
    let base = if unit_roundoff > 1e-10 { 3e-2 } else { 1e-3 };
    base * scale
}

/// Central difference D(ε) = (H(θ+εu)u − H(θ−εu)u)/(2ε).
fn central_hvp_difference<D: Derivatives>(
    d: &mut D,
    params: &[f64],
    u: &[f64],
    eps: f64,
) -> Result<Vec<f64>, TheoryError> {
    let plus: Vec<f64> = params.iter().zip(u).map(|(p, x)| p + eps * x).collect();
    let minus: Vec<f64> = params.iter().zip(u).map(|(p, x)| p - eps * x).collect();
    let hp = d.hvp(&plus, u)?;
    let hm = d.hvp(&minus, u)?;
    Ok(hp
        .iter()
        .zip(&hm)
        .map(|(a, b)| (a - b) / (2.0 * eps))
        .collect())
}

/// ∇S(θ) = ∇³L(θ)[u, u] (seed Lemma 2) for a unit top eigenvector u: Richardson-extrapolated
/// central differences of exact HVPs along u. `eps = None` picks [`default_fd_step`].
pub fn sharpness_gradient<D: Derivatives>(
    d: &mut D,
    params: &[f64],
    u: &[f64],
    eps: Option<f64>,
) -> Result<SharpnessGradient, TheoryError> {
    let p = d.dim();
    check_len("the parameter vector", params.len(), p)?;
    check_len("the eigenvector", u.len(), p)?;
    let eps = eps.unwrap_or_else(|| default_fd_step(d.unit_roundoff(), params));
    if !(eps.is_finite() && eps > 0.0) {
        return Err(TheoryError::invalid(
            "eps",
            eps,
            "the finite-difference step must be a finite number > 0",
        ));
    }
    let d1 = central_hvp_difference(d, params, u, eps)?;
    let d2 = central_hvp_difference(d, params, u, eps / 2.0)?;
    let diff: Vec<f64> = d1.iter().zip(&d2).map(|(a, b)| a - b).collect();
    let rel_change = norm(&diff) / norm(&d2).max(1e-300);
    let grad = d1
        .iter()
        .zip(&d2)
        .map(|(a, b)| (4.0 * b - a) / 3.0)
        .collect();
    Ok(SharpnessGradient {
        grad,
        eps,
        rel_change,
    })
}

/// How the tracker works.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TheoryOptions {
    /// Steps tracked after the first crossing (rows t = 0 .. window−1 over all anchors).
    pub window: usize,
    /// Re-anchor every this many tracked steps (0 = never).
    pub reanchor_every: usize,
    /// Finite-difference step for ∇S (None = [`default_fd_step`]).
    pub eps: Option<f64>,
    /// Lanczos tolerance and iteration cap at an anchor.
    pub anchor_tol: f64,
    pub anchor_max_iter: usize,
    /// Lanczos tolerance and iteration cap of the per-step λ1 probes.
    pub probe_tol: f64,
    pub probe_max_iter: usize,
    /// While searching, probe every step once the last known λ1 ≥ this fraction of 2/η.
    /// 0.97 leaves 3 % of 2/η between the last record below it and the crossing: on
    /// cohen-fig1 (λ1 every 20 steps, rising 1.3 between records near 2/η = 100) that is
    /// 2.3× the rise between two records; with 0.9 (and a probe every 10 steps between
    /// records) the f64 probes before the crossing numbered 201, now the steps from the first
    /// record ≥ 97 (step 1040) to the crossing.
    pub near_fraction: f64,
    /// While searching and far from 2/η with no λ1 in the records, probe every this many steps.
    pub far_probe_every: usize,
    /// The prediction counts as blown up beyond this |x| or |y|.
    pub blowup: f64,
    pub seed: u64,
}

impl Default for TheoryOptions {
    fn default() -> Self {
        TheoryOptions {
            window: 300,
            reanchor_every: 0,
            eps: None,
            anchor_tol: 1e-12,
            anchor_max_iter: 300,
            probe_tol: 1e-6,
            probe_max_iter: 200,
            near_fraction: 0.97,
            far_probe_every: 10,
            blowup: 1e8,
            seed: 0,
        }
    }
}

impl TheoryOptions {
    pub fn check(&self) -> Result<(), TheoryError> {
        if self.window == 0 {
            return Err(TheoryError::invalid("window", 0, "track at least 1 step"));
        }
        for (name, v) in [
            ("anchor_tol", self.anchor_tol),
            ("probe_tol", self.probe_tol),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(TheoryError::invalid(name, v, "must be a finite number ≥ 0"));
            }
        }
        if let Some(e) = self.eps
            && !(e.is_finite() && e > 0.0)
        {
            return Err(TheoryError::invalid(
                "eps",
                e,
                "the finite-difference step must be a finite number > 0",
            ));
        }
        if !(self.near_fraction.is_finite() && self.near_fraction > 0.0) {
            return Err(TheoryError::invalid(
                "near_fraction",
                self.near_fraction,
                "must be a finite number > 0",
            ));
        }
        if !(self.blowup.is_finite() && self.blowup > 0.0) {
            return Err(TheoryError::invalid(
                "blowup",
                self.blowup,
                "must be a finite number > 0",
            ));
        }
        Ok(())
    }
}

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
    /// −∇L·∇S with the full ∇S (seed Assumption 2).
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

/// One step of the predicted dynamics in the centred coordinate (module docs):
/// (x̃, y) ↦ (−(1 + η(e₀ + y)) x̃, y + η(α − β x̃²/2)). With e₀ = 0 this is Definition 4.1
/// (the same map as [`super::self_stab::CheckedSelfStab::map`]).
pub fn predicted_step(lr: f64, alpha: f64, beta: f64, excess0: f64, x: f64, y: f64) -> (f64, f64) {
    (
        -(1.0 + lr * (excess0 + y)) * x,
        y + lr * (alpha - beta * x * x / 2.0),
    )
}

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

/// Watches a run step by step: finds θ₀, measures, tracks and predicts.
pub struct MeasuredTracker<D: Derivatives> {
    d: D,
    opts: TheoryOptions,
    phase: Phase,
    last_known: Option<(usize, f64)>,
    seen_below: bool,
    warm: Vec<Vec<f64>>,
    anchors: Vec<AnchorMeasurement>,
    rows: Vec<TheoryRow>,
    pred: Option<Prediction>,
    first_anchor_step: usize,
    probes: usize,
    probe_matvecs: usize,
    /// Step of the last record that carried λ1, and the spacing of such records.
    last_record_step: Option<usize>,
    record_cadence: Option<usize>,
}

impl<D: Derivatives> MeasuredTracker<D> {
    pub fn new(d: D, opts: TheoryOptions) -> Result<Self, TheoryError> {
        opts.check()?;
        Ok(MeasuredTracker {
            d,
            opts,
            phase: Phase::Searching,
            last_known: None,
            seen_below: false,
            warm: Vec::new(),
            anchors: Vec::new(),
            rows: Vec::new(),
            pred: None,
            first_anchor_step: 0,
            probes: 0,
            probe_matvecs: 0,
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
    pub fn probe_stats(&self) -> (usize, usize) {
        (self.probes, self.probe_matvecs)
    }

    fn probe(&mut self, params: &[f64], step: usize) -> Result<f64, TheoryError> {
        let warm = std::mem::take(&mut self.warm);
        let e = top_eigen(
            &mut self.d,
            params,
            1,
            self.opts.probe_tol,
            self.opts.probe_max_iter,
            self.opts.seed ^ step as u64,
            &warm,
            false,
        )?;
        self.probes += 1;
        self.probe_matvecs += e.matvecs;
        self.warm = e.ritz;
        let l = e.eigenvalues[0];
        self.last_known = Some((step, l));
        Ok(l)
    }

    fn anchor(&mut self, s: &StepInput, before: Option<(usize, f64)>) -> Result<(), TheoryError> {
        let warm = self.warm.clone();
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
                let l = self.probe(s.params, s.step)?;
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
                let l = self.probe(s.params, s.step)?;
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
            probes: self.probes,
            probe_hvps: self.probe_matvecs,
            anchors,
            rows: self.rows.clone(),
        }
    }
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
    /// Peak loss change over the cycle, and x²/η at the |x| peak (seed §4.2, stage 2).
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
    let predicted_return = (1..excess.len()).find(|&t| excess[t] < 0.0);
    let measured_return = rows
        .iter()
        .find(|r| r.t >= 1 && r.lambda1_minus_threshold < 0.0)
        .map(|r| r.t);
    let end = match (measured_return, predicted_return) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => last_t,
    };
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
    let measured_return = rows
        .iter()
        .find(|r| r.t >= 1 && r.lambda1_minus_threshold < 0.0)
        .map(|r| r.t);
    let predicted_return = rows
        .iter()
        .find(|r| r.t >= 1 && r.excess_predicted.is_some_and(|e| e < 0.0))
        .map(|r| r.t);
    let last_t = rows.last().map(|r| r.t).unwrap_or(0);
    let cycle_end = match (measured_return, predicted_return) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => last_t,
    };
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
        .filter(|r| {
            let first = match (measured_return, predicted_return) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => last_t,
            };
            r.t <= first
        })
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
        measured_return,
        predicted_return,
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
    /// Per-step λ1 probes and the HVPs they used.
    pub probes: usize,
    pub probe_hvps: usize,
    pub anchors: Vec<AnchorReport>,
    /// The tracked rows (in `theory.csv`, not in the summary JSON).
    #[serde(skip)]
    pub rows: Vec<TheoryRow>,
}

impl TheoryReport {
    /// A few lines for a terminal.
    pub fn describe(&self) -> String {
        format!(
            "theory: {}\n{}",
            self.status,
            describe_anchors(&self.anchors)
        )
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

/// Read back a `run --theory` folder: the anchors of `theory_summary.json` and the rows of
/// `theory.csv` (so runs can be re-analysed with newer agreement figures).
pub fn read_theory_run(dir: &Path) -> Result<(Vec<AnchorInfo>, Vec<TheoryRow>), TheoryError> {
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
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |m: String| err(&cp, format!("line {}: {m}", n + 2));
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
        if row.anchor >= anchors.len() {
            return Err(bad(format!(
                "anchor {} but the summary has {}",
                row.anchor,
                anchors.len()
            )));
        }
        rows.push(row);
    }
    Ok((anchors, rows))
}

/// Agreement figures of every anchor from its rows (what [`MeasuredTracker::report`] computes).
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

/// Figures of the tracked rows: (1) λ1 − 2/η measured against the map's prediction e₀ + y_t,
/// (2) x_t = uᵀ(θ_t − θ₀) measured against the prediction x* + x̃_t; both over the run's step.
pub fn theory_plots(rep: &TheoryReport, title: &str) -> Vec<crate::engine::plot::PlotSpec> {
    use crate::engine::plot::{PlotSpec, Series, SeriesStyle, Threshold};
    let step = |r: &TheoryRow| r.step as f64;
    let mut ex = PlotSpec::new(
        format!("Sharpness excess, measured vs the seed's §4 map, {title}"),
        "step",
        "λ1 − 2/η",
    );
    ex.series.push(Series::line(
        "λ1 − 2/η measured",
        rep.rows
            .iter()
            .map(|r| [step(r), r.lambda1_minus_threshold])
            .collect(),
    ));
    ex.series.push(Series {
        name: "e₀ + y_t predicted".into(),
        points: rep
            .rows
            .iter()
            .filter_map(|r| Some([step(r), r.excess_predicted?]))
            .collect(),
        style: SeriesStyle::Dashed,
        color: None,
    });
    // The map can run far outside what the network does (it diverges after the first cycle
    // on digits-demo): hold the axis on the measured values and clip the prediction.
    // The range always holds 0 (the 2/η line of the excess plot, x = 0 of the other).
    let span = |v: &mut dyn Iterator<Item = f64>| {
        crate::engine::plot::padded_extent(v.chain([0.0]), 0.15).map(|(lo, hi)| [lo, hi])
    };
    ex.y_range = span(&mut rep.rows.iter().map(|r| r.lambda1_minus_threshold));
    if let (Some(a), Some(b)) = (rep.rows.first(), rep.rows.last()) {
        ex.threshold = Some(Threshold {
            name: "λ1 = 2/η".into(),
            steps: vec![[step(a), 0.0], [step(b), 0.0]],
        });
    }
    let mut x = PlotSpec::new(
        format!("Displacement along u, measured vs predicted, {title}"),
        "step",
        "x_t = uᵀ(θ_t − θ₀)",
    );
    x.series.push(Series::points(
        "x_t measured",
        rep.rows.iter().map(|r| [step(r), r.x_measured]).collect(),
    ));
    x.series.push(Series {
        name: "x_t predicted".into(),
        points: rep
            .rows
            .iter()
            .filter_map(|r| Some([step(r), r.x_predicted?]))
            .collect(),
        style: SeriesStyle::Dashed,
        color: None,
    });
    x.y_range = span(&mut rep.rows.iter().map(|r| r.x_measured));
    vec![ex, x]
}

/// Where [`TheoryObserver`] leaves its report when the run ends.
pub type SharedReport = Arc<Mutex<Option<TheoryReport>>>;

/// Session observer: feeds the tracker, streams `theory.csv`, writes `theory_summary.json`
/// when the run ends and leaves the report in a shared slot.
pub struct TheoryObserver {
    tracker: MeasuredTracker<Evaluator<f64>>,
    csv: CsvWriter,
    summary_path: PathBuf,
    report: SharedReport,
}

fn engine_err(e: TheoryError) -> EngineError {
    match e {
        TheoryError::Export(x) => EngineError::Export(x),
        other => EngineError::Other(format!("theory tracker: {other}")),
    }
}

impl TheoryObserver {
    /// Derivatives are taken in f64 on a copy of the session's network and training set.
    /// Writes `theory.csv` and (at the end) `theory_summary.json` into `dir`.
    pub fn create(
        session: &Session,
        dir: &Path,
        opts: TheoryOptions,
    ) -> Result<(Self, SharedReport), EngineError> {
        let tracker = MeasuredTracker::new(session.evaluator_f64(), opts).map_err(engine_err)?;
        let header: Vec<String> = CSV_COLUMNS.iter().map(|s| s.to_string()).collect();
        let csv = CsvWriter::create(&dir.join("theory.csv"), &header)?;
        let report = Arc::new(Mutex::new(None));
        Ok((
            TheoryObserver {
                tracker,
                csv,
                summary_path: dir.join("theory_summary.json"),
                report: report.clone(),
            },
            report,
        ))
    }

    pub fn tracker(&self) -> &MeasuredTracker<Evaluator<f64>> {
        &self.tracker
    }
}

impl Observer for TheoryObserver {
    fn observe(&mut self, session: &Session, r: &StepRecord) -> Result<(), EngineError> {
        if *self.tracker.phase() == Phase::Done {
            return Ok(());
        }
        let params = session.params_f64();
        let input = StepInput::from_record(r, &params);
        if let Some(row) = self.tracker.observe(&input).map_err(engine_err)? {
            self.csv.row(&row.cells())?;
        }
        Ok(())
    }

    fn finish(&mut self, _s: &Session, _r: &StopReason) -> Result<(), EngineError> {
        let rep = self.tracker.report();
        write_json(&self.summary_path, &rep)?;
        if let Ok(mut g) = self.report.lock() {
            *g = Some(rep);
        }
        Ok(())
    }
}

/// One message from a tracker running beside a live run (the app's training worker sends these
/// as events; [`TheoryLog::apply`] collects them on the other side).
#[derive(Clone, Debug, PartialEq)]
pub enum TheoryUpdate {
    /// A fresh tracker starts watching at this step (forget earlier updates).
    Started { step: usize },
    /// The tracker's phase changed.
    Phase(Phase),
    /// A new anchor θ₀ was measured.
    Anchor(Box<AnchorInfo>),
    /// One tracked step.
    Row(Box<TheoryRow>),
    /// Probe statistics (per-step λ1 probes and the HVPs they used so far).
    Probes { probes: usize, hvps: usize },
    /// The tracker failed and was switched off (the run goes on).
    Failed(String),
}

/// What a live tracker has reported so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TheoryLog {
    /// None until a tracker started.
    pub phase: Option<Phase>,
    pub started_at: usize,
    pub anchors: Vec<AnchorInfo>,
    pub rows: Vec<TheoryRow>,
    pub probes: usize,
    pub probe_hvps: usize,
    pub error: Option<String>,
}

/// Definition 4.1 needs x₀ > 0 and the map is odd in x, so the map runs on sign · x̃ with
/// x̃₀ = −x* made positive; measured x̃_t enter the map's coordinates times the same sign.
fn map_sign(a: &AnchorInfo) -> f64 {
    if a.x_center > 0.0 { -1.0 } else { 1.0 }
}

impl TheoryLog {
    /// Fold one update in.
    pub fn apply(&mut self, u: TheoryUpdate) {
        match u {
            TheoryUpdate::Started { step } => {
                *self = TheoryLog {
                    phase: Some(Phase::Searching),
                    started_at: step,
                    ..Default::default()
                }
            }
            TheoryUpdate::Phase(p) => self.phase = Some(p),
            TheoryUpdate::Anchor(a) => self.anchors.push(*a),
            TheoryUpdate::Row(r) => self.rows.push(*r),
            TheoryUpdate::Probes { probes, hvps } => {
                self.probes = probes;
                self.probe_hvps = hvps;
            }
            TheoryUpdate::Failed(e) => {
                self.error = Some(e);
                self.phase = Some(Phase::Done);
            }
        }
    }

    /// Rows of one anchor, ordered by t.
    pub fn rows_of(&self, anchor: usize) -> Vec<&TheoryRow> {
        self.rows.iter().filter(|r| r.anchor == anchor).collect()
    }

    /// The agreement figures of one anchor so far.
    pub fn agreement(&self, anchor: usize) -> Option<Agreement> {
        let info = self.anchors.get(anchor)?;
        agreement(info, &self.rows_of(anchor))
    }

    /// The map of Definition 4.1 with an anchor's measured η, α, β and initial condition, over
    /// `steps` steps: x₀ = |x̃₀| = |x*| (see [`map_sign`]) and y₀ = e₀ = λ1(θ₀) − 2/η, so the
    /// map's 2/η + y_t is the predicted sharpness (module notes). Fails (with the reason) when
    /// the anchor violates the map's assumptions, e.g. α ≤ 0.
    pub fn map_of(
        &self,
        anchor: usize,
        steps: usize,
    ) -> Result<super::self_stab::SelfStabParams, TheoryError> {
        let Some(a) = self.anchors.get(anchor) else {
            return Err(TheoryError::Shape(format!(
                "no anchor {anchor} has been measured yet"
            )));
        };
        let x0 = a.x_center.abs();
        let params = super::self_stab::SelfStabParams {
            lr: a.lr,
            alpha: a.alpha,
            beta: a.beta,
            x0,
            y0: a.excess0,
            steps,
            blowup: super::self_stab::SelfStabParams::default()
                .blowup
                .max(1e3 * x0.max(a.excess0.abs())),
        };
        params.check()?;
        Ok(params)
    }

    /// Measured (t, x̃_t in the map's coordinates, λ1 − 2/η) of one anchor: the points to draw
    /// over the map's (t, x_t) and (x_t, y_t) plots.
    pub fn measured_in_map_coordinates(&self, anchor: usize) -> Vec<(usize, f64, f64)> {
        let Some(a) = self.anchors.get(anchor) else {
            return Vec::new();
        };
        let sign = map_sign(a);
        self.rows_of(anchor)
            .into_iter()
            .map(|r| {
                (
                    r.t,
                    sign * (r.x_measured - a.x_center),
                    r.lambda1_minus_threshold,
                )
            })
            .collect()
    }
}
