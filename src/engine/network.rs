//! Exact loss, gradient and Hessian–vector products of an MLP over the full training set.
//!
//! * Gradient by backpropagation.
//! * Hessian–vector products by Pearlmutter's R-operator (forward-over-reverse): an R-forward
//!   pass pushes the direction `v` through the network, an R-backward pass differentiates the
//!   backward pass. Nothing is approximated: the result is H·v up to round-off.
//! * The full batch is cut into contiguous chunks of at most `chunk_rows` samples (at least
//!   [`PARALLEL_CHUNKS`] when the batch is big enough, [`chunk_ranges`]), so temporaries stay
//!   bounded and every core finds work. Threads take chunks as they free up; each chunk's
//!   partial loss, gradient or HVP is computed into its own buffer and the partials are summed
//!   in chunk order, so the results are **bit-identical for any thread count** (each GEMM is
//!   single-threaded, [`matmul`]).
//! * The first layer's two big products (x·W₁ᵀ forward; dᵀ·x for its weight gradient or HVP,
//!   the bulk of the work at the CIFAR shape) run as tasks of their own, larger than the
//!   chunks and fixed by the shapes alone: the forward over row groups ([`group_ranges`]); the
//!   weight product, in f32 on an AVX-512 CPU, as `Wᵀ = xᵀ·d` over ranges of input features
//!   from a transposed copy of the inputs made once ([`FEATURES_PER_TASK`]), elsewhere over
//!   the row groups with partials summed in group order.
//! * The forward/backward quantities of the last gradient evaluation (activations, σ', σ'',
//!   back-propagated signals) are cached per chunk; an HVP at the same parameters reuses them,
//!   so it costs the R-passes only (≈ 14.8 GFLOP at the CIFAR-5k shape instead of ≈ 27).

use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use super::model::Activation;

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip, s};
use serde::{Deserialize, Serialize};

use super::Float;
use super::model::{LayerLayout, MlpSpec};

/// Training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// ½‖f(x) − y‖² averaged over samples (Cohen et al.'s definition).
    #[default]
    Mse,
    /// Softmax cross-entropy averaged over samples.
    CrossEntropy,
}

impl LossKind {
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::CrossEntropy => "ce",
        }
    }
}

impl std::str::FromStr for LossKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mse" => Ok(LossKind::Mse),
            "ce" | "cross-entropy" | "crossentropy" | "xent" => Ok(LossKind::CrossEntropy),
            _ => Err(format!("unknown loss {s:?}; use mse or ce")),
        }
    }
}

/// A data split in the run's precision: inputs, loss targets (one-hot for classification)
/// and labels for accuracy.
#[derive(Clone, Debug)]
pub struct Batch<T> {
    pub x: Array2<T>,
    pub y: Array2<T>,
    pub labels: Option<Vec<u8>>,
}

impl<T: Float> Batch<T> {
    pub fn len(&self) -> usize {
        self.x.nrows()
    }
    pub fn is_empty(&self) -> bool {
        self.x.nrows() == 0
    }
}

/// Loss and accuracy of one evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    pub loss: f64,
    /// Fraction correct (argmax), when the targets are classes.
    pub accuracy: Option<f64>,
}

/// Cached per-chunk quantities at the cached parameters.
struct ChunkCache<T> {
    /// Post-activations of each hidden layer.
    a: Vec<Array2<T>>,
    /// σ'(z) of each hidden layer.
    d1: Vec<Array2<T>>,
    /// Pre-activations, kept only for activations whose σ'' is not a function of σ and σ'.
    z: Vec<Array2<T>>,
    /// σ''(z), computed on the first HVP at these parameters (GD-only steps never need it).
    d2: std::sync::OnceLock<Vec<Array2<T>>>,
    /// ∂L/∂a of each hidden layer (before multiplying by σ').
    g: Vec<Array2<T>>,
    /// ∂L/∂f at the output (already divided by the full-batch size).
    dout: Array2<T>,
    /// Softmax probabilities (cross-entropy only).
    probs: Option<Array2<T>>,
}

struct Cache<T> {
    params: Vec<T>,
    chunks: Vec<ChunkCache<T>>,
}

/// Work counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub gradients: u64,
    pub hvps: u64,
    pub forward_only: u64,
}

/// Evaluates an MLP's loss, gradient and Hessian–vector products on a fixed training set.
pub struct Evaluator<T: Float> {
    spec: MlpSpec,
    layout: Vec<LayerLayout>,
    loss: LossKind,
    train: Batch<T>,
    threads: usize,
    chunk_rows: usize,
    cache_enabled: bool,
    cache: Option<Cache<T>>,
    /// One parameter-sized buffer per chunk for the chunk partials of a gradient or HVP,
    /// kept between calls so they are not reallocated.
    partials: Vec<Vec<T>>,
    /// n × width₁ for every row of the batch: x·W₁ᵀ (or x·V₁ᵀ in an HVP), then, row by row as
    /// the chunks finish, the back-propagated ∂L/∂z₁ (or its R-derivative); kept between calls
    /// (see [`first_layer_forward`](Evaluator::first_layer_forward)).
    first_rows: Vec<T>,
    /// A second such buffer, for an HVP without the cache (x·W₁ᵀ while the first holds x·V₁ᵀ).
    first_rows_b: Vec<T>,
    /// The per-group partials of the first layer's weight product (or, on the own kernel's
    /// path, one buffer for its transpose).
    group_partials: Vec<Vec<T>>,
    /// The inputs transposed (features × samples), for the own kernel's weight product
    /// ([`first_layer_products`](Evaluator::first_layer_products)); built on the first
    /// gradient or HVP, shared by clones.
    inputs_t: Option<Arc<Array2<T>>>,
    /// ∂L/∂z₁ (or its R-derivative) packed for the own kernel's weight product.
    packed_signal: T::PackedRight,
    pub counters: Counters,
}

/// A copy with the same network, loss, training data and counters; the HVP cache starts
/// empty (it is rebuilt on the next evaluation).
impl<T: Float> Clone for Evaluator<T> {
    fn clone(&self) -> Self {
        Evaluator {
            spec: self.spec.clone(),
            layout: self.layout.clone(),
            loss: self.loss,
            train: self.train.clone(),
            threads: self.threads,
            chunk_rows: self.chunk_rows,
            cache_enabled: self.cache_enabled,
            cache: None,
            partials: Vec::new(),
            first_rows: Vec::new(),
            first_rows_b: Vec::new(),
            group_partials: Vec::new(),
            inputs_t: self.inputs_t.clone(),
            packed_signal: T::PackedRight::default(),
            counters: self.counters,
        }
    }
}

