//! Following a run folder that another process is still writing (`eos-explorer run`, or a
//! Python script on a cluster whose folder is synced or mounted).
//!
//! [`TableTail`] remembers how far it has read a CSV file and, on each [`TableTail::poll`],
//! reads only the complete lines added since: a last line without its line end waits for it.
//! A poll first compares the file's size, modification time and identity (device and inode on
//! Unix) with the last poll's, so an unchanged file costs one `stat`. A file that shrank, was
//! replaced by another file under the same name, or whose first line or last-read bytes
//! changed is read again from the start, and the update says why. While `eos-explorer run`
//! writes, a table is `NAME.partial`; its rename to `NAME` at the end keeps the inode, so
//! reading continues where it was.
//!
//! [`RunFollower`] follows a whole folder: `metrics.csv` (typed rows, with the reader's rules),
//! probe tables (`*.csv`), `config.json` when it appears or changes, and `summary.json` (the
//! run ended). No new dependency: polling is cheap enough at a few polls per second.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::atomic::PARTIAL_SUFFIX;
use super::read::parse_metrics;
use super::table::{ReadWarning, TableFault, parse_table_lines};
use super::{
    CONFIG_FILE, MAX_JSON_BYTES, METRICS_FILE, Metrics, RunFolderError, SUMMARY_FILE, Table,
    config_file, read_regular_file,
};
use crate::engine::config::RunConfig;

use super::RunInfo;

/// Most bytes read in one poll (the rest follows at the next poll).
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;

/// Bytes before the read position compared at each poll (to notice a rewritten file).
const CHECK_BYTES: usize = 64;

/// What identifies a file's version cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: Option<SystemTime>,
    /// (device, inode) on Unix.
    id: Option<(u64, u64)>,
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        len: meta.len(),
        mtime: meta.modified().ok(),
        id: file_id(meta),
    }
}

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// New complete lines of a followed table.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// The file they came from (`NAME` or `NAME.partial`).
    pub path: PathBuf,
    /// The header line (without its line end).
    pub header: String,
    /// Complete lines (each ending in `\n`), possibly none.
    pub text: String,
    /// The 1-based line number of the first line of `text`.
    pub first_line: usize,
    /// The lines start after the header: the file was read from its start.
    pub from_start: bool,
    /// Why the file was read again from the start (it shrank, was replaced or rewritten);
    /// `None` on the first read.
    pub reload: Option<String>,
}

/// The outcome of one poll of a table.
#[derive(Clone, Debug, PartialEq)]
pub enum Tail {
    /// Nothing changed since the last poll (or only an unfinished line grew).
    Unchanged,
    /// Neither `NAME` nor `NAME.partial` exists (yet).
    Missing,
    New(Chunk),
}

/// Incremental reader of one CSV table of a run folder.
#[derive(Debug)]
pub struct TableTail {
    dir: PathBuf,
    name: String,
    path: Option<PathBuf>,
    seen: Option<Stamp>,
    /// The header line's bytes including its line end.
    header: Option<Vec<u8>>,
    /// Bytes consumed: through the last complete line.
    offset: u64,
    /// The 1-based number of the line at `offset`.
    next_line: usize,
    /// Up to [`CHECK_BYTES`] bytes just before `offset`.
    check: Vec<u8>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunFolderError + '_ {
    move |e| RunFolderError::io(path, e)
}

impl TableTail {
    /// Follow `dir/name` (or `dir/name.partial` while it is being written).
    pub fn new(dir: &Path, name: &str) -> Self {
        TableTail {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            path: None,
            seen: None,
            header: None,
            offset: 0,
            next_line: 1,
            check: Vec::new(),
        }
    }

    /// Whether the file read last was still `NAME.partial` (being written).
    pub fn is_partial(&self) -> bool {
        self.path
            .as_ref()
            .is_some_and(|p| p.to_string_lossy().ends_with(PARTIAL_SUFFIX))
    }

