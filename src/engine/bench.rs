//! Benchmarks at the CIFAR-5k fc-tanh shape (5,000 × 3,072 inputs, 3072-200-200-10, 656,810
//! parameters): a GD step, an HVP, a cold 20-step Lanczos estimate and warm-started estimates
//! along a trajectory.
//!
//! The machine's throughput drifts (about 2× over minutes here), so every figure is also given
//! as a ratio to a plain GEMM of the dominant shape (5000×3072 by 3072×200) timed in the same
//! process with the same threads (the batch split across them as the engine does), measured
//! back to back with each operation: ratio = (op FLOP rate) / (GEMM FLOP rate).

use std::time::Instant;

use ndarray::Array2;

use super::data::{Dataset, DatasetSpec};
use super::eigen::{EigenSolver, WarmStarts, top_eigen};
use super::lanczos::{LanczosOptions, LanczosResult, lanczos};
use super::model::{Activation, Init, MlpSpec};
use super::network::{Batch, Evaluator, LossKind, batch_from_f64};
use super::{Float, Rng};

/// Options of a benchmark run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub cifar_dir: Option<std::path::PathBuf>,
    pub n: usize,
    pub hidden: Vec<usize>,
    pub reps: usize,
    pub threads: usize,
    pub chunk_rows: usize,
    /// Untimed GD steps at `lr` from initialisation before the measurements along a
    /// trajectory (warm estimates, theory probes, sharpness at every step) start: 0 = from
    /// initialisation, 1075 = cohen-fig1's first crossing of 2/η at η = 0.02, 1200 = well into
    /// its edge of stability, where GD oscillates along the top eigenvector.
    pub start_step: usize,
    /// GD steps along which warm-started estimates are counted.
    pub trajectory_steps: usize,
    pub lr: f64,
    /// Eigenvalues asked of each estimate along the trajectory.
    pub neigs: usize,
    /// GD steps of the sharpness-every-step measurement (0 = skip it).
    pub every_step_steps: usize,
    /// GD steps along which the measured-theory tracker's λ1 probe is timed (0 = skip it).
    pub theory_probe_steps: usize,
    /// Also compare every estimate of that measurement with a float64 reference to 1e-8
    /// (warm-started Lanczos on exact f64 HVPs: ~4× an f32 product, many of them).
    pub error_study: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            cifar_dir: None,
            n: 5000,
            hidden: vec![200, 200],
            reps: 5,
            threads: 0,
            chunk_rows: 2500,
            start_step: 0,
            trajectory_steps: 10,
            lr: 0.02,
            neigs: 1,
            every_step_steps: 20,
            theory_probe_steps: 10,
            error_study: false,
        }
    }
}

/// One timed operation.
#[derive(Clone, Debug)]
pub struct BenchLine {
    pub name: String,
    pub median_s: f64,
    pub gflop: f64,
    pub gflops: f64,
    /// (op FLOP rate) / (GEMM FLOP rate), median over back-to-back pairs.
    pub ratio_to_gemm: f64,
    pub note: String,
}

#[derive(Clone, Debug)]
pub struct BenchReport {
    pub data: String,
    pub threads: usize,
    pub params: usize,
    /// The reference GEMM's rate: the engine's own product for the first layer's shape where
    /// it has one (f32 on AVX-512), else the `gemm` crate's.
    pub gemm_gflops: f64,
    /// The `gemm` crate's rate on the same product, timed alongside.
    pub general_gemm_gflops: f64,
    pub lines: Vec<BenchLine>,
}

impl BenchReport {
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "data: {}; {} parameters; {} threads; reference GEMM (5000x3072)·(3072x200) median {:.1} GFLOP/s ({}; the gemm crate alongside: {:.1})\n",
            self.data,
            self.params,
            self.threads,
            self.gemm_gflops,
            if crate::engine::sgemm::available() {
                "the engine's AVX-512 kernel"
            } else {
                "the gemm crate"
            },
            self.general_gemm_gflops
        );
        s.push_str(&format!(
            "{:<36} {:>10} {:>8} {:>9} {:>12}  {}\n",
            "operation", "median s", "GFLOP", "GFLOP/s", "vs GEMM rate", "note"
        ));
        for l in &self.lines {
            s.push_str(&format!(
                "{:<36} {:>10.4} {:>8.2} {:>9.1} {:>11.0}%  {}\n",
                l.name,
                l.median_s,
                l.gflop,
                l.gflops,
                l.ratio_to_gemm * 100.0,
                l.note
            ));
        }
        s
    }
}

