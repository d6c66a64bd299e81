//! The two-layer linear network of the seed paper, §5 (after Li et al. 2022), trained by
//! full-batch gradient descent in `f64`, with the exact sharpness and a check of every
//! identity of §5.3 against the actual GD step.
//!
//! Model: f(x) = Aᵀ W x / √m with W ∈ ℝ^{m×d}, A ∈ ℝ^m; data X ∈ ℝ^{d×n} (standard Gaussian
//! entries, so ‖XᵀX‖ = Θ(n)), labels y_i = ±1; F = Xᵀ Wᵀ A / √m, D = F − Y,
//! L = ‖D‖²/n, Σ = XᵀX with top eigenpair (λ_1, v_1), and
//! M_t = 2(‖A_t‖² Σ + Xᵀ W_tᵀ W_t X)/(mn).
//!
//! # Which printed statements of seed §5 hold, and which needed correction
//!
//! Checked numerically at every step (columns `res_*` of `metrics.csv`, relative residuals
//! defined below) and by hand; the corrected forms are what this module implements.
//!
//! 1. **GD updates** A_{t+1} − A_t = −(2η/(n√m)) W_t X D_t and
//!    W_{t+1} − W_t = −(2η/(n√m)) A_t D_tᵀ Xᵀ: correct.
//! 2. **Lemma 4** (D update): D_{t+1} − D_t = −η M_t D_t + (4η²/(n²m))⟨F_t, D_t⟩ Σ D_t holds
//!    **exactly** (residual at round-off, ~1e-16). Only notation: the seed writes the right side
//!    as a row vector (−η D_tᵀ M_t + … D_tᵀ Σ) while the left side D_{t+1} − D_t is a column; the
//!    values agree because M_t and Σ are symmetric.
//! 3. **‖A‖² update**: ‖A_{t+1}‖² − ‖A_t‖² = −(4η/n)⟨F_t, D_t⟩ + η²‖∂L/∂A‖² with
//!    ∂L/∂A = (2/(n√m)) W X D holds **exactly** (round-off).
//! 4. **Lemma 5 as stated** has a sign error: it prints
//!    `−(4η/(n²m))(2⟨F,D⟩Σ + F Dᵀ Σ − Σ D Fᵀ) + (8η²/(n³m²))(‖WXD‖²Σ + ‖A‖² Σ D Dᵀ Σ)`;
//!    the correct update is
//!    **M_{t+1} − M_t = −(4η/(n²m))(2⟨F,D⟩Σ + F Dᵀ Σ + Σ D Fᵀ) + (8η²/(n³m²))(‖WXD‖²Σ + ‖A‖² Σ D Dᵀ Σ)**,
//!    which holds exactly. (With the printed minus, vᵀ(F DᵀΣ − Σ D Fᵀ)v = 0 for every v, so the
//!    seed's own next display, with its ⟨v_i,F⟩⟨D,v_i⟩ term, could not follow.) The printed
//!    statement fails whenever F ≠ 0: relative residual 2.3e-2 … 0.96 over the `li_linear`
//!    run against ≤ 1.6e-13 for the corrected one (it is exact only at a symmetric
//!    initialisation, where F_0 = 0).
//! 5. **Lemma 5's proof, last line** writes `(4η/(n²m))‖A_t‖² Σ D Dᵀ Σ`; the term comes from
//!    Xᵀ(W_{t+1} − W_t)ᵀ(W_{t+1} − W_t)X and is **(4η²/(n²m))‖A_t‖² Σ D Dᵀ Σ** (a square on η is
//!    missing; the lemma's statement has it right; residual as printed up to 5.6e-2 on the
//!    `li_linear` run, where η = 1.4). The proof's second line also writes
//!    W_{t+1}W_{t+1}ᵀ where W_{t+1}ᵀW_{t+1} is meant. Its "−(2η/n)(F DᵀΣ + Σ D Fᵀ)" has the
//!    correct + sign, confirming item 4.
//! 6. **The v_iᵀ(M_{t+1} − M_t)v_i expansion** −(8λ_iη/(n²m))(⟨F,D⟩ + ⟨v_i,F⟩⟨D,v_i⟩) +
//!    (8λ_iη²/(n³m²))(‖WXD‖² + λ_i‖A‖²⟨v_i,D⟩²) is correct as printed (it follows from the
//!    corrected Lemma 5, item 4); checked for i = 1.
//! 7. **The Gauss–Newton matrix** is printed as G = n⁻¹ Σ_i ∂f(x_i)/∂θᵀ ∂f(x_i)/∂θ; for
//!    L = ‖D‖²/n the Gauss–Newton part of the Hessian is **G = (2/n) Σ_i ∇f(x_i)∇f(x_i)ᵀ**, and only
//!    with that factor 2 does "G and M have the same non-zero eigenvalues" hold (M = (2/n) J Jᵀ).
//!    [`HessianAt::apply_gauss_newton`] uses the factor 2; the tests check the claim.
//! 8. **Lemma 3's proof** has sign slips: with ‖Γ_t‖ ≤ c/m it should read
//!    v_1ᵀM_tv_1 ≥ uᵀ(M_t − Γ_t)u − c/m ≥ uᵀM_tu − 2c/m = S(θ_t) − 2c/m (the printed "+ c/m",
//!    "+ 2c/m" have the wrong sign); the statement S ≥ v_1ᵀMv_1 ≥ S − 2c/m is right. Assumption 5
//!    also writes Xᵀ W_t W_t X for Xᵀ W_tᵀ W_t X. (Not checked numerically: c is a bound, not a
//!    computed quantity.)
//! 9. **The final claim** "as long as λ_1(M_t) < 2/η, ⟨D_t, F_t⟩ < 0" (symmetric init) is only
//!    partly true. Measured ([`FdClaim`] in the run summary counts the steps):
//!    * t = 0: an equality, ⟨F_0, D_0⟩ = 0 (F_0 = 0).
//!    * Progressive sharpening with d > n (interpolating), t ≥ 1 up to the first step with
//!      λ_1(M_t) ≥ 2/η: holds strictly in every run we made (the `li_linear` preset, other seeds
//!      and shapes, teacher and random labels).
//!    * After the trajectory has reached 2/η it is false at O(1) size: during the catapult that
//!      ends the overshoot, λ_1(M_t) drops back below 2/η while ⟨F_t, D_t⟩ > 0 (`li_linear`:
//!      t = 258, 259 with ⟨F,D⟩ = +6.66, +4.48).
//!    * With d < n (labels not interpolable) the loss stalls above 0 and the sharpness can
//!      settle with 1/η < λ_1(M_t) < 2/η, never reaching 2/η. The top mode of D then oscillates
//!      (factor 1 − ηλ_1 < 0) and ⟨F_t, D_t⟩ alternates sign **while λ_1(M_t) < 2/η**:
//!      m = 30, d = 8, n = 16, η = 2 (seed 0, symmetric init 0.1, teacher labels) keeps
//!      λ_1(M_t) ≤ 0.983 < 2/η = 1 for all 300 steps, yet ⟨F,D⟩ > 0 at 143 of them from t = 16
//!      on, up to +2.5e-2 (t = 24). A milder case: d = 20, n = 40, η = 2.8 (ηλ_1 ≈ 1.5),
//!      ⟨F,D⟩ ≈ +1e-10…+2.6e-10 from t = 130 on as F and D become orthogonal (at the
//!      least-squares limit D ⊥ range(Xᵀ) ∋ F). With ηλ_1 < 1 only round-off sign noise
//!      (|⟨F,D⟩| ≲ 7e-15) remains.
//!
//!    The seed's argument via Eq. (4) treats each factor I − ηM_{t'} as having spectrum in
//!    [0, 1), which needs λ_1(M) < 1/η, not 2/η (for 1/η < λ < 2/η the mode oscillates and
//!    contributes −(u_kᵀY)² p_k(1 − p_k) > 0 to ⟨D_t, F_t⟩ whenever its
//!    factor p_k = Π(1 − ηλ_k) is negative), and it drops the O(η²) term of
//!    Lemma 4.
//!
//! # Relative residuals
//!
//! Each identity lhs = Σ_k term_k is reported as ‖lhs − rhs‖ / max(‖lhs‖, Σ_k ‖term_k‖) with
//! Euclidean / Frobenius norms (the sum of term norms guards against a vanishing lhs, e.g. when
//! the two terms of the ‖A‖² update cancel at the edge of stability). The left sides use the
//! actual stored iterates through exact algebraic expansions that avoid cancellation:
//! with ΔA = A_{t+1} − A_t and ΔW = W_{t+1} − W_t taken from the stored arrays,
//! D_{t+1} − D_t = Xᵀ(ΔWᵀA + WᵀΔA + ΔWᵀΔA)/√m, ‖A_{t+1}‖² − ‖A_t‖² = ⟨ΔA, A_t + A_{t+1}⟩ and
//! (mn/2)(M_{t+1} − M_t) = (‖A_{t+1}‖² − ‖A_t‖²)Σ + Xᵀ(ΔWᵀW + WᵀΔW + ΔWᵀΔW)X. These hold for any
//! increments, so the residuals test exactly the lemmas' content: the GD step and the algebra.
//! They are meaningful while the step is resolvable in `f64`: once GD has converged so far that
//! η‖∇L‖ is ~1e-12 of ‖θ‖ or less (e.g. d < n runs after a few hundred steps, where the loss
//! stalls), the rounding of the stored iterates dominates the increments and the residuals
//! climb towards 1e-3…1 for every identity alike.
//!
//! # Exact sharpness
//!
//! The Hessian of L w.r.t. θ = (vec W row-major, A) applied to v = (V_W, V_A), with
//! c = 2/(n√m), u = Xᵀ(V_Wᵀ A + Wᵀ V_A)/√m (= J v) and r = X D:
//! H_A v = c (W X u + V_W r), H_W v = c (A (X u)ᵀ + V_A rᵀ). The first terms are the
//! Gauss–Newton part (2/n)JᵀJ v, the second the residual part Σ_i (2D_i/n) ∇²F_i v (F is
//! bilinear in (W, A)). Its top eigenvalue comes from the engine's Lanczos (tol 1e-10), warm-started
//! from the previous step's Ritz vector.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

