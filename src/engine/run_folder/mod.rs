//! The run folder: the one writer and reader of the files a training run leaves on disk.
//!
//! ```text
//! RUN/
//!   config.json            {"format_version": 1, "config": RunConfig, "info": RunInfo}  (optional)
//!   metrics.csv            one row per recorded step, measured at θ_t before the update  (required)
//!   summary.json           how the run ended                                             (optional)
//!   params_step{N}.npz     W1, b1, W2, … at θ_N (PyTorch Linear layout)                  (optional)
//!   train.npz              X, Y (and labels) as the network saw them                     (optional)
//!   <probe>.csv / .json    tables and JSON of analyses beside training (theory.csv, …)  (optional)
//!   overlays/<k>-<name>/   other runs drawn over this one: config.json, metrics.csv, overlay.json
//! ```
//!
//! The CLI streams a run into a folder ([`RunFolder`] with its observers, bounded memory);
//! the app writes a whole run held in memory ([`write_run`]); both go through the same
//! per-file functions, so the same records give the same files. [`read_run`] loads any run
//! folder back, keeping what is valid and listing what it skipped. Every file is written as a
//! transaction (see [`atomic`]); the format is specified in `docs/run-format.md`.

pub mod atomic;
pub mod config_file;
pub mod follow;
pub mod lock;
pub mod metrics;
mod read;
pub mod table;
mod write;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::config::RunConfig;
use crate::engine::export::ExportError;

pub use atomic::with_write_budget;
pub use config_file::{FORMAT_VERSION, RunInfo};
pub use follow::{FollowUpdate, Rows, RunFollower, TableTail, Tail};
pub use lock::{RunLock, create_unique};
pub use metrics::{Column, Known, Metrics};
pub use read::{Loaded, read_run};
pub use table::{ReadWarning, Table};
pub use write::{MetricsObserver, ParamsSaver, RunFolder, write_run};

/// File names of the format.
pub const CONFIG_FILE: &str = "config.json";
pub const METRICS_FILE: &str = "metrics.csv";
pub const SUMMARY_FILE: &str = "summary.json";
pub const OVERLAY_FILE: &str = "overlay.json";
pub const OVERLAYS_DIR: &str = "overlays";
pub const DATA_FILE: &str = "train.npz";
pub const LOCK_FILE: &str = ".eos-run.lock";

/// `params_step{N}.npz`.
pub fn params_file(step: usize) -> String {
    format!("params_step{step}.npz")
}

/// The step of a `params_step{N}.npz` name.
pub fn params_step_of(name: &str) -> Option<usize> {
    let n = name.strip_prefix("params_step")?.strip_suffix(".npz")?;
    let s: usize = n.parse().ok()?;
    (s.to_string() == n).then_some(s)
}

/// Names a probe file may not take (they belong to the format).
fn reserved(name: &str) -> bool {
    [
        CONFIG_FILE,
        METRICS_FILE,
        SUMMARY_FILE,
        OVERLAY_FILE,
        DATA_FILE,
    ]
    .contains(&name)
        || params_step_of(name).is_some()
}

/// Largest table or JSON file the reader loads (a guard against `/dev/zero` and the like).
pub const MAX_TABLE_BYTES: u64 = 4 << 30;
pub const MAX_JSON_BYTES: u64 = 256 << 20;

/// A fault that keeps a run folder from being written or read.
#[derive(Debug, thiserror::Error)]
pub enum RunFolderError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error(
        "{dir} is in use by another run (process {pid}); wait for it to finish, or choose another --out"
    )]
    Locked { dir: PathBuf, pid: u32 },
    #[error(
        "{dir} already holds {entries} file(s) of an earlier run: choose another --out, or pass --overwrite to clear it first"
    )]
    NotEmpty { dir: PathBuf, entries: usize },
    #[error(
        "{dir} holds files that are not a run's (only *.csv, *.json, *.npz and overlays/ are cleared by --overwrite): choose an empty or new folder"
    )]
    NotARunFolder { dir: PathBuf },
    #[error(
        "{dir} has no metrics.csv: a run folder needs metrics.csv with a `step` column (see docs/run-format.md)"
    )]
    NoMetrics { dir: PathBuf },
    #[error("{path}: {message} (see docs/run-format.md)")]
    BadMetrics { path: PathBuf, message: String },
    #[error("{path} is not a regular file ({what}); give a file")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{path} is {size} bytes, more than the {limit} this file may have")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("a probe file may not be called {name} (a name of the run-folder format)")]
    ReservedName { name: String },
}

