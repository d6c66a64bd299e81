//! The training run loop shared by the CLI and the app.
//!
//! As in argmin: a [`Session`] does one step at a time (evaluate at θ_t, measure sharpness,
//! check stop rules, update); a [`Runner`] owns the loop, the stop flag and the observers,
//! each called on its own cadence ([`Cadence::Every`]). The CLI attaches CSV/NPZ/progress
//! observers; the app's worker attaches one that sends events over a channel.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::config::{CheckedConfig, Optimizer, RunConfig};
use super::data::Dataset;
use super::eigen::{WarmStarts, top_eigen};
use super::error::EngineError;
use super::export::{ExportError, NpzFile};
use super::lanczos::{LanczosOptions, LanczosResult};
use super::model::MlpSpec;
use super::network::{Batch, Evaluator, LossStats, batch_from_f64};
use super::{Float, Precision, Rng};

/// What one step measured (at θ_t, before the update to θ_{t+1}).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    pub step: usize,
    /// Compute seconds since the run started (pauses excluded).
    pub wall_s: f64,
    pub lr: f64,
    /// The sharpness at which this update rule becomes unstable (2/η for GD).
    pub threshold: f64,
    pub train_loss: f64,
    pub train_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    /// Top-k Hessian eigenvalues, largest first, when measured at this step.
    pub eigs: Option<Vec<f64>>,
    /// Hessian–vector products the estimate used.
    pub hvps: Option<usize>,
    /// Largest eigen-solve residual ‖Hy − θy‖ among the top-k pairs (Lanczos or the block solver).
    pub lanczos_residual: Option<f64>,
    pub grad_norm: f64,
}

/// Why a run ended. Divergence is a normal outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StopReason {
    MaxSteps { steps: usize },
    AccuracyGoal { step: usize, accuracy: f64 },
    LossGoal { step: usize, loss: f64 },
    Diverged { step: usize, reason: String },
    Stopped { step: usize },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::MaxSteps { steps: 1 } => write!(f, "finished 1 step"),
            StopReason::MaxSteps { steps } => write!(f, "finished {steps} steps"),
            StopReason::AccuracyGoal { step, accuracy } => write!(
                f,
                "train accuracy {:.2}% reached the goal at step {step}",
                accuracy * 100.0
            ),
            StopReason::LossGoal { step, loss } => {
                write!(f, "train loss {loss:.4e} reached the goal at step {step}")
            }
            StopReason::Diverged { step, reason } => {
                write!(f, "diverged at step {step}: {reason}")
            }
            StopReason::Stopped { step } => write!(f, "stopped by the user at step {step}"),
        }
    }
}

/// A run in one precision.
pub struct SessionT<T: Float> {
    config: CheckedConfig,
    dataset_name: String,
    dataset_notes: Vec<String>,
    ev: Evaluator<T>,
    test: Option<Batch<T>>,
    init_params: Vec<T>,
    params: Vec<T>,
    /// θ_t of the last record (`params` has already moved on to θ_{t+1}); what exports and
    /// observers see, so a saved `params_step{t}.npz` matches row t of the metrics.
    recorded: Vec<T>,
    grad: Vec<T>,
    velocity: Vec<T>,
    step: usize,
    lr: f64,
    /// Ritz vectors of the last estimates, for warm starts.
    ritz: WarmStarts,
    last_eigs: Option<Vec<f64>>,
    initial_loss: Option<f64>,
    finished: Option<StopReason>,
    compute_s: f64,
    /// Set from another thread to cut long work short (the sharpness measurement stops
    /// between two HVPs and the step goes on without eigenvalues).
    interrupt: Option<Arc<AtomicBool>>,
}

fn norm<T: Float>(v: &[T]) -> f64 {
    v.iter().map(|x| x.f64() * x.f64()).sum::<f64>().sqrt()
}

