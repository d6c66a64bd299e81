//! Background workers for the app: a training worker (owns a [`Session`] inside a [`Runner`])
//! and a linear-model worker (owns a [`LinearRun`]).
//!
//! Each worker is a named thread. The UI sends typed commands over a bounded channel and
//! drains typed events from another bounded channel; every event carries the run id the
//! handle assigned when the run was started (or reset), so the UI can drop stale events.
//! Data loading and every training step happen on the worker. A wake-up callback supplied by
//! the UI (it calls `request_repaint`) is invoked after each event; the engine only sees a
//! boxed closure. Dropping a handle stops the worker and joins its thread.
//!
//! Nothing here imports UI crates.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel,
};
use std::thread::JoinHandle;
use std::time::Duration;

use super::config::RunConfig;
use super::error::EngineError;
use super::probe::{ProbeConfig, ProbeObserver, ProbeSink, ProbeUpdate};
use super::session::{Cadence, Observer, Runner, Session, StepRecord, StopReason};
use super::theory::Outcome;
use super::theory::linear::{LinearParams, LinearRow, LinearRun};

/// Wakes the UI (the app passes a closure that requests a repaint).
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// Capacity of the command channel.
pub const COMMAND_CAPACITY: usize = 64;
/// Capacity of the event channel (the worker waits when the UI falls this far behind).
pub const EVENT_CAPACITY: usize = 4096;

/// What the training worker is told to do.
#[derive(Clone, Debug)]
pub enum Command {
    /// Load the data and build a fresh run (replacing any current one); starts running.
    Start {
        run_id: u64,
        config: Box<RunConfig>,
    },
    Pause,
    Resume,
    /// One step (also while paused).
    Step,
    /// Back to the same initial weights, step 0, paused; later events carry `run_id`.
    Reset {
        run_id: u64,
    },
    /// End the run (it can no longer be resumed; Reset makes it runnable again).
    Stop,
    /// Change η; takes effect at the next update.
    SetLr(f64),
    /// Fork the main run at its current step into an extra run with its own η; its records
    /// (carrying `run_id`) start at the branch step. Extra runs are stepped round-robin with
    /// the main run and share its pause state; Start and Reset drop them.
    Branch {
        run_id: u64,
        lr: f64,
    },
    /// Build an extra run from its own configuration (e.g. another η of a sweep, or the
    /// gradient-flow reference), from its own initialisation; sends `Started` with `run_id`.
    AddRun {
        run_id: u64,
        config: Box<RunConfig>,
    },
    /// Drop an extra run.
    RemoveRun {
        run_id: u64,
    },
    /// Run these probes beside the main run (e.g. Damian et al. 2022's α, β, x_t, y_t
    /// measured along it), replacing the current ones; an empty list switches them off.
    /// Fresh probes start at the next step, and again on every Start and Reset. A probe can be
    /// costly (the measured theory takes f64 λ1 estimates on every step near and after the
    /// crossing of 2/η).
    SetProbes(Vec<ProbeConfig>),
    /// Write `params.npz` (current weights) and `data.npz` into a folder.
    SaveNpz {
        dir: PathBuf,
    },
    /// Leave the thread.
    Shutdown,
}

/// Facts about a started run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub config: RunConfig,
    pub dataset_name: String,
    pub dataset_notes: Vec<String>,
    pub num_params: usize,
    pub n_train: usize,
    pub n_test: usize,
    pub arch: String,
}

/// What the training worker reports.
#[derive(Clone, Debug)]
pub enum Event {
    /// Data loaded, session built; records follow.
    Started {
        run_id: u64,
        info: Box<RunInfo>,
    },
    Record {
        run_id: u64,
        record: Box<StepRecord>,
    },
    Finished {
        run_id: u64,
        reason: StopReason,
    },
    /// Running (false) or paused (true).
    Paused {
        run_id: u64,
        paused: bool,
    },
    /// The run was reset to its initial weights.
    Reset {
        run_id: u64,
    },
    /// A file export finished (message says where) or failed (`ok` false).
    Saved {
        run_id: u64,
        ok: bool,
        message: String,
    },
    Error {
        run_id: u64,
        message: String,
    },
    /// From a probe of the main run (see [`Command::SetProbes`]).
    Probe {
        run_id: u64,
        update: Box<ProbeUpdate>,
    },
}

impl Event {
    pub fn run_id(&self) -> u64 {
        match self {
            Event::Started { run_id, .. }
            | Event::Record { run_id, .. }
            | Event::Finished { run_id, .. }
            | Event::Paused { run_id, .. }
            | Event::Reset { run_id }
            | Event::Saved { run_id, .. }
            | Event::Error { run_id, .. }
            | Event::Probe { run_id, .. } => *run_id,
        }
    }
}