use super::{Outcome, SaveSteps, TheoryError};
use crate::engine::export::{CsvWriter, NpzFile, create_dir, write_json};
use crate::engine::lanczos::{LanczosOptions, lanczos};
use crate::engine::rng::Rng;

/// Largest accepted number of GD steps.
pub const MAX_STEPS: usize = 1_000_000;
/// Largest accepted width m or input dimension d.
pub const MAX_WIDTH: usize = 100_000;
/// Largest accepted number of samples n (M is an n×n matrix, eigen-decomposed densely).
pub const MAX_SAMPLES: usize = 2_000;
/// Largest accepted parameter count m(d + 1) (Lanczos keeps up to 200 vectors of this length).
pub const MAX_PARAMS: usize = 2_000_000;
/// Largest accepted size of X (d·n) and of W X (m·n).
pub const MAX_MATRIX: usize = 10_000_000;
/// A loss above this (or a non-finite loss or parameter) ends the run as diverged.
pub const BLOWUP_LOSS: f64 = 1e12;
/// Lanczos relative tolerance for the exact sharpness.
pub const SHARPNESS_TOL: f64 = 1e-10;
/// Lanczos minimum iterations for the exact sharpness.
pub const SHARPNESS_MIN_ITER: usize = 10;
/// Lanczos iteration cap for the exact sharpness.
pub const SHARPNESS_MAX_ITER: usize = 200;

/// How the weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinearInit {
    /// Neurons in pairs (2k, 2k+1) with equal W rows and opposite A entries, so F_0 = 0 exactly
    /// and D_0 = −Y (the seed's "symmetric initialization"); the m/2 independent rows and
    /// entries are N(0, init_scale²). Needs an even m.
    Symmetric,
    /// All entries of W and A independent N(0, init_scale²).
    Random,
}

/// How the labels are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelKind {
    /// y_i = sign(wᵀx_i) for a teacher w ~ N(0, I_d) (sign(0) = +1).
    Teacher,
    /// y_i = ±1 with probability ½ each, independent of X.
    Random,
}

impl FromStr for LinearInit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "symmetric" => Ok(LinearInit::Symmetric),
            "random" => Ok(LinearInit::Random),
            other => Err(format!(
                "unknown init `{other}` (expected `symmetric` or `random`)"
            )),
        }
    }
}

impl std::fmt::Display for LinearInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinearInit::Symmetric => "symmetric",
            LinearInit::Random => "random",
        })
    }
}

impl FromStr for LabelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "teacher" => Ok(LabelKind::Teacher),
            "random" => Ok(LabelKind::Random),
            other => Err(format!(
                "unknown labels `{other}` (expected `teacher` or `random`)"
            )),
        }
    }
}

impl std::fmt::Display for LabelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LabelKind::Teacher => "teacher",
            LabelKind::Random => "random",
        })
    }
}

/// Parameters of a linear-network run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearParams {
    /// Learning rate η.
    pub lr: f64,
    /// Width m (hidden units).
    pub m: usize,
    /// Input dimension d.
    pub d: usize,
    /// Number of samples n.
    pub n: usize,
    /// GD steps; rows are t = 0..=steps.
    pub steps: usize,
    /// Seed of data, labels and initial weights.
    pub seed: u64,
    pub init: LinearInit,
    /// Standard deviation of the initial entries.
    pub init_scale: f64,
    pub labels: LabelKind,
    /// λ_1(M_t) and the exact sharpness are computed at steps t with t % eig_every == 0 and at
    /// the last row (other rows leave them empty).
    pub eig_every: usize,
}

impl LinearParams {
    /// The preset: m = 100, d = 50, n = 40, η = 1.4 (2/η ≈ 1.4286), symmetric init with scale
    /// 0.1, teacher labels, 400 steps, seed 0. Measured: ‖A‖² grows from 0.83 to 18.3 while the
    /// exact sharpness rises with it from 0.335 (λ_1(M): 0.176) and reaches 2/η at t = 110;
    /// it keeps rising to 1.72 while the unstable mode grows from round-off, then GD catapults
    /// (t ≈ 250–260: loss up to 0.29, ‖A‖² down to 14.6, sharpness down to 1.13) and sharpens
    /// again towards 1.38 (‖A‖² 18.0) by t = 400. About 0.6 s of CPU in a release build.
    ///
    /// d > n on purpose: with d < n (e.g. d = 20, n = 40) the labels cannot be interpolated, the
    /// loss stalls near 0.14 within ~30 steps and the sharpness stops at ~0.54.
    pub fn li_linear() -> Self {
        LinearParams {
            lr: 1.4,
            m: 100,
            d: 50,
            n: 40,
            steps: 400,
            seed: 0,
            init: LinearInit::Symmetric,
            init_scale: 0.1,
            labels: LabelKind::Teacher,
            eig_every: 1,
        }
    }