/// Median (sorts `v`; NaN when empty).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// FLOPs of one full-batch gradient (forward + backward).
pub fn gd_flops(spec: &MlpSpec, n: usize) -> f64 {
    let l = spec.layout();
    let all: f64 = l.iter().map(|x| (x.fan_in * x.fan_out) as f64).sum();
    let deep: f64 = l
        .iter()
        .skip(1)
        .map(|x| (x.fan_in * x.fan_out) as f64)
        .sum();
    2.0 * n as f64 * (2.0 * all + deep)
}

/// FLOPs of one cached R-operator HVP.
pub fn hvp_flops(spec: &MlpSpec, n: usize) -> f64 {
    let l = spec.layout();
    let all: f64 = l.iter().map(|x| (x.fan_in * x.fan_out) as f64).sum();
    let deep: f64 = l
        .iter()
        .skip(1)
        .map(|x| (x.fan_in * x.fan_out) as f64)
        .sum();
    2.0 * n as f64 * (2.0 * all + 4.0 * deep)
}

/// The reference GEMM: X (n×d) · Wᵀ (d×h), rows split across `threads` like the engine,
/// through the engine's own product for the first layer (`general`: the `gemm` crate's).
struct Gemm {
    x: Array2<f32>,
    w: Array2<f32>,
    threads: usize,
}

impl Gemm {
    fn flops(&self) -> f64 {
        2.0 * self.x.nrows() as f64 * self.x.ncols() as f64 * self.w.nrows() as f64
    }
    fn time(&self, general: bool) -> f64 {
        let n = self.x.nrows();
        let t = self.threads.max(1);
        let start = Instant::now();
        std::thread::scope(|s| {
            for i in 0..t {
                let lo = n * i / t;
                let hi = n * (i + 1) / t;
                let x = self.x.slice(ndarray::s![lo..hi, ..]);
                let w = &self.w;
                s.spawn(move || {
                    let mut c = Array2::<f32>::zeros((hi - lo, w.nrows()));
                    // The product the engine's first layer runs (network.rs), so the ratio
                    // compares like with like.
                    if general || !f32::matmul_own_kernel(x, w.t(), false, &mut c.view_mut()) {
                        super::network::matmul(1.0, x, w.t(), 0.0, &mut c.view_mut());
                    }
                    std::hint::black_box(&c);
                });
            }
        });
        start.elapsed().as_secs_f64()
    }
}

