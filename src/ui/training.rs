//! The Training workspace: run configuration on the left, live plots (loss, accuracy,
//! sharpness against 2/η) in the centre, run controls and a status line on top.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};
use egui_plot::{Axis, Corner, Legend, Line, LineStyle, MarkerShape, Points, Span, VLine};

use super::export::{ExportManager, OverlayExport, RunExport};
use super::plots::{banner, drawn, fmt_num, linked_plot, log_axis, log_grid, plot_header};
use super::theme;
use crate::engine::config::{ConfigError, Optimizer, RunConfig};
use crate::engine::data::DatasetSpec;
use crate::engine::model::{Activation, Init};
use crate::engine::network::LossKind;
use crate::engine::plot::{PlotSpec, Series, SeriesStyle, Threshold, clip_line, padded_extent};
use crate::engine::presets::{self, Preset, PresetKind};
use crate::engine::probe::{ProbeConfig, ProbeUpdate};
use crate::engine::session::{StepRecord, StopReason};
use crate::engine::theory::measured::{Phase, TheoryLog, TheoryOptions};
use crate::engine::worker::{Command, Event, RunInfo, TrainWorker};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InitKind {
    Pytorch,
    Xavier,
    Normal,
}

/// Everything the UI knows about the current run (full data kept for export).
#[derive(Default)]
pub struct RunView {
    pub run_id: u64,
    pub info: Option<RunInfo>,
    pub records: Vec<StepRecord>,
    pub finished: Option<StopReason>,
    pub paused: bool,
    pub loading: bool,
    pub train_loss: Vec<[f64; 2]>,
    pub test_loss: Vec<[f64; 2]>,
    pub train_acc: Vec<[f64; 2]>,
    pub test_acc: Vec<[f64; 2]>,
    pub eigs: Vec<Vec<[f64; 2]>>,
    /// (step, threshold) at every record: a step function where η changed.
    pub threshold: Vec<[f64; 2]>,
    /// First step where λ1 ≥ threshold.
    pub first_crossing: Option<[f64; 2]>,
    /// Step ranges where λ1 is within 10% of the threshold (after the first crossing).
    pub edge_bands: Vec<[f64; 2]>,
    open_band: Option<f64>,
    /// Arrival times of recent records (for steps/s).
    arrivals: std::collections::VecDeque<(Instant, usize)>,
}

impl RunView {
    fn new(run_id: u64) -> Self {
        RunView {
            run_id,
            loading: true,
            ..Default::default()
        }
    }

    fn clear_data(&mut self) {
        let (id, info) = (self.run_id, self.info.take());
        *self = RunView::new(id);
        self.info = info;
        self.loading = false;
        self.paused = true;
    }

    fn push(&mut self, r: StepRecord) {
        let x = r.step as f64;
        self.train_loss.push([x, r.train_loss]);
        if let Some(v) = r.test_loss {
            self.test_loss.push([x, v]);
        }
        if let Some(v) = r.train_acc {
            self.train_acc.push([x, v]);
        }
        if let Some(v) = r.test_acc {
            self.test_acc.push([x, v]);
        }
        self.threshold.push([x, r.threshold]);
        if let Some(e) = &r.eigs {
            if self.eigs.len() < e.len() {
                self.eigs.resize(e.len(), Vec::new());
            }
            for (i, v) in e.iter().enumerate() {
                self.eigs[i].push([x, *v]);
            }
            if let Some(&l1) = e.first() {
                if self.first_crossing.is_none() && l1 >= r.threshold {
                    self.first_crossing = Some([x, l1]);
                }
                let at_edge = self.first_crossing.is_some() && l1 >= 0.9 * r.threshold;
                match (at_edge, self.open_band) {
                    (true, None) => self.open_band = Some(x),
                    (false, Some(s)) => {
                        self.edge_bands.push([s, x]);
                        self.open_band = None;
                    }
                    _ => {}
                }
            }
        }
        self.arrivals.push_back((Instant::now(), r.step));
        while self.arrivals.len() > 200 {
            self.arrivals.pop_front();
        }
        self.records.push(r);
    }

    /// Bands including the one still open (ending at the latest step).
    pub fn bands(&self) -> Vec<[f64; 2]> {
        let mut b = self.edge_bands.clone();
        if let (Some(s), Some(r)) = (self.open_band, self.records.last()) {
            b.push([s, r.step as f64]);
        }
        b
    }

    /// Steps per second of wall-clock time over the recent records.
    pub fn steps_per_s(&self) -> Option<f64> {
        let (t0, s0) = self.arrivals.front()?;
        let (t1, s1) = self.arrivals.back()?;
        let dt = t1.duration_since(*t0).as_secs_f64();
        (dt > 0.05 && s1 > s0).then(|| (s1 - s0) as f64 / dt)
    }

    /// Compute seconds per step (from the records' clocks).
    pub fn s_per_step(&self) -> Option<f64> {
        let n = self.records.len();
        if n < 2 {
            return None;
        }
        let a = &self.records[n.saturating_sub(50)];
        let b = &self.records[n - 1];
        (b.step > a.step).then(|| (b.wall_s - a.wall_s) / (b.step - a.step) as f64)
    }

    pub fn is_active(&self) -> bool {
        self.finished.is_none() && !self.loading && self.info.is_some()
    }
}

/// What an overlaid run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverlayKind {
    /// Forked from the main run at some step, with its own η.
    Branch,
    /// Another η of a sweep, from the same initialisation.
    Sweep,
    /// Gradient flow from the same initialisation (x = time / η).
    Flow,
}

/// A run drawn on top of the main one (branch, sweep member or gradient-flow reference).
pub struct Overlay {
    pub kind: OverlayKind,
    /// η of this run.
    pub lr: f64,
    pub view: RunView,
    /// Colour slot in the palette's `runs` (unused for flow).
    pub slot: usize,
    /// How to rebuild it from θ_0 after a reset (sweep and flow runs).
    pub config: Option<RunConfig>,
}

impl Overlay {
    /// Legend suffix, e.g. `branch @ 120, η = 0.05`.
    pub fn name(&self) -> String {
        match self.kind {
            OverlayKind::Branch => match self.view.records.first() {
                Some(r) => format!("branch @ {}, η = {}", r.step, fmt_num(self.lr)),
                None => format!("branch, η = {}", fmt_num(self.lr)),
            },
            OverlayKind::Sweep => format!("η = {}", fmt_num(self.lr)),
            OverlayKind::Flow => "gradient flow (x = time/η)".to_string(),
        }
    }

    /// First step of this run's records (the branch step of a branch).
    pub fn first_step(&self) -> Option<usize> {
        self.view.records.first().map(|r| r.step)
    }

    fn color(&self, pal: &theme::Palette) -> egui::Color32 {
        match self.kind {
            OverlayKind::Flow => pal.flow,
            _ => pal.runs[self.slot % pal.runs.len()],
        }
    }
}