    /// Validate: η finite > 0; 1 ≤ m, d ≤ [`MAX_WIDTH`]; 1 ≤ n ≤ [`MAX_SAMPLES`];
    /// m(d+1) ≤ [`MAX_PARAMS`]; d·n, m·n ≤ [`MAX_MATRIX`]; 1 ≤ steps ≤ [`MAX_STEPS`];
    /// init_scale finite > 0; eig_every ≥ 1; m even for the symmetric init.
    pub fn check(&self) -> Result<CheckedLinear, TheoryError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(TheoryError::invalid(
                "lr",
                self.lr,
                "the learning rate η must be a finite number > 0",
            ));
        }
        for (name, v) in [("m", self.m), ("d", self.d)] {
            if v == 0 || v > MAX_WIDTH {
                return Err(TheoryError::invalid(
                    name,
                    v,
                    format!("must be between 1 and {MAX_WIDTH}"),
                ));
            }
        }
        if self.n == 0 || self.n > MAX_SAMPLES {
            return Err(TheoryError::invalid(
                "n",
                self.n,
                format!(
                    "the number of samples must be between 1 and {MAX_SAMPLES} (M is n×n and decomposed densely)"
                ),
            ));
        }
        let params = self.m.saturating_mul(self.d.saturating_add(1));
        if params > MAX_PARAMS {
            return Err(TheoryError::invalid(
                "m",
                self.m,
                format!(
                    "m(d+1) = {params} parameters is above the limit {MAX_PARAMS} (Lanczos keeps up to {SHARPNESS_MAX_ITER} vectors of that length)"
                ),
            ));
        }
        for (name, v, what) in [
            ("d", self.d.saturating_mul(self.n), "d·n (size of X)"),
            ("m", self.m.saturating_mul(self.n), "m·n (size of W X)"),
        ] {
            if v > MAX_MATRIX {
                return Err(TheoryError::invalid(
                    name,
                    v,
                    format!("{what} must be at most {MAX_MATRIX}"),
                ));
            }
        }
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(TheoryError::invalid(
                "steps",
                self.steps,
                format!("the number of steps must be between 1 and {MAX_STEPS}"),
            ));
        }
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Err(TheoryError::invalid(
                "init_scale",
                self.init_scale,
                "the initial scale must be a finite number > 0 (at scale 0 GD sits forever at the saddle A = 0, W = 0, where the gradient vanishes)",
            ));
        }
        if self.eig_every == 0 {
            return Err(TheoryError::invalid(
                "eig_every",
                self.eig_every,
                "the eigenvalue cadence must be ≥ 1 (1 = every step)",
            ));
        }
        if self.init == LinearInit::Symmetric && !self.m.is_multiple_of(2) {
            return Err(TheoryError::invalid(
                "m",
                self.m,
                "the symmetric init pairs the neurons (equal W rows, opposite A entries) so that F_0 = 0, which needs an even width m; use an even m or the random init",
            ));
        }
        Ok(CheckedLinear(self.clone()))
    }
}

impl Default for LinearParams {
    fn default() -> Self {
        Self::li_linear()
    }
}

/// Parameters that passed [`LinearParams::check`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckedLinear(LinearParams);

impl CheckedLinear {
    pub fn params(&self) -> &LinearParams {
        &self.0
    }
}

/// The weights θ = (W, A).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearNet {
    /// m × d.
    pub w: Array2<f64>,
    /// m.
    pub a: Array1<f64>,
}

impl LinearNet {
    pub fn m(&self) -> usize {
        self.a.len()
    }

    pub fn d(&self) -> usize {
        self.w.ncols()
    }

    /// m(d + 1).
    pub fn num_params(&self) -> usize {
        self.w.len() + self.a.len()
    }

    /// θ as one vector: W row-major (entry (j, k) at j·d + k), then A (entry j at m·d + j).
    pub fn to_flat(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.w.iter().copied().collect();
        v.extend(self.a.iter().copied());
        v
    }

    /// Inverse of [`LinearNet::to_flat`].
    pub fn from_flat(m: usize, d: usize, theta: &[f64]) -> Result<Self, TheoryError> {
        if theta.len() != m * (d + 1) {
            return Err(TheoryError::Shape(format!(
                "flat parameter vector has length {}, expected m(d+1) = {}",
                theta.len(),
                m * (d + 1)
            )));
        }
        let w = Array2::from_shape_vec((m, d), theta[..m * d].to_vec())
            .map_err(|e| TheoryError::Shape(e.to_string()))?;
        let a = Array1::from_vec(theta[m * d..].to_vec());
        Ok(LinearNet { w, a })
    }

    /// Wᵀ A, summed neuron pair by neuron pair ((0,1), (2,3), …): with the symmetric init each
    /// pair contributes a·w + (−a)·w = 0 exactly, so F_0 = 0 bit for bit.
    fn w_t_a(&self) -> Array1<f64> {
        let (m, d) = self.w.dim();
        let mut z = Array1::<f64>::zeros(d);
        let mut j = 0;
        while j + 1 < m {
            let (a0, a1) = (self.a[j], self.a[j + 1]);
            let (r0, r1) = (self.w.row(j), self.w.row(j + 1));
            for k in 0..d {
                z[k] += a0 * r0[k] + a1 * r1[k];
            }
            j += 2;
        }
        if j < m {
            let a0 = self.a[j];
            let r0 = self.w.row(j);
            for k in 0..d {
                z[k] += a0 * r0[k];
            }
        }
        z
    }

    /// The outputs F = Xᵀ Wᵀ A / √m on the columns of X (d × n).
    pub fn outputs(&self, x: &Array2<f64>) -> Array1<f64> {
        let m = self.m() as f64;
        x.t().dot(&self.w_t_a()) / m.sqrt()
    }
}

/// The training data with Σ = XᵀX and its top eigenpair.
#[derive(Clone, Debug)]
pub struct LinearProblem {
    /// d × n.
    pub x: Array2<f64>,
    /// n labels.
    pub y: Array1<f64>,
    /// Σ = XᵀX (n × n).
    pub sigma: Array2<f64>,
    /// λ_1(Σ).
    pub sigma_top: f64,
    /// Unit top eigenvector v_1 of Σ.
    pub v1: Array1<f64>,
}

/// Top eigenpair of a symmetric matrix (dense; largest algebraic).
fn top_eigenpair(m: &Array2<f64>) -> (f64, Array1<f64>) {
    let n = m.nrows();
    let dm = DMatrix::from_fn(n, n, |i, j| m[(i, j)]);
    let eig = SymmetricEigen::new(dm);
    let mut best = 0;
    for i in 1..n {
        if eig.eigenvalues[i] > eig.eigenvalues[best] {
            best = i;
        }
    }
    let v = Array1::from_iter(eig.eigenvectors.column(best).iter().copied());
    (eig.eigenvalues[best], v)
}

/// Largest eigenvalue of a symmetric matrix (dense).
pub fn top_eigenvalue(m: &Array2<f64>) -> f64 {
    top_eigenpair(m).0
}

impl LinearProblem {
    /// From data X (d × n) and labels Y (n).
    pub fn new(x: Array2<f64>, y: Array1<f64>) -> Result<Self, TheoryError> {
        if x.ncols() != y.len() {
            return Err(TheoryError::Shape(format!(
                "X has {} columns but Y has {} entries",
                x.ncols(),
                y.len()
            )));
        }
        if x.ncols() == 0 || x.nrows() == 0 {
            return Err(TheoryError::Shape("X must not be empty".into()));
        }
        Ok(Self::from_valid(x, y))
    }

    /// `new` without the shape checks (X non-empty, columns matching Y).
    fn from_valid(x: Array2<f64>, y: Array1<f64>) -> Self {
        let sigma = x.t().dot(&x);
        let (sigma_top, v1) = top_eigenpair(&sigma);
        LinearProblem {
            x,
            y,
            sigma,
            sigma_top,
            v1,
        }
    }

    pub fn d(&self) -> usize {
        self.x.nrows()
    }

    pub fn n(&self) -> usize {
        self.x.ncols()
    }

    /// L = ‖F − Y‖²/n.
    pub fn loss(&self, net: &LinearNet) -> f64 {
        let dv = net.outputs(&self.x) - &self.y;
        dv.dot(&dv) / self.n() as f64
    }

