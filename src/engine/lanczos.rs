//! Lanczos for the top-k **largest algebraic** eigenvalues of a symmetric operator given only
//! by matrix–vector products (here: exact Hessian–vector products).
//!
//! * Full reorthogonalisation (two passes of classical Gram–Schmidt against every Lanczos
//!   vector), so no ghost eigenvalues appear, whatever the iteration count.
//! * Stops when every reported Ritz value θ_i (i ≤ k) has an error bound ≤ `tol`·|θ_i|. The
//!   bound is residual-based: r_i = β_m |e_mᵀ s_i| = ‖H y_i − θ_i y_i‖, and Ritz values whose
//!   intervals [θ − r, θ + r] overlap form a cluster bounded together by ρ = (Σ r²)^½.
//!
//!   **What is guaranteed** (exact arithmetic; full reorthogonalisation keeps us close to it):
//!   (1) each reported θ_i lies within its bound of an eigenvalue of H, and the eigenvalues
//!   matched to different reported values are distinct (Kahan's theorem for the cluster's
//!   residual block; Parlett, *The Symmetric Eigenvalue Problem*, Thm 11.5.2), so a cluster
//!   λ1 ≈ λ2 is never reported by two Ritz values leaning on one eigenvalue; (2) θ_i ≤ λ_i
//!   (Cauchy interlacing: a Ritz value never exceeds the eigenvalue of the same rank). Hence
//!   θ_i is within its bound of λ_i unless an eigenvalue above θ_k has no Ritz value at all —
//!   an eigenvector the Krylov space has not seen yet, which no method using only products can
//!   rule out; the start vector's random component makes it unlikely.
//!
//!   **What is not used, and why.** The quadratic Kato–Temple bound r²/gap (Saad, *Numerical
//!   Methods for Large Eigenvalue Problems*, Thm 3.9) needs the gap to the nearest *other
//!   eigenvalue*; the gap to the nearest other Ritz value can be far larger when one Ritz
//!   vector still mixes two close eigenvectors. That is how a warm solve at CIFAR-5k step 350
//!   stopped after 8 products reporting λ2 = 55.830 (truth 56.314, λ3 = 55.79): its residual
//!   was 0.15, the Ritz gap ~10, so r²/gap claimed 2e-4 relative (reproduced in
//!   `tests/lanczos_clusters.rs`). The residual bound costs more products on clusters and is
//!   honest there.
//! * Warm start from the previous call's Ritz vectors: along a training trajectory the top
//!   eigenvector moves little per step, so a start inside its span converges in a few products.
//!
//! Vectors are `f64` whatever precision the model runs in.

use nalgebra::{DMatrix, SymmetricEigen};

use super::rng::Rng;
pub(crate) use super::vecops::{axpy, dot, norm};
use super::vecops::{combine, project_out};

/// How to run Lanczos.
#[derive(Clone, Debug)]
pub struct LanczosOptions {
    /// How many of the largest algebraic eigenvalues to return.
    pub k: usize,
    /// Upper bound on iterations (= operator applications).
    pub max_iter: usize,
    /// At least this many iterations (e.g. to run a fixed 20-step estimate set `min_iter = max_iter = 20`).
    pub min_iter: usize,
    /// Relative accuracy target on each of the top-k eigenvalues: stop once every error bound
    /// is ≤ `tol`·|θ_i| (0 = run to `max_iter`).
    pub tol: f64,
    /// Seed of the random start vector (used when there is no warm start, and to perturb one).
    pub seed: u64,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        LanczosOptions {
            k: 1,
            max_iter: 100,
            min_iter: 1,
            tol: 1e-3,
            seed: 0,
        }
    }
}

/// What Lanczos found.
#[derive(Clone, Debug, Default)]
pub struct LanczosResult {
    /// Top-k Ritz values, largest first.
    pub eigenvalues: Vec<f64>,
    /// Matching unit Ritz vectors.
    pub eigenvectors: Vec<Vec<f64>>,
    /// The top min(k + 2, m) Ritz vectors (the first k are `eigenvectors`): what the next
    /// call should warm-start from. Carrying two extra directions lets a warm solve resolve
    /// eigenvalues that swap order between calls; from the top-k alone it can converge to
    /// the old top direction (now λ2) with a tiny residual and miss the new λ1 (seen on the
    /// digits demo: 3.5e-3 error with k = 1).
    pub warm_vectors: Vec<Vec<f64>>,
    /// ‖H y − θ y‖ for each pair (computed from the recurrence: β_m |e_mᵀ s|).
    pub residuals: Vec<f64>,
    /// Error bound of each eigenvalue: its residual norm, or its cluster's (Σ r²)^½ when
    /// residual intervals overlap (see the module docs for what it guarantees).
    pub error_bounds: Vec<f64>,
    /// Operator applications used.
    pub matvecs: usize,
    /// Whether every requested eigenvalue met `tol` (or the Krylov space became invariant).
    pub converged: bool,
}

