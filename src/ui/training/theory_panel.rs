//! The "From the network" section: Damian et al. 2022's α, β, δ measured on the Training run
//! at its first crossing of 2/η, and the agreement of the predicted map with the run.

use eframe::egui::{self, RichText};

use super::TrainingWorkspace;
use crate::engine::theory::measured::{Phase, predicted_lambda1};
use crate::ui::plots::fmt_num;
use crate::ui::shell::{AppCommand, Cx};
use crate::ui::theme;

impl TrainingWorkspace {
    /// The "From the network" panel: Damian et al.'s quantities measured on this run.
    pub(super) fn theory_ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        let pal = theme::palette(ui.ctx());
        ui.heading("From the network (Damian et al. 2022, §4)");
        let mut on = self.theory_on;
        ui.checkbox(&mut on, "measure α, β, δ at the first crossing")
            .on_hover_text("At the first step with λ1 ≥ 2/η: top eigenvector u, ∇S = ∇³L[u,u] (f64), α = −∇L·∇S⊥, β = ‖∇S⊥‖², δ = √(2α/β); then x_t, y_t, λ1 − 2/η along the next steps beside the predicted map. Costs a λ1 probe (f32, redone in f64 within 1e-4·2/η of 2/η) on every step near and after the crossing.");
        if on != self.theory_on {
            self.set_theory(on);
        }
        ui.horizontal(|ui| {
            let l = ui.label("steps tracked");
            ui.add(egui::DragValue::new(&mut self.theory_window).range(1..=100_000))
                .labelled_by(l.id)
                .on_hover_text(
                    "Steps followed after the first crossing; applies at the next Start or Reset",
                );
        });
        if !self.theory_on {
            return;
        }
        let log = &self.theory;
        let status = match (&log.phase, log.anchors.first()) {
            (None, _) => "waiting for the run".to_string(),
            (Some(Phase::Searching), _) => format!(
                "searching for λ1 ≥ 2/η ({} λ1 probes, {} HVPs)",
                log.probes, log.probe_hvps
            ),
            (Some(Phase::Tracking), Some(a)) => format!(
                "tracking: {} steps since the crossing at step {}",
                log.rows.len(),
                a.step
            ),
            (Some(Phase::Tracking), None) => "tracking".into(),
            (Some(Phase::Done), _) => format!("done: {} steps tracked", log.rows.len()),
        };
        ui.label(RichText::new(status).small());
        if let Some(e) = &log.error {
            ui.label(RichText::new(format!("! {e}")).color(pal.warn_fg));
        }
        let Some(a) = log.anchors.first() else {
            return;
        };
        ui.label(
            RichText::new(format!(
                "θ₀ = step {}: λ1 = {} (2/η = {})\nα = {}   β = {}\nδ = √(2α/β) = {}   x* = {}",
                a.step,
                fmt_num(a.lambda1),
                fmt_num(a.threshold),
                fmt_num(a.alpha),
                fmt_num(a.beta),
                fmt_num(a.delta),
                fmt_num(a.x_center)
            ))
            .monospace(),
        );
        if a.alpha <= 0.0 {
            ui.label(
                RichText::new("α ≤ 0: Assumption 2 fails here, no self-stabilization is predicted")
                    .color(pal.warn_fg),
            );
        }
        if let Some(g) = log.agreement(0) {
            let ret = |v: Option<usize>| v.map_or("not yet".to_string(), |t| format!("t = {t}"));
            let mut lines = vec![
                format!(
                    "back below 2/η: measured {}, predicted {}",
                    ret(g.measured_return),
                    ret(g.predicted_return)
                ),
                format!(
                    "peak |x|: measured {} (t = {}), δ = {}",
                    fmt_num(g.measured_peak_abs_x),
                    g.measured_peak_abs_x_t,
                    fmt_num(g.delta)
                ),
            ];
            if let Some(c) = g.corr_excess {
                lines.push(format!("corr(predicted, measured λ1 − 2/η) = {c:.2}"));
            }
            if let Some(c) = &g.calibrated {
                lines.push(format!(
                    "x̃₀ fitted at t = {} ({} vs {}): return predicted {}",
                    c.fit_t,
                    fmt_num(c.x0_fitted),
                    fmt_num(c.x0_measured),
                    ret(c.predicted_return)
                ));
            }
            ui.label(RichText::new(lines.join("\n")).small());
        }
        if let Some(note) = predicted_lambda1(Some(a), &log.rows).cut_note() {
            ui.label(RichText::new(note).small());
        }
        if ui
            .add_enabled(a.alpha > 0.0 && a.beta > 0.0, egui::Button::new("Explore in Self-stabilization →"))
            .on_hover_text("Copy the measured η, α, β, x̃₀ and e₀ into the map's sliders and overlay the measured trajectory")
            .clicked()
        {
            cx.commands.send(AppCommand::OpenInSelfStab);
        }
    }
}
