#![cfg(feature = "gui")]

//! The Runs workspace: a run folder written by the CLI opens with its label from config.json,
//! the replay cursor cuts every series at its step, Space plays, and a folder appended to by
//! another program is followed row by row.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use eos_explorer::engine::figure::{Figure, LayerKind};
use eos_explorer::ui::runs::{self, RunStatus, RunsWorkspace};
use eos_explorer::ui::{AppCommand, EosApp, Settings};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-ui-runs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp folder");
    d
}

fn app_harness() -> Harness<'static, EosApp> {
    Harness::builder()
        .with_size([1280.0, 900.0])
        .build_eframe(|cc| EosApp::new(&cc.egui_ctx, Settings::default(), false))
}

fn rw(app: &EosApp) -> &RunsWorkspace {
    app.workspace().expect("the Runs workspace is registered")
}

fn rw_mut(app: &mut EosApp) -> &mut RunsWorkspace {
    app.workspace_mut()
        .expect("the Runs workspace is registered")
}

/// Step frames until `done` holds (the loader thread answers asynchronously).
fn wait_for(h: &mut Harness<'static, EosApp>, what: &str, done: impl Fn(&EosApp) -> bool) {
    let t0 = Instant::now();
    while !done(h.state()) {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out: {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn cli_run(dir: &Path) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_eos-explorer"))
        .args([
            "run",
            "--preset",
            "digits-demo",
            "--n",
            "60",
            "--arch",
            "fc-tanh:8",
            "--steps",
            "30",
            "--eig-every",
            "1",
            "--lr",
            "0.5",
            "--out",
        ])
        .arg(dir)
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn last_x(fig: &Figure, name: &str) -> Option<f64> {
    fig.layers
        .iter()
        .find(|l| l.name == name)
        .and_then(|l| match &l.kind {
            LayerKind::Line { points, .. } => points.last().map(|p| p[0]),
            _ => None,
        })
}

#[test]
fn a_cli_run_opens_with_its_label_and_the_cursor_cuts_the_series() {
    let dir = tmp("cli").join("my-run");
    cli_run(&dir);
    let mut h = app_harness();
    h.step();
    h.state_mut().send(AppCommand::OpenRun(dir.clone()));
    wait_for(&mut h, "the run is read", |a| {
        rw(a)
            .runs
            .first()
            .is_some_and(|e| e.status == RunStatus::Ready)
    });
    assert_eq!(h.state().active(), runs::ID);
    let label = "digits · fc-tanh:8 · η = 0.5";
    assert_eq!(rw(h.state()).runs[0].label, label);
    h.step();
    assert!(
        h.query_all_by_label_contains(label).count() >= 1,
        "label shown"
    );
    assert_eq!(
        h.state().host.settings.recent_runs.first(),
        Some(&dir.display().to_string()),
        "remembered"
    );
    // Every row without a cursor; cut at step 12 with it, in every figure.
    let figs = rw_mut(h.state_mut()).figures();
    let ids: Vec<&str> = figs.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["loss", "accuracy", "sharpness"]);
    assert_eq!(last_x(&figs[0], "train loss"), Some(30.0));
    rw_mut(h.state_mut()).set_cursor(Some(12.0));
    h.step();
    let figs = rw_mut(h.state_mut()).figures();
    assert_eq!(last_x(&figs[0], "train loss"), Some(12.0));
    assert_eq!(last_x(&figs[1], "train accuracy"), Some(12.0));
    assert_eq!(last_x(&figs[2], "λ1"), Some(12.0));
    // Space plays from the cursor; it moves forward.
    h.key_press(eframe::egui::Key::Space);
    h.step();
    assert!(rw(h.state()).replay.playing);
    std::thread::sleep(Duration::from_millis(100));
    h.step();
    h.step();
    assert!(
        rw(h.state()).cut().is_some_and(|c| c > 12),
        "the cursor advanced"
    );
    h.key_press(eframe::egui::Key::Space);
    h.step();
    assert!(!rw(h.state()).replay.playing);
}

#[test]
fn a_folder_appended_row_by_row_is_followed_in_order() {
    let dir = tmp("follow");
    let path = dir.join("metrics.csv");
    std::fs::write(&path, "step,train_loss,lambda_1,lr\n0,1.0,1.0,0.5\n").expect("write");
    let mut h = app_harness();
    h.step();
    h.state_mut().send(AppCommand::OpenRun(dir.clone()));
    wait_for(&mut h, "the run is read", |a| {
        rw(a)
            .runs
            .first()
            .is_some_and(|e| e.status == RunStatus::Ready)
    });
    // Written seconds ago and without summary.json: followed at once.
    assert!(rw(h.state()).runs[0].follow, "a fresh folder is followed");
    for t in 1..=20 {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("append");
        // Each row in two writes: the reader must wait for the line end.
        write!(f, "{t},{:?},", 1.0 / (1.0 + t as f64)).expect("write");
        f.flush().expect("flush");
        h.step();
        writeln!(f, "{:?},0.5", 1.0 + 0.2 * t as f64).expect("write");
    }
    wait_for(&mut h, "all rows followed", |a| {
        rw(a).runs[0].run.metrics.len() == 21
    });
    let e = &rw(h.state()).runs[0];
    assert_eq!(e.run.metrics.step, (0..=20).collect::<Vec<_>>());
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    // 2/η from the lr column (no threshold column): λ1 = 1 + 0.2 t crosses 4 at t = 15.
    let figs = rw_mut(h.state_mut()).figures();
    let sharp = figs
        .iter()
        .find(|f| f.id == "sharpness")
        .expect("sharpness");
    assert!(
        sharp
            .layers
            .iter()
            .any(|l| matches!(l.kind, LayerKind::VLine { x, .. } if x == 15.0))
    );
    // No config.json: labelled by the folder's name and the first η.
    assert!(rw(h.state()).runs[0].label.ends_with("-follow · η = 0.5"));
}

/// A folder dropped onto the window, as the windowing layer hands it to egui.
#[derive(Debug)]
struct Dropped(PathBuf);

impl eframe::egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("a folder has no bytes".into())
    }
}

