//! The run folder: a CLI-style streamed run and an app-style whole export of the same records
//! read back equal; bit-exact round trips; faulty folders load what is valid with precise
//! warnings; a corrupted or truncated folder never panics the reader; a full disk leaves no
//! corrupt final-name file; the lock, the refusal of a non-empty folder, unique names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use eos_explorer::engine::Precision;
use eos_explorer::engine::config::RunConfig;
use eos_explorer::engine::data::DatasetSpec;
use eos_explorer::engine::error::EngineError;
use eos_explorer::engine::export::SaveSteps;
use eos_explorer::engine::run_folder::{
    self, Known, Overlay, RunData, RunFolder, RunFolderError, RunInfo, RunSummary, Table, read_run,
    with_write_budget, write_run,
};
use eos_explorer::engine::session::{Cadence, Observer, Runner, Session, StepRecord, StopReason};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-rf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn small() -> RunConfig {
    RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 120,
            n_test: 60,
        },
        hidden: vec![12],
        lr: 0.5,
        max_steps: 8,
        eig_every: 2,
        neigs: 2,
        test_every: 3,
        threads: 1,
        chunk_rows: 64,
        precision: Precision::F32,
        ..RunConfig::default()
    }
}

struct Keep(Arc<Mutex<Vec<StepRecord>>>);
impl Observer for Keep {
    fn observe(&mut self, _s: &Session, r: &StepRecord) -> Result<(), EngineError> {
        if let Ok(mut g) = self.0.lock() {
            g.push(r.clone());
        }
        Ok(())
    }
}

fn info_of(s: &Session) -> RunInfo {
    RunInfo {
        program: "eos-explorer".into(),
        network: s.spec().describe(),
        parameters: s.num_params(),
        ..RunInfo::default()
    }
}

/// A streamed run the way the CLI writes it; returns the records and the stop reason.
fn stream_run(
    cfg: &RunConfig,
    dir: &Path,
    params: Option<SaveSteps>,
) -> Result<(Vec<StepRecord>, RunInfo, StopReason), Box<dyn std::error::Error>> {
    let (session, _) = Session::from_config(cfg)?;
    let folder = RunFolder::create(dir, false)?;
    let info = info_of(&session);
    folder.write_config(Some(cfg), Some(&info))?;
    let mut runner = Runner::new(session);
    runner.add_observer(Cadence::Every(1), Box::new(folder.metrics(cfg.neigs)?));
    if let Some(p) = params {
        runner.add_observer(Cadence::Every(1), Box::new(folder.params_saver(p)));
    }
    let recs = Arc::new(Mutex::new(Vec::new()));
    runner.add_observer(Cadence::Every(1), Box::new(Keep(recs.clone())));
    let outcome = runner.run()?;
    drop(runner);
    folder.write_summary(&RunSummary {
        outcome: serde_json::to_value(&outcome)?,
        message: outcome.to_string(),
        ..RunSummary::default()
    })?;
    let recs = recs.lock().map(|g| g.clone()).unwrap_or_default();
    Ok((recs, info, outcome))
}

