//! Run configuration: an editable struct (what the CLI flags and the app's controls fill in)
//! that validates into a checked one before a run (linfa's params → check() → valid params).

use serde::{Deserialize, Serialize};

use super::Precision;
use super::data::DatasetSpec;
use super::eigen::EigenSolver;
use super::model::{Activation, Init, MlpSpec};
use super::network::LossKind;

/// The update rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Optimizer {
    /// θ ← θ − η ∇L(θ)
    #[default]
    Gd,
    /// Heavy ball (PyTorch form): v ← βv + ∇L, θ ← θ − ηv. Stable while S < (2 + 2β)/η.
    Polyak { beta: f64 },
    /// Nesterov (PyTorch form): v ← βv + ∇L, θ ← θ − η(∇L + βv). Stable while
    /// S < (2 + 2β)/((1 + 2β)η).
    Nesterov { beta: f64 },
    /// Gradient flow θ' = −∇L(θ) integrated by RK4, advancing time η per step, with substeps
    /// of min(c/λ1, max_step) (Cohen et al.'s `flow.py`).
    Flow { c: f64, max_step: f64 },
}

impl Optimizer {
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Gd => "gd",
            Optimizer::Polyak { .. } => "polyak",
            Optimizer::Nesterov { .. } => "nesterov",
            Optimizer::Flow { .. } => "flow",
        }
    }

    /// The sharpness above which the update is unstable on a quadratic.
    pub fn stability_threshold(&self, lr: f64) -> f64 {
        match *self {
            Optimizer::Gd | Optimizer::Flow { .. } => 2.0 / lr,
            Optimizer::Polyak { beta } => (2.0 + 2.0 * beta) / lr,
            Optimizer::Nesterov { beta } => (2.0 + 2.0 * beta) / ((1.0 + 2.0 * beta) * lr),
        }
    }
}

/// The one rule for a learning rate: a positive, finite number. Returns why not.
pub fn check_lr(lr: f64) -> Result<f64, String> {
    if lr.is_finite() && lr > 0.0 {
        Ok(lr)
    } else {
        Err(format!("learning rate must be a positive number, got {lr}"))
    }
}

/// Everything that defines a training run. Serialised as `config.json`; reading it back
/// reruns the same run. Parsing is strict: an unknown field is an error (a misspelt
/// `acc_gaol` must not be ignored silently).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub dataset: DatasetSpec,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub bias: bool,
    pub loss: LossKind,
    pub init: Init,
    pub init_scale: f64,
    pub seed: u64,
    pub precision: Precision,
    pub optimizer: Optimizer,
    /// Learning rate η (changeable during a run; this is the starting value).
    pub lr: f64,
    /// Number of updates; metrics are recorded at θ_0 … θ_max_steps.
    pub max_steps: usize,
    /// Stop once train accuracy reaches this fraction (e.g. 0.99).
    pub acc_goal: Option<f64>,
    /// Stop once train loss falls below this.
    pub loss_goal: Option<f64>,
    /// Declare divergence when the loss exceeds this multiple of its initial value.
    pub divergence_factor: f64,
    /// Sharpness every this many steps (0 = never).
    pub eig_every: usize,
    /// How many top eigenvalues.
    pub neigs: usize,
    /// Relative accuracy asked of each eigenvalue.
    pub lanczos_tol: f64,
    /// Iteration cap per estimate.
    pub lanczos_max_iter: usize,
    /// Start each estimate from the previous Ritz vectors.
    pub warm_start: bool,
    /// Eigensolver of the estimates: `block` (warm LOBPCG on k + 1 vectors after a first
    /// Lanczos solve) or `lanczos`. Older config files without it get `block`.
    #[serde(default)]
    pub eig_solver: EigenSolver,
    /// Test-set loss/accuracy every this many steps (0 = never).
    pub test_every: usize,
    /// Worker threads for the full-batch passes (0 = [`default_threads`]). Only the speed
    /// depends on it: results are bit-identical for any thread count.
    pub threads: usize,
    /// Samples per chunk in the full-batch passes.
    pub chunk_rows: usize,
}

impl RunConfig {
    /// The field names of `config.json` (for did-you-mean suggestions).
    pub const FIELDS: &'static [&'static str] = &[
        "dataset",
        "hidden",
        "activation",
        "bias",
        "loss",
        "init",
        "init_scale",
        "seed",
        "precision",
        "optimizer",
        "lr",
        "max_steps",
        "acc_goal",
        "loss_goal",
        "divergence_factor",
        "eig_every",
        "neigs",
        "lanczos_tol",
        "lanczos_max_iter",
        "warm_start",
        "eig_solver",
        "test_every",
        "threads",
        "chunk_rows",
    ];
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            dataset: DatasetSpec::Digits {
                n_train: 1000,
                n_test: 797,
            },
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            bias: true,
            loss: LossKind::Mse,
            init: Init::Pytorch,
            init_scale: 1.0,
            seed: 0,
            precision: Precision::F32,
            optimizer: Optimizer::Gd,
            lr: 0.1,
            max_steps: 1000,
            acc_goal: None,
            loss_goal: None,
            divergence_factor: 1e3,
            eig_every: 1,
            neigs: 1,
            lanczos_tol: 1e-3,
            lanczos_max_iter: 60,
            warm_start: true,
            eig_solver: EigenSolver::Block,
            test_every: 10,
            threads: 0,
            chunk_rows: 2048,
        }
    }
}