#[test]
fn a_dropped_folder_of_runs_and_a_typed_path_open_and_faults_are_told() {
    let d = tmp("drop");
    for (name, text) in [
        ("a", "step,train_loss\n0,1.0\n1,0.5\n2,0.2"), // cut short
        ("b", "step,train_loss\n0,1.0\n1,oops\n"),     // not a number
    ] {
        std::fs::create_dir_all(d.join(name)).expect("mkdir");
        let p = d.join(name).join("metrics.csv");
        std::fs::write(&p, text).expect("write");
        // Written an hour ago: a finished run, not one to follow.
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_modified(old))
            .expect("set the time");
    }
    let mut h = app_harness();
    h.step();
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(d.clone())));
    h.step();
    wait_for(&mut h, "both runs read", |a| {
        rw(a).runs.len() == 2 && rw(a).runs.iter().all(|e| e.status == RunStatus::Ready)
    });
    assert_eq!(h.state().active(), runs::ID);
    let r = &rw(h.state()).runs;
    assert!(!r[0].follow && !r[1].follow, "old folders are not followed");
    assert_eq!(r[1].warnings.len(), 1, "{:?}", r[1].warnings);
    assert_eq!(r[0].run.metrics.len(), 2);
    assert!(
        r[0].warnings
            .iter()
            .any(|w| w.contains("metrics.csv, line 4") && w.contains("cut short")),
        "{:?}",
        r[0].warnings
    );
    assert!(
        r[1].warnings
            .iter()
            .any(|w| w.contains("column train_loss") && w.contains("`oops`")),
        "{:?}",
        r[1].warnings
    );
    h.step();
    assert!(
        h.query_all_by_label_contains("thing(s) skipped while reading")
            .count()
            == 2
    );

    // A path typed into the fallback field: a folder that is not a run says what to give.
    let bad = d.join("no-such-run");
    let field = || (eframe::egui::accesskit::Role::TextInput, "Path");
    h.get_by_role_and_label(field().0, field().1).focus();
    h.step();
    h.get_by_role_and_label(field().0, field().1)
        .type_text(&bad.display().to_string());
    h.step();
    h.get_by_label("Open").click();
    h.step();
    wait_for(&mut h, "the typed path is answered", |a| {
        !rw(a).notes.is_empty()
    });
    assert!(
        rw(h.state()).notes[0].0.contains("no run folder"),
        "{:?}",
        rw(h.state()).notes
    );
}

#[test]
fn the_overlays_of_an_app_export_become_runs_of_the_list() {
    use eos_explorer::engine::run_folder::{Overlay, read_run, write_run};
    let d = tmp("export");
    let (a, b) = (d.join("a"), d.join("b"));
    cli_run(&a);
    cli_run(&b);
    let mut main = read_run(&a).expect("read a").run;
    main.overlays.push(Overlay {
        name: "branch @ 4, η = 0.25".into(),
        run: read_run(&b).expect("read b").run,
    });
    main.summary = None;
    let export = d.join("export");
    write_run(&export, &main, false).expect("write the export");
    let mut h = app_harness();
    h.step();
    h.state_mut().send(AppCommand::OpenRun(export));
    wait_for(&mut h, "the export and its overlay", |a| {
        rw(a).runs.len() == 2
    });
    let r = &rw(h.state()).runs;
    assert_eq!(r[1].label, "branch @ 4, η = 0.25");
    assert_eq!(r[1].run.metrics.len(), 31);
    let figs = rw_mut(h.state_mut()).figures();
    let sharp = figs
        .iter()
        .find(|f| f.id == "sharpness")
        .expect("sharpness");
    assert!(
        sharp
            .layers
            .iter()
            .any(|l| l.name == "λ1 · branch @ 4, η = 0.25")
    );
}
