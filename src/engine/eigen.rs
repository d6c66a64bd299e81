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

/// Warm starts along a trajectory: the Ritz vectors of the last two solves, each with the
/// parameters it was computed at. A solve starts from the one whose parameters are nearer its
/// own along the top eigenvector ([`WarmStarts::nearest`]). Before the edge of stability that
/// is the previous step's; at the edge GD oscillates with period two along the top
/// eigenvector, so the step before last is on the same side of the oscillation and its
/// eigenvectors are the nearer ones. CIFAR-5k at η = 0.02, 20 steps from step 1200
/// (`eos-explorer bench --start-step 1200`): the measured-theory tracker's f32 probe to 1e-4
/// takes 4.8 products instead of 7.0 from the last step's vector.
#[derive(Clone, Debug, Default)]
pub struct WarmStarts {
    /// Oldest first, at most two.
    entries: Vec<(Vec<f64>, Vec<Vec<f64>>)>,
}

impl WarmStarts {
    /// The Ritz vectors computed at the parameters nearest `params` along the latest top
    /// eigenvector u (empty before any probe): the probe with the smallest |uᵀ(θ − θᵢ)|. At the
    /// edge of stability GD's iterates oscillate along u while drifting slowly across it, and
    /// the eigenvector follows the oscillation, so the distance along u is what tells which
    /// probe's eigenvector is nearer; the full distance ‖θ − θᵢ‖ is mostly drift and picks the
    /// last step too often (5.8 products per probe instead of 4.8 in the bench above).
    pub fn nearest(&self, params: &[f64]) -> &[Vec<f64>] {
        let Some(u) = self.latest().first().filter(|u| u.len() == params.len()) else {
            return self.latest();
        };
        let along = |theta: &[f64]| -> f64 {
            if theta.len() != params.len() {
                return f64::INFINITY;
            }
            theta
                .iter()
                .zip(params)
                .zip(u)
                .map(|((a, b), u)| (b - a) * u)
                .sum::<f64>()
                .abs()
        };
        let mut best: Option<(f64, &[Vec<f64>])> = None;
        // Newest first, so a tie goes to the latest probe.
        for (theta, ritz) in self.entries.iter().rev() {
            let d = along(theta);
            if best.is_none_or(|(b, _)| d < b) {
                best = Some((d, ritz));
            }
        }
        best.map_or(&[], |(_, r)| r)
    }

    /// The latest probe's Ritz vectors (empty before any probe).
    pub fn latest(&self) -> &[Vec<f64>] {
        self.entries.last().map_or(&[], |(_, r)| r)
    }

    /// Record a probe's Ritz vectors at `params`, dropping the oldest beyond two.
    pub fn push(&mut self, params: &[f64], ritz: Vec<Vec<f64>>) {
        if self.entries.len() == 2 {
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
        // At most two are kept.
        w.push(&[5.0, 5.0], vec![vec![1.0, 0.0]]);
        assert_eq!(w.nearest(&[-0.9, 0.0]), &[vec![0.999, 0.0447]]);
        // Parameters of another length: the latest.
        assert_eq!(w.nearest(&[1.0]), &[vec![1.0, 0.0]]);
    }
}