    /// (∂L/∂W, ∂L/∂A) = ((2/(n√m)) A Dᵀ Xᵀ, (2/(n√m)) W X D).
    pub fn gradient(&self, net: &LinearNet) -> LinearNet {
        let dv = net.outputs(&self.x) - &self.y;
        let r = self.x.dot(&dv);
        let c = 2.0 / (self.n() as f64 * (net.m() as f64).sqrt());
        gradient_from(net, &r, c)
    }

    /// The gradient as a flat vector (layout of [`LinearNet::to_flat`]).
    pub fn gradient_flat(&self, net: &LinearNet) -> Vec<f64> {
        self.gradient(net).to_flat()
    }

    /// The Gram matrix M = 2(‖A‖²Σ + XᵀWᵀWX)/(mn).
    pub fn gram(&self, net: &LinearNet) -> Array2<f64> {
        let h = net.w.dot(&self.x);
        gram_from(&self.sigma, net.a.dot(&net.a), &h, net.m(), self.n())
    }

    /// The Hessian of L at `net`, as an operator.
    pub fn hessian_at<'a>(&'a self, net: &'a LinearNet) -> HessianAt<'a> {
        let dv = net.outputs(&self.x) - &self.y;
        let r = self.x.dot(&dv);
        HessianAt {
            x: &self.x,
            net,
            r,
            c: 2.0 / (self.n() as f64 * (net.m() as f64).sqrt()),
            sqrt_m: (net.m() as f64).sqrt(),
        }
    }
}

fn gradient_from(net: &LinearNet, r: &Array1<f64>, c: f64) -> LinearNet {
    let ga = net.w.dot(r) * c;
    let gw = outer(&net.a, r) * c;
    LinearNet { w: gw, a: ga }
}

fn outer(a: &Array1<f64>, b: &Array1<f64>) -> Array2<f64> {
    let a2 = a.view().insert_axis(Axis(1));
    let b2 = b.view().insert_axis(Axis(0));
    a2.dot(&b2)
}

fn gram_from(sigma: &Array2<f64>, a2: f64, h: &Array2<f64>, m: usize, n: usize) -> Array2<f64> {
    let mut g = h.t().dot(h);
    g.scaled_add(a2, sigma);
    g * (2.0 / (m as f64 * n as f64))
}

/// The exact Hessian of L at a point, as an operator on flat vectors (layout of
/// [`LinearNet::to_flat`]).
pub struct HessianAt<'a> {
    x: &'a Array2<f64>,
    net: &'a LinearNet,
    /// r = X D.
    r: Array1<f64>,
    /// 2/(n√m).
    c: f64,
    sqrt_m: f64,
}

impl HessianAt<'_> {
    /// m(d + 1).
    pub fn dim(&self) -> usize {
        self.net.num_params()
    }

    fn split<'v>(
        &self,
        v: &'v [f64],
    ) -> Option<(ndarray::ArrayView2<'v, f64>, ndarray::ArrayView1<'v, f64>)> {
        let (m, d) = self.net.w.dim();
        if v.len() != self.dim() {
            return None;
        }
        let (vw, va) = v.split_at(m * d);
        let vw = ndarray::ArrayView2::from_shape((m, d), vw).ok()?;
        Some((vw, ndarray::ArrayView1::from(va)))
    }

    /// X u with u = J v = Xᵀ(V_Wᵀ A + Wᵀ V_A)/√m.
    fn x_jv(&self, vw: &ndarray::ArrayView2<f64>, va: &ndarray::ArrayView1<f64>) -> Array1<f64> {
        let z = vw.t().dot(&self.net.a) + self.net.w.t().dot(va);
        let u = self.x.t().dot(&z) / self.sqrt_m;
        self.x.dot(&u)
    }

    fn write(out: &mut [f64], hw: &Array2<f64>, ha: &Array1<f64>) {
        let md = hw.len();
        for (o, h) in out[..md].iter_mut().zip(hw.iter()) {
            *o = *h;
        }
        for (o, h) in out[md..].iter_mut().zip(ha.iter()) {
            *o = *h;
        }
    }

    /// out = H v (Gauss–Newton part plus the residual part).
    /// Vectors of the wrong length give an all-NaN `out`.
    pub fn apply(&self, v: &[f64], out: &mut [f64]) {
        let Some((vw, va)) = self.split(v).filter(|_| out.len() == self.dim()) else {
            out.fill(f64::NAN);
            return;
        };
        let xu = self.x_jv(&vw, &va);
        let mut ha = self.net.w.dot(&xu);
        ha += &vw.dot(&self.r);
        ha *= self.c;
        let mut hw = outer(&self.net.a, &xu);
        hw += &outer(&va.to_owned(), &self.r);
        hw *= self.c;
        Self::write(out, &hw, &ha);
    }

    /// out = G v with the Gauss–Newton matrix G = (2/n) Jᵀ J (J = ∂F/∂θ, n × p).
    /// Vectors of the wrong length give an all-NaN `out`.
    pub fn apply_gauss_newton(&self, v: &[f64], out: &mut [f64]) {
        let Some((vw, va)) = self.split(v).filter(|_| out.len() == self.dim()) else {
            out.fill(f64::NAN);
            return;
        };
        let xu = self.x_jv(&vw, &va);
        let ha = self.net.w.dot(&xu) * self.c;
        let hw = outer(&self.net.a, &xu) * self.c;
        Self::write(out, &hw, &ha);
    }

    /// Top eigenvalue by Lanczos (largest algebraic), warm-started from `warm`.
    pub fn sharpness(&self, warm: &[Vec<f64>], seed: u64) -> crate::engine::lanczos::LanczosResult {
        let opts = LanczosOptions {
            k: 1,
            max_iter: SHARPNESS_MAX_ITER.min(self.dim()),
            // A few products even from a good warm start, so that a top eigenvalue that has just
            // overtaken the warm one shows up in the Krylov space before the test can pass.
            min_iter: SHARPNESS_MIN_ITER.min(self.dim()),
            tol: SHARPNESS_TOL,
            seed,
        };
        lanczos(self.dim(), |v, o| self.apply(v, o), &opts, warm)
    }
}

/// Relative residuals of the §5.3 identities for one GD step t → t+1 (see the module notes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LemmaResiduals {
    /// Lemma 4 (D update), as printed (holds exactly).
    pub d_lemma4: f64,
    /// The ‖A‖² update, as printed (holds exactly).
    pub a_norm2: f64,
    /// Lemma 5 as stated (with − Σ D Fᵀ).
    pub m_lemma5_printed: f64,
    /// The last line of Lemma 5's proof as printed (4η instead of 4η² on ‖A‖²ΣDDᵀΣ).
    pub m_lemma5_proof_printed: f64,
    /// Lemma 5 corrected (+ Σ D Fᵀ).
    pub m_lemma5_corrected: f64,
    /// The v_1ᵀ(M_{t+1} − M_t)v_1 expansion, as printed.
    pub v1_expansion: f64,
}

/// Per-step record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearRow {
    pub t: usize,
    /// L = ‖D‖²/n.
    pub loss: f64,
    /// ‖A_t‖².
    pub a_norm2: f64,
    /// ‖W_t‖_F².
    pub w_norm2: f64,
    /// ⟨F_t, D_t⟩.
    pub f_dot_d: f64,
    /// λ_1(M_t) (on the eigenvalue cadence).
    pub lambda1_m: Option<f64>,
    /// v_1ᵀ M_t v_1.
    pub v1_m_v1: f64,
    /// Exact sharpness λ_1(∇²L) (on the eigenvalue cadence).
    pub sharpness: Option<f64>,
    /// Hessian–vector products Lanczos used.
    pub sharpness_matvecs: Option<usize>,
    /// Whether Lanczos met its tolerance.
    pub sharpness_converged: Option<bool>,
    /// 2/η.
    pub two_over_eta: f64,
    /// Residuals of the step t → t+1 (absent on the last row, where no step is taken).
    pub residuals: Option<LemmaResiduals>,
}

