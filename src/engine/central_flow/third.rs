//! Third derivatives g_ij = ∇_w(u_iᵀ ∇²L(w) u_j) = ∇³L(w)[u_i, u_j, ·] for the critical
//! eigenvectors u_1 … u_k, by f64 central differences of exact HVPs.
//!
//! With U held fixed, (u_iᵀ∇²L(w)u_j)'s gradient has m-th entry ∇³L[u_i, u_j, e_m]; the third
//! derivative tensor is symmetric, so it equals the derivative of the HVP ∇²L(w)u_j along u_i:
//!
//!   D_ij(ε) = (∇²L(w + εu_i)u_j − ∇²L(w − εu_i)u_j) / (2ε) = g_ij + O(ε²),
//!
//! Richardson-extrapolated as (4 D_ij(ε/2) − D_ij(ε))/3 (error O(ε⁴)), the scheme and the
//! default step ([`default_fd_step`]) of `theory::measured::sharpness_gradient`, which computes
//! the diagonal case D_ii only (its direction and its HVP vector are the same u); the mixed
//! pairs need direction u_i and vector u_j, so they are computed here, once per pair i ≤ j
//! (2 HVPs per pair, 4 with Richardson; the HVPs at w ± εu_i for all j share one shifted
//! point, which the network's forward cache serves). g_ji = g_ij.
//!
//! [`ThirdMethod::Gradients`] needs no HVP: uᵀ∇²L(w)u is the second derivative of L along u,
//! so its gradient is the second difference of gradients along u,
//!
//!   S_a(ε) = (∇L(w + εa) − 2∇L(w) + ∇L(w − εa)) / ε² = ∇³L[a, a] + O(ε²),
//!
//! and the mixed pairs follow by polarisation, g_ij = (S_{u_i+u_j} − S_{u_i−u_j})/4. ∇L(w) is
//! the substep's own gradient, so a diagonal entry costs 2 gradients and a mixed one 4 (twice
//! that with Richardson), against 2 and 2 HVPs at shifted points — each of which first runs
//! the forward and backward pass that fills the network's cache, so a gradient costs about
//! half of such an HVP. In f64 at ε = 10⁻³ the rounding (≈ 4u/ε² relative to ‖∇L‖) stays
//! below 10⁻⁹; `tests/central_flow.rs` checks both methods against each other.

use crate::engine::theory::TheoryError;
use crate::engine::theory::measured::{Derivatives, default_fd_step};

/// How the third derivatives are computed (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThirdMethod {
    /// Central differences of exact HVPs at w ± εu_i (the reference).
    #[default]
    Hvp,
    /// Second differences of gradients along u_i and u_i ± u_j (no HVP; cheaper).
    Gradients,
}

impl ThirdMethod {
    pub fn name(self) -> &'static str {
        match self {
            ThirdMethod::Hvp => "hvp",
            ThirdMethod::Gradients => "gradients",
        }
    }
}

/// The table g_ij, i ≤ j, and what the differences cost.
#[derive(Clone, Debug)]
pub struct ThirdDerivatives {
    k: usize,
    /// Packed upper triangle (see `packed`).
    g: Vec<Vec<f64>>,
    /// The step ε (the half step ε/2 enters the Richardson combination).
    pub eps: f64,
    /// max over pairs of ‖D(ε) − D(ε/2)‖/‖D(ε/2)‖ (NaN without Richardson): an upper estimate
    /// of the relative error of the plain central difference.
    pub rel_change: f64,
    /// HVPs spent.
    pub hvps: usize,
    /// Gradients spent (besides the one at w the caller passed in).
    pub grads: usize,
}

/// Index of pair (i, j), i ≤ j, in the packed upper triangle: rows of lengths k, k − 1, …,
/// so row i starts at Σ_{r<i} (k − r) = i·k − i(i − 1)/2.
fn packed(k: usize, i: usize, j: usize) -> usize {
    let (i, j) = if i <= j { (i, j) } else { (j, i) };
    i * k - i * i.saturating_sub(1) / 2 + (j - i)
}

impl ThirdDerivatives {
    pub fn k(&self) -> usize {
        self.k
    }

    /// g_ij (= g_ji).
    pub fn get(&self, i: usize, j: usize) -> &[f64] {
        &self.g[packed(self.k, i, j)]
    }

