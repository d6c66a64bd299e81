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

use crate::engine::theory::TheoryError;
use crate::engine::theory::measured::{Derivatives, default_fd_step};

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
    let p = d.dim();
    if params.len() != p || us.iter().any(|u| u.len() != p) {
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
    })
}
