//! The Training workspace: run configuration on the left, live plots (loss, accuracy,
//! sharpness against 2/η) in the centre, run controls and a status line on top.
//!
//! * [`model`]: runs, overlays and derived series (no egui);
//! * `controller`: the worker protocol (start, reset, branch, sweep, events);
//! * `controls`, `compare`, `theory_panel`, `central_flow_panel`, `plots`, `run_bar`: the
//!   panels.

mod central_flow_panel;
mod compare;
mod controller;
mod controls;
pub mod model;
mod plots;
mod run_bar;
mod theory_panel;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};

use super::plots::banner_list;
use super::repaint::RepaintPolicy;
use super::shell::{AppCommand, Cx, Workspace, WorkspaceId};
use super::theme;
use crate::engine::central_flow::CentralFlowLog;
use crate::engine::config::{ConfigError, ConfigField, RunConfig};
use crate::engine::data::DatasetSpec;
use crate::engine::figure::central_flow::CentralFlowSeries;
use crate::engine::presets::{self, Preset, PresetKind};
use crate::engine::theory::measured::TheoryLog;
use crate::engine::worker::TrainWorker;

pub use model::{
    Overlay, OverlayKind, RunView, fmt_duration, parse_lrs, parse_widths, predicted_sharpness,
    step_breakpoints, step_line,
};

/// This workspace's id (`EOS_START_TAB=training`).
pub const ID: WorkspaceId = WorkspaceId("training");

/// Longest time the UI spends draining worker events per frame.
pub const DRAIN_BUDGET: Duration = Duration::from_millis(4);
/// Most events drained per frame.
pub const DRAIN_MAX: usize = 4000;

/// The dataset choice in the side panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    Digits,
    Cifar,
    Chebyshev,
    Teacher,
}

impl DatasetKind {
    fn label(self) -> &'static str {
        match self {
            DatasetKind::Digits => "Digits (embedded 8×8)",
            DatasetKind::Cifar => "CIFAR-10 (folder)",
            DatasetKind::Chebyshev => "Chebyshev regression",
            DatasetKind::Teacher => "Gaussian teacher",
        }
    }
    fn of(spec: &DatasetSpec) -> Self {
        match spec {
            DatasetSpec::Digits { .. } => DatasetKind::Digits,
            DatasetSpec::Cifar10 { .. } => DatasetKind::Cifar,
            DatasetSpec::Chebyshev { .. } => DatasetKind::Chebyshev,
            DatasetSpec::Teacher { .. } => DatasetKind::Teacher,
        }
    }
}

/// The Training workspace.
pub struct TrainingWorkspace {
    pub config: RunConfig,
    pub preset: Option<Preset>,
    pub widths_text: String,
    pub cifar_dir: String,
    pub run: Option<RunView>,
    /// The run shown before the last Start, until the new one has started (a Start that
    /// fails gives it back).
    pub previous_run: Option<RunView>,
    pub banners: Vec<(String, bool)>,
    pub log_y: bool,
    pub use_acc_goal: bool,
    pub use_loss_goal: bool,
    worker: Option<TrainWorker>,
    ctx: egui::Context,
    repaint: RepaintPolicy,
    folder_rx: Option<(Receiver<Option<PathBuf>>, Instant)>,
    /// The CIFAR folder text last checked on disk (to remember it once it exists).
    checked_dir: String,
    /// A CIFAR preset waiting for its folder (its name).
    pub pending_cifar_preset: Option<&'static str>,
    pub export_npz: bool,
    /// Runs drawn over the main one (branches, sweep members, gradient flow).
    pub overlays: Vec<Overlay>,
    /// η of the next branch.
    pub branch_lr: f64,
    /// η values of a sweep, as typed.
    pub sweep_text: String,
    /// Overlay a gradient-flow run from the same initialisation.
    pub show_flow: bool,
    next_slot: usize,
    /// Measure Damian et al.'s α, β, x_t, y_t along the main run.
    pub theory_on: bool,
    /// Steps tracked after the first crossing.
    pub theory_window: usize,
    /// η while its slider is being dragged: applied to the run on release, not at every
    /// intermediate value.
    pub lr_pending: Option<f64>,
    /// Why the last η typed in was not taken (shown beside the slider).
    pub lr_problem: Option<String>,
    /// What the tracker reported for the main run.
    pub theory: TheoryLog,
    /// `theory` changed since it was last published to the other workspaces.
    theory_changed: bool,
    /// Step Cohen et al. 2025's central flow (and a gradient flow) beside the main run.
    pub cf_on: bool,
    /// Its Euler substeps per GD step.
    pub cf_substeps: usize,
    /// What the central-flow probe reported for the main run.
    pub central_flow: CentralFlowLog,
    /// The same rows as the figures draw them.
    pub cf_series: CentralFlowSeries,
    /// The η the sliders' ranges sit around (the preset's, or the last one typed outside).
    pub lr_anchor: f64,
    /// R was pressed: the run resets only once this is confirmed (Enter), Esc keeps it.
    pub confirm_reset: bool,
    /// "Run sweep" was pressed with a run on screen: the sweep replaces it once confirmed.
    pub confirm_sweep: bool,
}

