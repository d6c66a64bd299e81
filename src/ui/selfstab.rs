//! The Self-stabilization workspace: the map of seed Definition 4.1, recomputed on the UI
//! thread in the same frame as any slider change (a few thousand f64 steps).

use std::time::Duration;

use eframe::egui::{self, RichText};
use egui_plot::{Arrows, Corner, HLine, Legend, Line, LineStyle, MarkerShape, Plot, Points, VLine};

use super::export::ExportManager;
use super::plots::{banner, decimate, fmt_num, hover_label, linked_plot, plot_header};
use super::theme;
use crate::engine::plot::{PlotSpec, Series, Threshold, padded_extent};
use crate::engine::theory::measured::TheoryLog;
use crate::engine::theory::self_stab::{
    self, MAX_STEPS, SelfStabParams, SelfStabRun, Stage, displacement_field_two_step,
};

/// What the x plot shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XDisplay {
    Signed,
    Abs,
    Square,
}

/// The series as drawn (kept so tests can see that a change reached the plots).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelfStabSeries {
    pub x: Vec<[f64; 2]>,
    pub sharpness: Vec<[f64; 2]>,
    /// Phase-portrait points (x_t, y_t) per stage 1..=4.
    pub phase: [Vec<[f64; 2]>; 4],
    pub threshold: f64,
    pub delta: f64,
}

/// The seed's words for the four stages (§4.2).
pub const STAGE_WORDS: [(&str, &str); 4] = [
    (
        "1 Progressive sharpening",
        "“When |x_t| is small, y_t is dominated by the linear component: y_t ≈ ηα·t … the sharpness begins to increase.”",
    ),
    (
        "2 Destabilization",
        "“As y_t > 0, (x_t) begins to diverge … with alternating sign at each step and exponentially increasing values. The loss also increases rapidly.”",
    ),
    (
        "3 Self-stabilization",
        "“As x_t² grows larger, the quadratic component of y_t becomes more significant. y_t peaks when x_t = √(2α/β). Afterwards, the sharpness begins to decline.”",
    ),
    (
        "4 Return to stability",
        "“Eventually, y_t becomes negative, and the sharpness returns to a stable level. As x_t diminishes, the αη·t component of y_t dominates once more, leading back to progressive sharpening.”",
    ),
];

/// The trajectory measured on the training network (issue 5), in the map's coordinates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeasuredSeries {
    /// (t, x̃_t as displayed).
    pub x: Vec<[f64; 2]>,
    /// (t, 2/η + λ1 − 2/η) with the anchor's η.
    pub sharpness: Vec<[f64; 2]>,
    /// (x̃_t, λ1 − 2/η).
    pub phase: Vec<[f64; 2]>,
    /// Rows of the log these were built from (rebuilt when more arrive).
    rows: usize,
    display: Option<XDisplay>,
}

pub struct SelfStabWorkspace {
    pub params: SelfStabParams,
    /// Overlay the trajectory measured on the network (when the Training run measured one).
    pub show_measured: bool,
    pub measured: MeasuredSeries,
    /// Why the last copy from the network failed.
    pub network_error: Option<String>,
    /// Parameters last copied from a network (the slider ranges widen to hold them).
    pub range_hint: Option<SelfStabParams>,
    /// Copy each new measurement into the sliders as soon as it arrives (for live demos).
    pub follow_network: bool,
    /// With the measured overlay: hold the axes on the measured trajectory (the map's own
    /// curve may run far outside it, e.g. when it diverges after the first cycle).
    pub fit_measured: bool,
    /// (tracker start step, anchor step) of the measurement last followed.
    followed: Option<(usize, usize)>,
    pub run: Option<SelfStabRun>,
    pub error: Option<String>,
    pub display: XDisplay,
    pub show_field: bool,
    pub cursor: f64,
    pub playing: bool,
    /// Playback speed in steps per second.
    pub speed: f64,
    pub series: SelfStabSeries,
    /// How many times the map was recomputed.
    pub recomputes: u64,
    computed_for: Option<(SelfStabParams, XDisplay)>,
}