/// Why a command could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the training worker is busy (command queue full); try again")]
    Full,
    #[error("the training worker has stopped")]
    Disconnected,
}

fn map_send<T>(r: Result<(), TrySendError<T>>) -> Result<(), SendError> {
    match r {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => Err(SendError::Full),
        Err(TrySendError::Disconnected(_)) => Err(SendError::Disconnected),
    }
}

/// Nice level of the training worker thread (and of the threads it spawns for the full-batch
/// passes, which inherit it): on a machine with few cores the UI thread and the GL rasteriser
/// then get the CPU first when a frame is due, and training takes the rest.
pub const WORKER_NICE: i32 = 10;

/// [`WORKER_NICE`], or `$EOS_WORKER_NICE` when set to an integer (0 = do not lower; for
/// measuring what the lowering buys).
pub fn worker_nice() -> i32 {
    std::env::var("EOS_WORKER_NICE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(WORKER_NICE)
}

/// Lower the calling thread's scheduling priority (Linux: per-thread nice value). Best effort:
/// a failure leaves the priority as it was.
pub fn lower_thread_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    if nice > 0 {
        // SAFETY: gettid and setpriority take plain integers and only touch this thread's
        // scheduling attributes.
        #[allow(unsafe_code)]
        unsafe {
            let tid = libc::gettid();
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// Handle of a training worker thread. Dropping it stops and joins the thread.
pub struct TrainWorker {
    tx: SyncSender<Command>,
    rx: Option<Receiver<Event>>,
    shutdown: Arc<AtomicBool>,
    /// Set with each command that abandons the current step (Start, Reset, Stop, Pause,
    /// Shutdown) so a long measurement ends within one HVP; the loop clears it on handling.
    interrupt: Arc<AtomicBool>,
    next_id: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl TrainWorker {
    /// Spawn the thread `eos-train-<name>`.
    pub fn spawn(name: &str, waker: Waker) -> std::io::Result<Self> {
        let (tx, cmd_rx) = sync_channel::<Command>(COMMAND_CAPACITY);
        let (ev_tx, rx) = sync_channel::<Event>(EVENT_CAPACITY);
        let shutdown = Arc::new(AtomicBool::new(false));
        let sd = shutdown.clone();
        let interrupt = Arc::new(AtomicBool::new(false));
        let int = interrupt.clone();
        let thread = std::thread::Builder::new()
            .name(format!("eos-train-{name}"))
            .spawn(move || {
                lower_thread_priority(worker_nice());
                let mut w = TrainLoop {
                    cmd_rx,
                    tx: ev_tx,
                    waker: Arc::new(waker),
                    shutdown: sd,
                    interrupt: int,
                    runner: None,
                    extras: Vec::new(),
                    run_id: 0,
                    paused: true,
                    finished: false,
                    probes: Vec::new(),
                };
                w.run();
            })?;
        Ok(TrainWorker {
            tx,
            rx: Some(rx),
            shutdown,
            interrupt,
            next_id: AtomicU64::new(1),
            thread: Some(thread),
        })
    }

    fn fresh_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Start a run; returns its id (events of older runs can be ignored).
    pub fn start(&self, config: RunConfig) -> Result<u64, SendError> {
        let run_id = self.fresh_id();
        self.send(Command::Start {
            run_id,
            config: Box::new(config),
        })?;
        Ok(run_id)
    }

    /// Reset the current run; returns the id that later events carry.
    pub fn reset(&self) -> Result<u64, SendError> {
        let run_id = self.fresh_id();
        self.send(Command::Reset { run_id })?;
        Ok(run_id)
    }

    /// Fork the main run at its current step with another η; returns the branch's run id.
    pub fn branch(&self, lr: f64) -> Result<u64, SendError> {
        let run_id = self.fresh_id();
        self.send(Command::Branch { run_id, lr })?;
        Ok(run_id)
    }

    /// Add an extra run built from `config`; returns its run id.
    pub fn add_run(&self, config: RunConfig) -> Result<u64, SendError> {
        let run_id = self.fresh_id();
        self.send(Command::AddRun {
            run_id,
            config: Box::new(config),
        })?;
        Ok(run_id)
    }

    /// Queue a command without waiting. Commands that abandon the current step also cut its
    /// sharpness measurement short.
    pub fn send(&self, cmd: Command) -> Result<(), SendError> {
        if matches!(
            cmd,
            Command::Start { .. }
                | Command::Reset { .. }
                | Command::Stop
                | Command::Pause
                | Command::Shutdown
        ) {
            self.interrupt.store(true, Ordering::Relaxed);
        }
        map_send(self.tx.try_send(cmd))
    }

    /// Take the next event, if any (never blocks).
    pub fn try_recv(&self) -> Option<Event> {
        self.rx.as_ref().and_then(|rx| rx.try_recv().ok())
    }

    /// Whether the thread is still alive.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for TrainWorker {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        self.interrupt.store(true, Ordering::Relaxed);
        let _ = self.tx.try_send(Command::Shutdown);
        // Drop the receiver first so a worker waiting on a full event queue wakes up.
        self.rx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends each record as an event.
struct ChannelObserver {
    tx: SyncSender<Event>,
    run_id: u64,
    waker: Arc<Waker>,
}

impl Observer for ChannelObserver {
    fn observe(&mut self, _s: &Session, record: &StepRecord) -> Result<(), EngineError> {
        self.tx
            .send(Event::Record {
                run_id: self.run_id,
                record: Box::new(record.clone()),
            })
            .map_err(|_| EngineError::Disconnected)?;
        (self.waker)();
        Ok(())
    }
}

/// Sends what the main run's probes report as [`Event::Probe`]; wakes the UI once per step
/// that had any.
struct ChannelSink {
    tx: SyncSender<Event>,
    run_id: u64,
    waker: Arc<Waker>,
}

impl ProbeSink for ChannelSink {
    fn update(&mut self, _probe: usize, update: ProbeUpdate) -> Result<(), EngineError> {
        self.tx
            .send(Event::Probe {
                run_id: self.run_id,
                update: Box::new(update),
            })
            .map_err(|_| EngineError::Disconnected)
    }

    fn flush(&mut self) -> Result<(), EngineError> {
        (self.waker)();
        Ok(())
    }
}

/// A branch or an extra run stepped alongside the main one.
struct Extra {
    runner: Runner,
    run_id: u64,
    finished: bool,
}

struct TrainLoop {
    cmd_rx: Receiver<Command>,
    tx: SyncSender<Event>,
    waker: Arc<Waker>,
    shutdown: Arc<AtomicBool>,
    interrupt: Arc<AtomicBool>,
    runner: Option<Runner>,
    extras: Vec<Extra>,
    run_id: u64,
    paused: bool,
    finished: bool,
    /// The probes of the main run (see [`Command::SetProbes`]).
    probes: Vec<ProbeConfig>,
}

impl TrainLoop {
    /// The main run's runner: records and fresh probes, under the current run id. Start,
    /// Reset and SetProbes build it anew around the session, so the probes restart.
    fn main_runner(&self, session: Session) -> Runner {
        let mut runner = self.runner_for(self.run_id, session);
        let sink = ChannelSink {
            tx: self.tx.clone(),
            run_id: self.run_id,
            waker: self.waker.clone(),
        };
        match ProbeObserver::new(&runner.session, &self.probes, sink) {
            Ok(obs) => runner.add_observer(Cadence::Every(1), Box::new(obs)),
            // Only a sink that opens files can fail here; the channel sink opens none.
            Err(e) => {
                let _ = self.tx.send(Event::Error {
                    run_id: self.run_id,
                    message: e.to_string(),
                });
            }
        }
        runner
    }

    /// Rebuild the main runner around its session (fresh probes), keeping the stop state.
    fn restart_probes(&mut self) {
        if let Some(old) = self.runner.take() {
            self.runner = Some(self.main_runner(old.session));
        }
    }

    fn emit(&self, ev: Event) -> bool {
        let ok = self.tx.send(ev).is_ok();
        (self.waker)();
        ok
    }

    /// Whether the main run or any extra run can still step.
    fn any_unfinished(&self) -> bool {
        (self.runner.is_some() && !self.finished) || self.extras.iter().any(|e| !e.finished)
    }

    fn runner_for(&self, run_id: u64, mut session: Session) -> Runner {
        session.set_interrupt(self.interrupt.clone());
        let mut runner = Runner::new(session);
        runner.add_observer(
            Cadence::Every(1),
            Box::new(ChannelObserver {
                tx: self.tx.clone(),
                run_id,
                waker: self.waker.clone(),
            }),
        );
        runner
    }

    fn run(&mut self) {
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return;
            }
            let running = self.runner.is_some() && !self.paused && self.any_unfinished();
            // Take commands: all pending ones while running, else wait for one.
            let cmd = if running {
                match self.cmd_rx.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else {
                match self.cmd_rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            if let Some(cmd) = cmd {
                if !self.handle(cmd) {
                    return;
                }
                continue;
            }
            if !self.step_once() {
                return;
            }
        }
    }

    /// Returns false when the thread should end.
    fn handle(&mut self, cmd: Command) -> bool {
        self.interrupt.store(false, Ordering::Relaxed);
        match cmd {
            Command::Shutdown => return false,
            Command::Start { run_id, config } => {
                self.runner = None;
                self.extras.clear();
                self.run_id = run_id;
                self.finished = false;
                self.paused = false;
                match Session::from_config(&config) {
                    Ok((session, data)) => {
                        let info = RunInfo {
                            config: (*config).clone(),
                            dataset_name: session.dataset_name().to_string(),
                            dataset_notes: session.dataset_notes().to_vec(),
                            num_params: session.num_params(),
                            n_train: data.train.len(),
                            n_test: data.test.as_ref().map(|t| t.len()).unwrap_or(0),
                            arch: config.arch_string(),
                        };
                        self.runner = Some(self.main_runner(session));
                        return self.emit(Event::Started {
                            run_id,
                            info: Box::new(info),
                        });
                    }
                    Err(e) => {
                        self.finished = true;
                        return self.emit(Event::Error {
                            run_id,
                            message: e.to_string(),
                        });
                    }
                }
            }
            Command::Pause => {
                if self.runner.is_some() && !self.paused {
                    self.paused = true;
                    return self.emit(Event::Paused {
                        run_id: self.run_id,
                        paused: true,
                    });
                }
            }
            Command::Resume => {
                if self.runner.is_some() && self.paused && self.any_unfinished() {
                    self.paused = false;
                    return self.emit(Event::Paused {
                        run_id: self.run_id,
                        paused: false,
                    });
                }
            }
            Command::Step => {
                if self.runner.is_some() && self.any_unfinished() {
                    if !self.paused {
                        self.paused = true;
                        if !self.emit(Event::Paused {
                            run_id: self.run_id,
                            paused: true,
                        }) {
                            return false;
                        }
                    }
                    return self.step_once();
                }
            }
            Command::Reset { run_id } => {
                if let Some(mut runner) = self.runner.take() {
                    runner.session.reset();
                    self.extras.clear();
                    self.run_id = run_id;
                    self.finished = false;
                    self.paused = true;
                    // A fresh runner: a cleared stop flag, fresh probes, the new id.
                    self.runner = Some(self.main_runner(runner.session));
                    return self.emit(Event::Reset { run_id });
                }
            }
            Command::Stop => {
                if self.runner.is_some() && self.any_unfinished() {
                    if let Some(runner) = &mut self.runner {
                        runner.stop_flag().store(true, Ordering::Relaxed);
                    }
                    for e in &mut self.extras {
                        e.runner.stop_flag().store(true, Ordering::Relaxed);
                    }
                    // The runners notice the flag on their next step and report Stopped.
                    return self.step_once();
                }
            }
            Command::Branch { run_id, lr } => {
                let forked = self.runner.as_ref().map(|r| r.session.fork());
                let Some(mut session) = forked else {
                    return self.emit(Event::Error {
                        run_id,
                        message: "no run to branch from".into(),
                    });
                };
                if let Err(e) = session.set_lr(lr) {
                    return self.emit(Event::Error {
                        run_id,
                        message: e.to_string(),
                    });
                }
                let runner = self.runner_for(run_id, session);
                self.extras.push(Extra {
                    runner,
                    run_id,
                    finished: false,
                });
            }
            Command::AddRun { run_id, config } => match Session::from_config(&config) {
                Ok((session, data)) => {
                    let info = RunInfo {
                        config: (*config).clone(),
                        dataset_name: session.dataset_name().to_string(),
                        dataset_notes: session.dataset_notes().to_vec(),
                        num_params: session.num_params(),
                        n_train: data.train.len(),
                        n_test: data.test.as_ref().map(|t| t.len()).unwrap_or(0),
                        arch: config.arch_string(),
                    };
                    let runner = self.runner_for(run_id, session);
                    self.extras.push(Extra {
                        runner,
                        run_id,
                        finished: false,
                    });
                    return self.emit(Event::Started {
                        run_id,
                        info: Box::new(info),
                    });
                }
                Err(e) => {
                    return self.emit(Event::Error {
                        run_id,
                        message: e.to_string(),
                    });
                }
            },
            Command::RemoveRun { run_id } => self.extras.retain(|e| e.run_id != run_id),
            Command::SetLr(lr) => {
                if let Some(runner) = &mut self.runner
                    && let Err(e) = runner.session.set_lr(lr)
                {
                    return self.emit(Event::Error {
                        run_id: self.run_id,
                        message: e.to_string(),
                    });
                }
            }
            Command::SetProbes(probes) => {
                self.probes = probes;
                self.restart_probes();
            }
            Command::SaveNpz { dir } => {
                let (ok, message) = match &self.runner {
                    None => (false, "no run to save".to_string()),
                    Some(runner) => {
                        let p = dir.join("params.npz");
                        let d = dir.join("data.npz");
                        let r = std::fs::create_dir_all(&dir)
                            .map_err(|e| format!("cannot create {}: {e}", dir.display()))
                            .and_then(|_| {
                                runner
                                    .session
                                    .write_params_npz(&p)
                                    .map_err(|e| e.to_string())
                            })
                            .and_then(|_| {
                                runner.session.write_data_npz(&d).map_err(|e| e.to_string())
                            });
                        match r {
                            Ok(()) => (
                                true,
                                format!(
                                    "wrote {} and {} (weights at step {})",
                                    p.display(),
                                    d.display(),
                                    runner.session.step_index()
                                ),
                            ),
                            Err(e) => (false, e),
                        }
                    }
                };
                return self.emit(Event::Saved {
                    run_id: self.run_id,
                    ok,
                    message,
                });
            }
        }
        true
    }

    /// One step of the main run and of every unfinished extra run (round-robin); false when
    /// the thread should end.
    fn step_once(&mut self) -> bool {
        if !self.step_main() {
            return false;
        }
        let mut events = Vec::new();
        for e in self.extras.iter_mut().filter(|e| !e.finished) {
            match step_event(&mut e.runner, e.run_id) {
                Ok(None) => {}
                Ok(Some(ev)) => {
                    e.finished = true;
                    events.push(ev);
                }
                Err(Closed) => return false,
            }
        }
        events.into_iter().all(|ev| self.emit(ev))
    }

    /// One step of the main run (if it can still step); false when the thread should end.
    fn step_main(&mut self) -> bool {
        if self.finished {
            return true;
        }
        let Some(runner) = &mut self.runner else {
            return true;
        };
        match step_event(runner, self.run_id) {
            Ok(None) => true,
            Ok(Some(ev)) => {
                self.finished = true;
                self.emit(ev)
            }
            Err(Closed) => false,
        }
    }
}

/// The app has gone: the worker thread should end.
struct Closed;

/// One step of a runner; the event that ends it (Finished or Error), if this step did.
fn step_event(runner: &mut Runner, run_id: u64) -> Result<Option<Event>, Closed> {
    match runner.step_once() {
        Ok(None) => Ok(None),
        Ok(Some(reason)) => Ok(Some(Event::Finished { run_id, reason })),
        Err(EngineError::Disconnected) => Err(Closed),
        Err(e) => Ok(Some(Event::Error {
            run_id,
            message: e.to_string(),
        })),
    }
}

// ---------------------------------------------------------------------------------------------
// Linear-model worker
// ---------------------------------------------------------------------------------------------

/// What the linear-model worker is told to do.
#[derive(Clone, Debug)]
pub enum LinearCommand {
    /// Start a fresh run (abandoning any current one).
    Start {
        run_id: u64,
        params: Box<LinearParams>,
    },
    /// Abandon the current run.
    Stop,
    Shutdown,
}

/// What the linear-model worker reports.
#[derive(Clone, Debug)]
pub enum LinearEvent {
    Row { run_id: u64, row: Box<LinearRow> },
    Finished { run_id: u64, outcome: Outcome },
    Error { run_id: u64, message: String },
}

impl LinearEvent {
    pub fn run_id(&self) -> u64 {
        match self {
            LinearEvent::Row { run_id, .. }
            | LinearEvent::Finished { run_id, .. }
            | LinearEvent::Error { run_id, .. } => *run_id,
        }
    }
}

/// Handle of the linear-model worker thread. Dropping it stops and joins the thread.
pub struct LinearWorker {
    tx: SyncSender<LinearCommand>,
    rx: Option<Receiver<LinearEvent>>,
    shutdown: Arc<AtomicBool>,
    latest: Arc<AtomicU64>,
    next_id: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl LinearWorker {
    /// Spawn the thread `eos-linear-<name>`.
    pub fn spawn(name: &str, waker: Waker) -> std::io::Result<Self> {
        let (tx, cmd_rx) = sync_channel::<LinearCommand>(COMMAND_CAPACITY);
        let (ev_tx, rx) = sync_channel::<LinearEvent>(EVENT_CAPACITY);
        let shutdown = Arc::new(AtomicBool::new(false));
        let latest = Arc::new(AtomicU64::new(0));
        let sd = shutdown.clone();
        let lt = latest.clone();
        let thread = std::thread::Builder::new()
            .name(format!("eos-linear-{name}"))
            .spawn(move || linear_loop(cmd_rx, ev_tx, waker, sd, lt))?;
        Ok(LinearWorker {
            tx,
            rx: Some(rx),
            shutdown,
            latest,
            next_id: AtomicU64::new(1),
            thread: Some(thread),
        })
    }

    /// Start a run; returns its id. A run in progress is abandoned.
    pub fn start(&self, params: LinearParams) -> Result<u64, SendError> {
        let run_id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.latest.store(run_id, Ordering::Relaxed);
        map_send(self.tx.try_send(LinearCommand::Start {
            run_id,
            params: Box::new(params),
        }))?;
        Ok(run_id)
    }

    pub fn stop(&self) -> Result<(), SendError> {
        self.latest.store(0, Ordering::Relaxed);
        map_send(self.tx.try_send(LinearCommand::Stop))
    }

    pub fn try_recv(&self) -> Option<LinearEvent> {
        self.rx.as_ref().and_then(|rx| rx.try_recv().ok())
    }
}

impl Drop for LinearWorker {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        self.latest.store(0, Ordering::Relaxed);
        let _ = self.tx.try_send(LinearCommand::Shutdown);
        self.rx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn linear_loop(
    cmd_rx: Receiver<LinearCommand>,
    tx: SyncSender<LinearEvent>,
    waker: Waker,
    shutdown: Arc<AtomicBool>,
    latest: Arc<AtomicU64>,
) {
    let mut current: Option<(u64, LinearRun)> = None;
    loop {
        if shutdown.load(Ordering::Relaxed) {
            return;
        }
        let cmd = if current.is_some() {
            match cmd_rx.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match cmd_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        match cmd {
            Some(LinearCommand::Shutdown) => return,
            Some(LinearCommand::Stop) => current = None,
            Some(LinearCommand::Start { run_id, params }) => match params.check() {
                Ok(c) => current = Some((run_id, LinearRun::new(&c))),
                Err(e) => {
                    current = None;
                    if tx
                        .send(LinearEvent::Error {
                            run_id,
                            message: e.to_string(),
                        })
                        .is_err()
                    {
                        return;
                    }
                    waker();
                }
            },
            None => {
                let Some((run_id, run)) = &mut current else {
                    continue;
                };
                let run_id = *run_id;
                // A newer run was requested: skip work on this one.
                if latest.load(Ordering::Relaxed) != run_id {
                    current = None;
                    continue;
                }
                let ev = match run.step() {
                    Some(row) => LinearEvent::Row {
                        run_id,
                        row: Box::new(row),
                    },
                    None => {
                        let outcome = run.outcome().cloned().unwrap_or(Outcome::Completed);
                        current = None;
                        LinearEvent::Finished { run_id, outcome }
                    }
                };
                if tx.send(ev).is_err() {
                    return;
                }
                waker();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::data::DatasetSpec;
    use std::time::Instant;

    fn tiny() -> RunConfig {
        RunConfig {
            dataset: DatasetSpec::Digits {
                n_train: 50,
                n_test: 20,
            },
            hidden: vec![4],
            max_steps: 5,
            eig_every: 1,
            ..RunConfig::default()
        }
    }

    fn wait_for(w: &TrainWorker, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
        let t0 = Instant::now();
        let mut seen = Vec::new();
        while t0.elapsed() < Duration::from_secs(30) {
            while let Some(e) = w.try_recv() {
                let done = pred(&e);
                seen.push(e);
                if done {
                    return seen;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("timed out; events: {seen:?}");
    }

    /// Stop during a long sharpness measurement (a thousand HVPs with reorthogonalisation,
    /// tens of seconds) is answered within about a second, not after the step.
    #[test]
    fn stop_cuts_a_long_measurement_short() {
        let cfg = RunConfig {
            dataset: DatasetSpec::Digits {
                n_train: 1000,
                n_test: 0,
            },
            hidden: vec![256, 256],
            max_steps: 5,
            eig_every: 1,
            neigs: 4,
            lanczos_tol: 1e-15,
            lanczos_max_iter: 1000,
            ..RunConfig::default()
        };
        let w = TrainWorker::spawn("interrupt-test", Box::new(|| {})).unwrap();
        w.start(cfg).unwrap();
        wait_for(&w, |e| matches!(e, Event::Started { .. }));
        // Well inside the first step's measurement.
        std::thread::sleep(Duration::from_millis(500));
        let asked = Instant::now();
        w.send(Command::Stop).unwrap();
        let seen = wait_for(&w, |e| matches!(e, Event::Finished { .. }));
        let waited = asked.elapsed();
        assert!(
            waited < Duration::from_secs(2),
            "Stop answered after {waited:?}"
        );
        // The interrupted step is recorded without eigenvalues; nothing after it.
        let records: Vec<&StepRecord> = seen
            .iter()
            .filter_map(|e| match e {
                Event::Record { record, .. } => Some(&**record),
                _ => None,
            })
            .collect();
        assert!(records.len() <= 1, "{} steps ran after Stop", records.len());
        assert!(records.iter().all(|r| r.eigs.is_none()));
    }

    #[test]
    fn worker_runs_a_tiny_config_to_the_end() {
        let w = match TrainWorker::spawn("test", Box::new(|| {})) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let id = w.start(tiny()).unwrap_or(0);
        let evs = wait_for(&w, |e| matches!(e, Event::Finished { .. }));
        let recs = evs
            .iter()
            .filter(|e| matches!(e, Event::Record { run_id, .. } if *run_id == id))
            .count();
        assert_eq!(recs, 6);
        let _ = w.reset();
        let _ = w.send(Command::Step);
        let evs = wait_for(&w, |e| matches!(e, Event::Record { .. }));
        assert!(evs.iter().any(|e| matches!(e, Event::Reset { .. })));
    }

    /// Current nice value of the calling thread (Linux).
    fn thread_nice() -> Option<i32> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: as above; errno is reset so a legitimate -1 can be told from an error.
            #[allow(unsafe_code)]
            unsafe {
                *libc::__errno_location() = 0;
                let tid = libc::gettid();
                let v = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
                (*libc::__errno_location() == 0).then_some(v)
            }
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// The training thread runs niced, so the UI gets the CPU first.
    #[cfg(target_os = "linux")]
    #[test]
    fn training_thread_runs_at_lower_priority() {
        let own = thread_nice();
        let w = match TrainWorker::spawn("nice", Box::new(|| {})) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let t0 = Instant::now();
        let mut found = None;
        while found.is_none() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
            let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
                panic!("no /proc/self/task")
            };
            for e in dir.flatten() {
                let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
                if comm.trim() == "eos-train-nice" {
                    let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                    // Fields after the parenthesised name; nice is field 19 (index 16 here).
                    let rest = stat.rsplit(')').next().unwrap_or("");
                    found = rest
                        .split_whitespace()
                        .nth(16)
                        .and_then(|v| v.parse::<i32>().ok());
                }
            }
        }
        drop(w);
        let Some(nice) = found else {
            panic!("thread eos-train-nice not found")
        };
        assert!(nice >= WORKER_NICE, "worker nice {nice}");
        // The calling (UI) thread is untouched.
        assert_eq!(thread_nice(), own);
        assert!(own.is_some());
    }

    /// The app's theory events carry exactly what the headless tracker computes on the same
    /// run, and Reset starts a fresh tracker under the new run id.
    #[test]
    fn theory_events_match_the_headless_tracker_and_restart_on_reset() {
        use crate::engine::probe::{ProbeConfig, ProbeUpdate};
        use crate::engine::theory::measured::{
            Phase, StepInput, TheoryLog, TheoryOptions, TheoryProbe, TheoryRow, TheoryUpdate,
        };
        let mut c = tiny();
        c.dataset = DatasetSpec::Digits {
            n_train: 100,
            n_test: 20,
        };
        c.hidden = vec![8];
        c.max_steps = 25;
        c.threads = 1;
        // η with 2/η just below the initial λ1, so the first step is already a crossing.
        let lambda0 = {
            let (mut s, _) = Session::from_config(&c).unwrap_or_else(|e| panic!("{e}"));
            let Some((r, _)) = s.step() else {
                panic!("no first step")
            };
            r.eigs.and_then(|e| e.first().copied()).unwrap_or(f64::NAN)
        };
        assert!(lambda0.is_finite() && lambda0 > 0.0, "λ1(θ_0) = {lambda0}");
        c.lr = 2.0 / (0.995 * lambda0);
        let opts = TheoryOptions {
            window: 12,
            ..TheoryOptions::default()
        };

        // Headless: the tracker fed by hand, as the CLI's observer does.
        let mut expected: Vec<TheoryRow> = Vec::new();
        {
            let (mut s, _) = Session::from_config(&c).unwrap_or_else(|e| panic!("{e}"));
            // The probe's own construction (f32 λ1 probes, f64 anchor).
            let mut t =
                TheoryProbe::tracker_for(&s, opts.clone()).unwrap_or_else(|e| panic!("{e}"));
            while let Some((r, stop)) = s.step() {
                let params = s.params_f64();
                let input = StepInput::from_record(&r, &params);
                if let Some(row) = t.observe(&input).unwrap_or_else(|e| panic!("{e}")) {
                    expected.push(row);
                }
                if stop.is_some() {
                    break;
                }
            }
        }
        assert_eq!(expected.len(), 12, "the window is 12 tracked steps");

        let w = match TrainWorker::spawn("test-theory", Box::new(|| {})) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let _ = w.send(Command::SetProbes(vec![ProbeConfig::MeasuredTheory(opts)]));
        let id = w.start(c).unwrap_or(0);
        let evs = wait_for(&w, |e| matches!(e, Event::Finished { .. }));
        let mut log = TheoryLog::default();
        for e in evs {
            if let Event::Probe { run_id, update } = e {
                assert_eq!(run_id, id);
                let ProbeUpdate::MeasuredTheory(u) = *update else {
                    panic!("an update of another probe")
                };
                log.apply(u);
            }
        }
        assert_eq!(log.phase, Some(Phase::Done));
        assert_eq!(log.anchors.len(), 1);
        assert_eq!(log.rows, expected);
        assert!(log.probes >= 12 && log.probe_hvps > log.probes);
        let a = &log.anchors[0];
        assert_eq!(a.step, 0);
        assert!(a.lambda1 >= a.threshold);
        assert!(log.agreement(0).is_some());

        // Reset: a fresh tracker, events under the new id.
        let id2 = w.reset().unwrap_or(0);
        wait_for(&w, |e| matches!(e, Event::Reset { .. }));
        let _ = w.send(Command::Step);
        let evs = wait_for(
            &w,
            |e| matches!(e, Event::Probe { update, .. } if matches!(**update, ProbeUpdate::MeasuredTheory(TheoryUpdate::Row(_)))),
        );
        let mut log2 = TheoryLog::default();
        for e in evs {
            if let Event::Probe { run_id, update } = e {
                assert_eq!(run_id, id2);
                let ProbeUpdate::MeasuredTheory(u) = *update else {
                    panic!("an update of another probe")
                };
                log2.apply(u);
            }
        }
        assert_eq!(log2.rows.len(), 1);
        assert_eq!(log2.rows[0], expected[0]);

        // Switched off: no more theory events (after the rest of the last step's updates).
        std::thread::sleep(Duration::from_millis(200));
        while w.try_recv().is_some() {}
        let _ = w.send(Command::SetProbes(Vec::new()));
        let _ = w.send(Command::Step);
        let mut evs = wait_for(&w, |e| matches!(e, Event::Record { .. }));
        let _ = w.send(Command::Step);
        evs.extend(wait_for(&w, |e| matches!(e, Event::Record { .. })));
        assert!(!evs.iter().any(|e| matches!(e, Event::Probe { .. })));
    }

    #[test]
    fn branch_and_extra_runs_step_round_robin_with_their_own_ids() {
        let w = match TrainWorker::spawn("test-branch", Box::new(|| {})) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let mut c = tiny();
        c.max_steps = 1000;
        let main = w.start(c.clone()).unwrap_or(0);
        wait_for(&w, |e| matches!(e, Event::Started { .. }));
        let _ = w.send(Command::Pause);
        wait_for(&w, |e| matches!(e, Event::Paused { paused: true, .. }));
        // Everything recorded so far has arrived once the pause is confirmed.
        let _ = w.send(Command::Step);
        let evs = wait_for(&w, |e| matches!(e, Event::Record { .. }));
        let Some(Event::Record { record, .. }) = evs.last() else {
            panic!("no record")
        };
        let at = record.step + 1;
        let br = w.branch(0.01).unwrap_or(0);
        c.lr = 0.2;
        let extra = w.add_run(c).unwrap_or(0);
        wait_for(
            &w,
            |e| matches!(e, Event::Started { run_id, .. } if *run_id == extra),
        );
        let _ = w.send(Command::Step);
        let evs = wait_for(
            &w,
            |e| matches!(e, Event::Record { run_id, .. } if *run_id == extra),
        );
        let recs: Vec<(u64, usize, f64)> = evs
            .iter()
            .filter_map(|e| match e {
                Event::Record { run_id, record } => Some((*run_id, record.step, record.lr)),
                _ => None,
            })
            .collect();
        assert!(recs.contains(&(main, at, 0.1)), "{recs:?}");
        assert!(recs.contains(&(br, at, 0.01)), "{recs:?}");
        assert!(recs.contains(&(extra, 0, 0.2)), "{recs:?}");
    }

    #[test]
    fn bad_cifar_folder_is_an_error_event() {
        let w = match TrainWorker::spawn("test-err", Box::new(|| {})) {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let mut c = tiny();
        c.dataset = DatasetSpec::Cifar10 {
            dir: PathBuf::from("/nonexistent/cifar"),
            n_train: 10,
            n_test: 10,
            stats_file: None,
            classes: None,
        };
        let _ = w.start(c);
        let evs = wait_for(&w, |e| matches!(e, Event::Error { .. }));
        assert!(
            matches!(evs.last(), Some(Event::Error { message, .. }) if message.contains("does not exist"))
        );
    }
}
