//! The Self-stabilization side panel: the network's measured map, the map's parameters,
//! display and play-back, the run's summary and the four stages in the paper's words.

use eframe::egui::{self, RichText};

use super::{STAGE_WORDS, SelfStabWorkspace, XDisplay};
use crate::engine::theory::measured::TheoryLog;
use crate::engine::theory::self_stab::SelfStabParams;
use crate::ui::plots::fmt_num;
use crate::ui::theme;
use crate::ui::widgets;

impl SelfStabWorkspace {
    pub(super) fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Map parameters");
        if let Some(p) = crate::engine::presets::find("damian-stages") {
            egui::CollapsingHeader::new("About this model")
                .default_open(false)
                .show(ui, |ui| {
                    ui.label(RichText::new(p.description).small());
                    ui.label(RichText::new(p.source).small().italics());
                });
        }
        // Ranges widen to hold values copied from a network (β is 1e5 on CIFAR-5k); they follow
        // the copied values, not the slider itself, so a drag does not move its own range.
        let h = self.range_hint.clone();
        let hint = |f: fn(&SelfStabParams) -> f64| h.as_ref().map_or(f64::NAN, f);
        let anchor = self
            .range_hint
            .clone()
            .unwrap_or_else(SelfStabParams::four_stage_example);
        let (r_lr, r_alpha, r_beta, r_x0) = (
            widgets::around(anchor.lr),
            widgets::around(anchor.alpha),
            log_range(hint(|p| p.beta), 0.01, 100.0),
            log_range(hint(|p| p.x0), 1e-4, 5.0),
        );
        let y_lim = hint(|p| 2.0 * p.y0.abs()).max(5.0);
        let p = &mut self.params;
        // η and α: two decades around the preset's (or the network's) value on a wide rail,
        // Shift for a fine drag.
        widgets::log_slider(ui, &mut p.lr, r_lr, "η (learning rate)", true);
        widgets::log_slider(ui, &mut p.alpha, r_alpha, "α (sharpening rate)", true);
        ui.add(
            egui::Slider::new(&mut p.beta, r_beta)
                .logarithmic(true)
                .text("β (stabilising strength)"),
        );
        ui.add(
            egui::Slider::new(&mut p.x0, r_x0)
                .logarithmic(true)
                .text("x₀ (initial displacement)"),
        );
        ui.add(egui::Slider::new(&mut p.y0, -y_lim..=y_lim).text("y₀ (initial y)"));
        ui.add(
            egui::Slider::new(&mut p.steps, 10..=5000)
                .logarithmic(true)
                .text("steps"),
        );
        ui.label(format!(
            "2/η = {}   δ = √(2α/β) = {}",
            fmt_num(2.0 / p.lr),
            fmt_num((2.0 * p.alpha / p.beta).sqrt())
        ));
        if ui.button("Reset to the four-stage example").clicked() {
            *p = SelfStabParams::four_stage_example();
            self.params_from_network = false;
        }
        ui.separator();
        ui.heading("Display");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.display, XDisplay::Signed, "x_t");
            ui.selectable_value(&mut self.display, XDisplay::Abs, "|x_t|");
            ui.selectable_value(&mut self.display, XDisplay::Square, "x_t²");
        });
        ui.checkbox(&mut self.show_field, "vector field (two steps)");
        ui.separator();
        ui.heading("Play-back");
        let last = self
            .run
            .as_ref()
            .map(|r| r.rows.len().saturating_sub(1))
            .unwrap_or(0) as f64;
        ui.horizontal(|ui| {
            let label = if self.playing { "Pause" } else { "Play" };
            if ui
                .button(label)
                .on_hover_text("Play / pause (Space)")
                .clicked()
            {
                self.toggle_play();
            }
            if ui.button("Rewind").clicked() {
                self.cursor = 0.0;
            }
        });
        ui.add(egui::Slider::new(&mut self.cursor, 0.0..=last.max(1.0)).text("cursor t"));
        ui.add(
            egui::Slider::new(&mut self.speed, 1.0..=1000.0)
                .logarithmic(true)
                .text("speed (steps/s)"),
        );
    }

    /// The measured map: values beside the sliders, a copy button and the overlay toggle.
    pub(super) fn network_ui(&mut self, ui: &mut egui::Ui, log: &TheoryLog) {
        let pal = theme::palette(ui.ctx());
        ui.heading("From the network");
        ui.checkbox(&mut self.follow_network, "follow: copy each new measurement")
            .on_hover_text("When the Training run reaches 2/η, put its measured η, α, β, x̃₀, e₀ into the sliders at once");
        let Some(a) = log.anchors.first() else {
            let why = match &log.phase {
                None => {
                    "No measurement yet: in Training, tick “measure α, β, δ at the first crossing” and run until λ1 reaches 2/η."
                }
                Some(_) => {
                    "The training run has not reached λ1 = 2/η yet; α, β and δ appear here when it does."
                }
            };
            ui.label(RichText::new(why).small().color(pal.muted));
            return;
        };
        let x0 = -a.x_center;
        ui.label(
            RichText::new(format!(
                "measured at step {} (λ1 = {}):\nη = {}  α = {}  β = {}\nδ = {}  x̃₀ = {}  e₀ = {}",
                a.step,
                fmt_num(a.lambda1),
                fmt_num(a.lr),
                fmt_num(a.alpha),
                fmt_num(a.beta),
                fmt_num(a.delta),
                fmt_num(x0),
                fmt_num(a.excess0)
            ))
            .monospace(),
        )
        .on_hover_text("x̃₀ = −x* (the map runs on x − x*, the offset of the period-2 oscillation); e₀ = λ1(θ₀) − 2/η, the map's y₀. Copying uses |x̃₀| (the map is odd in x) and flips the measured x to match.");
        if ui
            .button("Copy to sliders")
            .on_hover_text("Set η, α, β, x₀ = |x̃₀| and y₀ = e₀ from the network")
            .clicked()
        {
            self.copy_from_network(log);
        }
        if let Some(e) = &self.network_error {
            ui.label(RichText::new(format!("! {e}")).color(pal.warn_fg));
        }
        ui.add_enabled(
            self.params_from_network,
            egui::Checkbox::new(
                &mut self.show_measured,
                format!("overlay the measured trajectory ({} steps)", log.rows.len()),
            ),
        )
        .on_disabled_hover_text("The sliders hold a textbook map: Copy to sliders first, then the network's trajectory is drawn over its map");
        ui.add_enabled(
            self.show_measured && self.params_from_network,
            egui::Checkbox::new(&mut self.fit_measured, "fit axes to the measured trajectory"),
        )
        .on_hover_text("Hold the plots on the network's steps; the map's curve is clipped where it leaves them (off: the axes fit everything, and can be zoomed)");
        if let Some(g) = log.agreement(0) {
            let ret = |v: Option<usize>| v.map_or("–".to_string(), |t| t.to_string());
            ui.label(
                RichText::new(format!(
                    "first return below 2/η: measured t = {}, predicted t = {}",
                    ret(g.measured_return),
                    ret(g.predicted_return)
                ))
                .small(),
            );
        }
    }

    pub(super) fn summary_ui(&self, ui: &mut egui::Ui) {
        let Some(run) = &self.run else { return };
        let s = &run.summary;
        ui.label(format!(
            "{} rows; stages visited {}/4; {} complete cycles",
            run.rows.len(),
            s.stages_visited(),
            s.cycles.len()
        ));
        if !s.cycles.is_empty() {
            let lens: Vec<String> = s.cycles.iter().map(|c| c.length.to_string()).collect();
            ui.label(format!("cycle lengths: {}", lens.join(", ")));
        }
        ui.label(format!(
            "peak sharpness 2/η + max y = {}",
            fmt_num(2.0 / run.params.lr + s.max_y)
        ));
        if let Some(r) = run.rows.get(self.cursor.round() as usize) {
            ui.label(
                RichText::new(format!(
                    "t = {}: x = {}, y = {}, stage {} ({})",
                    r.t,
                    fmt_num(r.x),
                    fmt_num(r.y),
                    r.stage.number(),
                    r.stage.name()
                ))
                .monospace(),
            );
        }
    }

    pub(super) fn legend_ui(&self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        ui.heading("The four stages (Damian et al. 2022, §4.2)");
        for (i, (name, words)) in STAGE_WORDS.iter().enumerate() {
            ui.label(RichText::new(*name).strong().color(pal.stages[i]));
            ui.label(RichText::new(*words).small());
        }
        ui.label(
            RichText::new(
                "Rule used for colouring: stage from the sign of y_t and of the next change η(α − βx_t²/2).",
            )
            .small()
            .color(pal.muted),
        );
    }
}

/// A log-slider range that holds `v` (positive, finite) with room either side.
fn log_range(v: f64, lo: f64, hi: f64) -> std::ops::RangeInclusive<f64> {
    if v.is_finite() && v > 0.0 {
        lo.min(v / 4.0)..=hi.max(v * 4.0)
    } else {
        lo..=hi
    }
}
