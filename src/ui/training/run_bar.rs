//! The run bar (Start, Pause, Step, Reset, Stop, export) and the status line.

use eframe::egui::{self, RichText};

use super::TrainingWorkspace;
use super::model::{status_parts, typical_hvps};
use crate::engine::config::RunConfig;
use crate::ui::export::{OverlayExport, RunExport};
use crate::ui::plot_aids::{fmt_sig, sig};
use crate::ui::shell::Cx;
use crate::ui::theme;

impl TrainingWorkspace {
    pub(super) fn run_bar_ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        let probs = self.problems();
        let active = self.any_active();
        let paused = self.run.as_ref().is_some_and(|r| r.paused);
        let has_run = self.run.as_ref().is_some_and(|r| r.info.is_some());
        let loading = self.run.as_ref().is_some_and(|r| r.loading);
        ui.horizontal_wrapped(|ui| {
            let start = ui
                .add_enabled(probs.is_empty() && !loading, egui::Button::new("Start"))
                .on_hover_text("Start a new run with these settings")
                .on_disabled_hover_text(match probs.first() {
                    Some(p) => format!("Fix first: {p}"),
                    None => "loading…".into(),
                });
            if start.clicked() {
                self.start();
            }
            let pr_label = if active && paused { "Resume" } else { "Pause" };
            if ui
                .add_enabled(active, egui::Button::new(pr_label))
                .on_hover_text("Pause or resume (Space)")
                .clicked()
            {
                self.pause_resume();
            }
            if ui
                .add_enabled(active, egui::Button::new("Step"))
                .on_hover_text("One step (→)")
                .clicked()
            {
                self.step();
            }
            if ui
                .add_enabled(has_run, egui::Button::new("Reset"))
                .on_hover_text("Back to the same initial weights (R)")
                .clicked()
            {
                self.reset();
            }
            if ui
                .add_enabled(active, egui::Button::new("Stop"))
                .on_hover_text("End this run")
                .clicked()
            {
                self.stop();
            }
            ui.separator();
            ui.checkbox(&mut self.log_y, "log-y loss");
            ui.separator();
            let can_export = self.run.as_ref().is_some_and(|r| !r.records.is_empty());
            if ui
                .add_enabled(can_export, egui::Button::new("Export run…"))
                .on_hover_text("Write metrics.csv and config.json (and NPZ if ticked) to a folder, with the overlaid runs, the measured theory (theory.csv) and the central flow (central_flow.csv) when there are any")
                .clicked()
                && let Some(export) = self.run_export()
            {
                cx.exports.export_run(ui.ctx(), export, self.export_npz);
            }
            ui.checkbox(&mut self.export_npz, "+ NPZ");
            if ui
                .button("Open run…")
                .on_hover_text("Open a saved run folder (or one being written) in the Runs workspace to compare, replay or follow it")
                .clicked()
            {
                cx.commands.send(crate::ui::shell::AppCommand::ChooseRun);
            }
        });
        self.status_ui(ui);
    }

    fn status_ui(&self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        let Some(run) = &self.run else {
            ui.label(RichText::new("No run yet: press Start.").color(pal.muted));
            return;
        };
        if run.loading {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("loading data and building the network…");
            });
            return;
        }
        let Some(info) = &run.info else {
            ui.label(
                RichText::new("The run did not start (see the message above).").color(pal.muted),
            );
            return;
        };
        let last = run.records.last();
        let step = last.map(|r| r.step).unwrap_or(0);
        let mut parts = status_parts(
            step,
            info.config.max_steps,
            run.finished.as_ref(),
            run.paused,
            run.steps_per_s(),
        );
        if let Some(r) = run.records.iter().rev().find(|r| r.hvps.is_some()) {
            if let Some(h) = typical_hvps(&run.records) {
                parts.push(format!("median {h} HVPs/estimate"));
            }
            if let Some(res) = r.lanczos_residual {
                parts.push(format!("residual ‖Hv − λv‖ {}", sig(res, 2)));
            }
        }
        if let Some(r) = last {
            parts.push(format!(
                "η = {} (2/η = {})",
                fmt_sig(r.lr),
                fmt_sig(r.threshold)
            ));
        }
        // Each part on one piece: a narrow window (1024 px with the side panel) breaks the line
        // between parts, never inside one ("residual ‖Hv − λv‖" apart from its value).
        ui.horizontal_wrapped(|ui| {
            ui.spacing_mut().item_spacing.x = 0.0;
            for (i, part) in parts.iter().enumerate() {
                let text = if i + 1 < parts.len() {
                    format!("{part}  ·  ")
                } else {
                    part.clone()
                };
                ui.add(egui::Label::new(RichText::new(text).monospace()).extend());
            }
        });
        ui.label(
            RichText::new(format!(
                "{} · {} · {} parameters · {} train / {} test",
                info.dataset_name, info.arch, info.num_params, info.n_train, info.n_test
            ))
            .small()
            .color(pal.muted),
        );
    }
}

impl TrainingWorkspace {
    /// What "Export run…" writes: the main run, its overlays and its probes' tables.
    pub fn run_export(&self) -> Option<RunExport> {
        let run = self.run.as_ref()?;
        let cfg = run
            .info
            .as_ref()
            .map(|i| i.config.clone())
            .unwrap_or_else(|| self.config.clone());
        let overlays = self
            .overlays
            .iter()
            .map(|o| OverlayExport {
                name: o.name(),
                records: o.view.records.clone(),
                // A branch continues the main run's configuration with its own η.
                config: o.config.clone().unwrap_or_else(|| RunConfig {
                    lr: o.lr,
                    ..cfg.clone()
                }),
            })
            .collect();
        Some(RunExport {
            records: run.records.clone(),
            neigs: cfg.neigs,
            config: cfg,
            overlays,
            theory: self.theory.clone(),
            theory_options: self.theory_options().map(|o| *o).unwrap_or_default(),
            central_flow: self.central_flow.clone(),
            central_flow_options: self.central_flow_options().unwrap_or_default(),
        })
    }
}
