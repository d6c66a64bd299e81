//! The Self-stabilization workspace: the map of Damian et al. 2022 (Definition 4.1),
//! recomputed on the UI thread in the same frame as any slider change (a few thousand f64
//! steps). `controls` draws the side panel, `plots` the four plots.

mod controls;
mod plots;

use std::time::Duration;

use eframe::egui;

use super::plots::{banner, fmt_num};
use super::shell::{AppCommand, Cx, Workspace, WorkspaceId};
use super::theme;
use crate::engine::presets::{Preset, PresetKind};
use crate::engine::theory::Outcome;
use crate::engine::theory::measured::TheoryLog;
use crate::engine::theory::self_stab::{self, MAX_STEPS, SelfStabParams, SelfStabRun};

/// This workspace's id (`EOS_START_TAB=selfstab`).
pub const ID: WorkspaceId = WorkspaceId("selfstab");

/// What the x plot shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XDisplay {
    Signed,
    Abs,
    Square,
}

/// The series as drawn (kept so tests can see that a change reached the plots).
pub use crate::engine::figure::selfstab::SelfStabSeries;

/// Damian et al. 2022's words for the four stages (§4.2).
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
    /// The sliders hold a map copied from the network (and maybe moved since, to explore
    /// "what if" around it); false after a preset or the four-stage example. The measured
    /// trajectory is overlaid only then: over a textbook map it would mean nothing.
    pub params_from_network: bool,
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
            params: SelfStabParams::four_stage_example(),
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
            params_from_network: false,
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
                self.params_from_network = true;
                self.cursor = 0.0;
                self.range_hint = Some(p.clone());
                self.set_params(p);
            }
            Err(e) => self.network_error = Some(format!("cannot use the measured map: {e}")),
        }
    }

    /// Whether the measured trajectory is drawn now.
    pub fn overlay_on(&self) -> bool {
        self.show_measured && self.params_from_network && !self.measured.x.is_empty()
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

    /// Play or pause the play-back (from the start when it is at the end).
    pub fn toggle_play(&mut self) {
        let last = self
            .run
            .as_ref()
            .map(|r| r.rows.len().saturating_sub(1))
            .unwrap_or(0) as f64;
        if !self.playing && self.cursor >= last {
            self.cursor = 0.0;
        }
        self.playing = !self.playing;
    }

    /// Space plays / pauses (unless a text field has the keyboard).
    fn handle_keys(&mut self, ctx: &egui::Context) {
        if !ctx.egui_wants_keyboard_input() && ctx.input(|i| i.key_pressed(egui::Key::Space)) {
            self.toggle_play();
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
}

impl Workspace for SelfStabWorkspace {
    fn id(&self) -> WorkspaceId {
        ID
    }

    fn title(&self) -> &'static str {
        "Self-stabilization"
    }

    fn logic(&mut self, _ctx: &egui::Context, cx: &mut Cx<'_>) {
        let network = &cx.shared.network_theory;
        if self.follow_network
            && let Some(a) = network.anchors.first()
            && self.followed != Some((network.started_at, a.step))
        {
            self.followed = Some((network.started_at, a.step));
            self.copy_from_network(network);
        }
        self.update_measured(network);
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        let network = cx.shared.network_theory.clone();
        self.handle_keys(&ui.ctx().clone());
        egui::Panel::left("selfstab-controls")
            .resizable(true)
            .default_size(340.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.network_ui(ui, &network);
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
                && let Outcome::Diverged { step, .. } = &run.outcome
            {
                // Not an error: the cubic model is local, and with these parameters the map
                // leaves it. Said plainly, with the numbers that matter, in the info colours.
                let pal = theme::palette(ui.ctx());
                banner(
                    ui,
                    &format!(
                        "Damian et al.'s cubic map is local: with these parameters it runs off to \
                         infinity at t = {step} (|x| or |y| passed {}), so the plots stop there. \
                         In a real network the oscillation self-stabilizes before that.",
                        fmt_num(self.params.blowup)
                    ),
                    pal.info_bg,
                    pal.info_fg,
                );
            }
            cx.exports.context = crate::ui::export::ExportContext::new(
                cx.settings
                    .last_preset
                    .as_deref()
                    .filter(|_| !self.params_from_network),
                |k| matches!(k, crate::engine::presets::PresetKind::SelfStab(_)),
                self.params.lr,
            );
            self.plots_ui(ui, cx.exports);
        });
    }

    fn apply_preset(&mut self, p: &Preset, _start: bool, _cx: &mut Cx<'_>) -> bool {
        let PresetKind::SelfStab(s) = &p.kind else {
            return false;
        };
        // The η and α sliders sit around the preset's values.
        self.range_hint = Some(s.clone());
        self.set_params(s.clone());
        self.params_from_network = false;
        true
    }

    fn on_command(&mut self, cmd: &AppCommand, cx: &mut Cx<'_>) {
        if let AppCommand::OpenInSelfStab = cmd {
            let log = cx.shared.network_theory.clone();
            self.copy_from_network(&log);
            cx.commands.send(AppCommand::Show(ID));
        }
    }
}

pub(crate) fn display_x(x: f64, d: XDisplay) -> f64 {
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
