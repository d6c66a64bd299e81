//! Writing a run folder: streamed by the CLI ([`RunFolder`] and its observers) or whole from
//! memory by the app ([`write_run`]). Both use the same per-file functions.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::config::RunConfig;
use crate::engine::error::EngineError;
use crate::engine::export::{CsvWriter, ExportError, SaveSteps, write_json};
use crate::engine::session::{Observer, Session, StepRecord, StopReason};

use super::atomic::write_atomic;
use super::lock::{RunLock, create_unique, prepare};
use super::{
    CONFIG_FILE, METRICS_FILE, OVERLAY_FILE, OVERLAYS_DIR, RunData, RunFolderError, RunInfo,
    RunSummary, SUMMARY_FILE, Table, config_file, metrics, params_file, reserved, slug,
};

/// `config.json` into `dir`.
fn write_config_file(
    dir: &Path,
    config: Option<&RunConfig>,
    info: Option<&RunInfo>,
) -> Result<(), ExportError> {
    write_atomic(&dir.join(CONFIG_FILE), &config_file::to_json(config, info))
}

/// A whole table into `path` (row by row, the same formatting as a streamed table).
fn write_table_file(path: &Path, table: &Table) -> Result<(), ExportError> {
    let mut csv = CsvWriter::create(path, &table.header)?;
    for r in &table.rows {
        csv.row(r)?;
    }
    csv.finish()
}

fn check_probe_name(name: &str, ext: &str) -> Result<(), RunFolderError> {
    let plain = !name.contains(['/', '\\']) && !name.starts_with('.') && name.ends_with(ext);
    if !plain || reserved(name) {
        return Err(RunFolderError::ReservedName {
            name: format!("{name} (a probe file is a plain `NAME{ext}` in the run folder)"),
        });
    }
    Ok(())
}

/// A run folder open for writing: created (or cleared with `overwrite`) and locked until
/// dropped.
#[derive(Debug)]
pub struct RunFolder {
    dir: PathBuf,
    _lock: RunLock,
}