impl<T: Float> SessionT<T> {
    pub fn new(config: CheckedConfig, data: &Dataset) -> Result<Self, EngineError> {
        let train = &data.train;
        if train.is_empty() {
            return Err(EngineError::Other("the training set is empty".into()));
        }
        let y = train.targets.mse_targets();
        let spec = config.mlp_spec(train.dim(), train.targets.num_outputs());
        let batch: Batch<T> = batch_from_f64(&train.x, &y, train.targets.labels());
        let test = data
            .test
            .as_ref()
            .filter(|t| !t.is_empty())
            .map(|t| batch_from_f64::<T>(&t.x, &t.targets.mse_targets(), t.targets.labels()));
        let mut rng = Rng::stream(config.seed, "init");
        let init: Vec<T> = spec
            .init_params(config.init, config.init_scale, &mut rng)
            .into_iter()
            .map(T::of)
            .collect();
        let p = init.len();
        let ev = Evaluator::new(spec, config.loss, batch, config.threads, config.chunk_rows);
        Ok(SessionT {
            lr: config.lr,
            dataset_name: data.name.clone(),
            dataset_notes: data.notes.clone(),
            config,
            ev,
            test,
            params: init.clone(),
            recorded: init.clone(),
            init_params: init,
            grad: vec![T::zero(); p],
            velocity: vec![T::zero(); p],
            step: 0,
            ritz: WarmStarts::default(),
            last_eigs: None,
            initial_loss: None,
            finished: None,
            compute_s: 0.0,
            interrupt: None,
        })
    }

    /// An independent copy at the current state (θ_{t+1}, the recorded θ_t, momentum, step,
    /// η, Ritz vectors, initial loss, compute time); it continues from this step. The HVP
    /// cache starts empty; a finished run's fork can run on.
    pub fn fork(&self) -> Self {
        SessionT {
            config: self.config.clone(),
            dataset_name: self.dataset_name.clone(),
            dataset_notes: self.dataset_notes.clone(),
            ev: self.ev.clone(),
            test: self.test.clone(),
            init_params: self.init_params.clone(),
            params: self.params.clone(),
            recorded: self.recorded.clone(),
            grad: self.grad.clone(),
            velocity: self.velocity.clone(),
            step: self.step,
            lr: self.lr,
            ritz: self.ritz.clone(),
            last_eigs: self.last_eigs.clone(),
            initial_loss: self.initial_loss,
            finished: None,
            compute_s: self.compute_s,
            // The worker gives each runner's session its flag (`runner_for`).
            interrupt: None,
        }
    }

    /// Back to θ_0 (the same initial weights), keeping the current η.
    pub fn reset(&mut self) {
        self.params = self.init_params.clone();
        self.recorded = self.init_params.clone();
        self.velocity.iter_mut().for_each(|v| *v = T::zero());
        self.step = 0;
        self.ritz = WarmStarts::default();
        self.last_eigs = None;
        self.initial_loss = None;
        self.finished = None;
        self.compute_s = 0.0;
        self.ev.invalidate_cache();
    }

    fn lanczos_opts(&self) -> LanczosOptions {
        LanczosOptions {
            k: self.config.neigs,
            max_iter: self.config.lanczos_max_iter,
            min_iter: 1,
            tol: self.config.lanczos_tol,
            seed: self.config.seed ^ self.step as u64,
        }
    }

