//! The central flow (Cohen et al. 2025): the SDCP solver against its closed form (k = 1) and a
//! brute-force search (k = 2), the third derivatives against finite differences of gradients on
//! tiny nets for every activation, the flow against gradient flow when nothing is critical, and
//! against the closed-form central flow of a quadratic-plus-cubic toy loss.

use eos_explorer::engine::Rng;
use eos_explorer::engine::central_flow::{
    CentralFlow, CentralFlowOptions, FlowEigen, Sdcp, SdcpError, SdcpOptions, ThirdMethod,
    damian_link, distance, distance_ratio, project_psd, sym_eigenvalues, third_derivatives,
    third_derivatives_from_gradients,
};
use eos_explorer::engine::model::{Activation, Init, MlpSpec};
use eos_explorer::engine::network::{Batch, Evaluator, LossKind};
use eos_explorer::engine::theory::TheoryError;
use eos_explorer::engine::theory::measured::Derivatives;
use nalgebra::DMatrix;
use ndarray::Array2;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn rand_vec(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

// ---------------------------------------------------------------- SDCP

#[test]
fn sdcp_k1_matches_closed_form() {
    let mut rng = Rng::seed_from_u64(1);
    let mut active = 0;
    for case in 0..200 {
        let p = 7;
        let gs = rand_vec(&mut rng, p);
        let grad = rand_vec(&mut rng, p);
        let eta = 0.05 + rng.uniform() * 2.0;
        let dt = [1.0, 0.5, 0.25, 0.125][case % 4];
        // Sharpness around 2/η: below, at and above it.
        let s = if case % 5 == 0 {
            2.0 / eta
        } else {
            2.0 / eta * (1.0 + 0.05 * (rng.uniform() - 0.5))
        };
        let prob = Sdcp::from_flow(&[s], &[vec![&gs[..]]], &grad, eta, dt).unwrap();
        let sol = prob.solve(None, &SdcpOptions::default()).unwrap();
        assert!(sol.converged);
        let s2 = dot(&gs, &gs);
        let closed =
            (-2.0 * dot(&gs, &grad) / s2 + 2.0 * (s - 2.0 / eta) / (eta * dt * s2)).max(0.0);
        let x = sol.x[(0, 0)];
        assert!(
            (x - closed).abs() <= 1e-12 * closed.abs().max(1.0),
            "case {case}: σ² = {x}, closed form {closed}"
        );
        if closed > 0.0 {
            active += 1;
            // The linearised sharpness lands exactly on 2/η after the substep.
            let v: Vec<f64> = grad.iter().zip(&gs).map(|(g, d)| g + 0.5 * x * d).collect();
            let s_new = s - dt * eta * dot(&gs, &v);
            assert!(
                (s_new - 2.0 / eta).abs() < 1e-9 * (2.0 / eta),
                "case {case}"
            );
        }
        // At S = 2/η exactly the dt term vanishes: Cohen et al.'s σ².
        if case % 5 == 0 {
            let cohen = (-2.0 * dot(&gs, &grad) / s2).max(0.0);
            assert!((x - cohen).abs() <= 1e-12 * cohen.max(1.0));
        }
    }
    assert!(active > 30 && active < 170, "{active} active cases");
}

/// f(X) = ½⟨X, B[X]⟩ + ⟨A, X⟩ for symmetric 2×2 X as a quadratic ½vᵀGv + cᵀv in the
/// coordinates v = (X11, X22, √2·X12) of the orthonormal basis E11, E22, (E12 + E21)/√2.
fn quadratic_2x2(prob: &Sdcp) -> (DMatrix<f64>, [f64; 3]) {
    let r = std::f64::consts::FRAC_1_SQRT_2;
    let basis = [
        DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 0.0]),
        DMatrix::from_row_slice(2, 2, &[0.0, 0.0, 0.0, 1.0]),
        DMatrix::from_row_slice(2, 2, &[0.0, r, r, 0.0]),
    ];
    let g = DMatrix::from_fn(3, 3, |i, j| basis[i].dot(&prob.apply_b(&basis[j])));
    let c = [0, 1, 2].map(|i| basis[i].dot(&prob.a));
    (g, c)
}

