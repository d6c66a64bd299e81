//! Two-layer linear network of seed §5: exact Hessian, Lanczos sharpness, the §5.3 identities,
//! the ⟨F, D⟩ < 0 claim, and an export round trip re-checked with independent dense code.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use eos_explorer::engine::lanczos::dense_from_operator;
use eos_explorer::engine::rng::Rng;
use eos_explorer::engine::theory::linear::{
    LabelKind, LinearInit, LinearNet, LinearParams, LinearProblem, LinearRow, LinearRun,
    LinearSummary, LinearWriteOptions, METRICS_COLUMNS, write_run,
};
use eos_explorer::engine::theory::{Outcome, SaveSteps};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use ndarray::{Array1, Array2};

// ---------------------------------------------------------------------------------------------
// Independent reference code (nalgebra, written from the formulas, not from linear.rs).

struct Dense {
    x: DMatrix<f64>, // d × n
    y: DVector<f64>, // n
    w: DMatrix<f64>, // m × d
    a: DVector<f64>, // m
}

impl Dense {
    fn from_arrays(x: &Array2<f64>, y: &Array1<f64>, w: &Array2<f64>, a: &Array1<f64>) -> Self {
        Dense {
            x: DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)]),
            y: DVector::from_iterator(y.len(), y.iter().copied()),
            w: DMatrix::from_fn(w.nrows(), w.ncols(), |i, j| w[(i, j)]),
            a: DVector::from_iterator(a.len(), a.iter().copied()),
        }
    }
    fn m(&self) -> usize {
        self.a.len()
    }
    fn n(&self) -> usize {
        self.y.len()
    }
    fn outputs(&self) -> DVector<f64> {
        // F_i = Σ_j A_j (W x_i)_j / √m
        let h = &self.w * &self.x; // m × n
        h.transpose() * &self.a / (self.m() as f64).sqrt()
    }
    fn residual(&self) -> DVector<f64> {
        self.outputs() - &self.y
    }
    fn loss(&self) -> f64 {
        self.residual().norm_squared() / self.n() as f64
    }
    fn gram(&self) -> DMatrix<f64> {
        let sigma = self.x.transpose() * &self.x;
        let h = &self.w * &self.x;
        (sigma * self.a.norm_squared() + h.transpose() * h) * (2.0 / (self.m() * self.n()) as f64)
    }
    /// Hessian assembled entry by entry: (2/n) JᵀJ + Σ_i (2 D_i / n) ∇²F_i.
    fn hessian(&self) -> DMatrix<f64> {
        let (m, d, n) = (self.m(), self.w.ncols(), self.n());
        let p = m * d + m;
        let sm = (m as f64).sqrt();
        let h = &self.w * &self.x;
        let mut j = DMatrix::<f64>::zeros(n, p);
        for i in 0..n {
            for jj in 0..m {
                for k in 0..d {
                    j[(i, jj * d + k)] = self.a[jj] * self.x[(k, i)] / sm;
                }
                j[(i, m * d + jj)] = h[(jj, i)] / sm;
            }
        }
        let mut hess = j.transpose() * &j * (2.0 / n as f64);
        let r = &self.x * self.residual(); // X D
        for jj in 0..m {
            for k in 0..d {
                let v = 2.0 / (n as f64 * sm) * r[k];
                hess[(jj * d + k, m * d + jj)] += v;
                hess[(m * d + jj, jj * d + k)] += v;
            }
        }
        hess
    }
}