/// The thread count a run uses when its `threads` is 0 — the one rule for the app, the CLI
/// and the benchmark: every core the machine offers. Results do not depend on it (the batch is
/// cut into chunks independent of the thread count and their partials are summed in a fixed
/// order, see [`super::network::chunk_ranges`]), so it only trades speed against the rest of
/// the machine; the app's training threads run at a lower priority (`worker.rs`), so drawing
/// still gets a core when it needs one.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Which setting a [`ConfigError`] is about (the app shows it next to that control).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigField {
    Lr,
    Steps,
    Arch,
    Init,
    InitScale,
    Momentum,
    Flow,
    EigEvery,
    AccGoal,
    LossGoal,
    Loss,
    Neigs,
    DivergenceFactor,
    LanczosTol,
    LanczosMaxIter,
    ChunkRows,
    Threads,
    CifarDir,
    Subset,
}

impl ConfigField {
    /// The setting's name as the config file and the CLI spell it.
    pub fn name(self) -> &'static str {
        match self {
            ConfigField::Lr => "lr",
            ConfigField::Steps => "steps",
            ConfigField::Arch => "arch",
            ConfigField::Init => "init",
            ConfigField::InitScale => "init_scale",
            ConfigField::Momentum => "momentum",
            ConfigField::Flow => "flow",
            ConfigField::EigEvery => "eig_every",
            ConfigField::AccGoal => "acc_goal",
            ConfigField::LossGoal => "loss_goal",
            ConfigField::Loss => "loss",
            ConfigField::Neigs => "neigs",
            ConfigField::DivergenceFactor => "divergence_factor",
            ConfigField::LanczosTol => "lanczos_tol",
            ConfigField::LanczosMaxIter => "lanczos_max_iter",
            ConfigField::ChunkRows => "chunk_rows",
            ConfigField::Threads => "threads",
            ConfigField::CifarDir => "cifar",
            ConfigField::Subset => "subset",
        }
    }
}

impl std::fmt::Display for ConfigField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A configuration value that cannot run, with the field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: ConfigField,
    pub message: String,
}

fn err(field: ConfigField, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        message: message.into(),
    }
}

/// A configuration that passed [`RunConfig::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedConfig(RunConfig);

impl CheckedConfig {
    pub fn get(&self) -> &RunConfig {
        &self.0
    }
    pub fn into_inner(self) -> RunConfig {
        self.0
    }
}

impl std::ops::Deref for CheckedConfig {
    type Target = RunConfig;
    fn deref(&self) -> &RunConfig {
        &self.0
    }
}

