//! Exactness of the engine's derivatives on tiny nets in f64: gradient vs central finite
//! differences, HVP vs finite differences of gradients, the assembled Hessian symmetric and
//! equal to a finite-difference Hessian, Lanczos top eigenvalues equal to the dense ones.

use eos_explorer::engine::Rng;
use eos_explorer::engine::lanczos::{
    LanczosOptions, asymmetry, dense_eigenvalues, dense_from_operator, lanczos,
};
use eos_explorer::engine::model::{Activation, Init, MlpSpec};
use eos_explorer::engine::network::{Batch, Evaluator, LossKind};
use ndarray::Array2;

/// `n` random inputs of dimension `d` with random labels among `c` classes (one-hot targets).
fn random_batch(n: usize, d: usize, c: usize, rng: &mut Rng) -> Batch<f64> {
    let x = Array2::from_shape_fn((n, d), |_| rng.normal());
    let labels: Vec<u8> = (0..n).map(|_| rng.below(c) as u8).collect();
    let mut y = Array2::zeros((n, c));
    for (i, &l) in labels.iter().enumerate() {
        y[(i, l as usize)] = 1.0;
    }
    Batch {
        x,
        y,
        labels: Some(labels),
    }
}

fn tiny_problem(
    act: Activation,
    loss: LossKind,
    bias: bool,
    seed: u64,
    threads: usize,
    chunk: usize,
) -> (Evaluator<f64>, Vec<f64>) {
    let (n, d, h, c) = (13, 4, 5, 3);
    let mut rng = Rng::seed_from_u64(seed);
    let batch = random_batch(n, d, c, &mut rng);
    let spec = MlpSpec {
        input_dim: d,
        hidden: vec![h, 4],
        output_dim: c,
        activation: act,
        bias,
    };
    // A larger init so the nonlinearity matters (σ'' terms are exercised).
    let params = spec.init_params(Init::Normal { sigma: 1.5 }, 1.0, &mut rng);
    let params: Vec<f64> = params.iter().map(|p| p + 0.1 * rng.normal()).collect();
    let ev = Evaluator::new(spec, loss, batch, threads, chunk);
    (ev, params)
}

fn cases() -> Vec<(Activation, LossKind, bool)> {
    let mut v = Vec::new();
    for act in Activation::ALL {
        v.push((act, LossKind::Mse, true));
    }
    v.push((Activation::Tanh, LossKind::CrossEntropy, true));
    v.push((Activation::Softplus, LossKind::CrossEntropy, false));
    v.push((Activation::Tanh, LossKind::Mse, false));
    v
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-300);
    num / den
}

#[test]
fn gradient_matches_central_differences() {
    for (k, (act, loss, bias)) in cases().into_iter().enumerate() {
        let (mut ev, p) = tiny_problem(act, loss, bias, k as u64, 1, 64);
        let mut g = vec![0.0; p.len()];
        ev.loss_grad(&p, &mut g);
        let h = 1e-6;
        let mut fd = vec![0.0; p.len()];
        for i in 0..p.len() {
            let mut pp = p.clone();
            pp[i] += h;
            let lp = ev.loss(&pp).loss;
            pp[i] -= 2.0 * h;
            let lm = ev.loss(&pp).loss;
            fd[i] = (lp - lm) / (2.0 * h);
        }
        let e = rel_err(&g, &fd);
        // ReLU is only piecewise smooth: a kink inside ±h can cost accuracy, rarely.
        let tol = if act == Activation::Relu { 1e-5 } else { 1e-7 };
        assert!(
            e < tol,
            "{act:?} {loss:?} bias={bias}: gradient rel err {e:e}"
        );
    }
}

#[test]
fn hvp_matches_finite_differences_of_gradients() {
    for (k, (act, loss, bias)) in cases().into_iter().enumerate() {
        let (mut ev, p) = tiny_problem(act, loss, bias, 100 + k as u64, 1, 64);
        let mut rng = Rng::seed_from_u64(7);
        let v: Vec<f64> = (0..p.len()).map(|_| rng.normal()).collect();
        let mut hv = vec![0.0; p.len()];
        ev.hvp(&p, &v, &mut hv);
        let h = 1e-5;
        let pp: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a + h * b).collect();
        let pm: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a - h * b).collect();
        let mut gp = vec![0.0; p.len()];
        let mut gm = vec![0.0; p.len()];
        ev.loss_grad(&pp, &mut gp);
        ev.loss_grad(&pm, &mut gm);
        let fd: Vec<f64> = gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        let e = rel_err(&hv, &fd);
        let tol = if act == Activation::Relu { 1e-4 } else { 1e-7 };
        assert!(e < tol, "{act:?} {loss:?} bias={bias}: HVP rel err {e:e}");
    }
}