fn top_eig(h: &DMatrix<f64>) -> f64 {
    SymmetricEigen::new(h.clone())
        .eigenvalues
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

fn tiny_params(init: LinearInit, seed: u64, lr: f64, steps: usize) -> LinearParams {
    LinearParams {
        lr,
        m: 6,
        d: 4,
        n: 7,
        steps,
        seed,
        init,
        init_scale: 0.8,
        labels: LabelKind::Teacher,
        eig_every: 1,
    }
}

/// A random point and a few GD steps along (so F ≠ 0 even with the symmetric init).
fn tiny_run_after(init: LinearInit, seed: u64, steps_taken: usize) -> LinearRun {
    let c = tiny_params(init, seed, 0.05, 50).check().expect("valid");
    let mut run = LinearRun::new(&c);
    for _ in 0..steps_taken {
        run.step();
    }
    run
}

// ---------------------------------------------------------------------------------------------
// Derivatives.

#[test]
fn gradient_matches_finite_differences_of_the_loss() {
    for (init, seed) in [(LinearInit::Symmetric, 1), (LinearInit::Random, 2)] {
        let run = tiny_run_after(init, seed, 3);
        let pr = run.problem();
        let net = run.net().clone();
        let (m, d) = (net.m(), net.d());
        let theta = net.to_flat();
        let g = pr.gradient_flat(&net);
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for i in 0..theta.len() {
            let mut tp = theta.clone();
            tp[i] += h;
            let mut tm = theta.clone();
            tm[i] -= h;
            let lp = pr.loss(&LinearNet::from_flat(m, d, &tp).expect("len"));
            let lm = pr.loss(&LinearNet::from_flat(m, d, &tm).expect("len"));
            let fd = (lp - lm) / (2.0 * h);
            let gmax = g.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            worst = worst.max((fd - g[i]).abs() / gmax);
        }
        assert!(worst < 1e-7, "{init:?}: gradient vs FD {worst:e}");
    }
}

#[test]
fn hvp_matches_finite_differences_of_the_gradient() {
    for (init, seed, taken) in [
        (LinearInit::Symmetric, 3, 0),
        (LinearInit::Symmetric, 4, 5),
        (LinearInit::Random, 5, 2),
    ] {
        let run = tiny_run_after(init, seed, taken);
        let pr = run.problem();
        let net = run.net().clone();
        let (m, d) = (net.m(), net.d());
        let theta = net.to_flat();
        let hess = pr.hessian_at(&net);
        let mut rng = Rng::seed_from_u64(seed);
        for _ in 0..3 {
            let v: Vec<f64> = (0..theta.len()).map(|_| rng.normal()).collect();
            let mut hv = vec![0.0; v.len()];
            hess.apply(&v, &mut hv);
            let h = 1e-5;
            let plus: Vec<f64> = theta.iter().zip(&v).map(|(t, vi)| t + h * vi).collect();
            let minus: Vec<f64> = theta.iter().zip(&v).map(|(t, vi)| t - h * vi).collect();
            let gp = pr.gradient_flat(&LinearNet::from_flat(m, d, &plus).expect("len"));
            let gm = pr.gradient_flat(&LinearNet::from_flat(m, d, &minus).expect("len"));
            let num: f64 = hv
                .iter()
                .zip(gp.iter().zip(&gm))
                .map(|(a, (p, q))| (a - (p - q) / (2.0 * h)).powi(2))
                .sum::<f64>()
                .sqrt();
            let den = hv.iter().map(|a| a * a).sum::<f64>().sqrt();
            assert!(
                num / den < 1e-8,
                "{init:?} t={taken}: HVP vs FD {:e}",
                num / den
            );
        }
    }
}

#[test]
fn dense_hessian_is_symmetric_and_equals_fd_and_analytic_hessians() {
    for (init, seed, taken) in [(LinearInit::Symmetric, 6, 4), (LinearInit::Random, 7, 1)] {
        let run = tiny_run_after(init, seed, taken);
        let pr = run.problem();
        let net = run.net().clone();
        let (m, d) = (net.m(), net.d());
        let p = net.num_params();
        let hess = pr.hessian_at(&net);
        // Raw columns (not symmetrised) to test symmetry of the operator itself.
        let mut raw = DMatrix::<f64>::zeros(p, p);
        let mut e = vec![0.0; p];
        let mut col = vec![0.0; p];
        for j in 0..p {
            e[j] = 1.0;
            hess.apply(&e, &mut col);
            e[j] = 0.0;
            for i in 0..p {
                raw[(i, j)] = col[i];
            }
        }
        let scale = raw.amax();
        assert!(
            (&raw - raw.transpose()).amax() / scale < 1e-14,
            "HVP not symmetric"
        );
        let dense = dense_from_operator(p, |v, o| hess.apply(v, o));
        // Finite-difference Hessian from the analytic gradient.
        let theta = net.to_flat();
        let h = 1e-5;
        let mut fdh = DMatrix::<f64>::zeros(p, p);
        for j in 0..p {
            let mut tp = theta.clone();
            tp[j] += h;
            let mut tm = theta.clone();
            tm[j] -= h;
            let gp = pr.gradient_flat(&LinearNet::from_flat(m, d, &tp).expect("len"));
            let gm = pr.gradient_flat(&LinearNet::from_flat(m, d, &tm).expect("len"));
            for i in 0..p {
                fdh[(i, j)] = (gp[i] - gm[i]) / (2.0 * h);
            }
        }
        let fd_err = (&dense - &fdh).amax() / scale;
        assert!(fd_err < 1e-8, "{init:?}: dense vs FD Hessian {fd_err:e}");
        // Independent analytic assembly.
        let indep = Dense::from_arrays(run.x(), run.y(), run.w(), run.a()).hessian();
        let an_err = (&dense - &indep).amax() / scale;
        assert!(
            an_err < 1e-13,
            "{init:?}: dense vs analytic Hessian {an_err:e}"
        );
    }
}

#[test]
fn gauss_newton_part_has_the_eigenvalues_of_m() {
    // Seed §5.1 claims G and M share their non-zero eigenvalues; true with G = (2/n) JᵀJ.
    let run = tiny_run_after(LinearInit::Random, 8, 2);
    let pr = run.problem();
    let net = run.net().clone();
    let hess = pr.hessian_at(&net);
    let g = dense_from_operator(hess.dim(), |v, o| hess.apply_gauss_newton(v, o));
    let mut ge: Vec<f64> = SymmetricEigen::new(g).eigenvalues.iter().copied().collect();
    ge.sort_by(|a, b| b.total_cmp(a));
    let mm = Dense::from_arrays(run.x(), run.y(), run.w(), run.a()).gram();
    let mut me: Vec<f64> = SymmetricEigen::new(mm)
        .eigenvalues
        .iter()
        .copied()
        .collect();
    me.sort_by(|a, b| b.total_cmp(a));
    // M has rank ≤ min(n, d); its non-zero eigenvalues must be G's, and G has no others.
    let nz = me.iter().filter(|v| **v > 1e-10 * me[0]).count();
    assert!(nz >= 1);
    for i in 0..nz {
        assert!(
            rel(ge[i], me[i]) < 1e-10,
            "eig {i}: G {} vs M {}",
            ge[i],
            me[i]
        );
    }
    assert!(ge[nz..].iter().all(|v| v.abs() < 1e-10 * ge[0]), "{ge:?}");
}

#[test]
fn lanczos_sharpness_equals_dense_top_eigenvalue_along_runs() {
    // Warm-started Lanczos at every step of several tiny runs, including one that catapults.
    for (init, seed, lr) in [
        (LinearInit::Symmetric, 11, 0.3),
        (LinearInit::Random, 12, 0.3),
        (LinearInit::Symmetric, 13, 1.2),
    ] {
        let c = tiny_params(init, seed, lr, 40).check().expect("valid");
        let mut run = LinearRun::new(&c);
        let mut checked = 0;
        while !run.is_finished() {
            let dense = Dense::from_arrays(run.x(), run.y(), run.w(), run.a());
            let Some(row) = run.step() else { break };
            let s = row.sharpness.expect("eig every step");
            let exact = top_eig(&dense.hessian());
            assert!(
                rel(s, exact) < 1e-8,
                "{init:?} lr {lr} t {}: Lanczos {s} vs dense {exact}",
                row.t
            );
            let l1 = row.lambda1_m.expect("eig every step");
            assert!(rel(l1, top_eig(&dense.gram())) < 1e-12);
            checked += 1;
        }
        assert!(checked > 10);
    }
}

// ---------------------------------------------------------------------------------------------
// The li-linear preset run, shared by several tests.

struct PresetRun {
    rows: Vec<LinearRow>,
    summary: LinearSummary,
    f0: Vec<f64>,
}

fn preset() -> &'static PresetRun {
    static RUN: OnceLock<PresetRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let c = LinearParams::li_linear().check().expect("preset valid");
        let mut run = LinearRun::new(&c);
        let f0 = run.net().outputs(run.x()).to_vec();
        run.run_all();
        PresetRun {
            rows: run.rows().to_vec(),
            summary: run.summary(),
            f0,
        }
    })
}

