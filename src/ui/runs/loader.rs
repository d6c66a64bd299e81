//! The Runs workspace's worker thread: every file access of the workspace happens here (read a
//! folder, list a folder of runs, poll the folders being followed), never on the UI thread.
//! Typed commands in, typed events out; the thread ends when the workspace drops its sender.
//! File dialogs run on their own short-lived threads ([`pick_folder`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use eframe::egui;

use crate::engine::run_folder::{
    FollowUpdate, Loaded, METRICS_FILE, RunFolderError, RunFollower, SUMMARY_FILE, read_run,
};

/// How often followed folders are polled (one `stat` per file when nothing changed).
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// A folder whose metrics.csv changed this recently (and has no summary.json) is followed
/// as soon as it is opened.
pub const LIVE_WITHIN: Duration = Duration::from_secs(30);

/// Whether a folder looks like a run still being written (see [`LIVE_WITHIN`]).
fn looks_live(dir: &Path) -> bool {
    if dir.join(SUMMARY_FILE).exists() {
        return false;
    }
    std::fs::metadata(dir.join(METRICS_FILE))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < LIVE_WITHIN)
}

/// Requests to the worker. `id` is the workspace's name for a run.
#[derive(Debug)]
pub enum LoadCmd {
    /// Read a run folder.
    Open {
        id: u64,
        dir: PathBuf,
    },
    /// List the run folders inside a folder (and the folder itself when it is one).
    Scan {
        dir: PathBuf,
    },
    /// Start polling a folder (the first update holds every row).
    Follow {
        id: u64,
        dir: PathBuf,
    },
    Unfollow {
        id: u64,
    },
}

/// Answers of the worker.
#[derive(Debug)]
pub enum LoadEvent {
    Opened {
        id: u64,
        loaded: Box<Loaded>,
        /// metrics.csv changed within [`LIVE_WITHIN`] and there is no summary.json: the run
        /// is probably still being written, and it is followed from now on.
        live: bool,
    },
    /// Only `metrics.csv.partial`: a run still being written; it is followed from now on.
    Writing {
        id: u64,
    },
    Failed {
        id: u64,
        error: String,
    },
    /// The run folders found by a scan (possibly none).
    Found {
        dir: PathBuf,
        runs: Vec<PathBuf>,
    },
    Update {
        id: u64,
        update: Box<FollowUpdate>,
    },
    /// Following stopped because the folder cannot be read.
    FollowFailed {
        id: u64,
        error: String,
    },
}

/// The worker's handle (dropping it ends the thread).
pub struct Loader {
    tx: Sender<LoadCmd>,
    rx: Receiver<LoadEvent>,
}

fn has_metrics(dir: &Path) -> bool {
    dir.join(METRICS_FILE).is_file() || dir.join(format!("{METRICS_FILE}.partial")).is_file()
}

fn open(id: u64, dir: &Path, followers: &mut BTreeMap<u64, RunFollower>) -> LoadEvent {
    match read_run(dir) {
        Ok(loaded) => {
            let live = looks_live(dir);
            if live {
                followers.insert(id, RunFollower::new(dir));
            }
            LoadEvent::Opened {
                id,
                loaded: Box::new(loaded),
                live,
            }
        }
        Err(RunFolderError::NoMetrics { .. })
            if dir.join(format!("{METRICS_FILE}.partial")).is_file() =>
        {
            followers.insert(id, RunFollower::new(dir));
            LoadEvent::Writing { id }
        }
        Err(e) => LoadEvent::Failed {
            id,
            error: if dir.is_dir() || dir.as_os_str().is_empty() {
                e.to_string()
            } else {
                format!(
                    "{} is not a folder: give the folder that holds metrics.csv",
                    dir.display()
                )
            },
        },
    }
}