/// min of f over PSD 2×2 X = L Lᵀ, L = [[l1, 0], [l2, l3]], by a grid that zooms in on its best.
fn brute_force_2x2(prob: &Sdcp, radius: f64) -> (DMatrix<f64>, f64) {
    let (g, c) = quadratic_2x2(prob);
    let f = |l: [f64; 3]| -> f64 {
        let v = [
            l[0] * l[0],
            l[1] * l[1] + l[2] * l[2],
            std::f64::consts::SQRT_2 * l[0] * l[1],
        ];
        let mut s = 0.0;
        for i in 0..3 {
            s += c[i] * v[i];
            for j in 0..3 {
                s += 0.5 * v[i] * g[(i, j)] * v[j];
            }
        }
        s
    };
    let x_of = |l: [f64; 3]| {
        DMatrix::from_row_slice(
            2,
            2,
            &[
                l[0] * l[0],
                l[0] * l[1],
                l[0] * l[1],
                l[1] * l[1] + l[2] * l[2],
            ],
        )
    };
    let mut lo = [0.0, -radius, 0.0];
    let mut hi = [radius, radius, radius];
    let mut best = ([0.0; 3], 0.0);
    // Each round halves the box around the best point so far (a slow zoom cannot lose a
    // narrow valley of an ill-conditioned B).
    let n = 24;
    for _round in 0..70 {
        let step: Vec<f64> = (0..3).map(|d| (hi[d] - lo[d]) / n as f64).collect();
        for i in 0..=n {
            for j in 0..=n {
                for m in 0..=n {
                    let l = [
                        lo[0] + i as f64 * step[0],
                        lo[1] + j as f64 * step[1],
                        lo[2] + m as f64 * step[2],
                    ];
                    let v = f(l);
                    if v < best.1 {
                        best = (l, v);
                    }
                }
            }
        }
        for d in 0..3 {
            let floor = if d == 1 { f64::NEG_INFINITY } else { 0.0 };
            let half = 0.25 * n as f64 * step[d];
            lo[d] = (best.0[d] - half).max(floor);
            hi[d] = best.0[d] + half;
        }
    }
    (x_of(best.0), best.1)
}

#[test]
fn sdcp_k2_matches_brute_force() {
    let mut rng = Rng::seed_from_u64(2);
    let mut ranks = [0usize; 3];
    for case in 0..12 {
        let p = 6;
        let g11 = rand_vec(&mut rng, p);
        let g12 = rand_vec(&mut rng, p);
        let g22 = rand_vec(&mut rng, p);
        let grad = rand_vec(&mut rng, p);
        let eta = 0.5;
        let dt = 0.25;
        let lam = [
            2.0 / eta + 0.3 * (rng.uniform() - 0.3),
            2.0 / eta + 0.3 * (rng.uniform() - 0.7),
        ];
        let table = vec![vec![&g11[..], &g12[..]], vec![&g12[..], &g22[..]]];
        let prob = Sdcp::from_flow(&lam, &table, &grad, eta, dt).unwrap();
        let sol = prob.solve(None, &SdcpOptions::default()).unwrap();
        assert!(sol.converged, "case {case}: residual {:e}", sol.residual);
        // KKT directly.
        let xs = sym_eigenvalues(&sol.x);
        assert!(xs[1] >= -1e-12 * xs[0].abs().max(1.0));
        let rn = sol.r.norm().max(1.0);
        assert!(sol.r_min_eigenvalue >= -1e-8 * rn, "case {case}: R not PSD");
        assert!(sol.complementarity.abs() <= 1e-8 * rn * sol.x.norm().max(1.0));
        let rank = xs.iter().filter(|&&v| v > 1e-8 * xs[0].max(1e-300)).count();
        ranks[rank] += 1;
        // Against the grid.
        let mu = sym_eigenvalues(&quadratic_2x2(&prob).0)[2];
        assert!(mu > 0.0);
        let radius = (2.0 * prob.a.norm() / mu).sqrt() * 1.5;
        let (xb, fb) = brute_force_2x2(&prob, radius);
        let fs = prob.objective(&sol.x);
        let fscale = fs.abs().max(prob.a.norm() * sol.x.norm()).max(1e-12);
        assert!(
            fs <= fb + 1e-10 * fscale,
            "case {case}: solver {fs} worse than grid {fb}"
        );
        assert!(
            (fs - fb).abs() <= 1e-8 * fscale,
            "case {case}: solver {fs}, grid {fb}"
        );
        let dx = (&sol.x - &xb).norm();
        assert!(
            dx <= 1e-3 * sol.x.norm().max(1e-3),
            "case {case}: X differs from the grid's by {dx:e}"
        );
    }
    // The instances cover the inactive, rank-one and full-rank solutions.
    assert!(ranks.iter().all(|&r| r > 0), "ranks seen {ranks:?}");
}

#[test]
fn sdcp_planted_solutions_are_recovered() {
    // A = R* − B[X*] with X* ⪰ 0, R* ⪰ 0, X* R* = 0 makes X* a solution (unique: B ≻ 0 here).
    let mut rng = Rng::seed_from_u64(3);
    for k in 1..=4 {
        for rank in 0..=k {
            let p = 12;
            let gs: Vec<Vec<Vec<f64>>> = (0..k)
                .map(|_| (0..k).map(|_| rand_vec(&mut rng, p)).collect())
                .collect();
            let table: Vec<Vec<&[f64]>> = (0..k)
                .map(|i| (0..k).map(|j| &gs[i.min(j)][i.max(j)][..]).collect())
                .collect();
            let zeros = vec![0.0; p];
            let mut prob = Sdcp::from_flow(&vec![4.0; k], &table, &zeros, 0.5, 1.0).unwrap();
            // Random orthonormal basis Q; X* on its first `rank` columns, R* on the rest.
            let m = DMatrix::from_fn(k, k, |_, _| rng.normal());
            let q = m.qr().q();
            let xd = DMatrix::from_fn(k, k, |i, j| {
                if i == j && i < rank {
                    0.5 + rng.uniform()
                } else {
                    0.0
                }
            });
            let rd = DMatrix::from_fn(k, k, |i, j| {
                if i == j && i >= rank {
                    0.5 + rng.uniform()
                } else {
                    0.0
                }
            });
            let xstar = &q * xd * q.transpose();
            let rstar = &q * rd * q.transpose();
            prob.a = &rstar - prob.apply_b(&xstar);
            let sol = prob.solve(None, &SdcpOptions::default()).unwrap();
            assert!(sol.converged, "k {k} rank {rank}");
            let err = (&sol.x - &xstar).norm();
            assert!(err < 1e-7, "k {k} rank {rank}: ‖X − X*‖ = {err:e}");
        }
    }
}