impl TrainingWorkspace {
    pub fn new(ctx: &egui::Context, repaint: &RepaintPolicy) -> Self {
        let mut w = TrainingWorkspace {
            config: RunConfig::default(),
            preset: None,
            widths_text: String::new(),
            cifar_dir: String::new(),
            run: None,
            banners: Vec::new(),
            previous_run: None,
            log_y: true,
            use_acc_goal: false,
            use_loss_goal: false,
            worker: None,
            ctx: ctx.clone(),
            repaint: repaint.clone(),
            folder_rx: None,
            checked_dir: String::new(),
            pending_cifar_preset: None,
            export_npz: false,
            overlays: Vec::new(),
            branch_lr: 0.05,
            sweep_text: "0.01, 0.02, 0.04".into(),
            show_flow: false,
            next_slot: 0,
            theory_on: true,
            theory_window: 300,
            lr_pending: None,
            lr_problem: None,
            theory: TheoryLog::default(),
            theory_changed: false,
            cf_on: false,
            cf_substeps: controller::app_central_flow_defaults().substeps,
            central_flow: CentralFlowLog::default(),
            cf_series: CentralFlowSeries::default(),
            confirm_reset: false,
            lr_anchor: 0.1,
            confirm_sweep: false,
        };
        if let Some(p) = presets::find("digits-demo") {
            w.load_preset(&p, None);
        }
        w
    }

    /// Load a training preset into the controls (CIFAR presets get `cifar_dir`).
    pub fn load_preset(&mut self, p: &Preset, cifar_dir: Option<&str>) {
        if let PresetKind::Training(c) = &p.kind {
            self.set_config((**c).clone());
            if p.needs_cifar {
                if let Some(d) = cifar_dir.filter(|d| !d.trim().is_empty()) {
                    self.cifar_dir = d.to_string();
                }
                self.sync_cifar_dir();
            }
            // λ1 probes on every step near the crossing cost seconds per step on CIFAR-5k:
            // on by default only for the small presets.
            self.theory_on = !p.needs_cifar;
            self.preset = Some(p.clone());
            // Branch and sweep around this preset's η (fixed values flatten some presets'
            // curves against 2/η lines far away).
            (self.branch_lr, self.sweep_text) = model::compare_defaults(self.config.lr);
        }
    }

    pub fn set_config(&mut self, c: RunConfig) {
        self.widths_text = c
            .hidden
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.use_acc_goal = c.acc_goal.is_some();
        self.use_loss_goal = c.loss_goal.is_some();
        self.lr_anchor = c.lr;
        if let DatasetSpec::Cifar10 { dir, .. } = &c.dataset
            && self.cifar_dir.is_empty()
            && dir.is_absolute()
        {
            self.cifar_dir = dir.display().to_string();
        }
        self.config = c;
    }

