//! `eos-explorer run`: headless training with the same engine session as the app.

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use eos_explorer::engine::config::{Optimizer, RunConfig};
use eos_explorer::engine::data::DatasetSpec;
use eos_explorer::engine::error::EngineError;
use eos_explorer::engine::estimate::{DataShape, MemoryVerdict, available_memory, estimate, judge};
use eos_explorer::engine::export::SaveSteps;
use eos_explorer::engine::figure::RunSeries;
use eos_explorer::engine::figure::central_flow::CentralFlowSeries;
use eos_explorer::engine::figure::render::{ExportStyle, write_figure};
use eos_explorer::engine::figure::training::{self, TrainingView};
use eos_explorer::engine::model::{Init, parse_arch};
use eos_explorer::engine::network::LossKind;
use eos_explorer::engine::plot::write_plot;
use eos_explorer::engine::presets::{self, PresetKind};
use eos_explorer::engine::probe::{
    FolderSink, ProbeFlags, ProbeObserver, ProbeReport, probes_from_flags,
};
use eos_explorer::engine::run_folder::{self, RunFolder, RunInfo, RunSummary, config_file};
use eos_explorer::engine::session::{Cadence, Observer, Runner, Session, StepRecord, StopReason};
use eos_explorer::engine::theory::measured::{PredictedLambda1, predicted_lambda1};
use eos_explorer::engine::{Precision, presets::with_cifar_dir};
use indicatif::{ProgressBar, ProgressStyle};

/// Exit codes of `run` (also in `--help`).
pub const EXIT_DIVERGED: i32 = 3;
pub const EXIT_STOPPED: i32 = 130;
/// Largest `--config` and `--stats-file` read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;
const MAX_STATS_BYTES: u64 = 1 << 20;

