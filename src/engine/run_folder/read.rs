//! Reading a run folder back: everything valid is kept, everything skipped is listed.

use std::path::Path;

use super::atomic::PARTIAL_SUFFIX;
use super::metrics::{Column, Known, Metrics};
use super::table::{ReadWarning, TableFault, parse_table, parse_table_lines};
use super::{
    CONFIG_FILE, DATA_FILE, MAX_JSON_BYTES, MAX_TABLE_BYTES, METRICS_FILE, OVERLAY_FILE,
    OVERLAYS_DIR, Overlay, RunData, RunFolderError, RunSummary, SUMMARY_FILE, config_file,
    params_step_of, read_regular_file,
};

/// A run read back, with what was skipped.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub run: RunData,
    /// Precise notes of what was skipped (file, line, column); empty for a clean folder.
    pub warnings: Vec<ReadWarning>,
}

/// Load a run folder: `metrics.csv` (required, with a `step` column), and whatever else is
/// there (config.json, summary.json, probe tables and JSON, NPZ names, overlays). Faults in
/// optional parts become warnings; only a missing or unreadable `metrics.csv` is an error.
pub fn read_run(dir: &Path) -> Result<Loaded, RunFolderError> {
    let mut warnings = Vec::new();
    let run = read_dir_run(dir, &mut warnings, true)?;
    Ok(Loaded { run, warnings })
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_metrics(dir: &Path, warnings: &mut Vec<ReadWarning>) -> Result<Metrics, RunFolderError> {
    let path = dir.join(METRICS_FILE);
    if !path.exists() {
        return Err(RunFolderError::NoMetrics {
            dir: dir.to_path_buf(),
        });
    }
    let text = text_of(&read_regular_file(&path, MAX_TABLE_BYTES)?);
    parse_metrics(&path, &text, 0, warnings)
}

/// `metrics.csv` from its text: the header and rows, with the `step` rules. `line_offset` is
/// added to every line number (for a text that starts further down a file).
pub(super) fn parse_metrics(
    path: &Path,
    text: &str,
    line_offset: usize,
    warnings: &mut Vec<ReadWarning>,
) -> Result<Metrics, RunFolderError> {
    let path = path.to_path_buf();
    let first = warnings.len();
    let bad = |message: String| RunFolderError::BadMetrics {
        path: path.clone(),
        message,
    };
    let (table, lines) = parse_table_lines(&path, text, warnings).map_err(|f| match f {
        TableFault::Empty => bad("the file is empty; it needs a header line with `step`".into()),
        TableFault::BadHeader(m) => bad(m),
    })?;
    let lines: Vec<usize> = lines.into_iter().map(|l| l + line_offset).collect();
    for w in &mut warnings[first..] {
        if let Some(l) = &mut w.line {
            *l += line_offset;
        }
    }
    let Some(si) = table.index("step") else {
        return Err(bad(format!(
            "no `step` column (the header is `{}`); the first line must name the columns, one of them `step`",
            table.header.join(",")
        )));
    };
    let mut m = Metrics {
        step: Vec::new(),
        columns: table
            .header
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != si)
            .map(|(_, name)| Column {
                name: name.clone(),
                known: Known::parse(name),
                values: Vec::new(),
            })
            .collect(),
    };
    for (row, line) in table.rows.iter().zip(lines) {
        let step = match row[si] {
            Some(v) if v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 => v as usize,
            other => {
                warnings.push(ReadWarning {
                    file: path.clone(),
                    line: Some(line),
                    column: Some("step".into()),
                    message: match other {
                        None => "no step number; row skipped".into(),
                        Some(v) => format!("step {v} is not a whole number ≥ 0; row skipped"),
                    },
                });
                continue;
            }
        };
        if m.step.last().is_some_and(|l| *l >= step) {
            warnings.push(ReadWarning {
                file: path.clone(),
                line: Some(line),
                column: Some("step".into()),
                message: format!("step {step} does not follow the previous row's; kept"),
            });
        }
        m.step.push(step);
        let mut c = 0;
        for (i, cell) in row.iter().enumerate() {
            if i != si {
                m.columns[c].values.push(*cell);
                c += 1;
            }
        }
    }
    Ok(m)
}

fn read_json(path: &Path, warnings: &mut Vec<ReadWarning>) -> Option<serde_json::Value> {
    match read_regular_file(path, MAX_JSON_BYTES) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(v) => Some(v),
            Err(e) => {
                warnings.push(ReadWarning {
                    file: path.to_path_buf(),
                    line: (e.line() > 0).then_some(e.line()),
                    column: None,
                    message: format!("not valid JSON ({e}); skipped"),
                });
                None
            }
        },
        Err(e) => {
            warnings.push(ReadWarning::file(path, format!("{e}; skipped")));
            None
        }
    }
}

