//! Writing results: CSV tables, JSON configs and NPZ arrays (NumPy's format, via `ndarray-npy`).
//!
//! Every file is written as a transaction ([`crate::engine::run_folder::atomic`]): under
//! `NAME.partial` first, then flushed, fsynced and renamed, so no file under its final name is
//! ever truncated, whatever happens to the process or the disk.

use std::path::{Path, PathBuf};

use ndarray::{ArrayBase, Data, Dimension};
use ndarray_npy::{NpzWriter, WritableElement};
use serde::Serialize;

use super::run_folder::atomic::AtomicFile;
use super::run_folder::table::{format_cell_as, is_integer_column};

/// A failure to write an output file; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {message}")]
    Format { path: PathBuf, message: String },
}

impl ExportError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ExportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Create a directory (and parents), with an error that names it.
pub fn create_dir(dir: &Path) -> Result<(), ExportError> {
    std::fs::create_dir_all(dir).map_err(|e| ExportError::io(dir, e))
}

/// Pretty-printed JSON, written atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ExportError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| ExportError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    super::run_folder::atomic::write_atomic(path, &bytes)
}

/// A CSV file written row by row. Rows go to `NAME.partial` (flushed on every row, so it can
/// be followed during a run); [`CsvWriter::finish`] (or dropping the writer after no failed
/// write) renames it to `NAME`. Cells are numbers or empty; columns with a known integer name
/// (`step`, `t`, `anchor`, `hvps`, see [`is_integer_column`]) are written as integers.
pub struct CsvWriter {
    file: Option<AtomicFile>,
    path: PathBuf,
    integer: Vec<bool>,
}

impl CsvWriter {
    pub fn create(path: &Path, header: &[String]) -> Result<Self, ExportError> {
        let file = AtomicFile::create(path)?.keep_partial();
        let mut w = CsvWriter {
            file: Some(file),
            path: path.to_path_buf(),
            integer: header.iter().map(|h| is_integer_column(h)).collect(),
        };
        let line = header.join(",");
        w.line(&line)?;
        Ok(w)
    }

    fn line(&mut self, line: &str) -> Result<(), ExportError> {
        let Some(f) = self.file.as_mut() else {
            return Err(ExportError::Format {
                path: self.path.clone(),
                message: "the table was already finished".into(),
            });
        };
        f.put(line.as_bytes())?;
        f.put(b"\n")?;
        f.flush_buffer()
    }

    /// One row; `None` is written as an empty cell. Numbers use Rust's shortest round-trip
    /// formatting, so a reader gets back exactly the `f64` that was written.
    pub fn row(&mut self, cells: &[Option<f64>]) -> Result<(), ExportError> {
        if cells.len() != self.integer.len() {
            return Err(ExportError::Format {
                path: self.path.clone(),
                message: format!(
                    "row has {} cells, header has {}",
                    cells.len(),
                    self.integer.len()
                ),
            });
        }
        let line = cells
            .iter()
            .zip(&self.integer)
            .map(|(c, int)| c.map(|x| format_cell_as(x, *int)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",");
        self.line(&line)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Complete the file: fsync and rename `NAME.partial` to `NAME`.
    pub fn finish(mut self) -> Result<(), ExportError> {
        match self.file.take() {
            Some(f) => f.commit(),
            None => Ok(()),
        }
    }
}

impl Drop for CsvWriter {
    /// A writer dropped without [`CsvWriter::finish`] still completes its file (every row
    /// written so far is whole) unless a write failed; then only `NAME.partial` remains.
    fn drop(&mut self) {
        if let Some(f) = self.file.as_mut()
            && !f.failed()
        {
            let _ = f.commit_in_place();
        }
    }
}

/// Shortest round-trip text for a number (`nan`, `inf`, `-inf` for non-finite values).
pub fn format_cell(x: f64) -> String {
    format_cell_as(x, false)
}

/// A compressed `.npz` archive written array by array; it appears under its name only after
/// [`NpzFile::finish`].
pub struct NpzFile {
    path: PathBuf,
    writer: NpzWriter<AtomicFile>,
    io_error: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl NpzFile {
    pub fn create(path: &Path) -> Result<Self, ExportError> {
        let file = AtomicFile::create(path)?;
        let io_error = file.error_slot();
        Ok(NpzFile {
            path: path.to_path_buf(),
            writer: NpzWriter::new_compressed(file),
            io_error,
        })
    }

    pub fn add<A, S, D>(&mut self, name: &str, array: &ArrayBase<S, D>) -> Result<(), ExportError>
    where
        A: WritableElement,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let r = self.writer.add_array(name, array);
        r.map_err(|e| self.error(format!("array {name}: {e}")))
    }

    /// The zip writer hides the I/O error behind "i/o error"; name the real cause.
    fn error(&self, fallback: String) -> ExportError {
        let io = self.io_error.lock().ok().and_then(|g| g.clone());
        ExportError::Format {
            path: self.path.clone(),
            message: io.unwrap_or(fallback),
        }
    }

    pub fn finish(self) -> Result<(), ExportError> {
        let NpzFile {
            path,
            writer,
            io_error,
        } = self;
        let file = writer.finish().map_err(|e| {
            let io = io_error.lock().ok().and_then(|g| g.clone());
            ExportError::Format {
                path,
                message: io.unwrap_or_else(|| e.to_string()),
            }
        })?;
        file.commit()
    }
}

/// Which steps to save something at: an explicit list (`0,100,500`) or every N steps
/// (`every:100`, which includes step 0).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaveSteps {
    List(Vec<usize>),
    Every(usize),
}

impl SaveSteps {
    /// Whether `step` is one of the chosen steps.
    pub fn contains(&self, step: usize) -> bool {
        match self {
            SaveSteps::List(v) => v.contains(&step),
            SaveSteps::Every(k) => *k > 0 && step.is_multiple_of(*k),
        }
    }
}

impl std::fmt::Display for SaveSteps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveSteps::List(v) => {
                let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                write!(f, "{}", s.join(","))
            }
            SaveSteps::Every(k) => write!(f, "every:{k}"),
        }
    }
}

/// Parse `0,100,500` (a comma-separated list of step numbers, sorted and deduplicated) or
/// `every:100` (every 100 steps, starting at 0; the period must be ≥ 1).
pub fn parse_save_steps(s: &str) -> Result<SaveSteps, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty step list: expected e.g. `0,100,500` or `every:100`".into());
    }
    if let Some(rest) = s.strip_prefix("every:") {
        let rest = rest.trim();
        let k: usize = rest.parse().map_err(|_| {
            format!("`every:{rest}`: the period must be a whole number ≥ 1, e.g. `every:100`")
        })?;
        if k == 0 {
            return Err("`every:0`: the period must be ≥ 1".into());
        }
        return Ok(SaveSteps::Every(k));
    }
    let mut steps = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        if p.is_empty() {
            return Err(format!(
                "`{s}`: empty entry in the step list (expected e.g. `0,100,500` or `every:100`)"
            ));
        }
        let v: usize = p.parse().map_err(|_| {
            format!("`{p}` is not a step number (expected e.g. `0,100,500` or `every:100`)")
        })?;
        steps.push(v);
    }
    steps.sort_unstable();
    steps.dedup();
    Ok(SaveSteps::List(steps))
}

impl std::str::FromStr for SaveSteps {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_save_steps(s)
    }
}