/// `c ← α·a·b + β·c` (BLAS convention; with β = 0, `c` is not read) for views of any strides,
/// so transposed operands (`w.t()`, `delta.t()`) need no copy. One thread: the engine threads
/// by chunks. Products of at least [`OWN_KERNEL_MIN_VOLUME`] with α = 1 and β ∈ {0, 1} go
/// through the precision's own kernel where it has one (f32 on AVX-512, `sgemm`); the rest
/// through the `gemm` crate, which picks its kernel at run time (AVX-512, AVX2/FMA or scalar).
/// Both block by the shapes and the machine's caches only, so a product is computed the same
/// way whichever thread runs it.
pub(crate) fn matmul<T: Float>(
    alpha: T,
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
) {
    let (m, k) = a.dim();
    let (kb, n) = b.dim();
    assert_eq!(k, kb, "matmul: inner dimensions");
    assert_eq!(c.dim(), (m, n), "matmul: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == T::zero() {
            c.fill(T::zero());
        } else {
            c.mapv_inplace(|x| x * beta);
        }
        return;
    }
    if m * n * k >= OWN_KERNEL_MIN_VOLUME
        && alpha == T::one()
        && (beta == T::zero() || beta == T::one())
        && T::matmul_own_kernel(a, b, beta == T::one(), c)
    {
        return;
    }
    let (ars, acs) = (a.strides()[0], a.strides()[1]);
    let (brs, bcs) = (b.strides()[0], b.strides()[1]);
    let (crs, ccs) = (c.strides()[0], c.strides()[1]);
    #[allow(unsafe_code)]
    // SAFETY: the pointers and strides come from live ndarray views whose shapes were checked
    // above to be m×k, k×n and m×n, so every element `gemm` touches is inside its view; `c` is
    // borrowed mutably, so it aliases neither input. `gemm` computes dst ← α'·dst + β'·lhs·rhs
    // (hence β, α in that order) and reads dst only when told to. `T` is f32 or f64 (the only
    // `Float` types), which `gemm` supports.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            ccs,
            crs,
            beta != T::zero(),
            a.as_ptr(),
            acs,
            ars,
            b.as_ptr(),
            bcs,
            brs,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Products of at least this many multiply-adds (m·n·k) go through the own kernel where the
/// precision has one: the chunks' 417 × 200 × 200 products on CIFAR-5k do (0.99 of the step
/// time with them there, in-process pairs); the small ones, and a small net's, stay with the
/// `gemm` crate, whose per-call cost is lower.
const OWN_KERNEL_MIN_VOLUME: usize = 1 << 22;

fn view2<'a, T>(p: &'a [T], lay: &LayerLayout) -> ArrayView2<'a, T> {
    ArrayView2::from_shape((lay.fan_out, lay.fan_in), &p[lay.w_range()])
        .expect("parameter layout matches the weight shape")
}

/// W of layer `lay` in a buffer holding the parameters from offset `shift` on.
fn view2_mut<'a, T>(p: &'a mut [T], lay: &LayerLayout, shift: usize) -> ArrayViewMut2<'a, T> {
    let r = lay.w_range();
    ArrayViewMut2::from_shape(
        (lay.fan_out, lay.fan_in),
        &mut p[r.start - shift..r.end - shift],
    )
    .expect("parameter layout matches the weight shape")
}

fn bias<'a, T>(p: &'a [T], lay: &LayerLayout) -> Option<ArrayView1<'a, T>> {
    lay.b_range().map(|r| ArrayView1::from(&p[r]))
}

fn add_bias<T: Float>(z: &mut Array2<T>, b: Option<ArrayView1<'_, T>>) {
    if let Some(b) = b {
        for mut row in z.rows_mut() {
            row += &b;
        }
    }
}

/// Adds the column sums of `m` (rows in order) to the bias of `lay` in a buffer holding the
/// parameters from offset `shift` on.
fn add_colsum<T: Float>(acc: &mut [T], lay: &LayerLayout, m: ArrayView2<'_, T>, shift: usize) {
    if let Some(r) = lay.b_range() {
        let mut b = ArrayViewMut1::from(&mut acc[r.start - shift..r.end - shift]);
        for row in m.rows() {
            b += &row;
        }
    }
}

/// σ in place (tanh through the vectorisable `tanh_fast`).
fn activate<T: Float>(act: Activation, z: &mut Array2<T>) {
    match act {
        Activation::Tanh => z.mapv_inplace(T::tanh_fast),
        Activation::Identity => {}
        _ => z.mapv_inplace(|v| act.eval(v).0),
    }
}

/// σ in place and σ' into `d1`.
fn activate_with_derivative<T: Float>(act: Activation, z: &mut Array2<T>, d1: &mut Array2<T>) {
    match act {
        Activation::Tanh => {
            z.mapv_inplace(T::tanh_fast);
            Zip::from(d1)
                .and(&*z)
                .for_each(|d, a| *d = T::one() - *a * *a);
        }
        _ => Zip::from(z).and(d1).for_each(|z, d1| {
            let (s, ds, _) = act.eval(*z);
            *z = s;
            *d1 = ds;
        }),
    }
}

/// `z ← σ(z + b)` and, when `d1` is given, `d1 ← σ'(z + b)`: bias, activation and derivative
/// in one pass over the rows (instead of three).
fn bias_activate<T: Float>(
    act: Activation,
    z: &mut Array2<T>,
    b: Option<ArrayView1<'_, T>>,
    d1: Option<&mut Array2<T>>,
) {
    let width = z.ncols();
    if width == 0 {
        return;
    }
    let zero_bias = vec![T::zero(); if b.is_none() { width } else { 0 }];
    let b = b.as_ref().map_or(&zero_bias[..], |b| {
        b.as_slice()
            .expect("a bias is a contiguous slice of the parameters")
    });
    let z = z
        .as_slice_mut()
        .expect("chunk arrays are in standard layout");
    match (act, d1) {
        (Activation::Tanh, Some(d1)) => {
            let d1 = d1
                .as_slice_mut()
                .expect("chunk arrays are in standard layout");
            for (zr, dr) in z.chunks_exact_mut(width).zip(d1.chunks_exact_mut(width)) {
                for ((z, d), b) in zr.iter_mut().zip(dr.iter_mut()).zip(b) {
                    let t = (*z + *b).tanh_fast();
                    *z = t;
                    *d = T::one() - t * t;
                }
            }
        }
        (Activation::Tanh, None) => {
            for zr in z.chunks_exact_mut(width) {
                for (z, b) in zr.iter_mut().zip(b) {
                    *z = (*z + *b).tanh_fast();
                }
            }
        }
        (_, Some(d1)) => {
            let d1 = d1
                .as_slice_mut()
                .expect("chunk arrays are in standard layout");
            for (zr, dr) in z.chunks_exact_mut(width).zip(d1.chunks_exact_mut(width)) {
                for ((z, d), b) in zr.iter_mut().zip(dr.iter_mut()).zip(b) {
                    let (s, ds, _) = act.eval(*z + *b);
                    *z = s;
                    *d = ds;
                }
            }
        }
        (_, None) => {
            for zr in z.chunks_exact_mut(width) {
                for (z, b) in zr.iter_mut().zip(b) {
                    *z = act.eval(*z + *b).0;
                }
            }
        }
    }
}

