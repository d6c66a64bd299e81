//! The Linear-model workspace: the two-layer linear network of Li et al. 2022, trained on a
//! worker thread; rows stream into the plots. Any parameter change restarts the run.

use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};

use super::export::ExportManager;
use super::plot_aids;
use super::plots::{banner, fmt_num, linked_plot};
use super::repaint::RepaintPolicy;
use super::shell::{Cx, Workspace, WorkspaceId};
use super::theme;
use crate::engine::figure;
use crate::engine::presets::{Preset, PresetKind};
use crate::engine::theory::Outcome;
use crate::engine::theory::linear::{LinearInit, LinearParams, LinearRow};
use crate::engine::worker::{LinearEvent, LinearWorker};

use super::training::{DRAIN_BUDGET, DRAIN_MAX};

/// This workspace's id (`EOS_START_TAB=linear`).
pub const ID: WorkspaceId = WorkspaceId("linear");

pub struct LinearWorkspace {
    pub params: LinearParams,
    pub rows: Vec<LinearRow>,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    pub run_id: u64,
    pub running: bool,
    started_for: Option<LinearParams>,
    worker: Option<LinearWorker>,
    ctx: egui::Context,
    repaint: RepaintPolicy,
    /// Restart automatically when a parameter changes.
    pub auto_run: bool,
}

impl LinearWorkspace {
    pub fn new(ctx: &egui::Context, repaint: &RepaintPolicy) -> Self {
        LinearWorkspace {
            params: LinearParams::li_linear(),
            rows: Vec::new(),
            outcome: None,
            error: None,
            run_id: 0,
            running: false,
            started_for: None,
            worker: None,
            ctx: ctx.clone(),
            repaint: repaint.clone(),
            auto_run: true,
        }
    }

    pub fn set_params(&mut self, p: LinearParams) {
        self.params = p;
        self.start();
    }

    /// (Re)start the run with the current parameters.
    pub fn start(&mut self) {
        self.started_for = Some(self.params.clone());
        self.rows.clear();
        self.outcome = None;
        if let Err(e) = self.params.check() {
            self.error = Some(e.to_string());
            self.running = false;
            if let Some(w) = &self.worker {
                let _ = w.stop();
            }
            return;
        }
        self.error = None;
        if self.worker.is_none() {
            let c = self.ctx.clone();
            match LinearWorker::spawn("app", self.repaint.waker(&c)) {
                Ok(w) => self.worker = Some(w),
                Err(e) => {
                    self.error = Some(format!("could not start the worker thread: {e}"));
                    return;
                }
            }
        }
        if let Some(w) = &self.worker {
            match w.start(self.params.clone()) {
                Ok(id) => {
                    self.run_id = id;
                    self.running = true;
                }
                Err(e) => self.error = Some(e.to_string()),
            }
        }
    }

    pub fn stop(&mut self) {
        if let Some(w) = &self.worker {
            let _ = w.stop();
        }
        self.running = false;
    }