    /// Bytes read so far (through the last complete line).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn locate(&self) -> Option<(PathBuf, std::fs::Metadata)> {
        let final_path = self.dir.join(&self.name);
        let partial = self.dir.join(format!("{}{PARTIAL_SUFFIX}", self.name));
        [final_path, partial]
            .into_iter()
            .find_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m)))
    }

    fn restart(&mut self) {
        self.header = None;
        self.offset = 0;
        self.next_line = 1;
        self.check.clear();
    }

    /// Whether the bytes already read are still there (header and the bytes before `offset`).
    fn same_prefix(&self, f: &mut std::fs::File) -> std::io::Result<bool> {
        if let Some(h) = &self.header {
            let mut buf = vec![0u8; h.len()];
            f.seek(SeekFrom::Start(0))?;
            if f.read_exact(&mut buf).is_err() || &buf != h {
                return Ok(false);
            }
        }
        if !self.check.is_empty() {
            let mut buf = vec![0u8; self.check.len()];
            f.seek(SeekFrom::Start(self.offset - self.check.len() as u64))?;
            if f.read_exact(&mut buf).is_err() || buf != self.check {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Read what was added since the last poll.
    pub fn poll(&mut self) -> Result<Tail, RunFolderError> {
        let Some((path, meta)) = self.locate() else {
            return Ok(Tail::Missing);
        };
        if !meta.is_file() {
            return Err(RunFolderError::NotAFile {
                path,
                what: "not a regular file",
            });
        }
        let st = stamp(&meta);
        if self.seen == Some(st) && self.path.as_ref() == Some(&path) {
            return Ok(Tail::Unchanged);
        }
        let name = self.name.clone();
        let mut reload = None;
        let first = self.path.is_none();
        if let Some(old) = self.seen {
            if old.id.is_some() && st.id.is_some() && old.id != st.id {
                reload = Some(format!(
                    "{name} was replaced by a new file; read again from the start"
                ));
            } else if st.len < self.offset {
                reload = Some(format!(
                    "{name} shrank from {} to {} bytes; read again from the start",
                    self.offset, st.len
                ));
            }
        }
        let mut f = std::fs::File::open(&path).map_err(io(&path))?;
        if reload.is_none() && !first && !self.same_prefix(&mut f).map_err(io(&path))? {
            reload = Some(format!(
                "{name} was rewritten (its first line or last rows changed); read again from the start"
            ));
        }
        if reload.is_some() {
            self.restart();
        }
        let from_start = self.header.is_none();
        self.path = Some(path.clone());
        let want = (st.len.saturating_sub(self.offset)).min(MAX_CHUNK_BYTES);
        let mut buf = Vec::with_capacity(want as usize);
        f.seek(SeekFrom::Start(self.offset)).map_err(io(&path))?;
        (&mut f)
            .take(want)
            .read_to_end(&mut buf)
            .map_err(io(&path))?;
        let complete = self.offset + buf.len() as u64 >= st.len;
        // Only when everything up to the file's end was looked at is the stamp settled.
        self.seen = complete.then_some(st);
        let Some(end) = buf.iter().rposition(|b| *b == b'\n').map(|i| i + 1) else {
            return Ok(match reload {
                Some(r) => Tail::New(Chunk {
                    path,
                    header: String::new(),
                    text: String::new(),
                    first_line: 2,
                    from_start: true,
                    reload: Some(r),
                }),
                None => Tail::Unchanged,
            });
        };
        buf.truncate(end);
        let mut body = &buf[..];
        if self.header.is_none() {
            let h_end = buf.iter().position(|b| *b == b'\n').map_or(end, |i| i + 1);
            self.header = Some(buf[..h_end].to_vec());
            self.next_line = 2;
            body = &buf[h_end..];
        }
        let first_line = self.next_line;
        self.next_line += body.iter().filter(|b| **b == b'\n').count();
        self.offset += end as u64;
        let mut check: Vec<u8> = std::mem::take(&mut self.check);
        check.extend_from_slice(&buf);
        let drop = check.len().saturating_sub(CHECK_BYTES);
        check.drain(..drop);
        self.check = check;
        let header = self
            .header
            .as_deref()
            .map(|h| String::from_utf8_lossy(h).trim_end().to_string())
            .unwrap_or_default();
        Ok(Tail::New(Chunk {
            path,
            header,
            text: String::from_utf8_lossy(body).into_owned(),
            first_line,
            from_start,
            reload,
        }))
    }
}

/// New rows of a followed table: rows to append, or every row (replace what you hold).
#[derive(Clone, Debug, PartialEq)]
pub enum Rows<T> {
    Append(T),
    /// The file was read from its start (first read, or reloaded: `reason`).
    Replace {
        rows: T,
        reason: Option<String>,
    },
}

/// What changed in a followed folder since the last poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FollowUpdate {
    pub metrics: Option<Rows<Metrics>>,
    /// Probe tables by file name.
    pub tables: BTreeMap<String, Rows<Table>>,
    /// config.json appeared or changed: its configuration and information.
    pub config: Option<(Option<RunConfig>, Option<RunInfo>)>,
    /// `summary.json` appeared: the run ended.
    pub finished: bool,
    /// What was skipped (file, line, column).
    pub warnings: Vec<ReadWarning>,
}

impl FollowUpdate {
    pub fn is_empty(&self) -> bool {
        self.metrics.is_none()
            && self.tables.is_empty()
            && self.config.is_none()
            && !self.finished
            && self.warnings.is_empty()
    }
}

/// Follows a whole run folder (see the module documentation).
#[derive(Debug)]
pub struct RunFollower {
    dir: PathBuf,
    metrics: TableTail,
    tables: BTreeMap<String, TableTail>,
    config_seen: Option<Stamp>,
    finished: bool,
    /// The step of the last row delivered (to warn about steps going back across polls).
    last_step: Option<usize>,
}

/// A chunk as table text: the header line, then the chunk's lines.
fn chunk_text(c: &Chunk) -> String {
    format!("{}\n{}", c.header, c.text)
}

impl RunFollower {
    pub fn new(dir: &Path) -> Self {
        RunFollower {
            dir: dir.to_path_buf(),
            metrics: TableTail::new(dir, METRICS_FILE),
            tables: BTreeMap::new(),
            config_seen: None,
            finished: false,
            last_step: None,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `metrics.csv` is still being written (`metrics.csv.partial`).
    pub fn is_writing(&self) -> bool {
        self.metrics.is_partial()
    }

    /// Read what changed since the last poll. An error means `metrics.csv` cannot be read at
    /// all (a bad header, a folder in its place); faults in rows are warnings.
    pub fn poll(&mut self) -> Result<FollowUpdate, RunFolderError> {
        let mut u = FollowUpdate::default();
        if let Tail::New(c) = self.metrics.poll()? {
            if c.header.is_empty() {
                // Reloaded, and not even the header is back yet.
                u.metrics = Some(Rows::Replace {
                    rows: Metrics::default(),
                    reason: c.reload,
                });
            } else {
                let m = parse_metrics(
                    &c.path,
                    &chunk_text(&c),
                    c.first_line.saturating_sub(2),
                    &mut u.warnings,
                )?;
                if let (false, Some(prev), Some(&first)) =
                    (c.from_start, self.last_step, m.step.first())
                    && first <= prev
                {
                    u.warnings.push(ReadWarning {
                        file: c.path.clone(),
                        line: Some(c.first_line),
                        column: Some("step".into()),
                        message: format!("step {first} does not follow the previous row's; kept"),
                    });
                }
                if let Some(&l) = m.step.last() {
                    self.last_step = Some(l);
                } else if c.from_start {
                    self.last_step = None;
                }
                u.metrics = Some(if c.from_start {
                    Rows::Replace {
                        rows: m,
                        reason: c.reload,
                    }
                } else {
                    Rows::Append(m)
                });
            }
        }
        self.poll_tables(&mut u);
        self.poll_config(&mut u);
        if !self.finished && self.dir.join(SUMMARY_FILE).is_file() {
            self.finished = true;
            u.finished = true;
        }
        Ok(u)
    }

    fn poll_tables(&mut self, u: &mut FollowUpdate) {
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.filter_map(|e| e.ok()) {
                let n = e.file_name().to_string_lossy().into_owned();
                let n = n.strip_suffix(PARTIAL_SUFFIX).unwrap_or(&n).to_string();
                if n.ends_with(".csv") && n != METRICS_FILE && !n.starts_with('.') {
                    self.tables
                        .entry(n.clone())
                        .or_insert_with(|| TableTail::new(&self.dir, &n));
                }
            }
        }
        for (name, tail) in &mut self.tables {
            let c = match tail.poll() {
                Ok(Tail::New(c)) => c,
                Ok(Tail::Unchanged | Tail::Missing) => continue,
                Err(e) => {
                    u.warnings
                        .push(ReadWarning::file(&self.dir.join(name), e.to_string()));
                    continue;
                }
            };
            if c.header.is_empty() {
                continue;
            }
            let first = u.warnings.len();
            let parsed = parse_table_lines(&c.path, &chunk_text(&c), &mut u.warnings);
            for w in &mut u.warnings[first..] {
                if let Some(l) = &mut w.line {
                    *l += c.first_line.saturating_sub(2);
                }
            }
            match parsed {
                Ok((t, _)) => {
                    u.tables.insert(
                        name.clone(),
                        if c.from_start {
                            Rows::Replace {
                                rows: t,
                                reason: c.reload,
                            }
                        } else {
                            Rows::Append(t)
                        },
                    );
                }
                Err(TableFault::Empty) => {}
                Err(TableFault::BadHeader(m)) => u
                    .warnings
                    .push(ReadWarning::file(&c.path, format!("{m}; skipped"))),
            }
        }
    }

    fn poll_config(&mut self, u: &mut FollowUpdate) {
        let path = self.dir.join(CONFIG_FILE);
        let Ok(meta) = std::fs::metadata(&path) else {
            return;
        };
        let st = stamp(&meta);
        if self.config_seen == Some(st) {
            return;
        }
        self.config_seen = Some(st);
        match read_regular_file(&path, MAX_JSON_BYTES)
            .and_then(|b| config_file::parse(&path, &String::from_utf8_lossy(&b)))
        {
            Ok(f) => u.config = Some((f.config, f.info)),
            Err(e) => u.warnings.push(ReadWarning::file(
                &path,
                format!("{e}; the run is shown without its configuration"),
            )),
        }
    }
}