    /// The full k×k table of slices, the shape [`super::Sdcp::from_flow`] takes.
    pub fn table(&self) -> Vec<Vec<&[f64]>> {
        (0..self.k)
            .map(|i| (0..self.k).map(|j| self.get(i, j)).collect())
            .collect()
    }

    /// Σ_ij X_ij g_ij for a k×k matrix X (= ∇⟨Σ, ∇²L⟩ for Σ = U X Uᵀ with U fixed).
    pub fn contract(&self, x: &nalgebra::DMatrix<f64>) -> Vec<f64> {
        let p = self.g.first().map_or(0, |v| v.len());
        let mut out = vec![0.0; p];
        for i in 0..self.k {
            for j in 0..self.k {
                let c = x[(i, j)];
                if c != 0.0 {
                    for (o, v) in out.iter_mut().zip(self.get(i, j)) {
                        *o += c * v;
                    }
                }
            }
        }
        out
    }
}

/// The finite-difference step (`eps`, or `default_fd_step`), checked, after checking that
/// `params` and every vector have one entry per parameter.
fn checked_step<'a, D: Derivatives>(
    d: &D,
    params: &[f64],
    mut vectors: impl Iterator<Item = &'a [f64]>,
    eps: Option<f64>,
) -> Result<f64, TheoryError> {
    let p = d.dim();
    if params.len() != p || vectors.any(|u| u.len() != p) {
        return Err(TheoryError::Shape(format!(
            "third derivatives need vectors of length {p} (the number of parameters)"
        )));
    }
    let eps = eps.unwrap_or_else(|| default_fd_step(d.unit_roundoff(), params));
    if !(eps.is_finite() && eps > 0.0) {
        return Err(TheoryError::invalid(
            "eps",
            eps,
            "the finite-difference step must be a finite number > 0",
        ));
    }
    Ok(eps)
}

/// D_ij(ε) = (∇²L(w + εu_i)u_j − ∇²L(w − εu_i)u_j)/(2ε) for all j ≥ i (2 HVPs per j).
fn mixed_differences<D: Derivatives>(
    d: &mut D,
    params: &[f64],
    us: &[Vec<f64>],
    i: usize,
    eps: f64,
) -> Result<Vec<Vec<f64>>, TheoryError> {
    let shifted = |s: f64| -> Vec<f64> {
        params
            .iter()
            .zip(&us[i])
            .map(|(p, x)| p + s * eps * x)
            .collect()
    };
    let plus = shifted(1.0);
    let minus = shifted(-1.0);
    let hp: Vec<Vec<f64>> = us[i..]
        .iter()
        .map(|u| d.hvp(&plus, u))
        .collect::<Result<_, _>>()?;
    let hm: Vec<Vec<f64>> = us[i..]
        .iter()
        .map(|u| d.hvp(&minus, u))
        .collect::<Result<_, _>>()?;
    Ok(hp
        .iter()
        .zip(&hm)
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y) / (2.0 * eps))
                .collect()
        })
        .collect())
}

/// g_ij = ∇³L(params)[u_i, u_j, ·] for unit vectors `us` (the critical eigenvectors).
/// `eps = None` picks `default_fd_step`; `richardson` doubles the HVPs for O(ε⁴) accuracy.
pub fn third_derivatives<D: Derivatives>(
    d: &mut D,
    params: &[f64],
    us: &[Vec<f64>],
    eps: Option<f64>,
    richardson: bool,
) -> Result<ThirdDerivatives, TheoryError> {
    let eps = checked_step(d, params, us.iter().map(Vec::as_slice), eps)?;
    let k = us.len();
    let mut g = Vec::with_capacity(k * (k + 1) / 2);
    let mut hvps = 0;
    let mut rel_change: f64 = if richardson { 0.0 } else { f64::NAN };
    for i in 0..k {
        let d1 = mixed_differences(d, params, us, i, eps)?;
        hvps += 2 * (k - i);
        if richardson {
            let d2 = mixed_differences(d, params, us, i, eps / 2.0)?;
            hvps += 2 * (k - i);
            for (a, b) in d1.iter().zip(&d2) {
                let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
                let nb: f64 = b.iter().map(|y| y * y).sum();
                rel_change = rel_change.max(diff.sqrt() / nb.sqrt().max(1e-300));
                g.push(a.iter().zip(b).map(|(x, y)| (4.0 * y - x) / 3.0).collect());
            }
        } else {
            g.extend(d1);
        }
    }
    Ok(ThirdDerivatives {
        k,
        g,
        eps,
        rel_change,
        hvps,
        grads: 0,
    })
}