/// σ''(z) for every hidden layer of a cached chunk.
fn second_derivatives<T: Float>(act: Activation, c: &ChunkCache<T>) -> Vec<Array2<T>> {
    match act {
        // tanh'' = −2 tanh · tanh'
        Activation::Tanh => {
            c.a.iter()
                .zip(&c.d1)
                .map(|(a, d1)| {
                    let mut d2 = a.clone();
                    Zip::from(&mut d2)
                        .and(d1)
                        .for_each(|x, d| *x = T::of(-2.0) * *x * *d);
                    d2
                })
                .collect()
        }
        _ if act.is_piecewise_linear() => c.a.iter().map(|a| Array2::zeros(a.raw_dim())).collect(),
        _ => c.z.iter().map(|z| z.mapv(|v| act.eval(v).2)).collect(),
    }
}

/// Rows per group of the first layer's two big products (x·W₁ᵀ forward, dᵀ·x for the weight
/// gradient or HVP), which run as tasks of their own over row groups larger than the chunks:
/// `gemm` packs W for every call, so at the CIFAR-5k shape the forward GEMM costs ≈ 13 % more
/// in 12 calls of 417 rows than in one over all rows, and ≈ 1.5 % more in 4 (thread CPU time,
/// measured on this project's 2-core VM; see README "Benchmarks").
const FIRST_LAYER_GROUP_ROWS: usize = 1280;

/// At least this many row groups when the batch has the rows for them, so up to this many
/// threads share the big products.
const FIRST_LAYER_MIN_GROUPS: usize = 4;

/// The row groups of the first layer's products for a batch of `n` rows: contiguous, in order,
/// of near-equal size, depending on `n` only (never on the thread count).
fn group_ranges(n: usize) -> Vec<Range<usize>> {
    if n == 0 {
        return Vec::new();
    }
    let count = n
        .div_ceil(FIRST_LAYER_GROUP_ROWS)
        .max(FIRST_LAYER_MIN_GROUPS.min(n.div_ceil(MIN_CHUNK_ROWS)))
        .max(1);
    (0..count)
        .map(|i| n * i / count..n * (i + 1) / count)
        .collect()
}

/// The widest first layer the own kernel's weight product takes (its packed right operand
/// is ∂L/∂z₁, one column per unit).
const OWN_KERNEL_MAX_WIDTH: usize = 256;

/// The largest inputs the own kernel's weight product keeps a transposed copy of (CIFAR-5k in
/// f32: 61 MB; all 50,000 CIFAR-10 images: 614 MB); larger ones take the general path.
const OWN_KERNEL_MAX_COPY_BYTES: usize = 1 << 30;

/// Input features per task of the own kernel's weight product (a multiple of the kernel's 8
/// rows): CIFAR's 3,072 make 12 tasks, so two threads share them evenly.
const FEATURES_PER_TASK: usize = 256;

/// The feature ranges of the own kernel's weight product: contiguous, in order, depending on
/// the number of features only.
fn feature_ranges(features: usize) -> Vec<Range<usize>> {
    (0..features)
        .step_by(FEATURES_PER_TASK)
        .map(|lo| lo..(lo + FEATURES_PER_TASK).min(features))
        .collect()
}

/// `out` (cols × rows, standard layout) ← `a`ᵀ, its rows shared among `threads` in fixed
/// blocks (a copy: the result does not depend on the split).
fn transpose_into<T: Float>(a: ArrayView2<'_, T>, out: &mut [T], threads: usize) {
    let (rows, cols) = a.dim();
    debug_assert_eq!(out.len(), rows * cols);
    if rows == 0 || cols == 0 {
        return;
    }
    const BLOCKS: usize = 8;
    let per = cols.div_ceil(BLOCKS);
    let ranges: Vec<Range<usize>> = (0..cols)
        .step_by(per)
        .map(|lo| lo..(lo + per).min(cols))
        .collect();
    let mut slots = split_rows(out, &ranges, rows);
    run_chunks(ranges.len(), threads, &mut slots, |i, slot| {
        let Some(slot) = slot else { return };
        let r = ranges[i].clone();
        const B: usize = 64;
        for i0 in (0..rows).step_by(B) {
            for (jj, j) in r.clone().enumerate() {
                let dst = &mut slot[jj * rows..(jj + 1) * rows];
                for i in i0..(i0 + B).min(rows) {
                    dst[i] = a[[i, j]];
                }
            }
        }
    });
}

/// `buf` cut into consecutive pieces of `width` × (rows of each chunk) elements.
fn split_rows<'a, T>(buf: &'a mut [T], chunks: &[Range<usize>], width: usize) -> Vec<&'a mut [T]> {
    let mut rest = buf;
    chunks
        .iter()
        .map(|r| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(r.len() * width);
            rest = tail;
            head
        })
        .collect()
}

/// A batch is cut into at least this many chunks when it has the rows for it, so up to this
/// many threads find work; 12 shares evenly among 1, 2, 3, 4, 6 and 12 threads.
pub const PARALLEL_CHUNKS: usize = 12;

/// No chunk is cut below this many rows to make more chunks (a tiny GEMM costs more than the
/// parallelism buys).
pub const MIN_CHUNK_ROWS: usize = 32;