#[test]
fn sdcp_without_third_derivative() {
    // ∇S = 0: a sharpness below 2/η needs no oscillation; one above it cannot be held.
    let g = [0.0; 3];
    let grad = vec![1.0, 2.0, 3.0];
    let below = Sdcp::from_flow(&[3.0], &[vec![&g[..]]], &grad, 0.5, 0.25).unwrap();
    let sol = below.solve(None, &SdcpOptions::default()).unwrap();
    assert_eq!(sol.x[(0, 0)], 0.0);
    let above = Sdcp::from_flow(&[5.0], &[vec![&g[..]]], &grad, 0.5, 0.25).unwrap();
    assert_eq!(
        above.solve(None, &SdcpOptions::default()).unwrap_err(),
        SdcpError::Unbounded
    );
}

#[test]
fn psd_projection_clips_negative_eigenvalues() {
    let m = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]); // eigenvalues 3, −1
    let p = project_psd(&m);
    let e = sym_eigenvalues(&p);
    assert!((e[0] - 3.0).abs() < 1e-14 && e[1].abs() < 1e-14);
    assert!((p[(0, 0)] - 1.5).abs() < 1e-14 && (p[(0, 1)] - 1.5).abs() < 1e-14);
}

// ---------------------------------------------------------------- third derivatives

fn tiny_net(act: Activation, loss: LossKind, seed: u64) -> (Evaluator<f64>, Vec<f64>) {
    let (n, d, c) = (11, 3, 2);
    let mut rng = Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, d), |_| rng.normal());
    let labels: Vec<u8> = (0..n).map(|_| rng.below(c) as u8).collect();
    let mut y = Array2::zeros((n, c));
    for (i, &l) in labels.iter().enumerate() {
        y[(i, l as usize)] = 1.0;
    }
    let spec = MlpSpec {
        input_dim: d,
        hidden: vec![4, 3],
        output_dim: c,
        activation: act,
        bias: true,
    };
    let params = spec.init_params(Init::Normal { sigma: 1.2 }, 1.0, &mut rng);
    let ev = Evaluator::new(
        spec,
        loss,
        Batch {
            x,
            y,
            labels: Some(labels),
        },
        1,
        64,
    );
    (ev, params)
}

/// ∇³L[a, b, ·] by the four-point difference of gradients (no HVP involved), Richardson-extrapolated.
fn third_by_gradients(
    ev: &mut Evaluator<f64>,
    w: &[f64],
    a: &[f64],
    b: &[f64],
    h: f64,
) -> Vec<f64> {
    let mut at = |sa: f64, sb: f64| -> Vec<f64> {
        let q: Vec<f64> = w
            .iter()
            .zip(a)
            .zip(b)
            .map(|((x, u), v)| x + sa * u + sb * v)
            .collect();
        Derivatives::loss_grad(ev, &q).unwrap().1
    };
    let mut four = |h: f64| -> Vec<f64> {
        let (pp, pm, mp, mm) = (at(h, h), at(h, -h), at(-h, h), at(-h, -h));
        (0..w.len())
            .map(|i| (pp[i] - pm[i] - mp[i] + mm[i]) / (4.0 * h * h))
            .collect()
    };
    let d1 = four(h);
    let d2 = four(h / 2.0);
    d1.iter()
        .zip(&d2)
        .map(|(x, y)| (4.0 * y - x) / 3.0)
        .collect()
}

