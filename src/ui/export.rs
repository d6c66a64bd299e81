//! Exports: figures (SVG/PNG, the same descriptions the screen draws), the window as PNG, a
//! run folder in the CLI's layout (through the engine's `run_folder` writer). File dialogs run on spawned threads; when no dialog can open
//! (rfd returns `None` at once: no portal, no zenity) files go to a default export folder and
//! the message says where.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eframe::egui;

use crate::engine::central_flow::probe::{CSV_FILE, SUMMARY_FILE, csv_columns};
use crate::engine::central_flow::{CentralFlowLog, CentralFlowProbeOptions};
use crate::engine::config::RunConfig;
use crate::engine::figure::Figure;
use crate::engine::figure::render::{ExportStyle, write_figure};
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
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
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
}

/// The default folder: `$EOS_EXPORT_DIR` or `./eos-exports`.
pub fn default_export_dir() -> PathBuf {
    std::env::var_os("EOS_EXPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("eos-exports"))
}

fn stamp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
            Choice::Picked(p) => Ok((p, String::new())),
            Choice::Fallback(p) => Ok((p, format!("{NO_DIALOG}; "))),
            Choice::Cancelled => Err(Msg::Notice(Notice {
                text: cancelled.into(),
                is_error: false,
            })),
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

fn choose_file(name: &str, ext: &str) -> Choice {
    let fallback = default_export_dir().join(name);
    if dialogs_disabled() {
        return Choice::Fallback(fallback);
    }
    let t0 = Instant::now();
    let picked = rfd::FileDialog::new()
        .set_file_name(name)
        .add_filter(ext.to_uppercase(), &[ext])
        .save_file();
    match picked {
        Some(p) => Choice::Picked(p),
        None if no_dialog_shown(t0) => Choice::Fallback(fallback),
        None => Choice::Cancelled,
    }
}

fn choose_folder(name: &str) -> Choice {
    let fallback = default_export_dir().join(name);
    if dialogs_disabled() {
        return Choice::Fallback(fallback);
    }
    let t0 = Instant::now();
    match rfd::FileDialog::new()
        .set_title("Export run into folder")
        .pick_folder()
    {
        Some(p) => Choice::Picked(p.join(name)),
        None if no_dialog_shown(t0) => Choice::Fallback(fallback),
        None => Choice::Cancelled,
    }
}

fn ensure_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => std::fs::create_dir_all(p)
            .map_err(|e| format!("cannot create folder {}: {e}", p.display())),
        _ => Ok(()),
    }
}

const NO_DIALOG: &str = "no file dialog could be opened (no desktop portal or zenity)";

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
            self.notices.push(Notice {
                text: format!("could not start the export: {e}"),
                is_error: true,
            });
        }
    }

    /// Export one figure (the same description the screen draws); `ext` is "svg" or "png".
    pub fn export_figure(&mut self, ctx: &egui::Context, fig: Figure, ext: &str) {
        let stem = fig.id.clone();
        let name = format!("{stem}-{}.{ext}", stamp());
        let ext = ext.to_string();
        self.spawn(ctx, move || {
            let (path, note) = match choose_file(&name, &ext).resolve("export cancelled") {
                Ok(v) => v,
                Err(cancelled) => return cancelled,
            };
            let r = ensure_parent(&path).and_then(|_| {
                write_figure(&path, &fig, &ExportStyle::default()).map_err(|e| e.to_string())
            });
            Msg::Notice(match r {
                Ok(()) => Notice {
                    text: format!("{note}figure written to {}", path.display()),
                    is_error: false,
                },
                Err(e) => Notice {
                    text: format!("figure export failed: {e}"),
                    is_error: true,
                },
            })
        });
    }

    /// Take a screenshot of the window at the end of this frame and save it as PNG.
    pub fn screenshot(&mut self, ctx: &egui::Context) {
        let tx = self.shot_tx.clone();
        let c = ctx.clone();
        ctx.request_screenshot(move |img| {
            let _ = tx.send(img);
            c.request_repaint();
        });
        self.notices.push(Notice {
            text: "taking a screenshot of the window…".into(),
            is_error: false,
        });
    }

    /// Write a run folder (see [`write_run_export`]).
    pub fn export_run(&mut self, ctx: &egui::Context, run: RunExport, with_npz: bool) {
        let name = format!("run-{}", stamp());
        self.spawn(ctx, move || {
            let (dir, note) = match choose_folder(&name).resolve("export cancelled") {
                Ok(v) => v,
                Err(cancelled) => return cancelled,
            };
            match write_run_export(&dir, &run) {
                Ok(()) => {
                    let mut extra = String::new();
                    if !run.overlays.is_empty() {
                        extra += &format!(", {} overlaid runs in overlays/", run.overlays.len());
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
                    let n = Notice {
                        text: format!(
                            "{note}run written to {} (metrics.csv with {} rows, config.json{extra}{})",
                            dir.display(),
                            run.records.len(),
                            if with_npz { ", NPZ files follow" } else { "" }
                        ),
                        is_error: false,
                    };
                    Msg::RunFolder(RunFolder { dir, with_npz }, n)
                }
                Err(e) => Msg::Notice(Notice {
                    text: format!("run export failed: {e}"),
                    is_error: true,
                }),
            }
        });
    }

    /// Collect finished jobs (call once per frame).
    pub fn poll(&mut self, ctx: &egui::Context) {
        while let Ok(img) = self.shot_rx.try_recv() {
            self.notices
                .retain(|n| !n.text.starts_with("taking a screenshot"));
            let name = format!("window-{}.png", stamp());
            self.spawn(ctx, move || {
                let (path, note) =
                    match choose_file(&name, "png").resolve("screenshot not saved (cancelled)") {
                        Ok(v) => v,
                        Err(cancelled) => return cancelled,
                    };
                let r = ensure_parent(&path).and_then(|_| save_png(&path, &img));
                Msg::Notice(match r {
                    Ok(()) => Notice {
                        text: format!("{note}window screenshot written to {}", path.display()),
                        is_error: false,
                    },
                    Err(e) => Notice {
                        text: format!("screenshot failed: {e}"),
                        is_error: true,
                    },
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
            }
        }
        if self.notices.len() > 6 {
            let extra = self.notices.len() - 6;
            self.notices.drain(..extra);
        }
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
