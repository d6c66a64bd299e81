//! Exports: figures (SVG/PNG at a size and look the user chose, the same descriptions the
//! screen draws), animated GIFs of a figure growing or of the map's play-back, the window as
//! PNG, a run folder in the CLI's layout (through the engine's `run_folder` writer).
//!
//! Figures and GIFs go straight into one absolute export folder the user chose (remembered in
//! the settings), under descriptive names (`sharpness_digits-demo_eta0.4_2026-12-01_2238.png`);
//! the message names the full path and offers "copy path" and "open folder". Dialogs (folder
//! choice, run export) run on spawned threads; when none can open (rfd returns `None` at once:
//! no portal, no zenity) the message says to type the folder's path instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eframe::egui;
use serde::{Deserialize, Serialize};

use crate::engine::central_flow::probe::{CSV_FILE, SUMMARY_FILE, csv_columns};
use crate::engine::central_flow::{CentralFlowLog, CentralFlowProbeOptions};
use crate::engine::config::RunConfig;
use crate::engine::figure::Figure;
use crate::engine::figure::Theme;
use crate::engine::figure::animate::{Animation, GifOptions, write_gif};
use crate::engine::figure::render::{ExportStyle, FigureError, write_figure};
use crate::engine::run_folder::{Overlay, RunData, Table, write_run};
use crate::engine::session::StepRecord;
use crate::engine::theory::measured::{CSV_COLUMNS, TheoryLog, TheoryOptions};

/// An overlaid run (branch, sweep member, gradient flow) in a run export.
#[derive(Clone, Debug)]
pub struct OverlayExport {
    /// Legend name, e.g. `branch @ 120, η = 0.05`.
    pub name: String,
    pub records: Vec<StepRecord>,
    pub config: RunConfig,
}

/// Everything a run export writes.
#[derive(Clone, Debug)]
pub struct RunExport {
    pub records: Vec<StepRecord>,
    pub config: RunConfig,
    pub neigs: usize,
    pub overlays: Vec<OverlayExport>,
    /// The measured self-stabilization quantities (empty when not tracked).
    pub theory: TheoryLog,
    /// The options the tracker ran with (for `theory_summary.json`).
    pub theory_options: TheoryOptions,
    /// Cohen et al. 2025's central flow beside the run (empty when it was off).
    pub central_flow: CentralFlowLog,
    /// The options it ran with (for `central_flow_summary.json`).
    pub central_flow_options: CentralFlowProbeOptions,
}

/// A message for the user about an export.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
    /// The file or folder written (offered as "copy path" / "open folder").
    pub path: Option<PathBuf>,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Self {
        Notice {
            text: text.into(),
            ..Notice::default()
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Notice {
            text: text.into(),
            is_error: true,
            path: None,
        }
    }

    pub fn written(text: impl Into<String>, path: PathBuf) -> Self {
        Notice {
            text: text.into(),
            is_error: false,
            path: Some(path),
        }
    }
}

/// Canvas size of exported figures and GIFs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ExportSize {
    /// 1920 × 1080, for slides.
    #[default]
    Slides,
    /// 1280 × 720.
    Hd720,
    /// Twice the classic 900 × 560 figure (1800 × 1120, text twice as large).
    Double,
    /// Inches and DPI, for papers.
    Paper,
}

impl ExportSize {
    pub const ALL: [ExportSize; 4] = [
        ExportSize::Slides,
        ExportSize::Hd720,
        ExportSize::Double,
        ExportSize::Paper,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ExportSize::Slides => "1920 × 1080 (slides)",
            ExportSize::Hd720 => "1280 × 720",
            ExportSize::Double => "2× (1800 × 1120)",
            ExportSize::Paper => "inches and DPI (papers)",
        }
    }
}

/// Light, dark or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ExportLook {
    #[default]
    Light,
    Dark,
    /// One file of each.
    Both,
}

/// How and where figures are exported (persisted with the app's settings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportSettings {
    /// The export folder (absolute); `None` = [`default_export_dir`].
    pub folder: Option<PathBuf>,
    pub size: ExportSize,
    /// Width and height in inches (with [`ExportSize::Paper`]).
    pub paper_inches: [f64; 2],
    pub dpi: f64,
    pub look: ExportLook,
    pub gif: GifOptions,
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            folder: None,
            size: ExportSize::Slides,
            paper_inches: [6.0, 3.75],
            dpi: 300.0,
            look: ExportLook::Light,
            gif: GifOptions::default(),
        }
    }
}