#[test]
fn cli_stream_and_app_export_of_the_same_run_read_back_equal() {
    let cfg = small();
    let a = tmp("cli");
    let (recs, info, outcome) = stream_run(&cfg, &a, None).expect("streamed run");
    assert_eq!(outcome, StopReason::MaxSteps { steps: 8 });

    // The app holds the same records in memory and exports them whole.
    let b = tmp("app");
    let mut app = RunData::from_records(Some(cfg.clone()), &recs, cfg.neigs);
    app.info = Some(info);
    app.summary = Some(RunSummary {
        outcome: serde_json::to_value(&outcome).expect("json"),
        message: outcome.to_string(),
        ..RunSummary::default()
    });
    write_run(&b, &app, false).expect("export");

    let ra = read_run(&a).expect("read cli");
    let rb = read_run(&b).expect("read app");
    assert!(ra.warnings.is_empty(), "{:?}", ra.warnings);
    assert!(rb.warnings.is_empty(), "{:?}", rb.warnings);
    assert_eq!(ra.run, rb.run);
    assert_eq!(ra.run, app, "what was written is what is read");
    // The same bytes, too (one per-file writer).
    for f in ["metrics.csv", "config.json", "summary.json"] {
        assert_eq!(
            std::fs::read(a.join(f)).expect("a"),
            std::fs::read(b.join(f)).expect("b"),
            "{f} differs"
        );
    }
    // Integers as integers; the records come back bit-exact.
    let text = std::fs::read_to_string(a.join("metrics.csv")).expect("csv");
    assert!(
        text.lines().nth(1).is_some_and(|l| l.starts_with("0,")),
        "{text}"
    );
    assert!(!text.contains("\n1.0,"));
    let back = ra.run.metrics.to_records();
    assert_eq!(back.len(), recs.len());
    for (x, y) in back.iter().zip(&recs) {
        assert_eq!(format!("{x:?}"), format!("{y:?}"));
        assert_eq!(x.train_loss.to_bits(), y.train_loss.to_bits());
    }
    assert_eq!(ra.run.format_version, run_folder::FORMAT_VERSION);
    assert_eq!(ra.run.config.as_ref(), Some(&cfg));
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}

