#![cfg(feature = "gui")]

//! Training workspace driven through the accessibility tree: Start / Pause / Step / Reset /
//! Stop on a tiny digits network, η changed mid-run, and an error banner for a missing CIFAR
//! folder. The worker is asynchronous, so each check polls frames with a timeout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

use eos_explorer::engine::config::RunConfig;
use eos_explorer::engine::data::DatasetSpec;
use eos_explorer::ui::selfstab::{self, SelfStabWorkspace};
use eos_explorer::ui::training::{self, TrainingWorkspace, step_breakpoints};
use eos_explorer::ui::{EosApp, Settings, linear};

fn tr(app: &EosApp) -> &TrainingWorkspace {
    app.workspace()
        .expect("the Training workspace is registered")
}

fn tr_mut(app: &mut EosApp) -> &mut TrainingWorkspace {
    app.workspace_mut()
        .expect("the Training workspace is registered")
}

fn ss(app: &EosApp) -> &SelfStabWorkspace {
    app.workspace()
        .expect("the Self-stabilization workspace is registered")
}

fn ss_mut(app: &mut EosApp) -> &mut SelfStabWorkspace {
    app.workspace_mut()
        .expect("the Self-stabilization workspace is registered")
}

fn tiny(max_steps: usize) -> RunConfig {
    RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 40,
            n_test: 20,
        },
        hidden: vec![6],
        max_steps,
        eig_every: 1,
        test_every: 5,
        lr: 0.1,
        ..RunConfig::default()
    }
}

fn app_harness() -> Harness<'static, EosApp> {
    Harness::builder()
        .with_size([1280.0, 900.0])
        .build_eframe(|cc| EosApp::new(&cc.egui_ctx, Settings::default(), false))
}

fn wait(h: &mut Harness<'static, EosApp>, what: &str, pred: impl Fn(&EosApp) -> bool) {
    wait_up_to(h, what, 120, pred);
}