#[test]
fn corrected_identities_hold_to_round_off_over_the_preset_run() {
    let pr = preset();
    assert_eq!(pr.summary.outcome, Some(Outcome::Completed));
    let p = LinearParams::li_linear();
    assert_eq!(pr.rows.len(), p.steps + 1);
    for r in &pr.rows[..p.steps] {
        let res = r
            .residuals
            .as_ref()
            .expect("residuals on every stepped row");
        for (name, v) in [
            ("Lemma 4", res.d_lemma4),
            ("|A|^2 update", res.a_norm2),
            ("Lemma 5 corrected", res.m_lemma5_corrected),
            ("v1 expansion", res.v1_expansion),
        ] {
            assert!(v <= 1e-10, "t {}: {name} residual {v:e}", r.t);
        }
        // The printed Lemma 5 fails whenever F ≠ 0, i.e. at every step after t = 0.
        if r.t >= 1 {
            assert!(
                res.m_lemma5_printed > 1e-3,
                "t {}: printed Lemma 5 unexpectedly holds ({:e})",
                r.t,
                res.m_lemma5_printed
            );
        } else {
            assert!(
                res.m_lemma5_printed < 1e-12,
                "F_0 = 0 makes it exact at t = 0"
            );
        }
    }
    assert!(pr.rows[p.steps].residuals.is_none());
    let max = pr.summary.max_residuals.as_ref().expect("steps taken");
    assert!(max.m_lemma5_printed > 0.1, "{max:?}");
    assert!(max.m_lemma5_proof_printed > 1e-2, "{max:?}");
}