/// The chunks a batch of `n` rows is processed in: contiguous, in order, of near-equal size,
/// none above `max_rows`, and — when `n` allows — at least [`PARALLEL_CHUNKS`] of them (each
/// of at least [`MIN_CHUNK_ROWS`] rows).
///
/// The boundaries depend on `n` and `max_rows` only, never on the thread count: each chunk's
/// partial result is computed the same way by whichever thread takes it, and the partials are
/// summed in chunk order, so the full-batch loss, gradient and HVP are bit-identical for any
/// number of threads.
pub fn chunk_ranges(n: usize, max_rows: usize) -> Vec<Range<usize>> {
    if n == 0 {
        return Vec::new();
    }
    let by_size = n.div_ceil(max_rows.max(1));
    let for_threads = PARALLEL_CHUNKS.min(n.div_ceil(MIN_CHUNK_ROWS));
    let count = by_size.max(for_threads).max(1);
    (0..count)
        .map(|i| n * i / count..n * (i + 1) / count)
        .collect()
}

/// Run `f` on every chunk index `0..chunks`, `threads` of them at a time (inline when one),
/// each chunk with its own slot of `slots` (one per chunk, or none). Threads take the next
/// free chunk, so a slow core does not hold the others back; the results come back in chunk
/// order, so what a chunk produces does not depend on which thread ran it.
fn run_chunks<S, R, F>(chunks: usize, threads: usize, slots: &mut [S], f: F) -> Vec<R>
where
    S: Send,
    R: Send,
    F: Fn(usize, Option<&mut S>) -> R + Sync,
{
    debug_assert!(slots.is_empty() || slots.len() == chunks);
    let threads = threads.clamp(1, chunks.max(1));
    if threads == 1 {
        let mut it = slots.iter_mut();
        return (0..chunks).map(|i| f(i, it.next())).collect();
    }
    let mut slots_iter = slots.iter_mut();
    let queue = Mutex::new((0..chunks).map(move |i| (i, slots_iter.next())));
    let work = || {
        let mut done = Vec::new();
        loop {
            // The lock guards only taking the next index; release it before the work.
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some((i, slot)) = next else { break };
            done.push((i, f(i, slot)));
        }
        done
    };
    let mut results: Vec<Option<R>> = (0..chunks).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads)
            .map(|t| {
                std::thread::Builder::new()
                    .name(format!("eos-batch-{t}"))
                    .spawn_scoped(scope, work)
                    .expect("spawning a compute thread")
            })
            .collect();
        let mut all = work();
        for h in handles {
            match h.join() {
                Ok(r) => all.extend(r),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        for (i, r) in all {
            results[i] = Some(r);
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every chunk ran"))
        .collect()
}

/// `out[j] = ((parts[0][j] + parts[1][j]) + parts[2][j]) + …`: the chunk partials summed in
/// chunk order, element by element. The elements are shared among `threads` (each element's
/// sum is the same whichever thread computes it).
fn sum_in_chunk_order<T: Float>(parts: &[Vec<T>], out: &mut [T], threads: usize) {
    let Some((first, rest)) = parts.split_first() else {
        out.iter_mut().for_each(|o| *o = T::zero());
        return;
    };
    let sum_block = |lo: usize, block: &mut [T]| {
        let hi = lo + block.len();
        block.copy_from_slice(&first[lo..hi]);
        for part in rest {
            for (o, x) in block.iter_mut().zip(&part[lo..hi]) {
                *o += *x;
            }
        }
    };
    // Below this many elements the threads cost more than the sum.
    const PARALLEL_SUM_MIN: usize = 1 << 16;
    let threads = if out.len() < PARALLEL_SUM_MIN {
        1
    } else {
        threads.max(1)
    };
    if threads == 1 {
        sum_block(0, out);
        return;
    }
    let block = out.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for (b, piece) in out.chunks_mut(block).enumerate() {
            let sum_block = &sum_block;
            scope.spawn(move || sum_block(b * block, piece));
        }
    });
}

impl<T: Float> Evaluator<T> {
    /// `threads` = 0 picks [`default_threads`](super::config::default_threads); the results do
    /// not depend on it. `chunk_rows` caps the samples per chunk (see [`chunk_ranges`]).
    pub fn new(
        spec: MlpSpec,
        loss: LossKind,
        train: Batch<T>,
        threads: usize,
        chunk_rows: usize,
    ) -> Self {
        let threads = if threads == 0 {
            super::config::default_threads()
        } else {
            threads
        };
        Evaluator {
            layout: spec.layout(),
            spec,
            loss,
            train,
            threads,
            chunk_rows: chunk_rows.max(1),
            cache_enabled: true,
            cache: None,
            partials: Vec::new(),
            first_rows: Vec::new(),
            first_rows_b: Vec::new(),
            group_partials: Vec::new(),
            inputs_t: None,
            packed_signal: T::PackedRight::default(),
            counters: Counters::default(),
        }
    }

