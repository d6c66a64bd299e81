//! The Runs workspace: open run folders written by anyone (the CLI, the app's export, a
//! PyTorch or JAX script), compare them, replay them with a time cursor, and follow a folder
//! that another process is still writing.
//!
//! * a list of runs (visibility, colour, label, the "main" run whose 2/η line and edge bands
//!   are drawn; the others are overlaid) and what the reader skipped, in words;
//! * the Training figures of the visible runs (`engine::figure::runs`, the same builders as
//!   `eos-explorer plot`), cut at the replay cursor;
//! * every file access on the [`loader`] thread; dialogs on their own threads.

pub mod loader;

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};

use self::loader::{DialogKind, LoadCmd, LoadEvent, Loader, pick_folder};
use super::figure_view;
use super::plot_aids;
use super::plots::{banner_list, linked_plot};
use super::shell::{AppCommand, Cx, Workspace, WorkspaceId};
use super::theme;
use crate::engine::figure::runs::{
    self as figruns, OVERLAY_SLOTS, PlottedRun, RUN_COLOURS, RunsView, run_label, series_of,
};
use crate::engine::figure::{Figure, Role, RunSeries};
use crate::engine::run_folder::{METRICS_FILE, OVERLAYS_DIR, ReadWarning, Rows, RunData};

/// This workspace's id (`EOS_START_TAB=runs`).
pub const ID: WorkspaceId = WorkspaceId("runs");

/// Recent runs remembered in the settings.
pub const MAX_RECENT: usize = 10;

/// Most loader events handled per frame.
const DRAIN_MAX: usize = 64;

/// Where a run's data stands.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    Loading,
    Ready,
    Failed(String),
}

/// One opened run.
pub struct RunEntry {
    pub id: u64,
    pub dir: PathBuf,
    pub label: String,
    /// The label was edited by the user (a config that appears later does not replace it).
    pub label_edited: bool,
    pub visible: bool,
    /// Colour slot of `Role::Run(slot)` when overlaid.
    pub slot: usize,
    pub run: RunData,
    pub status: RunStatus,
    /// What the reader skipped, in words (file, line, column: what and why).
    pub warnings: Vec<String>,
    /// Polled for new rows.
    pub follow: bool,
    /// Still being written (`metrics.csv.partial`) when opened.
    pub writing: bool,
    /// `summary.json` appeared while following.
    pub finished: bool,
    /// Bumped whenever `run` changes (the series cache is keyed by it).
    version: u64,
    cache: Option<(u64, Option<usize>, RunSeries)>,
}

impl RunEntry {
    fn new(id: u64, dir: PathBuf, slot: usize) -> Self {
        let label = folder_name(&dir);
        RunEntry {
            id,
            dir,
            label,
            label_edited: false,
            visible: true,
            slot,
            run: RunData::default(),
            status: RunStatus::Loading,
            warnings: Vec::new(),
            follow: false,
            writing: false,
            finished: false,
            version: 0,
            cache: None,
        }
    }

    /// Steps of the first and last row.
    pub fn step_range(&self) -> Option<(usize, usize)> {
        let s = &self.run.metrics.step;
        Some((*s.iter().min()?, *s.iter().max()?))
    }

    fn changed(&mut self) {
        self.version += 1;
        if !self.label_edited {
            self.label = run_label(&self.run, &self.dir);
        }
    }

    /// Bring the cached series up to date for the cut at `upto`.
    fn refresh(&mut self, upto: Option<usize>) {
        let fresh = matches!(&self.cache, Some((v, u, _)) if *v == self.version && *u == upto);
        if !fresh {
            self.cache = Some((self.version, upto, series_of(&self.run, upto)));
        }
    }
}

/// A run as the figure builders take it (its series must be cached for `upto`).
fn plotted(e: &RunEntry, upto: Option<usize>) -> Option<PlottedRun<'_>> {
    let (_, _, s) = e.cache.as_ref()?;
    Some(PlottedRun {
        label: &e.label,
        role: Role::Run(e.slot % RUN_COLOURS),
        series: s,
        metrics: &e.run.metrics,
        upto,
    })
}

fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// A reader warning in words, the file named relative to its run folder.
pub fn describe_warning(w: &ReadWarning, dir: &Path) -> String {
    let file = w
        .file
        .strip_prefix(dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| w.file.display().to_string());
    let mut s = file;
    if let Some(l) = w.line {
        s += &format!(", line {l}");
    }
    if let Some(c) = &w.column {
        s += &format!(", column {c}");
    }
    format!("{s}: {}", w.message)
}

/// The replay cursor.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    /// Step shown (fractional while playing); `None` = every row (live).
    pub cursor: Option<f64>,
    pub playing: bool,
    /// Steps per second while playing.
    pub speed: f64,
    last: Option<Instant>,
}

/// The Runs workspace.
pub struct RunsWorkspace {
    pub runs: Vec<RunEntry>,
    /// The run drawn as main (threshold line and bands); the first visible one when unset.
    pub main: Option<u64>,
    pub replay: Replay,
    pub log_y: bool,
    /// A column drawn in its own figure (any column of the runs, unknown ones included).
    pub column: Option<String>,
    /// The typed path of the fallback field.
    pub path_text: String,
    /// Messages for the user (text, is_error).
    pub notes: Vec<(String, bool)>,
    loader: Option<Loader>,
    ctx: egui::Context,
    dialog: Option<(DialogKind, Receiver<Option<PathBuf>>, Instant)>,
    next_id: u64,
}

impl RunsWorkspace {
    pub fn new(ctx: &egui::Context) -> Self {
        let mut notes = Vec::new();
        let loader = match Loader::spawn(ctx) {
            Ok(l) => Some(l),
            Err(e) => {
                notes.push((
                    format!("could not start the run reader thread ({e}); runs cannot be opened"),
                    true,
                ));
                None
            }
        };
        RunsWorkspace {
            runs: Vec::new(),
            main: None,
            replay: Replay {
                speed: 100.0,
                ..Replay::default()
            },
            log_y: true,
            column: None,
            path_text: String::new(),
            notes,
            loader,
            ctx: ctx.clone(),
            dialog: None,
            next_id: 1,
        }
    }

    fn send(&mut self, cmd: LoadCmd) {
        if !self.loader.as_ref().is_some_and(|l| l.send(cmd)) {
            self.notes.push((
                "the run reader thread has stopped; restart the app to open runs".into(),
                true,
            ));
        }
    }

    /// Open a run folder (read on the loader thread; the entry shows "loading" until then).
    /// A folder already open is read again.
    pub fn open(&mut self, dir: PathBuf) {
        if let Some(e) = self.runs.iter_mut().find(|e| e.dir == dir) {
            e.status = RunStatus::Loading;
            let id = e.id;
            self.send(LoadCmd::Open { id, dir });
            return;
        }
        let id = self.add_entry(dir.clone());
        self.send(LoadCmd::Open { id, dir });
    }