/// A linear-network GD run that can be advanced one step at a time.
pub struct LinearRun {
    checked: CheckedLinear,
    problem: LinearProblem,
    net: LinearNet,
    t: usize,
    finished: bool,
    outcome: Option<Outcome>,
    warm: Vec<Vec<f64>>,
    rows: Vec<LinearRow>,
}

impl LinearRun {
    /// Draw data, labels and initial weights from the seed (independent streams `linear-x`,
    /// `linear-teacher`, `linear-labels`, `linear-init-w`, `linear-init-a`).
    pub fn new(checked: &CheckedLinear) -> LinearRun {
        let p = checked.params();
        let mut rx = Rng::stream(p.seed, "linear-x");
        let x = Array2::from_shape_fn((p.d, p.n), |_| rx.normal());
        let y = match p.labels {
            LabelKind::Teacher => {
                let mut rt = Rng::stream(p.seed, "linear-teacher");
                let w = Array1::from_shape_fn(p.d, |_| rt.normal());
                x.t().dot(&w).mapv(|s| if s >= 0.0 { 1.0 } else { -1.0 })
            }
            LabelKind::Random => {
                let mut rl = Rng::stream(p.seed, "linear-labels");
                Array1::from_shape_fn(p.n, |_| if rl.uniform() < 0.5 { 1.0 } else { -1.0 })
            }
        };
        let mut rw = Rng::stream(p.seed, "linear-init-w");
        let mut ra = Rng::stream(p.seed, "linear-init-a");
        let s = p.init_scale;
        let net = match p.init {
            LinearInit::Random => LinearNet {
                w: Array2::from_shape_fn((p.m, p.d), |_| s * rw.normal()),
                a: Array1::from_shape_fn(p.m, |_| s * ra.normal()),
            },
            LinearInit::Symmetric => {
                let half_w = Array2::from_shape_fn((p.m / 2, p.d), |_| s * rw.normal());
                let half_a = Array1::from_shape_fn(p.m / 2, |_| s * ra.normal());
                LinearNet {
                    w: Array2::from_shape_fn((p.m, p.d), |(j, k)| half_w[(j / 2, k)]),
                    a: Array1::from_shape_fn(p.m, |j| {
                        if j % 2 == 0 {
                            half_a[j / 2]
                        } else {
                            -half_a[j / 2]
                        }
                    }),
                }
            }
        };
        // X (d × n, d, n ≥ 1) matches Y by construction.
        Self::from_parts(checked, LinearProblem::from_valid(x, y), net)
    }