/// Run the benchmark; `progress` receives one line per finished measurement.
pub fn run(
    opts: &BenchOptions,
    mut progress: impl FnMut(&str),
) -> Result<BenchReport, super::error::EngineError> {
    let data: Dataset = match &opts.cifar_dir {
        Some(dir) => {
            let stats = dir.join("train50k_feature_mean_std.f64le");
            DatasetSpec::Cifar10 {
                dir: dir.clone(),
                n_train: opts.n,
                n_test: 0,
                stats_file: stats.exists().then_some(stats),
                classes: None,
            }
            .load()?
        }
        None => DatasetSpec::Teacher {
            n_train: opts.n,
            n_test: 0,
            dim: 3072,
            num_classes: 10,
            seed: 0,
        }
        .load()?,
    };
    let threads = if opts.threads == 0 {
        super::config::default_threads()
    } else {
        opts.threads
    };
    let train = &data.train;
    let spec = MlpSpec {
        input_dim: train.dim(),
        hidden: opts.hidden.clone(),
        output_dim: train.targets.num_outputs(),
        activation: Activation::Tanh,
        bias: true,
    };
    let batch: Batch<f32> = batch_from_f64(
        &train.x,
        &train.targets.mse_targets(),
        train.targets.labels(),
    );
    let gemm = Gemm {
        x: batch.x.clone(),
        w: Array2::from_shape_fn(
            (opts.hidden.first().copied().unwrap_or(200), train.dim()),
            |(i, j)| ((i * 31 + j * 17) % 97) as f32 * 1e-3,
        ),
        threads,
    };
    let mut ev = Evaluator::new(spec.clone(), LossKind::Mse, batch, threads, opts.chunk_rows);
    let mut rng = Rng::stream(0, "init");
    let mut params: Vec<f32> = spec
        .init_params(Init::Pytorch, 1.0, &mut rng)
        .into_iter()
        .map(|x| x as f32)
        .collect();
    let p = params.len();
    let mut grad = vec![0.0f32; p];
    let n = train.len();
    let gflop_gd = gd_flops(&spec, n) * 1e-9;
    let gflop_hvp = hvp_flops(&spec, n) * 1e-9;
    let gflop_gemm = gemm.flops() * 1e-9;
    let reps = opts.reps.max(1);

    // Warm-up (page faults, thread start, caches).
    gemm.time(false);
    gemm.time(true);
    ev.loss_grad(&params, &mut grad);

    let mut lines = Vec::new();
    let mut gemm_rates = Vec::new();
    let mut general_rates = Vec::new();
    // GD step and HVP, each paired with a GEMM right before it.
    let mut gd_t = Vec::new();
    let mut gd_ratio = Vec::new();
    let mut hvp_t = Vec::new();
    let mut hvp_ratio = Vec::new();
    let v: Vec<f32> = (0..p).map(|_| rng.normal() as f32).collect();
    let mut hv = vec![0.0f32; p];
    for _ in 0..reps {
        general_rates.push(gflop_gemm / gemm.time(true));
        let g1 = gemm.time(false);
        let start = Instant::now();
        ev.loss_grad(&params, &mut grad);
        for (w, g) in params.iter_mut().zip(&grad) {
            *w -= 1e-3 * *g;
        }
        let t = start.elapsed().as_secs_f64();
        gd_t.push(t);
        gd_ratio.push((gflop_gd / t) / (gflop_gemm / g1));
        ev.loss_grad(&params, &mut grad); // fill the cache at these parameters (untimed)
        ev.hvp(&params, &v, &mut hv); // and σ'' (computed once per cache, untimed)
        let g2 = gemm.time(false);
        let start = Instant::now();
        ev.hvp(&params, &v, &mut hv);
        let t = start.elapsed().as_secs_f64();
        hvp_t.push(t);
        hvp_ratio.push((gflop_hvp / t) / (gflop_gemm / g2));
        gemm_rates.push(gflop_gemm / g1);
        gemm_rates.push(gflop_gemm / g2);
    }
    let gemm_gflops = median(&mut gemm_rates.clone());
    let general_gemm_gflops = median(&mut general_rates);
    let m = median(&mut gd_t);
    lines.push(BenchLine {
        name: "GD step (loss + gradient + update)".into(),
        median_s: m,
        gflop: gflop_gd,
        gflops: gflop_gd / m,
        ratio_to_gemm: median(&mut gd_ratio),
        note: String::new(),
    });
    progress(&format!("GD step: median {m:.4} s"));
    let m = median(&mut hvp_t);
    lines.push(BenchLine {
        name: "HVP (cached R-operator)".into(),
        median_s: m,
        gflop: gflop_hvp,
        gflops: gflop_hvp / m,
        ratio_to_gemm: median(&mut hvp_ratio),
        note: String::new(),
    });
    progress(&format!("HVP: median {m:.4} s"));

    // Uncached HVP (forward-over-reverse recomputing the passes).
    {
        ev.set_cache_enabled(false);
        let g = gemm.time(false);
        let start = Instant::now();
        ev.hvp(&params, &v, &mut hv);
        let t = start.elapsed().as_secs_f64();
        let fl = gflop_gd - 2.0 * n as f64 * 1e-9 * 0.0 + gflop_hvp;
        lines.push(BenchLine {
            name: "HVP without cache (recomputes passes)".into(),
            median_s: t,
            gflop: fl,
            gflops: fl / t,
            ratio_to_gemm: (fl / t) / (gflop_gemm / g),
            note: "1 sample".into(),
        });
        ev.set_cache_enabled(true);
        ev.loss_grad(&params, &mut grad);
    }

    // Cold 20-step Lanczos.
    let hvp_op = |params: &Vec<f32>, ev: &mut Evaluator<f32>, x: &[f64], out: &mut [f64]| {
        let vt: Vec<f32> = x.iter().map(|&a| a as f32).collect();
        let mut ot = vec![0.0f32; vt.len()];
        ev.hvp(params, &vt, &mut ot);
        for (o, a) in out.iter_mut().zip(&ot) {
            *o = *a as f64;
        }
    };
    let cold_opts = LanczosOptions {
        k: 1,
        max_iter: 20,
        min_iter: 20,
        tol: 0.0,
        seed: 1,
    };
    let g = gemm.time(false);
    let start = Instant::now();
    let cold = lanczos(p, |x, o| hvp_op(&params, &mut ev, x, o), &cold_opts, &[]);
    let t = start.elapsed().as_secs_f64();
    lines.push(BenchLine {
        name: "Lanczos, cold, 20 steps".into(),
        median_s: t,
        gflop: 20.0 * gflop_hvp,
        gflops: 20.0 * gflop_hvp / t,
        ratio_to_gemm: (20.0 * gflop_hvp / t) / (gflop_gemm / g),
        note: format!(
            "λ1 = {:.4}, residual {:.2e}",
            cold.eigenvalues[0], cold.residuals[0]
        ),
    });
    progress(&format!(
        "cold Lanczos: {t:.3} s, λ1 = {:.4}",
        cold.eigenvalues[0]
    ));

    // The trajectories start `start_step` GD steps from initialisation.
    let lr = opts.lr as f32;
    let started = Instant::now();
    for step in 0..opts.start_step {
        let stats = ev.loss_grad(&params, &mut grad);
        for (w, g) in params.iter_mut().zip(&grad) {
            *w -= lr * *g;
        }
        if (step + 1) % 100 == 0 || step + 1 == opts.start_step {
            progress(&format!(
                "GD step {} of {} before the trajectories (loss {:.4}, {:.0} s)",
                step + 1,
                opts.start_step,
                stats.loss,
                started.elapsed().as_secs_f64()
            ));
        }
    }

    // Cold and warm estimates to 1e-3 along a GD trajectory.
    let tol_opts = LanczosOptions {
        k: 1,
        max_iter: 80,
        min_iter: 1,
        tol: 1e-3,
        seed: 2,
    };
    ev.loss_grad(&params, &mut grad);
    let start = Instant::now();
    let cold_tol = lanczos(p, |x, o| hvp_op(&params, &mut ev, x, o), &tol_opts, &[]);
    let cold_tol_s = start.elapsed().as_secs_f64();
    let mut warm_vecs = cold_tol.warm_vectors.clone();
    let mut counts = Vec::new();
    let mut times = Vec::new();
    let mut max_rel_err: f64 = 0.0;
    for _ in 0..opts.trajectory_steps {
        ev.loss_grad(&params, &mut grad);
        for (w, g) in params.iter_mut().zip(&grad) {
            *w -= lr * *g;
        }
        ev.loss_grad(&params, &mut grad);
        let start = Instant::now();
        let warm = lanczos(
            p,
            |x, o| hvp_op(&params, &mut ev, x, o),
            &tol_opts,
            &warm_vecs,
        );
        times.push(start.elapsed().as_secs_f64());
        counts.push(warm.matvecs as f64);
        // Check against a tight cold estimate (untimed).
        let tight = lanczos(
            p,
            |x, o| hvp_op(&params, &mut ev, x, o),
            &LanczosOptions {
                k: 1,
                max_iter: 80,
                min_iter: 1,
                tol: 1e-6,
                seed: 3,
            },
            &[],
        );
        max_rel_err = max_rel_err
            .max((warm.eigenvalues[0] - tight.eigenvalues[0]).abs() / tight.eigenvalues[0].abs());
        warm_vecs = warm.warm_vectors;
    }
    let med_hvps = median(&mut counts.clone());
    let max_hvps = counts.iter().copied().fold(0.0, f64::max);
    let mt = median(&mut times);
    lines.push(BenchLine {
        name: "Lanczos to 1e-3, cold".into(),
        median_s: cold_tol_s,
        gflop: cold_tol.matvecs as f64 * gflop_hvp,
        gflops: cold_tol.matvecs as f64 * gflop_hvp / cold_tol_s,
        ratio_to_gemm: f64::NAN,
        note: format!(
            "{} HVPs, 1 sample, λ1 = {:.4} at step {}",
            cold_tol.matvecs, cold_tol.eigenvalues[0], opts.start_step
        ),
    });
    if !counts.is_empty() {
        lines.push(BenchLine {
            name: "Lanczos to 1e-3, warm (trajectory)".into(),
            median_s: mt,
            gflop: med_hvps * gflop_hvp,
            gflops: med_hvps * gflop_hvp / mt,
            ratio_to_gemm: f64::NAN,
            note: format!(
                "HVPs median {med_hvps} max {max_hvps} over {} GD steps at η={:.4}; max rel. error vs 1e-6 estimate {max_rel_err:.1e}",
                opts.trajectory_steps, opts.lr
            ),
        });
    }
    if opts.theory_probe_steps > 0 {
        lines.extend(crate::engine::theory::measured::theory_probe_cost(
            &ev,
            &params,
            opts.chunk_rows,
            opts.lr,
            opts.theory_probe_steps,
            gflop_hvp,
            &mut progress,
        ));
    }
    if opts.every_step_steps > 0 {
        let f64_batch = opts.error_study.then(|| {
            batch_from_f64::<f64>(
                &train.x,
                &train.targets.mse_targets(),
                train.targets.labels(),
            )
        });
        let mut reference = f64_batch
            .map(|b| Evaluator::new(spec.clone(), LossKind::Mse, b, threads, opts.chunk_rows));
        lines.extend(every_step(
            opts,
            &mut ev,
            &mut params,
            reference.as_mut(),
            &mut progress,
        ));
    }
    Ok(BenchReport {
        data: data.name.clone(),
        threads,
        params: p,
        gemm_gflops,
        general_gemm_gflops,
        lines,
    })
}

