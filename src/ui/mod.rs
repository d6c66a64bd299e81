//! The desktop app: three workspaces (Training, Self-stabilization, Linear model) that draw
//! and send commands to engine workers; no training maths here.
//!
//! Environment variables (for scripts and screenshots):
//! * `EOS_START_TAB=training|selfstab|linear` — workspace shown first;
//! * `EOS_FPS_LOG=1` — print frames per second to stderr every 3 s;
//! * `EOS_EXPORT_DIR=…` — default export folder (else `./eos-exports`);
//! * `EOS_NO_DIALOG=1` — never open file dialogs (exports go to the default folder);
//! * `EOS_WORKER_NICE=N` — nice level of the training worker (default 10; 0 keeps the UI's);
//! * `EOS_FOLLOW_NETWORK=1` — the Self-stabilization workspace starts with “follow” on (it
//!   takes the training run's measured map as soon as it exists).

pub mod export;
pub mod figure_view;
pub mod linear;
pub mod plots;
pub mod selfstab;
pub mod theme;
pub mod training;

use std::time::Instant;

use eframe::egui::{self, RichText};
use serde::{Deserialize, Serialize};

use crate::engine::presets::{self, Preset, PresetKind};
use export::ExportManager;
use linear::LinearWorkspace;
use selfstab::SelfStabWorkspace;
use training::TrainingWorkspace;

/// Which GPU backend eframe uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Renderer {
    #[default]
    Glow,
    Wgpu,
}

impl std::str::FromStr for Renderer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "glow" => Ok(Renderer::Glow),
            "wgpu" => Ok(Renderer::Wgpu),
            other => Err(format!(
                "unknown renderer `{other}` (expected `glow` or `wgpu`)"
            )),
        }
    }
}

/// Options from the command line.
pub struct AppOptions {
    pub renderer: Renderer,
    /// `None` = use the saved setting (default true).
    pub autostart: Option<bool>,
    /// Open on this preset instead of the digits demo (started unless autostart is off).
    pub preset: Option<String>,
    /// CIFAR-10 folder for this launch (remembered like one chosen in the app).
    pub cifar_dir: Option<String>,
}

/// The workspaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Tab {
    #[default]
    Training,
    SelfStab,
    Linear,
}

impl Tab {
    pub fn from_env_value(s: &str) -> Option<Tab> {
        match s.trim().to_ascii_lowercase().as_str() {
            "training" | "train" => Some(Tab::Training),
            "selfstab" | "self-stab" | "self_stab" => Some(Tab::SelfStab),
            "linear" => Some(Tab::Linear),
            _ => None,
        }
    }
}

/// Persisted settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub dark: bool,
    pub zoom: f32,
    pub large_font: bool,
    pub last_preset: Option<String>,
    pub cifar_dir: Option<String>,
    pub autostart: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dark: true,
            zoom: 1.0,
            large_font: false,
            last_preset: None,
            cifar_dir: None,
            autostart: true,
        }
    }
}

const SETTINGS_KEY: &str = "eos-explorer-settings";

struct FpsLog {
    enabled: bool,
    frames: u64,
    since: Instant,
    /// Time spent building the UI (not rendering) since `since`.
    build_s: f64,
}

/// The app.
pub struct EosApp {
    pub settings: Settings,
    pub tab: Tab,
    pub training: TrainingWorkspace,
    pub selfstab: SelfStabWorkspace,
    pub linear: LinearWorkspace,
    pub exports: ExportManager,
    presets: Vec<Preset>,
    /// A CIFAR preset waiting for its folder.
    pending_cifar_preset: Option<Preset>,
    applied_style: Option<(bool, bool)>,
    fps: FpsLog,
    linear_started: bool,
    /// When `run_app` was called (the first frame's delay is logged with `EOS_FPS_LOG`).
    pub launched: Option<Instant>,
}

impl EosApp {
    /// Build the app; `autostart` starts the digits demo at once.
    pub fn new(ctx: &egui::Context, settings: Settings, autostart: bool) -> Self {
        let mut app = EosApp {
            training: TrainingWorkspace::new(ctx),
            selfstab: SelfStabWorkspace::default(),
            linear: LinearWorkspace::new(ctx),
            exports: ExportManager::default(),
            presets: presets::all(),
            pending_cifar_preset: None,
            applied_style: None,
            fps: FpsLog {
                enabled: std::env::var_os("EOS_FPS_LOG").is_some(),
                frames: 0,
                since: Instant::now(),
                build_s: 0.0,
            },
            tab: Tab::Training,
            linear_started: false,
            launched: None,
            settings,
        };
        theme::install_fonts(ctx);
        if app.settings.zoom.is_finite() && (0.5..=3.0).contains(&app.settings.zoom) {
            ctx.set_zoom_factor(app.settings.zoom);
        }
        if let Some(d) = app.settings.cifar_dir.clone() {
            app.training.cifar_dir = d;
        }
        if autostart {
            if let Some(p) = presets::find("digits-demo") {
                app.apply_preset(&p);
            }
            app.training.start();
        } else if let Some(name) = app.settings.last_preset.clone()
            && let Some(p) = presets::find(&name)
        {
            app.apply_preset(&p);
        }
        if let Some(t) = std::env::var("EOS_START_TAB")
            .ok()
            .and_then(|s| Tab::from_env_value(&s))
        {
            app.tab = t;
        }
        app
    }