fn scan(dir: &Path) -> Vec<PathBuf> {
    // A dropped or typed metrics.csv stands for its folder.
    let dir = match dir.parent() {
        Some(parent) if dir.is_file() => parent,
        _ => dir,
    };
    let mut runs = Vec::new();
    if has_metrics(dir) {
        runs.push(dir.to_path_buf());
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir() && has_metrics(p))
            .collect();
        subs.sort();
        runs.extend(subs);
    }
    runs
}

impl Loader {
    /// Start the worker; it asks `ctx` for a repaint after each event.
    pub fn spawn(ctx: &egui::Context) -> std::io::Result<Loader> {
        let (tx, cmd_rx) = channel::<LoadCmd>();
        let (ev_tx, rx) = channel::<LoadEvent>();
        let ctx = ctx.clone();
        std::thread::Builder::new()
            .name("eos-runs".into())
            .spawn(move || {
                let mut followers: BTreeMap<u64, RunFollower> = BTreeMap::new();
                let mut last_poll = Instant::now();
                loop {
                    let wait = if followers.is_empty() {
                        Duration::from_secs(3600)
                    } else {
                        POLL_EVERY.saturating_sub(last_poll.elapsed())
                    };
                    let mut events = Vec::new();
                    match cmd_rx.recv_timeout(wait) {
                        Ok(LoadCmd::Open { id, dir }) => {
                            events.push(open(id, &dir, &mut followers));
                        }
                        Ok(LoadCmd::Scan { dir }) => {
                            let runs = scan(&dir);
                            events.push(LoadEvent::Found { dir, runs });
                        }
                        Ok(LoadCmd::Follow { id, dir }) => {
                            followers.insert(id, RunFollower::new(&dir));
                            last_poll = Instant::now() - POLL_EVERY;
                        }
                        Ok(LoadCmd::Unfollow { id }) => {
                            followers.remove(&id);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    if !followers.is_empty() && last_poll.elapsed() >= POLL_EVERY {
                        last_poll = Instant::now();
                        let mut failed = Vec::new();
                        for (id, f) in &mut followers {
                            match f.poll() {
                                Ok(u) if u.is_empty() => {}
                                Ok(u) => events.push(LoadEvent::Update {
                                    id: *id,
                                    update: Box::new(u),
                                }),
                                Err(e) => {
                                    failed.push(*id);
                                    events.push(LoadEvent::FollowFailed {
                                        id: *id,
                                        error: e.to_string(),
                                    });
                                }
                            }
                        }
                        for id in failed {
                            followers.remove(&id);
                        }
                    }
                    if !events.is_empty() {
                        for e in events {
                            if ev_tx.send(e).is_err() {
                                return;
                            }
                        }
                        ctx.request_repaint();
                    }
                }
            })?;
        Ok(Loader { tx, rx })
    }

    pub fn send(&self, cmd: LoadCmd) -> bool {
        self.tx.send(cmd).is_ok()
    }

    pub fn try_recv(&self) -> Option<LoadEvent> {
        self.rx.try_recv().ok()
    }
}

/// What a folder dialog was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogKind {
    Run,
    FolderOfRuns,
}

/// Open a folder dialog on its own thread; the answer (or `None`: cancelled or no dialog)
/// arrives on the receiver. `EOS_NO_DIALOG` answers `None` at once.
pub fn pick_folder(ctx: &egui::Context, kind: DialogKind) -> Option<Receiver<Option<PathBuf>>> {
    let (tx, rx) = channel();
    let c = ctx.clone();
    std::thread::Builder::new()
        .name("eos-run-dialog".into())
        .spawn(move || {
            let p = if std::env::var_os("EOS_NO_DIALOG").is_some() {
                None
            } else {
                rfd::FileDialog::new()
                    .set_title(match kind {
                        DialogKind::Run => "Open run (a folder with metrics.csv)",
                        DialogKind::FolderOfRuns => "Open a folder of runs",
                    })
                    .pick_folder()
            };
            let _ = tx.send(p);
            c.request_repaint();
        })
        .ok()?;
    Some(rx)
}