    /// Drain rows within the frame budget.
    pub fn poll(&mut self) {
        let Some(w) = &self.worker else { return };
        let t0 = Instant::now();
        let mut n = 0;
        while n < DRAIN_MAX && t0.elapsed() < DRAIN_BUDGET {
            let Some(e) = w.try_recv() else { break };
            n += 1;
            if e.run_id() != self.run_id {
                continue;
            }
            match e {
                LinearEvent::Row { row, .. } => self.rows.push(*row),
                LinearEvent::Finished { outcome, .. } => {
                    self.outcome = Some(outcome);
                    self.running = false;
                }
                LinearEvent::Error { message, .. } => {
                    self.error = Some(message);
                    self.running = false;
                }
            }
        }
        if n == DRAIN_MAX || t0.elapsed() >= DRAIN_BUDGET {
            // More are waiting: come back soon (within the repaint policy's interval).
            self.repaint.request(&self.ctx);
        }
        if self.running {
            self.ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        ui.heading("Model f(x) = A^T W x/√m");
        if let Some(p) = crate::engine::presets::find("li-linear") {
            egui::CollapsingHeader::new("About this model")
                .default_open(false)
                .show(ui, |ui| {
                    ui.label(RichText::new(p.description).small());
                    ui.label(RichText::new(p.source).small().italics());
                });
        }
        let p = &mut self.params;
        ui.add(
            egui::Slider::new(&mut p.lr, 0.01..=10.0)
                .logarithmic(true)
                .text("η (learning rate)"),
        );
        ui.label(RichText::new(format!("2/η = {}", fmt_num(2.0 / p.lr))).color(pal.threshold));
        ui.add(
            egui::Slider::new(&mut p.m, 2..=1000)
                .logarithmic(true)
                .text("m (width)"),
        );
        ui.add(
            egui::Slider::new(&mut p.d, 1..=500)
                .logarithmic(true)
                .text("d (input dim)"),
        );
        ui.add(
            egui::Slider::new(&mut p.n, 1..=500)
                .logarithmic(true)
                .text("n (samples)"),
        );
        ui.add(
            egui::Slider::new(&mut p.steps, 10..=5000)
                .logarithmic(true)
                .text("steps"),
        );
        egui::ComboBox::from_label("init")
            .selected_text(p.init.to_string())
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut p.init, LinearInit::Symmetric, "symmetric (F₀ = 0)");
                ui.selectable_value(&mut p.init, LinearInit::Random, "random");
            });
        ui.add(
            egui::Slider::new(&mut p.init_scale, 0.001..=2.0)
                .logarithmic(true)
                .text("init scale"),
        );
        ui.horizontal(|ui| {
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut p.seed)).labelled_by(l.id);
        });
        if p.init == LinearInit::Symmetric && p.m % 2 == 1 {
            ui.label(
                RichText::new("! the symmetric init needs an even width m").color(pal.warn_fg),
            );
        }
        ui.separator();
        ui.checkbox(&mut self.auto_run, "restart on every change");
        ui.horizontal(|ui| {
            if ui.button("Run").clicked() {
                self.start();
            }
            if ui
                .add_enabled(self.running, egui::Button::new("Stop"))
                .clicked()
            {
                self.stop();
            }
            if ui.button("Preset li-linear").clicked() {
                self.params = LinearParams::li_linear();
            }
        });
        ui.separator();
        ui.label(
            RichText::new(
                "Li et al. 2022: sharpness is driven by ||A||², which grows while <F, D> < 0. \
                 The residual plot checks Lemma 5 as printed (sign error: − ΣDF^T) against the corrected form (+ ΣDF^T).",
            )
            .small()
            .color(pal.muted),
        );
    }

    fn status_ui(&self, ui: &mut egui::Ui) {
        let last = self.rows.last();
        let state = if self.running {
            "running".to_string()
        } else if let Some(o) = &self.outcome {
            o.to_string()
        } else {
            "idle".to_string()
        };
        let mut s = format!(
            "t = {} / {} · {state}",
            last.map(|r| r.t).unwrap_or(0),
            self.params.steps
        );
        if let Some(r) = last {
            s.push_str(&format!(
                " · loss {} · ||A||² {} · <F,D> {}",
                fmt_num(r.loss),
                fmt_num(r.a_norm2),
                fmt_num(r.f_dot_d)
            ));
            if let Some(sh) = self.rows.iter().rev().find_map(|r| r.sharpness) {
                s.push_str(&format!(
                    " · sharpness {} (2/η = {})",
                    fmt_num(sh),
                    fmt_num(r.two_over_eta)
                ));
            }
        }
        ui.label(RichText::new(s).monospace());
    }

    fn plots_ui(&self, ui: &mut egui::Ui, exports: &mut ExportManager) {
        let link = egui::Id::unique("linear-t-link");
        let h = ((ui.available_height() - 70.0) / 2.0).max(100.0);
        let figs = figure::linear::all(&self.rows, self.params.lr);
        let titles = [
            "||A||² and ||W||²",
            "<F, D>",
            "Sharpness vs 2/η",
            "Lemma residuals (log)",
        ];
        let keys: Vec<String> = figs.iter().map(|f| f.id.clone()).collect();
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let shown = plot_aids::shown(ui.ctx(), &key_refs);
        if shown.len() == 1 && figs.len() > 1 {
            // One plot in focus: it takes the whole central area.
            let h = (ui.available_height() - 40.0).max(120.0);
            for (fig, title) in figs.iter().zip(titles) {
                if shown.contains(&fig.id.as_str()) {
                    plot_aids::header(ui, &fig.id, title, exports, fig);
                    let plot = linked_plot(&fig.id, h, link, "t", fig.log_y)
                        .label_formatter(plot_aids::hover_all(fig, "t"));
                    plot_aids::show(ui, &fig.id, plot, fig);
                }
            }
            return;
        }
        ui.columns(2, |cols| {
            for (i, (fig, title)) in figs.iter().zip(titles).enumerate() {
                let ui = &mut cols[i / 2];
                plot_aids::header(ui, &fig.id, title, exports, fig);
                let plot = linked_plot(&fig.id, h, link, "t", fig.log_y)
                    .label_formatter(plot_aids::hover_all(fig, "t"));
                plot_aids::show(ui, &fig.id, plot, fig);
            }
        });
    }
}

impl Workspace for LinearWorkspace {
    fn id(&self) -> WorkspaceId {
        ID
    }

    fn title(&self) -> &'static str {
        "Linear model"
    }

    fn logic(&mut self, _ctx: &egui::Context, _cx: &mut Cx<'_>) {
        self.poll();
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        egui::Panel::left("linear-controls")
            .resizable(true)
            .default_size(290.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui));
            });
        // Restart once the user has let go of a slider.
        let dragging = ui.ctx().dragged_id().is_some();
        if self.auto_run && !dragging && self.started_for.as_ref() != Some(&self.params) {
            self.start();
        }
        egui::CentralPanel::default().show(ui, |ui| {
            let pal = theme::palette(ui.ctx());
            if let Some(e) = &self.error {
                banner(ui, &format!("Cannot run: {e}"), pal.error_bg, pal.error_fg);
            }
            if let Some(o @ Outcome::Diverged { .. }) = &self.outcome {
                banner(ui, &format!("The run {o}."), pal.error_bg, pal.error_fg);
            }
            self.status_ui(ui);
            cx.exports.context = crate::ui::export::ExportContext::new(
                cx.settings.last_preset.as_deref(),
                |k| matches!(k, crate::engine::presets::PresetKind::Linear(_)),
                self.params.lr,
            );
            self.plots_ui(ui, cx.exports);
        });
    }

    fn apply_preset(&mut self, p: &Preset, _start: bool, _cx: &mut Cx<'_>) -> bool {
        let PresetKind::Linear(l) = &p.kind else {
            return false;
        };
        self.set_params(l.clone());
        true
    }

    /// The first run starts when the workspace is first shown.
    fn on_show(&mut self, _cx: &mut Cx<'_>) {
        if self.started_for.is_none() {
            self.start();
        }
    }
}
