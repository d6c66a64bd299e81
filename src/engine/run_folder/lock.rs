//! One writer per run folder: a lock file held for the run's life, the refusal of a folder
//! that already holds files, and default folder names that never collide.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{LOCK_FILE, RunFolderError};

/// Whether a process with this id is running (Linux: `/proc/PID`; elsewhere assumed alive).
fn pid_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// The lock of a run folder, released (the file removed) when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Take the lock of `dir` (which must exist). A lock left by a process that no longer
    /// runs is stale and taken over; a live one is refused with its pid.
    pub fn acquire(dir: &Path) -> Result<RunLock, RunFolderError> {
        let path = dir.join(LOCK_FILE);
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let r = writeln!(f, "{}", std::process::id()).and_then(|_| f.sync_all());
                    if let Err(e) = r {
                        let _ = std::fs::remove_file(&path);
                        return Err(RunFolderError::io(&path, e));
                    }
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match text.trim().parse::<u32>() {
                        Ok(pid) if pid == std::process::id() || pid_alive(pid) => {
                            return Err(RunFolderError::Locked {
                                dir: dir.to_path_buf(),
                                pid,
                            });
                        }
                        // Stale (dead pid) or unreadable (a holder killed while writing
                        // its pid): take it over.
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(RunFolderError::io(&path, e)),
            }
        }
        Err(RunFolderError::io(
            &path,
            std::io::Error::other("the lock changed hands repeatedly; try again"),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The entries of `dir` other than the lock file.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, RunFolderError> {
    let rd = std::fs::read_dir(dir).map_err(|e| RunFolderError::io(dir, e))?;
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| RunFolderError::io(dir, e))?;
        if e.file_name() != LOCK_FILE {
            v.push(e.path());
        }
    }
    v.sort();
    Ok(v)
}

/// Whether a folder looks like a run folder (so `--overwrite` may clear it).
fn looks_like_run(entries: &[PathBuf]) -> bool {
    entries.iter().all(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name == "overlays"
            || name.ends_with(".csv")
            || name.ends_with(".json")
            || name.ends_with(".npz")
            || name.ends_with(super::atomic::PARTIAL_SUFFIX)
    })
}

/// Make `dir` ready for a new run and lock it: created if missing; refused when it holds
/// files unless `overwrite`, which clears it first (only if everything in it is a run
/// folder's file: `*.csv`, `*.json`, `*.npz`, `*.partial`, `overlays/`).
pub fn prepare(dir: &Path, overwrite: bool) -> Result<RunLock, RunFolderError> {
    std::fs::create_dir_all(dir).map_err(|e| RunFolderError::io(dir, e))?;
    let lock = RunLock::acquire(dir)?;
    let found = entries(dir)?;
    if found.is_empty() {
        return Ok(lock);
    }
    if !overwrite {
        return Err(RunFolderError::NotEmpty {
            dir: dir.to_path_buf(),
            entries: found.len(),
        });
    }
    if !looks_like_run(&found) {
        return Err(RunFolderError::NotARunFolder {
            dir: dir.to_path_buf(),
        });
    }
    for p in found {
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|e| RunFolderError::io(&p, e))?;
    }
    Ok(lock)
}

/// A new folder `parent/STEM-UNIXTIME` (then `-2`, `-3`, … if taken), created atomically so
/// two runs started in the same second never share it.
pub fn create_unique(parent: &Path, stem: &str) -> Result<PathBuf, RunFolderError> {
    std::fs::create_dir_all(parent).map_err(|e| RunFolderError::io(parent, e))?;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for k in 1..10_000u32 {
        let name = if k == 1 {
            format!("{stem}-{t}")
        } else {
            format!("{stem}-{t}-{k}")
        };
        let p = parent.join(name);
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(RunFolderError::io(&p, e)),
        }
    }
    Err(RunFolderError::io(
        parent,
        std::io::Error::other("no free folder name (10,000 runs this second)"),
    ))
}