#[test]
fn dense_hessian_is_symmetric_and_matches_finite_difference_hessian() {
    for (k, (act, loss, bias)) in cases().into_iter().enumerate() {
        if act == Activation::Relu {
            continue; // FD Hessian across kinks is meaningless; covered by the HVP test
        }
        let (mut ev, p) = tiny_problem(act, loss, bias, 200 + k as u64, 1, 64);
        let dim = p.len();
        let h_mat = {
            let mut apply = |v: &[f64], out: &mut [f64]| ev.hvp(&p, v, out);
            let mut raw = nalgebra::DMatrix::<f64>::zeros(dim, dim);
            let mut e = vec![0.0; dim];
            let mut out = vec![0.0; dim];
            for j in 0..dim {
                e[j] = 1.0;
                apply(&e, &mut out);
                e[j] = 0.0;
                for i in 0..dim {
                    raw[(i, j)] = out[i];
                }
            }
            raw
        };
        let asym = asymmetry(&h_mat);
        assert!(
            asym < 1e-12,
            "{act:?}: assembled Hessian asymmetry {asym:e}"
        );
        // Finite-difference Hessian from gradients.
        let step = 1e-5;
        let mut max_diff: f64 = 0.0;
        let scale = h_mat.amax();
        for j in 0..dim {
            let mut pp = p.clone();
            pp[j] += step;
            let mut gp = vec![0.0; dim];
            ev.loss_grad(&pp, &mut gp);
            pp[j] -= 2.0 * step;
            let mut gm = vec![0.0; dim];
            ev.loss_grad(&pp, &mut gm);
            for i in 0..dim {
                let fd = (gp[i] - gm[i]) / (2.0 * step);
                max_diff = max_diff.max((fd - h_mat[(i, j)]).abs());
            }
        }
        assert!(
            max_diff / scale < 1e-7,
            "{act:?} {loss:?}: FD Hessian differs by {:e} relative",
            max_diff / scale
        );
    }
}

#[test]
fn lanczos_top_eigenvalues_equal_dense_to_1e_8() {
    for (k, (act, loss, bias)) in cases().into_iter().enumerate() {
        let (mut ev, p) = tiny_problem(act, loss, bias, 300 + k as u64, 1, 64);
        let dim = p.len();
        let dense = dense_eigenvalues(&dense_from_operator(dim, |v, o| ev.hvp(&p, v, o)));
        let opts = LanczosOptions {
            k: 2,
            max_iter: dim,
            tol: 1e-12,
            ..Default::default()
        };
        let r = lanczos(dim, |v, o| ev.hvp(&p, v, o), &opts, &[]);
        for i in 0..2 {
            let rel = (r.eigenvalues[i] - dense[i]).abs() / dense[0].abs();
            assert!(
                rel < 1e-8,
                "{act:?} {loss:?}: λ{} Lanczos {} vs dense {}",
                i + 1,
                r.eigenvalues[i],
                dense[i]
            );
        }
        assert!(r.converged);
    }
}

#[test]
fn threads_and_chunks_do_not_change_the_results() {
    let (mut ev1, p) = tiny_problem(Activation::Tanh, LossKind::Mse, true, 5, 1, 64);
    let (mut ev2, _) = tiny_problem(Activation::Tanh, LossKind::Mse, true, 5, 3, 2);
    let mut g1 = vec![0.0; p.len()];
    let mut g2 = vec![0.0; p.len()];
    let s1 = ev1.loss_grad(&p, &mut g1);
    let s2 = ev2.loss_grad(&p, &mut g2);
    assert!((s1.loss - s2.loss).abs() < 1e-14);
    assert_eq!(s1.accuracy, s2.accuracy);
    assert!(rel_err(&g2, &g1) < 1e-13);
    let v: Vec<f64> = (0..p.len()).map(|i| (i as f64 * 0.37).sin()).collect();
    let mut h1 = vec![0.0; p.len()];
    let mut h2 = vec![0.0; p.len()];
    ev1.hvp(&p, &v, &mut h1);
    ev2.hvp(&p, &v, &mut h2);
    assert!(rel_err(&h2, &h1) < 1e-13);
    // Without the cache the HVP is recomputed chunk by chunk: same answer.
    ev2.set_cache_enabled(false);
    let mut h3 = vec![0.0; p.len()];
    ev2.hvp(&p, &v, &mut h3);
    assert!(rel_err(&h3, &h1) < 1e-13);
}

