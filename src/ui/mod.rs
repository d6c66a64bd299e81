//! The desktop app: workspaces (Training, Self-stabilization, Linear model, Runs) behind the
//! [`Workspace`] trait and the registry in [`shell`]; each drains its engine workers in `logic`
//! and draws in `ui`; requests between them go through the [`AppCommand`] queue. No training
//! maths here.
//!
//! Environment variables (for scripts and screenshots):
//! * `EOS_START_TAB=training|selfstab|linear|runs` — workspace shown first;
//! * `EOS_FPS_LOG=1` — print frames per second to stderr every 3 s;
//! * `EOS_EXPORT_DIR=…` — default export folder until one is chosen (else `~/eos-exports`);
//! * `EOS_NO_DIALOG=1` — never open file dialogs (exports go to the default folder);
//! * `EOS_WORKER_NICE=N` — nice level of the training worker (default 10; 0 keeps the UI's);
//! * `EOS_FOLLOW_NETWORK=1` — the Self-stabilization workspace starts with “follow” on (it
//!   takes the training run's measured map as soon as it exists).

pub mod app;
pub mod export;
pub mod figure_view;
pub mod linear;
pub mod plot_aids;
pub mod plots;
pub mod repaint;
pub mod runs;
pub mod selfstab;
pub mod shell;
pub mod theme;
pub mod training;
pub mod widgets;

use std::time::Instant;

use eframe::egui;
use serde::{Deserialize, Serialize};

pub use app::EosApp;
pub use shell::{AppCommand, AppCommands, Cx, Host, Shared, Workspace, WorkspaceId};

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
    /// Run folders to open in the Runs workspace (`--open DIR`).
    pub open: Vec<std::path::PathBuf>,
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
    /// Run folders opened lately (newest first), offered in the Runs workspace.
    pub recent_runs: Vec<String>,
    /// Export size, look, folder and GIF options.
    pub export: export::ExportSettings,
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
            recent_runs: Vec::new(),
            export: export::ExportSettings::default(),
        }
    }
}

pub(crate) const SETTINGS_KEY: &str = "eos-explorer-settings";

/// When `run_app` was called: with `EOS_FPS_LOG` set, the Training workspace logs how long
/// after launch the first crossing of 2/η arrived.
pub static LAUNCHED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Open the window (blocks until it is closed).
pub fn run_app(opts: AppOptions) -> anyhow::Result<()> {
    let _ = LAUNCHED.set(std::time::Instant::now());
    let renderer = match opts.renderer {
        Renderer::Glow => eframe::Renderer::Glow,
        #[cfg(feature = "wgpu")]
        Renderer::Wgpu => eframe::Renderer::Wgpu,
        #[cfg(not(feature = "wgpu"))]
        Renderer::Wgpu => anyhow::bail!(
            "this build has no wgpu renderer: rebuild with `cargo build --release --features \
             wgpu`, or leave out --renderer to use OpenGL (glow)"
        ),
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
    let open = opts.open;
    eframe::run_native(
        "eos-explorer",
        native,
        Box::new(move |cc| {
            let settings: Settings = cc
                .storage
                .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
                .unwrap_or_default();
            // Opening runs does not start the digits demo.
            let start = autostart.unwrap_or(settings.autostart && open.is_empty());
            let Some(name) = preset else {
                let mut app = EosApp::new(&cc.egui_ctx, settings, start);
                app.launched = Some(launched);
                for d in open {
                    app.send(AppCommand::OpenRun(d));
                }
                return Ok(Box::new(app));
            };
            let mut app = EosApp::new(&cc.egui_ctx, settings, false);
            app.launched = Some(launched);
            if let Err(e) = app.open_preset(&name, cifar_dir.as_deref(), start) {
                app.send(AppCommand::Notify {
                    text: e,
                    error: true,
                });
            }
            for d in open {
                app.send(AppCommand::OpenRun(d));
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}
