//! A block eigensolver for the top-k **largest algebraic** eigenvalues of a symmetric operator
//! given by products: LOBPCG (Knyazev 2001) without preconditioner, warm-started from a block
//! of previous Ritz vectors.
//!
//! **Why a block method.** Single-vector Lanczos sees only one direction of an eigenspace whose
//! eigenvalues are equal: its Krylov space from one start vector meets a degenerate eigenspace
//! in one vector. The central flow holds every critical eigenvalue at exactly 2/η, so two
//! critical eigenvalues form such a cluster: on the digits demo at tolerance 1e-4 the warm
//! Lanczos solve saw both (5.016, 5.000) on one substep and only one on the next (5.000 and
//! then λ3 = 4.75), so the flow's constraint switched between one and two directions every
//! substep. A block of b ≥ k vectors spans the whole cluster.
//!
//! **The iteration.** X (b orthonormal columns) and AX = H·X; each round takes the residuals
//! W = AX − XΘ of the columns not yet accurate, orthonormalises [X, W, P] (P: the previous
//! update directions), applies H to W only (H·X and H·P are carried along as the same linear
//! combinations), and keeps the top b Ritz pairs of that subspace (Rayleigh–Ritz).
//!
//! **Stop rule and bounds.** Stops when each of the top k Ritz values has an error bound
//! ≤ `tol`·|θ_i|, with the bound of [`crate::engine::lanczos`]: a Ritz value's residual
//! ‖H y − θ y‖, or its cluster's (Σ r²)^½ when residual intervals overlap. For a block the
//! residuals are not parallel, and ‖R‖₂ ≤ (Σ r²)^½ keeps Kahan's cluster bound valid. The
//! same caveat as Lanczos: an eigenvector the block has never seen cannot be ruled out; the
//! `b − k` guard columns and a random column in a fresh start make that unlikely.

use nalgebra::{DMatrix, SymmetricEigen};

use super::lanczos::{LanczosResult, error_bounds};
use super::rng::Rng;
use super::vecops::{combine, gram_sym, norm, project_out, residual_norms, subtract};

/// How to solve.
#[derive(Clone, Debug)]
pub struct LobpcgOptions {
    /// How many of the largest eigenvalues must meet `tol`.
    pub k: usize,
    /// Columns of the block (≥ k; the extra ones are guards that also warm the next call).
    pub block: usize,
    /// At most this many operator applications.
    pub max_matvecs: usize,
    /// Relative accuracy target on each of the top-k eigenvalues (as in Lanczos).
    pub tol: f64,
    /// The guard columns (k+1 … block) take part in the update only while their residual is
    /// above `guard_tol`·|θ| (≥ `tol`). They need only be good enough to show an eigenvalue
    /// rising past the top k; each active column costs one product per round.
    pub guard_tol: f64,
    /// Seed of the random columns (fresh start, or to fill a short warm block).
    pub seed: u64,
}

/// Orthonormalise `v` against `basis`, apply the same combination to `av` (its image), and
/// append both if anything is left; returns whether it was kept.
/// Smallest fraction of a search direction's norm that must lie outside the current span for
/// it to be kept (see [`push_orthonormal`]).
const P_KEEP: f64 = 1e-2;

/// Rounds without the worst relative bound of the top k falling below 0.9 of its best value
/// after which the solve stops at the best iterate, once that bound is below [`STALL_BELOW`]:
/// the residuals have reached the noise of the products (f32 products asked for 1e-12 stall
/// near 1e-6). Above it, slow rounds are ordinary LOBPCG progress and the budget decides.
const STALL_ROUNDS: usize = 4;
const STALL_BELOW: f64 = 1e-4;