impl Default for SelfStabWorkspace {
    fn default() -> Self {
        let mut w = SelfStabWorkspace {
            params: SelfStabParams::seed_fig2(),
            run: None,
            error: None,
            display: XDisplay::Signed,
            show_field: false,
            cursor: 0.0,
            playing: false,
            speed: 40.0,
            series: SelfStabSeries::default(),
            recomputes: 0,
            computed_for: None,
            show_measured: true,
            measured: MeasuredSeries::default(),
            network_error: None,
            range_hint: None,
            follow_network: std::env::var_os("EOS_FOLLOW_NETWORK").is_some(),
            followed: None,
            fit_measured: true,
        };
        w.recompute();
        w
    }
}

impl SelfStabWorkspace {
    pub fn set_params(&mut self, p: SelfStabParams) {
        self.params = p;
        self.recompute();
    }

    /// Put the map measured at the network's first crossing into the sliders (η, α, β,
    /// x₀ = |x̃₀|, y₀ = e₀) and overlay the measured trajectory.
    pub fn copy_from_network(&mut self, log: &TheoryLog) {
        let steps = log.rows.len().clamp(200, MAX_STEPS);
        match log.map_of(0, steps) {
            Ok(p) => {
                self.network_error = None;
                self.show_measured = true;
                self.cursor = 0.0;
                self.range_hint = Some(p.clone());
                self.set_params(p);
            }
            Err(e) => self.network_error = Some(format!("cannot use the measured map: {e}")),
        }
    }

    /// Rebuild the measured overlay when new rows arrived or the display changed.
    pub fn update_measured(&mut self, log: &TheoryLog) {
        if self.measured.rows == log.rows.len() && self.measured.display == Some(self.display) {
            return;
        }
        let mut m = MeasuredSeries {
            rows: log.rows.len(),
            display: Some(self.display),
            ..Default::default()
        };
        if let Some(a) = log.anchors.first() {
            for (t, x, e) in log.measured_in_map_coordinates(0) {
                let t = t as f64;
                m.x.push([t, display_x(x, self.display)]);
                m.sharpness.push([t, a.threshold + e]);
                m.phase.push([x, e]);
            }
        }
        self.measured = m;
    }