    fn sync_cifar_dir(&mut self) {
        let dir = PathBuf::from(self.cifar_dir.trim());
        presets::with_cifar_dir(&mut self.config, &dir, None);
    }

    /// All reasons the current controls cannot start a run.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut p = self.config.problems();
        if parse_widths(&self.widths_text).is_err() {
            p.push(ConfigError {
                field: ConfigField::Arch,
                message: "hidden widths: comma-separated whole numbers ≥ 1, e.g. 64,64 (empty = no hidden layer)".into(),
            });
        }
        if let DatasetSpec::Cifar10 { dir, .. } = &self.config.dataset
            && dir.as_os_str().is_empty()
        {
            p.push(ConfigError {
                field: ConfigField::CifarDir,
                message: "choose the cifar-10-batches-bin folder".into(),
            });
        }
        match &self.config.dataset {
            DatasetSpec::Digits { n_train, .. } | DatasetSpec::Cifar10 { n_train, .. }
                if *n_train == 0 =>
            {
                p.push(ConfigError {
                    field: ConfigField::Subset,
                    message: "use at least one training example".into(),
                });
            }
            DatasetSpec::Digits { n_train, n_test }
                if n_train.saturating_add(*n_test) > crate::engine::data::digits::N_IMAGES =>
            {
                p.push(ConfigError {
                    field: ConfigField::Subset,
                    message: format!(
                        "the digits have {} images: training + test examples must not exceed it",
                        crate::engine::data::digits::N_IMAGES
                    ),
                });
            }
            _ => {}
        }
        p
    }

    /// Remember the CIFAR folder once the typed path is an existing folder (checked on disk
    /// only when the text changed).
    fn remember_cifar_dir(&mut self, cx: &mut Cx<'_>) {
        let d = self.cifar_dir.trim();
        if d.is_empty() || d == self.checked_dir || cx.settings.cifar_dir.as_deref() == Some(d) {
            return;
        }
        self.checked_dir = d.to_string();
        if std::path::Path::new(d).is_dir() {
            cx.commands
                .send(AppCommand::RememberCifarDir(d.to_string()));
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if self.confirm_reset || self.confirm_sweep {
            // The confirmation owns Enter and Esc (see `confirm_ui`).
            return;
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (space, right, r) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::Space),
                i.key_pressed(egui::Key::ArrowRight),
                i.key_pressed(egui::Key::R) && i.modifiers.is_none(),
            )
        });
        if space {
            self.pause_resume();
        }
        if right {
            self.step();
        }
        // One stray key must not lose a long run: R asks first.
        if r && self.run.as_ref().is_some_and(|r| r.info.is_some()) {
            self.confirm_reset = true;
        }
    }

    /// The confirmation asked by R (reset) or "Run sweep" with a run on screen: Enter or the
    /// button goes ahead, Esc or the other button keeps the run.
    fn confirm_ui(&mut self, ctx: &egui::Context) {
        if !(self.confirm_reset || self.confirm_sweep) {
            return;
        }
        let step = self
            .run
            .as_ref()
            .and_then(|r| r.records.last())
            .map_or(0, |r| r.step);
        let (question, go) = if self.confirm_reset {
            (
                format!(
                    "Reset the run to its initial weights? Its {} are discarded.",
                    model::plural(step, "step")
                ),
                "Reset (Enter)",
            )
        } else {
            (
                format!(
                    "Run the sweep? It replaces the current run (step {step}) and its overlays."
                ),
                "Run sweep (Enter)",
            )
        };
        let (enter, esc) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::Enter),
                i.key_pressed(egui::Key::Escape),
            )
        });
        let mut decided = None;
        egui::Modal::new(egui::Id::unique("training-confirm")).show(ctx, |ui| {
            ui.set_max_width(420.0);
            ui.label(question);
            ui.horizontal(|ui| {
                if ui.button(go).clicked() {
                    decided = Some(true);
                }
                if ui.button("Keep the run (Esc)").clicked() {
                    decided = Some(false);
                }
            });
        });
        if enter {
            decided = Some(true);
        } else if esc {
            decided = Some(false);
        }
        if let Some(go) = decided {
            if go && self.confirm_reset {
                self.reset();
            } else if go && self.confirm_sweep {
                self.start_sweep();
            }
            self.confirm_reset = false;
            self.confirm_sweep = false;
        }
    }

    fn banners_ui(&mut self, ui: &mut egui::Ui) {
        banner_list(ui, &mut self.banners, 5);
    }
}

