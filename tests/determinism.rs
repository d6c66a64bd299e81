//! Full-batch results do not depend on the thread count: the batch is cut into chunks that
//! depend only on its size and `chunk_rows`, and the chunk partials are summed in chunk order.
//! So the app and the CLI give the same trajectory for the same config, bit for bit.

use eos_explorer::engine::Rng;
use eos_explorer::engine::config::RunConfig;
use eos_explorer::engine::model::{Activation, Init, MlpSpec};
use eos_explorer::engine::network::{Batch, Evaluator, LossKind, chunk_ranges};
use eos_explorer::engine::presets::{self, PresetKind};
use eos_explorer::engine::session::{CsvObserver, Session, StepRecord};
use eos_explorer::engine::{Float, Precision};
use ndarray::Array2;

/// A problem big enough for many chunks: 700 samples, 12-32-16-5, cross-entropy or MSE.
fn problem<T: Float>(loss: LossKind, threads: usize) -> (Evaluator<T>, Vec<T>, Batch<T>) {
    problem_of_shape(loss, threads, 700, 12, 32)
}

/// `n` samples of `d` features, `d`-`width`-16-5.
fn problem_of_shape<T: Float>(
    loss: LossKind,
    threads: usize,
    n: usize,
    d: usize,
    width: usize,
) -> (Evaluator<T>, Vec<T>, Batch<T>) {
    let c = 5;
    let mut rng = Rng::seed_from_u64(42);
    let mut make = |n: usize| {
        // Values exact in f32, so both precisions see the same inputs.
        let x = Array2::from_shape_fn((n, d), |_| T::of(rng.normal() as f32 as f64));
        let labels: Vec<u8> = (0..n).map(|_| rng.below(c) as u8).collect();
        let mut y = Array2::from_elem((n, c), T::zero());
        for (i, &l) in labels.iter().enumerate() {
            y[(i, l as usize)] = T::one();
        }
        Batch {
            x,
            y,
            labels: Some(labels),
        }
    };
    let train = make(n);
    let test = make(333);
    let spec = MlpSpec {
        input_dim: d,
        hidden: vec![width, 16],
        output_dim: c,
        activation: Activation::Tanh,
        bias: true,
    };
    let params = spec
        .init_params(Init::Pytorch, 1.0, &mut Rng::seed_from_u64(7))
        .into_iter()
        .map(T::of)
        .collect();
    (Evaluator::new(spec, loss, train, threads, 50), params, test)
}

fn bits<T: Float>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.f64().to_bits()).collect()
}

/// Loss, accuracy, gradient, test loss and two HVPs (cached and uncached), as bit patterns.
fn fingerprint<T: Float>(loss: LossKind, threads: usize) -> Vec<u64> {
    fingerprint_of(problem::<T>(loss, threads))
}

fn fingerprint_of<T: Float>((mut ev, params, test): (Evaluator<T>, Vec<T>, Batch<T>)) -> Vec<u64> {
    let p = params.len();
    let mut out = Vec::new();
    let mut g = vec![T::zero(); p];
    let s = ev.loss_grad(&params, &mut g);
    out.push(s.loss.to_bits());
    out.push(s.accuracy.unwrap_or(f64::NAN).to_bits());
    out.extend(bits(&g));
    let t = ev.evaluate(&params, &test);
    out.push(t.loss.to_bits());
    let v: Vec<T> = (0..p).map(|i| T::of((i as f64 * 0.37).sin())).collect();
    let mut h = vec![T::zero(); p];
    ev.hvp(&params, &v, &mut h);
    out.extend(bits(&h));
    ev.set_cache_enabled(false);
    ev.hvp(&params, &v, &mut h);
    out.extend(bits(&h));
    out
}

#[test]
fn chunks_cover_the_batch_and_ignore_the_thread_count() {
    for n in [1, 31, 32, 100, 700, 1000, 5000, 10_007] {
        for max_rows in [1, 7, 50, 2048, 2500] {
            let c = chunk_ranges(n, max_rows);
            assert_eq!(c.first().map(|r| r.start), Some(0));
            assert_eq!(c.last().map(|r| r.end), Some(n));
            assert!(c.windows(2).all(|w| w[0].end == w[1].start));
            assert!(c.iter().all(|r| !r.is_empty() && r.len() <= max_rows));
        }
    }
    assert!(chunk_ranges(0, 10).is_empty());
    // Digits (1,000 samples) and CIFAR-5k get enough chunks for several threads.
    assert_eq!(chunk_ranges(1000, 2048).len(), 12);
    assert_eq!(chunk_ranges(5000, 2500).len(), 12);
    // A tiny batch stays in one chunk.
    assert_eq!(chunk_ranges(20, 2048).len(), 1);
}