/// Eigen-decomposition of the tridiagonal T (diagonal `a`, off-diagonal `b`), eigenvalues
/// sorted largest first, with the matching eigenvector columns.
fn tridiag_eig(a: &[f64], b: &[f64]) -> (Vec<f64>, DMatrix<f64>) {
    let m = a.len();
    let mut t = DMatrix::<f64>::zeros(m, m);
    for i in 0..m {
        t[(i, i)] = a[i];
        if i + 1 < m {
            t[(i, i + 1)] = b[i];
            t[(i + 1, i)] = b[i];
        }
    }
    let eig = SymmetricEigen::new(t);
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let values = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    let mut vectors = DMatrix::<f64>::zeros(m, m);
    for (c, &i) in order.iter().enumerate() {
        vectors.set_column(c, &eig.eigenvectors.column(i));
    }
    (values, vectors)
}

/// Error bounds of the reported Ritz values `theta` (largest first) from their residual norms
/// `res`: Ritz values whose residual intervals [θ − r, θ + r] overlap (directly or through a
/// chain) form a cluster, and every member gets the cluster's residual norm
/// ρ = (Σ r²)^½ — the 2-norm of H·Y − Y·Θ over the cluster's Ritz vectors, since Lanczos
/// residuals are all parallel to the next Lanczos vector. By Kahan's theorem (Parlett, *The
/// Symmetric Eigenvalue Problem*, Thm 11.5.2) a cluster of c Ritz values has c *distinct*
/// eigenvalues, each within ρ of one of them: two Ritz values never lean on one eigenvalue.
pub(crate) fn error_bounds(theta: &[f64], res: &[f64]) -> Vec<f64> {
    let k = theta.len();
    let mut bounds = vec![0.0; k];
    let mut start = 0;
    while start < k {
        // theta is sorted largest first: extend the cluster while the intervals touch.
        let mut end = start + 1;
        while end < k && theta[end - 1] - res[end - 1] <= theta[end] + res[end] {
            end += 1;
        }
        let rho = res[start..end].iter().map(|r| r * r).sum::<f64>().sqrt();
        bounds[start..end].iter_mut().for_each(|b| *b = rho);
        start = end;
    }
    bounds
}