    /// Open a preset by name (with an optional CIFAR folder) and, for a training preset, start
    /// it when `start` is set and its settings are valid.
    pub fn open_preset(
        &mut self,
        name: &str,
        cifar_dir: Option<&str>,
        start: bool,
    ) -> Result<(), String> {
        let Some(p) = presets::find(name) else {
            return Err(format!("unknown preset `{name}`"));
        };
        if let Some(d) = cifar_dir.filter(|d| !d.trim().is_empty()) {
            self.training.cifar_dir = d.to_string();
            self.settings.cifar_dir = Some(d.to_string());
        }
        self.apply_preset(&p);
        // Without a valid CIFAR folder the app asks for one (the preset waits).
        if start && matches!(p.kind, PresetKind::Training(_)) && self.training.problems().is_empty()
        {
            self.pending_cifar_preset = None;
            self.training.start();
        }
        Ok(())
    }

    /// Load a preset into its workspace and switch to it.
    pub fn apply_preset(&mut self, p: &Preset) {
        self.settings.last_preset = Some(p.name.to_string());
        match &p.kind {
            PresetKind::Training(_) => {
                let dir = self
                    .settings
                    .cifar_dir
                    .clone()
                    .filter(|d| !d.trim().is_empty());
                if p.needs_cifar && dir.is_none() && self.training.cifar_dir.trim().is_empty() {
                    self.pending_cifar_preset = Some(p.clone());
                }
                self.training.apply_preset(p, dir.as_deref());
                self.tab = Tab::Training;
            }
            PresetKind::SelfStab(s) => {
                self.selfstab.set_params(s.clone());
                self.tab = Tab::SelfStab;
            }
            PresetKind::Linear(l) => {
                self.linear.set_params(l.clone());
                self.linear_started = true;
                self.tab = Tab::Linear;
            }
        }
    }