impl RunConfig {
    /// Every problem with this configuration (empty = runnable). The app shows these next to
    /// the controls; [`RunConfig::check`] turns the first into an error.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut p = Vec::new();
        if let Err(why) = check_lr(self.lr) {
            p.push(err(ConfigField::Lr, why));
        }
        if self.max_steps == 0 {
            p.push(err(ConfigField::Steps, "at least 1 step"));
        }
        if self.max_steps > 100_000_000 {
            p.push(err(ConfigField::Steps, "at most 100,000,000 steps"));
        }
        if self.hidden.contains(&0) {
            p.push(err(
                ConfigField::Arch,
                "every hidden layer needs at least one unit",
            ));
        }
        if self.hidden.len() > 16 {
            p.push(err(ConfigField::Arch, "at most 16 hidden layers"));
        }
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            p.push(err(
                ConfigField::InitScale,
                "init scale must be a positive number",
            ));
        }
        if let Init::Normal { sigma } = self.init
            && !(sigma.is_finite() && sigma > 0.0)
        {
            p.push(err(ConfigField::Init, "normal init needs σ > 0"));
        }
        match self.optimizer {
            Optimizer::Polyak { beta } | Optimizer::Nesterov { beta } => {
                if !(0.0..1.0).contains(&beta) {
                    p.push(err(ConfigField::Momentum, "momentum β must be in [0, 1)"));
                }
            }
            Optimizer::Flow { c, max_step } => {
                if !(c.is_finite() && c > 0.0 && max_step.is_finite() && max_step > 0.0) {
                    p.push(err(
                        ConfigField::Flow,
                        "gradient flow needs c > 0 and max_step > 0",
                    ));
                }
                if self.eig_every == 0 {
                    p.push(err(
                        ConfigField::EigEvery,
                        "gradient flow sizes its RK4 substeps by λ1: set eig_every ≥ 1",
                    ));
                }
            }
            Optimizer::Gd => {}
        }
        if let Some(a) = self.acc_goal
            && !(0.0..=1.0).contains(&a)
        {
            p.push(err(
                ConfigField::AccGoal,
                "accuracy goal is a fraction in [0, 1], e.g. 0.99",
            ));
        }
        if let Some(l) = self.loss_goal
            && !(l.is_finite() && l >= 0.0)
        {
            p.push(err(ConfigField::LossGoal, "loss goal must be ≥ 0"));
        }
        if !(self.divergence_factor.is_finite() && self.divergence_factor > 1.0) {
            p.push(err(ConfigField::DivergenceFactor, "must be a number > 1"));
        }
        if self.eig_every > 0 && self.neigs == 0 {
            p.push(err(
                ConfigField::Neigs,
                "ask for at least one eigenvalue (or set eig_every = 0)",
            ));
        }
        if self.neigs > 50 {
            p.push(err(ConfigField::Neigs, "at most 50 eigenvalues"));
        }
        if !(self.lanczos_tol.is_finite() && self.lanczos_tol >= 0.0) {
            p.push(err(ConfigField::LanczosTol, "must be ≥ 0"));
        }
        if self.eig_every > 0 && self.lanczos_max_iter < self.neigs.max(2) {
            p.push(err(
                ConfigField::LanczosMaxIter,
                "must be at least max(neigs, 2)",
            ));
        }
        if self.chunk_rows == 0 {
            p.push(err(ConfigField::ChunkRows, "must be ≥ 1"));
        }
        if self.threads > 256 {
            p.push(err(ConfigField::Threads, "at most 256"));
        }
        if let DatasetSpec::Cifar10 {
            classes: Some(c), ..
        } = &self.dataset
            && let Err(m) = super::data::cifar::check_classes(c)
        {
            p.push(err(ConfigField::Subset, m));
        }
        let classes = !matches!(self.dataset, DatasetSpec::Chebyshev { .. });
        if !classes && self.loss == LossKind::CrossEntropy {
            p.push(err(
                ConfigField::Loss,
                "cross-entropy needs class labels; Chebyshev is a regression set: use mse",
            ));
        }
        if !classes && self.acc_goal.is_some() {
            p.push(err(
                ConfigField::AccGoal,
                "a regression set has no accuracy",
            ));
        }
        p
    }

    pub fn check(&self) -> Result<CheckedConfig, ConfigError> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(CheckedConfig(self.clone())),
        }
    }

    /// The network for a dataset with this input dimension and number of outputs.
    pub fn mlp_spec(&self, input_dim: usize, output_dim: usize) -> MlpSpec {
        MlpSpec {
            input_dim,
            hidden: self.hidden.clone(),
            output_dim,
            activation: self.activation,
            bias: self.bias,
        }
    }

    /// The thread count this run uses: `threads`, or [`default_threads`] when it is 0.
    pub fn effective_threads(&self) -> usize {
        if self.threads == 0 {
            default_threads()
        } else {
            self.threads
        }
    }

    /// `fc-tanh:200,200` style architecture string.
    pub fn arch_string(&self) -> String {
        let w: Vec<String> = self.hidden.iter().map(|w| w.to_string()).collect();
        format!("fc-{}:{}", self.activation.name(), w.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_values_are_explained() {
        assert!(RunConfig::default().check().is_ok());
        let mut c = RunConfig {
            lr: -1.0,
            ..Default::default()
        };
        assert_eq!(c.check().unwrap_err().field, ConfigField::Lr);
        c.lr = 0.1;
        c.dataset = DatasetSpec::Chebyshev { n: 20, degree: 5 };
        c.loss = LossKind::CrossEntropy;
        assert!(c.check().unwrap_err().message.contains("regression"));
        assert!((Optimizer::Polyak { beta: 0.9 }.stability_threshold(0.1) - 38.0).abs() < 1e-12);
    }

    #[test]
    fn field_list_matches_the_serialised_fields() {
        let v = serde_json::to_value(RunConfig::default()).expect("json");
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut want = RunConfig::FIELDS.to_vec();
        let mut got = keys.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn a_config_written_before_eig_solver_reads_with_the_block_solver() {
        let mut v = serde_json::to_value(RunConfig {
            eig_solver: EigenSolver::Lanczos,
            ..RunConfig::default()
        })
        .expect("json");
        let obj = v.as_object_mut().expect("an object");
        assert_eq!(obj.remove("eig_solver"), Some(serde_json::json!("lanczos")));
        let c: RunConfig = serde_json::from_value(v).expect("reads without the field");
        assert_eq!(c.eig_solver, EigenSolver::Block);
    }
}