#[test]
fn third_derivatives_match_gradient_differences_for_every_activation() {
    for (c, act) in Activation::ALL.into_iter().enumerate() {
        for loss in [LossKind::Mse, LossKind::CrossEntropy] {
            let (mut ev, w) = tiny_net(act, loss, 10 + c as u64);
            let p = w.len();
            let mut rng = Rng::seed_from_u64(50 + c as u64);
            // Two orthonormal directions (the flow passes eigenvectors; any vectors work).
            let mut u1 = rand_vec(&mut rng, p);
            let n1 = norm(&u1);
            u1.iter_mut().for_each(|x| *x /= n1);
            let mut u2 = rand_vec(&mut rng, p);
            let c12 = dot(&u1, &u2);
            u2.iter_mut().zip(&u1).for_each(|(x, y)| *x -= c12 * y);
            let n2 = norm(&u2);
            u2.iter_mut().for_each(|x| *x /= n2);
            let us = vec![u1, u2];
            let t = third_derivatives(&mut ev, &w, &us, None, true).unwrap();
            assert_eq!(t.hvps, 12);
            // ReLU (and the kink of ELU's second derivative) make the net piecewise smooth:
            // a kink inside the stencil costs accuracy, so those get a looser bound.
            let tol = match act {
                Activation::Relu => 1e-3,
                _ => 2e-6,
            };
            for i in 0..2 {
                for j in 0..2 {
                    let fd = third_by_gradients(&mut ev, &w, &us[i], &us[j], 2e-3);
                    let g = t.get(i, j);
                    let err = norm(&g.iter().zip(&fd).map(|(a, b)| a - b).collect::<Vec<_>>())
                        / norm(&fd).max(1e-12);
                    assert!(
                        err < tol,
                        "{act:?} {loss:?} g_{i}{j}: rel err {err:e} (‖g‖ = {:e})",
                        norm(g)
                    );
                }
            }
            // Without Richardson: 2 HVPs per pair, still close.
            let plain = third_derivatives(&mut ev, &w, &us, None, false).unwrap();
            assert_eq!(plain.hvps, 6);
            let e = norm(
                &plain
                    .get(0, 1)
                    .iter()
                    .zip(t.get(1, 0))
                    .map(|(a, b)| a - b)
                    .collect::<Vec<_>>(),
            ) / norm(t.get(0, 1)).max(1e-12);
            assert!(e < 1e-3, "{act:?} {loss:?}: plain vs Richardson {e:e}");
            // From gradients only (the live method): against the HVP reference.
            let g0 = Derivatives::loss_grad(&mut ev, &w).unwrap().1;
            for (richardson, grads, tol_smooth) in [(true, 16, 1e-6), (false, 8, 1e-4)] {
                let tg = third_derivatives_from_gradients(&mut ev, &w, &g0, &us, None, richardson)
                    .unwrap();
                assert_eq!((tg.grads, tg.hvps), (grads, 0));
                let tol = match act {
                    Activation::Relu => 1e-3,
                    _ => tol_smooth,
                };
                for i in 0..2 {
                    for j in 0..2 {
                        let (a, b) = (tg.get(i, j), t.get(i, j));
                        let err = norm(&a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>())
                            / norm(b).max(1e-12);
                        assert!(
                            err < tol,
                            "{act:?} {loss:?} richardson {richardson} g_{i}{j}: gradients vs HVPs {err:e}"
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- the flow

#[test]
fn without_critical_eigenvalue_the_flow_is_gradient_flow() {
    for act in [Activation::Tanh, Activation::Softplus] {
        let (mut ev, w0) = tiny_net(act, LossKind::Mse, 3);
        // η well below the stability limit: 2/η is 5× the sharpness.
        let lam = eos_explorer::engine::theory::measured::top_eigen(
            &mut ev,
            &w0,
            1,
            1e-10,
            200,
            0,
            &[],
            false,
        )
        .unwrap()
        .eigenvalues[0];
        let eta = 0.4 / lam;
        for substeps in [1, 4] {
            let mut opts = CentralFlowOptions::new(eta);
            opts.substeps = substeps;
            let mut cf = CentralFlow::new(ev.clone(), w0.clone(), opts).unwrap();
            let mut gf = w0.clone();
            let dt = 1.0 / substeps as f64;
            let h = eta * dt;
            for t in 0..25 {
                let rec = cf.step().unwrap();
                assert_eq!(rec.k, 0);
                assert!(rec.sigma2.is_empty());
                assert_eq!(rec.predicted_loss, rec.loss);
                let l_gf = Derivatives::loss_grad(&mut ev, &gf).unwrap().0;
                assert_eq!(rec.loss, l_gf, "step {t}");
                for _ in 0..substeps {
                    let g = Derivatives::loss_grad(&mut ev, &gf).unwrap().1;
                    for (w, gi) in gf.iter_mut().zip(&g) {
                        *w -= h * gi;
                    }
                }
                assert_eq!(cf.params(), &gf[..], "{act:?} substeps {substeps} step {t}");
                assert_eq!(rec.grads, substeps);
                assert!(rec.hvps > 0);
            }
        }
    }
}

/// L(x, y, z) = ½ a(y, z) x² + c·y + d·z with sharpness a = a0 + b·y + e·z along x.
#[derive(Clone)]
struct Toy {
    a0: f64,
    b: f64,
    e: f64,
    c: f64,
    d: f64,
}

impl Toy {
    fn a(&self, w: &[f64]) -> f64 {
        self.a0 + self.b * w[1] + self.e * w[2]
    }
}

impl Derivatives for Toy {
    fn dim(&self) -> usize {
        3
    }
    fn loss_grad(&mut self, w: &[f64]) -> Result<(f64, Vec<f64>), TheoryError> {
        let (a, x) = (self.a(w), w[0]);
        Ok((
            0.5 * a * x * x + self.c * w[1] + self.d * w[2],
            vec![
                a * x,
                0.5 * self.b * x * x + self.c,
                0.5 * self.e * x * x + self.d,
            ],
        ))
    }
    fn hvp(&mut self, w: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError> {
        let (a, x) = (self.a(w), w[0]);
        Ok(vec![
            a * v[0] + self.b * x * v[1] + self.e * x * v[2],
            self.b * x * v[0],
            self.e * x * v[0],
        ])
    }
    fn unit_roundoff(&self) -> f64 {
        f64::EPSILON / 2.0
    }
}

#[test]
fn toy_central_flow_matches_closed_form() {
    // From x = 0: gradient flow moves (y, z) at v = −η(c, d) and the sharpness a rises at
    // −η(bc + ed) until it reaches 2/η at t*; from then on the central flow holds a = 2/η with
    // σ² = −2(bc + ed)/(b² + e²) and moves (y, z) at v⊥ = −η·P⊥(c, d), P⊥ the projection
    // orthogonal to ∇a = (b, e). Euler substeps are exact here (∇L, ∇a are constant in y, z)
    // and the crossing substep lands on the same point (its component orthogonal to ∇a is
    // dt·v⊥ whatever X is), so the discrete flow equals the closed form at every substep.
    let toy = Toy {
        a0: 3.05,
        b: 1.0,
        e: 0.5,
        c: -0.4,
        d: 0.3,
    };
    let eta = 0.5;
    let thr = 2.0 / eta;
    let (b, e, c, d) = (toy.b, toy.e, toy.c, toy.d);
    let rate = -eta * (b * c + e * d); // da/dt under gradient flow
    let t_star = (thr - toy.a0) / rate; // 7.6 GD steps
    let n2 = b * b + e * e;
    let proj = (b * c + e * d) / n2;
    let v = [-eta * c, -eta * d];
    let vp = [-eta * (c - proj * b), -eta * (d - proj * e)];
    let sigma2 = -2.0 * (b * c + e * d) / n2;
    // Both solver sets: the reference (Lanczos, third derivatives from HVPs) and the live one
    // (the block solver, third derivatives from gradients).
    let methods = [
        (FlowEigen::Lanczos, ThirdMethod::Hvp),
        (FlowEigen::Block, ThirdMethod::Gradients),
    ];
    for (substeps, (eigen, third)) in [1, 2, 4, 8]
        .into_iter()
        .flat_map(|s| methods.into_iter().map(move |m| (s, m)))
    {
        let mut opts = CentralFlowOptions::new(eta);
        opts.substeps = substeps;
        opts.eigen = eigen;
        opts.third = third;
        let mut cf = CentralFlow::new(toy.clone(), vec![0.0; 3], opts).unwrap();
        for t in 0..30 {
            let tf = t as f64;
            let (y, z) = if tf <= t_star {
                (v[0] * tf, v[1] * tf)
            } else {
                (
                    v[0] * t_star + vp[0] * (tf - t_star),
                    v[1] * t_star + vp[1] * (tf - t_star),
                )
            };
            let w = cf.params().to_vec();
            assert!(
                w[0].abs() < 1e-14 && (w[1] - y).abs() < 1e-10 && (w[2] - z).abs() < 1e-10,
                "{eigen:?}/{third:?} substeps {substeps} t {t}: w = {w:?}, closed form (0, {y}, {z})"
            );
            let rec = cf.step().unwrap();
            let a = toy.a0 + rate * tf.min(t_star);
            assert!(
                (rec.eigenvalues[0] - a).abs() < 1e-9,
                "t {t}: λ1 {} vs {a}",
                rec.eigenvalues[0]
            );
            let loss = c * y + d * z;
            assert!((rec.loss - loss).abs() < 1e-10);
            // σ² is the continuous value once pinned (the GD step after the crossing one).
            if tf > t_star + 1.0 {
                assert_eq!(rec.k, 1);
                assert!(
                    (rec.sigma2[0] - sigma2).abs() < 1e-8,
                    "t {t}: σ² {:?}",
                    rec.sigma2
                );
                let v = &rec.sigma_directions[0];
                assert!((v[0].abs() - 1.0).abs() < 1e-12, "direction {v:?}");
                let pred = loss + sigma2 / eta;
                assert!((rec.predicted_loss - pred).abs() < 1e-8);
            }
            if tf + 1.0 <= t_star {
                assert!(
                    rec.sigma2.iter().all(|&s| s == 0.0),
                    "t {t}: {:?}",
                    rec.sigma2
                );
                assert_eq!(rec.predicted_loss, rec.loss);
            }
        }
    }
}

#[test]
fn toy_central_flow_holds_the_sharpness_from_off_axis() {
    // Started off the valley (x = 0.6) the top eigenvector tilts and ∇L has a component along
    // it; the flow must still hold λ1 at 2/η once it gets there.
    let toy = Toy {
        a0: 2.5,
        b: 1.0,
        e: -0.7,
        c: -0.5,
        d: 0.2,
    };
    let eta = 0.5;
    let thr = 2.0 / eta;
    for (eigen, third) in [
        (FlowEigen::Lanczos, ThirdMethod::Hvp),
        (FlowEigen::Block, ThirdMethod::Gradients),
    ] {
        let opts = CentralFlowOptions {
            eigen,
            third,
            ..CentralFlowOptions::new(eta)
        };
        let mut cf = CentralFlow::new(toy.clone(), vec![0.6, 0.0, 0.0], opts).unwrap();
        let mut reached = None;
        for t in 0..60 {
            let rec = cf.step().unwrap();
            let l1 = rec.eigenvalues[0];
            assert!(l1 <= thr * (1.0 + 1e-6), "t {t}: λ1 = {l1} above 2/η");
            if reached.is_none() && l1 >= thr * (1.0 - 1e-3) {
                reached = Some(t);
            }
            if let Some(t0) = reached
                && t > t0 + 1
            {
                assert!((l1 - thr).abs() < 1e-6 * thr, "t {t}: λ1 = {l1} left 2/η");
                assert!(rec.k == 1 && rec.sigma2[0] > 0.0);
            }
        }
        assert!(
            reached.is_some_and(|t| t < 40),
            "{eigen:?}/{third:?}: never reached 2/η: {reached:?}"
        );
    }
}

#[test]
fn damian_link_agrees_when_grad_s_is_orthogonal_to_u() {
    let u = [1.0, 0.0, 0.0];
    let grad = [0.3, -0.5, 0.2];
    let gs = [0.0, 1.0, 0.5];
    let l = damian_link(&grad, &gs, &u);
    assert!((l.sigma2 - l.delta2).abs() < 1e-15 && l.sigma2 > 0.0);
    assert_eq!(l.along_u, 0.0);
    // A component of ∇S along u enlarges ‖∇S‖ only in σ²'s denominator.
    let gs2 = [2.0, 1.0, 0.5];
    let l2 = damian_link(&grad, &gs2, &u);
    assert!((l2.delta2 - l.delta2).abs() < 1e-15);
    let expect = (-2.0 * dot(&grad, &gs2) / dot(&gs2, &gs2)).max(0.0);
    assert!((l2.sigma2 - expect).abs() < 1e-15);
}

#[test]
fn distance_helpers() {
    assert_eq!(distance(&[0.0, 3.0], &[4.0, 0.0]), 5.0);
    assert_eq!(distance_ratio(&[0.0, 0.0], &[1.0, 0.0], &[2.0, 0.0]), 0.5);
    assert!(distance_ratio(&[1.0], &[0.0], &[1.0]).is_nan());
}

// ---------------------------------------------------------------- digits demo, side by side

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// GD, the central flow and gradient flow from the same θ₀ on the digits demo (in f64), with
/// the figures of issue 11. `CF_STEPS` (300) and `CF_SUBSTEPS` (4) change the run.
#[test]
#[ignore = "a few minutes of HVPs; run with --ignored --nocapture"]
fn digits_demo_gd_beside_central_flow() {
    use eos_explorer::engine::presets::{PresetKind, find};
    use eos_explorer::engine::session::Session;
    let Some(PresetKind::Training(cfg)) = find("digits-demo").map(|p| p.kind) else {
        panic!("the digits-demo preset is missing");
    };
    let mut cfg = *cfg;
    cfg.precision = eos_explorer::engine::Precision::F64;
    cfg.lanczos_tol = 1e-6;
    let steps = env_usize("CF_STEPS", 300);
    let every = env_usize("CF_PRINT_EVERY", 20).max(1);
    let substeps = env_usize("CF_SUBSTEPS", 4);
    cfg.max_steps = steps + 1;
    let (mut gd, _data) = Session::from_config(&cfg).unwrap();
    let eta = gd.lr();
    let thr = 2.0 / eta;
    let w0 = gd.current_params_f64();
    let mut ev = gd.evaluator_f64();
    let mut opts = CentralFlowOptions::new(eta);
    opts.substeps = substeps;
    if let Some(tol) = std::env::var("CF_LANCZOS_TOL")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        opts.lanczos_tol = tol;
    }
    let mut cf = CentralFlow::new(ev.clone(), w0.clone(), opts).unwrap();
    let mut gf = w0;
    let h = eta / substeps as f64;
    let (mut gd_loss, mut gd_l1, mut cf_rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut disp2 = Vec::new(); // (σ²₁, ((w_GD − w_CF)·v₁)²) per step with k > 0
    for t in 0..steps {
        let w_gd = gd.current_params_f64();
        let w_cf = cf.params().to_vec();
        let (rec, stop) = gd.step().unwrap();
        assert!(stop.is_none(), "GD stopped at {t}: {stop:?}");
        gd_loss.push(rec.train_loss);
        gd_l1.push(
            rec.eigs
                .as_ref()
                .and_then(|e| e.first().copied())
                .unwrap_or(f64::NAN),
        );
        let f = cf.step().unwrap();
        if let (Some(&s2), Some(v)) = (f.sigma2.first(), f.sigma_directions.first()) {
            let d: f64 = w_gd
                .iter()
                .zip(&w_cf)
                .zip(v)
                .map(|((a, b), x)| (a - b) * x)
                .sum();
            disp2.push((t, s2, d * d));
        }
        if t % every == 0 {
            println!(
                "t {t:4}  GD loss {:.5} λ1 {:.4} | CF loss {:.5} pred {:.5} λ {:.4?} σ² {:.3?} HVPs {}",
                rec.train_loss, gd_l1[t], f.loss, f.predicted_loss, f.eigenvalues, f.sigma2, f.hvps
            );
        }
        cf_rows.push(f);
        for _ in 0..substeps {
            let g = Derivatives::loss_grad(&mut ev, &gf).unwrap().1;
            gf.iter_mut().zip(&g).for_each(|(w, gi)| *w -= h * gi);
        }
    }
    let w_gd = gd.current_params_f64();
    let ratio = distance_ratio(&w_gd, cf.params(), &gf);
    let t_gd = gd_l1.iter().position(|&l| l >= thr);
    let t_cf = cf_rows
        .iter()
        .position(|r| r.eigenvalues[0] >= thr * (1.0 - 1e-3));
    println!("digits demo, η = {eta}, 2/η = {thr}, {steps} steps, {substeps} substeps");
    println!("first crossing: GD t = {t_gd:?}, central flow t = {t_cf:?}");
    let w = 10;
    if let Some(tc) = t_gd {
        // Relative error of the predicted loss against GD's loss averaged over the trailing
        // w-step window, over every window that starts at or after the first crossing.
        let mut errs = Vec::new();
        let mut errs_plain = Vec::new();
        for end in (tc + w)..=steps {
            let avg = |f: &dyn Fn(usize) -> f64| (end - w..end).map(f).sum::<f64>() / w as f64;
            let g = avg(&|s| gd_loss[s]);
            errs.push((avg(&|s| cf_rows[s].predicted_loss) - g).abs() / g);
            errs_plain.push((avg(&|s| cf_rows[s].loss) - g).abs() / g);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        println!(
            "predicted loss vs GD loss, trailing {w}-step windows from the crossing: mean rel err {:.4}, max {:.4} ({} windows); L(w_CF) alone: mean {:.4}, max {:.4}",
            mean(&errs),
            max(&errs),
            errs.len(),
            mean(&errs_plain),
            max(&errs_plain)
        );
    }
    if let Some(tc) = t_cf {
        let dev = cf_rows[tc + 1..]
            .iter()
            .map(|r| (r.eigenvalues[0] - thr).abs() / thr)
            .fold(0.0, f64::max);
        println!("max |λ1(w_CF) − 2/η|/(2/η) after the flow's crossing: {dev:.2e}");
        let pre: Vec<usize> = cf_rows[..tc].iter().map(|r| r.hvps).collect();
        let eos: Vec<usize> = cf_rows[tc..].iter().map(|r| r.hvps).collect();
        println!(
            "HVPs per GD step: {:.1} before the crossing, {:.1} during the edge of stability (gradients: {substeps})",
            pre.iter().sum::<usize>() as f64 / pre.len().max(1) as f64,
            eos.iter().sum::<usize>() as f64 / eos.len().max(1) as f64
        );
        let ks: Vec<usize> = cf_rows[tc..].iter().map(|r| r.k).collect();
        println!(
            "critical k during EoS: min {} max {}",
            ks.iter().min().unwrap_or(&0),
            ks.iter().max().unwrap_or(&0)
        );
    }
    if !disp2.is_empty() {
        let n = disp2.len() as f64;
        let s2 = disp2.iter().map(|d| d.1).sum::<f64>() / n;
        let m2 = disp2.iter().map(|d| d.2).sum::<f64>() / n;
        println!(
            "σ²₁ mean {s2:.3e} vs GD's mean squared displacement along v₁ {m2:.3e} over {} steps with k > 0",
            disp2.len()
        );
    }
    println!(
        "end: ‖w_GD − w_CF‖ = {:.4}, ‖w_GD − w_GF‖ = {:.4}, ratio {ratio:.3}",
        distance(&w_gd, cf.params()),
        distance(&w_gd, &gf)
    );
    assert!(ratio.is_finite());
}

// ---------------------------------------------------------------- the app's worker, timed

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The app's training worker on the digits demo with the central-flow probe beside it, as the
/// app drives it (SetProbes, Start, events over the channel; no drawing): GD steps per second
/// before and after the flow's crossing, and how long Stop waits. `CF_SUBSTEPS`,
/// `CF_LANCZOS_TOL`, `CF_MAX_TRACKED`, `CF_RICHARDSON` (0/1), `CF_STEPS` (300) pick the options.
#[test]
#[ignore = "timing on real data; run in release with --ignored --nocapture"]
fn app_worker_steps_per_second_with_the_central_flow() {
    use eos_explorer::engine::central_flow::{CentralFlowProbeOptions, CentralFlowUpdate};
    use eos_explorer::engine::presets::{PresetKind, find};
    use eos_explorer::engine::probe::{ProbeConfig, ProbeUpdate};
    use eos_explorer::engine::worker::{Command, Event, TrainWorker};
    use std::time::{Duration, Instant};
    let Some(PresetKind::Training(cfg)) = find("digits-demo").map(|p| p.kind) else {
        panic!("the digits-demo preset is missing");
    };
    let mut cfg = *cfg;
    let steps = env_usize("CF_STEPS", 300);
    cfg.max_steps = 100_000;
    // CF_LIVE=1 starts from the app's options (`CentralFlowProbeOptions::live`), else from
    // the CLI's defaults; the other variables override single options.
    let d = if env_usize("CF_LIVE", 0) == 1 {
        CentralFlowProbeOptions::live()
    } else {
        CentralFlowProbeOptions::default()
    };
    let opts = CentralFlowProbeOptions {
        substeps: env_usize("CF_SUBSTEPS", d.substeps),
        lanczos_tol: env_f64("CF_LANCZOS_TOL").unwrap_or(d.lanczos_tol),
        max_tracked: env_usize("CF_MAX_TRACKED", d.max_tracked),
        richardson: env_usize("CF_RICHARDSON", d.richardson as usize) == 1,
        third: match std::env::var("CF_THIRD").as_deref() {
            Err(_) => d.third,
            Ok("gradients") => eos_explorer::engine::central_flow::ThirdMethod::Gradients,
            Ok("hvp") => eos_explorer::engine::central_flow::ThirdMethod::Hvp,
            Ok(other) => panic!("CF_THIRD={other}: use hvp or gradients"),
        },
        eigen: match std::env::var("CF_EIGEN").as_deref() {
            Err(_) => d.eigen,
            Ok("block") => eos_explorer::engine::central_flow::FlowEigen::Block,
            Ok("lanczos") => eos_explorer::engine::central_flow::FlowEigen::Lanczos,
            Ok(other) => panic!("CF_EIGEN={other}: use lanczos or block"),
        },
        ..d
    };
    println!("{opts:?}");
    let w = TrainWorker::spawn("timing", Box::new(|| {})).unwrap();
    w.send(Command::SetProbes(vec![ProbeConfig::CentralFlow(
        opts.clone(),
    )]))
    .unwrap();
    w.start(cfg).unwrap();
    let mut rec_at: Vec<Instant> = Vec::new();
    let mut rows = Vec::new();
    let t0 = Instant::now();
    while rows.len() < steps && t0.elapsed() < Duration::from_secs(1800) {
        while let Some(e) = w.try_recv() {
            match e {
                Event::Record { .. } => rec_at.push(Instant::now()),
                Event::Probe { update, .. } => match *update {
                    ProbeUpdate::CentralFlow(CentralFlowUpdate::Row(r)) => rows.push(*r),
                    ProbeUpdate::CentralFlow(CentralFlowUpdate::Failed(m)) => panic!("{m}"),
                    _ => {}
                },
                Event::Error { message, .. } => panic!("{message}"),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let asked = Instant::now();
    w.send(Command::Stop).unwrap();
    loop {
        match w.try_recv() {
            Some(Event::Finished { .. }) => break,
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(1)),
        }
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "Stop never answered"
        );
    }
    let stop_wait = asked.elapsed().as_secs_f64();
    let thr = 2.0 / 0.4;
    let cross = rows
        .iter()
        .position(|r| {
            r.cf_eigenvalues
                .first()
                .is_some_and(|&l| l >= thr * (1.0 - 1e-3))
        })
        .unwrap_or(rows.len());
    let rate = |a: usize, b: usize| {
        if b <= a + 1 || b > rec_at.len() {
            return f64::NAN;
        }
        (b - a - 1) as f64 / (rec_at[b - 1] - rec_at[a]).as_secs_f64()
    };
    let hvps = |rs: &[eos_explorer::engine::central_flow::CentralFlowRow]| {
        rs.iter().map(|r| r.hvps).sum::<usize>() as f64 / rs.len().max(1) as f64
    };
    let secs = |rs: &[eos_explorer::engine::central_flow::CentralFlowRow]| {
        rs.iter().map(|r| r.seconds).sum::<f64>() / rs.len().max(1) as f64
    };
    println!(
        "{} steps: GD steps/s {:.1} overall, {:.1} before the flow's crossing (step {cross}), {:.1} after; probe {:.1} HVPs / {:.1} ms per step before, {:.1} / {:.1} after; Stop answered in {:.3} s",
        rows.len(),
        rate(0, rows.len()),
        rate(0, cross),
        rate(cross, rows.len()),
        hvps(&rows[..cross]),
        1e3 * secs(&rows[..cross]),
        hvps(&rows[cross..]),
        1e3 * secs(&rows[cross..]),
        stop_wait
    );
    let mut log = eos_explorer::engine::central_flow::CentralFlowLog::default();
    for r in &rows {
        log.apply(CentralFlowUpdate::Row(Box::new(r.clone())));
    }
    let ks: Vec<usize> = rows[cross..].iter().map(|r| r.k).collect();
    println!(
        "k after the flow's crossing: {} rows with k = 1, {} with k = 2",
        ks.iter().filter(|&&k| k == 1).count(),
        ks.iter().filter(|&&k| k == 2).count()
    );
    print!("{}", log.report(&opts, 0.4).describe());
    assert!(rows.len() >= steps.min(10));
}