#[test]
fn awkward_numbers_overlays_and_probe_tables_round_trip_bit_exactly() {
    let vals = [
        0.1f64,
        -0.0,
        f64::MIN_POSITIVE / 3.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1.0 / 3.0,
        f32::MAX as f64,
        0.1f32 as f64,
        1e300,
    ];
    let mut run = RunData::default();
    run.metrics.step = (0..vals.len()).collect();
    run.metrics.columns.push(run_folder::Column {
        name: "my_metric".into(),
        known: None,
        values: vals.iter().map(|v| Some(*v)).collect(),
    });
    run.metrics.columns.push(run_folder::Column {
        name: "train_loss".into(),
        known: Some(Known::TrainLoss),
        values: vals.iter().rev().map(|v| Some(*v)).collect(),
    });
    let mut t = Table::new(vec!["t".into(), "x".into()]);
    t.rows = vec![vec![Some(0.0), Some(0.25)], vec![Some(1.0), None]];
    run.tables.insert("central_flow.csv".into(), t);
    run.json.insert(
        "probe_summary.json".into(),
        serde_json::json!({"ok": true, "value": 1.5}),
    );
    let overlay = RunData::from_records(Some(small()), &[], 1);
    run.overlays.push(Overlay {
        name: "branch @ 120, η = 0.05".into(),
        run: overlay,
    });
    let dir = tmp("awkward");
    write_run(&dir, &run, false).expect("write");
    assert!(
        dir.join("overlays/0-branch-120-eta-0.05/metrics.csv")
            .is_file()
    );
    let back = read_run(&dir).expect("read");
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    let mut want = run.clone();
    want.format_version = 0; // no config.json at the top: written by "another program"
    assert_eq!(back.run, want);
    let text = std::fs::read_to_string(dir.join("central_flow.csv")).expect("csv");
    assert_eq!(text, "t,x\n0,0.25\n1,\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_python_style_folder_loads_with_defaults() {
    let dir = tmp("python");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("metrics.csv"),
        "step,train_loss,lambda_1,my_probe\r\n0,1.5,NaN,3\r\n1,1.25,,4\r\n",
    )
    .expect("write");
    let l = read_run(&dir).expect("read");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert!(l.run.config.is_none());
    assert_eq!(l.run.metrics.step, vec![0, 1]);
    let recs = l.run.metrics.to_records();
    assert_eq!(recs[1].train_loss, 1.25);
    assert!(recs[0].lr.is_nan());
    assert_eq!(recs[1].eigs, None);
    let probe = l.run.metrics.column("my_probe").expect("kept by name");
    assert_eq!(probe.known, None);
    assert_eq!(probe.values, vec![Some(3.0), Some(4.0)]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn faults_load_what_is_valid_and_say_where() {
    let dir = tmp("faults");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("metrics.csv"),
        "step,train_loss,lr\n0,1.0,0.1\n1,zz,0.1\n2,0.5\n3,0.4,0.1\nx,0.3,0.1\n5,0.2,0.",
    )
    .expect("write");
    std::fs::write(dir.join("config.json"), "{\"config\": {\"lr\": 0.1}").expect("write");
    std::fs::write(dir.join("params_step3.npz"), b"PK\x03\x04 truncated").expect("write");
    std::fs::write(dir.join("theory.csv.partial"), "t,x\n0,1").expect("write");
    let l = read_run(&dir).expect("loads");
    assert_eq!(l.run.metrics.step, vec![0, 1, 3]);
    let loss = &l.run.metrics.column("train_loss").expect("col").values;
    assert_eq!(loss, &vec![Some(1.0), None, Some(0.4)]);
    let says = |file: &str, line: Option<usize>, col: Option<&str>| {
        l.warnings
            .iter()
            .any(|w| w.file.ends_with(file) && w.line == line && w.column.as_deref() == col)
    };
    assert!(
        says("metrics.csv", Some(3), Some("train_loss")),
        "{:?}",
        l.warnings
    );
    assert!(says("metrics.csv", Some(4), None), "wrong cell count");
    assert!(says("metrics.csv", Some(6), Some("step")), "bad step");
    assert!(says("metrics.csv", Some(7), None), "truncated last line");
    assert!(says("config.json", None, None));
    assert!(says("params_step3.npz", None, None));
    assert!(says("theory.csv.partial", None, None));
    assert!(l.run.config.is_none() && l.run.params_steps.is_empty());
    for w in &l.warnings {
        assert!(!w.to_string().is_empty());
    }

    // Fatal faults name the file and what to do.
    std::fs::write(dir.join("metrics.csv"), "train_loss\n1.0\n").expect("write");
    let e = read_run(&dir).expect_err("no step").to_string();
    assert!(e.contains("metrics.csv") && e.contains("`step`"), "{e}");
    std::fs::remove_file(dir.join("metrics.csv")).expect("rm");
    let e = read_run(&dir).expect_err("no metrics");
    assert!(matches!(e, RunFolderError::NoMetrics { .. }), "{e}");
    assert!(e.to_string().contains("docs/run-format.md"));
    let _ = std::fs::remove_dir_all(dir);
}

/// A small deterministic generator for the fuzz loop.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn truncated_and_corrupted_folders_never_panic_the_reader() {
    let src = tmp("fuzz-src");
    stream_run(&small(), &src, None).expect("run");
    let files: BTreeMap<&str, Vec<u8>> = ["metrics.csv", "config.json", "summary.json"]
        .into_iter()
        .map(|f| (f, std::fs::read(src.join(f)).expect("read")))
        .collect();
    let dir = tmp("fuzz");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut rng = Lcg(7);
    let junk = b",\n\r.-e9xNa\"{}:\xff0";
    for i in 0..300 {
        for (name, bytes) in &files {
            let mut b = bytes.clone();
            match (i + name.len()) % 3 {
                0 => b.truncate(rng.below(b.len() + 1)),
                1 => {
                    for _ in 0..1 + rng.below(6) {
                        let at = rng.below(b.len());
                        if let Some(x) = b.get_mut(at) {
                            *x = junk[rng.below(junk.len())];
                        }
                    }
                }
                _ => {
                    let at = rng.below(b.len());
                    b.drain(at..(at + rng.below(40)).min(b.len()));
                }
            }
            std::fs::write(dir.join(name), &b).expect("write");
        }
        // Either loads (with warnings) or is a clean error; never a panic.
        match read_run(&dir) {
            Ok(l) => {
                assert_eq!(l.run.metrics.step.len(), l.run.metrics.to_records().len());
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let _ = std::fs::remove_dir_all(src);
    let _ = std::fs::remove_dir_all(dir);
}

/// Every file under a final name in `dir` is complete: tables parse without a cut-short line,
/// JSON parses, NPZ archives open.
pub fn assert_final_names_complete(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") {
            let text = std::fs::read_to_string(&p).expect("utf8 csv");
            assert!(text.ends_with('\n'), "{name} is cut short");
            let mut w = Vec::new();
            run_folder::table::parse_table(&p, &text, &mut w).expect("table");
            assert!(w.is_empty(), "{name}: {w:?}");
        } else if name.ends_with(".json") {
            let b = std::fs::read(&p).expect("json");
            serde_json::from_slice::<serde_json::Value>(&b)
                .unwrap_or_else(|e| panic!("{name} is not complete JSON: {e}"));
        } else if name.ends_with(".npz") {
            let f = std::fs::File::open(&p).expect("open");
            let mut r = ndarray_npy::NpzReader::new(f)
                .unwrap_or_else(|e| panic!("{name} does not open: {e}"));
            assert!(!r.names().expect("names").is_empty());
        }
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_no_corrupt_final_file() {
    let mut failures = 0;
    for budget in [0u64, 40, 700, 1500, 3000, 6000, 9000, 14000, 30000] {
        let dir = tmp(&format!("full-{budget}"));
        let r = with_write_budget(budget, || {
            stream_run(&small(), &dir, Some(SaveSteps::List(vec![0, 4, 8])))
        });
        match r {
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                let m = e.to_string();
                assert!(m.contains("no space left"), "{m}");
                assert!(
                    m.contains(dir.to_str().expect("utf8")),
                    "names the file: {m}"
                );
            }
        }
        assert_final_names_complete(&dir);
        if dir.join("metrics.csv").exists() {
            read_run(&dir).expect("a final metrics.csv reads");
        }
        assert!(!dir.join(run_folder::LOCK_FILE).exists(), "lock released");
        let _ = std::fs::remove_dir_all(dir);
    }
    assert!(failures >= 6, "the small budgets must fail ({failures})");
}

#[test]
fn one_writer_per_folder_and_no_silent_reuse() {
    let dir = tmp("lock");
    let first = RunFolder::create(&dir, false).expect("first");
    match RunFolder::create(&dir, true) {
        Err(RunFolderError::Locked { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected the lock to refuse: {other:?}"),
    }
    first.write_config(Some(&small()), None).expect("config");
    drop(first);
    assert!(!dir.join(run_folder::LOCK_FILE).exists());
    // Not empty: refused, then cleared with overwrite.
    let e = RunFolder::create(&dir, false).expect_err("not empty");
    assert!(e.to_string().contains("--overwrite"), "{e}");
    let again = RunFolder::create(&dir, true).expect("overwrite");
    assert!(!again.dir().join("config.json").exists());
    drop(again);
    // A stale lock (its process is gone) is taken over.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    std::fs::write(dir.join(run_folder::LOCK_FILE), format!("{dead}\n")).expect("lock");
    RunFolder::create(&dir, false).expect("stale lock taken over");
    // --overwrite never clears a folder that is not a run's.
    std::fs::write(dir.join("thesis.tex"), "precious").expect("write");
    let e = RunFolder::create(&dir, true).expect_err("not a run folder");
    assert!(matches!(e, RunFolderError::NotARunFolder { .. }), "{e}");
    assert!(dir.join("thesis.tex").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn default_folder_names_never_collide() {
    let parent = tmp("unique");
    let names: Vec<PathBuf> = (0..6)
        .map(|_| run_folder::create_unique(&parent, "digits").expect("create"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
    assert!(names.iter().all(|p| p.is_dir()));
    let _ = std::fs::remove_dir_all(parent);
}