    /// Top-k eigenpairs of the training-loss Hessian at the current parameters.
    pub fn sharpness(&mut self) -> LanczosResult {
        let opts = self.lanczos_opts();
        let params_f64: Vec<f64> = self.params.iter().map(|x| x.f64()).collect();
        let warm: std::borrow::Cow<'_, [Vec<f64>]> = if self.config.warm_start {
            self.ritz.start(&params_f64)
        } else {
            std::borrow::Cow::Borrowed(&[])
        };
        let params = &self.params;
        let ev = &mut self.ev;
        let dim = params.len();
        let mut vt = vec![T::zero(); dim];
        let mut ot = vec![T::zero(); dim];
        let interrupt = self.interrupt.clone();
        let r = top_eigen(
            self.config.eig_solver,
            dim,
            |v, out| {
                // Interrupted: a non-finite product makes the solver return at once.
                if interrupt
                    .as_ref()
                    .is_some_and(|f| f.load(Ordering::Relaxed))
                {
                    out.fill(f64::NAN);
                    return;
                }
                for (a, b) in vt.iter_mut().zip(v) {
                    *a = T::of(*b);
                }
                ev.hvp(params, &vt, &mut ot);
                for (a, b) in out.iter_mut().zip(&ot) {
                    *a = b.f64();
                }
            },
            &opts,
            &warm,
        );
        if r.eigenvalues.iter().all(|x| x.is_finite()) {
            self.ritz.push(&params_f64, r.warm_vectors.clone());
            self.last_eigs = Some(r.eigenvalues.clone());
        }
        r
    }

    fn threshold(&self) -> f64 {
        self.config.optimizer.stability_threshold(self.lr)
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// One step: measure at θ_t, check the stop rules, update to θ_{t+1}. `None` once the
    /// run has finished.
    pub fn step(&mut self) -> Option<(StepRecord, Option<StopReason>)> {
        if self.finished.is_some() {
            return None;
        }
        let start = Instant::now();
        let t = self.step;
        let stats = self.ev.loss_grad(&self.params, &mut self.grad);
        let grad_norm = norm(&self.grad);
        let initial = *self.initial_loss.get_or_insert(stats.loss);
        let cfg = self.config.get().clone();
        let diverged = if !stats.loss.is_finite() {
            Some(format!("the training loss became {}", stats.loss))
        } else if !grad_norm.is_finite() {
            Some("the gradient became non-finite".to_string())
        } else if stats.loss > cfg.divergence_factor * initial.max(1e-12) {
            Some(format!(
                "the training loss {:.3e} exceeds {}× its initial value {:.3e} (η = {}, threshold 2/η = {:.4})",
                stats.loss,
                cfg.divergence_factor,
                initial,
                self.lr,
                2.0 / self.lr
            ))
        } else {
            None
        };

        let mut rec = StepRecord {
            step: t,
            wall_s: 0.0,
            lr: self.lr,
            threshold: self.threshold(),
            train_loss: stats.loss,
            train_acc: stats.accuracy,
            test_loss: None,
            test_acc: None,
            eigs: None,
            hvps: None,
            lanczos_residual: None,
            grad_norm,
        };
        if diverged.is_none()
            && cfg.eig_every > 0
            && t.is_multiple_of(cfg.eig_every)
            && !self.interrupted()
        {
            let r = self.sharpness();
            // An interrupted measurement leaves no eigenvalues for this step.
            if !self.interrupted() {
                rec.hvps = Some(r.matvecs);
                rec.lanczos_residual = r.residuals.iter().copied().reduce(f64::max);
                rec.eigs = Some(r.eigenvalues);
            }
        }
        if cfg.test_every > 0
            && (t.is_multiple_of(cfg.test_every) || t == cfg.max_steps)
            && let Some(test) = &self.test
        {
            let s: LossStats = self.ev.evaluate(&self.params, test);
            rec.test_loss = Some(s.loss);
            rec.test_acc = s.accuracy;
        }

        let stop = if let Some(reason) = diverged {
            Some(StopReason::Diverged { step: t, reason })
        } else if let (Some(goal), Some(acc)) = (cfg.acc_goal, stats.accuracy)
            && acc >= goal
        {
            Some(StopReason::AccuracyGoal {
                step: t,
                accuracy: acc,
            })
        } else if let Some(goal) = cfg.loss_goal
            && stats.loss <= goal
        {
            Some(StopReason::LossGoal {
                step: t,
                loss: stats.loss,
            })
        } else if t >= cfg.max_steps {
            Some(StopReason::MaxSteps { steps: t })
        } else {
            None
        };

        self.recorded.clone_from(&self.params);
        if stop.is_none() {
            self.update(&cfg);
            self.step += 1;
        }
        self.compute_s += start.elapsed().as_secs_f64();
        rec.wall_s = self.compute_s;
        self.finished.clone_from(&stop);
        Some((rec, stop))
    }

    fn update(&mut self, cfg: &RunConfig) {
        let lr = T::of(self.lr);
        match cfg.optimizer {
            Optimizer::Gd => {
                for (p, g) in self.params.iter_mut().zip(&self.grad) {
                    *p -= lr * *g;
                }
            }
            Optimizer::Polyak { beta } => {
                let b = T::of(beta);
                for ((p, g), v) in self
                    .params
                    .iter_mut()
                    .zip(&self.grad)
                    .zip(&mut self.velocity)
                {
                    *v = b * *v + *g;
                    *p -= lr * *v;
                }
            }
            Optimizer::Nesterov { beta } => {
                let b = T::of(beta);
                for ((p, g), v) in self
                    .params
                    .iter_mut()
                    .zip(&self.grad)
                    .zip(&mut self.velocity)
                {
                    *v = b * *v + *g;
                    *p -= lr * (*g + b * *v);
                }
            }
            Optimizer::Flow { c, max_step } => self.flow_advance(c, max_step),
        }
    }

    /// Advance gradient flow by time η with RK4 substeps of min(c/λ1, max_step).
    fn flow_advance(&mut self, c: f64, max_step: f64) {
        let lambda = match &self.last_eigs {
            Some(e) if !e.is_empty() && e[0] > 0.0 => e[0],
            _ => {
                let r = self.sharpness();
                r.eigenvalues.first().copied().unwrap_or(1.0).max(1e-12)
            }
        };
        let h_max = (c / lambda).min(max_step);
        let mut remaining = self.lr;
        let p = self.params.len();
        let mut k1 = self.grad.clone(); // ∇L at θ_t, already computed
        let mut k2 = vec![T::zero(); p];
        let mut k3 = vec![T::zero(); p];
        let mut k4 = vec![T::zero(); p];
        let mut tmp = vec![T::zero(); p];
        let mut first = true;
        while remaining > 1e-15 * self.lr {
            let h = h_max.min(remaining);
            let ht = T::of(h);
            let half = T::of(0.5 * h);
            if !first {
                self.ev.loss_grad(&self.params, &mut k1);
            }
            first = false;
            for i in 0..p {
                tmp[i] = self.params[i] - half * k1[i];
            }
            self.ev.loss_grad(&tmp, &mut k2);
            for i in 0..p {
                tmp[i] = self.params[i] - half * k2[i];
            }
            self.ev.loss_grad(&tmp, &mut k3);
            for i in 0..p {
                tmp[i] = self.params[i] - ht * k3[i];
            }
            self.ev.loss_grad(&tmp, &mut k4);
            let sixth = T::of(h / 6.0);
            let two = T::of(2.0);
            for i in 0..p {
                self.params[i] -= sixth * (k1[i] + two * k2[i] + two * k3[i] + k4[i]);
            }
            remaining -= h;
        }
    }

    /// θ of the *next* step (after the last update), as f64. `params_f64` on [`Session`] gives
    /// θ_t of the last record instead.
    pub fn current_params_f64(&self) -> Vec<f64> {
        self.params.iter().map(|x| x.f64()).collect()
    }

    fn check_len(&self, what: &str, len: usize) -> Result<(), EngineError> {
        if len == self.params.len() {
            Ok(())
        } else {
            Err(EngineError::Other(format!(
                "{what} has {len} entries, the network has {} parameters",
                self.params.len()
            )))
        }
    }

    /// Training loss and gradient at arbitrary parameters, computed in the run's precision.
    /// Does not move the run; counts in [`Session::counters`]. Replaces the evaluator's
    /// activation cache (the next step or sharpness call refills it for θ_t).
    pub fn loss_grad_at(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), EngineError> {
        self.check_len("the parameter vector", params.len())?;
        let pt: Vec<T> = params.iter().map(|x| T::of(*x)).collect();
        let mut g = vec![T::zero(); pt.len()];
        let stats = self.ev.loss_grad(&pt, &mut g);
        Ok((stats.loss, g.iter().map(|x| x.f64()).collect()))
    }

    /// Exact Hessian–vector product H(params)·v at arbitrary parameters, in the run's precision.
    /// Does not move the run (see [`SessionT::loss_grad_at`] for the cache).
    pub fn hvp_at(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, EngineError> {
        self.check_len("the parameter vector", params.len())?;
        self.check_len("the direction", v.len())?;
        let pt: Vec<T> = params.iter().map(|x| T::of(*x)).collect();
        let vt: Vec<T> = v.iter().map(|x| T::of(*x)).collect();
        let mut out = vec![T::zero(); pt.len()];
        self.ev.hvp(&pt, &vt, &mut out);
        Ok(out.iter().map(|x| x.f64()).collect())
    }

    /// A separate f64 evaluator of the same network, loss and training set (the training
    /// inputs exactly as the run sees them, widened to f64). Theory probes use it to take
    /// derivatives at arbitrary points in f64 without touching the run.
    pub fn evaluator_f64(&self) -> Evaluator<f64> {
        let b = self.ev.train();
        let batch = Batch {
            x: b.x.mapv(|v| v.f64()),
            y: b.y.mapv(|v| v.f64()),
            labels: b.labels.clone(),
        };
        Evaluator::new(
            self.ev.spec().clone(),
            self.ev.loss_kind(),
            batch,
            self.ev.threads(),
            self.config.chunk_rows,
        )
    }

    /// Write `W1, b1, W2, b2, …` (PyTorch `Linear` layout, W is out × in) in the run's precision.
    pub fn write_params_npz(&self, path: &Path) -> Result<(), ExportError> {
        let spec = self.ev.spec();
        let mut npz = NpzFile::create(path)?;
        for (i, lay) in spec.layout().iter().enumerate() {
            let w = ndarray::ArrayView2::from_shape(
                (lay.fan_out, lay.fan_in),
                &self.recorded[lay.w_range()],
            )
            .map_err(|e| ExportError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            npz.add(&format!("W{}", i + 1), &w)?;
            if let Some(r) = lay.b_range() {
                npz.add(
                    &format!("b{}", i + 1),
                    &ndarray::ArrayView1::from(&self.recorded[r]),
                )?;
            }
        }
        npz.finish()
    }

    /// Write `X` (n × d, preprocessed) and `Y` (targets as the loss uses them), run precision.
    pub fn write_data_npz(&self, path: &Path) -> Result<(), ExportError> {
        let mut npz = NpzFile::create(path)?;
        let b = self.ev.train();
        npz.add("X", &b.x)?;
        npz.add("Y", &b.y)?;
        if let Some(l) = &b.labels {
            npz.add("labels", &ndarray::Array1::from(l.clone()))?;
        }
        npz.finish()
    }
}

/// A run in either precision.
pub enum Session {
    F32(SessionT<f32>),
    F64(SessionT<f64>),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Session::F32($s) => $e,
            Session::F64($s) => $e,
        }
    };
}