    /// A new entry (loading) with the next free colour; returns its id.
    fn add_entry(&mut self, dir: PathBuf) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let slot = OVERLAY_SLOTS
            .into_iter()
            .find(|s| !self.runs.iter().any(|e| e.slot == *s))
            .unwrap_or(OVERLAY_SLOTS[self.runs.len() % RUN_COLOURS]);
        self.runs.push(RunEntry::new(id, dir, slot));
        id
    }

    /// List the run folders inside `dir` and open each.
    pub fn open_folder_of_runs(&mut self, dir: PathBuf) {
        self.send(LoadCmd::Scan { dir });
    }

    /// Follow a run (poll its folder for new rows) or stop following it.
    pub fn set_follow(&mut self, id: u64, on: bool) {
        let Some(e) = self.runs.iter_mut().find(|e| e.id == id) else {
            return;
        };
        e.follow = on;
        let dir = e.dir.clone();
        self.send(if on {
            LoadCmd::Follow { id, dir }
        } else {
            LoadCmd::Unfollow { id }
        });
    }

    pub fn remove(&mut self, id: u64) {
        self.send(LoadCmd::Unfollow { id });
        self.runs.retain(|e| e.id != id);
        if self.main == Some(id) {
            self.main = None;
        }
    }

    /// The run drawn as main.
    pub fn main_id(&self) -> Option<u64> {
        let visible = |id: u64| self.runs.iter().any(|e| e.id == id && e.visible);
        self.main
            .filter(|id| visible(*id))
            .or_else(|| self.runs.iter().find(|e| e.visible).map(|e| e.id))
    }

    /// First and last step over the visible runs.
    pub fn step_range(&self) -> Option<(usize, usize)> {
        self.runs
            .iter()
            .filter(|e| e.visible)
            .filter_map(|e| e.step_range())
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    /// The step the figures are cut at (`None`: every row).
    pub fn cut(&self) -> Option<usize> {
        self.replay.cursor.map(|c| c.max(0.0).floor() as usize)
    }

    /// Put the replay cursor at `step` (`None`: show every row).
    pub fn set_cursor(&mut self, step: Option<f64>) {
        self.replay.cursor = step;
    }

    pub fn toggle_play(&mut self) {
        let r = &mut self.replay;
        r.playing = !r.playing;
        r.last = None;
        if r.playing {
            let (lo, hi) = self.step_range().unwrap_or((0, 0));
            // From the start when at the end.
            if self.replay.cursor.is_none_or(|c| c >= hi as f64) {
                self.replay.cursor = Some(lo as f64);
            }
        }
    }

    fn advance_replay(&mut self) {
        if !self.replay.playing {
            return;
        }
        let now = Instant::now();
        let dt = self
            .replay
            .last
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64().min(0.25));
        self.replay.last = Some(now);
        let hi = self.step_range().map_or(0.0, |r| r.1 as f64);
        let c = self.replay.cursor.unwrap_or(0.0) + dt * self.replay.speed.max(0.0);
        if c >= hi {
            self.replay.cursor = Some(hi);
            self.replay.playing = false;
        } else {
            self.replay.cursor = Some(c);
            self.ctx.request_repaint();
        }
    }

    /// The figures of the visible runs at the cursor, as the screen and the exports draw them.
    pub fn figures(&mut self) -> Vec<Figure> {
        let upto = self.cut();
        let main = self.main_id();
        for e in self.runs.iter_mut().filter(|e| e.visible) {
            e.refresh(upto);
        }
        let visible = self.runs.iter().filter(|e| e.visible);
        let view = RunsView {
            main: visible
                .clone()
                .find(|e| Some(e.id) == main)
                .and_then(|e| plotted(e, upto)),
            others: visible
                .filter(|e| Some(e.id) != main)
                .filter_map(|e| plotted(e, upto))
                .collect(),
            log_y: self.log_y,
        };
        if view.main.is_none() {
            return Vec::new();
        }
        let mut figs = figruns::training_figures(&view);
        if let Some(c) = &self.column {
            figs.push(figruns::column_figure(&view, c));
        }
        figs
    }

    /// Every column of the open runs (for the column figure).
    pub fn columns(&self) -> Vec<String> {
        figruns::columns(self.runs.iter().map(|e| &e.run.metrics))
    }

    fn handle(&mut self, ev: LoadEvent, cx: &mut Cx<'_>) {
        match ev {
            LoadEvent::Opened { id, loaded, live } => {
                let Some(e) = self.runs.iter_mut().find(|e| e.id == id) else {
                    return;
                };
                e.warnings = loaded
                    .warnings
                    .iter()
                    .map(|w| describe_warning(w, &e.dir))
                    .collect();
                let mut run = loaded.run;
                let overlays = std::mem::take(&mut run.overlays);
                e.run = run;
                e.follow |= live;
                e.status = RunStatus::Ready;
                e.changed();
                let dir = e.dir.clone();
                cx.commands
                    .send(AppCommand::RememberRun(dir.display().to_string()));
                // The runs an app export drew over this one become runs of the list.
                for o in overlays {
                    let o_dir = dir.join(OVERLAYS_DIR).join(&o.name);
                    if self.runs.iter().any(|e| e.dir == o_dir) {
                        continue;
                    }
                    let id = self.add_entry(o_dir);
                    if let Some(e) = self.runs.iter_mut().find(|e| e.id == id) {
                        e.run = o.run;
                        e.status = RunStatus::Ready;
                        e.changed();
                        e.label = o.name;
                        e.label_edited = true;
                    }
                }
            }
            LoadEvent::Writing { id } => {
                let Some(e) = self.runs.iter_mut().find(|e| e.id == id) else {
                    return;
                };
                e.writing = true;
                e.follow = true;
                e.status = RunStatus::Ready;
                cx.commands
                    .send(AppCommand::RememberRun(e.dir.display().to_string()));
            }
            LoadEvent::Failed { id, error } => {
                if let Some(e) = self.runs.iter_mut().find(|e| e.id == id) {
                    e.status = RunStatus::Failed(error);
                }
            }
            LoadEvent::Found { dir, runs } => {
                if runs.is_empty() {
                    self.notes.push((
                        format!(
                            "{} holds no run folder (a folder with metrics.csv), nor is it one",
                            dir.display()
                        ),
                        true,
                    ));
                }
                for r in runs {
                    self.open(r);
                }
            }
            LoadEvent::Update { id, update } => {
                let Some(e) = self.runs.iter_mut().find(|e| e.id == id) else {
                    return;
                };
                let u = *update;
                if u.metrics.is_some() {
                    // A folder that did not exist yet when it was opened has rows now.
                    e.status = RunStatus::Ready;
                }
                match u.metrics {
                    Some(Rows::Append(m)) => e.run.metrics.append(m),
                    Some(Rows::Replace { rows, reason }) => {
                        e.run.metrics = rows;
                        // Read again from the start: its notes about metrics.csv come anew.
                        e.warnings.retain(|w| !w.starts_with(METRICS_FILE));
                        if let Some(r) = reason {
                            e.warnings.push(r);
                        }
                    }
                    None => {}
                }
                for (name, rows) in u.tables {
                    match rows {
                        Rows::Append(t) => {
                            let held = e.run.tables.entry(name).or_default();
                            if held.header == t.header {
                                held.rows.extend(t.rows);
                            } else {
                                *held = t;
                            }
                        }
                        Rows::Replace { rows, .. } => {
                            e.run.tables.insert(name, rows);
                        }
                    }
                }
                if let Some((config, info)) = u.config {
                    e.run.config = config;
                    e.run.info = info;
                }
                if u.finished {
                    e.finished = true;
                    e.writing = false;
                }
                e.warnings
                    .extend(u.warnings.iter().map(|w| describe_warning(w, &e.dir)));
                e.changed();
            }
            LoadEvent::FollowFailed { id, error } => {
                if let Some(e) = self.runs.iter_mut().find(|e| e.id == id) {
                    e.follow = false;
                    e.warnings.push(format!("stopped following: {error}"));
                }
            }
        }
    }

    fn poll_dialog(&mut self) {
        let Some((kind, rx, t0)) = &self.dialog else {
            return;
        };
        let (kind, t0) = (*kind, *t0);
        match rx.try_recv() {
            Ok(Some(p)) => {
                self.dialog = None;
                match kind {
                    DialogKind::Run => self.open(p),
                    DialogKind::FolderOfRuns => self.open_folder_of_runs(p),
                }
            }
            Ok(None) => {
                self.dialog = None;
                if t0.elapsed() < Duration::from_millis(600) {
                    self.notes.push((
                        "No folder dialog could be opened on this system (no desktop portal or zenity): type the run folder's path into the field and press Open.".into(),
                        false,
                    ));
                }
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(std::sync::mpsc::TryRecvError::Disconnected) => self.dialog = None,
        }
    }

    /// Open the folder dialog (its answer is handled in `logic`).
    pub fn choose(&mut self, kind: DialogKind) {
        if self.dialog.is_some() {
            return;
        }
        self.dialog = pick_folder(&self.ctx, kind).map(|rx| (kind, rx, Instant::now()));
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        if ctx.input(|i| i.key_pressed(egui::Key::Space)) {
            self.toggle_play();
        }
    }

    fn open_bar_ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        ui.horizontal_wrapped(|ui| {
            let busy = self.dialog.is_some();
            if ui
                .add_enabled(!busy, egui::Button::new("Open run…"))
                .on_hover_text("Choose a run folder (a folder with metrics.csv)")
                .clicked()
            {
                self.choose(DialogKind::Run);
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Open folder of runs…"))
                .on_hover_text("Open every run folder inside a folder")
                .clicked()
            {
                self.choose(DialogKind::FolderOfRuns);
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Path");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path_text)
                        .hint_text("/path/to/run")
                        .desired_width(170.0),
                )
                .labelled_by(l.id);
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let open = ui
                .button("Open")
                .on_hover_text("Open the typed folder: a run, or a folder of runs")
                .clicked();
            if (open || enter) && !self.path_text.trim().is_empty() {
                let p = PathBuf::from(self.path_text.trim());
                self.open_folder_of_runs(p);
            }
        });
        ui.label(RichText::new("Or drop a run folder onto the window.").small());
        if !cx.settings.recent_runs.is_empty() {
            ui.collapsing("Recent runs", |ui| {
                let mut chosen = None;
                for r in &cx.settings.recent_runs {
                    let name = folder_name(Path::new(r));
                    if ui.small_button(&name).on_hover_text(r).clicked() {
                        chosen = Some(PathBuf::from(r));
                    }
                }
                if let Some(p) = chosen {
                    self.open(p);
                }
            });
        }
    }

    fn list_ui(&mut self, ui: &mut egui::Ui) {
        let main = self.main_id();
        let theme = figure_view::theme_of(ui.ctx());
        let mut follow = Vec::new();
        let mut remove = None;
        let mut new_main = None;
        for e in &mut self.runs {
            ui.separator();
            ui.horizontal_wrapped(|ui| {
                ui.checkbox(&mut e.visible, "show")
                    .on_hover_text("Draw this run");
                if ui
                    .radio(main == Some(e.id), "main")
                    .on_hover_text(
                        "Draw this run's 2/η line and edge bands; the others are overlaid",
                    )
                    .clicked()
                {
                    new_main = Some(e.id);
                }
                let c = figure_view::color_of(Role::Run(e.slot % RUN_COLOURS), theme);
                if ui
                    .add(egui::Button::new(RichText::new("■").color(c)))
                    .on_hover_text("Colour when overlaid (click for the next one)")
                    .clicked()
                {
                    e.slot = (e.slot + 1) % RUN_COLOURS;
                }
                ui.strong(&e.label);
            });
            ui.horizontal_wrapped(|ui| {
                let mut f = e.follow;
                if ui
                    .checkbox(&mut f, "follow")
                    .on_hover_text(
                        "Read new rows as another program writes them (polled 4× a second)",
                    )
                    .changed()
                {
                    follow.push((e.id, f));
                }
                if ui.small_button("remove").clicked() {
                    remove = Some(e.id);
                }
                let rows = e.run.metrics.len();
                let status = match &e.status {
                    RunStatus::Loading => "loading…".to_string(),
                    RunStatus::Failed(_) => "not opened".to_string(),
                    RunStatus::Ready => match e.step_range() {
                        Some((a, b)) => format!("{rows} rows, steps {a}–{b}"),
                        None => "no rows yet".into(),
                    },
                };
                let extra = if e.writing {
                    " · being written"
                } else if e.finished {
                    " · finished"
                } else {
                    ""
                };
                ui.label(RichText::new(format!("{status}{extra}")).small())
                    .on_hover_text(e.dir.display().to_string());
            });
            egui::CollapsingHeader::new("rename")
                .id_salt(("rename-run", e.id))
                .show(ui, |ui| {
                    let l = ui.label("label");
                    let r = ui
                        .add(egui::TextEdit::singleline(&mut e.label))
                        .labelled_by(l.id);
                    if r.changed() {
                        e.label_edited = true;
                    }
                });
            if let RunStatus::Failed(err) = &e.status {
                ui.label(RichText::new(err).color(theme::palette(ui.ctx()).error_fg));
            }
            if !e.warnings.is_empty() {
                let n = e.warnings.len();
                let title = format!("{n} thing(s) skipped while reading");
                egui::CollapsingHeader::new(title)
                    .id_salt(("skipped", e.id))
                    .default_open(n <= 3)
                    .show(ui, |ui| {
                        for w in e.warnings.iter().take(50) {
                            ui.label(RichText::new(w).small());
                        }
                        if n > 50 {
                            ui.label(format!("… and {} more", n - 50));
                        }
                    });
            }
        }
        if let Some(id) = new_main {
            self.main = Some(id);
        }
        for (id, on) in follow {
            self.set_follow(id, on);
        }
        if let Some(id) = remove {
            self.remove(id);
        }
    }

    fn replay_ui(&mut self, ui: &mut egui::Ui) {
        let Some((lo, hi)) = self.step_range() else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            let label = if self.replay.playing { "Pause" } else { "Play" };
            if ui
                .button(label)
                .on_hover_text("Replay the runs step by step (Space)")
                .clicked()
            {
                self.toggle_play();
            }
            let mut c = self.replay.cursor.unwrap_or(hi as f64);
            let r = ui.add(
                egui::Slider::new(&mut c, lo as f64..=hi.max(lo + 1) as f64)
                    .text("step")
                    .integer(),
            );
            if r.changed() {
                self.replay.cursor = Some(c);
            }
            ui.add(
                egui::DragValue::new(&mut self.replay.speed)
                    .range(1.0..=100_000.0)
                    .speed(5.0)
                    .suffix(" steps/s"),
            )
            .on_hover_text("Replay speed");
            if ui
                .add_enabled(self.replay.cursor.is_some(), egui::Button::new("All rows"))
                .on_hover_text("Show every row (live when following)")
                .clicked()
            {
                self.replay.cursor = None;
                self.replay.playing = false;
            }
            ui.checkbox(&mut self.log_y, "log loss");
            let cols = self.columns();
            egui::ComboBox::from_label("column")
                .selected_text(self.column.clone().unwrap_or_else(|| "none".into()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.column, None, "none");
                    for c in cols {
                        ui.selectable_value(&mut self.column, Some(c.clone()), c);
                    }
                });
        });
    }

    fn plots_ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        let figs = self.figures();
        if figs.is_empty() {
            ui.add_space(20.0);
            ui.label("Open a run folder (written by eos-explorer run, the app's Export run, or any program: see docs/run-format.md) to see its loss and sharpness against 2/η here.");
            return;
        }
        let full = self.step_range();
        let link = egui::Id::unique("runs-x-link");
        let avail = ui.available_height();
        let n = figs.len() as f32;
        let keys: Vec<String> = figs.iter().map(|f| format!("runs-{}", f.id)).collect();
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let shown = plot_aids::shown(ui.ctx(), &key_refs);
        let h = if shown.len() == 1 && figs.len() > 1 {
            (avail - 40.0).max(120.0)
        } else {
            ((avail - 40.0 * n) / n).max(90.0)
        };
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (fig, key) in figs.iter().zip(&keys) {
                if !shown.contains(&key.as_str()) {
                    continue;
                }
                plot_aids::header(ui, key, &fig.title, cx.exports, fig);
                let mut f = fig.clone();
                // While replaying the x axis holds the whole run, so the curves grow into it.
                if self.replay.cursor.is_some()
                    && let Some((a, b)) = full
                {
                    f.x_range = Some([a as f64, b.max(a + 1) as f64]);
                }
                let plot = linked_plot(key, h, link, "step", f.log_y)
                    .label_formatter(plot_aids::hover_all(&f, "step"));
                plot_aids::show(ui, key, plot, &f);
            }
        });
    }

    fn notes_ui(&mut self, ui: &mut egui::Ui) {
        banner_list(ui, &mut self.notes, 4);
    }
}