/// Run Lanczos on a symmetric operator of dimension `dim`. `apply(v, out)` must write H·v into
/// `out`. `warm` holds previous Ritz vectors to start from (may be empty).
pub fn lanczos<F>(
    dim: usize,
    mut apply: F,
    opts: &LanczosOptions,
    warm: &[Vec<f64>],
) -> LanczosResult
where
    F: FnMut(&[f64], &mut [f64]),
{
    if dim == 0 || opts.k == 0 {
        return LanczosResult {
            converged: true,
            ..Default::default()
        };
    }
    let k = opts.k.min(dim);
    let max_iter = opts.max_iter.max(k).min(dim);
    let min_iter = opts.min_iter.min(max_iter);

    // Start vector: the previous Ritz vectors (summed), slightly perturbed so no direction is
    // exactly missing from the Krylov space; otherwise random.
    let mut rng = Rng::stream(opts.seed, "lanczos-start");
    let mut q0: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let usable: Vec<&Vec<f64>> = warm
        .iter()
        .filter(|v| v.len() == dim && norm(v) > 0.0 && norm(v).is_finite())
        .collect();
    if !usable.is_empty() {
        let rnorm = norm(&q0);
        let mut start = vec![0.0; dim];
        for v in &usable {
            axpy(1.0 / norm(v), v, &mut start);
        }
        let snorm = norm(&start);
        if snorm > 0.0 {
            // 1e-3 of random direction relative to the warm vector.
            let scale = 1e-3 * snorm / rnorm;
            for (s, r) in start.iter_mut().zip(&q0) {
                *s += scale * r;
            }
            q0 = start;
        }
    }
    let n0 = norm(&q0);
    for x in q0.iter_mut() {
        *x /= n0;
    }

    let mut basis: Vec<Vec<f64>> = vec![q0];
    let mut alphas: Vec<f64> = Vec::new();
    let mut betas: Vec<f64> = Vec::new();
    let mut w = vec![0.0; dim];
    let mut matvecs = 0;
    let mut result = LanczosResult::default();

    for j in 0..max_iter {
        apply(&basis[j], &mut w);
        matvecs += 1;
        if w.iter().any(|x| !x.is_finite()) {
            // A non-finite product: report what we have (nothing usable) rather than loop.
            result.eigenvalues = vec![f64::NAN; k];
            result.residuals = vec![f64::NAN; k];
            result.error_bounds = vec![f64::NAN; k];
            result.eigenvectors = vec![vec![f64::NAN; dim]; k];
            result.matvecs = matvecs;
            result.converged = false;
            return result;
        }
        let alpha = dot(&basis[j], &w);
        alphas.push(alpha);
        // Full reorthogonalisation (classical Gram–Schmidt, twice).
        project_out(&basis, &mut w);
        let beta = norm(&w);
        let m = alphas.len();
        let (theta, s) = tridiag_eig(&alphas, &betas);
        let kk = k.min(m);
        let res: Vec<f64> = (0..m).map(|i| beta * s[(m - 1, i)].abs()).collect();
        let bounds = error_bounds(&theta[..kk], &res[..kk]);
        let invariant = beta
            <= 1e-12
                * alphas
                    .iter()
                    .fold(0.0f64, |a, x| a.max(x.abs()))
                    .max(1e-300);
        let accurate = opts.tol > 0.0
            && kk == k
            && (0..k).all(|i| bounds[i] <= opts.tol * theta[i].abs().max(1e-300));
        let done = invariant || m == max_iter || (m >= min_iter && accurate);
        if done {
            result.eigenvalues = theta[..kk].to_vec();
            result.residuals = res[..kk].to_vec();
            result.error_bounds = bounds;
            let nw = (k + 2).min(m);
            result.warm_vectors = combine(&basis, &s.columns(0, nw).into_owned(), 0..m)
                .into_iter()
                .map(|mut y| {
                    let ny = norm(&y);
                    if ny > 0.0 {
                        y.iter_mut().for_each(|x| *x /= ny);
                    }
                    y
                })
                .collect();
            result.eigenvectors = result.warm_vectors[..kk].to_vec();
            result.matvecs = matvecs;
            result.converged = accurate || invariant;
            return result;
        }
        betas.push(beta);
        let next: Vec<f64> = w.iter().map(|x| x / beta).collect();
        basis.push(next);
    }
    result.matvecs = matvecs;
    result
}

/// Assemble a dense symmetric matrix from an operator (n products), symmetrised.
pub fn dense_from_operator<F>(dim: usize, mut apply: F) -> DMatrix<f64>
where
    F: FnMut(&[f64], &mut [f64]),
{
    let mut h = DMatrix::<f64>::zeros(dim, dim);
    let mut e = vec![0.0; dim];
    let mut out = vec![0.0; dim];
    for j in 0..dim {
        e[j] = 1.0;
        apply(&e, &mut out);
        e[j] = 0.0;
        for i in 0..dim {
            h[(i, j)] = out[i];
        }
    }
    (&h + h.transpose()) * 0.5
}

/// All eigenvalues of a dense symmetric matrix, largest first (nalgebra's QR algorithm).
pub fn dense_eigenvalues(h: &DMatrix<f64>) -> Vec<f64> {
    let eig = SymmetricEigen::new(h.clone());
    let mut v: Vec<f64> = eig.eigenvalues.iter().copied().collect();
    v.sort_by(|a, b| b.total_cmp(a));
    v
}

