//! Files that appear under their final name only when complete.
//!
//! Every file of a run folder is written to `NAME.partial` beside its final name, flushed,
//! fsynced and then renamed (an atomic replace on POSIX file systems); the folder itself is
//! fsynced after the rename so the new name survives a power cut. A process killed at any
//! moment therefore leaves complete files under final names and, at worst, a `*.partial`
//! file that says what it is.
//!
//! [`with_write_budget`] injects a full disk: files opened on this thread while it runs fail
//! with "no space left" once the budget of bytes is spent (used by the fault tests).

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::export::ExportError;

/// The suffix of a file being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

thread_local! {
    static BUDGET: RefCell<Option<Arc<AtomicU64>>> = const { RefCell::new(None) };
}

/// Run `f` with a budget of `bytes` for all files opened on this thread through this module:
/// once spent, writes fail as on a full disk. Returns what `f` returns.
pub fn with_write_budget<R>(bytes: u64, f: impl FnOnce() -> R) -> R {
    let previous = BUDGET.with(|b| b.replace(Some(Arc::new(AtomicU64::new(bytes)))));
    let r = f();
    BUDGET.with(|b| *b.borrow_mut() = previous);
    r
}

/// A file handle that honours the thread's write budget (if any).
pub(crate) struct Sink {
    file: File,
    budget: Option<Arc<AtomicU64>>,
}

impl Sink {
    fn new(file: File) -> Self {
        Sink {
            file,
            budget: BUDGET.with(|b| b.borrow().clone()),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(budget) = &self.budget else {
            return self.file.write(buf);
        };
        let left = budget.load(Ordering::Relaxed);
        if left == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (injected write budget)",
            ));
        }
        let n = (buf.len() as u64).min(left) as usize;
        let written = self.file.write(&buf[..n])?;
        budget.fetch_sub(written as u64, Ordering::Relaxed);
        Ok(written)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Sink {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// `dir/NAME` → `dir/NAME.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(PARTIAL_SUFFIX);
    path.with_file_name(name)
}

/// fsync a folder so a rename inside it is durable (best effort: not every platform can
/// open a folder for syncing).
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// A file written under `NAME.partial` and renamed to `NAME` by [`AtomicFile::commit`].
/// Dropped without a commit, the partial file is removed (unless [`AtomicFile::keep_partial`]).
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    w: Option<BufWriter<Sink>>,
    failed: bool,
    keep_partial: bool,
    /// The first I/O error, for writers (zip) that replace it with their own message.
    first_error: Arc<Mutex<Option<String>>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self, ExportError> {
        let tmp = partial_path(path);
        let file = File::create(&tmp).map_err(|e| ExportError::io(path, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            w: Some(BufWriter::new(Sink::new(file))),
            failed: false,
            keep_partial: false,
            first_error: Arc::new(Mutex::new(None)),
        })
    }

    /// Keep `NAME.partial` if the file is dropped uncommitted (streamed tables: the rows
    /// written before a failure stay readable under the partial name).
    pub fn keep_partial(mut self) -> Self {
        self.keep_partial = true;
        self
    }

    /// The final name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the first I/O error's text is kept (shared, so a wrapper can report it).
    pub fn error_slot(&self) -> Arc<Mutex<Option<String>>> {
        self.first_error.clone()
    }

    fn note(&mut self, e: &io::Error) {
        self.failed = true;
        if let Ok(mut g) = self.first_error.lock()
            && g.is_none()
        {
            *g = Some(e.to_string());
        }
    }

    /// Whether a write has failed (the file will never be committed).
    pub fn failed(&self) -> bool {
        self.failed
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<Sink>> {
        self.w
            .as_mut()
            .ok_or_else(|| io::Error::other("the file was already committed"))
    }

    /// Write bytes; an error names the final file.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        let r = self.writer().and_then(|w| w.write_all(bytes));
        self.check(r)
    }

    /// Push buffered bytes to the partial file (so it can be followed while the run goes on).
    pub fn flush_buffer(&mut self) -> Result<(), ExportError> {
        let r = self.writer().and_then(|w| w.flush());
        self.check(r)
    }

    fn check<T>(&mut self, r: io::Result<T>) -> Result<T, ExportError> {
        r.map_err(|e| {
            self.note(&e);
            ExportError::io(&self.path, e)
        })
    }

    /// Flush, fsync, rename to the final name, fsync the folder.
    pub fn commit(mut self) -> Result<(), ExportError> {
        self.commit_in_place()
    }

    pub(crate) fn commit_in_place(&mut self) -> Result<(), ExportError> {
        if self.failed {
            return Err(ExportError::Format {
                path: self.path.clone(),
                message: "an earlier write failed; the file was not completed".into(),
            });
        }
        let Some(w) = self.w.take() else {
            return Ok(());
        };
        let r = w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|sink| sink.file.sync_all());
        if let Err(e) = r {
            self.failed = true;
            return Err(ExportError::io(&self.path, e));
        }
        std::fs::rename(&self.tmp, &self.path).map_err(|e| {
            self.failed = true;
            ExportError::io(&self.path, e)
        })?;
        if let Some(dir) = self.path.parent() {
            sync_dir(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            });
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.writer().and_then(|w| w.write(buf));
        if let Err(e) = &r {
            self.note(e);
        }
        r
    }
    fn flush(&mut self) -> io::Result<()> {
        let r = self.writer().and_then(|w| w.flush());
        if let Err(e) = &r {
            self.note(e);
        }
        r
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let r = self.writer().and_then(|w| w.seek(pos));
        if let Err(e) = &r {
            self.note(e);
        }
        r
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.w.take().is_some() && !self.keep_partial {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write a whole file atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut f = AtomicFile::create(path)?;
    f.put(bytes)?;
    f.commit()
}