impl Workspace for RunsWorkspace {
    fn id(&self) -> WorkspaceId {
        ID
    }

    fn title(&self) -> &'static str {
        "Runs"
    }

    fn logic(&mut self, _ctx: &egui::Context, cx: &mut Cx<'_>) {
        for _ in 0..DRAIN_MAX {
            let Some(ev) = self.loader.as_ref().and_then(|l| l.try_recv()) else {
                break;
            };
            self.handle(ev, cx);
        }
        self.poll_dialog();
        self.advance_replay();
    }

    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        self.handle_keys(&ui.ctx().clone());
        egui::Panel::left("runs-list")
            .resizable(true)
            .default_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.open_bar_ui(ui, cx);
                    self.list_ui(ui);
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.notes_ui(ui);
            self.replay_ui(ui);
            ui.separator();
            self.plots_ui(ui, cx);
        });
    }

    fn on_command(&mut self, cmd: &AppCommand, _cx: &mut Cx<'_>) {
        match cmd {
            AppCommand::OpenRun(dir) => self.open_folder_of_runs(dir.clone()),
            AppCommand::ChooseRun => self.choose(DialogKind::Run),
            _ => {}
        }
    }

    fn activity(&self) -> Option<String> {
        let following = self.runs.iter().filter(|e| e.follow).count();
        (!self.runs.is_empty()).then(|| {
            format!(
                "{} run(s) open, {following} followed, cursor {:?}",
                self.runs.len(),
                self.cut()
            )
        })
    }
}