fn wait_up_to(
    h: &mut Harness<'static, EosApp>,
    what: &str,
    secs: u64,
    pred: impl Fn(&EosApp) -> bool,
) {
    let t0 = Instant::now();
    while !pred(h.state()) {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn records(app: &EosApp) -> usize {
    tr(app).run.as_ref().map(|r| r.records.len()).unwrap_or(0)
}

fn paused(app: &EosApp) -> bool {
    tr(app).run.as_ref().is_some_and(|r| r.paused)
}

/// Frames enough to take every event the worker had already queued.
fn settle(h: &mut Harness<'static, EosApp>) {
    for _ in 0..5 {
        h.step();
    }
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..5 {
        h.step();
    }
}

/// Start the configured run, let `n` records arrive, pause, and take what was queued.
fn start_then_pause(h: &mut Harness<'static, EosApp>, n: usize) {
    h.get_by_label("Start").click();
    wait(h, "records", |a| records(a) >= n);
    h.get_by_label("Pause").click();
    wait(h, "pause", paused);
    settle(h);
}

#[test]
fn start_pause_step_lr_reset_stop() {
    let mut h = app_harness();
    tr_mut(h.state_mut()).set_config(tiny(1_000_000));
    h.step();
    // Everything queued is drained by the pause; then the count must stay put.
    start_then_pause(&mut h, 5);
    let n = records(h.state());
    settle(&mut h);
    assert_eq!(records(h.state()), n, "records arrived while paused");

    h.get_by_label("Step").click();
    wait(&mut h, "one step", |a| records(a) == n + 1);
    for _ in 0..5 {
        h.step();
    }
    assert_eq!(records(h.state()), n + 1, "Step did more than one step");

    // η changed mid-run: the 2/η line becomes a step function.
    h.get_by_role_and_label(Role::Slider, "η (learning rate)")
        .set_value_accesskit(0.05);
    h.step();
    assert!((tr(h.state()).config.lr - 0.05).abs() < 1e-12);
    h.get_by_label("Resume").click();
    wait(&mut h, "records at the new η", |a| {
        tr(a)
            .run
            .as_ref()
            .and_then(|r| r.records.last())
            .is_some_and(|r| (r.lr - 0.05).abs() < 1e-12)
    });
    let run = tr(h.state())
        .run
        .as_ref()
        .map(|r| r.series.threshold.clone())
        .unwrap_or_default();
    let bp = step_breakpoints(&run);
    assert!(bp.len() >= 2, "threshold has no step: {bp:?}");
    assert!((bp[0][1] - 20.0).abs() < 1e-9 && (bp[bp.len() - 1][1] - 40.0).abs() < 1e-9);

    // Keyboard: Space pauses.
    h.key_press(eframe::egui::Key::Space);
    wait(&mut h, "pause by Space", paused);

    h.get_by_label("Reset").click();
    h.step();
    assert_eq!(records(h.state()), 0, "Reset keeps old records");
    h.get_by_label("Step").click();
    wait(&mut h, "first record after reset", |a| records(a) == 1);
    let first = tr(h.state())
        .run
        .as_ref()
        .and_then(|r| r.records.first().cloned());
    assert_eq!(first.map(|r| r.step), Some(0));

    h.get_by_label("Stop").click();
    wait(&mut h, "stopped", |a| {
        tr(a).run.as_ref().is_some_and(|r| r.finished.is_some())
    });
}

/// Stop during a long step (a sharpness measurement of a thousand HVPs with
/// reorthogonalisation: about 9 s here) is honoured within a bounded number of frames and
/// within a second or two under load, and the stopped run keeps its plots.
#[test]
fn stop_is_honoured_within_frames_during_a_long_step() {
    let mut h = app_harness();
    tr_mut(h.state_mut()).set_config(RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 1000,
            n_test: 0,
        },
        hidden: vec![256, 256],
        max_steps: 50,
        eig_every: 1,
        neigs: 4,
        lanczos_tol: 1e-15,
        lanczos_max_iter: 1000,
        ..RunConfig::default()
    });
    h.step();
    h.get_by_label("Start").click();
    wait(&mut h, "the run to start", |a| {
        tr(a).run.as_ref().is_some_and(|r| r.info.is_some())
    });
    // Inside the first step's measurement.
    std::thread::sleep(Duration::from_millis(500));
    h.step();
    h.get_by_label("Stop").click();
    let asked = Instant::now();
    let mut frames = 0;
    while tr(h.state())
        .run
        .as_ref()
        .is_none_or(|r| r.finished.is_none())
    {
        assert!(
            frames < 400 && asked.elapsed() < Duration::from_secs(2),
            "Stop not honoured after {frames} frames, {:?}",
            asked.elapsed()
        );
        h.step();
        frames += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(records(h.state()) <= 1, "steps ran on after Stop");
}

#[test]
fn short_run_finishes_with_sharpness() {
    let mut h = app_harness();
    tr_mut(h.state_mut()).set_config(tiny(30));
    h.step();
    h.get_by_label("Start").click();
    wait(&mut h, "finish", |a| {
        tr(a).run.as_ref().is_some_and(|r| r.finished.is_some())
    });
    wait(&mut h, "all records", |a| records(a) == 31);
    let run = tr(h.state()).run.as_ref();
    assert!(run.is_some_and(|r| r.series.eigs.first().is_some_and(|e| e.len() == 31)));
    assert!(run.is_some_and(|r| !r.series.test_loss.is_empty()));
    // The status line gives the typical cost of an estimate: the median over the estimates
    // (31 here, all within the last 50), not the last one's.
    let mut hvps: Vec<usize> = run
        .map(|r| r.records.iter().filter_map(|x| x.hvps).collect())
        .unwrap_or_default();
    assert_eq!(hvps.len(), 31);
    hvps.sort_unstable();
    let median = hvps[hvps.len() / 2];
    h.step();
    assert!(
        h.query_by_label_contains(&format!("median {median} HVPs/estimate"))
            .is_some(),
        "status line without the median cost {median} (HVPs {hvps:?})"
    );
}

#[test]
fn missing_cifar_folder_shows_a_banner() {
    let mut h = app_harness();
    let mut c = tiny(10);
    c.dataset = DatasetSpec::Cifar10 {
        dir: PathBuf::from("/nonexistent/cifar-10-batches-bin"),
        n_train: 10,
        n_test: 10,
        stats_file: None,
        classes: None,
    };
    tr_mut(h.state_mut()).cifar_dir = "/nonexistent/cifar-10-batches-bin".into();
    tr_mut(h.state_mut()).set_config(c);
    h.step();
    h.get_by_label("Start").click();
    wait(&mut h, "error banner", |a| {
        tr(a)
            .banners
            .iter()
            .any(|(t, err)| *err && t.contains("does not exist"))
    });
    h.step();
    // The banner is on screen.
    assert!(
        h.query_all_by_label_contains("does not exist").count() >= 1,
        "banner text not in the accessibility tree"
    );
}

/// Issue 10: a Start that fails after the worker took it (a missing data folder) gives the
/// previous run's plots back; the next good Start clears the failure's banner; choosing a
/// preset that does not start at once clears the old run instead of leaving its plots.
#[test]
fn failed_start_keeps_the_old_plots_and_a_preset_resets_the_run() {
    let mut h = app_harness();
    tr_mut(h.state_mut()).set_config(tiny(8));
    h.step();
    h.get_by_label("Start").click();
    wait(&mut h, "a finished run", |a| {
        tr(a).run.as_ref().is_some_and(|r| r.finished.is_some())
    });
    let good_id = tr(h.state()).run.as_ref().map(|r| r.run_id);
    let good_rows = tr(h.state()).run.as_ref().map_or(0, |r| r.records.len());
    assert!(good_rows >= 8);

    let mut c = tiny(8);
    c.dataset = DatasetSpec::Cifar10 {
        dir: PathBuf::from("/nonexistent/cifar-10-batches-bin"),
        n_train: 10,
        n_test: 10,
        stats_file: None,
        classes: None,
    };
    tr_mut(h.state_mut()).cifar_dir = "/nonexistent/cifar-10-batches-bin".into();
    tr_mut(h.state_mut()).set_config(c);
    h.step();
    h.get_by_label("Start").click();
    wait(&mut h, "the failure", |a| {
        tr(a)
            .banners
            .iter()
            .any(|(t, err)| *err && t.starts_with("Run failed"))
    });
    let run = tr(h.state()).run.as_ref();
    assert_eq!(
        run.map(|r| r.run_id),
        good_id,
        "the previous run is shown again"
    );
    assert_eq!(run.map_or(0, |r| r.records.len()), good_rows);

    // A good Start: the failure's banner goes with the old run.
    tr_mut(h.state_mut()).set_config(tiny(4));
    h.step();
    h.get_by_label("Start").click();
    h.step();
    assert!(
        !tr(h.state()).banners.iter().any(|(_, err)| *err),
        "stale error banners: {:?}",
        tr(h.state()).banners
    );
    wait(&mut h, "the new run", |a| {
        tr(a).run.as_ref().is_some_and(|r| r.finished.is_some())
    });

    // A CIFAR preset with no folder waits for one: the digits plots do not stay behind it.
    let Some(cifar) = eos_explorer::engine::presets::find("cohen-fig1") else {
        panic!("preset cohen-fig1 is missing")
    };
    tr_mut(h.state_mut()).cifar_dir.clear();
    h.state_mut().apply_preset(&cifar);
    h.step();
    assert!(tr(h.state()).run.is_none(), "the old run's plots stayed");
}

/// A network that cannot fit in memory is refused before the worker allocates anything
/// (the CLI's estimate), and the previous run's plots stay.
#[test]
fn a_network_too_large_for_memory_is_refused_at_start() {
    let mut h = app_harness();
    let mut c = tiny(5);
    c.hidden = vec![3_000_000, 3_000_000];
    tr_mut(h.state_mut()).set_config(c);
    h.step();
    tr_mut(h.state_mut()).start();
    let t = tr(h.state());
    assert!(
        t.banners
            .iter()
            .any(|(m, err)| *err && m.contains("cannot start") && m.contains("available")),
        "{:?}",
        t.banners
    );
    assert!(
        t.run
            .as_ref()
            .is_none_or(|r| r.records.is_empty() && !r.loading)
    );
}

#[test]
fn invalid_settings_disable_start() {
    let mut h = app_harness();
    tr_mut(h.state_mut()).widths_text = "64,,x".into();
    h.step();
    h.step();
    assert!(!tr(h.state()).problems().is_empty());
    let start = h.get_by_label("Start");
    assert!(
        start.accesskit_node().is_disabled(),
        "Start enabled with invalid widths"
    );
}

/// η from the text box is taken only when valid: 0, −1 or NaN keep the old η and say why
/// beside the slider (no silent clamp to 0.0001); a valid value clears the reason.
#[test]
fn an_invalid_lr_is_refused_with_a_reason_not_clamped() {
    let mut h = app_harness();
    let before = tr(h.state()).config.lr;
    for bad in [0.0, -1.0, f64::NAN] {
        tr_mut(h.state_mut()).apply_lr(bad);
        h.step();
        assert_eq!(tr(h.state()).config.lr, before, "η = {bad} was taken");
        let why = tr(h.state()).lr_problem.clone().unwrap_or_default();
        assert!(why.contains("positive"), "{why}");
        assert!(h.query_all_by_label_contains("η stays as it was").count() >= 1);
    }
    tr_mut(h.state_mut()).apply_lr(0.5);
    h.step();
    assert_eq!(tr(h.state()).config.lr, 0.5);
    assert!(tr(h.state()).lr_problem.is_none());
    // A value above the slider's range is taken as typed, not clamped to 20.
    tr_mut(h.state_mut()).apply_lr(50.0);
    assert_eq!(tr(h.state()).config.lr, 50.0);
}

#[test]
fn crossing_marker_and_edge_band() {
    let mut h = app_harness();
    let mut c = tiny(40);
    c.hidden = vec![16];
    c.lr = 1.5; // 2/η ≈ 1.33: λ1 starts above it
    c.divergence_factor = 1e6;
    tr_mut(h.state_mut()).set_config(c);
    h.step();
    h.get_by_label("Start").click();
    wait(&mut h, "finish", |a| {
        tr(a).run.as_ref().is_some_and(|r| r.finished.is_some())
    });
    let run = tr(h.state()).run.as_ref();
    assert!(
        run.is_some_and(|r| r.series.first_crossing.is_some()),
        "no crossing marker"
    );
    assert!(
        run.is_some_and(|r| !r.series.bands().is_empty()),
        "no edge band"
    );
}

#[test]
fn presets_switch_workspaces() {
    let mut h = app_harness();
    for (name, tab) in [
        ("damian-stages", selfstab::ID),
        ("li-linear", linear::ID),
        ("chebyshev", training::ID),
    ] {
        let p = eos_explorer::engine::presets::find(name);
        assert!(p.is_some(), "{name}");
        if let Some(p) = p {
            h.state_mut().apply_preset(&p);
        }
        h.step();
        assert_eq!(h.state().active(), tab, "{name}");
    }
    // A CIFAR preset without a folder: Start is disabled and the folder is asked for.
    if let Some(p) = eos_explorer::engine::presets::find("cohen-fig1") {
        tr_mut(h.state_mut()).cifar_dir.clear();
        h.state_mut().apply_preset(&p);
    }
    h.step();
    h.step();
    assert!(
        tr(h.state())
            .problems()
            .iter()
            .any(|p| p.field == eos_explorer::engine::config::ConfigField::CifarDir)
    );
    assert!(h.query_all_by_label_contains("needs the CIFAR-10").count() >= 1);
}

/// `eos-explorer --preset NAME [--cifar-dir DIR]` opens the app on a preset and starts it.
#[test]
fn app_opens_on_a_preset_and_starts_it() {
    let mut h = app_harness();
    assert!(h.state_mut().open_preset("no-such", None, true).is_err());
    assert_eq!(h.state_mut().open_preset("chebyshev", None, true), Ok(()));
    h.step();
    assert_eq!(h.state().active(), training::ID);
    wait(&mut h, "chebyshev records", |a| records(a) >= 3);
    // A CIFAR preset given its folder is ready to start (not started here: start = false).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10");
    if dir.is_dir() {
        let d = dir.display().to_string();
        assert_eq!(
            h.state_mut().open_preset("cohen-fig1", Some(&d), false),
            Ok(())
        );
        h.step();
        assert!(tr(h.state()).problems().is_empty());
        assert_eq!(
            h.state().host.settings.cifar_dir.as_deref(),
            Some(d.as_str())
        );
    }
}

fn overlays(app: &EosApp) -> usize {
    tr(app).overlays.len()
}

fn overlay_records(app: &EosApp, i: usize) -> usize {
    tr(app)
        .overlays
        .get(i)
        .map(|o| o.view.records.len())
        .unwrap_or(0)
}

#[test]
fn branch_with_another_lr_is_overlaid_from_the_branch_step() {
    use eos_explorer::ui::training::OverlayKind;
    let mut h = app_harness();
    tr_mut(h.state_mut()).set_config(tiny(1_000_000));
    h.step();
    start_then_pause(&mut h, 5);
    let last = tr(h.state())
        .run
        .as_ref()
        .and_then(|r| r.records.last().map(|r| r.step));
    let Some(last) = last else {
        panic!("no records")
    };
    h.get_by_role_and_label(Role::Slider, "branch η")
        .set_value_accesskit(0.05);
    h.step();
    assert!((tr(h.state()).branch_lr - 0.05).abs() < 1e-12);
    h.get_by_label("Branch").click_accesskit();
    wait(&mut h, "branch overlay", |a| overlays(a) == 1);
    h.get_by_label("Resume").click();
    wait(&mut h, "branch records", |a| overlay_records(a, 0) >= 5);
    h.get_by_label("Stop").click();
    wait(&mut h, "stopped", |a| {
        tr(a).run.as_ref().is_some_and(|r| r.finished.is_some())
            && tr(a).overlays.iter().all(|o| o.view.finished.is_some())
    });
    let app = h.state();
    let o = &tr(app).overlays[0];
    assert_eq!(o.kind, OverlayKind::Branch);
    assert_eq!(
        o.first_step(),
        Some(last + 1),
        "branch starts at the branch step"
    );
    assert!(o.view.records.iter().all(|r| (r.lr - 0.05).abs() < 1e-12));
    // Its own 2/η line (40) beside the main run's (20), and its own λ1 series.
    assert!(
        o.view
            .series
            .threshold
            .iter()
            .all(|p| (p[1] - 40.0).abs() < 1e-9)
    );
    assert!(o.view.series.eigs.first().is_some_and(|e| !e.is_empty()));
    let main = tr(app).run.as_ref().map(|r| r.series.threshold.clone());
    assert!(main.is_some_and(|t| t.iter().all(|p| (p[1] - 20.0).abs() < 1e-9)));
    // The main run kept recording after the branch point too.
    assert!(
        tr(app)
            .run
            .as_ref()
            .is_some_and(|r| r.records.iter().any(|r| r.step > last + 1))
    );
}

#[test]
fn lr_sweep_overlays_one_run_per_lr_from_the_same_init() {
    let mut h = app_harness();
    tr_mut(h.state_mut()).set_config(tiny(20));
    tr_mut(h.state_mut()).sweep_text = "0.05, 0.1".into();
    h.step();
    h.get_by_label("Run sweep").click_accesskit();
    wait(&mut h, "sweep overlay", |a| overlays(a) == 1);
    wait(&mut h, "both runs finish", |a| {
        tr(a)
            .run
            .as_ref()
            .is_some_and(|r| r.finished.is_some() && r.records.len() == 21)
            && overlay_records(a, 0) == 21
    });
    let app = h.state();
    let (Some(main), Some(o)) = (tr(app).run.as_ref(), tr(app).overlays.first()) else {
        panic!("missing runs")
    };
    // Two λ1 series …
    assert_eq!(main.series.eigs.first().map(|e| e.len()), Some(21));
    assert_eq!(o.view.series.eigs.first().map(|e| e.len()), Some(21));
    // … two thresholds (2/η = 40 and 20) …
    assert_eq!(step_breakpoints(&main.series.threshold).len(), 1);
    assert!((main.series.threshold[0][1] - 40.0).abs() < 1e-9);
    assert_eq!(step_breakpoints(&o.view.series.threshold).len(), 1);
    assert!((o.view.series.threshold[0][1] - 20.0).abs() < 1e-9);
    // … from the same θ0.
    assert_eq!(
        main.records[0].train_loss.to_bits(),
        o.view.records[0].train_loss.to_bits()
    );
    assert_ne!(main.records[20].train_loss, o.view.records[20].train_loss);
    assert!(h.query_all_by_label_contains("η = 0.1000").count() >= 1);
}

#[test]
fn gradient_flow_overlay_toggles() {
    use eos_explorer::ui::training::OverlayKind;
    let mut h = app_harness();
    tr_mut(h.state_mut()).set_config(tiny(1_000_000));
    h.step();
    start_then_pause(&mut h, 3);
    h.get_by_label("gradient-flow reference").click_accesskit();
    wait(&mut h, "flow switched on", |a| tr(a).show_flow);
    h.get_by_label("Resume").click();
    wait(&mut h, "flow records", |a| overlay_records(a, 0) >= 5);
    h.get_by_label("Pause").click();
    wait(&mut h, "pause", paused);
    for _ in 0..3 {
        h.step();
    }
    {
        let app = h.state();
        let o = &tr(app).overlays[0];
        assert_eq!(o.kind, OverlayKind::Flow);
        assert_eq!(o.first_step(), Some(0), "flow starts from θ0");
        assert!(o.view.series.eigs.first().is_some_and(|e| !e.is_empty()));
        // Same initialisation: the same loss at step 0.
        let main = tr(app).run.as_ref().map(|r| r.records[0].train_loss);
        assert_eq!(main, Some(o.view.records[0].train_loss));
    }
    h.get_by_label("gradient-flow reference").click_accesskit();
    wait(&mut h, "flow removed", |a| {
        overlays(a) == 0 && !tr(a).show_flow
    });
}

/// Issue 5 in the app: the Training run measures α, β, δ at its first crossing, the panel
/// shows them, and “Explore in Self-stabilization” puts them into the map's sliders so that the
/// map reproduces the tracker's own prediction, with the measured trajectory overlaid.
#[test]
fn measured_theory_flows_into_the_selfstab_workspace() {
    let mut h = app_harness();
    // Progressive sharpening reaches 2/η = 2.5 at step 20 (α > 0; λ1 is back below 2/η
    // about 27 steps later, the map predicts 25).
    let mut c = tiny(100);
    c.dataset = DatasetSpec::Digits {
        n_train: 200,
        n_test: 50,
    };
    c.hidden = vec![32, 32];
    c.lr = 0.8;
    tr_mut(h.state_mut()).set_config(c);
    tr_mut(h.state_mut()).theory_window = 40;
    assert!(tr(h.state()).theory_on, "on by default for small runs");
    h.step();
    h.get_by_label("Start").click();
    // f64 probes on every step: slow when other tests (the central flow's) share the cores.
    wait_up_to(&mut h, "40 tracked steps", 120, |a| {
        tr(a).theory.rows.len() >= 40
    });
    h.step();
    let log = tr(h.state()).theory.clone();
    let a = log.anchors[0].clone();
    assert!(
        a.step > 0 && a.crossed_from_below,
        "crossing at step {}",
        a.step
    );
    assert!(a.lambda1 >= a.threshold);
    assert!(
        a.alpha > 0.0 && a.beta > 0.0,
        "this run has α = {}, β = {}",
        a.alpha,
        a.beta
    );
    let at = format!("θ₀ = step {}", a.step);
    assert!(h.query_all_by_label_contains(&at).count() >= 1);
    // The tracker's prediction is drawn over the sharpness plot.
    // Below the fold of the side panel: click through accesskit.
    let b = h.get_by_label("Explore in Self-stabilization →");
    assert!(!b.accesskit_node().is_disabled(), "button disabled");
    b.click_accesskit();
    h.step();
    h.step();
    let app = h.state();
    assert_eq!(app.active(), selfstab::ID);
    let p = &ss(app).params;
    assert_eq!(
        (p.lr, p.alpha, p.beta, p.x0, p.y0),
        (a.lr, a.alpha, a.beta, a.x_center.abs(), a.excess0)
    );
    assert!(ss(app).show_measured);
    assert_eq!(ss(app).measured.x.len(), log.rows.len());
    // The map run from the sliders is the tracker's prediction: y_t = e₀ + y_pred, and
    // x_t = ±(x_pred − x*).
    let sign = if a.x_center > 0.0 { -1.0 } else { 1.0 };
    let run = ss(app)
        .run
        .as_ref()
        .map(|r| r.rows.clone())
        .unwrap_or_default();
    let mut compared = 0;
    for r in &log.rows {
        let (Some(xp), Some(ep)) = (r.x_predicted, r.excess_predicted) else {
            continue;
        };
        let m = &run[r.t];
        let scale_x = xp.abs().max(a.x_center.abs());
        assert!(
            (m.y - ep).abs() <= 1e-9 * ep.abs().max(1e-3),
            "t = {}: {} vs {}",
            r.t,
            m.y,
            ep
        );
        assert!(
            (m.x - sign * (xp - a.x_center)).abs() <= 1e-9 * scale_x.max(1e-12),
            "t = {}: {} vs {}",
            r.t,
            m.x,
            sign * (xp - a.x_center)
        );
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} predicted rows");
    // The β slider's range widened to hold the measured value.
    let node = h.get_by_role_and_label(Role::Slider, "β (stabilising strength)");
    let shown = node.accesskit_node().numeric_value().unwrap_or(f64::NAN);
    assert!(
        (shown - a.beta).abs() <= 1e-9 * a.beta,
        "slider shows {shown}, β = {}",
        a.beta
    );
    let at = format!("measured at step {}", a.step);
    assert!(h.query_all_by_label_contains(&at).count() >= 1);
    assert!(
        ss(h.state()).overlay_on(),
        "the network's map carries its trajectory"
    );

    // A textbook preset is not the network's map: no measured dots over it, and the overlay
    // box says why it is off; copying the network's map back brings them back.
    let Some(textbook) = eos_explorer::engine::presets::find("damian-stages") else {
        panic!("preset damian-stages is missing")
    };
    h.state_mut().apply_preset(&textbook);
    h.step();
    assert!(!ss(h.state()).overlay_on(), "overlay over a textbook map");
    let overlay = h.get_by_label_contains("overlay the measured trajectory");
    assert!(overlay.accesskit_node().is_disabled());
    h.get_by_label("Copy to sliders").click();
    h.step();
    assert!(ss(h.state()).overlay_on());

    // “Follow” copies the measurement by itself (once per measurement).
    ss_mut(h.state_mut())
        .set_params(eos_explorer::engine::theory::self_stab::SelfStabParams::four_stage_example());
    h.step();
    assert_eq!(ss(h.state()).params.lr, 0.1);
    h.get_by_label("follow: copy each new measurement").click();
    h.step();
    h.step();
    assert!(ss(h.state()).follow_network);
    assert_eq!(ss(h.state()).params.beta, a.beta);
    ss_mut(h.state_mut()).params.beta = 7.0;
    h.step();
    assert_eq!(ss(h.state()).params.beta, 7.0, "followed twice");
}

/// Issue 11 in the app: the "Central flow" checkbox runs Cohen et al. 2025's flow beside a short
/// digits run that reaches 2/η; its rows arrive, the loss and sharpness figures carry it, its
/// distance and σ² plots appear (only while it is on), the panel shows the k = 1 link to
/// Damian et al. 2022, and the run export holds central_flow.csv and its summary.
#[test]
fn central_flow_runs_beside_training_and_is_exported() {
    use eos_explorer::engine::figure::central_flow::{DIST_CF_NAME, PREDICTED_LOSS_NAME};
    use eos_explorer::engine::run_folder::read_run;
    use eos_explorer::ui::export::write_run_export;
    let mut h = app_harness();
    let c = RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 100,
            n_test: 0,
        },
        hidden: vec![16, 16],
        lr: 0.8,
        max_steps: 30,
        eig_every: 1,
        test_every: 0,
        ..RunConfig::default()
    };
    {
        let w = tr_mut(h.state_mut());
        w.set_config(c);
        w.theory_on = false;
        w.cf_substeps = 2;
    }
    h.step();
    assert!(!tr(h.state()).figures().iter().any(|f| f.id == "distance"));
    h.get_by_label("Central flow (Cohen et al. 2025)")
        .click_accesskit();
    wait(&mut h, "the flow switched on", |a| tr(a).cf_on);
    h.get_by_label("Start").click();
    // Debug builds step the flow at about one GD step per second beside other jobs.
    wait_up_to(&mut h, "31 central-flow rows", 180, |a| {
        tr(a).central_flow.rows.len() == 31
    });
    settle(&mut h);
    let w = tr(h.state());
    assert_eq!(w.central_flow.error, None);
    assert_eq!(
        w.central_flow.rows[0].dist_gd_cf, 0.0,
        "the flow starts at θ0"
    );
    assert!(
        w.central_flow.rows.iter().any(|r| r.k >= 1),
        "the flow never became critical"
    );
    let figs = w.figures();
    let ids: Vec<&str> = figs.iter().map(|f| f.id.as_str()).collect();
    assert!(
        ids.contains(&"distance") && ids.contains(&"sigma2"),
        "{ids:?}"
    );
    let has = |id: &str, name: &str| {
        figs.iter().find(|f| f.id == id).is_some_and(|f| {
            f.layers
                .iter()
                .any(|l| l.name == name && !l.data().is_empty())
        })
    };
    assert!(has("loss", PREDICTED_LOSS_NAME));
    assert!(has("sharpness", "λ1 central flow"));
    assert!(has("distance", DIST_CF_NAME));
    assert!(w.central_flow.link.is_some(), "no k = 1 link measured");
    // On screen: the new plots' headers and the link's sentence.
    h.get_by_label("Distance of GD from the flows");
    h.get_by_label("Link to Damian et al. 2022 (k = 1)");

    let Some(export) = tr(h.state()).run_export() else {
        panic!("nothing to export")
    };
    let dir = std::env::temp_dir().join(format!("eos-ui-cf-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_run_export(&dir, &export).unwrap_or_else(|e| panic!("{e}"));
    let back = read_run(&dir).unwrap_or_else(|e| panic!("{e}"));
    let table = back.run.tables.get("central_flow.csv");
    assert_eq!(table.map(|t| t.rows.len()), Some(31));
    let summary = back.run.json.get("central_flow_summary.json");
    assert!(summary.is_some_and(|s| s["options"]["substeps"].as_u64() == Some(2)));
    let _ = std::fs::remove_dir_all(&dir);

    // Off: the flow's plots go away.
    h.get_by_label("Central flow (Cohen et al. 2025)")
        .click_accesskit();
    wait(&mut h, "the flow switched off", |a| !tr(a).cf_on);
    assert!(!tr(h.state()).figures().iter().any(|f| f.id == "distance"));
}