impl RunFolderError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        RunFolderError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Read a file that must be a regular file of at most `limit` bytes (a FIFO, a device or a
/// folder is refused before anything is read).
pub fn read_regular_file(path: &Path, limit: u64) -> Result<Vec<u8>, RunFolderError> {
    let meta = std::fs::metadata(path).map_err(|e| RunFolderError::io(path, e))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a folder"
        } else if is_fifo(&ft) {
            "a named pipe"
        } else {
            "a device or special file"
        };
        return Err(RunFolderError::NotAFile {
            path: path.to_path_buf(),
            what,
        });
    }
    if meta.len() > limit {
        return Err(RunFolderError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit,
        });
    }
    let f = std::fs::File::open(path).map_err(|e| RunFolderError::io(path, e))?;
    let mut buf = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| RunFolderError::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(RunFolderError::TooLarge {
            path: path.to_path_buf(),
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

#[cfg(unix)]
fn is_fifo(ft: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(ft)
}

#[cfg(not(unix))]
fn is_fifo(_ft: &std::fs::FileType) -> bool {
    false
}

/// How a run ended (`summary.json`). Every field is optional when read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    /// The stop reason as data: `{"kind": "max-steps" | "accuracy-goal" | "loss-goal" |
    /// "diverged" | "stopped", "step": N, …}`.
    pub outcome: serde_json::Value,
    /// The same in words, e.g. "stopped by the user at step 120".
    pub message: String,
    /// Updates applied.
    pub steps: usize,
    pub compute_seconds: f64,
    pub gradients: u64,
    pub hvps: u64,
    pub final_train_loss: Option<f64>,
    pub final_train_acc: Option<f64>,
    pub last_lambda_1: Option<f64>,
}

/// An overlaid run (a branch, a sweep member, gradient flow) kept under `overlays/`.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlay {
    /// Legend name, e.g. `branch @ 120, η = 0.05`.
    pub name: String,
    pub run: RunData,
}

/// A run folder in memory: what [`read_run`] returns and [`write_run`] writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunData {
    /// 0 for folders written before versioning (or without config.json).
    pub format_version: u32,
    pub config: Option<RunConfig>,
    pub info: Option<RunInfo>,
    pub metrics: Metrics,
    pub summary: Option<RunSummary>,
    /// Probe tables by file name (e.g. `theory.csv`).
    pub tables: BTreeMap<String, Table>,
    /// Probe JSON files by file name (e.g. `theory_summary.json`).
    pub json: BTreeMap<String, serde_json::Value>,
    pub overlays: Vec<Overlay>,
    /// Steps with a `params_step{N}.npz` (sorted; read-only: written by the session).
    pub params_steps: Vec<usize>,
    /// Whether `train.npz` is there (read-only: written by the session).
    pub has_data: bool,
}

impl RunData {
    /// A run of these records (`neigs` eigenvalue columns), as the app holds it.
    pub fn from_records(
        config: Option<RunConfig>,
        records: &[crate::engine::session::StepRecord],
        neigs: usize,
    ) -> Self {
        RunData {
            format_version: FORMAT_VERSION,
            config,
            metrics: Metrics::from_records(records, neigs),
            ..RunData::default()
        }
    }
}

/// A folder name from a legend name: `branch @ 120, η = 0.05` → `branch-120-eta-0.05`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.replace('η', "eta").chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let s = out
        .trim_end_matches('-')
        .trim_start_matches('.')
        .to_string();
    if s.is_empty() { "run".into() } else { s }
}