#[derive(clap::Args, Debug, Default)]
pub struct RunArgs {
    /// Start from a preset (see `eos-explorer presets`); flags below override it.
    #[arg(long)]
    pub preset: Option<String>,
    /// Rerun the configuration saved in a run's config.json (flags below override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// digits (embedded), cifar10 (needs --cifar-dir), chebyshev, teacher.
    #[arg(long)]
    pub dataset: Option<String>,
    /// A cifar-10-batches-bin folder.
    #[arg(long)]
    pub cifar_dir: Option<PathBuf>,
    /// Per-feature mean/std file (2×3072 f64 LE); default: train50k_feature_mean_std.f64le in --cifar-dir if present, else computed from the loaded records.
    #[arg(long)]
    pub stats_file: Option<PathBuf>,
    /// Training samples (first n records).
    #[arg(long)]
    pub n: Option<usize>,
    /// CIFAR-10 only: keep these classes (e.g. 0,1,2,3), relabelled 0 … k−1; --n and
    /// --n-test then count records of these classes (first in file order); `all` keeps ten.
    #[arg(long)]
    pub cifar_classes: Option<String>,
    /// Test samples.
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Architecture, e.g. fc-tanh:200,200.
    #[arg(long)]
    pub arch: Option<String>,
    /// Networks without bias terms.
    #[arg(long)]
    pub no_bias: bool,
    /// mse or ce.
    #[arg(long)]
    pub loss: Option<String>,
    /// pytorch, xavier or normal:SIGMA.
    #[arg(long)]
    pub init: Option<String>,
    #[arg(long)]
    pub init_scale: Option<f64>,
    /// Learning rate η.
    #[arg(long)]
    pub lr: Option<f64>,
    /// gd, polyak:BETA, nesterov:BETA or flow[:C] (RK4 gradient flow).
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Number of updates.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Sharpness every this many steps (0 = never).
    #[arg(long)]
    pub eig_every: Option<usize>,
    /// Number of top Hessian eigenvalues.
    #[arg(long)]
    pub neigs: Option<usize>,
    /// Relative accuracy of each eigenvalue.
    #[arg(long)]
    pub lanczos_tol: Option<f64>,
    /// Eigensolver: `block` (default: a warm-started block of k + 1 vectors after a first
    /// Lanczos solve) or `lanczos` (Lanczos every time).
    #[arg(long)]
    pub eig_solver: Option<eos_explorer::engine::eigen::EigenSolver>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop at this train accuracy (fraction, e.g. 0.99).
    #[arg(long)]
    pub acc_goal: Option<f64>,
    /// Stop below this train loss.
    #[arg(long)]
    pub loss_goal: Option<f64>,
    /// f32 or f64.
    #[arg(long)]
    pub precision: Option<String>,
    /// Test loss every this many steps (0 = never).
    #[arg(long)]
    pub test_every: Option<usize>,
    /// Threads for the full-batch passes (0 = all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output folder (default: a new runs/NAME-UNIXTIME[-k]). Must be new or empty.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Clear a non-empty --out first (only a run folder's files: *.csv, *.json, *.npz, overlays/).
    #[arg(long)]
    pub overwrite: bool,
    /// Exit with code 3 when the run diverges (default: divergence is a normal outcome, code 0).
    #[arg(long)]
    pub fail_on_divergence: bool,
    /// Save parameters at these steps: 0,100,500 or every:100.
    #[arg(long)]
    pub save_params: Option<String>,
    /// Save the preprocessed training data (train.npz: X, Y).
    #[arg(long)]
    pub save_data: bool,
    /// After the run, draw sharpness λ1…λk against 2/η to this file (.svg or .png), and the
    /// train/test loss to FILE_loss.svg|png beside it; with --theory also FILE_theory (λ1 − 2/η
    /// measured vs predicted) and FILE_theory_x (x_t measured vs predicted); with
    /// --central-flow also FILE_distance and FILE_sigma2.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Measure Damian et al.'s α, β, x_t, y_t from the first step where λ1 reaches 2/η and
    /// step the predicted map (Damian et al. 2022, Def. 4.1) alongside: writes theory.csv and
    /// theory_summary.json (GD only).
    #[arg(long)]
    pub theory: bool,
    /// With --theory: steps tracked after the crossing (default 300).
    #[arg(long)]
    pub theory_steps: Option<usize>,
    /// With --theory: take a new anchor θ₀ every K tracked steps (default 0 = never).
    #[arg(long)]
    pub theory_reanchor: Option<usize>,
    /// With --theory: finite-difference step ε for ∇S (default 1e-3·max(1, ‖θ‖/√p)).
    #[arg(long)]
    pub theory_eps: Option<f64>,
    /// With --theory: arithmetic of the per-step λ1 probes, f32 (default: on an f32 copy of the
    /// network, re-probed in f64 within 1e-4·2/η of 2/η) or f64 (every probe in f64, as before
    /// f32 probes). The anchor (u, ∇S, α, β) is measured in f64 either way.
    #[arg(long, value_name = "f32|f64")]
    pub theory_probe_precision: Option<String>,
    /// Step Cohen et al. 2025's central flow and a gradient flow beside GD from the same θ₀
    /// (f64): writes central_flow.csv and central_flow_summary.json (GD only); with --plot
    /// also FILE_distance and FILE_sigma2, and the flow on the loss and sharpness figures.
    #[arg(long)]
    pub central_flow: bool,
    /// With --central-flow: Euler substeps per GD step (default 4).
    #[arg(long)]
    pub cf_substeps: Option<usize>,
    /// With --central-flow: relative tolerance of the flow's eigenvalues (default 1e-8; 1e-3
    /// with --cf-live).
    #[arg(long)]
    pub cf_lanczos_tol: Option<f64>,
    /// With --central-flow: most Hessian eigenpairs the flow tracks per substep (default 6).
    #[arg(long)]
    pub cf_max_tracked: Option<usize>,
    /// With --central-flow: the app's faster options for watching the flow live (2 substeps,
    /// 2 tracked eigenpairs by a block solver to 1e-3, third derivatives from gradients);
    /// --cf-substeps, --cf-lanczos-tol and --cf-max-tracked still override them.
    #[arg(long)]
    pub cf_live: bool,
}