impl Session {
    /// Build a session for a checked configuration on loaded data.
    pub fn new(config: CheckedConfig, data: &Dataset) -> Result<Self, EngineError> {
        Ok(match config.precision {
            Precision::F32 => Session::F32(SessionT::new(config, data)?),
            Precision::F64 => Session::F64(SessionT::new(config, data)?),
        })
    }

    /// Load the configured dataset, then build the session.
    pub fn from_config(config: &RunConfig) -> Result<(Self, Dataset), EngineError> {
        let checked = config.check()?;
        let data = config.dataset.load()?;
        let s = Session::new(checked, &data)?;
        Ok((s, data))
    }

    pub fn step(&mut self) -> Option<(StepRecord, Option<StopReason>)> {
        each!(self, s => s.step())
    }
    pub fn reset(&mut self) {
        each!(self, s => s.reset())
    }
    /// An independent copy that continues from the current step (see [`SessionT::fork`]).
    pub fn fork(&self) -> Session {
        match self {
            Session::F32(s) => Session::F32(s.fork()),
            Session::F64(s) => Session::F64(s.fork()),
        }
    }
    pub fn config(&self) -> &RunConfig {
        each!(self, s => s.config.get())
    }
    pub fn spec(&self) -> &MlpSpec {
        each!(self, s => s.ev.spec())
    }
    pub fn num_params(&self) -> usize {
        each!(self, s => s.params.len())
    }
    pub fn step_index(&self) -> usize {
        each!(self, s => s.step)
    }
    pub fn lr(&self) -> f64 {
        each!(self, s => s.lr)
    }
    /// Change η; takes effect at the next update.
    pub fn set_lr(&mut self, lr: f64) -> Result<(), EngineError> {
        super::config::check_lr(lr).map_err(EngineError::Other)?;
        each!(self, s => s.lr = lr);
        Ok(())
    }
    pub fn finished(&self) -> Option<&StopReason> {
        each!(self, s => s.finished.as_ref())
    }
    /// A flag another thread sets to cut the current step's sharpness measurement short
    /// (Stop, Reset or a new run in the app answer within one HVP instead of one step).
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        each!(self, s => s.interrupt = Some(flag))
    }

    /// Whether the interrupt flag is set (the run is being stopped, reset or replaced).
    pub fn interrupted(&self) -> bool {
        each!(self, s => s.interrupted())
    }

    /// Mark the run as stopped by the user.
    pub fn stop(&mut self) {
        each!(self, s => {
            if s.finished.is_none() {
                s.finished = Some(StopReason::Stopped { step: s.step });
            }
        })
    }
    pub fn dataset_name(&self) -> &str {
        each!(self, s => &s.dataset_name)
    }
    pub fn dataset_notes(&self) -> &[String] {
        each!(self, s => &s.dataset_notes)
    }
    /// θ_t of the last record (before that step's update).
    pub fn params_f64(&self) -> Vec<f64> {
        each!(self, s => s.recorded.iter().map(|x| x.f64()).collect())
    }
    /// The latest Ritz vectors, largest first: the top-k Hessian eigenvectors, then up to two
    /// more directions kept for warm starts.
    pub fn ritz_vectors(&self) -> &[Vec<f64>] {
        each!(self, s => s.ritz.latest())
    }
    /// Measure the top-k eigenpairs now (outside the eig cadence).
    pub fn sharpness(&mut self) -> LanczosResult {
        each!(self, s => s.sharpness())
    }
    pub fn write_params_npz(&self, path: &Path) -> Result<(), ExportError> {
        each!(self, s => s.write_params_npz(path))
    }
    pub fn write_data_npz(&self, path: &Path) -> Result<(), ExportError> {
        each!(self, s => s.write_data_npz(path))
    }
    /// θ of the next step (after the last update), as f64.
    pub fn current_params_f64(&self) -> Vec<f64> {
        each!(self, s => s.current_params_f64())
    }
    /// Training loss and gradient at arbitrary parameters (run precision; the run does not move).
    pub fn loss_grad_at(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), EngineError> {
        each!(self, s => s.loss_grad_at(params))
    }
    /// Exact H(params)·v at arbitrary parameters (run precision; the run does not move).
    pub fn hvp_at(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, EngineError> {
        each!(self, s => s.hvp_at(params, v))
    }
    /// An f64 evaluator of the same network and training set (see [`SessionT::evaluator_f64`]).
    pub fn evaluator_f64(&self) -> Evaluator<f64> {
        each!(self, s => s.evaluator_f64())
    }
    /// The run's arithmetic precision.
    pub fn precision(&self) -> Precision {
        match self {
            Session::F32(_) => Precision::F32,
            Session::F64(_) => Precision::F64,
        }
    }
    /// HVPs and gradients evaluated so far.
    pub fn counters(&self) -> super::network::Counters {
        each!(self, s => s.ev.counters)
    }
}

