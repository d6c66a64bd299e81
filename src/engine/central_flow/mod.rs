//! The central flow of Cohen, Damian, Talwalkar, Kolter & Lee ("Understanding Optimization in
//! Deep Learning with Central Flows", ICLR 2025): an ODE that follows the *time-averaged*
//! trajectory of full-batch gradient descent through the edge of stability (GitHub issue 11).
//!
//! # The flow
//!
//! Time is measured in GD steps:
//!
//!   dw/dt = −η [∇L(w) + ½ ∇_w⟨Σ, ∇²L(w)⟩],   Σ = U X Uᵀ,
//!
//! with U the k *critical* Hessian eigenvectors (eigenvalues ≥ `critical_factor`/η, 1.95/η by
//! default) and X ⪰ 0 (k×k) the covariance of GD's oscillation in their span, chosen so that
//! the critical eigenvalues do not exceed 2/η: X solves the semidefinite complementarity
//! problem of [`Sdcp::from_flow`] (derivation there). With U fixed,
//! ½∇⟨Σ, ∇²L⟩ = ½ Σ_ij X_ij g_ij with g_ij = ∇_w(u_iᵀ∇²L u_j) ([`third_derivatives`]).
//! With no critical eigenvalue the flow is gradient flow.
//!
//! # The discretisation ([`CentralFlow`])
//!
//! Each GD step is `substeps` explicit Euler substeps of size dt = 1/substeps (4 by default).
//! A substep computes ∇L, the top eigenpairs by Lanczos warm-started from the previous
//! substep's Ritz vectors (every eigenvalue ≥ `track_factor`/η is tracked: the solve asks for
//! one more eigenvalue than were tracked last time and grows while all of them are above the
//! threshold), the third derivatives along the critical eigenvectors, the SDCP's X, then
//! w ← w − η·dt·[∇L + ½ Σ_ij X_ij g_ij]. The SDCP carries the substep: its A holds
//! (2/η − λ_i)/dt, so a sharpness below 2/η is left alone (X = 0) unless the coming substep
//! would carry it past 2/η, and one that overshot is brought back in one substep. With no
//! critical eigenvalue the update is w ← w − (η·dt)∇L, bit for bit an explicit-Euler gradient
//! flow with the same substeps.
//!
//! # Per GD step ([`FlowRecord`])
//!
//! The loss L(w), the predicted time-averaged GD loss L(w) + ½⟨Σ, ∇²L(w)⟩ = L + ½ Σ_i X_ii λ_i
//! (= L + tr(X)/η when the critical eigenvalues sit at 2/η), the tracked eigenvalues, the
//! eigenvalues σ² of X, k, and the HVPs spent.
//!
//! # On the probe seam ([`probe`])
//!
//! [`CentralFlowProbe`] runs the flow and a gradient flow beside a GD run (`run --central-flow`,
//! the app's "Central flow" checkbox) and writes `central_flow.csv` and
//! `central_flow_summary.json`; its module docs define the summary's windows.
//!
//! # Link to Damian et al. 2022 ([`damian_link`])
//!
//! For k = 1 at S = 2/η, σ² = −2⟨∇S, ∇L⟩/‖∇S‖². Damian et al.'s self-stabilization predicts
//! an oscillation of amplitude δ = √(2α/β) along u with α = −⟨∇L, ∇S⊥⟩, β = ‖∇S⊥‖² and
//! ∇S⊥ = ∇S − u(uᵀ∇S): the same formula with ∇S replaced by its part orthogonal to u (in
//! their analysis the motion along u is the oscillation itself, so only ∇S⊥ moves the
//! sharpness on average).

mod flow;
pub mod probe;
mod sdcp;
mod third;

pub use flow::{CentralFlow, CentralFlowError, CentralFlowOptions, FlowEigen, FlowRecord};
pub use probe::{
    CentralFlowLog, CentralFlowProbe, CentralFlowProbeOptions, CentralFlowReport, CentralFlowRow,
    CentralFlowUpdate, LinkAt,
};
pub use sdcp::{Sdcp, SdcpError, SdcpOptions, SdcpSolution, project_psd, sym_eigenvalues};
pub use third::{
    ThirdDerivatives, ThirdMethod, third_derivatives, third_derivatives_from_gradients,
};

/// ‖a − b‖ (Euclidean). Panics in debug builds if the lengths differ.
pub fn distance(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// ‖w_GD − w_CF‖ / ‖w_GD − w_GF‖: below 1 when the central flow tracks GD better than
/// gradient flow does (NaN when GD and gradient flow coincide).
pub fn distance_ratio(w_gd: &[f64], w_cf: &[f64], w_gf: &[f64]) -> f64 {
    let den = distance(w_gd, w_gf);
    if den > 0.0 {
        distance(w_gd, w_cf) / den
    } else {
        f64::NAN
    }
}

/// The central flow's σ² (k = 1) beside Damian et al.'s δ² at one point.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DamianLink {
    /// max(0, −2⟨∇S, ∇L⟩/‖∇S‖²): the central flow's σ² at S = 2/η (dt → 0).
    pub sigma2: f64,
    /// α = −⟨∇L, ∇S⊥⟩ (Damian et al. 2022's progressive-sharpening rate).
    pub alpha: f64,
    /// β = ‖∇S⊥‖².
    pub beta: f64,
    /// δ² = 2α/β (negative when α < 0: no self-stabilization equilibrium).
    pub delta2: f64,
    /// uᵀ∇S / ‖∇S‖: how much of ∇S lies along u (the part δ² drops).
    pub along_u: f64,
}

/// σ² of the central flow and δ² = 2α/β of Damian et al. 2022 from ∇L, ∇S = ∇³L[u, u] and the
/// unit top eigenvector u. They agree exactly when uᵀ∇S = 0; otherwise σ² uses the full ∇S and
/// δ² only ∇S⊥ (see the module docs).
pub fn damian_link(grad_loss: &[f64], grad_s: &[f64], u: &[f64]) -> DamianLink {
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    let s2 = dot(grad_s, grad_s);
    let sigma2 = if s2 > 0.0 {
        (-2.0 * dot(grad_s, grad_loss) / s2).max(0.0)
    } else {
        f64::NAN
    };
    let us = dot(u, grad_s);
    let perp: Vec<f64> = grad_s.iter().zip(u).map(|(s, x)| s - us * x).collect();
    let alpha = -dot(grad_loss, &perp);
    let beta = dot(&perp, &perp);
    DamianLink {
        sigma2,
        alpha,
        beta,
        delta2: if beta > 0.0 {
            2.0 * alpha / beta
        } else {
            f64::NAN
        },
        along_u: if s2 > 0.0 { us / s2.sqrt() } else { f64::NAN },
    }
}
