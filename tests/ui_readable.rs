#![cfg(feature = "gui")]

//! The app in front of an audience (issue 10): at 1280×720 and 1024×768 every plot of every
//! workspace has 4–8 labelled ticks per axis (counted from the text egui painted), legends stay
//! out of the newest 20 % of the x range, hovering lists every series at that step, R and
//! "Run sweep" ask before discarding a run, `?` lists the shortcuts, a plot can be focused.

use std::time::{Duration, Instant};

use eframe::egui::accesskit::Role;
use eframe::egui::{self, Key, Rect, Shape};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

use eos_explorer::engine::config::RunConfig;
use eos_explorer::engine::data::DatasetSpec;
use eos_explorer::ui::plot_aids::{self, MAX_TICKS, MIN_TICKS};
use eos_explorer::ui::training::TrainingWorkspace;
use eos_explorer::ui::{
    AppCommand, EosApp, Settings, WorkspaceId, linear, runs, selfstab, training,
};

fn tr(app: &EosApp) -> &TrainingWorkspace {
    app.workspace().expect("Training is registered")
}

fn tr_mut(app: &mut EosApp) -> &mut TrainingWorkspace {
    app.workspace_mut().expect("Training is registered")
}

fn records(app: &EosApp) -> usize {
    tr(app).run.as_ref().map_or(0, |r| r.records.len())
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
        neigs: 2,
        ..RunConfig::default()
    }
}

fn harness(size: [f32; 2]) -> Harness<'static, EosApp> {
    Harness::builder()
        .with_size(size)
        .build_eframe(|cc| EosApp::new(&cc.egui_ctx, Settings::default(), false))
}

