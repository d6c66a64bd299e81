//! Operations on a few long `f64` vectors: the bases, images and Ritz vectors of the
//! eigensolvers ([`crate::engine::lanczos`], [`crate::engine::lobpcg`]), each as long as the
//! parameter vector (656,810 on CIFAR-5k).
//!
//! These passes are memory-bound, so each one reads every vector once: a Gram matrix of all
//! pairs in one sweep, a whole projection in two (classical Gram–Schmidt), every linear
//! combination of a basis in one. The sweep goes over fixed slices of [`BLOCK`] elements; a
//! dot product is the sum of its per-slice partial sums in slice order, so results are the
//! same whatever the number of threads the slices are spread over.

use nalgebra::DMatrix;

/// Elements per slice (128 KiB of `f64`: a slice of ten vectors stays in the L2 cache).
pub const BLOCK: usize = 1 << 14;

/// Threads for these passes: all cores (the passes are short and never overlap a gradient or
/// HVP, whose own threads are idle meanwhile).
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run `f(block_index, range)` for every slice of `0..len`, the slices split into contiguous
/// runs over the threads; returns the results in slice order.
fn over_blocks<R: Send>(len: usize, f: impl Fn(std::ops::Range<usize>) -> R + Sync) -> Vec<R> {
    let nb = len.div_ceil(BLOCK);
    let range = |b: usize| b * BLOCK..((b + 1) * BLOCK).min(len);
    let t = threads().min(nb / 2).max(1);
    if t == 1 {
        return (0..nb).map(|b| f(range(b))).collect();
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..t)
            .map(|i| {
                let (lo, hi) = (nb * i / t, nb * (i + 1) / t);
                s.spawn(move || (lo..hi).map(|b| f(range(b))).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Σ f(a_i, b_i) with eight independent partial sums, so the compiler vectorises it.
#[inline(always)]
fn pair_sum(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += f(x[i], y[i]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Dot product (one pass, [`pair_sum`]).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    pair_sum(a, b, |x, y| x * y)
}

/// Euclidean distance ‖a − b‖ (one pass, [`pair_sum`]).
pub(crate) fn distance(a: &[f64], b: &[f64]) -> f64 {
    pair_sum(a, b, |x, y| (x - y) * (x - y)).sqrt()
}

/// `G[(i, j)] = a_i · b_j` for all pairs, in one sweep.
pub fn gram<A: AsRef<[f64]> + Sync, B: AsRef<[f64]> + Sync>(a: &[A], b: &[B]) -> DMatrix<f64> {
    let (ma, mb) = (a.len(), b.len());
    let len = a.first().map_or(0, |v| v.as_ref().len());
    let parts = over_blocks(len, |r| {
        let mut g = vec![0.0; ma * mb];
        for (i, ai) in a.iter().enumerate() {
            let ai = &ai.as_ref()[r.clone()];
            for (j, bj) in b.iter().enumerate() {
                g[i * mb + j] = dot(ai, &bj.as_ref()[r.clone()]);
            }
        }
        g
    });
    let mut out = DMatrix::<f64>::zeros(ma, mb);
    for g in parts {
        for i in 0..ma {
            for j in 0..mb {
                out[(i, j)] += g[i * mb + j];
            }
        }
    }
    out
}

/// The symmetric Gram matrix `G[(i, j)] = ½(a_i · b_j + a_j · b_i)` (a Rayleigh quotient
/// matrix when `b` holds the images of the orthonormal `a`).
pub fn gram_sym<A: AsRef<[f64]> + Sync>(a: &[A], b: &[A]) -> DMatrix<f64> {
    let g = gram(a, b);
    (&g + g.transpose()) * 0.5
}

/// Columns of `coef` as combinations of `vs`: `out_j = Σ_l coef[(rows.start + l, j)] vs_l`
/// (`rows` picks the rows of `coef` that pair with `vs`), in one sweep.
pub fn combine<V: AsRef<[f64]> + Sync>(
    vs: &[V],
    coef: &DMatrix<f64>,
    rows: std::ops::Range<usize>,
) -> Vec<Vec<f64>> {
    let len = vs.first().map_or(0, |v| v.as_ref().len());
    let mut out = vec![vec![0.0; len]; coef.ncols()];
    over_blocks_mut(&mut out, len, |r, slices| {
        for (j, o) in slices.iter_mut().enumerate() {
            for (l, row) in rows.clone().enumerate() {
                let k = coef[(row, j)];
                if k != 0.0 {
                    axpy(k, &vs[l].as_ref()[r.clone()], o);
                }
            }
        }
    });
    out
}

/// `y += alpha · x`.
pub(crate) fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// Run `f(range, slices)` on every slice `range` of `0..len`, `slices` holding that range of
/// each vector of `outs` (all of length `len`); the slices are split into contiguous runs over
/// the threads, and each element is written by exactly one call.
fn over_blocks_mut(
    outs: &mut [Vec<f64>],
    len: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [&mut [f64]]) + Sync,
) {
    let nb = len.div_ceil(BLOCK);
    let t = threads().min(nb / 2).max(1);
    let run = |first: usize, mut mine: Vec<&mut [f64]>| {
        let plen = mine.first().map_or(0, |m| m.len());
        for s in (0..plen).step_by(BLOCK) {
            let e = (s + BLOCK).min(plen);
            let mut slices: Vec<&mut [f64]> = mine.iter_mut().map(|m| &mut m[s..e]).collect();
            f(first * BLOCK + s..first * BLOCK + e, &mut slices);
        }
    };
    let mut rests: Vec<&mut [f64]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
    let mut jobs = Vec::with_capacity(t);
    for i in 0..t {
        let (lo, hi) = (nb * i / t, nb * (i + 1) / t);
        let take = (hi * BLOCK).min(len) - lo * BLOCK;
        let mine: Vec<&mut [f64]> = rests
            .iter_mut()
            .map(|r| {
                let (a, b) = std::mem::take(r).split_at_mut(take);
                *r = b;
                a
            })
            .collect();
        jobs.push((lo, mine));
    }
    if t == 1 {
        jobs.into_iter().for_each(|(lo, mine)| run(lo, mine));
        return;
    }
    let run = &run;
    std::thread::scope(|sc| {
        for (lo, mine) in jobs {
            sc.spawn(move || run(lo, mine));
        }
    });
}

/// `v −= Σ_l c_l basis_l`, in one sweep.
pub(crate) fn subtract<V: AsRef<[f64]> + Sync>(basis: &[V], c: &[f64], v: &mut Vec<f64>) {
    let len = v.len();
    over_blocks_mut(std::slice::from_mut(v), len, |r, s| {
        for (q, &k) in basis.iter().zip(c) {
            if k != 0.0 {
                axpy(-k, &q.as_ref()[r.clone()], s[0]);
            }
        }
    });
}

/// `‖a_j − θ_j b_j‖` for each pair (residual norms of Ritz pairs: `a` the images, `b` the
/// vectors), in one sweep without forming the residuals.
pub fn residual_norms<V: AsRef<[f64]> + Sync>(a: &[V], theta: &[f64], b: &[V]) -> Vec<f64> {
    let len = a.first().map_or(0, |v| v.as_ref().len());
    let parts = over_blocks(len, |r| {
        a.iter()
            .zip(b)
            .zip(theta)
            .map(|((x, y), &t)| {
                let (x, y) = (&x.as_ref()[r.clone()], &y.as_ref()[r.clone()]);
                x.iter()
                    .zip(y)
                    .map(|(p, q)| (p - t * q) * (p - t * q))
                    .sum::<f64>()
            })
            .collect::<Vec<f64>>()
    });
    let mut out = vec![0.0; a.len()];
    for p in parts {
        out.iter_mut().zip(p).for_each(|(o, x)| *o += x);
    }
    out.into_iter().map(f64::sqrt).collect()
}

/// Remove from `v` its components along the orthonormal `basis` (classical Gram–Schmidt,
/// twice: "twice is enough", Parlett); returns the coefficients taken out.
pub fn project_out<V: AsRef<[f64]> + Sync>(basis: &[V], v: &mut Vec<f64>) -> Vec<f64> {
    let mut total = vec![0.0; basis.len()];
    if basis.is_empty() {
        return total;
    }
    for _ in 0..2 {
        let c: Vec<f64> = gram(basis, &[&*v]).column(0).iter().copied().collect();
        subtract(basis, &c, v);
        total.iter_mut().zip(&c).for_each(|(t, x)| *t += x);
    }
    total
}

/// Euclidean norm.
pub(crate) fn norm(a: &[f64]) -> f64 {
    gram(&[a], &[a])[(0, 0)].sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Rng;

    fn random(n: usize, m: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Rng::seed_from_u64(seed);
        (0..m)
            .map(|_| (0..n).map(|_| rng.normal()).collect())
            .collect()
    }

    #[test]
    fn gram_and_combine_match_the_plain_loops() {
        // Longer than a few slices and not a multiple of one, so threads and tails are used.
        let n = 5 * BLOCK + 123;
        let a = random(n, 4, 1);
        let b = random(n, 3, 2);
        let g = gram(&a, &b);
        for i in 0..4 {
            for j in 0..3 {
                let plain: f64 = a[i].iter().zip(&b[j]).map(|(x, y)| x * y).sum();
                assert!((g[(i, j)] - plain).abs() <= 1e-10 * plain.abs().max(1.0));
            }
        }
        let coef = DMatrix::from_fn(4, 2, |i, j| {
            (i as f64 + 1.0) * if j == 0 { 1.0 } else { -0.5 }
        });
        let out = combine(&a, &coef, 0..4);
        for (j, o) in out.iter().enumerate() {
            for e in [0, BLOCK - 1, BLOCK, n - 1] {
                let want: f64 = (0..4).map(|l| coef[(l, j)] * a[l][e]).sum();
                assert!((o[e] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn project_out_leaves_an_orthogonal_remainder() {
        let n = 3 * BLOCK + 7;
        let mut basis = random(n, 3, 3);
        // Orthonormalise the basis with the same routine.
        for i in 0..3 {
            let (done, rest) = basis.split_at_mut(i);
            project_out(done, &mut rest[0]);
            let nv = norm(&rest[0]);
            rest[0].iter_mut().for_each(|x| *x /= nv);
        }
        let mut v = random(n, 1, 4).remove(0);
        let before = v.clone();
        let c = project_out(&basis, &mut v);
        for q in &basis {
            assert!(dot(q, &v).abs() < 1e-10 * norm(&before));
        }
        // v + Σ c q reproduces the input.
        for e in [0, n / 2, n - 1] {
            let back = v[e] + (0..3).map(|l| c[l] * basis[l][e]).sum::<f64>();
            assert!((back - before[e]).abs() < 1e-10);
        }
    }
}