#[test]
fn loss_gradient_and_hvp_are_bit_identical_for_1_to_5_threads() {
    for loss in [LossKind::Mse, LossKind::CrossEntropy] {
        let ref32 = fingerprint::<f32>(loss, 1);
        let ref64 = fingerprint::<f64>(loss, 1);
        for threads in [2, 3, 5] {
            assert!(
                fingerprint::<f32>(loss, threads) == ref32,
                "f32 {loss:?}: {threads} threads differ from 1"
            );
            assert!(
                fingerprint::<f64>(loss, threads) == ref64,
                "f64 {loss:?}: {threads} threads differ from 1"
            );
        }
    }
}

/// The first layer's weight product in f32 on an AVX-512 CPU goes through the engine's own
/// kernel in fixed feature ranges of 256, each summed over every sample in blocks of 768
/// (CIFAR's geometry in miniature: 300 features make two ranges, the second not a multiple of
/// the kernel's 8 rows; 1,700 samples make three blocks). Elsewhere the general path runs and
/// the same checks hold: bit-identical for any thread count, and within f32 round-off of f64.
#[test]
fn a_wide_first_layer_in_f32_is_thread_independent_and_matches_f64() {
    let (n, d, width) = (1700, 300, 40);
    let reference = fingerprint_of(problem_of_shape::<f32>(LossKind::Mse, 1, n, d, width));
    for threads in [2, 3] {
        assert!(
            fingerprint_of(problem_of_shape::<f32>(LossKind::Mse, threads, n, d, width))
                == reference,
            "{threads} threads differ from 1"
        );
    }
    let (mut ev32, p32, _) = problem_of_shape::<f32>(LossKind::Mse, 2, n, d, width);
    let (mut ev64, p64, _) = problem_of_shape::<f64>(LossKind::Mse, 2, n, d, width);
    // The same parameters and inputs in both precisions (f32 values, exact in f64).
    let p64: Vec<f64> = p64.iter().map(|&v| v as f32 as f64).collect();
    assert!(p32.iter().zip(&p64).all(|(a, b)| *a as f64 == *b));
    let rel = |a: &[f32], b: &[f64]| {
        let num: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - y).powi(2)).sum();
        let den: f64 = b.iter().map(|y| y * y).sum();
        (num / den).sqrt()
    };
    let (mut g32, mut g64) = (vec![0.0f32; p32.len()], vec![0.0f64; p64.len()]);
    ev32.loss_grad(&p32, &mut g32);
    ev64.loss_grad(&p64, &mut g64);
    let eg = rel(&g32, &g64);
    let v64: Vec<f64> = (0..p64.len()).map(|i| (i as f64 * 0.37).sin()).collect();
    let v32: Vec<f32> = v64.iter().map(|&v| v as f32).collect();
    let v64: Vec<f64> = v32.iter().map(|&v| v as f64).collect();
    let (mut h32, mut h64) = (vec![0.0f32; p32.len()], vec![0.0f64; p64.len()]);
    ev32.hvp(&p32, &v32, &mut h32);
    ev64.hvp(&p64, &v64, &mut h64);
    let eh = rel(&h32, &h64);
    eprintln!("f32 vs f64 at 1,700 × 300: gradient rel err {eg:.1e}, HVP rel err {eh:.1e}");
    assert!(eg < 1e-5 && eh < 1e-5, "gradient {eg:.1e}, HVP {eh:.1e}");
}

