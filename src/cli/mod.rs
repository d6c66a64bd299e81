//! The command line: `run` (headless training), `plot` (figures from run folders), `simulate`
//! (theory), `bench`, `presets`;
//! without a subcommand the desktop app opens.

use clap::{Parser, Subcommand};

/// `println!` that ends quietly when stdout is closed (`eos-explorer presets | head -1`):
/// a broken pipe drops the rest of the output instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod bench;
mod plot;
mod run;
pub mod simulate;

#[derive(Parser, Debug)]
#[command(
    name = "eos-explorer",
    version,
    about = "Watch gradient descent find the edge of stability",
    long_about = "Without a subcommand, opens the desktop app on the embedded digits demo.\n\
                  Subcommands run the same engine headless."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Renderer of the desktop app: glow (OpenGL; smooth under software GL) or wgpu (only in a
    /// build with `--features wgpu`).
    #[arg(long, default_value = "glow", global = true)]
    pub renderer: String,
    /// Open the app without starting the digits demo (or the --preset run).
    #[arg(long)]
    pub no_autostart: bool,
    /// Open the app on this preset (see `eos-explorer presets`) and start it.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Open the app on these run folders (Runs workspace; a folder of runs opens each run).
    #[arg(long, value_name = "DIR")]
    pub open: Vec<std::path::PathBuf>,
    /// The app's CIFAR-10 folder (a cifar-10-batches-bin folder), e.g. for --preset cohen-fig1.
    #[arg(long, value_name = "DIR")]
    pub cifar_dir: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the presets (shared by the app's menu and `--preset`).
    Presets,
    /// Train headless and write config.json, metrics.csv (and NPZ files) to a folder.
    #[command(
        allow_negative_numbers = true,
        after_help = "Exit codes: 0 the run ended (finished, reached a goal, or diverged); \
1 an error (nothing was trained, or a file could not be written); 2 bad command-line usage; \
3 diverged with --fail-on-divergence; 130 stopped by Ctrl-C or SIGTERM (the current step \
finished, every file is complete and summary.json says \"stopped by the user at step N\"). \
A second Ctrl-C exits at once with 130, leaving complete files under their final names \
(unfinished ones only as NAME.partial).\n\n\
The folder format is described in docs/run-format.md."
    )]
    Run(Box<run::RunArgs>),
    /// Theory simulators: Damian et al.'s self-stabilization map, Li et al.'s linear network.
    Simulate(simulate::SimulateArgs),
    /// Time a GD step, an HVP and Lanczos at the CIFAR-5k shape (ratios to a plain GEMM).
    Bench(bench::BenchArgs),
    /// Draw the app's figures from run folders (any program's: see docs/run-format.md).
    Plot(plot::PlotArgs),
    /// Re-analyse a `run --theory` folder (theory.csv + theory_summary.json) with this
    /// version's agreement figures; prints them and writes theory_agreement.json beside.
    TheoryReport {
        /// The run folder.
        dir: std::path::PathBuf,
    },
}

/// An error and its causes on one line, each cause once (an I/O error whose message already
/// quotes its source is not followed by the source again).
pub fn render_error(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out += ": ";
        }
        out += &s;
    }
    out
}

/// Run the parsed command; returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Some(Command::Presets) => {
            for p in eos_explorer::engine::presets::all() {
                outln!(
                    "{:<16} {}{}",
                    p.name,
                    p.title,
                    if p.needs_cifar {
                        "  [needs --cifar-dir]"
                    } else {
                        ""
                    }
                );
                outln!("{:<16} {}", "", p.source);
            }
            Ok(0)
        }
        Some(Command::Run(a)) => run::run(&a),
        Some(Command::Plot(a)) => plot::run(&a),
        Some(Command::Simulate(a)) => {
            simulate::run(&a)?;
            Ok(0)
        }
        Some(Command::Bench(a)) => {
            bench::run_bench(&a)?;
            Ok(0)
        }
        Some(Command::TheoryReport { dir }) => {
            use eos_explorer::engine::theory::measured::{
                anchor_reports, describe_anchors, read_theory_run,
            };
            let run = read_theory_run(&dir)?;
            eprint!("{}", run.describe_skipped());
            let (anchors, rows) = (run.anchors, run.rows);
            let reports = anchor_reports(&anchors, &rows);
            outln!(
                "{} anchor(s), {} tracked steps in {}\n{}",
                anchors.len(),
                rows.len(),
                dir.display(),
                describe_anchors(&reports).trim_end()
            );
            let out = dir.join("theory_agreement.json");
            eos_explorer::engine::export::write_json(&out, &reports)?;
            outln!("wrote {}", out.display());
            Ok(0)
        }
        None => run_app(&cli),
    }
}

#[cfg(feature = "gui")]
fn run_app(cli: &Cli) -> anyhow::Result<i32> {
    let renderer = cli
        .renderer
        .parse::<eos_explorer::ui::Renderer>()
        .map_err(anyhow::Error::msg)?;
    if let Some(name) = &cli.preset
        && eos_explorer::engine::presets::find(name).is_none()
    {
        let names: Vec<&str> = eos_explorer::engine::presets::all()
            .iter()
            .map(|p| p.name)
            .collect();
        anyhow::bail!(
            "unknown preset `{name}`; the presets are {}",
            names.join(", ")
        );
    }
    if let Some(d) = &cli.cifar_dir
        && !d.is_dir()
    {
        anyhow::bail!("--cifar-dir {}: not a folder", d.display());
    }
    for d in &cli.open {
        if !d.exists() {
            anyhow::bail!(
                "--open {}: no such folder; give a run folder (one with metrics.csv) or a folder of runs",
                d.display()
            );
        }
    }
    eos_explorer::ui::run_app(eos_explorer::ui::AppOptions {
        renderer,
        autostart: if cli.no_autostart { Some(false) } else { None },
        preset: cli.preset.clone(),
        cifar_dir: cli.cifar_dir.as_ref().map(|d| d.display().to_string()),
        open: cli.open.clone(),
    })?;
    Ok(0)
}

#[cfg(not(feature = "gui"))]
fn run_app(_cli: &Cli) -> anyhow::Result<i32> {
    anyhow::bail!(
        "this build has no desktop app (built without the `gui` feature); use a subcommand, see --help"
    )
}
