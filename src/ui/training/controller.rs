//! The Training workspace's controller: the worker protocol (start, reset, branch, sweep,
//! gradient-flow overlay, live η) and the handling of the worker's events. The measured theory
//! (`Command::SetProbes`, `Event::Probe`) is used only here.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::model::{Overlay, OverlayKind, RunView, parse_lrs};
use super::{DRAIN_BUDGET, DRAIN_MAX, TrainingWorkspace};
use crate::engine::central_flow::{CentralFlowLog, CentralFlowProbeOptions, CentralFlowUpdate};
use crate::engine::config::{Optimizer, RunConfig, check_lr};
use crate::engine::estimate::{DataShape, MemoryVerdict, available_memory, estimate, judge};
use crate::engine::figure::central_flow::CentralFlowSeries;
use crate::engine::probe::{ProbeConfig, ProbeUpdate};
use crate::engine::session::StopReason;
use crate::engine::theory::measured::{TheoryLog, TheoryOptions};
use crate::engine::worker::{Command, Event, TrainWorker};
use crate::ui::widgets;

/// Most substeps the app offers.
pub const MAX_CF_SUBSTEPS: usize = 16;

/// The app's central-flow options apart from the substeps: the engine's live set
/// ([`CentralFlowProbeOptions::live`]).
pub fn app_central_flow_defaults() -> CentralFlowProbeOptions {
    CentralFlowProbeOptions::live()
}