    /// A run from given data and weights (sizes must match the checked parameters' d, n, m are
    /// taken from the arrays).
    pub fn from_parts(
        checked: &CheckedLinear,
        problem: LinearProblem,
        net: LinearNet,
    ) -> LinearRun {
        LinearRun {
            checked: checked.clone(),
            problem,
            net,
            t: 0,
            finished: false,
            outcome: None,
            warm: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn params(&self) -> &LinearParams {
        self.checked.params()
    }

    pub fn checked(&self) -> &CheckedLinear {
        &self.checked
    }

    /// Index of the current state θ_t (the next row [`LinearRun::step`] returns).
    pub fn t(&self) -> usize {
        self.t
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// `None` while running.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    pub fn rows(&self) -> &[LinearRow] {
        &self.rows
    }

    pub fn problem(&self) -> &LinearProblem {
        &self.problem
    }

    pub fn net(&self) -> &LinearNet {
        &self.net
    }

    /// Current A (m).
    pub fn a(&self) -> &Array1<f64> {
        &self.net.a
    }

    /// Current W (m × d).
    pub fn w(&self) -> &Array2<f64> {
        &self.net.w
    }

    /// X (d × n).
    pub fn x(&self) -> &Array2<f64> {
        &self.problem.x
    }

    /// Y (n).
    pub fn y(&self) -> &Array1<f64> {
        &self.problem.y
    }

    /// Record row t and take GD step t → t+1 (no step on the last row). Returns `None` once the
    /// run is finished, including when the current state diverged (see [`LinearRun::outcome`]).
    pub fn step(&mut self) -> Option<LinearRow> {
        if self.finished {
            return None;
        }
        let p = self.checked.params().clone();
        let t = self.t;
        let (m, n) = (self.net.m(), self.problem.n());
        let (mf, nf, eta) = (m as f64, n as f64, p.lr);
        let f = self.net.outputs(&self.problem.x);
        let dv = &f - &self.problem.y;
        let loss = dv.dot(&dv) / nf;
        let params_finite = self
            .net
            .a
            .iter()
            .chain(self.net.w.iter())
            .all(|v| v.is_finite());
        if !loss.is_finite() || loss > BLOWUP_LOSS || !params_finite {
            self.finished = true;
            self.outcome = Some(Outcome::Diverged {
                step: t,
                reason: if params_finite {
                    format!("loss {loss:e} above {BLOWUP_LOSS:e} or not finite")
                } else {
                    "non-finite weights".into()
                },
            });
            return None;
        }
        let a2 = self.net.a.dot(&self.net.a);
        let w2 = self.net.w.iter().map(|v| v * v).sum::<f64>();
        let fd = f.dot(&dv);
        let h = self.net.w.dot(&self.problem.x); // W X, m × n
        let mt = gram_from(&self.problem.sigma, a2, &h, m, n);
        let v1 = &self.problem.v1;
        let v1mv1 = v1.dot(&mt.dot(v1));
        let last = t >= p.steps;
        let eig_now = last || t.is_multiple_of(p.eig_every);
        let (lambda1_m, sharpness, matvecs, converged) = if eig_now {
            let l1 = top_eigenvalue(&mt);
            let hess = self.problem.hessian_at(&self.net);
            let res = hess.sharpness(&self.warm, p.seed ^ 0x5eed_1a2c);
            let s = res.eigenvalues.first().copied().unwrap_or(f64::NAN);
            if res
                .eigenvectors
                .first()
                .is_some_and(|v| v.iter().all(|x| x.is_finite()))
            {
                self.warm = res.eigenvectors.clone();
            }
            (Some(l1), Some(s), Some(res.matvecs), Some(res.converged))
        } else {
            (None, None, None, None)
        };

        let residuals = if last {
            None
        } else {
            // The GD step.
            let r = self.problem.x.dot(&dv);
            let c = 2.0 / (nf * mf.sqrt());
            let g = gradient_from(&self.net, &r, c);
            let new = LinearNet {
                w: &self.net.w - &(&g.w * eta),
                a: &self.net.a - &(&g.a * eta),
            };
            let res = self.residuals(&new, &f, &dv, &h, &mt, &g.a, fd, a2);
            self.net = new;
            Some(res)
        };

        let row = LinearRow {
            t,
            loss,
            a_norm2: a2,
            w_norm2: w2,
            f_dot_d: fd,
            lambda1_m,
            v1_m_v1: v1mv1,
            sharpness,
            sharpness_matvecs: matvecs,
            sharpness_converged: converged,
            two_over_eta: 2.0 / eta,
            residuals,
        };
        if last {
            self.finished = true;
            self.outcome = Some(Outcome::Completed);
        } else {
            self.t += 1;
        }
        self.rows.push(row.clone());
        Some(row)
    }

    /// Residuals of the identities for the step from `self.net` to `new`.
    #[allow(clippy::too_many_arguments)]
    fn residuals(
        &self,
        new: &LinearNet,
        f: &Array1<f64>,
        dv: &Array1<f64>,
        h: &Array2<f64>,
        mt: &Array2<f64>,
        grad_a: &Array1<f64>,
        fd: f64,
        a2: f64,
    ) -> LemmaResiduals {
        let pr = &self.problem;
        let (m, n) = (self.net.m(), pr.n());
        let (mf, nf) = (m as f64, n as f64);
        let eta = self.checked.params().lr;
        let sigma = &pr.sigma;
        let x = &pr.x;
        let da = &new.a - &self.net.a;
        let dw = &new.w - &self.net.w;

        // Lemma 4: D_{t+1} − D_t = Xᵀ(ΔWᵀA + WᵀΔA + ΔWᵀΔA)/√m.
        let z = dw.t().dot(&self.net.a) + self.net.w.t().dot(&da) + dw.t().dot(&da);
        let lhs_d = x.t().dot(&z) / mf.sqrt();
        let t1 = mt.dot(dv) * (-eta);
        let sd = sigma.dot(dv); // Σ D
        let t2 = &sd * (4.0 * eta * eta / (nf * nf * mf) * fd);
        let rhs_d = &t1 + &t2;
        let scale_d = norm(&lhs_d).max(norm(&t1) + norm(&t2));
        let d_lemma4 = rel_residual(&lhs_d, &rhs_d, scale_d);

        // ‖A‖² update: ‖A'‖² − ‖A‖² = ⟨ΔA, A + A'⟩.
        let delta_a2 = da.dot(&(&self.net.a + &new.a));
        let ta1 = -4.0 * eta / nf * fd;
        let ta2 = eta * eta * grad_a.dot(grad_a);
        let a_norm2 =
            (delta_a2 - (ta1 + ta2)).abs() / delta_a2.abs().max(ta1.abs() + ta2.abs()).max(1e-300);

        // Lemma 5: (mn/2)ΔM = δa Σ + KᵀH + HᵀK + KᵀK with K = ΔW X.
        let k = dw.dot(x);
        let kth = k.t().dot(h);
        let mut dm = sigma * delta_a2;
        dm += &kth;
        dm += &kth.t();
        dm += &k.t().dot(&k);
        dm *= 2.0 / (mf * nf);
        let hd = h.dot(dv); // W X D
        let hd2 = hd.dot(&hd);
        let c1 = 4.0 * eta / (nf * nf * mf);
        let c2 = 8.0 * eta * eta / (nf * nf * nf * mf * mf);
        let fsd = outer(f, &sd); // F Dᵀ Σ
        let sdf = fsd.t().to_owned(); // Σ D Fᵀ
        let sdsd = outer(&sd, &sd); // Σ D Dᵀ Σ
        let term_fd = sigma * (-2.0 * c1 * fd);
        let term_fsd = &fsd * (-c1);
        let term_sdf = &sdf * (-c1);
        let term_q1 = sigma * (c2 * hd2);
        let term_q2 = &sdsd * (c2 * a2);
        let corrected = &term_fd + &term_fsd + &term_sdf + &term_q1 + &term_q2;
        let printed = &term_fd + &term_fsd - &term_sdf + &term_q1 + &term_q2;
        // Proof's last line, times 2/(mn): (4η/(n²m)) instead of (4η²/(n²m)) on ‖A‖²ΣDDᵀΣ.
        let proof = &term_fd + &term_fsd + &term_sdf + &term_q1 + &(&term_q2 / eta);
        let scale_m = fro(&dm)
            .max(fro(&term_fd) + fro(&term_fsd) + fro(&term_sdf) + fro(&term_q1) + fro(&term_q2));
        let m_res = |rhs: &Array2<f64>| rel_residual(&dm, rhs, scale_m);

        // v_1 expansion.
        let v = &pr.v1;
        let lam = pr.sigma_top;
        let lhs_v = v.dot(&dm.dot(v));
        let (vf, vd) = (v.dot(f), v.dot(dv));
        let e1 = -8.0 * lam * eta / (nf * nf * mf) * fd;
        let e2 = -8.0 * lam * eta / (nf * nf * mf) * vf * vd;
        let e3 = 8.0 * lam * eta * eta / (nf * nf * nf * mf * mf) * hd2;
        let e4 = 8.0 * lam * lam * eta * eta / (nf * nf * nf * mf * mf) * a2 * vd * vd;
        let scale_v = lhs_v.abs().max(e1.abs() + e2.abs() + e3.abs() + e4.abs());
        let v1_expansion = (lhs_v - (e1 + e2 + e3 + e4)).abs() / scale_v.max(1e-300);

        LemmaResiduals {
            d_lemma4,
            a_norm2,
            m_lemma5_printed: m_res(&printed),
            m_lemma5_proof_printed: m_res(&proof),
            m_lemma5_corrected: m_res(&corrected),
            v1_expansion,
        }
    }

    /// Step until finished, calling `on_row` after every row.
    pub fn run_with(&mut self, mut on_row: impl FnMut(&LinearRow)) {
        while let Some(row) = self.step() {
            on_row(&row);
        }
    }

    /// Step until finished.
    pub fn run_all(&mut self) -> &[LinearRow] {
        self.run_with(|_| {});
        &self.rows
    }

    /// Summary of the rows so far.
    pub fn summary(&self) -> LinearSummary {
        summarize(self.checked.params(), &self.rows, self.outcome.clone())
    }
}

fn norm(v: &Array1<f64>) -> f64 {
    v.dot(v).sqrt()
}

fn fro(m: &Array2<f64>) -> f64 {
    m.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// ‖lhs − rhs‖ / max(scale, 1e-300) (Euclidean / Frobenius norm).
fn rel_residual<D: ndarray::Dimension>(
    lhs: &ndarray::Array<f64, D>,
    rhs: &ndarray::Array<f64, D>,
    scale: f64,
) -> f64 {
    let diff: f64 = lhs
        .iter()
        .zip(rhs.iter())
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    diff / scale.max(1e-300)
}

/// The seed's claim "⟨D_t, F_t⟩ < 0 as long as λ_1(M_t) < 2/η", checked on the rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FdClaim {
    /// Rows t ≥ 1 with λ_1(M_t) computed and < 2/η.
    pub checked: usize,
    /// Of those, rows with ⟨F_t, D_t⟩ ≥ 0.
    pub violations: usize,
    pub first_violation: Option<usize>,
    /// Violations before λ_1(M_t) first reached 2/η (progressive-sharpening phase).
    pub violations_before_first_crossing: usize,
    /// Largest ⟨F_t, D_t⟩ among the violations (0 if none): tells sign noise at round-off
    /// (~1e-15) from a real violation.
    pub max_violation: f64,
}

/// Largest residual of each identity over a run (NaN if any residual was NaN).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResidualMax {
    pub d_lemma4: f64,
    pub a_norm2: f64,
    pub m_lemma5_printed: f64,
    pub m_lemma5_proof_printed: f64,
    pub m_lemma5_corrected: f64,
    pub v1_expansion: f64,
}

/// What a linear run shows, in numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearSummary {
    pub rows: usize,
    /// `None` while the run is unfinished.
    pub outcome: Option<Outcome>,
    pub two_over_eta: f64,
    pub loss_first: f64,
    pub loss_last: f64,
    pub a_norm2_first: f64,
    pub a_norm2_last: f64,
    pub a_norm2_max: f64,
    pub sharpness_first: Option<f64>,
    pub sharpness_last: Option<f64>,
    pub sharpness_max: Option<f64>,
    pub lambda1_m_first: Option<f64>,
    pub lambda1_m_last: Option<f64>,
    pub lambda1_m_max: Option<f64>,
    /// First t with exact sharpness ≥ 2/η.
    pub first_sharpness_crossing: Option<usize>,
    /// First t with λ_1(M_t) ≥ 2/η.
    pub first_lambda1_m_crossing: Option<usize>,
    /// Largest residuals (`None` if no step was taken).
    pub max_residuals: Option<ResidualMax>,
    /// Smallest residual of the printed Lemma 5 over steps t ≥ 1 (it is exact at t = 0 with the
    /// symmetric init, where F_0 = 0).
    pub min_m_lemma5_printed_after_t0: Option<f64>,
    pub fd_claim: FdClaim,
}

fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Summary numbers of rows of a run with parameters `p`.
pub fn summarize(p: &LinearParams, rows: &[LinearRow], outcome: Option<Outcome>) -> LinearSummary {
    let thr = 2.0 / p.lr;
    let opt_max = |it: &mut dyn Iterator<Item = f64>| {
        it.fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        })
    };
    let sharp: Vec<(usize, f64)> = rows
        .iter()
        .filter_map(|r| r.sharpness.map(|s| (r.t, s)))
        .collect();
    let lam: Vec<(usize, f64)> = rows
        .iter()
        .filter_map(|r| r.lambda1_m.map(|s| (r.t, s)))
        .collect();
    let first_lambda1_m_crossing = lam.iter().find(|(_, l)| *l >= thr).map(|(t, _)| *t);
    let mut max_res: Option<ResidualMax> = None;
    let mut min_printed: Option<f64> = None;
    for r in rows {
        if let Some(res) = &r.residuals {
            max_res = Some(match max_res {
                None => ResidualMax {
                    d_lemma4: res.d_lemma4,
                    a_norm2: res.a_norm2,
                    m_lemma5_printed: res.m_lemma5_printed,
                    m_lemma5_proof_printed: res.m_lemma5_proof_printed,
                    m_lemma5_corrected: res.m_lemma5_corrected,
                    v1_expansion: res.v1_expansion,
                },
                Some(m) => ResidualMax {
                    d_lemma4: nan_max(m.d_lemma4, res.d_lemma4),
                    a_norm2: nan_max(m.a_norm2, res.a_norm2),
                    m_lemma5_printed: nan_max(m.m_lemma5_printed, res.m_lemma5_printed),
                    m_lemma5_proof_printed: nan_max(
                        m.m_lemma5_proof_printed,
                        res.m_lemma5_proof_printed,
                    ),
                    m_lemma5_corrected: nan_max(m.m_lemma5_corrected, res.m_lemma5_corrected),
                    v1_expansion: nan_max(m.v1_expansion, res.v1_expansion),
                },
            });
            if r.t >= 1 {
                min_printed = Some(
                    min_printed.map_or(res.m_lemma5_printed, |v: f64| v.min(res.m_lemma5_printed)),
                );
            }
        }
    }
    let mut claim = FdClaim {
        checked: 0,
        violations: 0,
        first_violation: None,
        violations_before_first_crossing: 0,
        max_violation: 0.0,
    };
    for r in rows.iter().filter(|r| r.t >= 1) {
        if let Some(l) = r.lambda1_m
            && l < thr
        {
            claim.checked += 1;
            if r.f_dot_d >= 0.0 || r.f_dot_d.is_nan() {
                claim.violations += 1;
                claim.first_violation.get_or_insert(r.t);
                claim.max_violation = nan_max(claim.max_violation, r.f_dot_d);
                if first_lambda1_m_crossing.is_none_or(|c| r.t < c) {
                    claim.violations_before_first_crossing += 1;
                }
            }
        }
    }
    let first = rows.first();
    let lastr = rows.last();
    LinearSummary {
        rows: rows.len(),
        outcome,
        two_over_eta: thr,
        loss_first: first.map_or(f64::NAN, |r| r.loss),
        loss_last: lastr.map_or(f64::NAN, |r| r.loss),
        a_norm2_first: first.map_or(f64::NAN, |r| r.a_norm2),
        a_norm2_last: lastr.map_or(f64::NAN, |r| r.a_norm2),
        a_norm2_max: rows.iter().map(|r| r.a_norm2).fold(f64::NAN, f64::max),
        sharpness_first: sharp.first().map(|x| x.1),
        sharpness_last: sharp.last().map(|x| x.1),
        sharpness_max: opt_max(&mut sharp.iter().map(|x| x.1)),
        lambda1_m_first: lam.first().map(|x| x.1),
        lambda1_m_last: lam.last().map(|x| x.1),
        lambda1_m_max: opt_max(&mut lam.iter().map(|x| x.1)),
        first_sharpness_crossing: sharp.iter().find(|(_, s)| *s >= thr).map(|(t, _)| *t),
        first_lambda1_m_crossing,
        max_residuals: max_res,
        min_m_lemma5_printed_after_t0: min_printed,
        fd_claim: claim,
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.6}"))
}

fn fmt_opt_t(v: Option<usize>) -> String {
    v.map_or_else(|| "never".to_string(), |x| format!("t = {x}"))
}

impl LinearSummary {
    /// A one-paragraph description for the CLI.
    pub fn describe(&self, p: &LinearParams) -> String {
        let mut s = format!(
            "Two-layer linear network (Li et al. 2022): m = {}, d = {}, n = {}, η = {} (2/η = {}), {} init (scale {}), {} labels, seed {}. \
             {} rows; outcome: {}. Loss {:.6} → {:.6}; ‖A‖² {:.4} → {:.4} (max {:.4}); \
             exact sharpness {} → {} (max {}), first ≥ 2/η at {}; λ1(M) {} → {} (max {}), first ≥ 2/η at {}. ",
            p.m,
            p.d,
            p.n,
            p.lr,
            self.two_over_eta,
            p.init,
            p.init_scale,
            p.labels,
            p.seed,
            self.rows,
            self.outcome
                .as_ref()
                .map_or_else(|| "unfinished".to_string(), |o| o.to_string()),
            self.loss_first,
            self.loss_last,
            self.a_norm2_first,
            self.a_norm2_last,
            self.a_norm2_max,
            fmt_opt(self.sharpness_first),
            fmt_opt(self.sharpness_last),
            fmt_opt(self.sharpness_max),
            fmt_opt_t(self.first_sharpness_crossing),
            fmt_opt(self.lambda1_m_first),
            fmt_opt(self.lambda1_m_last),
            fmt_opt(self.lambda1_m_max),
            fmt_opt_t(self.first_lambda1_m_crossing),
        );
        if let Some(r) = &self.max_residuals {
            s.push_str(&format!(
                "Max relative residuals over the run: Lemma 4 (D update) {:.2e}; ‖A‖² update {:.2e}; \
                 Lemma 5 as printed {:.2e} (min over t ≥ 1: {}), proof's last line as printed {:.2e}, corrected {:.2e}; \
                 v1 expansion {:.2e}. ",
                r.d_lemma4,
                r.a_norm2,
                r.m_lemma5_printed,
                self.min_m_lemma5_printed_after_t0.map_or_else(|| "n/a".into(), |v| format!("{v:.2e}")),
                r.m_lemma5_proof_printed,
                r.m_lemma5_corrected,
                r.v1_expansion
            ));
        }
        let c = &self.fd_claim;
        s.push_str(&format!(
            "Claim ⟨F,D⟩ < 0 while λ1(M) < 2/η (t ≥ 1): {} of {} checked steps violate it ({} before λ1(M) first reached 2/η; first violation {}; largest ⟨F,D⟩ among them {:.3e}).",
            c.violations,
            c.checked,
            c.violations_before_first_crossing,
            fmt_opt_t(c.first_violation),
            c.max_violation
        ));
        s
    }
}

