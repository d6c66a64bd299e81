//! The cost of one warm-started per-step λ1 probe of the measured-theory tracker, the f64 way
//! (every probe before f32 probes) and the f32 way (today's default), for `eos-explorer
//! bench`.

use std::time::Instant;

use super::eigen::{top_eigen, top_eigen_with};
use super::options::TheoryOptions;
use super::probe::evaluator_in;
use crate::engine::bench::{BenchLine, median};
use crate::engine::eigen::{EigenSolver, WarmStarts};
use crate::engine::network::Evaluator;

/// Times the tracker's per-step λ1 probe along `steps` GD steps at learning rate `lr` from
/// `params`, each probe warm-started as the tracker of its day did: in f64 by Lanczos at
/// `probe_tol` (1e-6, on an f64 copy of `ev` with `chunk_rows` rows per chunk, as the
/// session's `evaluator_f64` makes it; warm from the previous step's Ritz vector: every probe
/// before 2026-12-05), in f32 with the tracker's own solver at `probe_tol_f32` (1e-4, on `ev`
/// itself; warm from the nearer of the last two probes, extrapolated along its drift,
/// [`WarmStarts::start`]: today's default), and in f32 by the block solver the same way (for
/// comparison). Each timing includes the forward/backward pass that fills the HVP cache at the
/// new parameters, as in the tracker. `gflop_per_hvp` fills the GFLOP columns (NaN: unknown);
/// the GEMM ratio is left NaN. `params` is not changed (the steps run on a copy).
pub fn theory_probe_cost(
    ev: &Evaluator<f32>,
    params: &[f32],
    chunk_rows: usize,
    lr: f64,
    steps: usize,
    gflop_per_hvp: f64,
    mut progress: impl FnMut(&str),
) -> Vec<BenchLine> {
    let opts = TheoryOptions::default();
    let mut ev32 = ev.clone();
    let mut ev64: Evaluator<f64> = evaluator_in(ev, chunk_rows);
    let mut theta: Vec<f32> = params.to_vec();
    let mut grad = vec![0.0f32; theta.len()];
    let as_f64 = |t: &[f32]| t.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let max_iter = opts.probe_max_iter;
    // Warm vectors at the starting point: a cold f64 probe (untimed).
    let cold = top_eigen(
        &mut ev64,
        &as_f64(&theta),
        1,
        opts.probe_tol,
        max_iter,
        1,
        &[],
        false,
    );
    let cold = match cold {
        Ok(c) => c,
        Err(e) => {
            return vec![BenchLine {
                name: "theory λ1 probe".into(),
                median_s: f64::NAN,
                gflop: f64::NAN,
                gflops: f64::NAN,
                ratio_to_gemm: f64::NAN,
                note: format!("failed: {e}"),
            }];
        }
    };
    // (name, tolerance, f64?, solver) and per-variant warm vectors, seconds, HVPs.
    let variants: [(&str, f64, bool, EigenSolver); 3] = [
        (
            "theory λ1 probe, f64 Lanczos (old)",
            opts.probe_tol,
            true,
            EigenSolver::Lanczos,
        ),
        (
            "theory λ1 probe, f32 (new)",
            opts.probe_tol_f32,
            false,
            opts.probe_solver,
        ),
        (
            "theory λ1 probe, f32 block solver",
            opts.probe_tol_f32,
            false,
            EigenSolver::Block,
        ),
    ];
    // The old probes started from the previous step's Ritz vectors; today's from the nearer
    // of the last two probes, extrapolated along its drift (as the tracker does).
    let mut warm: Vec<WarmStarts> = vec![WarmStarts::default(); variants.len()];
    let p0 = as_f64(&theta);
    for w in &mut warm {
        w.push(&p0, cold.ritz.clone());
    }
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut hvps: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut max_diff = vec![0.0f64; variants.len()];
    let mut failures = vec![0usize; variants.len()];
    let mut last_l1 = f64::NAN;
    for step in 0..steps.max(1) {
        ev32.loss_grad(&theta, &mut grad);
        for (w, g) in theta.iter_mut().zip(&grad) {
            *w -= lr as f32 * *g;
        }
        let p64 = as_f64(&theta);
        let mut l1 = vec![f64::NAN; variants.len()];
        for (i, &(_, tol, in_f64, solver)) in variants.iter().enumerate() {
            let seed = opts.seed ^ step as u64;
            let start = Instant::now();
            let w = if in_f64 {
                std::borrow::Cow::Borrowed(warm[i].latest())
            } else {
                warm[i].start(&p64)
            };
            let r = if in_f64 {
                top_eigen_with(solver, &mut ev64, &p64, 1, tol, max_iter, seed, &w, false)
            } else {
                top_eigen_with(solver, &mut ev32, &p64, 1, tol, max_iter, seed, &w, false)
            };
            let t = start.elapsed().as_secs_f64();
            match r {
                Ok(e) => {
                    secs[i].push(t);
                    hvps[i].push(e.matvecs as f64);
                    l1[i] = e.eigenvalues[0];
                    warm[i].push(&p64, e.ritz);
                }
                Err(_) => failures[i] += 1,
            }
        }
        for i in 1..variants.len() {
            max_diff[i] = max_diff[i].max((l1[i] - l1[0]).abs());
        }
        last_l1 = l1[0];
        progress(&format!(
            "theory probe step {}: λ1 f64 {:.6}, f32 {:.6}, f32 block {:.6} ({:.0}, {:.0}, {:.0} HVPs)",
            step + 1,
            l1[0],
            l1[1],
            l1[2],
            hvps[0].last().copied().unwrap_or(f64::NAN),
            hvps[1].last().copied().unwrap_or(f64::NAN),
            hvps[2].last().copied().unwrap_or(f64::NAN),
        ));
    }
    variants
        .iter()
        .enumerate()
        .map(|(i, &(name, tol, _, _))| {
            let s = median(&mut secs[i].clone());
            let h = median(&mut hvps[i].clone());
            let hmax = hvps[i].iter().copied().fold(0.0, f64::max);
            let gflop = h * gflop_per_hvp;
            let mut note = format!(
                "tol {tol:.0e}; HVPs median {h} mean {:.1} max {hmax} over {} GD steps at η={lr}",
                hvps[i].iter().sum::<f64>() / hvps[i].len().max(1) as f64,
                secs[i].len()
            );
            if i == 0 {
                note += &format!("; last λ1 {last_l1:.4}");
            } else {
                note += &format!("; max |λ1 − λ1(f64)| {:.1e}", max_diff[i]);
            }
            if failures[i] > 0 {
                note += &format!("; {} failed", failures[i]);
            }
            BenchLine {
                name: name.into(),
                median_s: s,
                gflop,
                gflops: gflop / s,
                ratio_to_gemm: f64::NAN,
                note,
            }
        })
        .collect()
}
