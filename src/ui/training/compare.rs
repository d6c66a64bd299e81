//! The "Compare runs" section: branch at the current step, η sweep, gradient-flow reference.

use eframe::egui::{self, RichText};

use super::TrainingWorkspace;
use super::model::parse_lrs;
use super::plots::overlay_role;
use crate::ui::figure_view::{color_of, theme_of};
use crate::ui::theme;

impl TrainingWorkspace {
    /// Branch, η sweep and gradient-flow overlay controls.
    pub(super) fn compare_ui(&mut self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        ui.heading("Compare runs");
        let has_records = self
            .run
            .as_ref()
            .is_some_and(|r| r.info.is_some() && !r.records.is_empty());
        crate::ui::widgets::log_slider(
            ui,
            &mut self.branch_lr,
            crate::ui::widgets::around(self.lr_anchor),
            "branch η",
            false,
        );
        if ui
            .add_enabled(has_records, egui::Button::new("Branch"))
            .on_hover_text("Fork the run at its current step and continue it with the branch η, overlaid on the same plots")
            .on_disabled_hover_text("Start a run first")
            .clicked()
        {
            self.branch();
        }
        ui.horizontal(|ui| {
            let l = ui.label("η sweep");
            ui.add(
                egui::TextEdit::singleline(&mut self.sweep_text)
                    .hint_text("0.5η, η, 1.5η")
                    .desired_width(130.0),
            )
            .labelled_by(l.id)
            .on_hover_text("learning rates run from the same initialisation and overlaid");
        });
        let sweep_err = parse_lrs(&self.sweep_text).err();
        let loading = self.run.as_ref().is_some_and(|r| r.loading);
        if ui
            .add_enabled(
                sweep_err.is_none() && self.problems().is_empty() && !loading,
                egui::Button::new("Run sweep"),
            )
            .on_hover_text("Start one run per η from the same θ0, each with its own 2/η line (replaces the current run)")
            .clicked()
        {
            // A sweep replaces the run on screen: ask first when there is one.
            if self.run.as_ref().is_some_and(|r| !r.records.is_empty()) {
                self.confirm_sweep = true;
            } else {
                self.start_sweep();
            }
        }
        if let Some(e) = sweep_err {
            ui.label(RichText::new(format!("! {e}")).color(pal.warn_fg));
        }
        let before = self.show_flow;
        ui.checkbox(&mut self.show_flow, "gradient-flow reference")
            .on_hover_text("Overlay gradient flow (RK4) from the same initialisation, plotted against time / η");
        if self.show_flow != before {
            if self.show_flow {
                self.add_flow();
            } else {
                self.remove_flow();
            }
        }
        if !self.overlays.is_empty() {
            for o in &self.overlays {
                let step = o.view.records.last().map(|r| r.step);
                let state = match (&o.view.finished, step) {
                    (Some(r), _) => super::model::stop_text(r),
                    (None, Some(s)) => format!("step {s}"),
                    (None, None) => "waiting".into(),
                };
                let c = color_of(overlay_role(o), theme_of(ui.ctx()));
                ui.label(
                    RichText::new(format!("{} · {state}", o.name()))
                        .small()
                        .color(c),
                );
            }
            if ui
                .button("Clear overlays")
                .on_hover_text("Remove the branches, sweep runs and gradient flow")
                .clicked()
            {
                self.clear_overlays();
            }
        }
    }
}
