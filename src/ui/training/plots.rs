//! The Training workspace's plots: the engine's training figures (loss, accuracy, sharpness
//! against 2/η with the edge band, the first crossing and the map's prediction; overlays in
//! their own colours) drawn on screen; the export buttons write the same figures.

use eframe::egui;

use super::TrainingWorkspace;
use super::model::{Overlay, OverlayKind, predicted_sharpness};
use crate::engine::figure::training::{self, OverlayRun, TrainingView};
use crate::engine::figure::{Figure, Role};
use crate::ui::figure_view;
use crate::ui::plots::{fmt_num, linked_plot, plot_header};
use crate::ui::shell::Cx;

/// An overlay's colour role: its palette slot, or the flow's.
pub(super) fn overlay_role(o: &Overlay) -> Role {
    match o.kind {
        OverlayKind::Flow => Role::Flow,
        _ => Role::Run(o.slot),
    }
}

impl TrainingWorkspace {
    /// The figures of the current run and its overlays, as the screen and the exports draw them.
    pub fn figures(&self) -> Vec<Figure> {
        let Some(run) = &self.run else {
            return Vec::new();
        };
        // With overlays, the main run's legend entries name its η too.
        let main_suffix = match (&run.info, self.overlays.is_empty()) {
            (Some(i), false) => format!(" · η = {}", fmt_num(i.config.lr)),
            _ => String::new(),
        };
        let view = TrainingView {
            main: Some(&run.series),
            main_suffix,
            overlays: self
                .overlays
                .iter()
                .map(|o| OverlayRun {
                    label: o.name(),
                    role: overlay_role(o),
                    draw_threshold: o.kind != OverlayKind::Flow,
                    series: &o.view.series,
                })
                .collect(),
            prediction: predicted_sharpness(&self.theory),
            log_y: self.log_y,
            central_flow: (self.cf_on && !self.cf_series.is_empty()).then_some(&self.cf_series),
        };
        let mut figs = training::all(&view);
        // Before the first record the accuracy plot holds its place.
        if run.info.is_none() && figs.len() == 2 {
            figs.insert(1, training::accuracy(&view));
        }
        figs
    }

    pub(super) fn plots_ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        let figs = self.figures();
        // Exported titles and file names carry the preset and the run's η.
        cx.exports.context = crate::ui::export::ExportContext::new(
            cx.settings.last_preset.as_deref(),
            |k| matches!(k, crate::engine::presets::PresetKind::Training(_)),
            self.run
                .as_ref()
                .and_then(|r| r.info.as_ref())
                .map_or(self.config.lr, |i| i.config.lr),
        );
        let link = egui::Id::unique("training-x-link");
        let avail = ui.available_height();
        let (mut h_small, mut h_big) = (
            ((avail - 90.0) * 0.28).max(90.0),
            ((avail - 90.0) * 0.44).max(120.0),
        );
        if figs.len() > 3 {
            // The central flow's distance and σ² figures share the height.
            let usable = avail - 30.0 * figs.len() as f32;
            h_big = (usable * 0.3).max(120.0);
            h_small = (usable * 0.7 / (figs.len() - 1) as f32).max(80.0);
        }
        for fig in &figs {
            let (title, height) = match fig.id.as_str() {
                "sharpness" => ("Sharpness λ1…λk and 2/η", h_big),
                _ => (fig.title.as_str(), h_small),
            };
            plot_header(ui, title, cx.exports, fig);
            let plot = linked_plot(
                &format!("train-{}", fig.id),
                height,
                link,
                "step",
                fig.log_y,
            );
            figure_view::show(ui, plot, fig);
        }
    }
}