impl Workspace for TrainingWorkspace {
    fn id(&self) -> WorkspaceId {
        ID
    }

    fn title(&self) -> &'static str {
        "Training"
    }

    fn logic(&mut self, _ctx: &egui::Context, cx: &mut Cx<'_>) {
        self.poll();
        self.poll_folder_dialog(cx);
        self.remember_cifar_dir(cx);
        if std::mem::take(&mut self.theory_changed) {
            cx.commands
                .send(AppCommand::PublishTheory(Arc::new(self.theory.clone())));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        let ctx = ui.ctx().clone();
        self.handle_keys(&ctx);
        self.confirm_ui(&ctx);
        egui::Panel::left("training-controls")
            .resizable(true)
            .default_size(340.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui, cx));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.banners_ui(ui);
            self.run_bar_ui(ui, cx);
            ui.separator();
            self.plots_ui(ui, cx);
        });
    }

    fn apply_preset(&mut self, p: &Preset, start: bool, cx: &mut Cx<'_>) -> bool {
        if !matches!(p.kind, PresetKind::Training(_)) {
            return false;
        }
        let dir = cx
            .settings
            .cifar_dir
            .clone()
            .filter(|d| !d.trim().is_empty());
        if p.needs_cifar && dir.is_none() && self.cifar_dir.trim().is_empty() {
            self.pending_cifar_preset = Some(p.name);
        }
        self.load_preset(p, dir.as_deref());
        // Without a valid CIFAR folder the app asks for one (the preset waits). Either way the
        // old run goes: its plots and η belong to another preset.
        if start && self.problems().is_empty() {
            self.pending_cifar_preset = None;
            self.start();
        } else {
            self.clear_run();
        }
        true
    }

    fn on_command(&mut self, cmd: &AppCommand, _cx: &mut Cx<'_>) {
        if let AppCommand::SaveNpz(dir) = cmd {
            self.save_npz(dir.clone());
        }
    }

    fn notice_ui(&mut self, ui: &mut egui::Ui, _cx: &mut Cx<'_>) {
        let Some(name) = self.pending_cifar_preset else {
            return;
        };
        let pal = theme::palette(ui.ctx());
        let mut done = false;
        egui::Frame::new()
            .fill(pal.info_bg)
            .inner_margin(egui::Margin::symmetric(8, 5))
            .show(ui, |ui| {
                ui.label(
                    RichText::new(format!(
                        "Preset {name} needs the CIFAR-10 binary folder (cifar-10-batches-bin). Type its path or press Browse… in the Data section; it is remembered."
                    ))
                    .color(pal.info_fg),
                );
                if ui.small_button("OK").clicked() {
                    done = true;
                }
            });
        if done || !self.cifar_dir.trim().is_empty() {
            self.pending_cifar_preset = None;
        }
    }

    fn activity(&self) -> Option<String> {
        let step = self
            .run
            .as_ref()
            .and_then(|r| r.records.last())
            .map(|r| r.step)
            .unwrap_or(0);
        Some(format!("training at step {step}"))
    }
}