fn wait(h: &mut Harness<'static, EosApp>, what: &str, pred: impl Fn(&EosApp) -> bool) {
    let t0 = Instant::now();
    while !pred(h.state()) {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A tiny run that finished `n` steps (plots full of data).
fn finished_run(h: &mut Harness<'static, EosApp>, n: usize) {
    tr_mut(h.state_mut()).set_config(tiny(n));
    h.step();
    tr_mut(h.state_mut()).start();
    wait(h, "the run to finish", |a| {
        tr(a).run.as_ref().is_some_and(|r| r.finished.is_some())
    });
}

/// Every text egui painted last frame, with where.
fn painted_texts(h: &Harness<'static, EosApp>) -> Vec<(String, Rect)> {
    fn walk(s: &Shape, out: &mut Vec<(String, Rect)>) {
        match s {
            Shape::Text(t) => out.push((t.galley.text().to_string(), s.visual_bounding_rect())),
            Shape::Vec(v) => v.iter().for_each(|s| walk(s, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for c in &h.output().shapes {
        walk(&c.shape, &mut out);
    }
    out
}

/// Numeric labels under the plot's data area (x ticks) and left of it (y ticks).
fn tick_labels(texts: &[(String, Rect)], frame: Rect) -> (Vec<String>, Vec<String>) {
    let numeric = |t: &str| t.trim().parse::<f64>().is_ok();
    let x = texts
        .iter()
        .filter(|(t, r)| {
            numeric(t)
                && r.top() >= frame.bottom() - 1.0
                && r.bottom() <= frame.bottom() + 30.0
                && r.center().x >= frame.left() - 2.0
                && r.center().x <= frame.right() + 2.0
        })
        .map(|(t, _)| t.clone())
        .collect();
    let y = texts
        .iter()
        .filter(|(t, r)| {
            numeric(t)
                && r.right() <= frame.left() + 1.0
                && r.left() >= frame.left() - 56.0
                && r.center().y >= frame.top() - 2.0
                && r.center().y <= frame.bottom() + 2.0
        })
        .map(|(t, _)| t.clone())
        .collect();
    (x, y)
}

fn settle(h: &mut Harness<'static, EosApp>, frames: usize) {
    for _ in 0..frames {
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A run folder with `n` rows for the Runs workspace.
fn run_folder(n: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("eos-readable-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder");
    let mut csv = String::from("step,train_loss,lambda_1,lr\n");
    for i in 0..n {
        let t = i as f64;
        csv += &format!(
            "{i},{},{},0.1\n",
            2.3 * (-t / 40.0).exp() + 0.01,
            5.0 + 0.2 * t
        );
    }
    std::fs::write(dir.join("metrics.csv"), csv).expect("write metrics");
    dir
}

fn show(h: &mut Harness<'static, EosApp>, id: WorkspaceId) {
    h.state_mut().show(id);
    settle(h, 4);
}

/// Each plot of the workspace shown: 4–8 painted tick labels per axis, and its legend (if
/// any) left of the newest 20 % of the x range. Returns how many plots were checked.
fn check_plots(h: &mut Harness<'static, EosApp>, what: &str) -> usize {
    let frames = plot_aids::frames(&h.ctx);
    let texts = painted_texts(h);
    let legend_boxes: Vec<Rect> = h
        .query_all_by_role(Role::CheckBox)
        .map(|n| n.rect())
        .collect();
    for (key, frame) in &frames {
        let (x, y) = tick_labels(&texts, *frame);
        for (axis, labels) in [("x", &x), ("y", &y)] {
            assert!(
                (MIN_TICKS..=MAX_TICKS).contains(&labels.len()),
                "{what}: plot {key} ({:.0}×{:.0} px) has {} labelled {axis} ticks: {labels:?}",
                frame.width(),
                frame.height(),
                labels.len()
            );
        }
        let newest = frame.left() + 0.8 * frame.width();
        for b in legend_boxes.iter().filter(|b| frame.contains(b.center())) {
            assert!(
                b.right() <= newest,
                "{what}: plot {key}'s legend reaches x = {:.0}, into the newest 20 % (from {newest:.0})",
                b.right()
            );
        }
    }
    frames.len()
}

#[test]
fn every_plot_has_four_to_eight_ticks_and_legends_leave_the_newest_data_free() {
    let run = run_folder(120);
    for size in [[1280.0, 720.0], [1024.0, 768.0]] {
        let what = format!("{}×{}", size[0], size[1]);
        let mut h = harness(size);
        finished_run(&mut h, 60);
        settle(&mut h, 4);
        let n = check_plots(&mut h, &format!("{what} Training"));
        assert!(n >= 3, "{what}: Training drew {n} plots");
        // The Training legends are there (and were checked above).
        assert!(
            h.query_all_by_role(Role::CheckBox)
                .any(|n| n.accesskit_node().label().is_some_and(|l| l.contains("λ1")))
        );

        show(&mut h, selfstab::ID);
        let n = check_plots(&mut h, &format!("{what} Self-stabilization"));
        assert_eq!(n, 3, "{what}: Self-stabilization plots");

        show(&mut h, linear::ID);
        // Its run has rows (an empty plot has no data range to tick).
        wait(&mut h, "the linear model's rows", |a| {
            a.workspace::<linear::LinearWorkspace>()
                .is_some_and(|l| l.rows.len() >= 20)
        });
        settle(&mut h, 3);
        let n = check_plots(&mut h, &format!("{what} Linear model"));
        assert_eq!(n, 4, "{what}: Linear model plots");

        h.state_mut().send(AppCommand::OpenRun(run.clone()));
        let t0 = Instant::now();
        while plot_aids::frames(&h.ctx)
            .iter()
            .all(|(k, _)| !k.starts_with("runs-"))
        {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the run did not open"
            );
            settle(&mut h, 1);
        }
        assert_eq!(h.state().active(), runs::ID);
        settle(&mut h, 3);
        let n = check_plots(&mut h, &format!("{what} Runs"));
        assert!(n >= 2, "{what}: Runs drew {n} plots");
    }
}

#[test]
fn hovering_a_training_plot_lists_every_series_at_that_step() {
    let mut h = harness([1280.0, 720.0]);
    finished_run(&mut h, 40);
    settle(&mut h, 3);
    let frames = plot_aids::frames(&h.ctx);
    let sharp = frames
        .iter()
        .find(|(k, _)| k == "train-sharpness")
        .map(|(_, r)| *r)
        .expect("the sharpness plot is drawn");
    // Hover at x ≈ step 20 of 0…40.
    h.hover_at(egui::pos2(
        sharp.left() + 0.5 * sharp.width(),
        sharp.center().y,
    ));
    settle(&mut h, 3);
    // The hover label is a tooltip: read it from the painted text.
    let hover = |h: &Harness<'static, EosApp>| -> Vec<String> {
        painted_texts(h)
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| t.starts_with("step ") && t.contains("\n") && t.contains(" = "))
            .collect()
    };
    let labels = hover(&h);
    let text = labels
        .first()
        .unwrap_or_else(|| panic!("no hover label listing the series: {labels:?}"));
    for series in ["λ1 = ", "λ2 = ", "2/η = 20"] {
        assert!(text.contains(series), "{series} missing from {text:?}");
    }
    let step: usize = text["step ".len()..]
        .lines()
        .next()
        .and_then(|s| s.trim().parse().ok())
        .expect("a step number");
    assert!((15..=25).contains(&step), "hovered step {step} in {text:?}");
    // The loss plot lists train and test loss at the same step.
    let loss = frames
        .iter()
        .find(|(k, _)| k == "train-loss")
        .map(|(_, r)| *r)
        .expect("the loss plot is drawn");
    h.hover_at(egui::pos2(
        loss.left() + 0.5 * loss.width(),
        loss.center().y,
    ));
    settle(&mut h, 3);
    let text = hover(&h);
    assert!(
        text.iter()
            .any(|l| l.contains("train") && l.contains("test")),
        "loss hover: {text:?}"
    );
}

#[test]
fn r_asks_before_resetting_and_question_mark_lists_the_shortcuts() {
    let mut h = harness([1280.0, 720.0]);
    finished_run(&mut h, 12);
    let n = records(h.state());
    assert_eq!(n, 13);
    h.key_press(Key::R);
    settle(&mut h, 3);
    assert!(tr(h.state()).confirm_reset, "R asks first");
    assert_eq!(records(h.state()), n, "nothing is reset before the answer");
    assert!(h.query_by_label("Reset (Enter)").is_some());
    h.key_press(Key::Escape);
    settle(&mut h, 3);
    assert!(!tr(h.state()).confirm_reset);
    settle(&mut h, 10);
    assert_eq!(records(h.state()), n, "Esc keeps the run");
    h.key_press(Key::R);
    settle(&mut h, 2);
    h.key_press(Key::Enter);
    wait(&mut h, "the reset", |a| records(a) == 0);

    assert!(h.query_by_label("Keyboard shortcuts").is_none());
    h.key_press(Key::Questionmark);
    settle(&mut h, 3);
    assert!(
        h.query_by_label("Keyboard shortcuts").is_some(),
        "? opens the list"
    );
    assert!(h.query_all_by_label_contains("Full screen").count() >= 1);
    h.key_press(Key::Escape);
    settle(&mut h, 3);
    assert!(
        h.query_by_label("Keyboard shortcuts").is_none(),
        "Esc closes it"
    );
}

#[test]
fn a_sweep_asks_before_replacing_the_run_and_defaults_scale_with_eta() {
    let mut h = harness([1280.0, 720.0]);
    let lr = tr(h.state()).config.lr;
    assert!((tr(h.state()).branch_lr - 0.5 * lr).abs() < 1e-3 * lr);
    finished_run(&mut h, 8);
    tr_mut(h.state_mut()).sweep_text = "0.05, 0.1".into();
    settle(&mut h, 2);
    h.get_by_label("Run sweep").click_accesskit();
    settle(&mut h, 3);
    assert!(tr(h.state()).confirm_sweep, "the sweep asks first");
    assert!(tr(h.state()).overlays.is_empty());
    assert_eq!(records(h.state()), 9, "the run is still there");
    h.get_by_label("Keep the run (Esc)").click_accesskit();
    settle(&mut h, 3);
    assert!(!tr(h.state()).confirm_sweep && tr(h.state()).overlays.is_empty());
    h.get_by_label("Run sweep").click_accesskit();
    settle(&mut h, 2);
    h.key_press(Key::Enter);
    wait(&mut h, "the sweep overlay", |a| tr(a).overlays.len() == 1);
}

#[test]
fn a_plot_can_be_focused_and_esc_returns() {
    let mut h = harness([1024.0, 768.0]);
    finished_run(&mut h, 10);
    settle(&mut h, 3);
    let before = plot_aids::frames(&h.ctx);
    assert!(before.len() >= 3);
    let small = before
        .iter()
        .find(|(k, _)| k == "train-loss")
        .map(|(_, r)| r.height())
        .expect("loss plot");
    h.get_all_by_label("focus")
        .next()
        .expect("a focus button")
        .click();
    settle(&mut h, 4);
    let after = plot_aids::frames(&h.ctx);
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(
        after[0].1.height() > 2.0 * small,
        "the focused plot fills the area"
    );
    h.key_press(Key::Escape);
    settle(&mut h, 4);
    assert_eq!(plot_aids::frames(&h.ctx).len(), before.len());
}

#[test]
fn under_large_font_every_text_of_every_workspace_grows() {
    let size_of_texts = |large: bool| -> Vec<(String, f32)> {
        let settings = Settings {
            large_font: large,
            ..Settings::default()
        };
        let mut h = Harness::builder()
            .with_size([1280.0, 720.0])
            .build_eframe(move |cc| EosApp::new(&cc.egui_ctx, settings.clone(), false));
        finished_run(&mut h, 10);
        let mut out = Vec::new();
        for id in [training::ID, selfstab::ID, linear::ID] {
            show(&mut h, id);
            settle(&mut h, 3);
            fn walk(s: &Shape, out: &mut Vec<(String, f32)>) {
                match s {
                    Shape::Text(t) => {
                        for sec in &t.galley.job.sections {
                            out.push((t.galley.text().to_string(), sec.format.font_id.size));
                        }
                    }
                    Shape::Vec(v) => v.iter().for_each(|s| walk(s, out)),
                    _ => {}
                }
            }
            for c in &h.output().shapes {
                walk(&c.shape, &mut out);
            }
        }
        out
    };
    let normal = size_of_texts(false);
    let large = size_of_texts(true);
    let smallest = |v: &[(String, f32)]| {
        v.iter()
            .filter(|(t, _)| !t.trim().is_empty())
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .cloned()
            .expect("some text")
    };
    let (n_text, n) = smallest(&normal);
    let (l_text, l) = smallest(&large);
    // Readable on a projector at the normal size, and every text follows the setting.
    assert!(n >= 11.0, "smallest normal text {n} px: {n_text:?}");
    assert!(
        l >= 1.25 * n,
        "smallest large text {l} px ({l_text:?}) vs normal {n} px"
    );
}

#[test]
fn the_lr_slider_is_wide_and_spans_two_decades_around_the_preset() {
    let mut h = harness([1280.0, 720.0]);
    settle(&mut h, 4);
    let lr = tr(h.state()).config.lr;
    let anchor = tr(h.state()).lr_anchor;
    assert!(
        (anchor - lr).abs() < 1e-12,
        "the range sits around the preset's η"
    );
    let slider = h.get_by_role_and_label(Role::Slider, "η (learning rate)");
    let width = slider.rect().width();
    let node = slider.accesskit_node();
    let (lo, hi) = (
        node.min_numeric_value().expect("a range"),
        node.max_numeric_value().expect("a range"),
    );
    assert!(
        lo <= lr && lr <= hi && hi / lo <= 100.0 + 1e-9,
        "range {lo}…{hi} around η = {lr}"
    );
    // On a log rail a 17-px drag multiplies η by (hi/lo)^(17/width).
    let factor = (hi / lo).powf(17.0 / width as f64);
    eprintln!("η slider {width:.0} px wide: a 17-px drag multiplies η by {factor:.2}");
    assert!(width >= 120.0, "η slider {width} px");
    assert!(factor < 2.0, "a 17-px drag multiplies η by {factor}");
}