    fn apply_style(&mut self, ctx: &egui::Context) {
        let want = (self.settings.dark, self.settings.large_font);
        if self.applied_style == Some(want) {
            return;
        }
        self.applied_style = Some(want);
        ctx.set_theme(if want.0 {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        theme::apply_text_size(ctx, want.1);
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() || self.tab != Tab::Training {
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
            self.training.pause_resume();
        }
        if right {
            self.training.step();
        }
        if r {
            self.training.reset();
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("EoS explorer");
            ui.separator();
            ui.selectable_value(&mut self.tab, Tab::Training, "Training");
            ui.selectable_value(&mut self.tab, Tab::SelfStab, "Self-stabilization");
            ui.selectable_value(&mut self.tab, Tab::Linear, "Linear model");
            ui.separator();
            let mut chosen = None;
            ui.menu_button("Presets", |ui| {
                for p in &self.presets {
                    let r = ui
                        .button(format!("{}: {}", p.name, p.title))
                        .on_hover_text(format!("{}\n\nSource: {}", p.description, p.source));
                    if r.clicked() {
                        chosen = Some(p.clone());
                        ui.close();
                    }
                }
            });
            if let Some(p) = chosen {
                self.apply_preset(&p);
            }
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut self.settings.dark, "Dark theme");
                ui.checkbox(&mut self.settings.large_font, "Large font");
                ui.label(format!(
                    "Zoom {:.0}% (Ctrl + / Ctrl −)",
                    ui.ctx().zoom_factor() * 100.0
                ));
                ui.checkbox(
                    &mut self.settings.autostart,
                    "Start the digits demo on launch",
                );
            });
            ui.menu_button("Export", |ui| {
                if ui.button("Window → PNG").clicked() {
                    self.exports.screenshot(ui.ctx());
                    ui.close();
                }
                ui.label(
                    RichText::new(
                        "Each plot has SVG/PNG buttons; runs export from the Training bar.",
                    )
                    .small(),
                );
            });
            if let Some(p) = self.current_preset() {
                ui.separator();
                ui.label(RichText::new(format!("preset: {}", p.name)).small())
                    .on_hover_text(format!(
                        "{}\n\n{}\n\nSource: {}",
                        p.title, p.description, p.source
                    ));
            }
        });
    }

    fn current_preset(&self) -> Option<&Preset> {
        let name = self.settings.last_preset.as_deref()?;
        self.presets.iter().find(|p| p.name == name)
    }

    fn cifar_prompt(&mut self, ui: &mut egui::Ui) {
        let Some(p) = &self.pending_cifar_preset else {
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
                        "Preset {} needs the CIFAR-10 binary folder (cifar-10-batches-bin). Type its path or press Browse… in the Data section; it is remembered.",
                        p.name
                    ))
                    .color(pal.info_fg),
                );
                if ui.small_button("OK").clicked() {
                    done = true;
                }
            });
        if done || !self.training.cifar_dir.trim().is_empty() {
            self.pending_cifar_preset = None;
        }
    }

    fn notices_ui(&mut self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        let mut remove = None;
        for (i, n) in self.exports.notices.iter().enumerate() {
            let (bg, fg) = if n.is_error {
                (pal.error_bg, pal.error_fg)
            } else {
                (pal.info_bg, pal.info_fg)
            };
            if plots::banner(ui, &n.text, bg, fg) {
                remove = Some(i);
            }
        }
        if let Some(i) = remove {
            self.exports.notices.remove(i);
        }
    }

    fn fps_tick(&mut self) {
        if !self.fps.enabled {
            return;
        }
        self.fps.frames += 1;
        if let Some(t) = self.launched.take() {
            eprintln!(
                "eos-explorer: first frame {:.0} ms after launch",
                1e3 * t.elapsed().as_secs_f64()
            );
        }
        let dt = self.fps.since.elapsed().as_secs_f64();
        if dt >= 3.0 {
            let steps = self
                .training
                .run
                .as_ref()
                .and_then(|r| r.records.last())
                .map(|r| r.step)
                .unwrap_or(0);
            eprintln!(
                "eos-explorer: {:.1} frames/s, UI build {:.1} ms/frame (training at step {steps})",
                self.fps.frames as f64 / dt,
                1e3 * self.fps.build_s / self.fps.frames.max(1) as f64
            );
            self.fps.frames = 0;
            self.fps.build_s = 0.0;
            self.fps.since = Instant::now();
        }
    }

    /// One frame of the whole app (also used by the tests).
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let t0 = Instant::now();
        let ctx = ui.ctx().clone();
        self.fps_tick();
        self.apply_style(&ctx);
        self.handle_keys(&ctx);
        self.exports.poll(&ctx);
        for f in std::mem::take(&mut self.exports.finished_run_folders) {
            if f.with_npz {
                self.training.save_npz(f.dir);
            }
        }
        if let Some(d) = self.training.chosen_cifar_dir.take() {
            self.settings.cifar_dir = Some(d);
        }
        if !self.training.cifar_dir.trim().is_empty()
            && self.settings.cifar_dir.as_deref() != Some(self.training.cifar_dir.trim())
            && std::path::Path::new(self.training.cifar_dir.trim()).is_dir()
        {
            self.settings.cifar_dir = Some(self.training.cifar_dir.trim().to_string());
        }
        if std::mem::take(&mut self.training.open_in_selfstab) {
            self.selfstab.copy_from_network(&self.training.theory);
            self.tab = Tab::SelfStab;
        }
        if self.tab == Tab::Linear && !self.linear_started {
            self.linear_started = true;
            self.linear.start();
        }
        // Keep the training run's events flowing while another workspace is shown.
        if self.tab != Tab::Training {
            self.training.poll();
        }
        if self.tab != Tab::Linear {
            self.linear.poll();
        }
        egui::Panel::top("top-bar").show(ui, |ui| {
            self.top_bar(ui);
            self.cifar_prompt(ui);
            self.notices_ui(ui);
        });
        match self.tab {
            Tab::Training => self.training.ui(ui, &mut self.exports),
            Tab::SelfStab => self
                .selfstab
                .ui(ui, &mut self.exports, &self.training.theory),
            Tab::Linear => self.linear.ui(ui, &mut self.exports),
        }
        let z = ctx.zoom_factor();
        if (z - self.settings.zoom).abs() > 1e-3 {
            self.settings.zoom = z;
        }
        if self.fps.enabled {
            self.fps.build_s += t0.elapsed().as_secs_f64();
            ctx.request_repaint();
        }
    }
}

impl eframe::App for EosApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

/// Open the window (blocks until it is closed).
pub fn run_app(opts: AppOptions) -> anyhow::Result<()> {
    let renderer = match opts.renderer {
        Renderer::Glow => eframe::Renderer::Glow,
        Renderer::Wgpu => eframe::Renderer::Wgpu,
    };
    let native = eframe::NativeOptions {
        renderer,
        viewport: egui::ViewportBuilder::default()
            .with_title("EoS explorer: gradient descent at the edge of stability")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0]),
        ..Default::default()
    };
    let launched = Instant::now();
    let autostart = opts.autostart;
    let preset = opts.preset;
    let cifar_dir = opts.cifar_dir;
    eframe::run_native(
        "eos-explorer",
        native,
        Box::new(move |cc| {
            let settings: Settings = cc
                .storage
                .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
                .unwrap_or_default();
            let start = autostart.unwrap_or(settings.autostart);
            let Some(name) = preset else {
                let mut app = EosApp::new(&cc.egui_ctx, settings, start);
                app.launched = Some(launched);
                return Ok(Box::new(app));
            };
            let mut app = EosApp::new(&cc.egui_ctx, settings, false);
            app.launched = Some(launched);
            if let Err(e) = app.open_preset(&name, cifar_dir.as_deref(), start) {
                app.training.banners.push((e, true));
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}