fn push_orthonormal(
    basis: &mut Vec<Vec<f64>>,
    images: &mut Vec<Vec<f64>>,
    mut v: Vec<f64>,
    mut av: Vec<f64>,
) -> bool {
    let n0 = norm(&v);
    if !(n0 > 0.0 && n0.is_finite()) {
        return false;
    }
    let c = project_out(basis, &mut v);
    subtract(images, &c, &mut av);
    let n = norm(&v);
    // The image is carried (a combination of earlier images), not recomputed, so its error is
    // the operator's rounding times n0/n: drop directions mostly inside the span already.
    // Without this, f32 products at a tolerance below their noise (digits-demo, tol 1e-12)
    // blew a Ritz value up to 27,658 for a true 2.41.
    if n <= P_KEEP * n0 {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= n);
    av.iter_mut().for_each(|x| *x /= n);
    basis.push(v);
    images.push(av);
    true
}

/// Rayleigh–Ritz on the orthonormal `basis` with images `images`: the top `b` Ritz values
/// (largest first) and the coefficient matrix (columns = Ritz vectors in the basis).
fn rayleigh_ritz(basis: &[Vec<f64>], images: &[Vec<f64>], b: usize) -> (Vec<f64>, DMatrix<f64>) {
    let m = basis.len();
    let g = gram_sym(basis, images);
    let eig = SymmetricEigen::new(g);
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let b = b.min(m);
    let theta = order[..b].iter().map(|&i| eig.eigenvalues[i]).collect();
    let mut c = DMatrix::<f64>::zeros(m, b);
    for (col, &i) in order[..b].iter().enumerate() {
        c.set_column(col, &eig.eigenvectors.column(i));
    }
    (theta, c)
}

/// A round's W and P vectors, their images and the round's Ritz coefficients.
type LastRound = (Vec<Vec<f64>>, Vec<Vec<f64>>, DMatrix<f64>);

/// The iterate with the smallest worst relative bound so far. Its Ritz vectors are not copied:
/// they stay the current block until the next round replaces it, and are then moved here
/// (`vectors` is empty while they are still the current block).
struct Best {
    worst: f64,
    theta: Vec<f64>,
    res: Vec<f64>,
    bounds: Vec<f64>,
    vectors: Vec<Vec<f64>>,
}

impl Best {
    fn into_result(self, vectors: Vec<Vec<f64>>, k: usize, matvecs: usize) -> LanczosResult {
        LanczosResult {
            eigenvalues: self.theta[..k].to_vec(),
            eigenvectors: vectors[..k].to_vec(),
            warm_vectors: vectors,
            residuals: self.res[..k].to_vec(),
            error_bounds: self.bounds,
            matvecs,
            converged: false,
        }
    }
}

