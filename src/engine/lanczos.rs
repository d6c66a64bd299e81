//! Lanczos for the top-k **largest algebraic** eigenvalues of a symmetric operator given only
//! by matrix–vector products (here: exact Hessian–vector products).
//!
//! * Full reorthogonalisation (two passes of classical Gram–Schmidt against every Lanczos
//!   vector), so no ghost eigenvalues appear, whatever the iteration count.
//! * Stops when each of the top-k Ritz values is accurate to `tol` relative. The error estimate
//!   is max(min(r, r²/gap), Δθ): r = β_m |e_mᵀ s| is the residual norm ‖H y − θ y‖ of the Ritz
//!   pair, gap the distance to the nearest other Ritz value (Kato–Temple: the eigenvalue error
//!   is ≤ r²/gap with the *true* gap; Saad, *Numerical Methods for Large Eigenvalue Problems*,
//!   Thm 3.9), and Δθ the Ritz value's change over the last iteration. Early in a run the Ritz
//!   gap overestimates the true one (interlacing puts θ₂ below λ₂), so r²/gap alone stops too
//!   soon; the increment guards that case, and the test must hold at half of `tol`.
//! * Warm start from the previous call's Ritz vectors: along a training trajectory the top
//!   eigenvector moves little per step, so a start inside its span converges in a few products.
//!
//! Vectors are `f64` whatever precision the model runs in.

use nalgebra::{DMatrix, SymmetricEigen};

use super::rng::Rng;

/// How to run Lanczos.
#[derive(Clone, Debug)]
pub struct LanczosOptions {
    /// How many of the largest algebraic eigenvalues to return.
    pub k: usize,
    /// Upper bound on iterations (= operator applications).
    pub max_iter: usize,
    /// At least this many iterations (e.g. to run a fixed 20-step estimate set `min_iter = max_iter = 20`).
    pub min_iter: usize,
    /// Relative accuracy target on each of the top-k eigenvalues (0 = run to `max_iter`).
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
    /// Error estimates max(min(r, r²/gap), Δθ) for each eigenvalue (see the module docs).
    pub error_bounds: Vec<f64>,
    /// Operator applications used.
    pub matvecs: usize,
    /// Whether every requested eigenvalue met `tol` (or the Krylov space became invariant).
    pub converged: bool,
}

/// Dot product with eight independent partial sums, so the compiler can vectorise it (the
/// reorthogonalisation is ~2·m dot products of length p per iteration).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f64>() + tail
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
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
    let mut prev_theta: Vec<f64> = Vec::new();

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
        // Full reorthogonalisation, twice ("twice is enough", Parlett).
        for _ in 0..2 {
            for q in &basis {
                let c = dot(q, &w);
                axpy(-c, q, &mut w);
            }
        }
        let beta = norm(&w);
        let m = alphas.len();
        let (theta, s) = tridiag_eig(&alphas, &betas);
        let kk = k.min(m);
        let mut res = Vec::with_capacity(kk);
        let mut bounds = Vec::with_capacity(kk);
        for i in 0..kk {
            let r = beta * s[(m - 1, i)].abs();
            let gap = (0..m)
                .filter(|&l| l != i)
                .map(|l| (theta[l] - theta[i]).abs())
                .fold(f64::INFINITY, f64::min);
            let kato = if gap.is_finite() && gap > 0.0 {
                r.min(r * r / gap)
            } else {
                r
            };
            let bound = match prev_theta.get(i) {
                Some(p) => kato.max((theta[i] - p).abs()),
                None => r,
            };
            res.push(r);
            bounds.push(bound);
        }
        let invariant = beta
            <= 1e-12
                * alphas
                    .iter()
                    .fold(0.0f64, |a, x| a.max(x.abs()))
                    .max(1e-300);
        let accurate = opts.tol > 0.0
            && kk == k
            && (0..k).all(|i| bounds[i] <= 0.5 * opts.tol * theta[i].abs().max(1e-300));
        let done = invariant || m == max_iter || (m >= min_iter && accurate);
        if done {
            result.eigenvalues = theta[..kk].to_vec();
            result.residuals = res;
            result.error_bounds = bounds;
            let ritz = |i: usize| {
                let mut y = vec![0.0; dim];
                for (l, q) in basis.iter().enumerate() {
                    axpy(s[(l, i)], q, &mut y);
                }
                let ny = norm(&y);
                if ny > 0.0 {
                    for x in y.iter_mut() {
                        *x /= ny;
                    }
                }
                y
            };
            result.warm_vectors = (0..(k + 2).min(m)).map(ritz).collect();
            result.eigenvectors = result.warm_vectors[..kk].to_vec();
            result.matvecs = matvecs;
            result.converged = accurate || invariant;
            return result;
        }
        prev_theta = theta[..kk].to_vec();
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
            warm.matvecs <= 5,
            "warm start used {} products",
            warm.matvecs
        );
        assert!(cold.matvecs > warm.matvecs);
    }
}