/// S_a(ε) = (∇L(w + εa) − 2∇L(w) + ∇L(w − εa))/ε² (2 gradients).
fn second_difference<D: Derivatives>(
    d: &mut D,
    params: &[f64],
    grad0: &[f64],
    a: &[f64],
    eps: f64,
) -> Result<Vec<f64>, TheoryError> {
    let at = |s: f64| -> Vec<f64> { params.iter().zip(a).map(|(p, x)| p + s * x).collect() };
    let (_, gp) = d.loss_grad(&at(eps))?;
    let (_, gm) = d.loss_grad(&at(-eps))?;
    let e2 = eps * eps;
    Ok(gp
        .iter()
        .zip(&gm)
        .zip(grad0)
        .map(|((p, m), c)| (p - 2.0 * c + m) / e2)
        .collect())
}

/// ∇³L[a, a, ·] by `second_difference`, Richardson-extrapolated when asked; returns the value,
/// the relative change between ε and ε/2 (NaN without Richardson) and the gradients spent.
fn along<D: Derivatives>(
    d: &mut D,
    params: &[f64],
    grad0: &[f64],
    a: &[f64],
    eps: f64,
    richardson: bool,
) -> Result<(Vec<f64>, f64, usize), TheoryError> {
    let s1 = second_difference(d, params, grad0, a, eps)?;
    if !richardson {
        return Ok((s1, f64::NAN, 2));
    }
    let s2 = second_difference(d, params, grad0, a, eps / 2.0)?;
    let diff: f64 = s1.iter().zip(&s2).map(|(x, y)| (x - y).powi(2)).sum();
    let n2: f64 = s2.iter().map(|y| y * y).sum();
    let rel = diff.sqrt() / n2.sqrt().max(1e-300);
    Ok((
        s1.iter()
            .zip(&s2)
            .map(|(x, y)| (4.0 * y - x) / 3.0)
            .collect(),
        rel,
        4,
    ))
}

/// g_ij = ∇³L(params)[u_i, u_j, ·] from gradients only ([`ThirdMethod::Gradients`]):
/// `grad0` = ∇L(params). `eps = None` picks `default_fd_step`.
pub fn third_derivatives_from_gradients<D: Derivatives>(
    d: &mut D,
    params: &[f64],
    grad0: &[f64],
    us: &[Vec<f64>],
    eps: Option<f64>,
    richardson: bool,
) -> Result<ThirdDerivatives, TheoryError> {
    let vectors = us.iter().map(Vec::as_slice).chain([grad0]);
    let eps = checked_step(d, params, vectors, eps)?;
    let k = us.len();
    let mut g = Vec::with_capacity(k * (k + 1) / 2);
    let mut grads = 0;
    let mut rel_change: f64 = if richardson { 0.0 } else { f64::NAN };
    for i in 0..k {
        for j in i..k {
            let v = if i == j {
                let (v, rel, n) = along(d, params, grad0, &us[i], eps, richardson)?;
                grads += n;
                rel_change = rel_change.max(rel);
                v
            } else {
                let plus: Vec<f64> = us[i].iter().zip(&us[j]).map(|(a, b)| a + b).collect();
                let minus: Vec<f64> = us[i].iter().zip(&us[j]).map(|(a, b)| a - b).collect();
                let (sp, r1, n1) = along(d, params, grad0, &plus, eps, richardson)?;
                let (sm, r2, n2) = along(d, params, grad0, &minus, eps, richardson)?;
                grads += n1 + n2;
                rel_change = rel_change.max(r1).max(r2);
                sp.iter().zip(&sm).map(|(a, b)| (a - b) / 4.0).collect()
            };
            g.push(v);
        }
    }
    Ok(ThirdDerivatives {
        k,
        g,
        eps,
        rel_change,
        hvps: 0,
        grads,
    })
}