/// `0.01, 0.02 0.04` → [0.01, 0.02, 0.04] (commas, semicolons or spaces; each η > 0).
pub fn parse_lrs(s: &str) -> Result<Vec<f64>, String> {
    let v: Vec<f64> = s
        .split([',', ';', ' ', '\t'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| format!("`{p}` is not a positive learning rate"))
        })
        .collect::<Result<_, _>>()?;
    if v.is_empty() {
        return Err("enter at least one η, e.g. 0.01, 0.02, 0.04".into());
    }
    if v.len() > 12 {
        return Err("at most 12 values in one sweep".into());
    }
    Ok(v)
}

/// The Training workspace.
pub struct TrainingWorkspace {
    pub config: RunConfig,
    pub preset: Option<Preset>,
    pub widths_text: String,
    pub cifar_dir: String,
    pub run: Option<RunView>,
    pub banners: Vec<(String, bool)>,
    pub log_y: bool,
    pub use_acc_goal: bool,
    pub use_loss_goal: bool,
    /// CIFAR folder chosen in a dialog (set once so the app can remember it).
    pub chosen_cifar_dir: Option<String>,
    worker: Option<TrainWorker>,
    ctx: egui::Context,
    folder_rx: Option<(Receiver<Option<PathBuf>>, Instant)>,
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
    /// Measure Damian et al.'s α, β, x_t, y_t along the main run (issue 5).
    pub theory_on: bool,
    /// Steps tracked after the first crossing.
    pub theory_window: usize,
    /// What the tracker reported for the main run.
    pub theory: TheoryLog,
    /// Set when the user asks to explore the measured map in the Self-stabilization workspace
    /// (the app takes it).
    pub open_in_selfstab: bool,
}

impl TrainingWorkspace {
    pub fn new(ctx: &egui::Context) -> Self {
        let mut w = TrainingWorkspace {
            config: RunConfig::default(),
            preset: None,
            widths_text: String::new(),
            cifar_dir: String::new(),
            run: None,
            banners: Vec::new(),
            log_y: true,
            use_acc_goal: false,
            use_loss_goal: false,
            chosen_cifar_dir: None,
            worker: None,
            ctx: ctx.clone(),
            folder_rx: None,
            export_npz: false,
            overlays: Vec::new(),
            branch_lr: 0.05,
            sweep_text: "0.01, 0.02, 0.04".into(),
            show_flow: false,
            next_slot: 0,
            theory_on: true,
            theory_window: 300,
            theory: TheoryLog::default(),
            open_in_selfstab: false,
        };
        if let Some(p) = presets::find("digits-demo") {
            w.apply_preset(&p, None);
        }
        w
    }

