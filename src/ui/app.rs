//! The app: the top bar, the notices, and the frame loop that runs every workspace's `logic`
//! (also while the window is hidden), the shown workspace's `ui`, and the command queue.

use std::time::Instant;

use eframe::egui::{self, RichText};

use super::export::Notice;
use super::shell::{self, AppCommand, Host, Workspace, WorkspaceId, Workspaces};
use super::{SETTINGS_KEY, Settings, runs, theme, training};
use super::{plot_aids, plots};
use crate::engine::presets::{self, Preset};

/// Rounds of command processing per phase (a command may send further commands).
const MAX_COMMAND_ROUNDS: usize = 8;

struct FpsLog {
    enabled: bool,
    /// Repaint every frame (EOS_FPS_LOG=1, for frame-rate measurements); with
    /// EOS_FPS_LOG=passive the app repaints as users get it (throttled when idle or hidden)
    /// and only logs.
    continuous: bool,
    frames: u64,
    since: Instant,
    /// Time spent building the UI (not rendering) since `since`.
    build_s: f64,
}

/// The app.
pub struct EosApp {
    /// Settings, command queue, exports and shared data: everything but the workspaces.
    pub host: Host,
    pub workspaces: Workspaces,
    active: WorkspaceId,
    presets: Vec<Preset>,
    applied_style: Option<(bool, bool)>,
    fps: FpsLog,
    /// When `run_app` was called (the first frame's delay is logged with `EOS_FPS_LOG`).
    pub launched: Option<Instant>,
    /// When each notice (same order as `host.exports.notices`) was first shown.
    notice_shown: Vec<Instant>,
    /// The keyboard-shortcuts window (`?`).
    pub show_shortcuts: bool,
}

/// The keys the app answers to, as the `?` window lists them.
pub const SHORTCUTS: &[(&str, &str)] = &[
    (
        "Space",
        "Training: pause / resume · Self-stabilization and Runs: play / pause the play-back",
    ),
    ("→", "Training: one step"),
    (
        "R",
        "Training: reset the run to its initial weights (asks first: Enter resets, Esc keeps)",
    ),
    ("F11", "Full screen on / off"),
    ("Esc", "Leave a plot's focus view; close this window"),
    ("Ctrl + / Ctrl −", "Zoom in / out"),
    ("?", "Show / hide these shortcuts"),
];

/// Full screen on or off.
fn toggle_fullscreen(ctx: &egui::Context) {
    let on = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
    ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(!on));
}

/// How long an info notice (an export written, a folder remembered) stays on screen; errors
/// stay until dismissed.
pub const NOTICE_SECONDS: f64 = 8.0;

impl EosApp {
    /// Build the app; `autostart` starts the digits demo at once.
    pub fn new(ctx: &egui::Context, settings: Settings, autostart: bool) -> Self {
        let mut host = Host {
            settings,
            ..Host::default()
        };
        host.exports.settings = host.settings.export.clone();
        let workspaces = Workspaces::new(shell::registry(ctx, &host.repaint));
        let mut app = EosApp {
            host,
            workspaces,
            active: training::ID,
            presets: presets::all(),
            applied_style: None,
            fps: FpsLog {
                enabled: std::env::var_os("EOS_FPS_LOG").is_some(),
                continuous: std::env::var("EOS_FPS_LOG").is_ok_and(|v| v != "passive"),
                frames: 0,
                since: Instant::now(),
                build_s: 0.0,
            },
            launched: None,
            notice_shown: Vec::new(),
            show_shortcuts: false,
        };
        theme::install_fonts(ctx);
        let zoom = app.host.settings.zoom;
        if zoom.is_finite() && (0.5..=3.0).contains(&zoom) {
            ctx.set_zoom_factor(zoom);
        }
        if let Some(d) = app.host.settings.cifar_dir.clone()
            && let Some(t) = app.workspace_mut::<training::TrainingWorkspace>()
        {
            t.cifar_dir = d;
        }
        if autostart {
            if let Some(p) = presets::find("digits-demo") {
                app.apply_preset_and_start(&p, true);
            }
        } else if let Some(name) = app.host.settings.last_preset.clone()
            && let Some(p) = presets::find(&name)
        {
            app.apply_preset(&p);
        }
        if let Some(id) = std::env::var("EOS_START_TAB")
            .ok()
            .and_then(|s| app.workspaces.find_id(&s))
        {
            app.show(id);
        }
        app
    }