/// Whether an NPZ archive opens (its index is complete).
fn npz_ok(path: &Path) -> Result<(), String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut r = ndarray_npy::NpzReader::new(f).map_err(|e| e.to_string())?;
    r.names().map(|_| ()).map_err(|e| e.to_string())
}

fn read_dir_run(
    dir: &Path,
    warnings: &mut Vec<ReadWarning>,
    top: bool,
) -> Result<RunData, RunFolderError> {
    let mut run = RunData {
        metrics: read_metrics(dir, warnings)?,
        ..RunData::default()
    };
    let cp = dir.join(CONFIG_FILE);
    if cp.exists() {
        match read_regular_file(&cp, MAX_JSON_BYTES)
            .and_then(|b| config_file::parse(&cp, &text_of(&b)))
        {
            Ok(f) => {
                run.format_version = f.format_version;
                run.config = f.config;
                run.info = f.info;
            }
            Err(e) => warnings.push(ReadWarning::file(
                &cp,
                format!("{e}; the run is loaded without its configuration"),
            )),
        }
    }
    let sp = dir.join(SUMMARY_FILE);
    if sp.exists()
        && let Some(v) = read_json(&sp, warnings)
    {
        match serde_json::from_value::<RunSummary>(v) {
            Ok(s) => run.summary = Some(s),
            Err(e) => warnings.push(ReadWarning::file(&sp, format!("{e}; skipped"))),
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| RunFolderError::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        if name.starts_with('.') {
            continue;
        }
        if name.ends_with(PARTIAL_SUFFIX) {
            warnings.push(ReadWarning::file(
                &path,
                "an incomplete file left by an interrupted write; ignored",
            ));
        } else if [CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, OVERLAY_FILE].contains(&name.as_str()) {
        } else if let Some(step) = params_step_of(&name) {
            match npz_ok(&path) {
                Ok(()) => run.params_steps.push(step),
                Err(e) => warnings.push(ReadWarning::file(&path, format!("{e}; skipped"))),
            }
        } else if name == DATA_FILE {
            match npz_ok(&path) {
                Ok(()) => run.has_data = true,
                Err(e) => warnings.push(ReadWarning::file(&path, format!("{e}; skipped"))),
            }
        } else if name.ends_with(".csv") {
            let t = read_regular_file(&path, MAX_TABLE_BYTES)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    parse_table(&path, &text_of(&b), warnings).map_err(|f| match f {
                        TableFault::Empty => "empty file".to_string(),
                        TableFault::BadHeader(m) => m,
                    })
                });
            match t {
                Ok(t) => {
                    run.tables.insert(name, t);
                }
                Err(e) => warnings.push(ReadWarning::file(&path, format!("{e}; skipped"))),
            }
        } else if name.ends_with(".json") {
            if let Some(v) = read_json(&path, warnings) {
                run.json.insert(name, v);
            }
        } else if name == OVERLAYS_DIR && top && path.is_dir() {
            run.overlays = read_overlays(&path, warnings)?;
        }
    }
    run.params_steps.sort_unstable();
    Ok(run)
}

fn read_overlays(
    dir: &Path,
    warnings: &mut Vec<ReadWarning>,
) -> Result<Vec<Overlay>, RunFolderError> {
    let mut subs: Vec<(usize, String)> = std::fs::read_dir(dir)
        .map_err(|e| RunFolderError::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let k = name
                .split('-')
                .next()
                .and_then(|k| k.parse().ok())
                .unwrap_or(usize::MAX);
            (k, name)
        })
        .collect();
    subs.sort();
    let mut out = Vec::new();
    for (_, name) in subs {
        let sub = dir.join(&name);
        match read_dir_run(&sub, warnings, false) {
            Ok(mut run) => {
                let legend = run
                    .json
                    .remove(OVERLAY_FILE)
                    .or_else(|| {
                        let p = sub.join(OVERLAY_FILE);
                        p.exists().then(|| read_json(&p, warnings)).flatten()
                    })
                    .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(String::from))
                    .unwrap_or_else(|| name.clone());
                out.push(Overlay { name: legend, run });
            }
            Err(e) => warnings.push(ReadWarning::file(&sub, format!("{e}; overlay skipped"))),
        }
    }
    Ok(out)
}
