//! The top-k Hessian eigen-solve a run makes at its measured steps: which solver, one entry
//! point ([`top_eigen`]) for the session and the benchmark.
//!
//! * [`EigenSolver::Block`] (default): the first solve of a run is a Lanczos run from a
//!   random vector; every later one is LOBPCG ([`crate::engine::lobpcg`]) on a block of k + 1
//!   columns seeded with the previous solve's top k + 1 Ritz vectors. Along a GD trajectory those
//!   vectors move little per step, so a warm block is accurate after one or two rounds, and a
//!   block resolves eigenvalues that cross or coincide (single-vector Lanczos sees one
//!   direction of a degenerate eigenspace).
//! * [`EigenSolver::Lanczos`]: Lanczos every time, from the sum of the previous Ritz vectors.
//!
//! Both report the same result type with the same stop rule: each of the top k values within
//! `tol`·|θ| by its residual (cluster) bound; see [`crate::engine::lanczos`] for what that
//! bound guarantees.

use serde::{Deserialize, Serialize};

use super::lanczos::{LanczosOptions, LanczosResult, lanczos};
use super::lobpcg::{LobpcgOptions, lobpcg};
use super::vecops::{distance, dot, norm};

/// Guard columns of the block beyond the k asked for. One is enough with LOBPCG: on CIFAR-5k a
/// warm estimate of λ1 takes 3 products with one guard and 4 with two, and on the digits demo
/// (400 steps, tol 1e-4) both give the same λ1 to 7e-6 at every step.
pub const GUARDS: usize = 1;

/// Relative residual below which the block's guard columns stop being refined. They only
/// have to show an eigenvalue rising into the top k; refining them to `tol` as well cost 6
/// products per warm λ1 estimate on CIFAR-5k instead of 4 (measured with two guards,
/// `eos-explorer bench`).
pub const GUARD_TOL: f64 = 0.1;

/// Which eigensolver a run's sharpness estimates use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EigenSolver {
    /// Lanczos for the first solve, then a warm-started block (LOBPCG) of k + 1 vectors.
    #[default]
    Block,
    /// Lanczos every time, warm-started from the sum of the previous Ritz vectors.
    Lanczos,
}

impl EigenSolver {
    pub const ALL: [EigenSolver; 2] = [EigenSolver::Block, EigenSolver::Lanczos];

    pub fn name(self) -> &'static str {
        match self {
            EigenSolver::Block => "block",
            EigenSolver::Lanczos => "lanczos",
        }
    }
}

impl std::str::FromStr for EigenSolver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EigenSolver::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown eigensolver `{s}` (use `block` or `lanczos`)"))
    }
}

/// Top-k eigenpairs of the operator `apply` (dimension `dim`), warm-started from `warm` (the
/// previous result's `warm_vectors`; empty for a cold start). `opts.max_iter` caps the
/// operator applications of either solver.
pub fn top_eigen<F>(
    solver: EigenSolver,
    dim: usize,
    apply: F,
    opts: &LanczosOptions,
    warm: &[Vec<f64>],
) -> LanczosResult
where
    F: FnMut(&[f64], &mut [f64]),
{
    match solver {
        EigenSolver::Block if !warm.is_empty() => lobpcg(
            dim,
            apply,
            &LobpcgOptions {
                k: opts.k,
                block: opts.k + GUARDS,
                max_matvecs: opts.max_iter,
                tol: opts.tol,
                guard_tol: GUARD_TOL,
                seed: opts.seed,
            },
            warm,
        ),
        _ => lanczos(dim, apply, opts, warm),
    }
}

/// Warm starts along a trajectory: the Ritz vectors of the last four solves, each with the
/// parameters it was computed at.
///
/// * **Which earlier solve** ([`WarmStarts::nearest`]): the one of the last two whose
///   parameters are nearer along the top eigenvector. Before the edge of stability that is the
///   previous step's; at the edge GD oscillates with period two along the top eigenvector, so
///   the step before last is on the same side of the oscillation and its eigenvectors are the
///   nearer ones. CIFAR-5k at η = 0.02, 20 steps from step 1200 (`eos-explorer bench
///   --start-step 1200`): the measured-theory tracker's f32 probe to 1e-4 takes 4.8 products
///   instead of 7.0 from the last step's vector.
/// * **Extrapolated along the drift** ([`WarmStarts::start`]): the top eigenvector keeps
///   turning in the same direction from one solve to the next on the same side of the
///   oscillation, so the start is that solve's top vector pushed on by its last change,
///   u_j + w·(u_j − u_j′) with j′ the solve as far before j as j is before now and w the ratio
///   of the parameter distances (≈ 1 for evenly spaced solves, at most 2). CIFAR-5k steps
///   1201–1269: 3.41 products per warm λ1 estimate to 1e-3 instead of 3.80, and 3–4 instead of
///   5–7 over steps 1230–1236, where the oscillation grows fastest.
#[derive(Clone, Debug, Default)]
pub struct WarmStarts {
    /// Oldest first, at most [`WarmStarts::KEPT`].
    entries: Vec<(Vec<f64>, Vec<Vec<f64>>)>,
}