/// How often an observer is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// Every n-th step (n ≥ 1), and always on the final step.
    Every(usize),
}

impl Cadence {
    fn fires(self, step: usize, last: bool) -> bool {
        match self {
            Cadence::Every(n) => last || step.is_multiple_of(n.max(1)),
        }
    }
}

/// Something that watches a run (writes files, draws a progress bar, sends events).
pub trait Observer {
    fn observe(&mut self, session: &Session, record: &StepRecord) -> Result<(), EngineError>;
    fn finish(&mut self, _session: &Session, _reason: &StopReason) -> Result<(), EngineError> {
        Ok(())
    }
}

/// Owns the loop: steps the session, calls observers on their cadence, honours a stop flag.
pub struct Runner {
    pub session: Session,
    observers: Vec<(Cadence, Box<dyn Observer + Send>)>,
    stop: Arc<AtomicBool>,
}

impl Runner {
    pub fn new(session: Session) -> Self {
        Runner {
            session,
            observers: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn add_observer(&mut self, cadence: Cadence, obs: Box<dyn Observer + Send>) {
        self.observers.push((cadence, obs));
    }

    /// Set this flag (from any thread) to stop after the current step.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// One step with observers; returns the stop reason once the run has ended.
    pub fn step_once(&mut self) -> Result<Option<StopReason>, EngineError> {
        if self.stop.load(Ordering::Relaxed) && self.session.finished().is_none() {
            self.session.stop();
            let reason = self.session.finished().cloned();
            if let Some(r) = &reason {
                for (_, o) in &mut self.observers {
                    o.finish(&self.session, r)?;
                }
            }
            return Ok(reason);
        }
        let Some((rec, stop)) = self.session.step() else {
            return Ok(self.session.finished().cloned());
        };
        for (cad, o) in &mut self.observers {
            if cad.fires(rec.step, stop.is_some()) {
                o.observe(&self.session, &rec)?;
            }
        }
        if let Some(r) = &stop {
            for (_, o) in &mut self.observers {
                o.finish(&self.session, r)?;
            }
        }
        Ok(stop)
    }

    /// Run to the end (or until the stop flag is set).
    pub fn run(&mut self) -> Result<StopReason, EngineError> {
        loop {
            if let Some(r) = self.step_once()? {
                return Ok(r);
            }
        }
    }
}

// `metrics.csv` and `params_step{N}.npz` observers live in the run-folder module (the one
// writer of the format); the old names stay for existing callers.
pub use super::run_folder::{MetricsObserver as CsvObserver, ParamsSaver};