#[test]
fn preset_sharpens_progressively_to_two_over_eta() {
    let pr = preset();
    let s = &pr.summary;
    let thr = s.two_over_eta;
    let first = &pr.rows[0];
    assert!(first.sharpness.expect("eig") < 0.3 * thr);
    let cross = s.first_sharpness_crossing.expect("sharpness reaches 2/η");
    assert!((30..=300).contains(&cross), "crossing at {cross}");
    let lcross = s.first_lambda1_m_crossing.expect("λ1(M) reaches 2/η");
    assert!(cross.abs_diff(lcross) <= 5);
    // ‖A‖² rises with the sharpness.
    let at = &pr.rows[cross];
    assert!(
        at.a_norm2 > 10.0 * first.a_norm2,
        "{} vs {}",
        at.a_norm2,
        first.a_norm2
    );
    let mut rises = 0;
    for w in pr.rows[..=cross].windows(2) {
        if w[1].a_norm2 > w[0].a_norm2 && w[1].sharpness > w[0].sharpness {
            rises += 1;
        }
    }
    assert!(rises as f64 > 0.9 * cross as f64, "{rises} of {cross}");
    // v1ᵀMv1 ≤ λ1(M) (Lemma 3's easy half).
    for r in &pr.rows {
        assert!(r.v1_m_v1 <= r.lambda1_m.expect("eig") * (1.0 + 1e-12));
    }
}