impl WarmStarts {
    /// Solves kept: the nearer of the last two and the one as far before it.
    const KEPT: usize = 4;

    /// Below this |cos| between a vector and its predecessor the two are not the same
    /// eigenvector turning a little, and the start is not extrapolated.
    const MIN_COS: f64 = 0.9;

    /// Index (into `entries`) of the solve nearest `params` along the latest top eigenvector u:
    /// the one of the last two with the smallest |uᵀ(θ − θᵢ)|. At the edge of stability GD's
    /// iterates oscillate along u while drifting slowly across it, and the eigenvector follows
    /// the oscillation, so the distance along u is what tells which solve's eigenvector is
    /// nearer; the full distance ‖θ − θᵢ‖ is mostly drift and picks the last step too often
    /// (5.8 products per probe instead of 4.8 in the bench above).
    fn nearest_index(&self, params: &[f64]) -> Option<usize> {
        let n = self.entries.len();
        let last = n.checked_sub(1)?;
        let Some(u) = self.entries[last]
            .1
            .first()
            .filter(|u| u.len() == params.len())
        else {
            return Some(last);
        };
        let u_params = dot(u, params);
        let along = |theta: &[f64]| -> f64 {
            if theta.len() != params.len() {
                return f64::INFINITY;
            }
            (u_params - dot(u, theta)).abs()
        };
        let mut best: Option<(f64, usize)> = None;
        // Newest first, so a tie goes to the latest solve.
        for i in (n.saturating_sub(2)..n).rev() {
            let d = along(&self.entries[i].0);
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// The Ritz vectors of the solve nearest `params` ([`Self::nearest_index`]; empty before
    /// any solve).
    pub fn nearest(&self, params: &[f64]) -> &[Vec<f64>] {
        self.nearest_index(params)
            .map_or(&[], |i| self.entries[i].1.as_slice())
    }

    /// The start block for a solve at `params`: the nearest solve's Ritz vectors
    /// ([`Self::nearest`]) with the top one extrapolated along its last change (see the type's
    /// documentation); just the nearest solve's vectors when there is no earlier solve on the
    /// same side, or when the top vector changed too much to extrapolate.
    pub fn start(&self, params: &[f64]) -> std::borrow::Cow<'_, [Vec<f64>]> {
        use std::borrow::Cow;
        let Some(j) = self.nearest_index(params) else {
            return Cow::Borrowed(&[]);
        };
        let block = self.entries[j].1.as_slice();
        let lag = self.entries.len() - j;
        let Some(jp) = j.checked_sub(lag) else {
            return Cow::Borrowed(block);
        };
        let (theta_j, theta_p) = (&self.entries[j].0, &self.entries[jp].0);
        let (Some(u), Some(up)) = (block.first(), self.entries[jp].1.first()) else {
            return Cow::Borrowed(block);
        };
        let dim = params.len();
        if [u.len(), up.len(), theta_j.len(), theta_p.len()]
            .iter()
            .any(|&l| l != dim)
        {
            return Cow::Borrowed(block);
        }
        let (nu, nup) = (norm(u), norm(up));
        let cos = dot(u, up) / (nu * nup);
        let (ahead, behind) = (distance(params, theta_j), distance(theta_j, theta_p));
        let w = (ahead / behind).min(2.0);
        if !(cos.abs() >= Self::MIN_COS && w.is_finite()) {
            return Cow::Borrowed(block);
        }
        // Align the sign of the earlier vector before differencing (an eigenvector's sign is
        // arbitrary).
        let s = cos.signum() * nu / nup;
        let mut x: Vec<f64> = u.iter().zip(up).map(|(a, b)| a + w * (a - s * b)).collect();
        let nx = norm(&x);
        if !(nx.is_finite() && nx > 0.0) {
            return Cow::Borrowed(block);
        }
        x.iter_mut().for_each(|v| *v *= nu / nx);
        Cow::Owned(
            std::iter::once(x)
                .chain(block[1..].iter().cloned())
                .collect(),
        )
    }

    /// The latest solve's Ritz vectors (empty before any solve).
    pub fn latest(&self) -> &[Vec<f64>] {
        self.entries.last().map_or(&[], |(_, r)| r)
    }

    /// Record a solve's Ritz vectors at `params`, dropping the oldest beyond
    /// [`WarmStarts::KEPT`].
    pub fn push(&mut self, params: &[f64], ritz: Vec<Vec<f64>>) {
        if self.entries.len() == Self::KEPT {
            self.entries.remove(0);
        }
        self.entries.push((params.to_vec(), ritz));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_starts_pick_the_probe_at_the_nearest_parameters() {
        let mut w = WarmStarts::default();
        assert!(w.nearest(&[0.0, 0.0]).is_empty());
        // A period-2 oscillation along u = e₁ with a larger drift along e₂: θ alternates
        // between two sides of the first coordinate.
        w.push(&[1.0, 0.0], vec![vec![1.0, 0.0]]);
        w.push(&[-1.0, 3.0], vec![vec![0.999, 0.0447]]);
        assert_eq!(w.latest(), &[vec![0.999, 0.0447]]);
        // Back on the first side: the step before last is nearer along u, although the last
        // step is nearer in full distance.
        assert_eq!(w.nearest(&[1.0, 4.0]), &[vec![1.0, 0.0]]);
        // A monotone drift along u: the last step is nearer.
        assert_eq!(w.nearest(&[-1.5, 4.0]), &[vec![0.999, 0.0447]]);
        // Only the last two are candidates.
        w.push(&[5.0, 5.0], vec![vec![1.0, 0.0]]);
        assert_eq!(w.nearest(&[-0.9, 0.0]), &[vec![0.999, 0.0447]]);
        // Parameters of another length: the latest.
        assert_eq!(w.nearest(&[1.0]), &[vec![1.0, 0.0]]);
    }

    /// |cos| of the angle between two vectors.
    fn cos(a: &[f64], b: &[f64]) -> f64 {
        (dot(a, b) / (norm(a) * norm(b))).abs()
    }

    fn rot(phi: f64) -> Vec<f64> {
        vec![phi.cos(), phi.sin(), 0.0]
    }

    #[test]
    fn the_start_follows_a_turning_eigenvector() {
        // Monotone drift along e₃, the eigenvector turning by 0.1 rad per solve in the e₁e₂
        // plane; the second solve's vector is stored with the opposite sign.
        let mut w = WarmStarts::default();
        w.push(&[0.0, 0.0, 0.0], vec![rot(0.0)]);
        // One solve: nothing to extrapolate from.
        assert_eq!(w.start(&[0.0, 0.0, 1.0]).as_ref(), &[rot(0.0)]);
        let flipped: Vec<f64> = rot(0.1).iter().map(|x| -x).collect();
        w.push(&[0.0, 0.0, 1.0], vec![flipped.clone()]);
        let s = w.start(&[0.0, 0.0, 2.0]);
        let truth = rot(0.2);
        // The last solve's vector is 0.1 rad off; the extrapolated start is much closer.
        assert!(1.0 - cos(&s[0], &truth) < 1e-3 * (1.0 - cos(&flipped, &truth)));
        // The sign of the vector it starts from is kept, its length too.
        assert!(dot(&s[0], &flipped) > 0.0);
        assert!((norm(&s[0]) - 1.0).abs() < 1e-12);

        // Period-two oscillation along the eigenvector (e₁) with a drift along e₃: each side
        // has its own eigenvector, turning by 0.1 rad per two solves.
        let mut w = WarmStarts::default();
        let side = |t: usize| if t.is_multiple_of(2) { 1.0 } else { -1.0 };
        let phi = |t: usize| 0.05 * t as f64 + 0.3 * side(t);
        for t in 0..4 {
            w.push(&[side(t), 0.0, t as f64], vec![rot(phi(t))]);
        }
        let s = w.start(&[side(4), 0.0, 4.0]);
        let truth = rot(phi(4));
        assert!(1.0 - cos(&s[0], &truth) < 1e-3 * (1.0 - cos(&rot(phi(2)), &truth)));

        // A jump (here 90°) is not extrapolated: the nearest solve's block comes back as is.
        let mut w = WarmStarts::default();
        w.push(&[0.0, 0.0, 0.0], vec![rot(0.0)]);
        w.push(&[0.0, 0.0, 1.0], vec![rot(1.5)]);
        assert_eq!(w.start(&[0.0, 0.0, 2.0]).as_ref(), &[rot(1.5)]);
    }
}
