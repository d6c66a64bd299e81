//! Top eigenpairs of the Hessian on exact HVPs, and the gradient of the sharpness
//! ∇S = ∇³L[u, u] by Richardson-extrapolated central differences (module notes of
//! [`super`]).

use super::derivatives::{Derivatives, check_len, norm};
use crate::engine::eigen::{self, EigenSolver};
use crate::engine::lanczos::LanczosOptions;
use crate::engine::theory::TheoryError;

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
pub fn top_eigen<D: Derivatives + ?Sized>(
    d: &mut D,
    params: &[f64],
    k: usize,
    tol: f64,
    max_iter: usize,
    seed: u64,
    warm: &[Vec<f64>],
    check_residual: bool,
) -> Result<TopEigen, TheoryError> {
    top_eigen_with(
        EigenSolver::Lanczos,
        d,
        params,
        k,
        tol,
        max_iter,
        seed,
        warm,
        check_residual,
    )
}

/// [`top_eigen`] with the solver chosen ([`EigenSolver::Block`] for warm-started probes).
#[allow(clippy::too_many_arguments)]
pub fn top_eigen_with<D: Derivatives + ?Sized>(
    solver: EigenSolver,
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
    let r = eigen::top_eigen(
        solver,
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

/// ∇S(θ) = ∇³L(θ)[u, u] (Shapira, Lemma 2, after Damian et al. 2022) for a unit top eigenvector u: Richardson-extrapolated
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