impl TrainingWorkspace {
    fn worker(&mut self) -> Option<&TrainWorker> {
        if self.worker.as_ref().is_some_and(|w| !w.is_alive()) {
            self.worker = None;
        }
        if self.worker.is_none() {
            let c = self.ctx.clone();
            match TrainWorker::spawn("app", self.repaint.waker(&c)) {
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
        // The same size estimate as the CLI, before the worker allocates anything.
        if let Ok(checked) = cfg.check() {
            match estimate(
                &checked,
                &DataShape::of_spec(&cfg.dataset),
                cfg.effective_threads(),
                self.theory_on || self.cf_on,
            ) {
                Err(e) => {
                    self.banners.push((format!("cannot start: {e}"), true));
                    return;
                }
                Ok(est) => match judge(&est, available_memory()) {
                    MemoryVerdict::Refuse(m) => {
                        self.banners.push((format!("cannot start: {m}"), true));
                        return;
                    }
                    MemoryVerdict::Warn(m) => self.banners.push((m, false)),
                    MemoryVerdict::Fine => {}
                },
            }
        }
        self.send_theory();
        let r = match self.worker() {
            Some(w) => w.start(cfg),
            None => return,
        };
        match r {
            Ok(id) => {
                // Banners about the old run (a divergence, a failure) go with it; the
                // previous run's plots are kept until the new one has started, so a Start
                // that fails (e.g. a missing data folder) gives them back.
                self.banners.retain(|(_, is_error)| !is_error);
                self.clear_theory();
                self.overlays.clear();
                self.next_slot = 0;
                self.previous_run = self.run.take().filter(|r| r.info.is_some());
                self.run = Some(RunView::new(id));
                if self.show_flow {
                    self.add_flow();
                }
            }
            Err(e) => self.banners.push((e.to_string(), true)),
        }
    }

    /// Forget the current run (plots, theory, overlays and the banners about them) and stop
    /// it: what choosing another preset does when the new one does not start at once.
    pub fn clear_run(&mut self) {
        self.stop();
        self.run = None;
        self.previous_run = None;
        self.clear_theory();
        self.overlays.clear();
        self.next_slot = 0;
        self.banners.retain(|(_, is_error)| !is_error);
    }

    pub(super) fn theory_options(&self) -> Option<Box<TheoryOptions>> {
        self.theory_on.then(|| {
            Box::new(TheoryOptions {
                window: self.theory_window.max(1),
                ..TheoryOptions::default()
            })
        })
    }

    /// The central flow's options (None when it is off). The app trades a little accuracy
    /// for speed (see the README's measurements): a looser Lanczos tolerance than the CLI's.
    pub fn central_flow_options(&self) -> Option<CentralFlowProbeOptions> {
        self.cf_on.then(|| CentralFlowProbeOptions {
            substeps: self.cf_substeps.clamp(1, MAX_CF_SUBSTEPS),
            ..app_central_flow_defaults()
        })
    }

    /// Tell the worker which probes to run (the measured theory, the central flow); fresh
    /// probes start at the next step (at θ₀ when sent before Start or Reset).
    fn send_theory(&mut self) {
        let mut probes: Vec<ProbeConfig> = self
            .theory_options()
            .map(|o| ProbeConfig::MeasuredTheory(*o))
            .into_iter()
            .collect();
        probes.extend(self.central_flow_options().map(ProbeConfig::CentralFlow));
        self.send(Command::SetProbes(probes));
    }

    /// Switch the central flow on or off (during a run it restarts from the current step).
    pub fn set_central_flow(&mut self, on: bool) {
        self.cf_on = on;
        if self.worker.is_some() {
            self.send_theory();
        }
        if !on {
            self.clear_central_flow();
        }
    }

    /// Switch the theory tracker on or off (also during a run).
    pub fn set_theory(&mut self, on: bool) {
        self.theory_on = on;
        if self.worker.is_some() {
            self.send_theory();
        }
        if !on {
            self.clear_theory();
        }
    }

    /// The controls' configuration with the thread count filled in.
    fn run_config(&self) -> RunConfig {
        // The engine's one default (results do not depend on it; the worker runs niced).
        let mut cfg = self.config.clone();
        cfg.threads = cfg.effective_threads();
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
        if let Err(why) = check_lr(lr) {
            self.banners.push((format!("branch η: {why}"), true));
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
                self.clear_theory();
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

    /// η from the slider or its text box: taken if valid (also by a running run), else the
    /// reason is kept for the panel and η stays as it was.
    pub fn apply_lr(&mut self, lr: f64) {
        match check_lr(lr) {
            Ok(lr) => {
                self.lr_problem = None;
                if !widgets::around(self.lr_anchor).contains(&lr) {
                    // A value typed outside the slider's two decades recentres them.
                    self.lr_anchor = lr;
                }
                self.set_lr(lr);
            }
            Err(e) => self.lr_problem = Some(format!("not taken: {e}; η stays as it was")),
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
            // More are waiting: come back soon (within the repaint policy's interval).
            self.repaint.request(&self.ctx);
        }
        let crossed_before = self
            .run
            .as_ref()
            .is_some_and(|r| r.series.first_crossing.is_some());
        for e in events {
            self.handle(e);
        }
        if !crossed_before
            && let Some(run) = &self.run
            && let Some(c) = run.series.first_crossing
            && let Some(t0) = crate::ui::LAUNCHED.get()
            && std::env::var_os("EOS_FPS_LOG").is_some()
        {
            // For measuring a demo's pace (README): launch to the first λ1 ≥ 2/η.
            eprintln!(
                "first crossing of 2/η at step {} shown {:.1} s after launch",
                c[0],
                t0.elapsed().as_secs_f64()
            );
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
                self.previous_run = None;
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
            Event::Paused { paused, .. } => {
                run.paused = paused;
                run.restart_rate();
            }
            Event::Reset { .. } => {
                run.finished = None;
                run.paused = true;
            }
            Event::Saved { ok, message, .. } => self.banners.push((message, !ok)),
            Event::Probe { update, .. } => match *update {
                ProbeUpdate::MeasuredTheory(u) => {
                    self.theory.apply(u);
                    self.theory_changed = true;
                }
                ProbeUpdate::CentralFlow(u) => {
                    match &u {
                        CentralFlowUpdate::Started { .. } => {
                            let w = self.central_flow_options().map_or(10, |o| o.window);
                            self.cf_series = CentralFlowSeries::new(w);
                        }
                        CentralFlowUpdate::Row(r) => self.cf_series.push(r),
                        CentralFlowUpdate::Link(_) | CentralFlowUpdate::Failed(_) => {}
                    }
                    self.central_flow.apply(u);
                }
            },
            Event::Error { message, .. } => {
                run.loading = false;
                if run.info.is_none() {
                    run.finished = Some(StopReason::Stopped { step: 0 });
                    // The new run never started: show the previous one again.
                    if let Some(prev) = self.previous_run.take() {
                        self.run = Some(prev);
                    }
                }
                self.banners.push((format!("Run failed: {message}"), true));
            }
        }
    }

    /// Forget the measured theory (a new run, a reset, or the tracker switched off).
    fn clear_theory(&mut self) {
        self.theory = TheoryLog::default();
        self.theory_changed = true;
        self.clear_central_flow();
    }

    /// Forget the central flow (its probe restarts with every probe change, Start and Reset).
    fn clear_central_flow(&mut self) {
        self.central_flow = CentralFlowLog::default();
        self.cf_series = CentralFlowSeries::default();
    }
}