    /// The workspace shown.
    pub fn active(&self) -> WorkspaceId {
        self.active
    }

    /// Show a workspace (the first show of the Linear model starts its run).
    pub fn show(&mut self, id: WorkspaceId) {
        self.active = id;
        let mut cx = self.host.cx();
        if let Some(w) = self.workspaces.by_id(id) {
            w.on_show(&mut cx);
        }
    }

    /// The workspace of type `T`.
    pub fn workspace<T: Workspace>(&self) -> Option<&T> {
        self.workspaces.get::<T>()
    }

    pub fn workspace_mut<T: Workspace>(&mut self) -> Option<&mut T> {
        self.workspaces.get_mut::<T>()
    }

    /// Queue a command (applied at the end of the current phase).
    pub fn send(&mut self, cmd: AppCommand) {
        self.host.commands.send(cmd);
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
            if let Some(t) = self.workspace_mut::<training::TrainingWorkspace>() {
                t.cifar_dir = d.to_string();
            }
            self.host.settings.cifar_dir = Some(d.to_string());
        }
        self.apply_preset_and_start(&p, start);
        Ok(())
    }

    /// Load a preset into its workspace and switch to it.
    pub fn apply_preset(&mut self, p: &Preset) {
        self.apply_preset_and_start(p, false);
    }

    fn apply_preset_and_start(&mut self, p: &Preset, start: bool) {
        self.host.settings.last_preset = Some(p.name.to_string());
        let mut cx = self.host.cx();
        let mut taken = None;
        for w in self.workspaces.iter_mut() {
            if w.apply_preset(p, start, &mut cx) {
                taken = Some(w.id());
                break;
            }
        }
        if let Some(id) = taken {
            self.show(id);
        }
    }

    /// Apply the queued commands: the app's part first, then every workspace sees each one.
    fn process_commands(&mut self, ctx: &egui::Context) {
        for _ in 0..MAX_COMMAND_ROUNDS {
            let cmds = self.host.commands.take();
            if cmds.is_empty() {
                return;
            }
            ctx.request_repaint();
            for cmd in cmds {
                match &cmd {
                    AppCommand::Show(id) => self.show(*id),
                    AppCommand::ApplyPreset { preset, start } => {
                        self.apply_preset_and_start(preset, *start);
                    }
                    AppCommand::PublishTheory(log) => {
                        self.host.shared.network_theory = log.clone();
                    }
                    AppCommand::RememberCifarDir(d) => {
                        self.host.settings.cifar_dir = Some(d.clone());
                    }
                    AppCommand::Notify { text, error } => self.host.exports.notices.push(Notice {
                        text: text.clone(),
                        is_error: *error,
                        path: None,
                    }),
                    AppCommand::OpenRun(_) | AppCommand::ChooseRun => self.show(runs::ID),
                    AppCommand::RememberRun(dir) => {
                        let recent = &mut self.host.settings.recent_runs;
                        recent.retain(|r| r != dir);
                        recent.insert(0, dir.clone());
                        recent.truncate(runs::MAX_RECENT);
                    }
                    AppCommand::OpenInSelfStab | AppCommand::SaveNpz(_) => {}
                }
                let mut cx = self.host.cx();
                for w in self.workspaces.iter_mut() {
                    w.on_command(&cmd, &mut cx);
                }
            }
        }
    }

    /// The app's logic for one frame (no drawing): read the window's state for the repaint
    /// policy, collect finished exports, drain every workspace's workers, apply the commands.
    /// eframe calls it before each `ui`, and alone while the window is hidden.
    pub fn tick(&mut self, ctx: &egui::Context) {
        self.host.repaint.observe(ctx);
        self.host.exports.poll(ctx);
        for f in std::mem::take(&mut self.host.exports.finished_run_folders) {
            if f.with_npz {
                self.host.commands.send(AppCommand::SaveNpz(f.dir));
            }
        }
        let mut cx = self.host.cx();
        for w in self.workspaces.iter_mut() {
            w.logic(ctx, &mut cx);
        }
        self.process_commands(ctx);
    }

    fn apply_style(&mut self, ctx: &egui::Context) {
        let want = (self.host.settings.dark, self.host.settings.large_font);
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

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("EoS explorer");
            ui.separator();
            for w in self.workspaces.iter() {
                if ui
                    .selectable_label(self.active == w.id(), w.title())
                    .clicked()
                {
                    self.host.commands.send(AppCommand::Show(w.id()));
                }
            }
            ui.separator();
            ui.menu_button("Presets", |ui| {
                for p in &self.presets {
                    let r = ui
                        .button(format!("{}: {}", p.name, p.title))
                        .on_hover_text(format!("{}\n\nSource: {}", p.description, p.source));
                    if r.clicked() {
                        // Choosing a preset resets to it and starts it, as the first launch
                        // does (a CIFAR preset waits for its folder).
                        self.host.commands.send(AppCommand::ApplyPreset {
                            preset: Box::new(p.clone()),
                            start: true,
                        });
                        ui.close();
                    }
                }
            });
            let settings = &mut self.host.settings;
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut settings.dark, "Dark theme");
                ui.checkbox(&mut settings.large_font, "Large font");
                ui.label(format!(
                    "Zoom {:.0}% (Ctrl + / Ctrl −)",
                    ui.ctx().zoom_factor() * 100.0
                ));
                ui.checkbox(&mut settings.autostart, "Start the digits demo on launch");
                if ui.button("Keyboard shortcuts (?)").clicked() {
                    self.show_shortcuts = true;
                    ui.close();
                }
                if ui.button("Full screen (F11)").clicked() {
                    toggle_fullscreen(ui.ctx());
                    ui.close();
                }
            });
            ui.menu_button("Export", |ui| {
                if ui.button("Window → PNG").clicked() {
                    self.host.exports.screenshot(ui.ctx());
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

    /// App-wide keys: `?` the shortcuts, F11 full screen, Esc leaves a plot's focus view.
    fn handle_keys(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let (question, f11, esc) = ctx.input(|i| {
            let question = i.key_pressed(egui::Key::Questionmark)
                || i.events
                    .iter()
                    .any(|e| matches!(e, egui::Event::Text(t) if t == "?"));
            (
                question,
                i.key_pressed(egui::Key::F11),
                i.key_pressed(egui::Key::Escape),
            )
        });
        if f11 {
            toggle_fullscreen(ctx);
        }
        if typing {
            return;
        }
        if question {
            self.show_shortcuts = !self.show_shortcuts;
        } else if esc && self.show_shortcuts {
            self.show_shortcuts = false;
        } else if esc && plot_aids::focused(ctx).is_some() && !self.confirm_open() {
            plot_aids::set_focus(ctx, None);
        }
    }

    /// A workspace asks a question (e.g. reset the run?): Enter and Esc belong to it.
    fn confirm_open(&self) -> bool {
        self.workspace::<training::TrainingWorkspace>()
            .is_some_and(|t| t.confirm_reset || t.confirm_sweep)
    }

    fn shortcuts_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.show_shortcuts;
        egui::Window::new("Keyboard shortcuts")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::vec2(0.0, 0.0))
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts-grid")
                    .num_columns(2)
                    .spacing([16.0, 6.0])
                    .show(ui, |ui| {
                        for (key, what) in SHORTCUTS {
                            ui.strong(*key);
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
            });
        self.show_shortcuts = open;
    }

    fn current_preset(&self) -> Option<&Preset> {
        let name = self.host.settings.last_preset.as_deref()?;
        self.presets.iter().find(|p| p.name == name)
    }

    /// The app's notices as toasts over the bottom-right corner of the content: the layout
    /// never moves under the pointer. Info notices go by themselves after
    /// [`NOTICE_SECONDS`]; errors stay until dismissed. Each can be copied (e.g. a path).
    fn notices_ui(&mut self, ctx: &egui::Context) {
        let pal = theme::palette(ctx);
        let notices = &mut self.host.exports.notices;
        let now = Instant::now();
        self.notice_shown.truncate(notices.len());
        while self.notice_shown.len() < notices.len() {
            self.notice_shown.push(now);
        }
        let mut keep: Vec<bool> = notices
            .iter()
            .zip(&self.notice_shown)
            .map(|(n, t)| n.is_error || now.duration_since(*t).as_secs_f64() < NOTICE_SECONDS)
            .collect();
        if notices.is_empty() {
            return;
        }
        let mut open = None;
        egui::Area::new(egui::Id::unique("eos-notices"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -12.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                ui.set_max_width(560.0);
                for (i, n) in notices.iter().enumerate() {
                    let (bg, fg) = if n.is_error {
                        (pal.error_bg, pal.error_fg)
                    } else {
                        (pal.info_bg, pal.info_fg)
                    };
                    if plots::banner(ui, &n.text, bg, fg) {
                        keep[i] = false;
                    }
                    if let Some(path) = &n.path {
                        ui.horizontal(|ui| {
                            if ui
                                .small_button("copy path")
                                .on_hover_text(format!("Copy {} to the clipboard", path.display()))
                                .clicked()
                            {
                                ui.ctx().copy_text(path.display().to_string());
                            }
                            if ui
                                .small_button("open folder")
                                .on_hover_text("Show the folder in the file manager")
                                .clicked()
                            {
                                open = Some(path.clone());
                            }
                        });
                    } else if ui
                        .small_button("copy")
                        .on_hover_text("Copy this message to the clipboard")
                        .clicked()
                    {
                        ui.ctx().copy_text(n.text.clone());
                    }
                }
            });
        let mut k = keep.iter();
        notices.retain(|_| k.next().copied().unwrap_or(true));
        let mut k = keep.iter();
        self.notice_shown
            .retain(|_| k.next().copied().unwrap_or(true));
        if notices.iter().any(|n| !n.is_error) {
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
        if let Some(p) = open {
            self.host.exports.open_folder(&p);
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
            let activity: Vec<String> = self
                .workspaces
                .iter()
                .filter_map(|w| w.activity())
                .collect();
            eprintln!(
                "eos-explorer: {:.1} frames/s, UI build {:.1} ms/frame ({})",
                self.fps.frames as f64 / dt,
                1e3 * self.fps.build_s / self.fps.frames.max(1) as f64,
                activity.join(", ")
            );
            self.fps.frames = 0;
            self.fps.build_s = 0.0;
            self.fps.since = Instant::now();
        }
    }

    /// Draw one frame of the whole app (also used by the tests); `tick` ran before it.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let t0 = Instant::now();
        let ctx = ui.ctx().clone();
        self.fps_tick();
        self.apply_style(&ctx);
        // A folder dropped onto the window opens in the Runs workspace.
        let dropped: Vec<std::path::PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        for p in dropped {
            self.host.commands.send(AppCommand::OpenRun(p));
        }
        self.handle_keys(&ctx);
        let active = self.active;
        egui::Panel::top("top-bar").show(ui, |ui| {
            self.top_bar(ui);
            let mut cx = self.host.cx();
            if let Some(w) = self.workspaces.by_id(active) {
                w.notice_ui(ui, &mut cx);
            }
        });
        self.notices_ui(&ctx);
        self.shortcuts_ui(&ctx);
        // Exported titles and names carry a preset and η only where the workspace sets them.
        self.host.exports.context = Default::default();
        let mut cx = self.host.cx();
        if let Some(w) = self.workspaces.by_id(active) {
            w.ui(ui, &mut cx);
        }
        let z = ctx.zoom_factor();
        if (z - self.host.settings.zoom).abs() > 1e-3 {
            self.host.settings.zoom = z;
        }
        self.process_commands(&ctx);
        if self.fps.enabled {
            self.fps.build_s += t0.elapsed().as_secs_f64();
            if self.fps.continuous {
                ctx.request_repaint();
            }
        }
    }
}

impl eframe::App for EosApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.tick(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.host.settings.export = self.host.exports.settings.clone();
        eframe::set_value(storage, SETTINGS_KEY, &self.host.settings);
    }
}
