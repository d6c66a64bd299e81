//! The run loop: stop rules, divergence as a normal outcome, optimizers, η changes, reset,
//! observers and reproducibility.

use eos_explorer::engine::config::{Optimizer, RunConfig};
use eos_explorer::engine::data::DatasetSpec;
use eos_explorer::engine::session::{Cadence, Observer, Runner, Session, StepRecord, StopReason};
use eos_explorer::engine::{Precision, error::EngineError};
use std::sync::{Arc, Mutex};

fn small(lr: f64, steps: usize) -> RunConfig {
    RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 200,
            n_test: 100,
        },
        hidden: vec![16],
        lr,
        max_steps: steps,
        eig_every: 1,
        test_every: 5,
        threads: 2,
        chunk_rows: 64,
        precision: Precision::F64,
        ..RunConfig::default()
    }
}

fn run_all(cfg: &RunConfig) -> (Vec<StepRecord>, StopReason) {
    let (mut s, _) = Session::from_config(cfg).expect("session");
    let mut recs = Vec::new();
    loop {
        let (r, stop) = s.step().expect("not finished");
        recs.push(r);
        if let Some(stop) = stop {
            return (recs, stop);
        }
    }
}

#[test]
fn records_every_step_and_finishes_at_max_steps() {
    let (recs, stop) = run_all(&small(0.1, 12));
    assert_eq!(stop, StopReason::MaxSteps { steps: 12 });
    assert_eq!(recs.len(), 13);
    assert!(
        recs.iter()
            .all(|r| r.eigs.as_ref().is_some_and(|e| e[0] > 0.0))
    );
    assert!(recs[0].test_loss.is_some() && recs[1].test_loss.is_none());
    assert!(recs[12].train_loss < recs[0].train_loss);
    // warm-started estimates after the first are cheaper than the cold one
    assert!(recs[5].hvps.unwrap_or(99) < recs[0].hvps.unwrap_or(0));
}

#[test]
fn divergence_is_a_normal_outcome_with_the_step() {
    let (recs, stop) = run_all(&small(60.0, 200));
    match stop {
        StopReason::Diverged { step, reason } => {
            assert_eq!(step, recs.len() - 1);
            assert!(reason.contains("loss"), "{reason}");
        }
        other => panic!("expected divergence, got {other:?}"),
    }
}

#[test]
fn accuracy_goal_and_loss_goal_stop_the_run() {
    let mut c = small(0.5, 2000);
    c.acc_goal = Some(0.9);
    let (recs, stop) = run_all(&c);
    assert!(matches!(stop, StopReason::AccuracyGoal { .. }), "{stop:?}");
    assert!(recs.last().and_then(|r| r.train_acc).unwrap_or(0.0) >= 0.9);
    let mut c = small(0.5, 2000);
    c.loss_goal = Some(0.3);
    let (_, stop) = run_all(&c);
    assert!(matches!(stop, StopReason::LossGoal { .. }), "{stop:?}");
}

#[test]
fn same_config_same_numbers_and_reset_replays() {
    let c = small(0.2, 6);
    let (a, _) = run_all(&c);
    let (b, _) = run_all(&c);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.train_loss.to_bits(), y.train_loss.to_bits());
        assert_eq!(x.eigs, y.eigs);
    }
    let (mut s, _) = Session::from_config(&c).expect("session");
    let first = s.step().expect("step").0.train_loss;
    s.step();
    s.reset();
    assert_eq!(
        s.step().expect("step").0.train_loss.to_bits(),
        first.to_bits()
    );
}

#[test]
fn learning_rate_changes_between_steps_and_moves_the_threshold() {
    let (mut s, _) = Session::from_config(&small(0.1, 10)).expect("session");
    let r0 = s.step().expect("step").0;
    assert!((r0.threshold - 20.0).abs() < 1e-12);
    s.set_lr(0.25).expect("valid lr");
    let r1 = s.step().expect("step").0;
    assert!((r1.threshold - 8.0).abs() < 1e-12 && r1.lr == 0.25);
    assert!(s.set_lr(-1.0).is_err());
    assert!(s.set_lr(f64::NAN).is_err());
}

#[test]
fn momentum_and_gradient_flow_run_and_descend() {
    for opt in [
        Optimizer::Polyak { beta: 0.9 },
        Optimizer::Nesterov { beta: 0.9 },
        Optimizer::Flow {
            c: 1.0,
            max_step: 1.0,
        },
    ] {
        let mut c = small(0.05, 20);
        c.optimizer = opt;
        let (recs, stop) = run_all(&c);
        assert_eq!(stop, StopReason::MaxSteps { steps: 20 }, "{opt:?}");
        assert!(recs[20].train_loss < recs[0].train_loss, "{opt:?}");
    }
    // Gradient flow with η = 0.05 tracks GD with a small step closely over the same time.
    let mut flow = small(0.05, 10);
    flow.optimizer = Optimizer::Flow {
        c: 0.5,
        max_step: 0.01,
    };
    let mut gd = small(0.001, 500);
    gd.eig_every = 0;
    let (f, _) = run_all(&flow);
    let (g, _) = run_all(&gd);
    let rel = (f[10].train_loss - g[500].train_loss).abs() / g[500].train_loss;
    assert!(
        rel < 1e-3,
        "flow {} vs small-step GD {}",
        f[10].train_loss,
        g[500].train_loss
    );
}

