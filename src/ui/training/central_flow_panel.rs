//! The "Central flow" section: Cohen et al. 2025's central flow (and a gradient flow) stepped
//! beside the main run by the worker's probe; its status, cost, and the k = 1 link to
//! Damian et al. 2022's δ = √(2α/β).

use eframe::egui::{self, RichText};

use super::TrainingWorkspace;
use super::controller::MAX_CF_SUBSTEPS;
use crate::ui::plots::fmt_num;
use crate::ui::theme;

impl TrainingWorkspace {
    pub(super) fn central_flow_ui(&mut self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        ui.heading("Central flow");
        let mut on = self.cf_on;
        ui.checkbox(&mut on, "Central flow (Cohen et al. 2025)")
            .on_hover_text("Step Cohen, Damian, Talwalkar, Kolter & Lee 2025's central flow beside GD from the same θ₀ (f64): an ODE that follows GD's time-averaged trajectory through the edge of stability. Draws its predicted time-averaged loss, its eigenvalues (held at 2/η), the distances of GD from it and from gradient flow, and the predicted oscillation variance σ² against GD's measured one. Costs Hessian–vector products on every step; GD only.");
        if on != self.cf_on {
            self.set_central_flow(on);
        }
        ui.horizontal(|ui| {
            let l = ui.label("substeps per GD step");
            ui.add(egui::DragValue::new(&mut self.cf_substeps).range(1..=MAX_CF_SUBSTEPS))
                .labelled_by(l.id)
                .on_hover_text("Explicit Euler substeps of the flow (and of the gradient flow) per GD step; applies at the next Start or Reset");
        });
        if !self.cf_on {
            return;
        }
        let log = &self.central_flow;
        let status = match log.rows.last() {
            None if log.started => "waiting for the first step".to_string(),
            None => "waiting for the run".to_string(),
            Some(r) => {
                let thr = self
                    .run
                    .as_ref()
                    .and_then(|r| r.info.as_ref())
                    .map(|i| 2.0 / i.config.lr);
                format!(
                    "step {}: λ1 = {}{}, k = {}, σ²₁ = {}\n‖w_GD − w_CF‖ = {}, ‖w_GD − w_GF‖ = {}\ncost {} HVPs, {} ms this step",
                    r.step,
                    r.cf_eigenvalues.first().map_or("-".into(), |l| fmt_num(*l)),
                    thr.map_or(String::new(), |t| format!(" (2/η = {})", fmt_num(t))),
                    r.k,
                    r.sigma2.first().map_or("-".into(), |s| fmt_num(*s)),
                    fmt_num(r.dist_gd_cf),
                    fmt_num(r.dist_gd_gf),
                    r.hvps,
                    fmt_num(r.seconds * 1e3)
                )
            }
        };
        ui.label(RichText::new(status).small().monospace());
        if let Some(e) = &log.error {
            ui.label(RichText::new(format!("! {e}")).color(pal.warn_fg));
        }
        if let Some(l) = &log.link {
            ui.label(RichText::new("Link to Damian et al. 2022 (k = 1)").strong());
            ui.label(RichText::new(l.sentence()).small());
        }
    }
}