#[test]
fn f32_error_is_small_and_documented() {
    // The f32 path against f64 on the same net: see README "Precision" for the figures.
    let (mut ev64, p) = tiny_problem(Activation::Tanh, LossKind::Mse, true, 11, 1, 64);
    let b = ev64.train().clone();
    let mut ev32 = Evaluator::<f32>::new(
        ev64.spec().clone(),
        LossKind::Mse,
        Batch {
            x: b.x.mapv(|v| v as f32),
            y: b.y.mapv(|v| v as f32),
            labels: b.labels.clone(),
        },
        1,
        64,
    );
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let p64: Vec<f64> = p32.iter().map(|&v| v as f64).collect();
    let mut g64 = vec![0.0; p.len()];
    let mut g32 = vec![0.0f32; p.len()];
    let l64 = ev64.loss_grad(&p64, &mut g64).loss;
    let l32 = ev32.loss_grad(&p32, &mut g32).loss;
    let g32d: Vec<f64> = g32.iter().map(|&v| v as f64).collect();
    let (el, eg) = (((l32 - l64) / l64).abs(), rel_err(&g32d, &g64));
    eprintln!("f32 vs f64: loss rel err {el:.1e}, gradient rel err {eg:.1e}");
    assert!(el < 1e-6);
    assert!(eg < 1e-5);
    let v: Vec<f64> = (0..p.len()).map(|i| (i as f64 * 0.7).cos()).collect();
    let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let mut h64 = vec![0.0; p.len()];
    let mut h32 = vec![0.0f32; p.len()];
    ev64.hvp(&p64, &v, &mut h64);
    ev32.hvp(&p32, &v32, &mut h32);
    let h32d: Vec<f64> = h32.iter().map(|&x| x as f64).collect();
    let eh = rel_err(&h32d, &h64);
    eprintln!("f32 vs f64: HVP rel err {eh:.1e}");
    assert!(eh < 1e-5);
}

/// Nets without a hidden layer and with one: the first layer's products run over the whole
/// batch (row groups), the chunks hand them their rows; gradient and HVP still match finite
/// differences, with several chunks and threads.
#[test]
fn nets_with_zero_and_one_hidden_layer_match_finite_differences() {
    for hidden in [vec![], vec![6]] {
        for (act, loss) in [
            (Activation::Tanh, LossKind::Mse),
            (Activation::Softplus, LossKind::CrossEntropy),
        ] {
            let (n, d, c) = (70, 5, 3);
            let mut rng = Rng::seed_from_u64(11);
            let batch = random_batch(n, d, c, &mut rng);
            let spec = MlpSpec {
                input_dim: d,
                hidden: hidden.clone(),
                output_dim: c,
                activation: act,
                bias: true,
            };
            let p = spec.init_params(Init::Normal { sigma: 1.5 }, 1.0, &mut rng);
            let mut ev = Evaluator::new(spec, loss, batch, 2, 8);
            let what = format!("hidden {hidden:?}, {act:?} {loss:?}");
            let mut g = vec![0.0; p.len()];
            ev.loss_grad(&p, &mut g);
            let h = 1e-6;
            let fd: Vec<f64> = (0..p.len())
                .map(|i| {
                    let mut pp = p.clone();
                    pp[i] += h;
                    let lp = ev.loss(&pp).loss;
                    pp[i] -= 2.0 * h;
                    (lp - ev.loss(&pp).loss) / (2.0 * h)
                })
                .collect();
            let e = rel_err(&g, &fd);
            assert!(e < 1e-7, "{what}: gradient rel err {e:e}");
            let v: Vec<f64> = (0..p.len()).map(|_| rng.normal()).collect();
            let mut hv = vec![0.0; p.len()];
            ev.hvp(&p, &v, &mut hv);
            let h = 1e-5;
            let pp: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a + h * b).collect();
            let pm: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a - h * b).collect();
            let (mut gp, mut gm) = (vec![0.0; p.len()], vec![0.0; p.len()]);
            ev.loss_grad(&pp, &mut gp);
            ev.loss_grad(&pm, &mut gm);
            let fd: Vec<f64> = gp
                .iter()
                .zip(&gm)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect();
            let e = rel_err(&hv, &fd);
            assert!(e < 1e-7, "{what}: HVP rel err {e:e}");
            // Without the cache the HVP is recomputed chunk by chunk: same answer.
            ev.set_cache_enabled(false);
            let mut hv2 = vec![0.0; p.len()];
            ev.hvp(&p, &v, &mut hv2);
            let e = rel_err(&hv2, &hv);
            assert!(e < 1e-13, "{what}: uncached HVP differs by {e:e}");
        }
    }
}
