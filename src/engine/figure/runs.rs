//! Figures of run folders read from disk (`eos-explorer plot`, the app's Runs workspace): the
//! Training figures of one main run (its 2/η step line, edge bands, first crossing) with the
//! other runs overlaid, and a figure of any column by name (unknown columns included). Both
//! callers use these functions, so a figure written by `plot` is the one on screen.

use std::path::Path;

use super::series::RunSeries;
use super::training::{self, OverlayRun, TrainingView};
use super::{Figure, Layer, Role};
use crate::engine::config::Optimizer;
use crate::engine::run_folder::{Column, Known, Metrics, RunData, slug};

/// Colours for overlaid runs (`Role::Run(0..RUN_COLOURS)`; more slots repeat them).
pub const RUN_COLOURS: usize = 6;

/// The order overlaid runs take their colour slots: pink, olive, indigo, brown first, since
/// orange and blue are also the main run's test and training colours.
pub const OVERLAY_SLOTS: [usize; RUN_COLOURS] = [1, 3, 4, 5, 0, 2];

fn known_column(m: &Metrics, k: Known) -> Option<&Column> {
    m.columns.iter().find(|c| c.known == Some(k))
}

fn cell(c: Option<&Column>, i: usize) -> Option<f64> {
    c.and_then(|c| c.values.get(i).copied().flatten())
}

/// The plotted series of a run's rows with `step ≤ upto` (all rows when `upto` is `None`).
///
/// Where the file has no `threshold` cell but an `lr` one, the threshold is that of the run's
/// optimizer (2/η for gradient descent, the default when there is no config.json). Rows
/// without a training loss add no loss point.
pub fn series_of(run: &RunData, upto: Option<usize>) -> RunSeries {
    let m = &run.metrics;
    let optimizer = run
        .config
        .as_ref()
        .map(|c| c.optimizer)
        .unwrap_or(Optimizer::Gd);
    let loss = known_column(m, Known::TrainLoss);
    let acc = known_column(m, Known::TrainAcc);
    let test_loss = known_column(m, Known::TestLoss);
    let test_acc = known_column(m, Known::TestAcc);
    let thr = known_column(m, Known::Threshold);
    let lr = known_column(m, Known::Lr);
    let eig_cols: Vec<&Column> = (1..)
        .map_while(|i| known_column(m, Known::Lambda(i)))
        .collect();
    let mut s = RunSeries::new();
    let mut eigs: Vec<f64> = Vec::with_capacity(eig_cols.len());
    for (i, &step) in m.step.iter().enumerate() {
        if upto.is_some_and(|u| step > u) {
            continue;
        }
        eigs.clear();
        for c in &eig_cols {
            match cell(Some(c), i) {
                Some(v) => eigs.push(v),
                None => break,
            }
        }
        let threshold = cell(thr, i)
            .or_else(|| cell(lr, i).map(|l| optimizer.stability_threshold(l)))
            .unwrap_or(f64::NAN);
        s.push_values(
            step as f64,
            cell(loss, i).unwrap_or(f64::NAN),
            cell(acc, i),
            cell(test_loss, i),
            cell(test_acc, i),
            (!eigs.is_empty()).then_some(&eigs[..]),
            threshold,
        );
    }
    s.train_loss.retain(|p| !p[1].is_nan());
    s
}

/// A legend label for a run: from its config (`digits · fc-tanh:64,64 · η = 0.1`), else from
/// config.json's `info` (dataset, network) and the first `lr` cell, else the folder's name.
pub fn run_label(run: &RunData, dir: &Path) -> String {
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    if let Some(c) = &run.config {
        return format!(
            "{} · {} · η = {}",
            c.dataset.short_name(),
            c.arch_string(),
            c.lr
        );
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some(i) = &run.info {
        parts.extend(
            [&i.dataset, &i.network]
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .cloned(),
        );
    }
    if parts.is_empty() {
        parts.push(folder);
    }
    let lr = known_column(&run.metrics, Known::Lr)
        .and_then(|c| c.values.iter().flatten().next().copied());
    if let Some(lr) = lr {
        parts.push(format!("η = {lr}"));
    }
    parts.join(" · ")
}

/// One run as drawn.
#[derive(Clone, Copy, Debug)]
pub struct PlottedRun<'a> {
    pub label: &'a str,
    /// The colour of an overlaid run (`Role::Run(slot)`); the main run uses the Training roles.
    pub role: Role,
    /// Its series (already cut at the replay cursor).
    pub series: &'a RunSeries,
    pub metrics: &'a Metrics,
    /// Rows with a larger step are not drawn (the replay cursor).
    pub upto: Option<usize>,
}

/// The runs of a figure: one main run (threshold, bands, crossing) and the others overlaid.
#[derive(Clone, Debug, Default)]
pub struct RunsView<'a> {
    pub main: Option<PlottedRun<'a>>,
    pub others: Vec<PlottedRun<'a>>,
    pub log_y: bool,
}

/// Which figure(s) to draw: a Training figure, all of them, or one column by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FigureChoice {
    Loss,
    Accuracy,
    Sharpness,
    All,
    Column(String),
}

impl FigureChoice {
    /// Parse a figure name; a name that is neither a figure nor one of `columns` is an error
    /// that lists the valid names.
    pub fn parse(s: &str, columns: &[String]) -> Result<Self, String> {
        let t = s.trim();
        Ok(match t {
            "loss" => FigureChoice::Loss,
            "accuracy" => FigureChoice::Accuracy,
            "sharpness" => FigureChoice::Sharpness,
            "all" => FigureChoice::All,
            _ if columns.iter().any(|c| c == t) => FigureChoice::Column(t.to_string()),
            _ => {
                let cols = if columns.is_empty() {
                    String::new()
                } else {
                    format!(", or a column of the run(s): {}", columns.join(", "))
                };
                return Err(format!(
                    "unknown figure `{t}`; choose loss, accuracy, sharpness, all{cols}"
                ));
            }
        })
    }
}

