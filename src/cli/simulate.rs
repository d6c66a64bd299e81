//! `eos-explorer simulate`: the theory simulators of the seed paper, headless.
//!
//! * `simulate self-stab`: the predicted edge-of-stability map (Damian et al. 2022, Def. 4.1);
//! * `simulate linear`: full-batch GD on the two-layer linear network of Li et al. 2022, with the exact
//!   sharpness and step-by-step checks of Lemmas 4 and 5.
//!
//! Flags override the preset's values; without `--preset` the preset is still the default.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use eos_explorer::engine::theory::linear::{
    LabelKind, LinearInit, LinearParams, LinearRow, LinearRun, LinearWriteOptions, write_run,
};
use eos_explorer::engine::theory::self_stab::{SelfStabParams, simulate, write_csv};
use eos_explorer::engine::theory::{SaveSteps, parse_save_steps};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[command(subcommand)]
    pub which: SimulateCommand,
}

#[derive(Subcommand, Debug)]
pub enum SimulateCommand {
    /// The predicted edge-of-stability map of Damian et al. 2022 (Def. 4.1):
    /// x' = −(1 + η y) x, y' = y + η(α − β x²/2). Prints δ, the stages visited and the cycles.
    SelfStab(SelfStabArgs),
    /// Full-batch GD on the two-layer linear network f(x) = AᵀWx/√m of Li et al. 2022, with the exact
    /// sharpness and the residuals of Lemmas 4 and 5 (printed and corrected) at every step.
    Linear(LinearArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SelfStabPreset {
    /// η = 0.1, α = 0.5, β = 1, x0 = 0.4, y0 = 0, 400 steps: four full cycles of Damian et
    /// al. 2022's four stages.
    DamianStages,
}

#[derive(Args, Debug)]
pub struct SelfStabArgs {
    /// Starting values (the flags below override them).
    #[arg(long, value_enum, default_value = "damian-stages")]
    pub preset: SelfStabPreset,
    /// Learning rate η (> 0).
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Progressive-sharpening rate α (> 0).
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// Stabilising strength β (> 0).
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f64>,
    /// Initial displacement along the top eigenvector (> 0).
    #[arg(long, allow_negative_numbers = true)]
    pub x0: Option<f64>,
    /// Initial displacement along ∇S (the seed uses 0).
    #[arg(long, allow_negative_numbers = true)]
    pub y0: Option<f64>,
    /// Number of map steps (rows t = 0..=steps).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Divergence bound on |x| and |y|.
    #[arg(long, allow_negative_numbers = true)]
    pub blowup: Option<f64>,
    /// Write the rows (t,x,y,sharpness,loss_rise,stage) to this CSV file.
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}

impl SelfStabArgs {
    /// The preset with the given flags applied (not yet checked).
    pub fn params(&self) -> SelfStabParams {
        let mut p = match self.preset {
            SelfStabPreset::DamianStages => SelfStabParams::four_stage_example(),
        };
        if let Some(v) = self.lr {
            p.lr = v;
        }
        if let Some(v) = self.alpha {
            p.alpha = v;
        }
        if let Some(v) = self.beta {
            p.beta = v;
        }
        if let Some(v) = self.x0 {
            p.x0 = v;
        }
        if let Some(v) = self.y0 {
            p.y0 = v;
        }
        if let Some(v) = self.steps {
            p.steps = v;
        }
        if let Some(v) = self.blowup {
            p.blowup = v;
        }
        p
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LinearPreset {
    /// m = 100, d = 50, n = 40, η = 1.4, symmetric init (scale 0.1), teacher labels, 400 steps.
    LiLinear,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    /// Paired neurons (equal W rows, opposite A entries): F_0 = 0. Needs an even m.
    Symmetric,
    /// All entries independent.
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LabelsArg {
    /// y = sign(wᵀx) for a random teacher w.
    Teacher,
    /// y = ±1 at random.
    Random,
}

#[derive(Args, Debug)]
pub struct LinearArgs {
    /// Starting values (the flags below override them).
    #[arg(long, value_enum, default_value = "li-linear")]
    pub preset: LinearPreset,
    /// Learning rate η (> 0).
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Width (hidden units).
    #[arg(long)]
    pub m: Option<usize>,
    /// Input dimension.
    #[arg(long)]
    pub d: Option<usize>,
    /// Number of samples.
    #[arg(long)]
    pub n: Option<usize>,
    /// GD steps (rows t = 0..=steps).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Seed of data, labels and initial weights.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Initialisation.
    #[arg(long, value_enum)]
    pub init: Option<InitArg>,
    /// Standard deviation of the initial entries (> 0).
    #[arg(long, allow_negative_numbers = true)]
    pub init_scale: Option<f64>,
    /// Labels.
    #[arg(long, value_enum)]
    pub labels: Option<LabelsArg>,
    /// Compute λ1(M) and the exact sharpness every this many steps (1 = every step).
    #[arg(long)]
    pub eig_every: Option<usize>,
    /// Output directory: metrics.csv, config.json, summary.json (+ params / data files).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Save A and W as params_step{N}.npz at these steps: `0,100,500` or `every:100`.
    #[arg(long, value_name = "STEPS", value_parser = parse_save_steps)]
    pub save_params: Option<SaveSteps>,
    /// Save X and Y as train.npz.
    #[arg(long)]
    pub save_data: bool,
}

impl LinearArgs {
    /// The preset with the given flags applied (not yet checked).
    pub fn params(&self) -> LinearParams {
        let mut p = match self.preset {
            LinearPreset::LiLinear => LinearParams::li_linear(),
        };
        if let Some(v) = self.lr {
            p.lr = v;
        }
        if let Some(v) = self.m {
            p.m = v;
        }
        if let Some(v) = self.d {
            p.d = v;
        }
        if let Some(v) = self.n {
            p.n = v;
        }
        if let Some(v) = self.steps {
            p.steps = v;
        }
        if let Some(v) = self.seed {
            p.seed = v;
        }
        if let Some(v) = self.init {
            p.init = match v {
                InitArg::Symmetric => LinearInit::Symmetric,
                InitArg::Random => LinearInit::Random,
            };
        }
        if let Some(v) = self.init_scale {
            p.init_scale = v;
        }
        if let Some(v) = self.labels {
            p.labels = match v {
                LabelsArg::Teacher => LabelKind::Teacher,
                LabelsArg::Random => LabelKind::Random,
            };
        }
        if let Some(v) = self.eig_every {
            p.eig_every = v;
        }
        p
    }
}

/// Run `simulate …`.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    match &args.which {
        SimulateCommand::SelfStab(a) => run_self_stab(a),
        SimulateCommand::Linear(a) => run_linear(a),
    }
}

fn run_self_stab(args: &SelfStabArgs) -> anyhow::Result<()> {
    let checked = args
        .params()
        .check()
        .context("simulate self-stab: bad parameters")?;
    let run = simulate(&checked);
    if let Some(path) = &args.out {
        write_csv(&run, path).context("simulate self-stab: writing the CSV")?;
    }
    outln!("{}", run.describe());
    if let Some(path) = &args.out {
        outln!("Wrote {} rows to {}.", run.rows.len(), path.display());
    }
    Ok(())
}

fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} steps {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn on_row(bar: &ProgressBar, row: &LinearRow) {
    bar.inc(1);
    if let Some(s) = row.sharpness {
        bar.set_message(format!(
            "loss {:.3e}  sharpness {:.4} (2/η = {:.4})",
            row.loss, s, row.two_over_eta
        ));
    }
}

fn run_linear(args: &LinearArgs) -> anyhow::Result<()> {
    if args.out.is_none() && (args.save_params.is_some() || args.save_data) {
        bail!(
            "simulate linear: --save-params and --save-data need an output directory (--out DIR)"
        );
    }
    let checked = args
        .params()
        .check()
        .context("simulate linear: bad parameters")?;
    let p = checked.params().clone();
    let mut run = LinearRun::new(&checked);
    let bar = progress(p.steps as u64 + 1);
    let summary = match &args.out {
        Some(dir) => {
            let opts = LinearWriteOptions {
                save_params: args.save_params.clone(),
                save_data: args.save_data,
            };
            let s = write_run(dir, &mut run, &opts, |row| on_row(&bar, row));
            bar.finish_and_clear();
            s.with_context(|| format!("simulate linear: writing into {}", dir.display()))?
        }
        None => {
            run.run_with(|row| on_row(&bar, row));
            bar.finish_and_clear();
            run.summary()
        }
    };
    outln!("{}", summary.describe(&p));
    if let Some(dir) = &args.out {
        outln!(
            "Wrote metrics.csv, config.json, summary.json{}{} to {}.",
            if args.save_params.is_some() {
                ", params_step*.npz"
            } else {
                ""
            },
            if args.save_data { ", train.npz" } else { "" },
            dir.display()
        );
    }
    Ok(())
}
