//! `eos-explorer plot RUN_DIR [RUN_DIR …] --out FILE.svg|png`: the app's figures from run
//! folders (the first one is the main run with its 2/η line and edge bands; the others are
//! overlaid), for papers made from runs computed elsewhere.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use eos_explorer::engine::figure::Theme;
use eos_explorer::engine::figure::render::{ExportStyle, write_figure};
use eos_explorer::engine::figure::runs::{
    self, FigureChoice, OVERLAY_SLOTS, PlottedRun, RUN_COLOURS, RunsView, series_of,
};
use eos_explorer::engine::figure::{Figure, Role};
use eos_explorer::engine::run_folder::read_run;

#[derive(Args, Debug)]
#[command(
    after_help = "The first folder is the main run (its 2/η line and edge-of-stability \
bands are drawn); the others are overlaid, labelled from their config.json (dataset, network, η) \
or by their folder name; runs an app export keeps under overlays/ are overlaid too. Any folder with a metrics.csv that has a `step` column can be plotted \
(docs/run-format.md); what the reader skipped is printed with its file and line.\n\n\
With --figure all, one file per figure is written: FILE_loss.svg, FILE_accuracy.svg (when \
measured), FILE_sharpness.svg (when measured)."
)]
pub struct PlotArgs {
    /// Run folders (each holds metrics.csv).
    #[arg(required = true, value_name = "RUN_DIR")]
    pub dirs: Vec<PathBuf>,
    /// The figure file (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// loss, accuracy, sharpness, all, or the name of any column of metrics.csv.
    #[arg(long, default_value = "all", value_name = "NAME")]
    pub figure: String,
    /// light (white background) or dark.
    #[arg(long, default_value = "light")]
    pub theme: String,
    /// Width in pixels.
    #[arg(long, default_value_t = 900)]
    pub width: u32,
    /// Height in pixels.
    #[arg(long, default_value_t = 560)]
    pub height: u32,
    /// Linear loss axis (default: logarithmic, as in the app).
    #[arg(long)]
    pub linear_y: bool,
}

fn out_ext(p: &Path) -> anyhow::Result<String> {
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
    {
        Some(e) if e == "svg" || e == "png" => Ok(e),
        _ => bail!(
            "--out {}: the file name must end in .svg or .png",
            p.display()
        ),
    }
}

pub fn run(a: &PlotArgs) -> anyhow::Result<i32> {
    let ext = out_ext(&a.out)?;
    let theme = match a.theme.trim().to_ascii_lowercase().as_str() {
        "light" => Theme::Light,
        "dark" => Theme::Dark,
        other => bail!("unknown theme `{other}`; choose light or dark"),
    };
    let mut loaded = Vec::new();
    for dir in &a.dirs {
        let l = read_run(dir).with_context(|| format!("cannot plot {}", dir.display()))?;
        for w in &l.warnings {
            eprintln!("warning: {w}");
        }
        if l.run.metrics.is_empty() {
            eprintln!(
                "warning: {}: metrics.csv has no complete row to draw",
                dir.display()
            );
        }
        let mut run = l.run;
        let overlays = std::mem::take(&mut run.overlays);
        loaded.push((runs::run_label(&run, dir), run));
        // The runs an app export drew over this one (branches, sweep members, gradient flow).
        for o in overlays {
            loaded.push((o.name, o.run));
        }
    }
    let cols = runs::columns(loaded.iter().map(|(_, r)| &r.metrics));
    let choice = FigureChoice::parse(&a.figure, &cols).map_err(anyhow::Error::msg)?;
    let labels: Vec<String> = loaded.iter().map(|(l, _)| l.clone()).collect();
    let series: Vec<_> = loaded.iter().map(|(_, r)| series_of(r, None)).collect();
    let plotted: Vec<PlottedRun> = loaded
        .iter()
        .enumerate()
        .map(|(i, (_, r))| PlottedRun {
            label: &labels[i],
            role: Role::Run(OVERLAY_SLOTS[(i + RUN_COLOURS - 1) % RUN_COLOURS]),
            series: &series[i],
            metrics: &r.metrics,
            upto: None,
        })
        .collect();
    let view = RunsView {
        main: plotted.first().copied(),
        others: plotted.iter().skip(1).copied().collect(),
        log_y: !a.linear_y,
    };
    let figs: Vec<Figure> = runs::figures(&view, &choice)
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect();
    if figs.is_empty() {
        bail!(
            "nothing to draw for --figure {}: the run(s) have no values in the columns it needs (columns: {})",
            a.figure,
            cols.join(", ")
        );
    }
    let style = ExportStyle::sized(a.width, a.height, theme);
    let stem = a
        .out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("figure");
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
    }
    let one = !matches!(choice, FigureChoice::All);
    for fig in &figs {
        let path = if one {
            a.out.clone()
        } else {
            a.out.with_file_name(format!("{stem}_{}.{ext}", fig.id))
        };
        write_figure(&path, fig, &style)?;
        println!("wrote {}", path.display());
    }
    Ok(0)
}