/// Every column name (other than `step`) of these runs, in first-seen order.
pub fn columns<'a>(runs: impl IntoIterator<Item = &'a Metrics>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in runs {
        for c in &m.columns {
            if !out.contains(&c.name) {
                out.push(c.name.clone());
            }
        }
    }
    out
}

fn training_view<'a>(v: &RunsView<'a>) -> (TrainingView<'a>, String) {
    let suffix = match (&v.main, v.others.is_empty()) {
        (Some(m), false) => format!(" · {}", m.label),
        _ => String::new(),
    };
    let tv = TrainingView {
        main: v.main.map(|m| m.series),
        main_suffix: suffix.clone(),
        overlays: v
            .others
            .iter()
            .map(|o| OverlayRun {
                label: o.label.to_string(),
                role: o.role,
                draw_threshold: true,
                series: o.series,
            })
            .collect(),
        log_y: v.log_y,
        // No theory is measured on a run read from disk (and new fields stay empty).
        ..TrainingView::default()
    };
    (tv, suffix)
}

/// With overlays, the main run's loss and accuracy legend entries carry its label too.
fn label_main(mut figs: Vec<Figure>, suffix: &str) -> Vec<Figure> {
    if !suffix.is_empty() {
        for f in &mut figs {
            for l in &mut f.layers {
                if matches!(l.role, Role::Train | Role::Test) && !l.name.contains(" · ") {
                    l.name += suffix;
                }
            }
        }
    }
    figs
}

/// The Training figures (loss, accuracy when measured, sharpness) of the main run with the
/// others overlaid; with overlays, the main run's legend entries carry its label.
pub fn training_figures(v: &RunsView) -> Vec<Figure> {
    let (tv, suffix) = training_view(v);
    label_main(training::all(&tv), &suffix)
}

/// One column of every run against the step (a column a run lacks adds nothing).
pub fn column_figure(v: &RunsView, name: &str) -> Figure {
    let unit = Known::parse(name).map(|k| k.unit());
    let y_label = match unit {
        Some(u) => format!("{name} ({u})"),
        None => name.to_string(),
    };
    let mut f = Figure::new(slug(name), name, "step", y_label);
    let with_label = v.main.is_some() && !v.others.is_empty() || v.others.len() > 1;
    let runs = v
        .main
        .iter()
        .map(|m| (m, Role::Train))
        .chain(v.others.iter().map(|o| (o, o.role)));
    for (r, role) in runs {
        let Some(c) = r.metrics.column(name) else {
            continue;
        };
        let points: Vec<[f64; 2]> = r
            .metrics
            .step
            .iter()
            .zip(&c.values)
            .filter(|(s, _)| r.upto.is_none_or(|u| **s <= u))
            .filter_map(|(s, v)| v.map(|v| [*s as f64, v]))
            .collect();
        let legend = if with_label {
            format!("{name} · {}", r.label)
        } else {
            name.to_string()
        };
        f.push(Layer::line(legend, role, points));
    }
    f
}

/// The figures of a choice (`All`: the Training figures).
pub fn figures(v: &RunsView, choice: &FigureChoice) -> Vec<Figure> {
    let (tv, suffix) = training_view(v);
    let figs = match choice {
        FigureChoice::All => training::all(&tv),
        FigureChoice::Loss => vec![training::loss(&tv)],
        FigureChoice::Accuracy => vec![training::accuracy(&tv)],
        FigureChoice::Sharpness => vec![training::sharpness(&tv)],
        FigureChoice::Column(name) => return vec![column_figure(v, name)],
    };
    label_main(figs, &suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::run_folder::Column;

    fn run(cols: &[(&str, Vec<Option<f64>>)], steps: usize) -> RunData {
        let mut r = RunData::default();
        r.metrics.step = (0..steps).collect();
        for (n, v) in cols {
            r.metrics.columns.push(Column {
                name: n.to_string(),
                known: Known::parse(n),
                values: v.clone(),
            });
        }
        r
    }

    #[test]
    fn threshold_comes_from_lr_when_absent_and_the_cursor_cuts() {
        let r = run(
            &[
                ("train_loss", vec![Some(1.0), Some(0.5), None, Some(0.2)]),
                ("lr", vec![Some(0.5); 4]),
                ("lambda_1", vec![Some(1.0), Some(3.0), Some(4.5), Some(4.0)]),
            ],
            4,
        );
        let s = series_of(&r, None);
        assert_eq!(s.train_loss.len(), 3);
        assert_eq!(s.threshold[0], [0.0, 4.0]);
        assert_eq!(s.first_crossing, Some([2.0, 4.5]));
        let cut = series_of(&r, Some(1));
        assert_eq!(cut.eigs[0].len(), 2);
        assert_eq!(cut.first_crossing, None);
    }

    #[test]
    fn labels_and_figure_names() {
        let r = run(&[("train_loss", vec![Some(1.0)])], 1);
        assert_eq!(run_label(&r, Path::new("/x/my-run")), "my-run");
        let cols = columns([&r.metrics]);
        assert_eq!(
            FigureChoice::parse("train_loss", &cols),
            Ok(FigureChoice::Column("train_loss".into()))
        );
        let e = FigureChoice::parse("nope", &cols).unwrap_err();
        assert!(e.contains("loss, accuracy, sharpness, all") && e.contains("train_loss"));
    }
}