#[test]
fn fd_negative_while_sharpening_symmetric_init() {
    // Seed §5.3: with symmetric init, ⟨F_t, D_t⟩ < 0 as long as λ1(M_t) < 2/η.
    let pr = preset();
    assert!(
        pr.f0.iter().all(|v| *v == 0.0),
        "symmetric init gives F_0 = 0 exactly"
    );
    assert_eq!(
        pr.rows[0].f_dot_d, 0.0,
        "so the claim is an equality at t = 0"
    );
    let thr = pr.summary.two_over_eta;
    let cross = pr.summary.first_lambda1_m_crossing.expect("crosses");
    for r in &pr.rows[1..cross] {
        assert!(r.lambda1_m.expect("eig") < thr);
        assert!(r.f_dot_d < 0.0, "t {}: ⟨F,D⟩ = {}", r.t, r.f_dot_d);
    }
    // After the trajectory has reached 2/η the claim is false: during the catapult λ1(M) drops
    // below 2/η while ⟨F,D⟩ > 0 (reported in the summary; see linear.rs notes, item 9).
    let c = &pr.summary.fd_claim;
    assert_eq!(c.violations_before_first_crossing, 0);
    assert!(c.violations > 0, "{c:?}");
    let v = c.first_violation.expect("violation");
    assert!(v > cross && pr.rows[v].f_dot_d > 1e-3, "{c:?}");

    // The pre-crossing half on more seeds and shapes (small, fast nets, d > n).
    for seed in 1..5 {
        let p = LinearParams {
            lr: 2.0,
            m: 30,
            d: 16,
            n: 12,
            steps: 150,
            seed,
            init: LinearInit::Symmetric,
            init_scale: 0.1,
            labels: if seed % 2 == 0 {
                LabelKind::Teacher
            } else {
                LabelKind::Random
            },
            eig_every: 1,
        };
        let mut run = LinearRun::new(&p.check().expect("valid"));
        run.run_all();
        let s = run.summary();
        let end = s.first_lambda1_m_crossing.unwrap_or(run.rows().len());
        for r in &run.rows()[1..end] {
            assert!(
                r.f_dot_d < 0.0,
                "seed {seed} t {}: ⟨F,D⟩ = {}",
                r.t,
                r.f_dot_d
            );
        }
    }
}

#[test]
fn fd_claim_fails_below_the_threshold_when_eta_lambda_exceeds_one() {
    // d < n: λ1(M) settles between 1/η and 2/η without reaching 2/η; the top mode of D then
    // oscillates and ⟨F,D⟩ changes sign although λ1(M) < 2/η (linear.rs notes, item 9).
    let p = LinearParams {
        lr: 2.0,
        m: 30,
        d: 8,
        n: 16,
        steps: 60,
        seed: 0,
        init: LinearInit::Symmetric,
        init_scale: 0.1,
        labels: LabelKind::Teacher,
        eig_every: 1,
    };
    let mut run = LinearRun::new(&p.check().expect("valid"));
    run.run_all();
    let thr = 2.0 / p.lr;
    assert!(run.rows().iter().all(|r| r.lambda1_m.expect("eig") < thr));
    let late = &run.rows()[30..];
    assert!(late.iter().all(|r| r.lambda1_m.expect("eig") > 0.9 * thr));
    let worst = run.rows()[1..]
        .iter()
        .map(|r| r.f_dot_d)
        .fold(f64::MIN, f64::max);
    assert!(worst > 1e-2, "max ⟨F,D⟩ {worst}");
    let c = run.summary().fd_claim;
    assert!(
        c.violations > 10 && c.violations_before_first_crossing == c.violations,
        "{c:?}"
    );
    assert_eq!(c.max_violation, worst);
}

#[test]
fn runs_are_deterministic_and_divergence_is_an_outcome() {
    let p = LinearParams {
        steps: 20,
        ..tiny_params(LinearInit::Symmetric, 21, 0.3, 20)
    };
    let c = p.check().expect("valid");
    let mut a = LinearRun::new(&c);
    let mut b = LinearRun::new(&c);
    assert_eq!(a.run_all(), b.run_all());
    let mut other = LinearRun::new(
        &LinearParams {
            seed: 22,
            ..p.clone()
        }
        .check()
        .expect("ok"),
    );
    assert_ne!(a.rows()[1].loss, other.run_all()[1].loss);

    let big = LinearParams {
        lr: 50.0,
        steps: 200,
        ..p
    };
    let mut run = LinearRun::new(&big.check().expect("valid"));
    run.run_all();
    match run.outcome() {
        Some(Outcome::Diverged { step, reason }) => {
            assert_eq!(run.rows().len(), *step);
            assert!(*step < 200, "{step}");
            assert!(!reason.is_empty());
            assert!(run.rows().iter().all(|r| r.loss.is_finite()));
        }
        other => panic!("expected divergence, got {other:?}"),
    }
    assert!(run.step().is_none());
    assert!(run.summary().outcome.expect("finished").is_diverged());
}

