//! Damian et al.'s quantities measured on real GD (engine::theory::measured): ∇S from finite
//! differences of exact HVPs against finite differences of the dense λ1, the definitions of α, β,
//! δ, the predicted map, and the x_t / y_t bookkeeping on a short f64 run that crosses 2/η.

use eos_explorer::engine::Precision;
use eos_explorer::engine::Rng;
use eos_explorer::engine::config::RunConfig;
use eos_explorer::engine::lanczos::{dense_eigenvalues, dense_from_operator};
use eos_explorer::engine::model::{Activation, Init, MlpSpec};
use eos_explorer::engine::network::{Batch, Evaluator, LossKind};
use eos_explorer::engine::presets::{self, PresetKind};
use eos_explorer::engine::probe::{FolderSink, ProbeConfig, ProbeObserver, ProbeReport};
use eos_explorer::engine::session::{Cadence, Runner, Session};
use eos_explorer::engine::theory::measured::{
    CSV_COLUMNS, Derivatives, MAP_RANGE_DELTAS, MeasuredTracker, Phase, StepInput, TheoryOptions,
    TheoryProbe, TheoryRow, evaluator_in, measure_anchor, predicted_lambda1, predicted_step,
    sharpness_gradient, top_eigen,
};
use eos_explorer::engine::theory::self_stab::SelfStabParams;
use ndarray::Array2;