/// Run LOBPCG on a symmetric operator of dimension `dim` (`apply(v, out)` writes H·v),
/// warm-started from `warm` (any number of vectors; missing columns are random).
/// The result means what Lanczos's does, except that `warm_vectors` is the whole final block.
pub fn lobpcg<F>(dim: usize, mut apply: F, opts: &LobpcgOptions, warm: &[Vec<f64>]) -> LanczosResult
where
    F: FnMut(&[f64], &mut [f64]),
{
    let k = opts.k.min(dim);
    let b = opts.block.max(k).min(dim);
    if k == 0 {
        return LanczosResult {
            converged: true,
            ..Default::default()
        };
    }
    let mut matvecs = 0;
    let mut image = |v: &[f64], matvecs: &mut usize| -> Option<Vec<f64>> {
        let mut out = vec![0.0; dim];
        apply(v, &mut out);
        *matvecs += 1;
        out.iter().all(|x| x.is_finite()).then_some(out)
    };
    let failed = |matvecs: usize| LanczosResult {
        eigenvalues: vec![f64::NAN; k],
        eigenvectors: vec![vec![f64::NAN; dim]; k],
        residuals: vec![f64::NAN; k],
        error_bounds: vec![f64::NAN; k],
        matvecs,
        ..Default::default()
    };

    // The starting block: warm vectors first, then random columns.
    let mut rng = Rng::stream(opts.seed, "lobpcg-start");
    let mut x: Vec<Vec<f64>> = Vec::with_capacity(b);
    let mut ax: Vec<Vec<f64>> = Vec::with_capacity(b);
    let mut candidates: Vec<Vec<f64>> = warm
        .iter()
        .filter(|v| v.len() == dim && norm(v).is_finite() && norm(v) > 0.0)
        .take(b)
        .cloned()
        .collect();
    let mut tries = 0;
    while x.len() < b && tries < 4 * b + 8 {
        tries += 1;
        let mut v = if candidates.is_empty() {
            (0..dim).map(|_| rng.normal()).collect()
        } else {
            candidates.remove(0)
        };
        // Orthonormalise before applying H, so no product is wasted on a dependent vector.
        project_out(&x, &mut v);
        let n = norm(&v);
        if n.is_nan() || n <= 1e-8 {
            continue;
        }
        v.iter_mut().for_each(|e| *e /= n);
        let Some(av) = image(&v, &mut matvecs) else {
            return failed(matvecs);
        };
        x.push(v);
        ax.push(av);
    }
    let b = x.len();
    let (mut theta, c) = rayleigh_ritz(&x, &ax, b);
    let mut xs = combine(&x, &c, 0..b);
    let mut axs = combine(&ax, &c, 0..b);
    // The last round's W and P parts (vectors, images) and its Ritz coefficients: the new P
    // (the part of the new X outside the old X) is formed from them only if another round
    // is needed.
    let mut last: Option<LastRound> = None;
    let mut best: Option<Best> = None;
    let mut stalled = 0;

    loop {
        let res = residual_norms(&axs, &theta, &xs);
        let bounds = error_bounds(&theta[..k], &res[..k]);
        // Residuals at rounding level of the operator's scale count as exact (an invariant
        // subspace: a relative test can never pass on an eigenvalue that is 0).
        let floor = 1e-13 * theta.iter().fold(0.0f64, |a, t| a.max(t.abs())).max(1e-300);
        let met = |r: f64, t: f64| r <= opts.tol * t.abs() || r <= floor;
        let accurate = (opts.tol > 0.0 || bounds.iter().all(|&r| r <= floor))
            && (0..k).all(|i| met(bounds[i], theta[i]));
        let guard_tol = opts.guard_tol.max(opts.tol);
        let active: Vec<usize> = (0..b)
            .filter(|&j| {
                if j < k {
                    !met(res[j], theta[j])
                } else {
                    res[j] > guard_tol * theta[j].abs() && res[j] > floor
                }
            })
            .collect();
        let done = |xs: Vec<Vec<f64>>, matvecs: usize, converged: bool| LanczosResult {
            eigenvalues: theta[..k].to_vec(),
            eigenvectors: xs[..k].to_vec(),
            warm_vectors: xs,
            residuals: res[..k].to_vec(),
            error_bounds: bounds.clone(),
            matvecs,
            converged,
        };
        if accurate || active.is_empty() {
            return done(xs, matvecs, accurate);
        }
        // Keep the best iterate (smallest worst relative bound); stop at it once the budget is
        // spent or the bounds have stopped improving.
        let worst = (0..k)
            .map(|i| bounds[i] / theta[i].abs().max(1e-300))
            .fold(0.0f64, f64::max);
        if best.as_ref().is_none_or(|b| worst < 0.9 * b.worst) {
            best = Some(Best {
                worst,
                theta: theta.clone(),
                res: res.clone(),
                bounds: bounds.clone(),
                vectors: Vec::new(),
            });
            stalled = 0;
        } else if worst <= STALL_BELOW {
            stalled += 1;
        }
        if matvecs + active.len() > opts.max_matvecs
            || stalled >= STALL_ROUNDS
            || !worst.is_finite()
        {
            return match best.take() {
                Some(mut b) => {
                    let vectors = if b.vectors.is_empty() {
                        xs
                    } else {
                        std::mem::take(&mut b.vectors)
                    };
                    b.into_result(vectors, k, matvecs)
                }
                None => done(xs, matvecs, false),
            };
        }
        // Basis [X, W, P] with images; X is orthonormal already.
        let mut basis = xs;
        let mut images = axs;
        for &j in &active {
            // W: the residual A x_j − θ_j x_j, normalised by its norm.
            let n = res[j];
            if n.is_nan() || n <= 0.0 {
                continue;
            }
            let mut wv: Vec<f64> = images[j]
                .iter()
                .zip(&basis[j])
                .map(|(ax, x)| (ax - theta[j] * x) / n)
                .collect();
            // Orthogonalise against the basis before the product, so the stored image is the
            // image of the stored vector.
            project_out(&basis, &mut wv);
            let nw = norm(&wv);
            if nw.is_nan() || nw <= 1e-10 {
                continue;
            }
            wv.iter_mut().for_each(|e| *e /= nw);
            let Some(aw) = image(&wv, &mut matvecs) else {
                return failed(matvecs);
            };
            basis.push(wv);
            images.push(aw);
        }
        if basis.len() == b {
            // No residual direction is new: the block spans an invariant subspace (to
            // rounding), so the Ritz values are as good as they will get.
            return done(basis, matvecs, true);
        }
        if let Some((tail, tail_images, c)) = last.take() {
            let rows = b..b + tail.len();
            let p = combine(&tail, &c, rows.clone());
            let ap = combine(&tail_images, &c, rows);
            for (v, av) in p.into_iter().zip(ap) {
                push_orthonormal(&mut basis, &mut images, v, av);
            }
        }
        let (t, c) = rayleigh_ritz(&basis, &images, b);
        let m = basis.len();
        xs = combine(&basis, &c, 0..m);
        axs = combine(&images, &c, 0..m);
        let tail = basis.split_off(b);
        let tail_images = images.split_off(b);
        if let Some(bb) = best.as_mut().filter(|bb| bb.vectors.is_empty()) {
            // `basis` now holds only the block this round started from: the best iterate.
            bb.vectors = basis;
        }
        last = Some((tail, tail_images, c));
        theta = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lanczos::dense_eigenvalues;

    fn sym(n: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = Rng::seed_from_u64(seed);
        let a = DMatrix::<f64>::from_fn(n, n, |_, _| rng.normal());
        (&a + a.transpose()) * 0.5
    }

    fn apply(h: &DMatrix<f64>) -> impl FnMut(&[f64], &mut [f64]) + '_ {
        move |v, out| {
            let r = h * nalgebra::DVector::from_column_slice(v);
            out.copy_from_slice(r.as_slice());
        }
    }

    #[test]
    fn top_k_match_dense_within_their_bounds() {
        for seed in 0..4 {
            let h = sym(60, seed);
            let truth = dense_eigenvalues(&h);
            let opts = LobpcgOptions {
                k: 3,
                block: 4,
                max_matvecs: 2000,
                tol: 1e-10,
                guard_tol: 0.0,
                seed,
            };
            let r = lobpcg(60, apply(&h), &opts, &[]);
            assert!(
                r.converged,
                "seed {seed}: not converged after {}",
                r.matvecs
            );
            for i in 0..3 {
                let err = (r.eigenvalues[i] - truth[i]).abs();
                assert!(
                    err <= r.error_bounds[i] + 1e-12,
                    "λ{i}: {err:e} > {:e}",
                    r.error_bounds[i]
                );
                assert!(err < 1e-8 * truth[0].abs());
            }
        }
    }

    /// A random orthogonal Q and H = Q diag(d) Qᵀ.
    fn with_spectrum(d: Vec<f64>, seed: u64) -> (DMatrix<f64>, DMatrix<f64>) {
        let n = d.len();
        let mut rng = Rng::seed_from_u64(seed);
        let a = DMatrix::<f64>::from_fn(n, n, |_, _| rng.normal());
        let q = a.qr().q();
        let h = &q * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(d)) * q.transpose();
        (h, q)
    }

    /// The first `count` columns of `q`, each perturbed by 1e-3 of noise: stale eigenvectors
    /// to warm-start from.
    fn stale_columns(q: &DMatrix<f64>, count: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
        (0..count)
            .map(|c| {
                q.column(c)
                    .iter()
                    .map(|x| x + 1e-3 * rng.normal())
                    .collect()
            })
            .collect()
    }

    /// The central flow's case: two equal top eigenvalues (both held at 2/η), warm-started
    /// from slightly stale vectors of the pair and of λ3. Both copies must be reported, with
    /// λ3 third, never λ3 in second place.
    #[test]
    fn a_degenerate_top_pair_is_found_twice() {
        let n = 80;
        let mut d = vec![5.0, 5.0, 4.75];
        d.extend((3..n).map(|i| 4.0 * (n - i) as f64 / n as f64));
        let (h, q) = with_spectrum(d, 7);
        let warm = stale_columns(&q, 3, &mut Rng::seed_from_u64(8));
        let opts = LobpcgOptions {
            k: 2,
            block: 3,
            max_matvecs: 500,
            tol: 1e-8,
            guard_tol: 0.0,
            seed: 1,
        };
        let r = lobpcg(n, apply(&h), &opts, &warm);
        assert!(r.converged);
        assert!((r.eigenvalues[0] - 5.0).abs() < 1e-7, "{:?}", r.eigenvalues);
        assert!((r.eigenvalues[1] - 5.0).abs() < 1e-7, "{:?}", r.eigenvalues);
    }

    #[test]
    fn a_good_warm_start_converges_in_few_products() {
        let n = 200;
        let mut d = vec![10.0, 9.0, 8.0];
        d.extend((3..n).map(|i| 5.0 * (n - i) as f64 / n as f64));
        let (h, _) = with_spectrum(d, 3);
        let opts = LobpcgOptions {
            k: 2,
            block: 3,
            max_matvecs: 3000,
            tol: 1e-8,
            guard_tol: 0.0,
            seed: 0,
        };
        let cold = lobpcg(n, apply(&h), &opts, &[]);
        assert!(cold.converged);
        // A slightly perturbed operator, warm-started from the cold solve's block.
        let h2 = &h + sym(n, 4) * 1e-4;
        let warm = lobpcg(n, apply(&h2), &opts, &cold.warm_vectors);
        assert!(warm.converged);
        assert!(
            warm.matvecs * 2 < cold.matvecs,
            "warm {} vs cold {} products",
            warm.matvecs,
            cold.matvecs
        );
        let truth = dense_eigenvalues(&h2);
        for ((got, want), bound) in warm.eigenvalues.iter().zip(&truth).zip(&warm.error_bounds) {
            assert!((got - want).abs() <= bound + 1e-12);
        }
    }

    /// Products with f32-like rounding (relative noise 1e-7) and a tolerance far below it, as
    /// a CI check asks of an f32 run: the solve must stop near the noise, not blow up.
    /// Before the carried images of nearly dependent directions were dropped, a Ritz value
    /// grew to 27,658 for a true 2.41 on the digits demo this way.
    #[test]
    fn noisy_products_below_their_noise_stay_near_the_truth() {
        let n = 150;
        let mut d = vec![10.0, 9.5, 9.0];
        d.extend((3..n).map(|i| 8.0 * (n - i) as f64 / n as f64));
        let (h, q) = with_spectrum(d, 11);
        let mut rng = Rng::seed_from_u64(12);
        let mut warm = stale_columns(&q, 4, &mut rng);
        let mut noisy = |v: &[f64], out: &mut [f64]| {
            let r = &h * nalgebra::DVector::from_column_slice(v);
            let scale = 1e-7 * r.norm() / (n as f64).sqrt();
            for (o, x) in out.iter_mut().zip(r.iter()) {
                *o = x + scale * rng.normal();
            }
        };
        let opts = LobpcgOptions {
            k: 2,
            block: 4,
            max_matvecs: 60,
            tol: 1e-12,
            guard_tol: 0.1,
            seed: 3,
        };
        for _ in 0..20 {
            let r = lobpcg(n, &mut noisy, &opts, &warm);
            assert!(
                (r.eigenvalues[0] - 10.0).abs() < 1e-5,
                "{:?}",
                r.eigenvalues
            );
            assert!((r.eigenvalues[1] - 9.5).abs() < 1e-5, "{:?}", r.eigenvalues);
            warm = r.warm_vectors;
        }
    }
}