impl ExportSettings {
    /// The folder files go to: the chosen one when it is absolute, else the default.
    pub fn folder(&self) -> PathBuf {
        match &self.folder {
            Some(p) if p.is_absolute() => p.clone(),
            _ => default_export_dir(),
        }
    }

    /// The styles to write, each with its file-name suffix ("" or "_dark").
    pub fn styles(&self) -> Vec<(ExportStyle, &'static str)> {
        let themes: &[(Theme, &'static str)] = match self.look {
            ExportLook::Light => &[(Theme::Light, "")],
            ExportLook::Dark => &[(Theme::Dark, "_dark")],
            ExportLook::Both => &[(Theme::Light, ""), (Theme::Dark, "_dark")],
        };
        themes
            .iter()
            .map(|&(theme, suffix)| (self.style(theme), suffix))
            .collect()
    }

    pub fn style(&self, theme: Theme) -> ExportStyle {
        match self.size {
            ExportSize::Slides => ExportStyle::sized(1920, 1080, theme),
            ExportSize::Hd720 => ExportStyle::sized(1280, 720, theme),
            ExportSize::Double => ExportStyle {
                scale: Some(2.0),
                ..ExportStyle::sized(1800, 1120, theme)
            },
            ExportSize::Paper => {
                let [w, h] = self.paper_inches;
                let ok = |v: f64, lo: f64, hi: f64, d: f64| {
                    if v.is_finite() { v.clamp(lo, hi) } else { d }
                };
                ExportStyle::inches(
                    ok(w, 1.0, 40.0, 6.0),
                    ok(h, 1.0, 40.0, 3.75),
                    ok(self.dpi, 50.0, 1200.0, 300.0),
                    theme,
                )
            }
        }
    }
}

/// What the exported figures belong to: the preset's name and η, for titles and file names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExportContext {
    pub preset: Option<String>,
    pub eta: Option<f64>,
}

impl ExportContext {
    /// `preset` (the last one chosen) when it is of the kind `is_kind` accepts (a training
    /// preset for the Training plots, …), so another workspace's preset never names a figure.
    pub fn new(
        preset: Option<&str>,
        is_kind: impl Fn(&crate::engine::presets::PresetKind) -> bool,
        eta: f64,
    ) -> Self {
        let preset = preset
            .and_then(crate::engine::presets::find)
            .filter(|p| is_kind(&p.kind))
            .map(|p| p.name.to_string());
        ExportContext {
            preset,
            eta: Some(eta),
        }
    }
}