/// The columns of `metrics.csv`.
pub const METRICS_COLUMNS: [&str; 17] = [
    "t",
    "loss",
    "a_norm2",
    "w_norm2",
    "f_dot_d",
    "lambda1_m",
    "v1_m_v1",
    "sharpness",
    "two_over_eta",
    "sharpness_matvecs",
    "sharpness_converged",
    "res_d_lemma4",
    "res_a_norm2",
    "res_m_lemma5_printed",
    "res_m_lemma5_proof_printed",
    "res_m_lemma5_corrected",
    "res_v1_expansion",
];

fn metrics_cells(r: &LinearRow) -> Vec<Option<f64>> {
    let res = r.residuals.as_ref();
    vec![
        Some(r.t as f64),
        Some(r.loss),
        Some(r.a_norm2),
        Some(r.w_norm2),
        Some(r.f_dot_d),
        r.lambda1_m,
        Some(r.v1_m_v1),
        r.sharpness,
        Some(r.two_over_eta),
        r.sharpness_matvecs.map(|v| v as f64),
        r.sharpness_converged.map(|b| if b { 1.0 } else { 0.0 }),
        res.map(|x| x.d_lemma4),
        res.map(|x| x.a_norm2),
        res.map(|x| x.m_lemma5_printed),
        res.map(|x| x.m_lemma5_proof_printed),
        res.map(|x| x.m_lemma5_corrected),
        res.map(|x| x.v1_expansion),
    ]
}

/// What to write besides `metrics.csv`, `config.json` and `summary.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinearWriteOptions {
    /// Steps N at which to write `params_stepN.npz` (arrays `A` (m) and `W` (m × d)).
    pub save_params: Option<SaveSteps>,
    /// Write `train.npz` (arrays `X` (d × n) and `Y` (n)).
    pub save_data: bool,
}

/// What `config.json` holds: enough to rerun.
#[derive(Clone, Debug, Serialize)]
struct LinearConfig<'a> {
    simulator: &'static str,
    params: &'a LinearParams,
    save_params: Option<String>,
    save_data: bool,
    parameter_layout: &'static str,
    rng: &'static str,
}

/// Writes a run's outputs into a directory as it goes: `config.json` and `train.npz` at
/// creation, one `metrics.csv` row per step, `params_stepN.npz` before the due steps, and
/// `summary.json` at the end.
pub struct LinearWriter {
    dir: PathBuf,
    csv: CsvWriter,
    opts: LinearWriteOptions,
}

impl LinearWriter {
    pub fn create(
        dir: &Path,
        run: &LinearRun,
        opts: &LinearWriteOptions,
    ) -> Result<Self, TheoryError> {
        create_dir(dir)?;
        let config = LinearConfig {
            simulator: "two-layer-linear (Li et al. 2022)",
            params: run.params(),
            save_params: opts.save_params.as_ref().map(|s| s.to_string()),
            save_data: opts.save_data,
            parameter_layout: "theta = (W row-major m x d, A); f(x) = A^T W x / sqrt(m)",
            rng: "eos-explorer Rng (Xoshiro256++), streams linear-x, linear-teacher, linear-labels, linear-init-w, linear-init-a",
        };
        write_json(&dir.join("config.json"), &config)?;
        if opts.save_data {
            let path = dir.join("train.npz");
            let mut npz = NpzFile::create(&path)?;
            npz.add("X", run.x())?;
            npz.add("Y", run.y())?;
            npz.finish()?;
        }
        let header: Vec<String> = METRICS_COLUMNS.iter().map(|s| s.to_string()).collect();
        let csv = CsvWriter::create(&dir.join("metrics.csv"), &header)?;
        Ok(LinearWriter {
            dir: dir.to_path_buf(),
            csv,
            opts: opts.clone(),
        })
    }

    /// Write `params_step{t}.npz` if the run's current step t is due.
    pub fn before_step(&mut self, run: &LinearRun) -> Result<(), TheoryError> {
        if run.is_finished() {
            return Ok(());
        }
        if let Some(s) = &self.opts.save_params
            && s.contains(run.t())
        {
            let path = self.dir.join(format!("params_step{}.npz", run.t()));
            let mut npz = NpzFile::create(&path)?;
            npz.add("A", run.a())?;
            npz.add("W", run.w())?;
            npz.finish()?;
        }
        Ok(())
    }

    pub fn record(&mut self, row: &LinearRow) -> Result<(), TheoryError> {
        self.csv.row(&metrics_cells(row))?;
        Ok(())
    }

    /// Write `summary.json`.
    pub fn finish(self, run: &LinearRun) -> Result<LinearSummary, TheoryError> {
        let summary = run.summary();
        write_json(&self.dir.join("summary.json"), &summary)?;
        Ok(summary)
    }
}

/// Run to the end, writing everything into `dir`; `on_row` sees every row (for progress).
pub fn write_run(
    dir: &Path,
    run: &mut LinearRun,
    opts: &LinearWriteOptions,
    mut on_row: impl FnMut(&LinearRow),
) -> Result<LinearSummary, TheoryError> {
    let mut w = LinearWriter::create(dir, run, opts)?;
    loop {
        w.before_step(run)?;
        match run.step() {
            Some(row) => {
                w.record(&row)?;
                on_row(&row);
            }
            None => break,
        }
    }
    w.finish(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(init: LinearInit, seed: u64) -> LinearRun {
        let p = LinearParams {
            lr: 0.05,
            m: 4,
            d: 3,
            n: 5,
            steps: 5,
            seed,
            init,
            init_scale: 0.7,
            labels: LabelKind::Teacher,
            eig_every: 1,
        };
        match p.check() {
            Ok(c) => LinearRun::new(&c),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn symmetric_init_has_zero_outputs_exactly() {
        let run = tiny(LinearInit::Symmetric, 3);
        let f = run.net().outputs(run.x());
        assert!(f.iter().all(|v| *v == 0.0), "{f:?}");
    }

    #[test]
    fn flat_round_trip() {
        let run = tiny(LinearInit::Random, 1);
        let flat = run.net().to_flat();
        let back = LinearNet::from_flat(4, 3, &flat).map_err(|e| e.to_string());
        assert_eq!(back.as_ref().ok(), Some(run.net()));
        assert!(LinearNet::from_flat(4, 3, &flat[1..]).is_err());
    }

    #[test]
    fn rejects_bad_params() {
        let ok = LinearParams::li_linear();
        let cases: Vec<(LinearParams, &str)> = vec![
            (
                LinearParams {
                    lr: 0.0,
                    ..ok.clone()
                },
                "`lr`",
            ),
            (
                LinearParams {
                    lr: f64::NAN,
                    ..ok.clone()
                },
                "`lr`",
            ),
            (LinearParams { m: 0, ..ok.clone() }, "`m`"),
            (LinearParams { m: 7, ..ok.clone() }, "even"),
            (LinearParams { d: 0, ..ok.clone() }, "`d`"),
            (LinearParams { n: 0, ..ok.clone() }, "`n`"),
            (
                LinearParams {
                    n: 100_000,
                    ..ok.clone()
                },
                "`n`",
            ),
            (
                LinearParams {
                    steps: 0,
                    ..ok.clone()
                },
                "`steps`",
            ),
            (
                LinearParams {
                    init_scale: 0.0,
                    ..ok.clone()
                },
                "saddle",
            ),
            (
                LinearParams {
                    eig_every: 0,
                    ..ok.clone()
                },
                "`eig_every`",
            ),
            (
                LinearParams {
                    m: 100_000,
                    d: 100_000,
                    ..ok.clone()
                },
                "parameters",
            ),
        ];
        for (p, needle) in cases {
            match p.check() {
                Ok(_) => panic!("accepted {p:?}"),
                Err(e) => assert!(e.to_string().contains(needle), "{e} lacks {needle}"),
            }
        }
        assert!(
            LinearParams {
                m: 7,
                init: LinearInit::Random,
                ..ok
            }
            .check()
            .is_ok()
        );
    }
}