    /// Simulate now if the parameters (or the display) changed.
    pub fn recompute(&mut self) {
        let key = (self.params.clone(), self.display);
        if self.computed_for.as_ref() == Some(&key) {
            return;
        }
        self.computed_for = Some(key);
        self.recomputes += 1;
        match self.params.check() {
            Ok(c) => {
                let run = self_stab::simulate(&c);
                self.series = series_of(&run, self.display);
                self.error = None;
                let last = run.rows.len().saturating_sub(1) as f64;
                self.cursor = self.cursor.min(last);
                self.run = Some(run);
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.run = None;
                self.series = SelfStabSeries::default();
            }
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, exports: &mut ExportManager, network: &TheoryLog) {
        if self.follow_network
            && let Some(a) = network.anchors.first()
            && self.followed != Some((network.started_at, a.step))
        {
            self.followed = Some((network.started_at, a.step));
            self.copy_from_network(network);
        }
        self.update_measured(network);
        egui::Panel::left("selfstab-controls")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.network_ui(ui, network);
                    ui.separator();
                    self.controls_ui(ui);
                    // Same frame: recompute before the plots are drawn.
                    self.recompute();
                    ui.separator();
                    self.summary_ui(ui);
                    ui.separator();
                    self.legend_ui(ui);
                });
            });
        self.advance_cursor(ui.ctx());
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(e) = &self.error {
                let pal = theme::palette(ui.ctx());
                banner(
                    ui,
                    &format!("Cannot simulate: {e}"),
                    pal.error_bg,
                    pal.error_fg,
                );
            }
            if let Some(run) = &self.run
                && run.outcome.is_diverged()
            {
                let pal = theme::palette(ui.ctx());
                banner(
                    ui,
                    &format!("The map {}; rows before that are shown.", run.outcome),
                    pal.error_bg,
                    pal.error_fg,
                );
            }
            self.plots_ui(ui, exports);
        });
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Map parameters");
        if let Some(p) = crate::engine::presets::find("seed-fig2") {
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
        let (r_lr, r_alpha, r_beta, r_x0) = (
            log_range(hint(|p| p.lr), 0.001, 1.0),
            log_range(hint(|p| p.alpha), 0.001, 10.0),
            log_range(hint(|p| p.beta), 0.01, 100.0),
            log_range(hint(|p| p.x0), 1e-4, 5.0),
        );
        let y_lim = hint(|p| 2.0 * p.y0.abs()).max(5.0);
        let p = &mut self.params;
        ui.add(
            egui::Slider::new(&mut p.lr, r_lr)
                .logarithmic(true)
                .text("η (learning rate)"),
        );
        ui.add(
            egui::Slider::new(&mut p.alpha, r_alpha)
                .logarithmic(true)
                .text("α (sharpening rate)"),
        );
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
        if ui.button("Reset to seed Figure 2").clicked() {
            *p = SelfStabParams::seed_fig2();
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
            if ui.button(label).clicked() {
                if !self.playing && self.cursor >= last {
                    self.cursor = 0.0;
                }
                self.playing = !self.playing;
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
    fn network_ui(&mut self, ui: &mut egui::Ui, log: &TheoryLog) {
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
        ui.checkbox(
            &mut self.show_measured,
            format!("overlay the measured trajectory ({} steps)", log.rows.len()),
        );
        ui.add_enabled(
            self.show_measured,
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

    fn advance_cursor(&mut self, ctx: &egui::Context) {
        if !self.playing {
            return;
        }
        let last = self
            .run
            .as_ref()
            .map(|r| r.rows.len().saturating_sub(1))
            .unwrap_or(0) as f64;
        let dt = ctx.input(|i| i.stable_dt).min(0.1) as f64;
        self.cursor += self.speed * dt;
        if self.cursor >= last {
            self.cursor = last;
            self.playing = false;
        }
        ctx.request_repaint_after(Duration::from_millis(16));
    }

    fn summary_ui(&self, ui: &mut egui::Ui) {
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

    fn legend_ui(&self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        ui.heading("The four stages (seed §4.2)");
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

    fn plots_ui(&self, ui: &mut egui::Ui, exports: &mut ExportManager) {
        let pal = theme::palette(ui.ctx());
        let s = &self.series;
        let link = egui::Id::unique("selfstab-t-link");
        let avail = ui.available_height();
        let h = ((avail - 90.0) / 2.0).max(100.0);
        let cursor = self.cursor.round();
        let row = self
            .run
            .as_ref()
            .and_then(|r| r.rows.get(cursor as usize))
            .cloned();
        let x_name = match self.display {
            XDisplay::Signed => "x_t",
            XDisplay::Abs => "|x_t|",
            XDisplay::Square => "x_t²",
        };
        let measured =
            (self.show_measured && !self.measured.x.is_empty()).then_some(&self.measured);
        let fit = measured.filter(|_| self.fit_measured).map(|m| {
            let d = match self.display {
                XDisplay::Signed => [-s.delta, s.delta],
                XDisplay::Abs => [0.0, s.delta],
                XDisplay::Square => [0.0, s.delta * s.delta],
            };
            let t_max = m.x.last().map_or(1.0, |p| p[0]).max(1.0);
            FitBounds {
                t: (0.0, t_max),
                x: padded(m.x.iter().map(|p| p[1]).chain(d)),
                sharpness: padded(m.sharpness.iter().map(|p| p[1]).chain([s.threshold])),
                phase_x: padded(m.phase.iter().map(|p| p[0]).chain([-s.delta, s.delta])),
                phase_y: padded(m.phase.iter().map(|p| p[1]).chain([0.0])),
            }
        });

        ui.columns(2, |cols| {
            let (left, right) = cols.split_at_mut(1);
            let ui = &mut left[0];
            plot_header(
                ui,
                &format!("{x_name} over t"),
                "selfstab-x",
                exports,
                || {
                    let mut p = PlotSpec::new(format!("{x_name} over t"), "t", x_name);
                    p.series.push(Series::line(x_name, s.x.clone()));
                    if let Some(m) = measured {
                        p.series
                            .push(Series::points(format!("{x_name} measured"), m.x.clone()));
                    }
                    p.y_range = fit.map(|f| [f.x.0, f.x.1]);
                    p
                },
            );
            linked_plot("selfstab-x", h, link, "t", false).show(ui, |pu| {
                if let Some(f) = &fit {
                    pu.set_plot_bounds_x(f.t.0..=f.t.1);
                    pu.set_plot_bounds_y(f.x.0..=f.x.1);
                }
                pu.line(Line::new(x_name, decimate(&s.x, 4000)).color(pal.train));
                if let Some(m) = measured {
                    pu.points(
                        Points::new(format!("{x_name} measured"), decimate(&m.x, 4000))
                            .color(pal.measured)
                            .radius(1.6),
                    );
                }
                if self.display != XDisplay::Signed {
                    let d = if self.display == XDisplay::Square {
                        s.delta * s.delta
                    } else {
                        s.delta
                    };
                    pu.hline(
                        HLine::new("δ", d)
                            .color(pal.delta_line)
                            .style(LineStyle::Dashed { length: 6.0 }),
                    );
                }
                pu.vline(VLine::new("cursor", cursor).color(pal.cursor).width(1.0));
            });
            plot_header(
                ui,
                "Sharpness 2/η + y_t",
                "selfstab-sharpness",
                exports,
                || {
                    let mut p = PlotSpec::new("Predicted sharpness", "t", "2/η + y_t");
                    p.series
                        .push(Series::line("2/η + y_t", s.sharpness.clone()));
                    if let Some(m) = measured {
                        p.series
                            .push(Series::points("λ1 measured", m.sharpness.clone()));
                    }
                    p.y_range = fit.map(|f| [f.sharpness.0, f.sharpness.1]);
                    p.threshold = Some(Threshold {
                        name: "2/η".into(),
                        steps: vec![[0.0, s.threshold]],
                    });
                    p
                },
            );
            linked_plot("selfstab-sharpness", h, link, "t", false)
                .legend(Legend::default().position(Corner::RightTop))
                .show(ui, |pu| {
                    if let Some(f) = &fit {
                        pu.set_plot_bounds_x(f.t.0..=f.t.1);
                        pu.set_plot_bounds_y(f.sharpness.0..=f.sharpness.1);
                    }
                    pu.hline(
                        HLine::new("2/η", s.threshold)
                            .color(pal.threshold)
                            .style(LineStyle::Dashed { length: 8.0 }),
                    );
                    pu.line(
                        Line::new("2/η + y_t", decimate(&s.sharpness, 4000)).color(pal.eigs[0]),
                    );
                    if let Some(m) = measured {
                        pu.points(
                            Points::new("λ1 measured", decimate(&m.sharpness, 4000))
                                .color(pal.measured)
                                .radius(1.6),
                        );
                    }
                    pu.vline(VLine::new("cursor", cursor).color(pal.cursor).width(1.0));
                });

            let ui = &mut right[0];
            plot_header(
                ui,
                "Phase portrait (x_t, y_t)",
                "selfstab-phase",
                exports,
                || {
                    let mut p = PlotSpec::new("Phase portrait", "x_t", "y_t");
                    for (i, pts) in s.phase.iter().enumerate() {
                        p.series.push(Series::points(
                            format!("stage {}", Stage::ALL[i].name()),
                            pts.clone(),
                        ));
                    }
                    if let Some(m) = measured {
                        p.series
                            .push(Series::points("measured (x̃_t, λ1 − 2/η)", m.phase.clone()));
                    }
                    p.y_range = fit.map(|f| [f.phase_y.0, f.phase_y.1]);
                    p
                },
            );
            Plot::new("selfstab-phase")
                .y_axis_min_width(52.0)
                .height(2.0 * h + 24.0)
                .legend(Legend::default().position(Corner::RightTop))
                .label_formatter(hover_label("x", false))
                .show(ui, |pu| {
                    if let Some(f) = &fit {
                        pu.set_plot_bounds_x(f.phase_x.0..=f.phase_x.1);
                        pu.set_plot_bounds_y(f.phase_y.0..=f.phase_y.1);
                    }
                    if self.show_field
                        && let Some(run) = &self.run
                        && let Ok(c) = run.params.check()
                    {
                        // Over the trajectory's extent (not the plot bounds, which the
                        // arrows themselves would keep widening).
                        let (xr, yr) = phase_extent(s);
                        if let Ok(f) = displacement_field_two_step(&c, xr, yr, 17, 13) {
                            let cell = ((xr.1 - xr.0) / 17.0, (yr.1 - yr.0) / 13.0);
                            let max = f
                                .iter()
                                .map(|(_, d)| {
                                    ((d[0] / cell.0).powi(2) + (d[1] / cell.1).powi(2)).sqrt()
                                })
                                .fold(0.0f64, f64::max)
                                .max(1e-300);
                            let mut origins = Vec::new();
                            let mut tips = Vec::new();
                            for (o, d) in f {
                                let n = ((d[0] / cell.0).powi(2) + (d[1] / cell.1).powi(2)).sqrt();
                                if n.is_finite() && n > 0.0 {
                                    let k = 0.8 * (n / max).sqrt() / n;
                                    origins.push(o);
                                    tips.push([o[0] + d[0] * k, o[1] + d[1] * k]);
                                }
                            }
                            pu.arrows(
                                Arrows::new("two-step field", origins, tips)
                                    .color(pal.field)
                                    .tip_length(5.0),
                            );
                        }
                    }
                    pu.vline(
                        VLine::new("x = ±δ", s.delta)
                            .color(pal.delta_line)
                            .style(LineStyle::Dashed { length: 6.0 }),
                    );
                    pu.vline(
                        VLine::new("x = ±δ", -s.delta)
                            .color(pal.delta_line)
                            .style(LineStyle::Dashed { length: 6.0 }),
                    );
                    pu.hline(HLine::new("y = 0", 0.0).color(pal.zero_line).width(0.5));
                    for (i, pts) in s.phase.iter().enumerate() {
                        pu.points(
                            Points::new(
                                format!("{} {}", i + 1, Stage::ALL[i].name()),
                                decimate(pts, 6000),
                            )
                            .color(pal.stages[i])
                            .radius(1.8),
                        );
                    }
                    if let Some(m) = measured {
                        // Points: x alternates in sign, so a line would zig-zag across.
                        pu.points(
                            Points::new("measured (x̃_t, λ1 − 2/η)", decimate(&m.phase, 6000))
                                .color(pal.measured)
                                .radius(1.6),
                        );
                    }
                    if let Some(r) = &row {
                        pu.points(
                            Points::new("cursor", vec![[r.x, r.y]])
                                .shape(MarkerShape::Circle)
                                .radius(6.0)
                                .filled(false)
                                .color(pal.cursor),
                        );
                    }
                });
        });
    }
}

/// Plot ranges that hold the measured trajectory.
#[derive(Clone, Copy, Debug)]
struct FitBounds {
    t: (f64, f64),
    x: (f64, f64),
    sharpness: (f64, f64),
    phase_x: (f64, f64),
    phase_y: (f64, f64),
}

/// The finite extent of `v`, padded by 8 % (and never empty).
fn padded(v: impl Iterator<Item = f64>) -> (f64, f64) {
    padded_extent(v, 0.08).unwrap_or((-1.0, 1.0))
}

/// A log-slider range that holds `v` (positive, finite) with room either side.
fn log_range(v: f64, lo: f64, hi: f64) -> std::ops::RangeInclusive<f64> {
    if v.is_finite() && v > 0.0 {
        lo.min(v / 4.0)..=hi.max(v * 4.0)
    } else {
        lo..=hi
    }
}

fn display_x(x: f64, d: XDisplay) -> f64 {
    match d {
        XDisplay::Signed => x,
        XDisplay::Abs => x.abs(),
        XDisplay::Square => x * x,
    }
}

/// The drawn series of a run.
pub fn series_of(run: &SelfStabRun, display: XDisplay) -> SelfStabSeries {
    let mut s = SelfStabSeries {
        threshold: 2.0 / run.params.lr,
        delta: run.summary.delta,
        ..Default::default()
    };
    for r in &run.rows {
        let t = r.t as f64;
        let xv = display_x(r.x, display);
        s.x.push([t, xv]);
        s.sharpness.push([t, r.sharpness]);
        s.phase[r.stage.index()].push([r.x, r.y]);
    }
    s
}

/// x and y ranges of the phase portrait: symmetric in x, covering ±δ; padded.
pub fn phase_extent(s: &SelfStabSeries) -> ((f64, f64), (f64, f64)) {
    let mut mx = s.delta * 1.2;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in s.phase.iter().flatten() {
        if p[0].is_finite() && p[1].is_finite() {
            mx = mx.max(p[0].abs());
            lo = lo.min(p[1]);
            hi = hi.max(p[1]);
        }
    }
    if !lo.is_finite() || hi <= lo {
        lo = -1.0;
        hi = 1.0;
    }
    let pad = 0.08 * (hi - lo);
    let mx = if mx.is_finite() && mx > 0.0 {
        mx * 1.08
    } else {
        1.0
    };
    ((-mx, mx), (lo - pad, hi + pad))
}
