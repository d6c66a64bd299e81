//! The k×k semidefinite complementarity problem (SDCP) that picks the central flow's
//! oscillation covariance X (Cohen et al. 2025, Sec. 3), solved as a convex quadratic
//! program over the PSD cone by accelerated projected gradient with eigenvalue clipping.
//!
//! # The problem
//!
//! Given a symmetric k×k matrix A and a linear operator B on symmetric k×k matrices that is
//! symmetric and positive semidefinite (⟨Y, B[X]⟩ = ⟨X, B[Y]⟩, ⟨X, B[X]⟩ ≥ 0), find X with
//!
//!   X ⪰ 0,   R(X) = A + B[X] ⪰ 0,   ⟨X, R(X)⟩ = 0.
//!
//! These are exactly the KKT conditions of min over X ⪰ 0 of f(X) = ½⟨X, B[X]⟩ + ⟨A, X⟩
//! (∇f = R(X); the PSD cone is self-dual), so any minimiser solves the SDCP and, f being
//! convex, every SDCP solution is a minimiser. How A and B come from the network is derived
//! in [`Sdcp::from_flow`].
//!
//! # The method
//!
//! FISTA (Beck & Teboulle 2009) with step 1/‖B‖ and the gradient-based adaptive restart of
//! O'Donoghue & Candès (2015): Y ← Π(X − R(X)/‖B‖), where Π clips the negative eigenvalues
//! of a symmetric matrix to 0 (the Frobenius projection onto the PSD cone). It stops when the
//! natural residual r = ‖X − Π(X − R(X)/‖B‖)‖_F, which is 0 exactly when X solves the SDCP,
//! falls to `tol · max(‖X‖_F, ‖A‖_F/‖B‖)`. The complementarity ⟨X, R⟩ and the smallest
//! eigenvalue of R are reported too, so a caller can check the three conditions directly.
//! k is tiny (the number of critical Hessian eigenvalues), so each iteration is one k×k
//! eigen-decomposition and one k²×k² matrix–vector product.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// How to solve.
#[derive(Clone, Debug, PartialEq)]
pub struct SdcpOptions {
    /// Relative tolerance on the natural residual (see the module docs).
    pub tol: f64,
    /// Iteration cap (each iteration is one k×k eigen-decomposition).
    pub max_iter: usize,
}

impl Default for SdcpOptions {
    fn default() -> Self {
        SdcpOptions {
            tol: 1e-11,
            max_iter: 50_000,
        }
    }
}

/// One SDCP instance: A (k×k, symmetric) and B as a k²×k² matrix acting on the row-major
/// vectorisation of X: B[X]_ij = Σ_kl b[(i·k + j), (k·k + l)] X_kl.
#[derive(Clone, Debug)]
pub struct Sdcp {
    pub a: DMatrix<f64>,
    pub b: DMatrix<f64>,
}

/// What the solver found.
#[derive(Clone, Debug)]
pub struct SdcpSolution {
    /// The covariance X ⪰ 0 (k×k).
    pub x: DMatrix<f64>,
    /// R(X) = A + B[X].
    pub r: DMatrix<f64>,
    /// The natural residual ‖X − Π(X − R/‖B‖)‖_F relative to max(‖X‖_F, ‖A‖_F/‖B‖).
    pub residual: f64,
    /// ⟨X, R(X)⟩ (0 at a solution).
    pub complementarity: f64,
    /// The smallest eigenvalue of R(X) (≥ 0 at a solution, up to the tolerance).
    pub r_min_eigenvalue: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Why there is no solution.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SdcpError {
    #[error("the SDCP matrices do not fit together: {0}")]
    Shape(String),
    #[error("the SDCP has non-finite entries")]
    NotFinite,
    /// A has a negative direction that B does not penalise: no finite X keeps the critical
    /// eigenvalues at 2/η (e.g. the third derivative ∇S vanishes while λ is above 2/η).
    #[error(
        "no finite oscillation covariance holds the critical eigenvalues at 2/η (the third derivative along them vanishes); lower η or raise the substeps"
    )]
    Unbounded,
}

/// Frobenius projection onto the PSD cone: clip negative eigenvalues to 0.
pub fn project_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let s = (m + m.transpose()) * 0.5;
    let eig = SymmetricEigen::new(s);
    let clipped = eig.eigenvalues.map(|v| v.max(0.0));
    &eig.eigenvectors * DMatrix::from_diagonal(&clipped) * eig.eigenvectors.transpose()
}