/// η as people read it: up to 4 significant digits, no trailing zeros.
fn eta_text(eta: f64) -> String {
    let s = format!(
        "{:.*}",
        (3 - eta.abs().log10().floor() as i32).clamp(0, 8) as usize,
        eta
    );
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The exported title: the figure's, then the preset and η (" — digits-demo, η = 0.4").
pub fn slide_title(title: &str, ctx: &ExportContext) -> String {
    let mut parts = Vec::new();
    if let Some(p) = ctx.preset.as_deref().filter(|p| !p.is_empty()) {
        parts.push(p.to_string());
    }
    if let Some(e) = ctx.eta.filter(|e| e.is_finite()) {
        parts.push(format!("η = {}", eta_text(e)));
    }
    if parts.is_empty() {
        title.to_string()
    } else {
        format!("{title} — {}", parts.join(", "))
    }
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// `YYYY-MM-DD_HHMM` (UTC) of `t`.
pub fn date_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}_{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `sharpness_digits-demo_eta0.4_2026-12-01_2238` + suffix + `.ext`.
pub fn file_name(
    fig_id: &str,
    ctx: &ExportContext,
    t: SystemTime,
    suffix: &str,
    ext: &str,
) -> String {
    let mut parts = vec![slug(fig_id)];
    if let Some(p) = ctx.preset.as_deref().map(slug).filter(|p| !p.is_empty()) {
        parts.push(p);
    }
    if let Some(e) = ctx.eta.filter(|e| e.is_finite()) {
        parts.push(format!("eta{}", eta_text(e)));
    }
    parts.push(date_stamp(t));
    format!("{}{suffix}.{ext}", parts.join("_"))
}

/// `dir/name`, or `dir/stem-2.ext`, `-3`, … when that file exists.
pub fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    if !p.exists() {
        return p;
    }
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    (2..)
        .map(|k| dir.join(format!("{stem}-{k}.{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(p)
}

/// A GIF being written off the UI thread.
pub struct GifJob {
    pub fig_id: String,
    pub done: Arc<AtomicUsize>,
    pub total: usize,
    pub cancel: Arc<AtomicBool>,
    key: u64,
}

/// A finished run-folder export (the app may then ask the worker for NPZ files).
#[derive(Clone, Debug, PartialEq)]
pub struct RunFolder {
    pub dir: PathBuf,
    pub with_npz: bool,
}

enum Msg {
    Notice(Notice),
    RunFolder(RunFolder, Notice),
    /// A GIF job ended (its notice follows).
    GifDone(u64, Notice),
    /// The folder dialog picked a folder.
    Folder(PathBuf),
}

/// The default folder, always absolute: `$EOS_EXPORT_DIR`, else `~/eos-exports`, else
/// `eos-exports` in the working folder.
pub fn default_export_dir() -> PathBuf {
    let p = std::env::var_os("EOS_EXPORT_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("eos-exports")))
        .unwrap_or_else(|| PathBuf::from("eos-exports"));
    std::path::absolute(&p).unwrap_or(p)
}

/// Where the user wants a file: `Ok(Some(path))`, `Ok(None)` = cancelled, or the default
/// location with a note when no dialog could be shown.
enum Choice {
    Picked(PathBuf),
    Cancelled,
    Fallback(PathBuf),
}

impl Choice {
    /// The path and a note to put before the message (where the fallback went), or the notice
    /// for a cancelled dialog.
    fn resolve(self, cancelled: &str) -> Result<(PathBuf, String), Msg> {
        match self {
            Choice::Picked(p) => Ok((absolute(p), String::new())),
            Choice::Fallback(p) => Ok((absolute(p), format!("{NO_DIALOG}; "))),
            Choice::Cancelled => Err(Msg::Notice(Notice::info(cancelled))),
        }
    }
}

fn dialogs_disabled() -> bool {
    std::env::var_os("EOS_NO_DIALOG").is_some()
}

/// rfd returns `None` both for Cancel and when no dialog backend exists; a `None` within a
/// fraction of a second means nothing was shown.
fn no_dialog_shown(t0: Instant) -> bool {
    t0.elapsed() < Duration::from_millis(600)
}

fn choose_file(folder: &Path, name: &str, ext: &str) -> Choice {
    let fallback = folder.join(name);
    if dialogs_disabled() {
        return Choice::Fallback(fallback);
    }
    let t0 = Instant::now();
    let picked = rfd::FileDialog::new()
        .set_file_name(name)
        .set_directory(folder)
        .add_filter(ext.to_uppercase(), &[ext])
        .save_file();
    match picked {
        Some(p) => Choice::Picked(p),
        None if no_dialog_shown(t0) => Choice::Fallback(fallback),
        None => Choice::Cancelled,
    }
}

fn choose_folder(folder: &Path, name: &str) -> Choice {
    let fallback = folder.join(name);
    if dialogs_disabled() {
        return Choice::Fallback(fallback);
    }
    let t0 = Instant::now();
    match rfd::FileDialog::new()
        .set_title("Export run into folder")
        .set_directory(folder)
        .pick_folder()
    {
        Some(p) => Choice::Picked(p.join(name)),
        None if no_dialog_shown(t0) => Choice::Fallback(fallback),
        None => Choice::Cancelled,
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

fn ensure_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => std::fs::create_dir_all(p)
            .map_err(|e| format!("cannot create folder {}: {e}", p.display())),
        _ => Ok(()),
    }
}

const NO_DIALOG: &str =
    "no file dialog could be opened (no desktop portal or zenity), so it went to the export folder";

/// Runs exports off the UI thread and collects their messages.
pub struct ExportManager {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    shot_tx: Sender<Arc<egui::ColorImage>>,
    shot_rx: Receiver<Arc<egui::ColorImage>>,
    /// Messages not yet dismissed (newest last).
    pub notices: Vec<Notice>,
    /// Run folders written this frame (taken by the app).
    pub finished_run_folders: Vec<RunFolder>,
    pub pending: usize,
    /// Size, look, folder and GIF options (the app loads and saves them with its settings).
    pub settings: ExportSettings,
    /// Preset and η of the figures being drawn (set by the workspace before its plots).
    pub context: ExportContext,
    /// GIFs being written.
    pub gif_jobs: Vec<GifJob>,
    /// The folder field being typed (applied on Enter or when it loses focus).
    pub folder_text: Option<String>,
    next_key: u64,
}

impl Default for ExportManager {
    fn default() -> Self {
        let (tx, rx) = channel();
        let (shot_tx, shot_rx) = channel();
        ExportManager {
            tx,
            rx,
            shot_tx,
            shot_rx,
            notices: Vec::new(),
            finished_run_folders: Vec::new(),
            pending: 0,
            settings: ExportSettings::default(),
            context: ExportContext::default(),
            gif_jobs: Vec::new(),
            folder_text: None,
            next_key: 0,
        }
    }
}

impl ExportManager {
    fn spawn(&mut self, ctx: &egui::Context, job: impl FnOnce() -> Msg + Send + 'static) {
        let tx = self.tx.clone();
        let ctx = ctx.clone();
        self.pending += 1;
        let r = std::thread::Builder::new()
            .name("eos-export".into())
            .spawn(move || {
                let _ = tx.send(job());
                ctx.request_repaint();
            });
        if let Err(e) = r {
            self.pending = self.pending.saturating_sub(1);
            self.notices
                .push(Notice::error(format!("could not start the export: {e}")));
        }
    }

    /// Export one figure (the same description the screen draws) into the export folder at
    /// the chosen size and look(s); `ext` is "svg" or "png". The title gains the preset and η.
    pub fn export_figure(&mut self, ctx: &egui::Context, mut fig: Figure, ext: &str) {
        let folder = self.settings.folder();
        let styles = self.settings.styles();
        fig.title = slide_title(&fig.title, &self.context);
        let names: Vec<String> = styles
            .iter()
            .map(|(_, suffix)| file_name(&fig.id, &self.context, SystemTime::now(), suffix, ext))
            .collect();
        self.spawn(ctx, move || {
            Msg::Notice(write_figures(&folder, &fig, &styles, &names))
        });
    }

    /// Write `anim` as a GIF into the export folder, off the UI thread, with progress in
    /// [`Self::gif_jobs`] (cancellable). Light unless the look is dark.
    pub fn export_gif(&mut self, ctx: &egui::Context, fig_id: &str, anim: Animation) {
        let folder = self.settings.folder();
        let theme = if self.settings.look == ExportLook::Dark {
            Theme::Dark
        } else {
            Theme::Light
        };
        let st = self.settings.style(theme);
        let opts = self.settings.gif;
        let suffix = if theme == Theme::Dark { "_dark" } else { "" };
        let name = file_name(fig_id, &self.context, SystemTime::now(), suffix, "gif");
        let done = Arc::new(AtomicUsize::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        self.next_key += 1;
        let key = self.next_key;
        self.gif_jobs.push(GifJob {
            fig_id: fig_id.to_string(),
            done: done.clone(),
            total: opts.frames(),
            cancel: cancel.clone(),
            key,
        });
        let c = ctx.clone();
        self.spawn(ctx, move || {
            let path = unique_path(&folder, &name);
            let r = ensure_parent(&path).map_err(|message| FigureError::Draw {
                path: path.clone(),
                message,
            });
            let r = r.and_then(|_| {
                write_gif(&path, &anim, &st, &opts, &cancel, &mut |d, _| {
                    done.store(d, Ordering::Relaxed);
                    c.request_repaint();
                })
            });
            let n = match r {
                Ok(frames) => Notice::written(
                    format!(
                        "GIF written to {} ({} × {}, {frames} frames at {} fps)",
                        path.display(),
                        st.pixels().0,
                        st.pixels().1,
                        opts.fps
                    ),
                    path,
                ),
                Err(FigureError::Cancelled) => Notice::info("GIF export cancelled"),
                Err(e) => Notice::error(format!("GIF export failed: {e}")),
            };
            Msg::GifDone(key, n)
        });
    }

    /// The running GIF job of figure `fig_id`, if any.
    pub fn gif_job(&self, fig_id: &str) -> Option<&GifJob> {
        self.gif_jobs.iter().find(|j| j.fig_id == fig_id)
    }

    /// Open a folder dialog (on its own thread) to choose the export folder.
    pub fn choose_export_folder(&mut self, ctx: &egui::Context) {
        let start = self.settings.folder();
        self.spawn(ctx, move || {
            if dialogs_disabled() {
                return Msg::Notice(Notice::error(
                    "file dialogs are off (EOS_NO_DIALOG): type the folder's full path in the field",
                ));
            }
            let t0 = Instant::now();
            match rfd::FileDialog::new()
                .set_title("Folder for exported figures")
                .set_directory(&start)
                .pick_folder()
            {
                Some(p) => Msg::Folder(absolute(p)),
                None if no_dialog_shown(t0) => Msg::Notice(Notice::error(
                    "no file dialog could be opened (no desktop portal or zenity): type the \
                     folder's full path in the field",
                )),
                None => Msg::Notice(Notice::info("the export folder is unchanged")),
            }
        });
    }

    /// Use `text` as the export folder; it must be an absolute path.
    pub fn set_folder_text(&mut self, text: &str) {
        let p = PathBuf::from(text.trim());
        if p.as_os_str().is_empty() {
            self.settings.folder = None;
        } else if p.is_absolute() {
            self.settings.folder = Some(p);
        } else {
            self.notices.push(Notice::error(format!(
                "“{}” is not a full path: type one that starts at the root, e.g. {}",
                text.trim(),
                default_export_dir().display()
            )));
        }
    }

    /// Open `path`'s folder (the path itself when it is one) in the desktop's file manager.
    pub fn open_folder(&mut self, path: &Path) {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else if cfg!(target_os = "windows") {
            "explorer"
        } else {
            "xdg-open"
        };
        if let Err(e) = std::process::Command::new(opener).arg(&dir).spawn() {
            self.notices.push(Notice::error(format!(
                "could not open {} with {opener}: {e}. Copy the path instead.",
                dir.display()
            )));
        }
    }

    /// Take a screenshot of the window at the end of this frame and save it as PNG.
    pub fn screenshot(&mut self, ctx: &egui::Context) {
        let tx = self.shot_tx.clone();
        let c = ctx.clone();
        ctx.request_screenshot(move |img| {
            let _ = tx.send(img);
            c.request_repaint();
        });
        self.notices
            .push(Notice::info("taking a screenshot of the window…"));
    }

    /// Write a run folder (see [`write_run_export`]).
    pub fn export_run(&mut self, ctx: &egui::Context, run: RunExport, with_npz: bool) {
        let name = format!("run_{}", date_stamp(SystemTime::now()));
        let folder = self.settings.folder();
        self.spawn(ctx, move || {
            let (dir, note) = match choose_folder(&folder, &name).resolve("export cancelled") {
                Ok(v) => v,
                Err(cancelled) => return cancelled,
            };
            match write_run_export(&dir, &run) {
                Ok(()) => {
                    let mut extra = String::new();
                    if !run.overlays.is_empty() {
                        extra += &format!(", {} in overlays/", crate::ui::training::model::plural(run.overlays.len(), "overlaid run"));
                    }
                    if !run.theory.rows.is_empty() {
                        extra += &format!(", theory.csv with {} rows", run.theory.rows.len());
                    }
                    if !run.central_flow.rows.is_empty() {
                        extra += &format!(
                            ", {CSV_FILE} with {} rows",
                            run.central_flow.rows.len()
                        );
                    }
                    let n = Notice::written(
                        format!(
                            "{note}run written to {} (metrics.csv with {} rows, config.json{extra}{})",
                            dir.display(),
                            run.records.len(),
                            if with_npz { ", NPZ files follow" } else { "" }
                        ),
                        dir.clone(),
                    );
                    Msg::RunFolder(RunFolder { dir, with_npz }, n)
                }
                Err(e) => Msg::Notice(Notice::error(format!("run export failed: {e}"))),
            }
        });
    }

    /// Collect finished jobs (call once per frame).
    pub fn poll(&mut self, ctx: &egui::Context) {
        while let Ok(img) = self.shot_rx.try_recv() {
            self.notices
                .retain(|n| !n.text.starts_with("taking a screenshot"));
            let name = format!("window_{}.png", date_stamp(SystemTime::now()));
            let folder = self.settings.folder();
            self.spawn(ctx, move || {
                let (path, note) = match choose_file(&folder, &name, "png")
                    .resolve("screenshot not saved (cancelled)")
                {
                    Ok(v) => v,
                    Err(cancelled) => return cancelled,
                };
                let r = ensure_parent(&path).and_then(|_| save_png(&path, &img));
                Msg::Notice(match r {
                    Ok(()) => Notice::written(
                        format!("{note}window screenshot written to {}", path.display()),
                        path,
                    ),
                    Err(e) => Notice::error(format!("screenshot failed: {e}")),
                })
            });
        }
        while let Ok(m) = self.rx.try_recv() {
            self.pending = self.pending.saturating_sub(1);
            match m {
                Msg::Notice(n) => self.notices.push(n),
                Msg::RunFolder(f, n) => {
                    self.notices.push(n);
                    self.finished_run_folders.push(f);
                }
                Msg::GifDone(key, n) => {
                    self.gif_jobs.retain(|j| j.key != key);
                    self.notices.push(n);
                }
                Msg::Folder(p) => {
                    self.notices.push(Notice::written(
                        format!("figures will be exported to {}", p.display()),
                        p.clone(),
                    ));
                    self.settings.folder = Some(p);
                    self.folder_text = None;
                }
            }
        }
        if self.notices.len() > 6 {
            let extra = self.notices.len() - 6;
            self.notices.drain(..extra);
        }
    }
}

/// Write `fig` once per style into `folder` (created if need be); the notice names every file.
pub fn write_figures(
    folder: &Path,
    fig: &Figure,
    styles: &[(ExportStyle, &'static str)],
    names: &[String],
) -> Notice {
    if let Err(e) = std::fs::create_dir_all(folder) {
        return Notice::error(format!(
            "figure export failed: cannot create the folder {}: {e}. Choose another export folder.",
            folder.display()
        ));
    }
    let mut written = Vec::new();
    for ((st, _), name) in styles.iter().zip(names) {
        let path = unique_path(folder, name);
        if let Err(e) = write_figure(&path, fig, st) {
            return Notice::error(format!("figure export failed: {e}"));
        }
        let (w, h) = st.pixels();
        written.push((path, w, h));
    }
    let text = written
        .iter()
        .map(|(p, w, h)| format!("{} ({w} × {h})", p.display()))
        .collect::<Vec<_>>()
        .join(" and ");
    match written.into_iter().next() {
        Some((path, ..)) => Notice::written(format!("figure written to {text}"), path),
        None => Notice::error("figure export failed: no size or look chosen"),
    }
}

fn save_png(path: &Path, img: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = img.size;
    let rgba: Vec<u8> = img.pixels.iter().flat_map(|c| c.to_array()).collect();
    image::save_buffer(path, &rgba, w as u32, h as u32, image::ColorType::Rgba8)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A run folder in the layout the CLI writes (the engine's one writer, `run_folder`):
/// metrics.csv and config.json; `overlays/<k>-<name>/` with the same files per overlaid run
/// (+ `overlay.json` naming it); when the theory was tracked, theory.csv and
/// theory_summary.json exactly as `run --theory` writes them; when the central flow ran,
/// central_flow.csv and central_flow_summary.json as `run --central-flow` writes them. The
/// folder must be new or empty.
pub fn write_run_export(dir: &Path, run: &RunExport) -> Result<(), String> {
    let mut data = RunData::from_records(Some(run.config.clone()), &run.records, run.neigs);
    data.overlays = run
        .overlays
        .iter()
        .map(|o| Overlay {
            name: o.name.clone(),
            run: RunData::from_records(Some(o.config.clone()), &o.records, o.config.neigs),
        })
        .collect();
    if !run.theory.rows.is_empty() || !run.theory.anchors.is_empty() {
        let header: Vec<String> = CSV_COLUMNS.iter().map(|s| s.to_string()).collect();
        let rows = run.theory.rows.iter().map(|r| r.cells()).collect();
        data.tables
            .insert("theory.csv".into(), Table { header, rows });
        let report = run.theory.report(&run.theory_options);
        let value = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        data.json.insert("theory_summary.json".into(), value);
    }
    let cf = &run.central_flow;
    if !cf.rows.is_empty() || cf.error.is_some() {
        let rows = cf.rows.iter().map(|r| r.cells()).collect();
        data.tables.insert(
            CSV_FILE.into(),
            Table {
                header: csv_columns(),
                rows,
            },
        );
        let report = cf.report(&run.central_flow_options, run.config.lr);
        let value = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        data.json.insert(SUMMARY_FILE.into(), value);
    }
    write_run(dir, &data, false).map_err(|e| e.to_string())
}

/// metrics.csv (same columns as the CLI) and config.json, through the engine's writer.
pub fn write_run_folder(
    dir: &Path,
    records: &[StepRecord],
    config: &RunConfig,
    neigs: usize,
) -> Result<(), String> {
    let data = RunData::from_records(Some(config.clone()), records, neigs);
    write_run(dir, &data, false).map_err(|e| e.to_string())
}