fn tiny(act: Activation, loss: LossKind, seed: u64) -> (Evaluator<f64>, Vec<f64>) {
    let (n, d, h, c) = (11, 3, 4, 2);
    let mut rng = Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, d), |_| rng.normal());
    let labels: Vec<u8> = (0..n).map(|_| rng.below(c) as u8).collect();
    let mut y = Array2::zeros((n, c));
    for (i, &l) in labels.iter().enumerate() {
        y[(i, l as usize)] = 1.0;
    }
    let spec = MlpSpec {
        input_dim: d,
        hidden: vec![h, 3],
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

fn dense_lambda1(ev: &mut Evaluator<f64>, p: &[f64]) -> (f64, f64) {
    let h = dense_from_operator(p.len(), |v, out| {
        let r = Derivatives::hvp(ev, p, v).expect("hvp");
        out.copy_from_slice(&r);
    });
    let e = dense_eigenvalues(&h);
    (e[0], e[1])
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn sharpness_gradient_matches_finite_differences_of_lambda1() {
    for (k, (act, loss)) in [
        (Activation::Tanh, LossKind::Mse),
        (Activation::Softplus, LossKind::CrossEntropy),
    ]
    .into_iter()
    .enumerate()
    {
        let (mut ev, p) = tiny(act, loss, 10 + k as u64);
        let (l1, l2) = dense_lambda1(&mut ev, &p);
        assert!(l1 - l2 > 1e-3 * l1.abs(), "need a simple top eigenvalue");
        let eig = top_eigen(&mut ev, &p, 2, 1e-14, 500, 1, &[], true).expect("eig");
        assert!((eig.eigenvalues[0] - l1).abs() < 1e-10 * l1.abs());
        assert!(eig.residual < 1e-8 * l1.abs(), "residual {}", eig.residual);
        let gs = sharpness_gradient(&mut ev, &p, &eig.u, None).expect("∇S");
        assert!(gs.rel_change < 1e-4, "fd consistency {}", gs.rel_change);
        let gnorm = dot(&gs.grad, &gs.grad).sqrt();
        let mut rng = Rng::seed_from_u64(99 + k as u64);
        let h = 1e-4;
        for _ in 0..3 {
            let mut d: Vec<f64> = (0..p.len()).map(|_| rng.normal()).collect();
            let dn = dot(&d, &d).sqrt();
            d.iter_mut().for_each(|x| *x /= dn);
            let plus: Vec<f64> = p.iter().zip(&d).map(|(a, b)| a + h * b).collect();
            let minus: Vec<f64> = p.iter().zip(&d).map(|(a, b)| a - h * b).collect();
            let fd =
                (dense_lambda1(&mut ev, &plus).0 - dense_lambda1(&mut ev, &minus).0) / (2.0 * h);
            let an = dot(&gs.grad, &d);
            let err = (fd - an).abs() / gnorm;
            assert!(
                err < 1e-5,
                "{act:?}/{loss:?}: dλ1/dd fd {fd} vs ∇S·d {an} (rel. to ‖∇S‖ {err:.2e})"
            );
        }
    }
}

#[test]
fn alpha_beta_delta_definitions() {
    let (mut ev, p) = tiny(Activation::Tanh, LossKind::Mse, 3);
    let opts = TheoryOptions::default();
    let m = measure_anchor(&mut ev, &p, 0.1, 20.0, &opts, &[]).expect("anchor");
    let v = &m.vectors;
    let i = &m.info;
    // ∇S⊥ ⟂ u, ∇S = ∇S⊥ + (uᵀ∇S) u.
    assert!(dot(&v.grad_s_perp, &v.u).abs() < 1e-12 * i.grad_s_norm);
    for ((g, q), u) in v.grad_s.iter().zip(&v.grad_s_perp).zip(&v.u) {
        assert!((g - q - i.grad_s_u * u).abs() < 1e-12 * i.grad_s_norm);
    }
    let (loss, grad) = Derivatives::loss_grad(&mut ev, &p).expect("grad");
    assert!((loss - i.loss).abs() < 1e-14);
    let alpha = -dot(&grad, &v.grad_s_perp);
    let beta = dot(&v.grad_s_perp, &v.grad_s_perp);
    assert!((i.alpha - alpha).abs() <= 1e-12 * alpha.abs().max(1e-12));
    assert!((i.alpha_full + dot(&grad, &v.grad_s)).abs() <= 1e-12 * i.alpha_full.abs().max(1e-12));
    assert!((i.beta - beta).abs() <= 1e-12 * beta);
    if alpha > 0.0 {
        assert!((i.delta - (2.0 * alpha / beta).sqrt()).abs() < 1e-12 * i.delta);
    } else {
        assert!(i.delta.is_nan());
    }
    assert!((i.grad_u - dot(&grad, &v.u)).abs() < 1e-12 * (1.0 + i.grad_norm));
    assert!((i.x_center + i.grad_u / i.lambda1).abs() < 1e-15 + 1e-12 * i.x_center.abs());
    assert!((i.excess0 - (i.lambda1 - 20.0)).abs() < 1e-12);
}

#[test]
fn predicted_step_is_definition_4_1_when_e0_is_zero() {
    let c = SelfStabParams::four_stage_example()
        .check()
        .expect("preset");
    let q = c.params();
    let (mut x, mut y) = (q.x0, 0.0);
    for _ in 0..50 {
        let a = c.map(x, y);
        let b = predicted_step(q.lr, q.alpha, q.beta, 0.0, x, y);
        assert_eq!(a, b);
        (x, y) = a;
    }
    // The excess only enters the x factor.
    let (x1, y1) = predicted_step(0.1, 0.5, 1.0, 0.2, 0.3, 0.4);
    assert!((x1 + (1.0 + 0.1 * 0.6) * 0.3).abs() < 1e-15);
    assert!((y1 - (0.4 + 0.1 * (0.5 - 0.045))).abs() < 1e-15);
}

/// Chebyshev regression, fc-tanh:16,16 in f64, η = 0.5: λ1 crosses 2/η = 4 near step 43.
fn crossing_config(steps: usize) -> RunConfig {
    let Some(PresetKind::Training(c)) = presets::find("chebyshev").map(|p| p.kind) else {
        panic!("chebyshev preset");
    };
    let mut c = *c;
    c.hidden = vec![16, 16];
    c.lr = 0.5;
    c.max_steps = steps;
    c.loss_goal = None;
    c.threads = 1;
    c
}

#[test]
fn x_and_y_bookkeeping_on_a_run() {
    let cfg = crossing_config(75);
    let (mut s, _) = Session::from_config(&cfg).expect("session");
    let opts = TheoryOptions {
        window: 25,
        reanchor_every: 20,
        ..TheoryOptions::default()
    };
    let mut tr = MeasuredTracker::new(s.evaluator_f64(), opts).expect("tracker");
    let mut thetas = Vec::new();
    let mut losses = Vec::new();
    let mut rows = Vec::new();
    while let Some((rec, _stop)) = s.step() {
        let params = s.params_f64();
        let input = StepInput::from_record(&rec, &params);
        if let Some(r) = tr.observe(&input).expect("observe") {
            rows.push(r);
        }
        thetas.push(params);
        losses.push(rec.train_loss);
    }
    assert_eq!(*tr.phase(), Phase::Done);
    let anchors = tr.anchors();
    assert_eq!(anchors.len(), 2, "first crossing plus one re-anchor");
    let a0 = &anchors[0];
    let t0 = a0.info.step;
    assert!((30..60).contains(&t0), "crossing at step {t0}");
    assert!(a0.info.crossed_from_below);
    assert!(a0.info.lambda1 >= a0.info.threshold);
    let (at, before) = a0.info.lambda1_before.expect("a probe before the crossing");
    assert_eq!(at + 1, t0, "probed every step near the threshold");
    assert!(before < a0.info.threshold);
    assert!(
        a0.info.alpha > 0.0,
        "progressive sharpening at the crossing"
    );
    assert_eq!(anchors[1].info.step, t0 + 20);
    assert_eq!(rows.len(), 25);
    assert_eq!(a0.vectors.theta0, thetas[t0]);
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(r.step, t0 + k);
        let a = if k < 20 { &anchors[0] } else { &anchors[1] };
        assert_eq!(r.anchor, a.info.index);
        assert_eq!(r.t, r.step - a.info.step);
        let th = &thetas[r.step];
        let d: Vec<f64> = th
            .iter()
            .zip(&a.vectors.theta0)
            .map(|(p, q)| p - q)
            .collect();
        let x = dot(&a.vectors.u, &d);
        let y = dot(&a.vectors.grad_s_perp, &d);
        assert!((r.x_measured - x).abs() <= 1e-12 * (1.0 + x.abs()));
        assert!((r.y_measured - y).abs() <= 1e-12 * (1.0 + y.abs()));
        assert!((r.loss_change - (losses[r.step] - losses[a.info.step])).abs() < 1e-15);
        assert_eq!(r.alpha, a.info.alpha);
        assert_eq!(r.beta, a.info.beta);
        if r.t == 0 {
            assert_eq!((r.x_measured, r.y_measured), (0.0, 0.0));
            assert_eq!(r.y_predicted, Some(0.0));
            assert!(r.x_predicted.is_some_and(|x| x.abs() < 1e-15));
            assert!((r.lambda1_minus_threshold - a.info.excess0).abs() < 1e-5);
        }
        if r.t == 1 {
            // One GD step along u: x₁ = −η uᵀ∇L(θ₀), which the centred start reproduces.
            let x1 = -a.info.lr * a.info.grad_u;
            assert!((r.x_measured - x1).abs() < 1e-6 * (1.0 + x1.abs()));
            assert!(
                r.x_predicted
                    .is_some_and(|p| (p - x1).abs() < 1e-3 * x1.abs() + 1e-12)
            );
        }
    }
    // The map stepped alongside: row t+1 follows from row t.
    let i = &a0.info;
    for w in rows[..20].windows(2) {
        let (xp, yp) = (w[0].x_predicted.expect("x"), w[0].y_predicted.expect("y"));
        let (x1, y1) = predicted_step(i.lr, i.alpha, i.beta, i.excess0, xp - i.x_center, yp);
        assert!(
            (w[1].x_predicted.expect("x") - (x1 + i.x_center)).abs() < 1e-12 * (1.0 + x1.abs())
        );
        assert!((w[1].y_predicted.expect("y") - y1).abs() < 1e-12 * (1.0 + y1.abs()));
    }
    let rep = tr.report();
    assert_eq!(rep.anchors.len(), 2);
    assert!(rep.anchors[0].agreement.is_some());
}

#[test]
fn observer_writes_csv_and_summary() {
    let dir = std::env::temp_dir().join(format!("eos-theory-measured-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cfg = crossing_config(60);
    let (s, _) = Session::from_config(&cfg).expect("session");
    let opts = TheoryOptions {
        window: 10,
        ..TheoryOptions::default()
    };
    let (sink, results) = FolderSink::new(&dir);
    let obs = ProbeObserver::new(&s, &[ProbeConfig::MeasuredTheory(opts)], sink).expect("observer");
    let mut runner = Runner::new(s);
    runner.add_observer(Cadence::Every(1), Box::new(obs));
    runner.run().expect("run");
    let text = std::fs::read_to_string(dir.join("theory.csv")).expect("csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_COLUMNS.join(",").as_str()));
    assert_eq!(lines.count(), 10);
    let json = std::fs::read_to_string(dir.join("theory_summary.json")).expect("json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid json");
    assert!(
        v["anchors"][0]["anchor"]["alpha"]
            .as_f64()
            .is_some_and(|a| a > 0.0)
    );
    let results = results.lock().expect("lock").clone();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].failed, None);
    let ProbeReport::MeasuredTheory(rep) = &results[0].report else {
        panic!("not the theory's report")
    };
    assert_eq!(rep.anchors.len(), 1);
    assert!(rep.describe().contains("anchor 0"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `cfg` with two trackers side by side, one probing in f64 (`new`), one in f32
/// (`with_cheap_probes`, the f32 copy of the same network and data) with `opts`; returns both.
fn f64_and_f32_trackers(
    cfg: &RunConfig,
    opts: TheoryOptions,
) -> (
    MeasuredTracker<Evaluator<f64>>,
    MeasuredTracker<Evaluator<f64>>,
) {
    let (mut s, _) = Session::from_config(cfg).expect("session");
    let ev64 = s.evaluator_f64();
    let ev32: Evaluator<f32> = evaluator_in(&ev64, cfg.chunk_rows);
    let mut old = MeasuredTracker::new(ev64.clone(), opts.clone().f64_probes()).expect("tracker");
    let mut new = MeasuredTracker::with_cheap_probes(ev64, Box::new(ev32), opts).expect("tracker");
    assert!(!old.has_cheap_probes() && new.has_cheap_probes());
    while let Some((rec, stop)) = s.step() {
        let params = s.params_f64();
        let input = StepInput::from_record(&rec, &params);
        old.observe(&input).expect("observe f64");
        new.observe(&input).expect("observe f32");
        if stop.is_some() {
            break;
        }
    }
    (old, new)
}

/// The f32 probes (Lanczos to 1e-5 on the f32 network, f64 re-probes within 1e-4·2/η of 2/η)
/// find the same crossing step and the same anchor as the f64 probes, and every tracked
/// λ1 − 2/η agrees to 1e-4 (2/η = 4 here, so 2.5e-5 relative: the f32 Lanczos bound 1e-5·λ1
/// plus f32 round-off) and lies on the same side of 2/η.
#[test]
fn f32_probes_agree_with_f64_probes() {
    let cfg = crossing_config(75);
    let opts = TheoryOptions {
        window: 25,
        ..TheoryOptions::default()
    };
    assert_eq!(opts.probe_precision, Precision::F32);
    let (old, new) = f64_and_f32_trackers(&cfg, opts);
    assert_eq!(*new.phase(), Phase::Done);
    let (a, b) = (&old.anchors()[0].info, &new.anchors()[0].info);
    assert_eq!(a.step, b.step, "crossing step");
    assert_eq!(old.rows().len(), 25);
    assert_eq!(new.rows().len(), 25);
    // The anchor is measured in f64 at 1e-12 either way; only its warm start differs.
    for (x, y, what) in [
        (a.lambda1, b.lambda1, "λ1"),
        (a.alpha, b.alpha, "α"),
        (a.beta, b.beta, "β"),
    ] {
        assert!((x - y).abs() <= 1e-8 * x.abs(), "{what}: {x} vs {y}");
    }
    let mut max_diff: f64 = 0.0;
    for (r, q) in old.rows().iter().zip(new.rows()) {
        assert_eq!(r.step, q.step);
        let (x, y) = (r.lambda1_minus_threshold, q.lambda1_minus_threshold);
        max_diff = max_diff.max((x - y).abs());
        assert_eq!(x < 0.0, y < 0.0, "step {}: {x} vs {y}", r.step);
    }
    assert!(max_diff <= 1e-4, "max |Δ(λ1 − 2/η)| = {max_diff:e}");
    let (so, sn) = (old.probe_stats(), new.probe_stats());
    assert_eq!(so.probes, sn.probes, "one probe per probed step either way");
    assert_eq!((so.refinements, so.refinement_hvps), (0, 0));
    assert_eq!(new.report().probe_precision, Precision::F32);
    assert_eq!(old.report().probe_precision, Precision::F64);
}

/// With the refine band as wide as 2/η every f32 probe is redone in f64 at `probe_tol`, so the
/// rows match the f64 tracker's to that tolerance (1e-6 relative) and every probe counts one
/// refinement.
#[test]
fn refinement_redoes_the_probe_in_f64() {
    let cfg = crossing_config(60);
    let opts = TheoryOptions {
        window: 10,
        refine_band: 1.0,
        ..TheoryOptions::default()
    };
    let (old, new) = f64_and_f32_trackers(&cfg, opts);
    let sn = new.probe_stats();
    assert!(sn.probes > 10);
    assert_eq!(sn.refinements, sn.probes);
    assert!(sn.refinement_hvps >= sn.refinements);
    assert_eq!(old.rows().len(), new.rows().len());
    for (r, q) in old.rows().iter().zip(new.rows()) {
        let l = r.lambda1_minus_threshold + 4.0;
        assert!(
            (r.lambda1_minus_threshold - q.lambda1_minus_threshold).abs() <= 2e-6 * l,
            "step {}: {} vs {}",
            r.step,
            r.lambda1_minus_threshold,
            q.lambda1_minus_threshold
        );
    }
}

/// `TheoryProbe` probes in the precision its options ask for.
#[test]
fn theory_probe_builds_the_probes_in_the_asked_precision() {
    let (s, _) = Session::from_config(&crossing_config(5)).expect("session");
    let t = TheoryProbe::tracker_for(&s, TheoryOptions::default()).expect("tracker");
    assert!(t.has_cheap_probes());
    let t = TheoryProbe::tracker_for(&s, TheoryOptions::default().f64_probes()).expect("tracker");
    assert!(!t.has_cheap_probes());
}

/// While λ1 is far below 2/η, the tracker leaves the watching to the run's own λ1 records
/// (no f64 probes between them); without records it probes every `far_probe_every` steps.
#[test]
fn searching_probes_only_when_the_records_do_not_tell() {
    let probes_with = |eig_every: usize| {
        let mut cfg = crossing_config(40);
        cfg.lr = 1e-3; // 2/η = 2000: far above λ1
        cfg.eig_every = eig_every;
        let (mut s, _) = Session::from_config(&cfg).expect("session");
        let mut tr =
            MeasuredTracker::new(s.evaluator_f64(), TheoryOptions::default()).expect("tracker");
        while let Some((rec, stop)) = s.step() {
            let params = s.params_f64();
            let out = tr
                .observe(&StepInput::from_record(&rec, &params))
                .expect("observe");
            assert!(out.is_none(), "no crossing expected");
            if stop.is_some() {
                break;
            }
        }
        tr.probe_stats().probes
    };
    // Records every 20 steps (more than far_probe_every = 10) are enough once their cadence
    // is known: one probe at step 10, before the second record (step 20) shows it; none at
    // step 30 (the old rule probed there too).
    assert_eq!(probes_with(20), 1, "records every 20 steps say λ1 is far");
    // No records: a probe at step 0, then every 10 steps (0, 10, 20, 30, 40).
    assert_eq!(probes_with(0), 5);
}

/// The calibrated re-run recovers the initial condition of a trajectory that really follows
/// the map from another x̃₀ than |x*|, and then predicts its return exactly.
#[test]
fn calibration_recovers_the_true_initial_displacement() {
    use eos_explorer::engine::theory::measured::{AnchorInfo, TheoryRow, calibrated};
    let (lr, alpha, beta, e0, xc) = (0.1, 0.5, 1.0, 0.01, 2e-9);
    let info = AnchorInfo {
        index: 0,
        step: 100,
        lr,
        threshold: 2.0 / lr,
        lambda1: 2.0 / lr + e0,
        lambda2: None,
        excess0: e0,
        lambda1_before: None,
        crossed_from_below: true,
        u_residual: 0.0,
        loss: 1.0,
        grad_norm: 1.0,
        grad_u: -xc * (2.0 / lr + e0),
        x_center: xc,
        alpha,
        alpha_full: alpha,
        beta,
        delta: (2.0 * alpha / beta).sqrt(),
        grad_s_norm: 1.0,
        grad_s_u: 0.0,
        fd_eps: 1e-3,
        fd_rel_change: 0.0,
    };
    // "Measured": the map itself from x̃₀ = 1e-4 (the anchor says |x*| = 2e-9).
    let x0_true = 1e-4;
    let (mut x, mut y) = (x0_true, 0.0);
    let mut rows = Vec::new();
    for t in 0..300 {
        rows.push(TheoryRow {
            t,
            step: 100 + t,
            x_measured: xc + x,
            y_measured: y,
            x_predicted: None,
            y_predicted: None,
            lambda1_minus_threshold: e0 + y,
            loss_change: 0.0,
            alpha,
            beta,
            delta: info.delta,
            anchor: 0,
            excess_predicted: None,
        });
        (x, y) = predicted_step(lr, alpha, beta, e0, x, y);
    }
    let refs: Vec<&TheoryRow> = rows.iter().collect();
    let c = calibrated(&info, &refs).expect("the oscillation reaches δ/10");
    let rel = (c.x0_fitted - x0_true).abs() / x0_true;
    assert!(
        rel < 0.02,
        "fitted x̃₀ {} vs {x0_true} ({rel:.2e})",
        c.x0_fitted
    );
    assert_eq!(c.x0_measured, xc);
    let measured_return = rows
        .iter()
        .find(|r| r.t >= 1 && r.lambda1_minus_threshold < 0.0)
        .map(|r| r.t);
    assert!(measured_return.is_some());
    let d = c
        .predicted_return
        .zip(measured_return)
        .map(|(a, b)| a.abs_diff(b));
    assert!(
        d.is_some_and(|d| d <= 1),
        "{:?} vs {measured_return:?}",
        c.predicted_return
    );
    assert!(c.corr_excess.is_some_and(|r| r > 0.99));
}

/// A `run --theory` folder from a real run (through the CLI's adapter), for the reader tests.
fn theory_folder(tag: &str, steps: usize, window: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("eos-theory-read-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (s, _) = Session::from_config(&crossing_config(steps)).expect("session");
    let opts = TheoryOptions {
        window,
        ..TheoryOptions::default()
    };
    let (sink, _) = FolderSink::new(&dir);
    let obs = ProbeObserver::new(&s, &[ProbeConfig::MeasuredTheory(opts)], sink).expect("observer");
    let mut runner = Runner::new(s);
    runner.add_observer(Cadence::Every(1), Box::new(obs));
    runner.run().expect("run");
    dir
}

/// Rewrite the data lines of `theory.csv` (the header stays).
fn edit_rows(dir: &std::path::Path, f: impl Fn(&mut Vec<String>)) {
    let path = dir.join("theory.csv");
    let text = std::fs::read_to_string(&path).expect("csv");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = lines.remove(0);
    f(&mut lines);
    lines.insert(0, header);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write csv");
}

/// One NaN in the measured x used to make the peak |x| NaN (NaN sorts above every number):
/// the reader now skips that row, says so, and the figures are those of the other rows.
#[test]
fn theory_report_skips_a_row_with_a_non_finite_measurement() {
    use eos_explorer::engine::theory::measured::{anchor_reports, read_theory_run};
    let dir = theory_folder("nan", 90, 30);
    let clean = read_theory_run(&dir).expect("read");
    assert!(clean.skipped.is_empty(), "{:?}", clean.skipped);
    assert_eq!(clean.rows.len(), 30);
    // The row of the largest |x| is the one that matters most.
    let peak = clean
        .rows
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.x_measured.abs().total_cmp(&b.1.x_measured.abs()))
        .map(|(i, _)| i)
        .expect("rows");
    let peak = if peak == 0 { 1 } else { peak };
    edit_rows(&dir, |rows| {
        let mut cells: Vec<&str> = rows[peak].split(',').collect();
        cells[2] = "nan";
        rows[peak] = cells.join(",");
    });
    let run = read_theory_run(&dir).expect("read");
    assert_eq!(run.skipped.len(), 1, "{:?}", run.skipped);
    assert_eq!(run.skipped[0].line, peak + 2);
    assert!(
        run.skipped[0].reason.contains("x_measured"),
        "{}",
        run.skipped[0]
    );
    assert!(run.describe_skipped().contains("skipped 1 of 30 rows"));
    assert_eq!(run.rows.len(), 29);
    let mut expected = clean.rows.clone();
    expected.remove(peak);
    assert_eq!(run.rows, expected);
    let g = anchor_reports(&run.anchors, &run.rows)[0]
        .agreement
        .clone()
        .expect("agreement");
    assert!(g.measured_peak_abs_x.is_finite());
    assert!(g.measured_peak_excess.is_finite());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rows out of step order used to move the measured return below 2/η (from t = 56 to 102 on
/// a real run): the reader keeps only rows that come after the row before, and says which it
/// skipped.
#[test]
fn theory_report_skips_rows_out_of_step_order() {
    use eos_explorer::engine::theory::measured::{anchor_reports, read_theory_run};
    let dir = theory_folder("order", 60, 30);
    let clean = read_theory_run(&dir).expect("read");
    let n = clean.rows.len();
    assert!(n >= 10);
    let want = anchor_reports(&clean.anchors, &clean.rows);

    // Two neighbours swapped: the second of them (now before its predecessor) is skipped.
    edit_rows(&dir, |rows| rows.swap(4, 5));
    let run = read_theory_run(&dir).expect("read");
    assert_eq!(run.skipped.len(), 1, "{:?}", run.skipped);
    assert_eq!(run.skipped[0].line, 7);
    assert!(
        run.skipped[0].reason.contains("step order"),
        "{}",
        run.skipped[0]
    );
    let mut expected = clean.rows.clone();
    expected.remove(4);
    assert_eq!(run.rows, expected);

    // All rows reversed: only the first line can be kept, and every other is reported.
    edit_rows(&dir, |rows| {
        rows.swap(4, 5);
        rows.reverse();
    });
    let run = read_theory_run(&dir).expect("read");
    assert_eq!(run.rows.len(), 1);
    assert_eq!(run.rows[0], clean.rows[n - 1]);
    assert_eq!(run.skipped.len(), n - 1);
    assert!(
        run.describe_skipped()
            .contains(&format!("skipped {} of {n} rows", n - 1))
    );
    // In order again: the same figures as the clean run.
    edit_rows(&dir, |rows| rows.reverse());
    let run = read_theory_run(&dir).expect("read");
    assert!(run.skipped.is_empty());
    assert_eq!(anchor_reports(&run.anchors, &run.rows), want);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sharpness figure's prediction stops where the map leaves its cubic model's range
/// (|x̃| > 10δ or a predicted λ1 ≤ 0) and says where; before that it is the map's 2/η + y_t.
#[test]
fn the_predicted_sharpness_stops_where_the_map_leaves_its_range() {
    let cfg = crossing_config(110);
    let (mut s, _) = Session::from_config(&cfg).expect("session");
    let opts = TheoryOptions {
        window: 70,
        ..TheoryOptions::default()
    };
    let mut tr = MeasuredTracker::new(s.evaluator_f64(), opts).expect("tracker");
    let mut rows = Vec::new();
    while let Some((rec, _stop)) = s.step() {
        let params = s.params_f64();
        if let Some(r) = tr
            .observe(&StepInput::from_record(&rec, &params))
            .expect("observe")
        {
            rows.push(r);
        }
    }
    let a = tr.anchors()[0].info.clone();
    assert!(rows.len() > 20, "{} rows tracked", rows.len());
    let limit = MAP_RANGE_DELTAS * a.delta;
    let out_of_range = |r: &TheoryRow| match (r.x_predicted, r.excess_predicted) {
        (Some(x), Some(e)) => (x - a.x_center).abs() > limit || a.threshold + e <= 0.0,
        _ => true,
    };
    let p = predicted_lambda1(Some(&a), &rows);
    let first_out = rows.iter().position(out_of_range);
    assert_eq!(p.left_range_at, first_out.map(|i| rows[i].step));
    assert_eq!(p.points.len(), first_out.unwrap_or(rows.len()));
    for (pt, r) in p.points.iter().zip(&rows) {
        assert_eq!(pt[0], r.step as f64);
        assert_eq!(Some(pt[1]), r.excess_predicted.map(|e| a.threshold + e));
        assert!(pt[1] > 0.0);
    }
    // Push one row past 10δ: the prediction stops just before it and the note names its step.
    let k = 5.min(p.points.len().saturating_sub(1));
    let mut edited = rows.clone();
    edited[k].x_predicted = Some(a.x_center + 1.5 * limit);
    let q = predicted_lambda1(Some(&a), &edited);
    assert_eq!((q.points.len(), q.left_range_at), (k, Some(edited[k].step)));
    let note = q.cut_note().expect("a note");
    assert!(note.contains(&format!("step {}", edited[k].step)), "{note}");
    assert!(!note.contains("seed"));
}