struct Collect(Arc<Mutex<Vec<usize>>>);
impl Observer for Collect {
    fn observe(&mut self, _s: &Session, r: &StepRecord) -> Result<(), EngineError> {
        if let Ok(mut v) = self.0.lock() {
            v.push(r.step);
        }
        Ok(())
    }
}

#[test]
fn runner_calls_observers_on_their_cadence_and_honours_the_stop_flag() {
    let (s, _) = Session::from_config(&small(0.1, 10)).expect("session");
    let mut runner = Runner::new(s);
    let seen = Arc::new(Mutex::new(Vec::new()));
    runner.add_observer(Cadence::Every(4), Box::new(Collect(seen.clone())));
    let stop = runner.run().expect("run");
    assert_eq!(stop, StopReason::MaxSteps { steps: 10 });
    assert_eq!(*seen.lock().expect("lock"), vec![0, 4, 8, 10]);

    let (s, _) = Session::from_config(&small(0.1, 1000)).expect("session");
    let mut runner = Runner::new(s);
    runner.step_once().expect("step");
    runner
        .stop_flag()
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let stop = runner.run().expect("run");
    assert_eq!(stop, StopReason::Stopped { step: 1 });
}

#[test]
fn invalid_configs_are_explained() {
    let mut c = small(0.1, 10);
    c.hidden = vec![0];
    assert!(Session::from_config(&c).is_err());
    let mut c = small(0.1, 10);
    c.dataset = DatasetSpec::Digits {
        n_train: 5000,
        n_test: 0,
    };
    let e = Session::from_config(&c)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("1797") || e.contains("1,797"), "{e}");
}

#[test]
fn exported_parameters_are_those_of_the_record() {
    use eos_explorer::engine::network::{Evaluator, LossKind, batch_from_f64};
    use ndarray::{Array1, Array2};
    use ndarray_npy::NpzReader;
    let c = small(0.3, 5);
    let (mut s, data) = Session::from_config(&c).expect("session");
    let t = &data.train;
    let batch = batch_from_f64(&t.x, &t.targets.mse_targets(), t.targets.labels());
    let mut ev = Evaluator::<f64>::new(s.spec().clone(), LossKind::Mse, batch, 1, 1000);
    let path = std::env::temp_dir().join(format!("eos-params-{}.npz", std::process::id()));
    for _ in 0..4 {
        let (rec, _) = s.step().expect("step");
        let p = s.params_f64();
        let l = ev.loss(&p).loss;
        assert!(
            (l - rec.train_loss).abs() <= 1e-12 * l,
            "step {}: {l} vs {}",
            rec.step,
            rec.train_loss
        );
        // The NPZ holds the same θ_t, layer by layer in PyTorch layout.
        s.write_params_npz(&path).expect("npz");
        let mut npz = NpzReader::new(std::fs::File::open(&path).expect("open")).expect("npz");
        let mut flat: Vec<f64> = Vec::new();
        for i in 1..=s.spec().layout().len() {
            let w: Array2<f64> = npz.by_name(&format!("W{i}")).expect("W");
            let b: Array1<f64> = npz.by_name(&format!("b{i}")).expect("b");
            flat.extend(w.iter());
            flat.extend(b.iter());
        }
        assert_eq!(flat, p);
    }
    let _ = std::fs::remove_file(path);
}

#[test]
fn fork_continues_identically_and_diverges_with_another_lr() {
    for precision in [Precision::F64, Precision::F32] {
        let mut c = small(0.2, 40);
        c.precision = precision;
        c.optimizer = Optimizer::Polyak { beta: 0.5 };
        let (mut s, _) = Session::from_config(&c).expect("session");
        for _ in 0..6 {
            s.step().expect("step");
        }
        let mut same = s.fork();
        let mut other = s.fork();
        assert_eq!(same.step_index(), s.step_index());
        assert_eq!(same.params_f64(), s.params_f64());
        other.set_lr(0.05).expect("lr");
        for _ in 0..5 {
            let (a, _) = s.step().expect("original");
            let (b, _) = same.step().expect("fork");
            let (o, _) = other.step().expect("other fork");
            assert_eq!(a.step, b.step);
            assert_eq!(a.step, o.step);
            assert_eq!(
                a.train_loss.to_bits(),
                b.train_loss.to_bits(),
                "{precision:?} step {}",
                a.step
            );
            assert_eq!(a.eigs, b.eigs);
            assert_eq!(a.lr, b.lr);
            assert_eq!(o.lr, 0.05);
        }
        assert_eq!(s.params_f64(), same.params_f64());
        assert_ne!(s.params_f64(), other.params_f64());
        // The first step of a fork is measured at the same θ, so only later losses differ.
        let (a, _) = s.step().expect("original");
        let (o, _) = other.step().expect("other");
        assert_ne!(a.train_loss, o.train_loss);
    }
}