/// The own kernel's first-layer paths with other widths: no hidden layer (the first layer is
/// the output, 5 wide: its columns are dot products) and one hidden layer 10 wide (a masked
/// 16-lane panel). f32 against f64 on the same values, and 1 against 3 threads.
#[test]
fn narrow_first_layers_in_f32_match_f64() {
    let (n, d, c) = (900, 300, 5);
    let mut rng = Rng::seed_from_u64(5);
    let x = Array2::from_shape_fn((n, d), |_| rng.normal() as f32 as f64);
    let labels: Vec<u8> = (0..n).map(|_| rng.below(c) as u8).collect();
    let y = Array2::from_shape_fn((n, c), |(i, j)| f64::from(labels[i] as usize == j));
    for hidden in [vec![], vec![10]] {
        let spec = MlpSpec {
            input_dim: d,
            hidden: hidden.clone(),
            output_dim: c,
            activation: Activation::Tanh,
            bias: true,
        };
        let p64: Vec<f64> = spec
            .init_params(Init::Pytorch, 1.0, &mut Rng::seed_from_u64(9))
            .into_iter()
            .map(|v| v as f32 as f64)
            .collect();
        let p32: Vec<f32> = p64.iter().map(|&v| v as f32).collect();
        let v64: Vec<f64> = (0..p64.len())
            .map(|i| (i as f64 * 0.37).sin() as f32 as f64)
            .collect();
        let v32: Vec<f32> = v64.iter().map(|&v| v as f32).collect();
        let batch32 = Batch {
            x: x.mapv(|v| v as f32),
            y: y.mapv(|v| v as f32),
            labels: Some(labels.clone()),
        };
        let batch64 = Batch {
            x: x.clone(),
            y: y.clone(),
            labels: Some(labels.clone()),
        };
        let mut ev64 = Evaluator::new(spec.clone(), LossKind::Mse, batch64, 2, 100);
        let (mut g64, mut h64) = (vec![0.0; p64.len()], vec![0.0; p64.len()]);
        ev64.loss_grad(&p64, &mut g64);
        ev64.hvp(&p64, &v64, &mut h64);
        let mut reference: Option<(Vec<f32>, Vec<f32>)> = None;
        for threads in [1, 3] {
            let mut ev32 =
                Evaluator::new(spec.clone(), LossKind::Mse, batch32.clone(), threads, 100);
            let (mut g32, mut h32) = (vec![0.0f32; p32.len()], vec![0.0f32; p32.len()]);
            ev32.loss_grad(&p32, &mut g32);
            ev32.hvp(&p32, &v32, &mut h32);
            let rel = |a: &[f32], b: &[f64]| {
                let num: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - y).powi(2)).sum();
                let den: f64 = b.iter().map(|y| y * y).sum();
                (num / den).sqrt()
            };
            let (eg, eh) = (rel(&g32, &g64), rel(&h32, &h64));
            assert!(
                eg < 1e-5 && eh < 1e-5,
                "hidden {hidden:?}, {threads} threads: gradient {eg:.1e}, HVP {eh:.1e}"
            );
            match &reference {
                None => reference = Some((g32, h32)),
                Some((g, h)) => assert!(
                    *g == g32 && *h == h32,
                    "hidden {hidden:?}: 3 threads differ from 1"
                ),
            }
        }
    }
}

/// The digits demo (f32, η = 0.4) with the top two eigenvalues every fourth step: it crosses
/// 2/η near step 133, where round-off differences grow fastest.
fn digits(threads: usize, steps: usize) -> RunConfig {
    let mut c = match presets::find("digits-demo").map(|p| p.kind) {
        Some(PresetKind::Training(c)) => *c,
        other => panic!("digits-demo is a training preset, got {other:?}"),
    };
    assert_eq!(c.precision, Precision::F32);
    c.max_steps = steps;
    c.eig_every = 4;
    c.neigs = 2;
    c.threads = threads;
    c
}

/// Every record of a run, with the compute time (the one column that is not a result) zeroed.
fn records(cfg: &RunConfig) -> Vec<StepRecord> {
    let (mut s, _) = Session::from_config(cfg).expect("digits session");
    let mut recs = Vec::new();
    while let Some((mut r, stop)) = s.step() {
        r.wall_s = 0.0;
        recs.push(r);
        if stop.is_some() {
            break;
        }
    }
    recs
}

fn metrics_csv(recs: &[StepRecord], neigs: usize, tag: &str) -> Vec<u8> {
    let path =
        std::env::temp_dir().join(format!("eos-determinism-{}-{tag}.csv", std::process::id()));
    {
        let mut csv = CsvObserver::create(&path, neigs).expect("create metrics.csv");
        for r in recs {
            csv.write_record(r).expect("write a row");
        }
    }
    let bytes = std::fs::read(&path).expect("read metrics.csv back");
    let _ = std::fs::remove_file(&path);
    bytes
}

#[test]
fn digits_trajectory_and_metrics_csv_are_bit_identical_for_1_2_and_3_threads() {
    let steps = 200;
    let reference = records(&digits(1, steps));
    assert_eq!(reference.len(), steps + 1);
    let measured = reference.iter().filter(|r| r.eigs.is_some()).count();
    assert_eq!(measured, steps / 4 + 1);
    let reference_csv = metrics_csv(&reference, 2, "1");
    for threads in [2, 3] {
        let recs = records(&digits(threads, steps));
        for (a, b) in reference.iter().zip(&recs) {
            // Debug prints each f64 in its shortest exact form: equal strings, equal bits.
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "{threads} threads: step {} differs from 1 thread",
                a.step
            );
        }
        assert_eq!(recs.len(), reference.len());
        assert!(
            metrics_csv(&recs, 2, &threads.to_string()) == reference_csv,
            "metrics.csv at {threads} threads differs from 1 thread"
        );
    }
}