#[test]
fn bad_parameters_are_rejected_with_the_parameter_named() {
    let ok = LinearParams::li_linear();
    for (p, name) in [
        (
            LinearParams {
                lr: -1.0,
                ..ok.clone()
            },
            "lr",
        ),
        (
            LinearParams {
                m: 99,
                ..ok.clone()
            },
            "m",
        ),
        (
            LinearParams {
                steps: 0,
                ..ok.clone()
            },
            "steps",
        ),
        (
            LinearParams {
                init_scale: f64::INFINITY,
                ..ok.clone()
            },
            "init_scale",
        ),
        (LinearParams { n: 0, ..ok.clone() }, "n"),
    ] {
        let e = p.check().expect_err("must reject").to_string();
        assert!(e.contains(&format!("`{name}`")), "{e}");
    }
    let e = LinearParams { m: 99, ..ok }
        .check()
        .expect_err("odd m")
        .to_string();
    assert!(e.contains("even") && e.contains("F_0 = 0"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Export round trip.

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<Option<f64>>>) {
    let text = std::fs::read_to_string(path).expect("read csv");
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|c| {
                    if c.is_empty() {
                        None
                    } else {
                        Some(c.parse::<f64>().expect("number"))
                    }
                })
                .collect()
        })
        .collect();
    (header, rows)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eos-theory-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Re-check an exported run from its files with the independent dense code: every saved
/// step's loss, ‖A‖², ‖W‖², ⟨F,D⟩, λ1(M) and exact sharpness against metrics.csv (1e-9).
/// Returns the parsed header and rows.
fn check_export(
    dir: &Path,
    p: &LinearParams,
    every: usize,
) -> (Vec<String>, Vec<Vec<Option<f64>>>) {
    let (header, rows) = read_csv(&dir.join("metrics.csv"));
    assert_eq!(header, METRICS_COLUMNS);
    assert_eq!(rows.len(), p.steps + 1);
    let col = |name: &str| header.iter().position(|h| h == name).expect("column");

    let mut train =
        ndarray_npy::NpzReader::new(std::fs::File::open(dir.join("train.npz")).expect("train.npz"))
            .expect("npz");
    let x: Array2<f64> = train.by_name("X").expect("X");
    let y: Array1<f64> = train.by_name("Y").expect("Y");
    assert_eq!(x.dim(), (p.d, p.n));
    assert_eq!(y.len(), p.n);

    let mut snapshots = 0;
    for t in (0..=p.steps).step_by(every) {
        let path = dir.join(format!("params_step{t}.npz"));
        let mut npz =
            ndarray_npy::NpzReader::new(std::fs::File::open(&path).expect("params")).expect("npz");
        let a: Array1<f64> = npz.by_name("A").expect("A");
        let w: Array2<f64> = npz.by_name("W").expect("W");
        assert_eq!(w.dim(), (p.m, p.d));
        let dense = Dense::from_arrays(&x, &y, &w, &a);
        let row = &rows[t];
        assert_eq!(row[col("t")], Some(t as f64));
        let f = dense.outputs();
        let dres = dense.residual();
        let checks = [
            ("loss", dense.loss()),
            ("a_norm2", dense.a.norm_squared()),
            ("w_norm2", dense.w.norm_squared()),
            ("f_dot_d", f.dot(&dres)),
            ("lambda1_m", top_eig(&dense.gram())),
            ("sharpness", top_eig(&dense.hessian())),
        ];
        for (name, want) in checks {
            let got = row[col(name)].expect("cell");
            // ⟨F,D⟩ is exactly 0 at t = 0 (symmetric init): compare absolutely there.
            let err = if want == 0.0 {
                got.abs()
            } else {
                rel(got, want)
            };
            assert!(
                err < 1e-9,
                "t {t} {name}: csv {got} vs independent {want} ({err:e})"
            );
        }
        snapshots += 1;
    }
    assert_eq!(snapshots, p.steps / every + 1);
    assert!(!dir.join("params_step3.npz").exists());

    (header, rows)
}