/// Eigenvalues of a symmetric matrix, largest first.
pub fn sym_eigenvalues(m: &DMatrix<f64>) -> Vec<f64> {
    let s = (m + m.transpose()) * 0.5;
    let mut v: Vec<f64> = SymmetricEigen::new(s).eigenvalues.iter().copied().collect();
    v.sort_by(|a, b| b.total_cmp(a));
    v
}

fn frob_dot(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

impl Sdcp {
    /// Check shapes and finiteness.
    pub fn new(a: DMatrix<f64>, b: DMatrix<f64>) -> Result<Self, SdcpError> {
        let k = a.nrows();
        if a.ncols() != k || b.nrows() != k * k || b.ncols() != k * k {
            return Err(SdcpError::Shape(format!(
                "A is {}×{}, B is {}×{} (want k×k and k²×k²)",
                a.nrows(),
                a.ncols(),
                b.nrows(),
                b.ncols()
            )));
        }
        if a.iter().chain(b.iter()).any(|v| !v.is_finite()) {
            return Err(SdcpError::NotFinite);
        }
        Ok(Sdcp { a, b })
    }

    /// The SDCP of one central-flow substep.
    ///
    /// `lambda` are the critical eigenvalues (the Hessian block UᵀHU = diag(λ) in the basis
    /// of the critical eigenvectors U), `g[i][j]` = g_ij = ∇_w(u_iᵀ ∇²L u_j) (symmetric in
    /// i, j), `grad` = ∇L, `eta` the learning rate and `dt` the substep in GD steps.
    ///
    /// Derivation. The flow moves w by dw/dt = −η[∇L + ½ Σ_kl X_kl g_kl] (since
    /// ⟨Σ, ∇²L⟩ = Σ_kl X_kl u_kᵀ∇²L u_l with Σ = U X Uᵀ). The block M_ij = u_iᵀ∇²L u_j
    /// (U held fixed) then moves at dM_ij/dt = ⟨g_ij, dw/dt⟩
    /// = −η⟨g_ij, ∇L⟩ − (η/2) Σ_kl ⟨g_ij, g_kl⟩ X_kl, affine in X. The SDCP asks
    /// R = 2/η·I − (Λ + dt·dM/dt) ⪰ 0 with ⟨X, R⟩ = 0, X ⪰ 0. Dividing R by dt > 0 changes
    /// neither the cone conditions nor the complementarity, so
    ///
    ///   A_ij = δ_ij (2/η − λ_i)/dt + η⟨g_ij, ∇L⟩,   B[X]_ij = (η/2) Σ_kl ⟨g_ij, g_kl⟩ X_kl.
    ///
    /// B is symmetric and PSD: ⟨X, B[X]⟩ = (η/2)‖Σ_ij X_ij g_ij‖² ≥ 0. For k = 1 (S = λ,
    /// ∇S = g_11) the minimiser is σ² = max(0, −A/B)
    /// = max(0, −2⟨∇S, ∇L⟩/‖∇S‖² + 2(S − 2/η)/(η·dt·‖∇S‖²)): Cohen et al.'s
    /// σ² = −2⟨∇S, ∇L⟩/‖∇S‖² at S = 2/η, plus the term that brings an overshoot S > 2/η back
    /// to 2/η within one substep (or lets a sharpness below 2/η rise to it).
    pub fn from_flow(
        lambda: &[f64],
        g: &[Vec<&[f64]>],
        grad: &[f64],
        eta: f64,
        dt: f64,
    ) -> Result<Self, SdcpError> {
        let k = lambda.len();
        if g.len() != k || g.iter().any(|row| row.len() != k) {
            return Err(SdcpError::Shape(format!(
                "{k} eigenvalues but a {}-row table of third derivatives",
                g.len()
            )));
        }
        if g.iter().flatten().any(|v| v.len() != grad.len()) {
            return Err(SdcpError::Shape(
                "a third-derivative vector and the gradient differ in length".into(),
            ));
        }
        if !(eta > 0.0 && dt > 0.0) {
            return Err(SdcpError::Shape(format!(
                "η = {eta} and dt = {dt} must both be > 0"
            )));
        }
        let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
        let mut a = DMatrix::zeros(k, k);
        for i in 0..k {
            for j in 0..k {
                a[(i, j)] = eta * dot(g[i][j], grad);
            }
            a[(i, i)] += (2.0 / eta - lambda[i]) / dt;
        }
        let mut b = DMatrix::zeros(k * k, k * k);
        for i in 0..k {
            for j in 0..k {
                for l in 0..k {
                    for m in 0..k {
                        b[(i * k + j, l * k + m)] = 0.5 * eta * dot(g[i][j], g[l][m]);
                    }
                }
            }
        }
        Sdcp::new(a, b)
    }

    pub fn k(&self) -> usize {
        self.a.nrows()
    }

    /// B[X].
    pub fn apply_b(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let k = self.k();
        let v = DVector::from_iterator(k * k, x.transpose().iter().copied());
        let bv = &self.b * v;
        DMatrix::from_row_slice(k, k, bv.as_slice())
    }

    /// R(X) = A + B[X], symmetrised.
    pub fn residual_matrix(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let r = &self.a + self.apply_b(x);
        (&r + r.transpose()) * 0.5
    }

    /// f(X) = ½⟨X, B[X]⟩ + ⟨A, X⟩.
    pub fn objective(&self, x: &DMatrix<f64>) -> f64 {
        0.5 * frob_dot(x, &self.apply_b(x)) + frob_dot(&self.a, x)
    }

    /// Solve from `start` (projected onto the PSD cone; `None` starts at 0).
    pub fn solve(
        &self,
        start: Option<&DMatrix<f64>>,
        opts: &SdcpOptions,
    ) -> Result<SdcpSolution, SdcpError> {
        let k = self.k();
        let zero = DMatrix::zeros(k, k);
        // ‖B‖ on symmetric matrices: the largest eigenvalue of the symmetrised k²×k² matrix
        // bounds it (symmetric X are a subspace of all k×k matrices).
        let bs = (&self.b + self.b.transpose()) * 0.5;
        let lip = sym_eigenvalues(&bs)
            .first()
            .copied()
            .unwrap_or(0.0)
            .max(0.0);
        let a_norm = self.a.norm();
        if k == 0 {
            return Ok(self.finish(zero, 0.0, 0, true));
        }
        if lip <= 1e-300 || lip <= 1e-14 * a_norm {
            // B ≈ 0: X = 0 solves iff A ⪰ 0; otherwise f is unbounded below.
            let amin = sym_eigenvalues(&self.a).last().copied().unwrap_or(0.0);
            if amin >= -1e-12 * a_norm.max(1e-300) {
                return Ok(self.finish(zero, 0.0, 0, true));
            }
            return Err(SdcpError::Unbounded);
        }
        let step = 1.0 / lip;
        let scale_a = a_norm * step;
        let mut x = start
            .filter(|s| s.nrows() == k && s.ncols() == k && s.iter().all(|v| v.is_finite()))
            .map(project_psd)
            .unwrap_or_else(|| zero.clone());
        let mut y = x.clone();
        let mut t = 1.0f64;
        let natural = |x: &DMatrix<f64>| -> f64 {
            let r = self.residual_matrix(x);
            (x - project_psd(&(x - r * step))).norm()
        };
        let blow_up = 1e12 * scale_a.max(1e-300);
        for it in 0..opts.max_iter {
            let res = natural(&x);
            let scale = x.norm().max(scale_a).max(1e-300);
            if res <= opts.tol * scale {
                return Ok(self.finish(x, res / scale, it, true));
            }
            let ry = self.residual_matrix(&y);
            let xn = project_psd(&(&y - ry * step));
            let tn = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
            // Restart when the momentum points uphill: ⟨y − x⁺, x⁺ − x⟩ > 0.
            if frob_dot(&(&y - &xn), &(&xn - &x)) > 0.0 {
                t = 1.0;
                y = xn.clone();
            } else {
                y = &xn + (&xn - &x) * ((t - 1.0) / tn);
                t = tn;
            }
            x = xn;
            if !x.iter().all(|v| v.is_finite()) || x.norm() > blow_up {
                return Err(SdcpError::Unbounded);
            }
        }
        let res = natural(&x);
        let scale = x.norm().max(scale_a).max(1e-300);
        Ok(self.finish(x, res / scale, opts.max_iter, res <= opts.tol * scale))
    }

    fn finish(
        &self,
        x: DMatrix<f64>,
        residual: f64,
        iterations: usize,
        converged: bool,
    ) -> SdcpSolution {
        let r = self.residual_matrix(&x);
        let complementarity = frob_dot(&x, &r);
        let r_min_eigenvalue = sym_eigenvalues(&r).last().copied().unwrap_or(0.0);
        SdcpSolution {
            x,
            r,
            residual,
            complementarity,
            r_min_eigenvalue,
            iterations,
            converged,
        }
    }
}