fn parse_optimizer(s: &str) -> anyhow::Result<Optimizer> {
    let (name, arg) = s.split_once(':').unwrap_or((s, ""));
    let num = |default: f64| -> anyhow::Result<f64> {
        if arg.is_empty() {
            Ok(default)
        } else {
            arg.parse::<f64>()
                .with_context(|| format!("bad number {arg:?} in --optimizer {s:?}"))
        }
    };
    Ok(match name {
        "gd" => Optimizer::Gd,
        "polyak" | "momentum" | "heavy-ball" => Optimizer::Polyak { beta: num(0.9)? },
        "nesterov" => Optimizer::Nesterov { beta: num(0.9)? },
        "flow" => Optimizer::Flow {
            c: num(1.0)?,
            max_step: 1.0,
        },
        _ => bail!("unknown optimizer {s:?}; use gd, polyak:BETA, nesterov:BETA or flow[:C]"),
    })
}

/// Build the configuration from preset/config file and flags.
pub fn build_config(a: &RunArgs) -> anyhow::Result<(RunConfig, String)> {
    let (mut cfg, mut name) = if let Some(path) = &a.config {
        let bytes = run_folder::read_regular_file(path, MAX_CONFIG_BYTES)?;
        let text = String::from_utf8_lossy(&bytes);
        let file = config_file::parse(path, &text)?;
        let Some(cfg) = file.config else {
            bail!(
                "{} has no `config` (a run folder written by another program?): give a config.json written by eos-explorer",
                path.display()
            );
        };
        (cfg, "rerun".to_string())
    } else if let Some(p) = &a.preset {
        let preset = presets::find(p).with_context(|| {
            format!(
                "unknown preset {p:?}; available: {}",
                presets::names().join(", ")
            )
        })?;
        match preset.kind {
            PresetKind::Training(c) => {
                if preset.needs_cifar && a.cifar_dir.is_none() {
                    bail!(
                        "preset {p} trains on CIFAR-10: give --cifar-dir pointing at a cifar-10-batches-bin folder"
                    );
                }
                (*c, p.clone())
            }
            _ => bail!(
                "preset {p} is a theory simulation: run it with `eos-explorer simulate {} --preset {p}`",
                if p == "damian-stages" {
                    "self-stab"
                } else {
                    "linear"
                }
            ),
        }
    } else {
        let c = match presets::find("digits-demo").map(|p| p.kind) {
            Some(PresetKind::Training(c)) => *c,
            _ => RunConfig::default(),
        };
        (c, "digits".to_string())
    };

    if let Some(d) = &a.dataset {
        cfg.dataset = match d.as_str() {
            "digits" => DatasetSpec::Digits {
                n_train: 1000,
                n_test: 797,
            },
            "cifar10" | "cifar" => DatasetSpec::Cifar10 {
                dir: PathBuf::new(),
                n_train: 5000,
                n_test: 1000,
                stats_file: None,
                classes: None,
            },
            "chebyshev" => DatasetSpec::Chebyshev { n: 20, degree: 4 },
            "teacher" => DatasetSpec::Teacher {
                n_train: 1000,
                n_test: 1000,
                dim: 64,
                num_classes: 10,
                seed: 0,
            },
            _ => bail!("unknown dataset {d:?}; use digits, cifar10, chebyshev or teacher"),
        };
        name = d.clone();
    }
    if let DatasetSpec::Cifar10 { .. } = cfg.dataset {
        match &a.cifar_dir {
            Some(dir) => with_cifar_dir(&mut cfg, dir, a.stats_file.as_deref()),
            None if a.config.is_none() => {
                bail!(
                    "the cifar10 dataset needs --cifar-dir pointing at a cifar-10-batches-bin folder"
                )
            }
            None => {}
        }
    } else if a.cifar_dir.is_some() {
        bail!("--cifar-dir is only used with the cifar10 dataset (or a CIFAR preset)");
    }
    if let Some(text) = &a.cifar_classes {
        let DatasetSpec::Cifar10 { classes, .. } = &mut cfg.dataset else {
            bail!("--cifar-classes is only used with the cifar10 dataset (or a CIFAR preset)");
        };
        *classes = if text.trim() == "all" {
            None
        } else {
            let list = text
                .split(',')
                .map(|c| c.trim().parse::<u8>())
                .collect::<Result<Vec<u8>, _>>()
                .with_context(|| {
                    format!("--cifar-classes {text:?}: give class numbers 0 … 9, e.g. 0,1,2,3")
                })?;
            Some(list)
        };
    }
    if let Some(n) = a.n {
        match &mut cfg.dataset {
            DatasetSpec::Digits { n_train, .. }
            | DatasetSpec::Cifar10 { n_train, .. }
            | DatasetSpec::Teacher { n_train, .. } => *n_train = n,
            DatasetSpec::Chebyshev { n: nn, .. } => *nn = n,
        }
    }
    if let Some(n) = a.n_test {
        match &mut cfg.dataset {
            DatasetSpec::Digits { n_test, .. }
            | DatasetSpec::Cifar10 { n_test, .. }
            | DatasetSpec::Teacher { n_test, .. } => *n_test = n,
            DatasetSpec::Chebyshev { .. } => bail!("the Chebyshev set has no test split"),
        }
    }
    if let Some(arch) = &a.arch {
        let (act, hidden) = parse_arch(arch).map_err(anyhow::Error::msg)?;
        cfg.activation = act;
        cfg.hidden = hidden;
    }
    if a.no_bias {
        cfg.bias = false;
    }
    if let Some(l) = &a.loss {
        cfg.loss = l.parse::<LossKind>().map_err(anyhow::Error::msg)?;
    }
    if let Some(i) = &a.init {
        cfg.init = i.parse::<Init>().map_err(anyhow::Error::msg)?;
    }
    if let Some(v) = a.init_scale {
        cfg.init_scale = v;
    }
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    if let Some(o) = &a.optimizer {
        cfg.optimizer = parse_optimizer(o)?;
    }
    if let Some(v) = a.steps {
        cfg.max_steps = v;
    }
    if let Some(v) = a.eig_every {
        cfg.eig_every = v;
    }
    if let Some(v) = a.neigs {
        cfg.neigs = v;
    }
    if let Some(v) = a.lanczos_tol {
        cfg.lanczos_tol = v;
    }
    if let Some(v) = a.eig_solver {
        cfg.eig_solver = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.acc_goal {
        cfg.acc_goal = Some(v);
    }
    if let Some(v) = a.loss_goal {
        cfg.loss_goal = Some(v);
    }
    if let Some(p) = &a.precision {
        cfg.precision = p.parse::<Precision>().map_err(anyhow::Error::msg)?;
    }
    if let Some(v) = a.test_every {
        cfg.test_every = v;
    }
    if let Some(v) = a.threads {
        cfg.threads = v;
    }
    Ok((cfg, name))
}

/// Progress bar on stderr: steps/s, loss, λ1, ETA.
struct Progress {
    bar: ProgressBar,
    last_lambda: Option<f64>,
}

impl Observer for Progress {
    fn observe(&mut self, _s: &Session, r: &StepRecord) -> Result<(), EngineError> {
        if let Some(e) = r.eigs.as_ref().and_then(|e| e.first()) {
            self.last_lambda = Some(*e);
        }
        let lam = self
            .last_lambda
            .map(|l| format!("λ1 {l:.3} / 2/η {:.3}", r.threshold))
            .unwrap_or_default();
        let acc = r
            .train_acc
            .map(|a| format!("acc {:.1}% ", a * 100.0))
            .unwrap_or_default();
        self.bar
            .set_message(format!("loss {:.5} {acc}{lam}", r.train_loss));
        self.bar.set_position(r.step as u64);
        Ok(())
    }
    fn finish(&mut self, _s: &Session, _r: &StopReason) -> Result<(), EngineError> {
        self.bar.finish();
        Ok(())
    }
}

/// What `--plot` draws, kept in bounded memory: every record while there are few, then every
/// 2nd, 4th, … (the stride doubles each time the buffer fills), always with the last one.
struct PlotKeep {
    cap: usize,
    stride: usize,
    recs: Vec<StepRecord>,
    last: Option<StepRecord>,
    last_lambda: Option<f64>,
    keep_all: bool,
}

impl PlotKeep {
    fn new(keep_for_plots: bool) -> Self {
        PlotKeep {
            cap: 20_000,
            stride: 1,
            recs: Vec::new(),
            last: None,
            last_lambda: None,
            keep_all: keep_for_plots,
        }
    }

    fn push(&mut self, r: &StepRecord) {
        if let Some(l) = r.eigs.as_ref().and_then(|e| e.first()) {
            self.last_lambda = Some(*l);
        }
        self.last = Some(r.clone());
        if !self.keep_all || !r.step.is_multiple_of(self.stride) {
            return;
        }
        self.recs.push(r.clone());
        if self.recs.len() >= self.cap {
            self.stride *= 2;
            let stride = self.stride;
            self.recs.retain(|x| x.step.is_multiple_of(stride));
        }
    }

    /// The kept records, ending with the last one.
    fn records(&self) -> Vec<StepRecord> {
        let mut v = self.recs.clone();
        if let Some(l) = &self.last
            && v.last().is_none_or(|x| x.step != l.step)
        {
            v.push(l.clone());
        }
        v
    }
}

type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

/// Feeds [`PlotKeep`] and passes a signal on to the runner's stop flag.
struct Keeper {
    keep: Shared<PlotKeep>,
    signal: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Observer for Keeper {
    fn observe(&mut self, _s: &Session, r: &StepRecord) -> Result<(), EngineError> {
        if let Ok(mut g) = self.keep.lock() {
            g.push(r);
        }
        if self.signal.load(Ordering::Relaxed) {
            self.stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// The figures of `--plot`: sharpness against the (step-function) threshold, and the loss.
fn write_plots(
    path: &Path,
    recs: &[StepRecord],
    title: &str,
    prediction: PredictedLambda1,
    central_flow: Option<&CentralFlowSeries>,
) -> anyhow::Result<Vec<PathBuf>> {
    // The app's training figures, built from the same series by the same functions.
    let series = RunSeries::from_records(recs);
    let view = TrainingView {
        main: Some(&series),
        prediction,
        log_y: true,
        central_flow,
        ..Default::default()
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("svg");
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("plot");
    let mut written = Vec::new();
    for mut fig in training::all(&view) {
        let file = match fig.id.as_str() {
            "sharpness" if series.eigs.is_empty() => continue,
            "sharpness" => path.to_path_buf(),
            id => path.with_file_name(format!("{stem}_{id}.{ext}")),
        };
        fig.title = format!("{}, {title}", fig.title);
        write_figure(&file, &fig, &ExportStyle::default())?;
        written.push(file);
    }
    Ok(written)
}

/// Validate `--plot` before the run: a .svg or .png name whose folder exists or can be made.
fn check_plot_path(p: &Path) -> anyhow::Result<()> {
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    if !matches!(ext.as_deref(), Some("svg") | Some("png")) {
        bail!(
            "--plot {}: the file name must end in .svg or .png",
            p.display()
        );
    }
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| {
            format!(
                "--plot {}: cannot create the folder {}",
                p.display(),
                parent.display()
            )
        })?;
    }
    Ok(())
}

/// SIGINT/SIGTERM set `flag` (the run stops after its current step and completes its
/// files); a second signal exits at once with [`EXIT_STOPPED`].
fn install_signal_handlers(flag: &Arc<AtomicBool>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit is checked before the flag is set, so only a
        // second signal exits.
        signal_hook::flag::register_conditional_shutdown(sig, EXIT_STOPPED, flag.clone())
            .context("cannot install the signal handler")?;
        signal_hook::flag::register(sig, flag.clone())
            .context("cannot install the signal handler")?;
    }
    Ok(())
}

pub fn run(a: &RunArgs) -> anyhow::Result<i32> {
    // From the start, so a Ctrl-C during loading still ends with complete files.
    let signal = Arc::new(AtomicBool::new(false));
    install_signal_handlers(&signal)?;
    let (cfg, name) = build_config(a)?;
    let save_steps = a
        .save_params
        .as_deref()
        .map(|s| s.parse::<SaveSteps>().map_err(anyhow::Error::msg))
        .transpose()?;
    if let Some(p) = &a.plot {
        check_plot_path(p)?;
    }
    if let DatasetSpec::Cifar10 {
        stats_file: Some(f),
        ..
    } = &cfg.dataset
    {
        // A FIFO or a device would hang the loader; refuse it before reading.
        run_folder::read_regular_file(f, MAX_STATS_BYTES).map(|_| ())?;
    }
    let probes = probes_from_flags(
        &ProbeFlags {
            theory: a.theory,
            theory_steps: a.theory_steps,
            theory_reanchor: a.theory_reanchor,
            theory_eps: a.theory_eps,
            theory_probe_precision: a
                .theory_probe_precision
                .as_deref()
                .map(str::parse::<Precision>)
                .transpose()
                .map_err(anyhow::Error::msg)?,
            central_flow: a.central_flow,
            cf_substeps: a.cf_substeps,
            cf_lanczos_tol: a.cf_lanczos_tol,
            cf_max_tracked: a.cf_max_tracked,
            cf_live: a.cf_live,
        },
        &cfg,
    )?;
    let checked = cfg
        .check()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let threads = cfg.effective_threads();

    // The cost, before anything is allocated.
    let est = estimate(
        &checked,
        &DataShape::of_spec(&cfg.dataset),
        threads,
        a.theory || a.central_flow,
    )?;
    match judge(&est, available_memory()) {
        MemoryVerdict::Refuse(m) => bail!("{m}"),
        MemoryVerdict::Warn(m) => eprintln!("warning: {m}"),
        MemoryVerdict::Fine => {}
    }

    let t0 = Instant::now();
    let data = cfg.dataset.load()?;
    let load_s = t0.elapsed().as_secs_f64();
    let session = Session::new(checked, &data)?;
    let folder = match &a.out {
        Some(out) => RunFolder::create(out, a.overwrite)?,
        None => RunFolder::create_unique(Path::new("runs"), &name)?,
    };
    let out = folder.dir().to_path_buf();
    let info = RunInfo {
        program: "eos-explorer".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        network: session.spec().describe(),
        parameters: session.num_params(),
        dataset: data.name.clone(),
        dataset_notes: data.notes.clone(),
        train_samples: data.train.len(),
        test_samples: data.test.as_ref().map(|t| t.len()).unwrap_or(0),
        threads,
    };
    folder.write_config(Some(&cfg), Some(&info))?;
    if !a.quiet {
        eprintln!(
            "{} on {} ({} train / {} test, loaded in {load_s:.2} s), {} parameters, η = {}, 2/η = {:.4}",
            session.spec().describe(),
            data.name,
            data.train.len(),
            data.test.as_ref().map(|t| t.len()).unwrap_or(0),
            session.num_params(),
            cfg.lr,
            cfg.optimizer.stability_threshold(cfg.lr),
        );
        for note in &data.notes {
            eprintln!("  {note}");
        }
        eprintln!(
            "  estimate: {}, ≈ {:.2} s per step on {threads} thread(s)",
            est.describe(),
            est.seconds_per_step(threads)
        );
        eprintln!(
            "  writing to {} (Ctrl-C stops after the current step)",
            out.display()
        );
    }
    drop(data);
    if a.save_data {
        runner_data(&session, &out)?;
    }
    // Ctrl-C also cuts a long sharpness measurement short (that step has no eigenvalues).
    let mut session = session;
    session.set_interrupt(signal.clone());
    let mut runner = Runner::new(session);
    runner.add_observer(Cadence::Every(1), Box::new(folder.metrics(cfg.neigs)?));
    if let Some(steps) = save_steps {
        runner.add_observer(Cadence::Every(1), Box::new(folder.params_saver(steps)));
    }
    let (sink, probe_results) = FolderSink::new(&out);
    let probe_obs = ProbeObserver::new(&runner.session, &probes, sink)?;
    runner.add_observer(Cadence::Every(1), Box::new(probe_obs));
    let keep: Shared<PlotKeep> = Arc::new(std::sync::Mutex::new(PlotKeep::new(a.plot.is_some())));
    runner.add_observer(
        Cadence::Every(1),
        Box::new(Keeper {
            keep: keep.clone(),
            signal: signal.clone(),
            stop: runner.stop_flag(),
        }),
    );
    if !a.quiet {
        let bar = ProgressBar::new(cfg.max_steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        runner.add_observer(
            Cadence::Every(1),
            Box::new(Progress {
                bar,
                last_lambda: None,
            }),
        );
    }
    if signal.load(Ordering::Relaxed) {
        runner.stop_flag().store(true, Ordering::Relaxed);
    }
    let outcome = runner.run()?;
    let counters = runner.session.counters();
    let steps_done = runner.session.step_index();
    let title = format!("{}, η = {}", runner.session.spec().describe(), cfg.lr);
    // Dropping the runner completes the streamed tables of every observer.
    drop(runner);
    let (recs, rec, lam) = match keep.lock() {
        Ok(g) => (g.records(), g.last.clone(), g.last_lambda),
        Err(_) => (Vec::new(), None, None),
    };
    let message = outcome.to_string();
    let summary = RunSummary {
        outcome: serde_json::to_value(&outcome).unwrap_or_default(),
        message: message.clone(),
        steps: steps_done,
        compute_seconds: rec.as_ref().map(|r| r.wall_s).unwrap_or(0.0),
        gradients: counters.gradients,
        hvps: counters.hvps,
        final_train_loss: rec.as_ref().map(|r| r.train_loss),
        final_train_acc: rec.as_ref().and_then(|r| r.train_acc),
        last_lambda_1: lam,
    };
    folder.write_summary(&summary)?;
    drop(folder);
    outln!("{message}; results in {}", out.display());
    let probe_results = probe_results.lock().map(|g| g.clone()).unwrap_or_default();
    for r in &probe_results {
        outln!("{}", r.report.describe().trim_end());
        if let Some(why) = &r.failed {
            eprintln!("warning: {why}");
        }
        let files: Vec<String> = r
            .files
            .names()
            .iter()
            .map(|f| out.join(f).display().to_string())
            .collect();
        outln!("wrote {}", files.join(" and "));
    }
    if let Some(p) = &a.plot {
        let mut prediction = PredictedLambda1::default();
        let mut central_flow = None;
        for r in &probe_results {
            match &r.report {
                ProbeReport::MeasuredTheory(t) => {
                    prediction = predicted_lambda1(t.anchors.first().map(|a| &a.anchor), &t.rows);
                }
                ProbeReport::CentralFlow(c) => {
                    central_flow = Some(CentralFlowSeries::from_rows(&c.rows, c.options.window));
                }
            }
        }
        for f in write_plots(p, &recs, &title, prediction, central_flow.as_ref())? {
            outln!("wrote {}", f.display());
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("svg");
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("plot");
        let title = format!("η = {}", cfg.lr);
        for (sfx, spec) in probe_results.iter().flat_map(|r| r.report.figures(&title)) {
            let f = p.with_file_name(format!("{stem}_{sfx}.{ext}"));
            write_plot(&f, &spec)?;
            outln!("wrote {}", f.display());
        }
    }
    Ok(match outcome {
        StopReason::Stopped { .. } => EXIT_STOPPED,
        StopReason::Diverged { .. } if a.fail_on_divergence => EXIT_DIVERGED,
        _ => 0,
    })
}

/// `train.npz` (the preprocessed training data).
fn runner_data(session: &Session, out: &Path) -> anyhow::Result<()> {
    session.write_data_npz(&out.join(run_folder::DATA_FILE))?;
    Ok(())
}
