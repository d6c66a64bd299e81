//! `eos-explorer bench`: timings at the CIFAR-5k fc-tanh shape.

use std::path::PathBuf;

use anyhow::Context;
use eos_explorer::engine::bench::{BenchOptions, run};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// A cifar-10-batches-bin folder (real data); without it, same-shape synthetic data.
    #[arg(long)]
    pub cifar_dir: Option<PathBuf>,
    /// Training samples.
    #[arg(long, default_value_t = 5000)]
    pub n: usize,
    /// Repetitions of each timed operation.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Rows per chunk in the full-batch passes.
    #[arg(long, default_value_t = 2500)]
    pub chunk_rows: usize,
    /// Untimed GD steps from initialisation before the measurements along a trajectory (warm
    /// estimates, theory probes, sharpness at every step): 1075 reaches cohen-fig1's first
    /// crossing of 2/η = 100 at η = 0.02, 1200 is well into its edge of stability (about a
    /// minute per 1,000 steps on CIFAR-5k).
    #[arg(long, default_value_t = 0)]
    pub start_step: usize,
    /// GD steps along which warm-started estimates are counted.
    #[arg(long, default_value_t = 10)]
    pub trajectory_steps: usize,
    /// Learning rate of that trajectory (0.02 = cohen-fig1, stable at initialisation).
    #[arg(long, default_value_t = 0.02)]
    pub lr: f64,
    /// Eigenvalues per estimate in the sharpness-every-step measurement.
    #[arg(long, default_value_t = 1)]
    pub neigs: usize,
    /// GD steps of the sharpness-every-step measurement, each estimate warm-started from the
    /// previous one with both solvers (0 = skip).
    #[arg(long, default_value_t = 20)]
    pub every_step_steps: usize,
    /// GD steps along which the measured-theory tracker's λ1 probe is timed: the old way (f64
    /// Lanczos to 1e-6), today's (f32 Lanczos to 1e-4) and the block solver for comparison
    /// (0 = skip).
    #[arg(long, default_value_t = 10)]
    pub theory_probe_steps: usize,
    /// Also check every such estimate against a float64 reference solved to 1e-8 (slow:
    /// about 10 s per step on CIFAR-5k).
    #[arg(long)]
    pub error_study: bool,
}

pub fn run_bench(args: &BenchArgs) -> anyhow::Result<()> {
    let opts = BenchOptions {
        cifar_dir: args.cifar_dir.clone(),
        n: args.n,
        reps: args.reps,
        threads: args.threads,
        chunk_rows: args.chunk_rows,
        start_step: args.start_step,
        trajectory_steps: args.trajectory_steps,
        lr: args.lr,
        neigs: args.neigs,
        every_step_steps: args.every_step_steps,
        theory_probe_steps: args.theory_probe_steps,
        error_study: args.error_study,
        ..Default::default()
    };
    let report = run(&opts, |line| eprintln!("  {line}")).context("benchmark failed")?;
    print!("{}", report.to_table());
    Ok(())
}
