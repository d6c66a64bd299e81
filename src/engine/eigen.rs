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