    /// Load a training preset into the controls (CIFAR presets get `cifar_dir`).
    pub fn apply_preset(&mut self, p: &Preset, cifar_dir: Option<&str>) {
        if let PresetKind::Training(c) = &p.kind {
            self.set_config((**c).clone());
            if p.needs_cifar {
                if let Some(d) = cifar_dir.filter(|d| !d.trim().is_empty()) {
                    self.cifar_dir = d.to_string();
                }
                self.sync_cifar_dir();
            }
            // f64 λ1 probes on every step near the crossing cost seconds per step on CIFAR-5k:
            // on by default only for the small presets.
            self.theory_on = !p.needs_cifar;
            self.preset = Some(p.clone());
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
                field: "arch",
                message: "hidden widths: comma-separated whole numbers ≥ 1, e.g. 64,64 (empty = no hidden layer)".into(),
            });
        }
        if let DatasetSpec::Cifar10 { dir, .. } = &self.config.dataset
            && dir.as_os_str().is_empty()
        {
            p.push(ConfigError {
                field: "cifar",
                message: "choose the cifar-10-batches-bin folder".into(),
            });
        }
        match &self.config.dataset {
            DatasetSpec::Digits { n_train, .. } | DatasetSpec::Cifar10 { n_train, .. }
                if *n_train == 0 =>
            {
                p.push(ConfigError {
                    field: "subset",
                    message: "use at least one training example".into(),
                });
            }
            _ => {}
        }
        p
    }

    fn worker(&mut self) -> Option<&TrainWorker> {
        if self.worker.as_ref().is_some_and(|w| !w.is_alive()) {
            self.worker = None;
        }
        if self.worker.is_none() {
            let c = self.ctx.clone();
            match TrainWorker::spawn("app", Box::new(move || c.request_repaint())) {
                Ok(w) => self.worker = Some(w),
                Err(e) => {
                    self.banners
                        .push((format!("could not start the training thread: {e}"), true));
                }
            }
        }
        self.worker.as_ref()
    }

    fn send(&mut self, cmd: Command) {
        let r = match self.worker() {
            Some(w) => w.send(cmd),
            None => return,
        };
        if let Err(e) = r {
            self.banners.push((e.to_string(), true));
        }
    }

    /// Start a run with the current controls (no-op with a banner when invalid).
    pub fn start(&mut self) {
        let probs = self.problems();
        if let Some(p) = probs.first() {
            self.banners.push((format!("cannot start: {p}"), true));
            return;
        }
        let cfg = self.run_config();
        self.send_theory();
        let r = match self.worker() {
            Some(w) => w.start(cfg),
            None => return,
        };
        self.theory = TheoryLog::default();
        self.overlays.clear();
        self.next_slot = 0;
        match r {
            Ok(id) => {
                self.run = Some(RunView::new(id));
                if self.show_flow {
                    self.add_flow();
                }
            }
            Err(e) => self.banners.push((e.to_string(), true)),
        }
    }

    fn theory_options(&self) -> Option<Box<TheoryOptions>> {
        self.theory_on.then(|| {
            Box::new(TheoryOptions {
                window: self.theory_window.max(1),
                ..TheoryOptions::default()
            })
        })
    }

    /// Tell the worker whether (and how) to track the theory; a fresh tracker starts at the
    /// next step.
    fn send_theory(&mut self) {
        let o = self.theory_options();
        self.send(Command::SetProbes(
            o.map(|o| ProbeConfig::MeasuredTheory(*o))
                .into_iter()
                .collect(),
        ));
    }

    /// Switch the theory tracker on or off (also during a run).
    pub fn set_theory(&mut self, on: bool) {
        self.theory_on = on;
        if self.worker.is_some() {
            self.send_theory();
        }
        if !on {
            self.theory = TheoryLog::default();
        }
    }

    /// The controls' configuration with the thread count filled in.
    fn run_config(&self) -> RunConfig {
        let mut cfg = self.config.clone();
        if cfg.threads == 0 {
            // Leave one core for drawing (on 2 cores: 1 training thread).
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            cfg.threads = cores.saturating_sub(1).max(1);
        }
        cfg
    }

    /// The main run's configuration (as started), else the controls'.
    fn base_config(&self) -> RunConfig {
        self.run
            .as_ref()
            .and_then(|r| r.info.as_ref())
            .map(|i| i.config.clone())
            .unwrap_or_else(|| self.run_config())
    }

    fn next_slot(&mut self) -> usize {
        let s = self.next_slot;
        self.next_slot += 1;
        s
    }

    /// Add an extra run built from `config` (sweep member or flow) and its overlay.
    fn add_overlay_run(&mut self, kind: OverlayKind, config: RunConfig) {
        let lr = config.lr;
        let r = match self.worker() {
            Some(w) => w.add_run(config.clone()),
            None => return,
        };
        match r {
            Ok(id) => {
                let slot = if kind == OverlayKind::Flow {
                    0
                } else {
                    self.next_slot()
                };
                self.overlays.push(Overlay {
                    kind,
                    lr,
                    view: RunView::new(id),
                    slot,
                    config: Some(config),
                });
            }
            Err(e) => self.banners.push((e.to_string(), true)),
        }
    }

    /// Overlay gradient flow (RK4) from the same initialisation as the main run.
    pub fn add_flow(&mut self) {
        if self.run.is_none() || self.overlays.iter().any(|o| o.kind == OverlayKind::Flow) {
            return;
        }
        let mut cfg = self.base_config();
        cfg.optimizer = Optimizer::Flow {
            c: 1.0,
            max_step: 1.0,
        };
        cfg.eig_every = cfg.eig_every.max(1);
        self.add_overlay_run(OverlayKind::Flow, cfg);
    }

    /// Drop the gradient-flow overlay (and stop its run).
    pub fn remove_flow(&mut self) {
        let ids: Vec<u64> = self
            .overlays
            .iter()
            .filter(|o| o.kind == OverlayKind::Flow)
            .map(|o| o.view.run_id)
            .collect();
        for run_id in ids {
            self.send(Command::RemoveRun { run_id });
        }
        self.overlays.retain(|o| o.kind != OverlayKind::Flow);
    }

    /// Drop every overlay (and stop their runs).
    pub fn clear_overlays(&mut self) {
        let ids: Vec<u64> = self.overlays.iter().map(|o| o.view.run_id).collect();
        for run_id in ids {
            self.send(Command::RemoveRun { run_id });
        }
        self.overlays.clear();
        self.show_flow = false;
    }

    /// Fork the main run at its current step with η = `self.branch_lr`.
    pub fn branch(&mut self) {
        let lr = self.branch_lr;
        if !(lr.is_finite() && lr > 0.0) {
            self.banners
                .push(("branch η must be a positive number".into(), true));
            return;
        }
        let Some(info) = self.run.as_ref().and_then(|r| r.info.clone()) else {
            return;
        };
        let r = match self.worker() {
            Some(w) => w.branch(lr),
            None => return,
        };
        match r {
            Ok(id) => {
                let slot = self.next_slot();
                let mut view = RunView::new(id);
                let mut info = info;
                info.config.lr = lr;
                view.info = Some(info);
                view.loading = false;
                view.paused = self.run.as_ref().is_some_and(|r| r.paused);
                self.overlays.push(Overlay {
                    kind: OverlayKind::Branch,
                    lr,
                    view,
                    slot,
                    config: None,
                });
            }
            Err(e) => self.banners.push((e.to_string(), true)),
        }
    }

    /// Run every η of `self.sweep_text` from the same initialisation, overlaid.
    pub fn start_sweep(&mut self) {
        let lrs = match parse_lrs(&self.sweep_text) {
            Ok(v) => v,
            Err(e) => {
                self.banners.push((format!("η sweep: {e}"), true));
                return;
            }
        };
        let first = lrs[0];
        self.config.lr = first;
        self.start();
        if self.run.is_none() {
            return;
        }
        let base = self.run_config();
        for &lr in &lrs[1..] {
            let mut c = base.clone();
            c.lr = lr;
            self.add_overlay_run(OverlayKind::Sweep, c);
        }
    }

    /// Whether the main run or any overlay can still step.
    pub fn any_active(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.is_active())
            || (self.run.as_ref().is_some_and(|r| r.info.is_some())
                && self.overlays.iter().any(|o| o.view.is_active()))
    }

    pub fn pause_resume(&mut self) {
        if !self.any_active() {
            return;
        }
        let Some(run) = &self.run else { return };
        let cmd = if run.paused {
            Command::Resume
        } else {
            Command::Pause
        };
        self.send(cmd);
    }

    pub fn step(&mut self) {
        if self.any_active() {
            self.send(Command::Step);
        }
    }

    pub fn reset(&mut self) {
        if self.run.as_ref().is_none_or(|r| r.info.is_none()) {
            return;
        }
        self.send_theory();
        let r = match self.worker() {
            Some(w) => w.reset(),
            None => return,
        };
        match r {
            Ok(id) => {
                if let Some(run) = &mut self.run {
                    run.run_id = id;
                    run.clear_data();
                }
                self.theory = TheoryLog::default();
                // The worker dropped the extra runs: rebuild sweep and flow runs from θ_0.
                let old = std::mem::take(&mut self.overlays);
                self.next_slot = 0;
                for o in old {
                    if let Some(c) = o.config {
                        self.add_overlay_run(o.kind, c);
                    }
                }
            }
            Err(e) => self.banners.push((e.to_string(), true)),
        }
    }

    pub fn stop(&mut self) {
        if self.any_active() {
            self.send(Command::Stop);
        }
    }

    /// Change η (live during a run).
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
        if self
            .run
            .as_ref()
            .is_some_and(|r| r.info.is_some() && r.finished.is_none())
        {
            self.send(Command::SetLr(lr));
        }
    }

    /// Ask the worker to write params.npz and data.npz.
    pub fn save_npz(&mut self, dir: PathBuf) {
        self.send(Command::SaveNpz { dir });
    }

    /// Drain worker events within the frame budget.
    pub fn poll(&mut self) {
        let Some(w) = &self.worker else { return };
        let t0 = Instant::now();
        let mut n = 0;
        let mut events = Vec::new();
        while n < DRAIN_MAX && t0.elapsed() < DRAIN_BUDGET {
            match w.try_recv() {
                Some(e) => events.push(e),
                None => break,
            }
            n += 1;
        }
        if n == DRAIN_MAX || t0.elapsed() >= DRAIN_BUDGET {
            self.ctx.request_repaint();
        }
        for e in events {
            self.handle(e);
        }
        if self.run.as_ref().is_some_and(|r| !r.paused) && self.any_active() {
            self.ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    fn handle_overlay(&mut self, e: Event) {
        let id = e.run_id();
        let Some(o) = self.overlays.iter_mut().find(|o| o.view.run_id == id) else {
            return;
        };
        let name = o.name();
        let run = &mut o.view;
        match e {
            Event::Started { info, .. } => {
                run.info = Some(*info);
                run.loading = false;
            }
            Event::Record { record, .. } => run.push(*record),
            Event::Finished { reason, .. } => {
                if let StopReason::Diverged { step, .. } = &reason {
                    self.banners
                        .push((format!("Overlay “{name}” diverged at step {step}."), false));
                }
                run.finished = Some(reason);
            }
            Event::Error { message, .. } => {
                run.loading = false;
                run.finished = Some(StopReason::Stopped { step: 0 });
                self.banners
                    .push((format!("Overlay “{name}” failed: {message}"), true));
            }
            Event::Paused { .. }
            | Event::Reset { .. }
            | Event::Saved { .. }
            | Event::Probe { .. } => {}
        }
    }

    fn handle(&mut self, e: Event) {
        let Some(run) = &mut self.run else { return };
        if e.run_id() != run.run_id {
            self.handle_overlay(e);
            return;
        }
        match e {
            Event::Started { info, .. } => {
                run.info = Some(*info);
                run.loading = false;
                run.paused = false;
            }
            Event::Record { record, .. } => run.push(*record),
            Event::Finished { reason, .. } => {
                if let StopReason::Diverged { step, reason: why } = &reason {
                    self.banners.push((
                        format!("The run diverged at step {step}: {why}. Lower η (or raise the divergence factor) and start again."),
                        true,
                    ));
                }
                run.finished = Some(reason);
                run.paused = false;
            }
            Event::Paused { paused, .. } => run.paused = paused,
            Event::Reset { .. } => {
                run.finished = None;
                run.paused = true;
            }
            Event::Saved { ok, message, .. } => self.banners.push((message, !ok)),
            Event::Probe { update, .. } => match *update {
                ProbeUpdate::MeasuredTheory(u) => self.theory.apply(u),
            },
            Event::Error { message, .. } => {
                run.loading = false;
                if run.info.is_none() {
                    run.finished = Some(StopReason::Stopped { step: 0 });
                }
                self.banners.push((format!("Run failed: {message}"), true));
            }
        }
    }

    /// The workspace: side panel with controls, central plots.
    pub fn ui(&mut self, ui: &mut egui::Ui, exports: &mut ExportManager) {
        self.poll();
        self.poll_folder_dialog();
        egui::Panel::left("training-controls")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.banners_ui(ui);
            self.run_bar_ui(ui, exports);
            ui.separator();
            self.plots_ui(ui, exports);
        });
    }

    fn banners_ui(&mut self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        let mut remove = None;
        for (i, (text, is_err)) in self.banners.iter().enumerate() {
            let (bg, fg) = if *is_err {
                (pal.error_bg, pal.error_fg)
            } else {
                (pal.info_bg, pal.info_fg)
            };
            if banner(ui, text, bg, fg) {
                remove = Some(i);
            }
        }
        if let Some(i) = remove {
            self.banners.remove(i);
        }
        if self.banners.len() > 5 {
            let extra = self.banners.len() - 5;
            self.banners.drain(..extra);
        }
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        let probs = self.problems();
        let pal = theme::palette(ui.ctx());
        let show = |ui: &mut egui::Ui, fields: &[&str]| {
            for p in probs.iter().filter(|p| fields.contains(&p.field)) {
                ui.label(RichText::new(format!("! {}", p.message)).color(pal.warn_fg));
            }
        };
        if let Some(p) = &self.preset {
            ui.label(RichText::new(p.title).strong());
            egui::CollapsingHeader::new("About this preset")
                .default_open(false)
                .show(ui, |ui| {
                    ui.label(RichText::new(p.description).small());
                });
            ui.label(RichText::new(p.source).small().color(pal.muted));
            ui.separator();
        }

        ui.heading("Data");
        let mut kind = DatasetKind::of(&self.config.dataset);
        let old = kind;
        egui::ComboBox::from_label("dataset")
            .selected_text(kind.label())
            .show_ui(ui, |ui| {
                for k in [
                    DatasetKind::Digits,
                    DatasetKind::Cifar,
                    DatasetKind::Chebyshev,
                    DatasetKind::Teacher,
                ] {
                    ui.selectable_value(&mut kind, k, k.label());
                }
            });
        if kind != old {
            self.config.dataset = match kind {
                DatasetKind::Digits => DatasetSpec::Digits {
                    n_train: 1000,
                    n_test: 797,
                },
                DatasetKind::Cifar => DatasetSpec::Cifar10 {
                    dir: PathBuf::from(self.cifar_dir.trim()),
                    n_train: 5000,
                    n_test: 1000,
                    stats_file: None,
                },
                DatasetKind::Chebyshev => DatasetSpec::Chebyshev { n: 20, degree: 4 },
                DatasetKind::Teacher => DatasetSpec::Teacher {
                    n_train: 500,
                    n_test: 200,
                    dim: 20,
                    num_classes: 4,
                    seed: 0,
                },
            };
            if kind == DatasetKind::Cifar {
                self.sync_cifar_dir();
            }
            if kind == DatasetKind::Chebyshev {
                self.config.loss = LossKind::Mse;
                self.use_acc_goal = false;
                self.config.acc_goal = None;
            }
        }
        let mut cifar_changed = false;
        match &mut self.config.dataset {
            DatasetSpec::Digits { n_train, n_test } => {
                ui.add(egui::Slider::new(n_train, 1..=1797).text("training examples"));
                let max_test = 1797usize.saturating_sub(*n_train);
                *n_test = (*n_test).min(max_test);
                ui.add(egui::Slider::new(n_test, 0..=max_test).text("test examples"));
            }
            DatasetSpec::Cifar10 {
                n_train, n_test, ..
            } => {
                ui.add(
                    egui::Slider::new(n_train, 1..=50_000)
                        .logarithmic(true)
                        .text("training subset"),
                );
                ui.add(
                    egui::Slider::new(n_test, 0..=10_000)
                        .logarithmic(true)
                        .text("test subset"),
                );
                ui.horizontal(|ui| {
                    let l = ui.label("folder");
                    let r = ui
                        .add(
                            egui::TextEdit::singleline(&mut self.cifar_dir)
                                .hint_text("…/cifar-10-batches-bin")
                                .desired_width(150.0),
                        )
                        .labelled_by(l.id);
                    cifar_changed = r.changed();
                    if ui
                        .add_enabled(self.folder_rx.is_none(), egui::Button::new("Browse…"))
                        .on_hover_text("Choose the cifar-10-batches-bin folder")
                        .clicked()
                    {
                        let (tx, rx) = channel();
                        let c = ui.ctx().clone();
                        let spawned = std::thread::Builder::new()
                            .name("eos-folder-dialog".into())
                            .spawn(move || {
                                let p = if std::env::var_os("EOS_NO_DIALOG").is_some() {
                                    None
                                } else {
                                    rfd::FileDialog::new()
                                        .set_title("CIFAR-10 folder (cifar-10-batches-bin)")
                                        .pick_folder()
                                };
                                let _ = tx.send(p);
                                c.request_repaint();
                            });
                        if spawned.is_ok() {
                            self.folder_rx = Some((rx, Instant::now()));
                        }
                    }
                });
            }
            DatasetSpec::Chebyshev { n, degree } => {
                ui.add(egui::Slider::new(n, 2..=1000).text("points"));
                ui.add(egui::Slider::new(degree, 0..=20).text("degree"));
            }
            DatasetSpec::Teacher {
                n_train,
                n_test,
                dim,
                num_classes,
                seed,
            } => {
                ui.add(
                    egui::Slider::new(n_train, 1..=20_000)
                        .logarithmic(true)
                        .text("training examples"),
                );
                ui.add(
                    egui::Slider::new(n_test, 0..=20_000)
                        .logarithmic(true)
                        .text("test examples"),
                );
                ui.add(
                    egui::Slider::new(dim, 1..=1000)
                        .logarithmic(true)
                        .text("input dim"),
                );
                ui.add(egui::Slider::new(num_classes, 2..=100).text("classes"));
                ui.add(egui::DragValue::new(seed))
                    .on_hover_text("data seed");
            }
        }
        if cifar_changed {
            self.sync_cifar_dir();
        }
        show(ui, &["cifar", "subset", "dataset"]);

        ui.separator();
        ui.heading("Network");
        ui.horizontal(|ui| {
            let l = ui.label("hidden widths");
            let r = ui
                .add(egui::TextEdit::singleline(&mut self.widths_text).desired_width(110.0))
                .labelled_by(l.id)
                .on_hover_text("comma-separated, e.g. 64,64");
            if r.changed()
                && let Ok(w) = parse_widths(&self.widths_text)
            {
                self.config.hidden = w;
            }
        });
        show(ui, &["arch"]);
        egui::ComboBox::from_label("activation")
            .selected_text(self.config.activation.name())
            .show_ui(ui, |ui| {
                for a in Activation::ALL {
                    ui.selectable_value(&mut self.config.activation, a, a.name());
                }
            });
        egui::ComboBox::from_label("loss")
            .selected_text(match self.config.loss {
                LossKind::Mse => "MSE",
                LossKind::CrossEntropy => "cross-entropy",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.config.loss, LossKind::Mse, "MSE");
                ui.selectable_value(
                    &mut self.config.loss,
                    LossKind::CrossEntropy,
                    "cross-entropy",
                );
            });
        show(ui, &["loss"]);
        let mut ik = match self.config.init {
            Init::Pytorch => InitKind::Pytorch,
            Init::XavierNormal => InitKind::Xavier,
            Init::Normal { .. } => InitKind::Normal,
        };
        let old_ik = ik;
        egui::ComboBox::from_label("init")
            .selected_text(match ik {
                InitKind::Pytorch => "PyTorch default",
                InitKind::Xavier => "Xavier normal",
                InitKind::Normal => "Normal σ/√fan_in",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut ik, InitKind::Pytorch, "PyTorch default");
                ui.selectable_value(&mut ik, InitKind::Xavier, "Xavier normal");
                ui.selectable_value(&mut ik, InitKind::Normal, "Normal σ/√fan_in");
            });
        if ik != old_ik {
            self.config.init = match ik {
                InitKind::Pytorch => Init::Pytorch,
                InitKind::Xavier => Init::XavierNormal,
                InitKind::Normal => Init::Normal { sigma: 1.0 },
            };
        }
        if let Init::Normal { sigma } = &mut self.config.init {
            ui.add(
                egui::Slider::new(sigma, 0.01..=10.0)
                    .logarithmic(true)
                    .text("σ"),
            );
        }
        ui.add(
            egui::Slider::new(&mut self.config.init_scale, 0.01..=10.0)
                .logarithmic(true)
                .text("init scale"),
        );
        show(ui, &["init", "init_scale"]);
        ui.horizontal(|ui| {
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.config.seed))
                .labelled_by(l.id);
        });

        ui.separator();
        ui.heading("Gradient descent");
        let mut lr = self.config.lr;
        let r = ui.add(
            egui::Slider::new(&mut lr, 1e-4..=20.0)
                .logarithmic(true)
                .text("η (learning rate)"),
        );
        if r.changed() && lr.is_finite() && lr > 0.0 {
            self.set_lr(lr);
        }
        let thr = self.config.optimizer.stability_threshold(self.config.lr);
        ui.label(
            RichText::new(format!("2/η = {}", fmt_num(thr)))
                .strong()
                .color(pal.threshold),
        );
        if self.run.as_ref().is_some_and(|r| r.is_active()) {
            ui.label(
                RichText::new("η can be changed during the run")
                    .small()
                    .color(pal.muted),
            );
        }
        show(ui, &["lr", "momentum", "flow"]);
        ui.horizontal(|ui| {
            let l = ui.label("max steps");
            ui.add(egui::DragValue::new(&mut self.config.max_steps).range(1..=100_000_000))
                .labelled_by(l.id);
        });
        show(ui, &["steps"]);

        ui.separator();
        // Own id scope: the widgets keep their ids when labels above come and go.
        ui.scope_builder(
            egui::UiBuilder::new().scope_id(egui::Id::unique("training-compare-runs")),
            |ui| self.compare_ui(ui),
        );

        ui.separator();
        ui.heading("Sharpness");
        ui.add(egui::Slider::new(&mut self.config.neigs, 1..=10).text("eigenvalues k"));
        ui.add(
            egui::Slider::new(&mut self.config.eig_every, 0..=200)
                .text("every n steps (0 = never)"),
        );
        show(
            ui,
            &["neigs", "eig_every", "lanczos_tol", "lanczos_max_iter"],
        );
        ui.horizontal(|ui| {
            let l = ui.label("test every");
            ui.add(egui::DragValue::new(&mut self.config.test_every).range(0..=100_000))
                .labelled_by(l.id);
        });

        ui.separator();
        ui.scope_builder(
            egui::UiBuilder::new().scope_id(egui::Id::unique("training-theory")),
            |ui| self.theory_ui(ui),
        );

        ui.separator();
        ui.heading("Stop rules");
        let has_classes = !matches!(self.config.dataset, DatasetSpec::Chebyshev { .. });
        ui.add_enabled_ui(has_classes, |ui| {
            ui.checkbox(&mut self.use_acc_goal, "stop at train accuracy");
        });
        if self.use_acc_goal && has_classes {
            let mut g = self.config.acc_goal.unwrap_or(0.99);
            ui.add(egui::Slider::new(&mut g, 0.5..=1.0).text("accuracy goal"));
            self.config.acc_goal = Some(g);
        } else {
            self.config.acc_goal = None;
        }
        ui.checkbox(&mut self.use_loss_goal, "stop at train loss");
        if self.use_loss_goal {
            let mut g = self.config.loss_goal.unwrap_or(1e-3);
            ui.add(
                egui::Slider::new(&mut g, 1e-8..=1.0)
                    .logarithmic(true)
                    .text("loss goal"),
            );
            self.config.loss_goal = Some(g);
        } else {
            self.config.loss_goal = None;
        }
        ui.add(
            egui::Slider::new(&mut self.config.divergence_factor, 2.0..=1e6)
                .logarithmic(true)
                .text("divergence factor"),
        );
        show(ui, &["acc_goal", "loss_goal", "divergence_factor"]);
        let other: Vec<&ConfigError> = probs
            .iter()
            .filter(|p| {
                ![
                    "cifar",
                    "subset",
                    "dataset",
                    "arch",
                    "loss",
                    "init",
                    "init_scale",
                    "lr",
                    "momentum",
                    "flow",
                    "steps",
                    "neigs",
                    "eig_every",
                    "lanczos_tol",
                    "lanczos_max_iter",
                    "acc_goal",
                    "loss_goal",
                    "divergence_factor",
                ]
                .contains(&p.field)
            })
            .collect();
        for p in other {
            ui.label(RichText::new(format!("! {p}")).color(pal.warn_fg));
        }
    }

    /// The "From the network" panel: Damian et al.'s quantities measured on this run.
    fn theory_ui(&mut self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        ui.heading("From the network (seed §4)");
        let mut on = self.theory_on;
        ui.checkbox(&mut on, "measure α, β, δ at the first crossing")
            .on_hover_text("At the first step with λ1 ≥ 2/η: top eigenvector u, ∇S = ∇³L[u,u] (f64), α = −∇L·∇S⊥, β = ‖∇S⊥‖², δ = √(2α/β); then x_t, y_t, λ1 − 2/η along the next steps beside the predicted map. Costs f64 λ1 probes on every step near and after the crossing.");
        if on != self.theory_on {
            self.set_theory(on);
        }
        ui.horizontal(|ui| {
            let l = ui.label("steps tracked");
            ui.add(egui::DragValue::new(&mut self.theory_window).range(1..=100_000))
                .labelled_by(l.id)
                .on_hover_text(
                    "Steps followed after the first crossing; applies at the next Start or Reset",
                );
        });
        if !self.theory_on {
            return;
        }
        let log = &self.theory;
        let status = match (&log.phase, log.anchors.first()) {
            (None, _) => "waiting for the run".to_string(),
            (Some(Phase::Searching), _) => format!(
                "searching for λ1 ≥ 2/η ({} f64 probes, {} HVPs)",
                log.probes, log.probe_hvps
            ),
            (Some(Phase::Tracking), Some(a)) => format!(
                "tracking: {} steps since the crossing at step {}",
                log.rows.len(),
                a.step
            ),
            (Some(Phase::Tracking), None) => "tracking".into(),
            (Some(Phase::Done), _) => format!("done: {} steps tracked", log.rows.len()),
        };
        ui.label(RichText::new(status).small());
        if let Some(e) = &log.error {
            ui.label(RichText::new(format!("! {e}")).color(pal.warn_fg));
        }
        let Some(a) = log.anchors.first() else {
            return;
        };
        ui.label(
            RichText::new(format!(
                "θ₀ = step {}: λ1 = {} (2/η = {})\nα = {}   β = {}\nδ = √(2α/β) = {}   x* = {}",
                a.step,
                fmt_num(a.lambda1),
                fmt_num(a.threshold),
                fmt_num(a.alpha),
                fmt_num(a.beta),
                fmt_num(a.delta),
                fmt_num(a.x_center)
            ))
            .monospace(),
        );
        if a.alpha <= 0.0 {
            ui.label(
                RichText::new("α ≤ 0: Assumption 2 fails here, no self-stabilization is predicted")
                    .color(pal.warn_fg),
            );
        }
        if let Some(g) = log.agreement(0) {
            let ret = |v: Option<usize>| v.map_or("not yet".to_string(), |t| format!("t = {t}"));
            let mut lines = vec![
                format!(
                    "back below 2/η: measured {}, predicted {}",
                    ret(g.measured_return),
                    ret(g.predicted_return)
                ),
                format!(
                    "peak |x|: measured {} (t = {}), δ = {}",
                    fmt_num(g.measured_peak_abs_x),
                    g.measured_peak_abs_x_t,
                    fmt_num(g.delta)
                ),
            ];
            if let Some(c) = g.corr_excess {
                lines.push(format!("corr(predicted, measured λ1 − 2/η) = {c:.2}"));
            }
            if let Some(c) = &g.calibrated {
                lines.push(format!(
                    "x̃₀ fitted at t = {} ({} vs {}): return predicted {}",
                    c.fit_t,
                    fmt_num(c.x0_fitted),
                    fmt_num(c.x0_measured),
                    ret(c.predicted_return)
                ));
            }
            ui.label(RichText::new(lines.join("\n")).small());
        }
        if ui
            .add_enabled(a.alpha > 0.0 && a.beta > 0.0, egui::Button::new("Explore in Self-stabilization →"))
            .on_hover_text("Copy the measured η, α, β, x̃₀ and e₀ into the map's sliders and overlay the measured trajectory")
            .clicked()
        {
            self.open_in_selfstab = true;
        }
    }

    /// Branch, η sweep and gradient-flow overlay controls.
    fn compare_ui(&mut self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        ui.heading("Compare runs");
        let has_records = self
            .run
            .as_ref()
            .is_some_and(|r| r.info.is_some() && !r.records.is_empty());
        ui.add(
            egui::Slider::new(&mut self.branch_lr, 1e-4..=20.0)
                .logarithmic(true)
                .text("branch η"),
        );
        if ui
            .add_enabled(has_records, egui::Button::new("Branch"))
            .on_hover_text("Fork the run at its current step and continue it with the branch η, overlaid on the same plots")
            .on_disabled_hover_text("Start a run first")
            .clicked()
        {
            self.branch();
        }
        ui.horizontal(|ui| {
            let l = ui.label("η sweep");
            ui.add(
                egui::TextEdit::singleline(&mut self.sweep_text)
                    .hint_text("0.01, 0.02, 0.04")
                    .desired_width(130.0),
            )
            .labelled_by(l.id)
            .on_hover_text("learning rates run from the same initialisation and overlaid");
        });
        let sweep_err = parse_lrs(&self.sweep_text).err();
        let loading = self.run.as_ref().is_some_and(|r| r.loading);
        if ui
            .add_enabled(
                sweep_err.is_none() && self.problems().is_empty() && !loading,
                egui::Button::new("Run sweep"),
            )
            .on_hover_text("Start one run per η from the same θ0, each with its own 2/η line")
            .clicked()
        {
            self.start_sweep();
        }
        if let Some(e) = sweep_err {
            ui.label(RichText::new(format!("! {e}")).color(pal.warn_fg));
        }
        let before = self.show_flow;
        ui.checkbox(&mut self.show_flow, "gradient-flow reference")
            .on_hover_text("Overlay gradient flow (RK4) from the same initialisation, plotted against time / η");
        if self.show_flow != before {
            if self.show_flow {
                self.add_flow();
            } else {
                self.remove_flow();
            }
        }
        if !self.overlays.is_empty() {
            for o in &self.overlays {
                let step = o.view.records.last().map(|r| r.step);
                let state = match (&o.view.finished, step) {
                    (Some(r), _) => format!("{r}"),
                    (None, Some(s)) => format!("step {s}"),
                    (None, None) => "waiting".into(),
                };
                let c = o.color(pal);
                ui.label(
                    RichText::new(format!("{} · {state}", o.name()))
                        .small()
                        .color(c),
                );
            }
            if ui
                .button("Clear overlays")
                .on_hover_text("Remove the branches, sweep runs and gradient flow")
                .clicked()
            {
                self.clear_overlays();
            }
        }
    }

    fn poll_folder_dialog(&mut self) {
        let Some((rx, t0)) = &self.folder_rx else {
            return;
        };
        let t0 = *t0;
        match rx.try_recv() {
            Ok(Some(p)) => {
                self.cifar_dir = p.display().to_string();
                self.chosen_cifar_dir = Some(self.cifar_dir.clone());
                self.sync_cifar_dir();
                self.folder_rx = None;
            }
            Ok(None) => {
                if t0.elapsed() < Duration::from_millis(600) {
                    self.banners.push((
                        "No folder dialog could be opened on this system (no desktop portal or zenity): type the folder path into the field instead.".into(),
                        false,
                    ));
                }
                self.folder_rx = None;
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(std::sync::mpsc::TryRecvError::Disconnected) => self.folder_rx = None,
        }
    }

    fn run_bar_ui(&mut self, ui: &mut egui::Ui, exports: &mut ExportManager) {
        let probs = self.problems();
        let active = self.any_active();
        let paused = self.run.as_ref().is_some_and(|r| r.paused);
        let has_run = self.run.as_ref().is_some_and(|r| r.info.is_some());
        let loading = self.run.as_ref().is_some_and(|r| r.loading);
        ui.horizontal_wrapped(|ui| {
            let start = ui
                .add_enabled(probs.is_empty() && !loading, egui::Button::new("Start"))
                .on_hover_text("Start a new run with these settings")
                .on_disabled_hover_text(match probs.first() {
                    Some(p) => format!("Fix first: {p}"),
                    None => "loading…".into(),
                });
            if start.clicked() {
                self.start();
            }
            let pr_label = if active && paused { "Resume" } else { "Pause" };
            if ui
                .add_enabled(active, egui::Button::new(pr_label))
                .on_hover_text("Pause or resume (Space)")
                .clicked()
            {
                self.pause_resume();
            }
            if ui
                .add_enabled(active, egui::Button::new("Step"))
                .on_hover_text("One step (→)")
                .clicked()
            {
                self.step();
            }
            if ui
                .add_enabled(has_run, egui::Button::new("Reset"))
                .on_hover_text("Back to the same initial weights (R)")
                .clicked()
            {
                self.reset();
            }
            if ui
                .add_enabled(active, egui::Button::new("Stop"))
                .on_hover_text("End this run")
                .clicked()
            {
                self.stop();
            }
            ui.separator();
            ui.checkbox(&mut self.log_y, "log-y loss");
            ui.separator();
            let can_export = self.run.as_ref().is_some_and(|r| !r.records.is_empty());
            if ui
                .add_enabled(can_export, egui::Button::new("Export run…"))
                .on_hover_text("Write metrics.csv and config.json (and NPZ if ticked) to a folder, with the overlaid runs and the measured theory (theory.csv) when there are any")
                .clicked()
                && let Some(run) = &self.run
            {
                let cfg = run
                    .info
                    .as_ref()
                    .map(|i| i.config.clone())
                    .unwrap_or_else(|| self.config.clone());
                let overlays = self
                    .overlays
                    .iter()
                    .map(|o| OverlayExport {
                        name: o.name(),
                        records: o.view.records.clone(),
                        // A branch continues the main run's configuration with its own η.
                        config: o.config.clone().unwrap_or_else(|| RunConfig {
                            lr: o.lr,
                            ..cfg.clone()
                        }),
                    })
                    .collect();
                let export = RunExport {
                    records: run.records.clone(),
                    neigs: cfg.neigs,
                    config: cfg,
                    overlays,
                    theory: self.theory.clone(),
                };
                exports.export_run(ui.ctx(), export, self.export_npz);
            }
            ui.checkbox(&mut self.export_npz, "+ NPZ");
        });
        self.status_ui(ui);
    }

    fn status_ui(&self, ui: &mut egui::Ui) {
        let pal = theme::palette(ui.ctx());
        let Some(run) = &self.run else {
            ui.label(RichText::new("No run yet: press Start.").color(pal.muted));
            return;
        };
        if run.loading {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("loading data and building the network…");
            });
            return;
        }
        let Some(info) = &run.info else {
            ui.label(
                RichText::new("The run did not start (see the message above).").color(pal.muted),
            );
            return;
        };
        let last = run.records.last();
        let step = last.map(|r| r.step).unwrap_or(0);
        let state = match (&run.finished, run.paused) {
            (Some(r), _) => format!("finished: {r}"),
            (None, true) => "paused".into(),
            (None, false) => "running".into(),
        };
        let mut parts = vec![format!("step {step} / {}", info.config.max_steps), state];
        if let Some(sps) = run.steps_per_s() {
            parts.push(format!("{sps:.1} steps/s"));
        }
        if let Some(s) = run.s_per_step() {
            parts.push(format!("{} s/step", fmt_num(s)));
            if run.finished.is_none() {
                let left = info.config.max_steps.saturating_sub(step) as f64 * s;
                parts.push(format!("ETA {}", fmt_duration(left)));
            }
        }
        if let Some(r) = run.records.iter().rev().find(|r| r.hvps.is_some()) {
            if let Some(h) = r.hvps {
                parts.push(format!("{h} HVPs/estimate"));
            }
            if let Some(res) = r.lanczos_residual {
                parts.push(format!("Lanczos residual {}", fmt_num(res)));
            }
        }
        if let Some(r) = last {
            parts.push(format!(
                "η = {} (2/η = {})",
                fmt_num(r.lr),
                fmt_num(r.threshold)
            ));
        }
        ui.label(RichText::new(parts.join("  ·  ")).monospace());
        ui.label(
            RichText::new(format!(
                "{} · {} · {} parameters · {} train / {} test",
                info.dataset_name, info.arch, info.num_params, info.n_train, info.n_test
            ))
            .small()
            .color(pal.muted),
        );
    }

    fn plots_ui(&mut self, ui: &mut egui::Ui, exports: &mut ExportManager) {
        let pal = theme::palette(ui.ctx());
        let Some(run) = &self.run else { return };
        let overlays = &self.overlays;
        // With overlays, the main run's legend entries name its η too.
        let main_sfx = match (&run.info, overlays.is_empty()) {
            (Some(i), false) => format!(" · η = {}", fmt_num(i.config.lr)),
            _ => String::new(),
        };
        let log_y = self.log_y;
        let link = egui::Id::unique("training-x-link");
        let avail = ui.available_height();
        let h_small = ((avail - 90.0) * 0.28).max(90.0);
        let h_big = ((avail - 90.0) * 0.44).max(120.0);
        let legend = || Legend::default().position(Corner::RightTop);

        // Loss
        plot_header(ui, "Loss", "loss", exports, || {
            let mut s = PlotSpec::new("Loss", "step", "loss");
            s.log_y = log_y;
            s.series
                .push(Series::line("train loss", run.train_loss.clone()));
            if !run.test_loss.is_empty() {
                s.series
                    .push(Series::line("test loss", run.test_loss.clone()));
            }
            for o in overlays {
                s.series.push(Series::line(
                    format!("train loss · {}", o.name()),
                    o.view.train_loss.clone(),
                ));
            }
            s
        });
        let mut p = linked_plot("train-loss", h_small, link, "step", log_y).legend(legend());
        if log_y {
            p = p.y_axis_formatter(log_axis).y_grid_spacer(log_grid);
        }
        p.show(ui, |pu| {
            pu.line(Line::new("train loss", drawn(&run.train_loss, log_y)).color(pal.train));
            if !run.test_loss.is_empty() {
                pu.line(Line::new("test loss", drawn(&run.test_loss, log_y)).color(pal.test));
            }
            for o in overlays {
                pu.line(
                    Line::new(
                        format!("train loss · {}", o.name()),
                        drawn(&o.view.train_loss, log_y),
                    )
                    .color(o.color(pal)),
                );
            }
        });

        // Accuracy
        if !run.train_acc.is_empty() || run.info.is_none() {
            plot_header(ui, "Accuracy", "accuracy", exports, || {
                let mut s = PlotSpec::new("Accuracy", "step", "accuracy");
                s.series
                    .push(Series::line("train accuracy", run.train_acc.clone()));
                if !run.test_acc.is_empty() {
                    s.series
                        .push(Series::line("test accuracy", run.test_acc.clone()));
                }
                s
            });
            linked_plot("train-acc", h_small, link, "step", false)
                .legend(legend())
                .include_y(0.0)
                .include_y(1.0)
                .show(ui, |pu| {
                    pu.line(
                        Line::new("train accuracy", drawn(&run.train_acc, false)).color(pal.train),
                    );
                    for o in overlays {
                        pu.line(
                            Line::new(
                                format!("train accuracy · {}", o.name()),
                                drawn(&o.view.train_acc, false),
                            )
                            .color(o.color(pal)),
                        );
                    }
                    if !run.test_acc.is_empty() {
                        pu.line(
                            Line::new("test accuracy", drawn(&run.test_acc, false)).color(pal.test),
                        );
                    }
                });
        }

        // Sharpness (with the self-stabilization map's prediction when the tracker ran)
        let theory_pred: Vec<[f64; 2]> = self
            .theory
            .rows
            .iter()
            .filter(|r| r.anchor == 0)
            .filter_map(|r| {
                let a = self.theory.anchors.first()?;
                Some([r.step as f64, a.threshold + r.excess_predicted?])
            })
            .collect();
        // The map can leave the picture (it diverges after the first cycle on digits-demo):
        // draw it while it stays within the measured eigenvalues' range.
        let theory_pred = if theory_pred.is_empty() {
            theory_pred
        } else {
            let all = run.eigs.iter().flatten().chain(&run.threshold);
            match padded_extent(all.map(|p| p[1]).chain([0.0]), 0.15) {
                Some((lo, hi)) => clip_line(&theory_pred, lo, hi),
                None => theory_pred,
            }
        };
        plot_header(
            ui,
            "Sharpness λ1…λk and 2/η",
            "sharpness",
            exports,
            || {
                let mut s = PlotSpec::new("Sharpness", "step", "top Hessian eigenvalues");
                for (i, e) in run.eigs.iter().enumerate() {
                    s.series.push(Series {
                        name: format!("λ{}", i + 1),
                        points: e.clone(),
                        style: if i == 0 {
                            SeriesStyle::Line
                        } else {
                            SeriesStyle::Dashed
                        },
                        color: None,
                    });
                }
                s.threshold = Some(Threshold {
                    name: "2/η".into(),
                    steps: step_breakpoints(&run.threshold),
                });
                if !theory_pred.is_empty() {
                    s.series.push(Series::dashed(
                        "λ1 predicted (seed §4 map)",
                        theory_pred.clone(),
                    ));
                }
                for o in overlays {
                    if let Some(e) = o.view.eigs.first() {
                        s.series.push(Series {
                            name: format!("λ1 · {}", o.name()),
                            points: e.clone(),
                            style: SeriesStyle::Line,
                            color: None,
                        });
                    }
                    if o.kind != OverlayKind::Flow {
                        s.series.push(Series::dashed(
                            format!("2/η · {}", o.name()),
                            step_line(&o.view.threshold),
                        ));
                    }
                }
                s
            },
        );
        linked_plot("train-sharpness", h_big, link, "step", false)
            .legend(legend())
            .include_y(0.0)
            .show(ui, |pu| {
                for band in run.bands() {
                    pu.span(
                        Span::new("at the edge (λ1 ≥ 0.9·2/η)", band[0]..=band[1])
                            .axis(Axis::X)
                            .fill(pal.edge_band)
                            .border_width(0.0),
                    );
                }
                let thr = step_line(&run.threshold);
                pu.line(
                    Line::new(format!("2/η{main_sfx}"), thr)
                        .color(pal.threshold)
                        .style(LineStyle::Dashed { length: 8.0 })
                        .width(1.5),
                );
                for (i, e) in run.eigs.iter().enumerate() {
                    pu.line(
                        Line::new(format!("λ{}{main_sfx}", i + 1), drawn(e, false))
                            .color(pal.eigs[i % pal.eigs.len()])
                            .width(if i == 0 { 2.0 } else { 1.2 }),
                    );
                }
                for o in overlays {
                    let c = o.color(pal);
                    if o.kind != OverlayKind::Flow && !o.view.threshold.is_empty() {
                        pu.line(
                            Line::new(format!("2/η · {}", o.name()), step_line(&o.view.threshold))
                                .color(c)
                                .style(LineStyle::Dashed { length: 8.0 })
                                .width(1.5),
                        );
                    }
                    if let Some(e) = o.view.eigs.first() {
                        pu.line(
                            Line::new(format!("λ1 · {}", o.name()), drawn(e, false))
                                .color(c)
                                .width(2.0),
                        );
                    }
                }
                if !theory_pred.is_empty() {
                    pu.line(
                        Line::new("λ1 predicted (seed §4 map)", theory_pred.clone())
                            .color(pal.predicted)
                            .style(LineStyle::Dashed { length: 5.0 })
                            .width(1.8),
                    );
                }
                if let Some(c) = run.first_crossing {
                    pu.vline(
                        VLine::new("first crossing of 2/η", c[0])
                            .color(pal.crossing)
                            .style(LineStyle::Dotted { spacing: 4.0 }),
                    );
                    pu.points(
                        Points::new("first crossing of 2/η", vec![c])
                            .shape(MarkerShape::Diamond)
                            .radius(6.0)
                            .color(pal.crossing),
                    );
                }
            });
    }
}

/// Threshold breakpoints: the first record and every record where the value changed.
pub fn step_breakpoints(thr: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::new();
    for p in thr {
        if out.last().is_none_or(|l| l[1] != p[1]) {
            out.push(*p);
        }
    }
    out
}

/// The threshold as a step line (horizontal segments with vertical jumps where η changed).
pub fn step_line(thr: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let bp = step_breakpoints(thr);
    let end = thr.last().map(|p| p[0]).unwrap_or(0.0);
    let mut out = Vec::with_capacity(bp.len() * 2);
    for (i, p) in bp.iter().enumerate() {
        let x1 = bp.get(i + 1).map(|q| q[0]).unwrap_or(end.max(p[0] + 1.0));
        out.push(*p);
        out.push([x1, p[1]]);
    }
    out
}

fn fmt_duration(s: f64) -> String {
    if !s.is_finite() {
        return "?".into();
    }
    let s = s.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `64,64` → [64, 64]; empty → no hidden layer.
pub fn parse_widths(s: &str) -> Result<Vec<usize>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .ok()
                .filter(|&w| w >= 1)
                .ok_or_else(|| format!("`{}` is not a width", p.trim()))
        })
        .collect()
}