#[test]
fn export_round_trip_recomputed_independently() {
    let p = LinearParams {
        lr: 0.8,
        m: 10,
        d: 8,
        n: 6,
        steps: 40,
        seed: 5,
        init: LinearInit::Symmetric,
        init_scale: 0.3,
        labels: LabelKind::Random,
        eig_every: 1,
    };
    let c = p.check().expect("valid");
    let dir = temp_dir("linear-export");
    let opts = LinearWriteOptions {
        save_params: Some(SaveSteps::Every(5)),
        save_data: true,
    };
    let mut run = LinearRun::new(&c);
    let mut seen = 0;
    let summary = write_run(&dir, &mut run, &opts, |_| seen += 1).expect("write");
    assert_eq!(seen, p.steps + 1);
    assert_eq!(summary.rows, p.steps + 1);

    let (header, rows) = check_export(&dir, &p, 5);
    let col = |name: &str| header.iter().position(|h| h == name).expect("column");
    // config.json is enough to rerun: same parameters give the same metrics.
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("json");
    let back: LinearParams = serde_json::from_value(cfg["params"].clone()).expect("params");
    assert_eq!(back, p);
    let mut again = LinearRun::new(&back.check().expect("valid"));
    again.run_all();
    for (r, csv) in again.rows().iter().zip(&rows) {
        assert_eq!(Some(r.loss), csv[col("loss")]);
        assert_eq!(r.sharpness, csv[col("sharpness")]);
    }
    let summary_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary_json["rows"], serde_json::json!(p.steps + 1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn problem_rejects_mismatched_shapes() {
    let x = Array2::<f64>::zeros((3, 4));
    let y = Array1::<f64>::zeros(5);
    assert!(LinearProblem::new(x, y).is_err());
    assert!(LinearNet::from_flat(3, 2, &[0.0; 5]).is_err());
}

// ---------------------------------------------------------------------------------------------
// The binary's `simulate linear`.

#[test]
fn cli_linear_writes_a_run_that_rechecks_independently() {
    let bin = env!("CARGO_BIN_EXE_eos-explorer");
    let dir = temp_dir("linear-cli");
    let out = std::process::Command::new(bin)
        .args([
            "simulate",
            "linear",
            "--preset",
            "li-linear",
            "--lr",
            "0.8",
            "--m",
            "10",
        ])
        .args([
            "--d",
            "8",
            "--n",
            "6",
            "--steps",
            "30",
            "--seed",
            "5",
            "--init",
            "symmetric",
        ])
        .args([
            "--init-scale",
            "0.3",
            "--labels",
            "random",
            "--save-params",
            "every:10",
        ])
        .args(["--save-data", "--out"])
        .arg(&dir)
        .output()
        .expect("run binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Lemma 5 as printed",
        "corrected",
        "exact sharpness",
        "outcome: completed",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing in {stdout}");
    }
    let p = LinearParams {
        lr: 0.8,
        m: 10,
        d: 8,
        n: 6,
        steps: 30,
        seed: 5,
        init: LinearInit::Symmetric,
        init_scale: 0.3,
        labels: LabelKind::Random,
        eig_every: 1,
    };
    check_export(&dir, &p, 10);
    // The numpy re-check, when python3 with numpy is available.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/verify_linear.py");
    let has_numpy = std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_numpy {
        let v = std::process::Command::new("python3")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("python3");
        assert!(
            v.status.success(),
            "verify_linear.py failed:\n{}",
            String::from_utf8_lossy(&v.stdout)
        );
    } else {
        eprintln!("python3 with numpy not available: skipping scripts/verify_linear.py");
    }
    let _ = std::fs::remove_dir_all(&dir);

    for (args, needle) in [
        (vec!["--save-params", "every:0"], "every:0"),
        (vec!["--save-params", "1,x"], "not a step number"),
        (vec!["--save-data"], "--out"),
        (vec!["--m", "7"], "even"),
        (vec!["--lr", "-1"], "`lr`"),
        (vec!["--init", "zeros"], "zeros"),
    ] {
        let bad = std::process::Command::new(bin)
            .args(["simulate", "linear"])
            .args(&args)
            .output()
            .expect("run binary");
        assert!(!bad.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