impl RunFolder {
    /// Open `dir` for a new run: refused if it holds files (unless `overwrite`, which clears
    /// it) or if another run holds its lock.
    pub fn create(dir: &Path, overwrite: bool) -> Result<Self, RunFolderError> {
        let lock = prepare(dir, overwrite)?;
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// A new folder `parent/STEM-UNIXTIME[-k]` that no other run shares.
    pub fn create_unique(parent: &Path, stem: &str) -> Result<Self, RunFolderError> {
        let dir = create_unique(parent, stem)?;
        RunFolder::create(&dir, false)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn write_config(
        &self,
        config: Option<&RunConfig>,
        info: Option<&RunInfo>,
    ) -> Result<(), RunFolderError> {
        Ok(write_config_file(&self.dir, config, info)?)
    }

    /// The streamed `metrics.csv` (an observer of the run).
    pub fn metrics(&self, neigs: usize) -> Result<MetricsObserver, EngineError> {
        MetricsObserver::create(&self.dir.join(METRICS_FILE), neigs)
    }

    /// `params_step{N}.npz` at the chosen steps (an observer of the run).
    pub fn params_saver(&self, steps: SaveSteps) -> ParamsSaver {
        ParamsSaver::new(&self.dir, steps)
    }

    /// A streamed probe table `name` (e.g. `central_flow.csv`); complete after
    /// [`CsvWriter::finish`].
    pub fn table(&self, name: &str, header: &[String]) -> Result<CsvWriter, RunFolderError> {
        check_probe_name(name, ".csv")?;
        Ok(CsvWriter::create(&self.dir.join(name), header)?)
    }

    /// A whole probe table.
    pub fn write_table(&self, name: &str, table: &Table) -> Result<(), RunFolderError> {
        check_probe_name(name, ".csv")?;
        Ok(write_table_file(&self.dir.join(name), table)?)
    }

    /// A probe JSON file (e.g. `theory_summary.json`).
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), RunFolderError> {
        check_probe_name(name, ".json")?;
        Ok(write_json(&self.dir.join(name), value)?)
    }

    /// `summary.json`, written last: its presence means every other file is complete.
    pub fn write_summary(&self, summary: &RunSummary) -> Result<(), RunFolderError> {
        Ok(write_json(&self.dir.join(SUMMARY_FILE), summary)?)
    }

    /// Everything of a run held in memory (the app's export).
    pub fn write_all(&self, run: &RunData) -> Result<(), RunFolderError> {
        write_files(&self.dir, run)?;
        for (k, o) in run.overlays.iter().enumerate() {
            let sub = self
                .dir
                .join(OVERLAYS_DIR)
                .join(format!("{k}-{}", slug(&o.name)));
            std::fs::create_dir_all(&sub).map_err(|e| RunFolderError::io(&sub, e))?;
            write_files(&sub, &o.run)?;
            write_json(
                &sub.join(OVERLAY_FILE),
                &serde_json::json!({
                    "name": o.name,
                    "lr": o.run.config.as_ref().map(|c| c.lr),
                    "first_step": o.run.metrics.step.first(),
                }),
            )?;
        }
        if let Some(s) = &run.summary {
            self.write_summary(s)?;
        }
        Ok(())
    }
}

/// config.json, metrics.csv and the probe files of one run (no summary, no overlays).
fn write_files(dir: &Path, run: &RunData) -> Result<(), RunFolderError> {
    if run.config.is_some() || run.info.is_some() {
        write_config_file(dir, run.config.as_ref(), run.info.as_ref())?;
    }
    write_table_file(&dir.join(METRICS_FILE), &run.metrics.to_table())?;
    for (name, t) in &run.tables {
        check_probe_name(name, ".csv")?;
        write_table_file(&dir.join(name), t)?;
    }
    for (name, v) in &run.json {
        check_probe_name(name, ".json")?;
        write_json(&dir.join(name), v)?;
    }
    Ok(())
}

/// Write a whole run (the app's export) into `dir`, which must be new or empty (or is
/// cleared first with `overwrite`). NPZ files are the session's to write
/// ([`Session::write_params_npz`], named by [`params_file`]).
pub fn write_run(dir: &Path, run: &RunData, overwrite: bool) -> Result<(), RunFolderError> {
    RunFolder::create(dir, overwrite)?.write_all(run)
}

/// `metrics.csv`, one row per step, streamed (`metrics.csv.partial` until the run ends).
pub struct MetricsObserver {
    csv: Option<CsvWriter>,
    neigs: usize,
}

impl MetricsObserver {
    pub fn create(path: &Path, neigs: usize) -> Result<Self, EngineError> {
        Ok(MetricsObserver {
            csv: Some(CsvWriter::create(path, &metrics::header(neigs))?),
            neigs,
        })
    }

    /// Append one record.
    pub fn write_record(&mut self, r: &StepRecord) -> Result<(), EngineError> {
        match self.csv.as_mut() {
            Some(csv) => Ok(csv.row(&metrics::row(r, self.neigs))?),
            None => Err(EngineError::Other(
                "metrics.csv was already completed".into(),
            )),
        }
    }

    /// Complete the file (rename `metrics.csv.partial` to `metrics.csv`).
    pub fn complete(&mut self) -> Result<(), EngineError> {
        match self.csv.take() {
            Some(csv) => Ok(csv.finish()?),
            None => Ok(()),
        }
    }
}

impl Observer for MetricsObserver {
    fn observe(&mut self, _s: &Session, r: &StepRecord) -> Result<(), EngineError> {
        self.write_record(r)
    }
    fn finish(&mut self, _s: &Session, _r: &StopReason) -> Result<(), EngineError> {
        self.complete()
    }
}

/// `params_step{N}.npz` at chosen steps (each written atomically).
pub struct ParamsSaver {
    dir: PathBuf,
    steps: SaveSteps,
}

impl ParamsSaver {
    pub fn new(dir: &Path, steps: SaveSteps) -> Self {
        ParamsSaver {
            dir: dir.to_path_buf(),
            steps,
        }
    }
}

impl Observer for ParamsSaver {
    fn observe(&mut self, s: &Session, r: &StepRecord) -> Result<(), EngineError> {
        if self.steps.contains(r.step) {
            s.write_params_npz(&self.dir.join(params_file(r.step)))?;
        }
        Ok(())
    }
}