    /// With caching off, every HVP recomputes the forward and backward passes chunk by chunk
    /// (memory O(chunk × width) instead of O(n × width), ≈ 1.5× the work; only the first
    /// layer's n × width₁ products are kept whole, two of them).
    pub fn set_cache_enabled(&mut self, on: bool) {
        self.cache_enabled = on;
        if !on {
            self.cache = None;
        }
    }

    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }
    pub fn loss_kind(&self) -> LossKind {
        self.loss
    }
    pub fn num_params(&self) -> usize {
        self.spec.num_params()
    }
    pub fn train(&self) -> &Batch<T> {
        &self.train
    }
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The chunks of a batch of `n` rows (independent of the thread count).
    fn chunks(&self, n: usize) -> Vec<Range<usize>> {
        chunk_ranges(n, self.chunk_rows)
    }

    /// `count` zeroed buffers of `len` elements for chunk partials (reused between calls).
    fn take_partials(&mut self, count: usize, len: usize) -> Vec<Vec<T>> {
        let p = len;
        let mut bufs = std::mem::take(&mut self.partials);
        bufs.truncate(count);
        bufs.resize_with(count, Vec::new);
        for b in &mut bufs {
            b.clear();
            b.resize(p, T::zero());
        }
        bufs
    }

    /// Parameters of the first layer: its W and b open the parameter vector.
    fn first_len(&self) -> usize {
        self.layout
            .first()
            .map_or(0, |l| l.b_range().map_or(l.w_range().end, |r| r.end))
    }

    /// `out` (n × width₁) ← x·W₁ᵀ for the first layer's W in `p` (the parameters, or the
    /// direction of an HVP), over fixed row groups ([`group_ranges`]) that threads take as they
    /// free up. The chunks then read their rows of it.
    fn first_layer_forward(&self, x: ArrayView2<'_, T>, p: &[T], out: &mut [T]) {
        let Some(lay) = self.layout.first() else {
            return;
        };
        let w = view2(p, lay);
        let groups = group_ranges(x.nrows());
        let mut slots = split_rows(out, &groups, lay.fan_out);
        run_chunks(groups.len(), self.threads, &mut slots, |i, rows| {
            if let Some(rows) = rows {
                let r = groups[i].clone();
                let mut z =
                    ArrayViewMut2::from_shape((r.len(), lay.fan_out), rows).expect("group rows");
                let xr = x.slice(s![r, ..]);
                // f32 with AVX-512 has its own kernel for this shape (8–9 % faster than the
                // general one on CIFAR-5k's 3,072 → 200 layer; see `sgemm`). Packing W₁ᵀ once
                // for all groups instead of once per group measured 1.005–1.02× the step time
                // (in-process pairs, 2026-12-06).
                if !T::matmul_own_kernel(xr, w.t(), false, &mut z) {
                    matmul(T::one(), xr, w.t(), T::zero(), &mut z);
                }
            }
        });
    }

    /// Builds the transposed inputs the own kernel's weight product reads, once (the training
    /// inputs never change after construction): only where this precision has its own kernel,
    /// the first layer is narrow enough for it and the copy is at most
    /// [`OWN_KERNEL_MAX_COPY_BYTES`].
    fn ensure_inputs_t(&mut self) {
        let Some(lay) = self.layout.first() else {
            return;
        };
        if !T::has_own_kernel() || lay.fan_out > OWN_KERNEL_MAX_WIDTH {
            self.inputs_t = None;
            return;
        }
        let x = &self.train.x;
        if x.len().saturating_mul(std::mem::size_of::<T>()) > OWN_KERNEL_MAX_COPY_BYTES {
            self.inputs_t = None;
            return;
        }
        if self
            .inputs_t
            .as_ref()
            .is_some_and(|t| t.dim() == (x.ncols(), x.nrows()))
        {
            return;
        }
        let mut t = Array2::<T>::zeros((x.ncols(), x.nrows()));
        let slice = t.as_slice_mut().expect("a new array is in standard layout");
        transpose_into(x.view(), slice, self.threads);
        self.inputs_t = Some(Arc::new(t));
    }

    /// The first layer's weight and bias products over the whole batch, into `out` (its
    /// parameters): `W ← dᵀ·x` and `b ← Σ_rows d`, where `d` (n × width₁) is the back-propagated
    /// signal of every row and `x` the training inputs.
    ///
    /// * With the own kernel ([`Float::has_own_kernel`], f32 on AVX-512): `Wᵀ = xᵀ·d` from the
    ///   transposed inputs, read in place (no copy of the inputs per step), with `d` packed
    ///   once; fixed ranges of input features are tasks that threads take as they free up,
    ///   each summing over every row, and `Wᵀ` is transposed into place.
    /// * Otherwise each row group ([`group_ranges`]) computes its partial `d_gᵀ·x_g` into its
    ///   own buffer of `parts`, and the partials are summed in group order.
    ///
    /// Either way the result does not depend on the thread count.
    fn first_layer_products(&mut self, d: ArrayView2<'_, T>, out: &mut [T]) {
        let Evaluator {
            layout,
            train,
            threads,
            inputs_t,
            group_partials: parts,
            packed_signal: packed,
            ..
        } = self;
        let (threads, x) = (*threads, train.x.view());
        let Some(lay) = layout.first() else {
            return;
        };
        let w_len = lay.fan_in * lay.fan_out;
        let (w, b) = out.split_at_mut(w_len);
        let own = match inputs_t.as_deref() {
            Some(xt)
                if xt.dim() == (x.ncols(), x.nrows())
                    && T::pack_right_own_kernel(d, packed, threads) =>
            {
                Some(xt)
            }
            _ => None,
        };
        if let Some(xt) = own {
            parts.truncate(1);
            parts.resize_with(1, Vec::new);
            let wt = &mut parts[0];
            wt.resize(w_len, T::zero());
            let tasks = feature_ranges(lay.fan_in);
            let mut slots = split_rows(wt, &tasks, lay.fan_out);
            let packed = &*packed;
            run_chunks(tasks.len(), threads, &mut slots, |i, rows| {
                if let Some(rows) = rows {
                    let r = tasks[i].clone();
                    let mut c = ArrayViewMut2::from_shape((r.len(), lay.fan_out), rows)
                        .expect("feature rows");
                    let done = T::matmul_packed_own_kernel(xt.slice(s![r, ..]), packed, &mut c);
                    assert!(done, "the own kernel declined a product it packed for");
                }
            });
            let wt = ArrayView2::from_shape((lay.fan_in, lay.fan_out), &wt[..])
                .expect("parameter layout matches the weight shape");
            transpose_into(wt, w, threads);
        } else {
            let groups = group_ranges(d.nrows());
            parts.truncate(groups.len());
            parts.resize_with(groups.len(), Vec::new);
            for part in parts.iter_mut() {
                // Overwritten by the product (β = 0).
                part.resize(w_len, T::zero());
            }
            run_chunks(groups.len(), threads, parts, |i, part| {
                if let Some(part) = part {
                    let r = groups[i].clone();
                    let mut g = ArrayViewMut2::from_shape((lay.fan_out, lay.fan_in), &mut part[..])
                        .expect("parameter layout matches the weight shape");
                    let dg = d.slice(s![r.clone(), ..]);
                    matmul(T::one(), dg.t(), x.slice(s![r, ..]), T::zero(), &mut g);
                }
            });
            sum_in_chunk_order(parts, w, threads);
        }
        if !b.is_empty() {
            b.fill(T::zero());
            let mut b = ArrayViewMut1::from(b);
            for row in d.rows() {
                b += &row;
            }
        }
    }

    /// Forward (and optionally backward) pass on one chunk. Returns the summed loss over its
    /// rows, the number correct, and the cached quantities. `first` holds the chunk's rows of
    /// x·W₁ᵀ ([`first_layer_forward`](Self::first_layer_forward)). `grad`, when given,
    /// accumulates the chunk's contribution to the gradient of every layer but the first (the
    /// parameters from [`first_len`](Self::first_len) on), and `first` then receives the
    /// chunk's rows of ∂L/∂z₁ (for [`first_layer_products`](Self::first_layer_products));
    /// `n_total` is the full-batch size the loss is averaged over.
    #[allow(clippy::too_many_arguments)]
    fn chunk_pass(
        &self,
        params: &[T],
        first: &mut [T],
        y: ArrayView2<'_, T>,
        labels: Option<&[u8]>,
        n_total: usize,
        backward: bool,
        mut grad: Option<&mut [T]>,
    ) -> (f64, usize, Option<ChunkCache<T>>) {
        let m = y.nrows();
        let nl = self.layout.len();
        let act = self.spec.activation;
        let mut a_list: Vec<Array2<T>> = Vec::with_capacity(nl.saturating_sub(1));
        let mut d1_list = Vec::with_capacity(nl.saturating_sub(1));
        let mut z_list = Vec::new();
        let keep_z = backward && !matches!(act, Activation::Tanh) && !act.is_piecewise_linear();
        let mut out = Array2::<T>::zeros((m, 0));
        for (l, lay) in self.layout.iter().enumerate() {
            let mut z = if l == 0 {
                Array2::from_shape_vec((m, lay.fan_out), first.to_vec()).expect("chunk rows")
            } else {
                let mut z = Array2::<T>::zeros((m, lay.fan_out));
                let w = view2(params, lay);
                matmul(
                    T::one(),
                    a_list[l - 1].view(),
                    w.t(),
                    T::zero(),
                    &mut z.view_mut(),
                );
                z
            };
            if l + 1 < nl {
                let mut d1 = Array2::<T>::zeros(if backward { z.dim() } else { (0, 0) });
                if keep_z {
                    add_bias(&mut z, bias(params, lay));
                    z_list.push(z.clone());
                    if backward {
                        activate_with_derivative(act, &mut z, &mut d1);
                    } else {
                        activate(act, &mut z);
                    }
                } else {
                    bias_activate(act, &mut z, bias(params, lay), backward.then_some(&mut d1));
                }
                a_list.push(z);
                d1_list.push(d1);
            } else {
                add_bias(&mut z, bias(params, lay));
                out = z;
            }
        }

        // Loss, accuracy and ∂L/∂f (divided by the full-batch size).
        let inv_n = 1.0 / n_total as f64;
        let mut loss_sum = 0.0f64;
        let mut correct = 0usize;
        let c = out.ncols();
        let mut dout = Array2::<T>::zeros(if backward { (m, c) } else { (0, 0) });
        let mut probs = match (self.loss, backward) {
            (LossKind::CrossEntropy, true) => Some(Array2::<T>::zeros((m, c))),
            _ => None,
        };
        let mut p_row = vec![0.0f64; c];
        for i in 0..m {
            let f = out.row(i);
            let t = y.row(i);
            if let Some(lab) = labels {
                let mut best = 0;
                for j in 1..c {
                    if f[j] > f[best] {
                        best = j;
                    }
                }
                if best == lab[i] as usize {
                    correct += 1;
                }
            }
            match self.loss {
                LossKind::Mse => {
                    let mut s = 0.0;
                    for j in 0..c {
                        let d = f[j].f64() - t[j].f64();
                        s += d * d;
                        if backward {
                            dout[(i, j)] = T::of(d * inv_n);
                        }
                    }
                    loss_sum += 0.5 * s;
                }
                LossKind::CrossEntropy => {
                    let mx = f.iter().fold(f64::NEG_INFINITY, |a, v| a.max(v.f64()));
                    let mut z = 0.0;
                    for j in 0..c {
                        p_row[j] = (f[j].f64() - mx).exp();
                        z += p_row[j];
                    }
                    let logz = z.ln() + mx;
                    for j in 0..c {
                        let tj = t[j].f64();
                        if tj != 0.0 {
                            loss_sum -= tj * (f[j].f64() - logz);
                        }
                        let p = p_row[j] / z;
                        if backward {
                            dout[(i, j)] = T::of((p - tj) * inv_n);
                            if let Some(pr) = probs.as_mut() {
                                pr[(i, j)] = T::of(p);
                            }
                        }
                    }
                }
            }
        }
        if !backward {
            return (loss_sum, correct, None);
        }

        // Backward pass.
        let mut g_list: Vec<Array2<T>> = vec![Array2::zeros((0, 0)); nl.saturating_sub(1)];
        let shift = self.first_len();
        let keep_first = grad.is_some();
        if nl == 1 && keep_first {
            // No hidden layer: ∂L/∂z₁ is ∂L/∂f.
            for (f, d) in first.iter_mut().zip(dout.iter()) {
                *f = *d;
            }
        }
        // ∂L/∂z of the layer at hand (∂L/∂f at the output).
        let mut delta_owned: Option<Array2<T>> = None;
        for l in (1..nl).rev() {
            let lay = &self.layout[l];
            let delta = delta_owned.as_ref().unwrap_or(&dout);
            if let Some(gacc) = grad.as_deref_mut() {
                let mut gw = view2_mut(gacc, lay, shift);
                matmul(T::one(), delta.t(), a_list[l - 1].view(), T::one(), &mut gw);
                add_colsum(gacc, lay, delta.view(), shift);
            }
            let w = view2(params, lay);
            let mut g = Array2::<T>::zeros((m, lay.fan_in));
            matmul(T::one(), delta.view(), w, T::zero(), &mut g.view_mut());
            let d1 = &d1_list[l - 1];
            if l > 1 {
                delta_owned = Some(Zip::from(&g).and(d1).map_collect(|g, d| *g * *d));
            } else if keep_first {
                // The first layer's signal goes straight to its rows of the full-batch buffer.
                let mut f =
                    ArrayViewMut2::from_shape((m, lay.fan_in), &mut *first).expect("chunk rows");
                Zip::from(&mut f)
                    .and(&g)
                    .and(d1)
                    .for_each(|f, g, d| *f = *g * *d);
            }
            g_list[l - 1] = g;
        }
        let cache = ChunkCache {
            a: a_list,
            d1: d1_list,
            z: z_list,
            d2: OnceLock::new(),
            g: g_list,
            dout,
            probs,
        };
        (loss_sum, correct, Some(cache))
    }

    /// R-operator passes on one chunk: accumulates H·v restricted to the chunk into `acc` for
    /// every layer but the first (the parameters from [`first_len`](Self::first_len) on).
    /// `first` holds the chunk's rows of x·V₁ᵀ and receives its rows of the first layer's
    /// R-signal (for [`first_layer_products`](Self::first_layer_products)).
    fn chunk_hvp(&self, params: &[T], v: &[T], c: &ChunkCache<T>, acc: &mut [T], first: &mut [T]) {
        let m = c.dout.nrows();
        let nl = self.layout.len();
        // R-forward.
        let mut rz_list: Vec<Array2<T>> = Vec::with_capacity(nl);
        let mut ra_list: Vec<Array2<T>> = Vec::with_capacity(nl);
        for (l, lay) in self.layout.iter().enumerate() {
            let mut rz = if l == 0 {
                Array2::from_shape_vec((m, lay.fan_out), first.to_vec()).expect("chunk rows")
            } else {
                let mut rz = Array2::<T>::zeros((m, lay.fan_out));
                let vw = view2(v, lay);
                matmul(
                    T::one(),
                    c.a[l - 1].view(),
                    vw.t(),
                    T::zero(),
                    &mut rz.view_mut(),
                );
                let w = view2(params, lay);
                matmul(
                    T::one(),
                    ra_list[l - 1].view(),
                    w.t(),
                    T::one(),
                    &mut rz.view_mut(),
                );
                rz
            };
            add_bias(&mut rz, bias(v, lay));
            if l + 1 < nl {
                ra_list.push(Zip::from(&rz).and(&c.d1[l]).map_collect(|r, d| *r * *d));
            }
            rz_list.push(rz);
        }
        // R of ∂L/∂f.
        let inv_n = T::of(1.0 / self.train.len() as f64);
        let rf = &rz_list[nl - 1];
        let mut rdelta = match (&self.loss, &c.probs) {
            (LossKind::CrossEntropy, Some(p)) => {
                let mut r = Array2::<T>::zeros(rf.raw_dim());
                for i in 0..m {
                    let pi = p.row(i);
                    let ri = rf.row(i);
                    let dotp: T = pi.iter().zip(ri.iter()).map(|(a, b)| *a * *b).sum();
                    for j in 0..pi.len() {
                        r[(i, j)] = pi[j] * (ri[j] - dotp) * inv_n;
                    }
                }
                r
            }
            _ => rf.mapv(|v| v * inv_n),
        };
        // R-backward.
        let shift = self.first_len();
        if nl == 1 {
            for (f, d) in first.iter_mut().zip(rdelta.iter()) {
                *f = *d;
            }
        }
        // ∂L/∂z of the layer at hand (∂L/∂f at the output), from the cache.
        let mut delta_owned: Option<Array2<T>> = None;
        for l in (1..nl).rev() {
            let lay = &self.layout[l];
            let delta = delta_owned.as_ref().unwrap_or(&c.dout);
            let mut hw = view2_mut(acc, lay, shift);
            matmul(T::one(), rdelta.t(), c.a[l - 1].view(), T::one(), &mut hw);
            matmul(
                T::one(),
                delta.t(),
                ra_list[l - 1].view(),
                T::one(),
                &mut hw,
            );
            add_colsum(acc, lay, rdelta.view(), shift);
            let w = view2(params, lay);
            let vw = view2(v, lay);
            let mut rg = Array2::<T>::zeros((m, lay.fan_in));
            matmul(T::one(), rdelta.view(), w, T::zero(), &mut rg.view_mut());
            matmul(T::one(), delta.view(), vw, T::one(), &mut rg.view_mut());
            let k = l - 1;
            // R(∂L/∂z_k) = R(∂L/∂a_k)·σ' + ∂L/∂a_k·σ''·R(z_k), in one pass; the first layer's
            // goes straight to its rows of the full-batch buffer.
            let d2 = (!self.spec.activation.is_piecewise_linear()).then(|| {
                &c.d2
                    .get_or_init(|| second_derivatives(self.spec.activation, c))[k]
            });
            let (d1, g, rz) = (&c.d1[k], &c.g[k], &rz_list[k]);
            if k == 0 {
                let mut f =
                    ArrayViewMut2::from_shape((m, lay.fan_in), &mut *first).expect("chunk rows");
                match d2 {
                    None => Zip::from(&mut f)
                        .and(&rg)
                        .and(d1)
                        .for_each(|f, r, d1| *f = *r * *d1),
                    Some(d2) => Zip::from(&mut f)
                        .and(&rg)
                        .and(d1)
                        .and(g)
                        .and(d2)
                        .and(rz)
                        .for_each(|f, r, d1, g, d2, rz| *f = *r * *d1 + *g * *d2 * *rz),
                }
            } else {
                match d2 {
                    None => Zip::from(&mut rg).and(d1).for_each(|r, d1| *r *= *d1),
                    Some(d2) => Zip::from(&mut rg)
                        .and(d1)
                        .and(g)
                        .and(d2)
                        .and(rz)
                        .for_each(|r, d1, g, d2, rz| *r = *r * *d1 + *g * *d2 * *rz),
                }
                delta_owned = Some(Zip::from(g).and(d1).map_collect(|g, d| *g * *d));
                rdelta = rg;
            }
        }
    }

    /// Full-batch loss and gradient at `params` (gradient written into `grad`). Fills the
    /// cache that later HVPs at the same parameters reuse.
    pub fn loss_grad(&mut self, params: &[T], grad: &mut [T]) -> LossStats {
        let p = self.num_params();
        assert_eq!(params.len(), p, "parameter vector length");
        assert_eq!(grad.len(), p, "gradient vector length");
        let n = self.train.len();
        let chunks = self.chunks(n);
        let keep = self.cache_enabled;
        let first_len = self.first_len();
        let width = self.layout.first().map_or(0, |l| l.fan_out);
        self.ensure_inputs_t();
        let mut partials = self.take_partials(chunks.len(), p - first_len);
        let mut first = std::mem::take(&mut self.first_rows);
        first.resize(n * width, T::zero());
        self.first_layer_forward(self.train.x.view(), params, &mut first);
        let results = {
            let this = &*self;
            let mut slots: Vec<_> = partials
                .iter_mut()
                .zip(split_rows(&mut first, &chunks, width))
                .collect();
            run_chunks(chunks.len(), this.threads, &mut slots, |i, slot| {
                let Some((g, first)) = slot else {
                    return (0.0, 0, None);
                };
                let r = chunks[i].clone();
                let (loss, correct, cache) = this.chunk_pass(
                    params,
                    first,
                    this.train.y.slice(s![r.clone(), ..]),
                    this.train.labels.as_deref().map(|lab| &lab[r]),
                    n,
                    true,
                    Some(g.as_mut_slice()),
                );
                (loss, correct, cache.filter(|_| keep))
            })
        };
        sum_in_chunk_order(&partials, &mut grad[first_len..], self.threads);
        let d = ArrayView2::from_shape((n, width), &first[..]).expect("n × width₁ rows");
        self.first_layer_products(d, &mut grad[..first_len]);
        self.partials = partials;
        self.first_rows = first;
        let mut loss = 0.0;
        let mut correct = 0;
        let mut caches = Vec::with_capacity(results.len());
        for (l, c, cache) in results {
            loss += l;
            correct += c;
            caches.extend(cache);
        }
        self.cache = if keep {
            Some(Cache {
                params: params.to_vec(),
                chunks: caches,
            })
        } else {
            None
        };
        self.counters.gradients += 1;
        LossStats {
            loss: loss / n as f64,
            accuracy: self
                .train
                .labels
                .as_ref()
                .map(|_| correct as f64 / n as f64),
        }
    }

    /// Loss and accuracy on any batch (forward only, no cache change).
    pub fn evaluate(&mut self, params: &[T], batch: &Batch<T>) -> LossStats {
        let n = batch.len();
        if n == 0 {
            return LossStats {
                loss: f64::NAN,
                accuracy: None,
            };
        }
        let chunks = self.chunks(n);
        let width = self.layout.first().map_or(0, |l| l.fan_out);
        let mut first = std::mem::take(&mut self.first_rows);
        first.resize(n * width, T::zero());
        self.first_layer_forward(batch.x.view(), params, &mut first);
        let results = {
            let this = &*self;
            let mut slots = split_rows(&mut first, &chunks, width);
            run_chunks(chunks.len(), this.threads, &mut slots, |i, first| {
                let Some(first) = first else { return (0.0, 0) };
                let r = chunks[i].clone();
                let (loss, correct, _) = this.chunk_pass(
                    params,
                    first,
                    batch.y.slice(s![r.clone(), ..]),
                    batch.labels.as_deref().map(|lab| &lab[r]),
                    n,
                    false,
                    None,
                );
                (loss, correct)
            })
        };
        self.first_rows = first;
        self.counters.forward_only += 1;
        // Summed in chunk order, whatever thread computed each.
        let (loss, correct) = results
            .into_iter()
            .fold((0.0, 0), |(a, b), (l, c)| (a + l, b + c));
        LossStats {
            loss: loss / n as f64,
            accuracy: batch.labels.as_ref().map(|_| correct as f64 / n as f64),
        }
    }

    /// Training loss at `params` (forward only).
    pub fn loss(&mut self, params: &[T]) -> LossStats {
        let train = std::mem::replace(
            &mut self.train,
            Batch {
                x: Array2::zeros((0, 0)),
                y: Array2::zeros((0, 0)),
                labels: None,
            },
        );
        let r = self.evaluate(params, &train);
        self.train = train;
        r
    }

    /// Exact Hessian–vector product H(params)·v over the full training set, into `out`.
    pub fn hvp(&mut self, params: &[T], v: &[T], out: &mut [T]) {
        let p = self.num_params();
        assert_eq!(params.len(), p, "parameter vector length");
        assert_eq!(v.len(), p, "direction length");
        assert_eq!(out.len(), p, "output length");
        let n = self.train.len();
        let chunks = self.chunks(n);
        let cached = self
            .cache
            .as_ref()
            .is_some_and(|c| c.params.as_slice() == params);
        if !cached && self.cache_enabled {
            // Fill the cache once; the following products at these parameters reuse it.
            let mut scratch = vec![T::zero(); p];
            self.loss_grad(params, &mut scratch);
            self.counters.gradients -= 1;
        }
        self.ensure_inputs_t();
        let first_len = self.first_len();
        let width = self.layout.first().map_or(0, |l| l.fan_out);
        let mut partials = self.take_partials(chunks.len(), p - first_len);
        // x·V₁ᵀ, then the R-signal of the first layer; without the cache also x·W₁ᵀ.
        let mut first = std::mem::take(&mut self.first_rows);
        first.resize(n * width, T::zero());
        self.first_layer_forward(self.train.x.view(), v, &mut first);
        let use_cache = self
            .cache
            .as_ref()
            .is_some_and(|c| c.params.as_slice() == params && c.chunks.len() == chunks.len());
        let mut first_b = std::mem::take(&mut self.first_rows_b);
        if !use_cache {
            first_b.resize(n * width, T::zero());
            self.first_layer_forward(self.train.x.view(), params, &mut first_b);
        }
        {
            let this = &*self;
            let cache = this.cache.as_ref().filter(|_| use_cache);
            let mut rows_b = if use_cache {
                Vec::new()
            } else {
                split_rows(&mut first_b, &chunks, width)
            };
            rows_b.resize_with(chunks.len(), Default::default);
            let mut slots: Vec<_> = partials
                .iter_mut()
                .zip(split_rows(&mut first, &chunks, width))
                .zip(rows_b)
                .collect();
            run_chunks(chunks.len(), this.threads, &mut slots, |i, slot| {
                let Some(((acc, first), first_b)) = slot else {
                    return;
                };
                match cache {
                    Some(c) => this.chunk_hvp(params, v, &c.chunks[i], acc, first),
                    None => {
                        let r = chunks[i].clone();
                        let (_, _, cc) = this.chunk_pass(
                            params,
                            first_b,
                            this.train.y.slice(s![r, ..]),
                            None,
                            n,
                            true,
                            None,
                        );
                        if let Some(cc) = cc {
                            this.chunk_hvp(params, v, &cc, acc, first);
                        }
                    }
                }
            });
        }
        self.first_rows_b = first_b;
        sum_in_chunk_order(&partials, &mut out[first_len..], self.threads);
        let d = ArrayView2::from_shape((n, width), &first[..]).expect("n × width₁ rows");
        self.first_layer_products(d, &mut out[..first_len]);
        self.partials = partials;
        self.first_rows = first;
        self.counters.hvps += 1;
    }

    /// Drop cached activations (e.g. after the training set or parameters changed elsewhere).
    pub fn invalidate_cache(&mut self) {
        self.cache = None;
    }
}

/// Convenience: a `Batch` from f64 arrays.
pub fn batch_from_f64<T: Float>(
    x: &Array2<f64>,
    y: &Array2<f64>,
    labels: Option<&[u8]>,
) -> Batch<T> {
    Batch {
        x: x.mapv(T::of),
        y: y.mapv(T::of),
        labels: labels.map(|l| l.to_vec()),
    }
}

/// Column vector helper for tests and tools.
pub fn to_f64_vec<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.f64()).collect()
}