/// Largest asymmetry max|H − Hᵀ| relative to max|H|, for tests of assembled Hessians.
pub fn asymmetry(h: &DMatrix<f64>) -> f64 {
    let scale = h.amax().max(1e-300);
    (h - h.transpose()).amax() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diagonal-plus-rank-one symmetric test matrix with known negative eigenvalues too.
    fn test_matrix(n: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = Rng::seed_from_u64(seed);
        let a = DMatrix::<f64>::from_fn(n, n, |_, _| rng.normal());
        let mut h = (&a + a.transpose()) * 0.5;
        h[(0, 0)] -= 50.0; // a large negative eigenvalue: largest *magnitude* would pick it
        h
    }

    #[test]
    fn top_k_algebraic_matches_dense() {
        for seed in 0..4 {
            let n = 60;
            let h = test_matrix(n, seed);
            let dense = dense_eigenvalues(&h);
            let opts = LanczosOptions {
                k: 3,
                max_iter: 60,
                tol: 1e-12,
                ..Default::default()
            };
            let r = lanczos(
                n,
                |v, out| {
                    let y = &h * DMatrix::from_column_slice(n, 1, v);
                    out.copy_from_slice(y.as_slice());
                },
                &opts,
                &[],
            );
            for i in 0..3 {
                let rel = (r.eigenvalues[i] - dense[i]).abs() / dense[i].abs();
                assert!(
                    rel < 1e-10,
                    "seed {seed} i {i}: {} vs {}",
                    r.eigenvalues[i],
                    dense[i]
                );
                // residual check directly
                let y = DMatrix::from_column_slice(n, 1, &r.eigenvectors[i]);
                let resid = (&h * &y - &y * r.eigenvalues[i]).norm();
                assert!(resid < 1e-6 * dense[0].abs(), "residual {resid}");
            }
            assert!(r.eigenvalues[0] > 0.0, "picked the negative one");
        }
    }

    #[test]
    fn warm_start_survives_a_swap_of_the_top_two_eigenvalues() {
        // diag(10, 9.9, 1, …) then diag(9.9, 10.2, 1, …): the old top vector is now λ2.
        let n = 300;
        let diag = |a: f64, b: f64| {
            let mut h = DMatrix::<f64>::identity(n, n);
            h[(0, 0)] = a;
            h[(1, 1)] = b;
            for i in 2..n {
                h[(i, i)] = 1.0 + (i as f64) / (n as f64);
            }
            h
        };
        let apply = |h: &DMatrix<f64>, v: &[f64], out: &mut [f64]| {
            let y = h * DMatrix::from_column_slice(n, 1, v);
            out.copy_from_slice(y.as_slice());
        };
        let opts = LanczosOptions {
            k: 1,
            max_iter: 60,
            tol: 1e-3,
            ..Default::default()
        };
        let h1 = diag(10.0, 9.9);
        let tight = LanczosOptions {
            tol: 1e-10,
            ..opts.clone()
        };
        let first = lanczos(n, |v, o| apply(&h1, v, o), &tight, &[]);
        assert!((first.eigenvalues[0] - 10.0).abs() < 1e-2);
        let h2 = diag(9.9, 10.2);
        let warm = lanczos(n, |v, o| apply(&h2, v, o), &opts, &first.warm_vectors);
        assert!(
            (warm.eigenvalues[0] - 10.2).abs() <= 1e-3 * 10.2,
            "warm start missed the new top eigenvalue: {}",
            warm.eigenvalues[0]
        );
    }

    #[test]
    fn warm_start_converges_in_few_products() {
        let n = 200;
        let mut h = test_matrix(n, 9);
        h[(5, 5)] += 30.0; // a clear top eigenvalue
        let apply = |h: &DMatrix<f64>, v: &[f64], out: &mut [f64]| {
            let y = h * DMatrix::from_column_slice(n, 1, v);
            out.copy_from_slice(y.as_slice());
        };
        let opts = LanczosOptions {
            k: 1,
            max_iter: 100,
            tol: 1e-3,
            ..Default::default()
        };
        let cold = lanczos(n, |v, o| apply(&h, v, o), &opts, &[]);
        // perturb the matrix slightly, as one GD step would
        let mut h2 = h.clone();
        h2[(5, 5)] += 0.05;
        h2[(3, 7)] += 0.01;
        h2[(7, 3)] += 0.01;
        let warm = lanczos(n, |v, o| apply(&h2, v, o), &opts, &cold.warm_vectors);
        let exact = dense_eigenvalues(&h2)[0];
        assert!((warm.eigenvalues[0] - exact).abs() <= 1e-3 * exact.abs());
        assert!(
            // 5 with the former Kato–Temple stop rule, which could stop too early on clusters.
            warm.matvecs <= 7,
            "warm start used {} products",
            warm.matvecs
        );
        assert!(cold.matvecs > warm.matvecs);
    }
}