/// One solver's estimates along the trajectory of [`every_step`].
#[derive(Default)]
struct SolverTrace {
    warm: WarmStarts,
    seconds: Vec<f64>,
    hvps: Vec<f64>,
    /// Time inside the products (the rest is the solver's own vector work).
    hvp_seconds: f64,
    /// Per estimate, the seconds outside the products.
    outside: Vec<f64>,
    /// Worst |θ_i − λ_i| / λ_i over the steps and the top k, and the worst error relative to
    /// the solve's own bound for it.
    worst_rel_err: f64,
    worst_err_over_bound: f64,
    /// Worst certified bound (error bound / |θ|) over the steps and the top k.
    worst_bound_rel: f64,
    over_tol: usize,
    unconverged: usize,
}

/// Sharpness at every GD step: each solver warm-started from its own previous estimate along
/// the same trajectory (GD at `opts.lr` from the current parameters), timed against the GD
/// step of that trajectory; with a float64 `reference` evaluator, every estimate is also
/// compared with a reference solve to 1e-8.
fn every_step(
    opts: &BenchOptions,
    ev: &mut Evaluator<f32>,
    params: &mut [f32],
    mut reference: Option<&mut Evaluator<f64>>,
    progress: &mut impl FnMut(&str),
) -> Vec<BenchLine> {
    let p = params.len();
    let k = opts.neigs.max(1);
    let tol = 1e-3;
    let mut grad = vec![0.0f32; p];
    let mut traces: Vec<(EigenSolver, SolverTrace)> = EigenSolver::ALL
        .into_iter()
        .map(|s| (s, SolverTrace::default()))
        .collect();
    let mut ref_warm: Vec<Vec<f64>> = Vec::new();
    let mut gd_times = Vec::new();
    let lr = opts.lr as f32;
    for step in 0..opts.every_step_steps {
        let start = Instant::now();
        ev.loss_grad(params, &mut grad);
        let grad_s = start.elapsed().as_secs_f64();
        let p64: Vec<f64> = params.iter().map(|&x| x as f64).collect();
        let reference_eigs: Option<LanczosResult> = reference.as_deref_mut().map(|rev| {
            let mut g64 = vec![0.0; p];
            rev.loss_grad(&p64, &mut g64);
            let r = lanczos(
                p,
                |x, o| rev.hvp(&p64, x, o),
                &LanczosOptions {
                    k: k + 1,
                    max_iter: 300,
                    min_iter: 1,
                    tol: 1e-8,
                    seed: 100 + step as u64,
                },
                &ref_warm,
            );
            ref_warm = r.warm_vectors.clone();
            r
        });
        for (solver, trace) in traces.iter_mut() {
            let mut vt = vec![0.0f32; p];
            let mut ot = vec![0.0f32; p];
            let started = Instant::now();
            let mut in_hvp = 0.0;
            let r = top_eigen(
                *solver,
                p,
                |x, o| {
                    let t0 = Instant::now();
                    for (a, b) in vt.iter_mut().zip(x) {
                        *a = *b as f32;
                    }
                    ev.hvp(params, &vt, &mut ot);
                    in_hvp += t0.elapsed().as_secs_f64();
                    for (a, b) in o.iter_mut().zip(&ot) {
                        *a = *b as f64;
                    }
                },
                &LanczosOptions {
                    k,
                    max_iter: 80,
                    min_iter: 1,
                    tol,
                    seed: step as u64,
                },
                &trace.warm.start(&p64),
            );
            trace.seconds.push(started.elapsed().as_secs_f64());
            trace.hvp_seconds += in_hvp;
            trace
                .outside
                .push(trace.seconds.last().copied().unwrap_or(0.0) - in_hvp);
            trace.hvps.push(r.matvecs as f64);
            if !r.converged {
                trace.unconverged += 1;
            }
            for (b, t) in r.error_bounds.iter().zip(&r.eigenvalues) {
                trace.worst_bound_rel = trace.worst_bound_rel.max(b / t.abs());
            }
            if let Some(truth) = &reference_eigs {
                for i in 0..k.min(r.eigenvalues.len()) {
                    let err = (r.eigenvalues[i] - truth.eigenvalues[i]).abs();
                    let rel = err / truth.eigenvalues[i].abs();
                    trace.worst_rel_err = trace.worst_rel_err.max(rel);
                    trace.worst_err_over_bound =
                        trace.worst_err_over_bound.max(err / r.error_bounds[i]);
                    if rel > tol {
                        trace.over_tol += 1;
                    }
                }
            }
            trace.warm.push(&p64, r.warm_vectors);
        }
        let start = Instant::now();
        for (w, g) in params.iter_mut().zip(&grad) {
            *w -= lr * *g;
        }
        gd_times.push(grad_s + start.elapsed().as_secs_f64());
    }
    let gd_mean = gd_times.iter().sum::<f64>() / gd_times.len().max(1) as f64;
    let gd = median(&mut gd_times);
    progress(&format!(
        "sharpness every step: {} GD steps at η = {}, GD step median {gd:.4} s",
        opts.every_step_steps, opts.lr
    ));
    traces
        .into_iter()
        .map(|(solver, mut t)| {
            let secs = median(&mut t.seconds);
            let hv = median(&mut t.hvps.clone());
            let max_hv = t.hvps.iter().copied().fold(0.0, f64::max);
            let total: f64 = t.seconds.iter().sum();
            // Means over the warm estimates (the first one starts cold).
            let warm_n = t.seconds.len().saturating_sub(1).max(1) as f64;
            let secs_mean = t.seconds.iter().skip(1).sum::<f64>() / warm_n;
            let hv_mean = t.hvps.iter().skip(1).sum::<f64>() / warm_n;
            let mut note = format!(
                "{:.2} GD steps per estimate (median; mean of the warm ones {:.2}, GD step {gd:.4} s); HVPs median {hv} (mean {hv_mean:.2}, max {max_hv}); {:.0}% of the time in HVPs, median {:.0} ms outside them; certified relative error ≤ {:.1e}",
                secs / gd,
                secs_mean / gd_mean,
                100.0 * t.hvp_seconds / total,
                1e3 * median(&mut t.outside),
                t.worst_bound_rel
            );
            if t.unconverged > 0 {
                note.push_str(&format!("; {} not converged", t.unconverged));
            }
            if reference.is_some() {
                note.push_str(&format!(
                    "; worst rel. error vs f64 1e-8 reference {:.1e} (error/bound ≤ {:.1e}; {} values over 1e-3)",
                    t.worst_rel_err, t.worst_err_over_bound, t.over_tol
                ));
            }
            progress(&format!("  {}: {note}", solver.name()));
            BenchLine {
                name: format!(
                    "{} every step, {} warm, to 1e-3",
                    if k == 1 { "λ1".to_string() } else { format!("λ1..λ{k}") },
                    solver.name()
                ),
                median_s: secs,
                gflop: f64::NAN,
                gflops: f64::NAN,
                ratio_to_gemm: f64::NAN,
                note,
            }
        })
        .collect()
}
