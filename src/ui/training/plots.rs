//! The Training workspace's plots: the engine's training figures (loss, accuracy, sharpness
//! against 2/η with the edge band, the first crossing and the map's prediction; overlays in
//! their own colours) drawn on screen; the export buttons write the same figures.

use eframe::egui;

use super::TrainingWorkspace;
use super::model::{Overlay, OverlayKind, predicted_sharpness};
use crate::engine::figure::training::{self, OverlayRun, TrainingView};
use crate::engine::figure::{Figure, Role};
use crate::ui::plot_aids;
use crate::ui::plots::{fmt_num, linked_plot};
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
        let keys: Vec<String> = figs.iter().map(|f| format!("train-{}", f.id)).collect();
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let shown = plot_aids::shown(ui.ctx(), &key_refs);
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
        if shown.len() == 1 && figs.len() > 1 {
            // One plot in focus: it takes the whole central area.
            h_big = (avail - 40.0).max(120.0);
            h_small = h_big;
        }
        for (fig, key) in figs.iter().zip(&keys) {
            if !shown.contains(&key.as_str()) {
                continue;
            }
            let (title, height) = match fig.id.as_str() {
                "sharpness" => ("Sharpness λ1…λk and 2/η", h_big),
                _ => (fig.title.as_str(), h_small),
            };
            plot_aids::header(ui, key, title, cx.exports, fig);
            // Hovering lists every series at that step (loss, λ1…λk, 2/η, predictions).
            let plot = linked_plot(key, height, link, "step", fig.log_y)
                .label_formatter(plot_aids::hover_all(fig, "step"));
            plot_aids::show(ui, key, plot, fig);
        }
    }
}
