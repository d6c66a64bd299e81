#![cfg(feature = "gui")]

//! The workspace shell: `logic` drains every worker with no `ui` pass (as eframe does while the
//! window is hidden), the window's state sets the repaint policy, and requests between
//! workspaces go through the typed command queue.

use std::time::{Duration, Instant};

use eframe::egui::{RawInput, ViewportId};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use eos_explorer::engine::config::RunConfig;
use eos_explorer::engine::data::DatasetSpec;
use eos_explorer::ui::selfstab::{self, SelfStabWorkspace};
use eos_explorer::ui::training::{self, TrainingWorkspace};
use eos_explorer::ui::{AppCommand, EosApp, Settings, linear, runs};

fn app_harness() -> Harness<'static, EosApp> {
    Harness::builder()
        .with_size([1280.0, 900.0])
        .build_eframe(|cc| EosApp::new(&cc.egui_ctx, Settings::default(), false))
}

fn tr(app: &EosApp) -> &TrainingWorkspace {
    app.workspace()
        .expect("the Training workspace is registered")
}

fn tr_mut(app: &mut EosApp) -> &mut TrainingWorkspace {
    app.workspace_mut()
        .expect("the Training workspace is registered")
}

fn records(app: &EosApp) -> usize {
    tr(app).run.as_ref().map_or(0, |r| r.records.len())
}

/// Input of a window that is minimised and has no focus.
fn hidden_input() -> RawInput {
    let mut raw = RawInput::default();
    let v = raw.viewports.entry(ViewportId::ROOT).or_default();
    v.minimized = Some(true);
    v.focused = Some(false);
    raw
}

/// Run only the app's logic, as eframe does while the window is hidden.
fn logic_only(h: &mut Harness<'static, EosApp>, raw: &RawInput) {
    let ctx = h.ctx.clone();
    let app = h.state_mut();
    let _ = ctx.run_logic(raw, |ctx| app.tick(ctx));
}

#[test]
fn logic_drains_worker_events_without_a_ui_pass() {
    let mut h = app_harness();
    h.step();
    tr_mut(h.state_mut()).set_config(RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 40,
            n_test: 20,
        },
        hidden: vec![6],
        max_steps: 30,
        eig_every: 1,
        test_every: 5,
        lr: 0.1,
        ..RunConfig::default()
    });
    tr_mut(h.state_mut()).start();
    let passes = h.ctx.cumulative_pass_nr();
    let raw = hidden_input();
    let t0 = Instant::now();
    while !(records(h.state()) == 31
        && tr(h.state())
            .run
            .as_ref()
            .is_some_and(|r| r.finished.is_some()))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "logic drained {} records in 30 s",
            records(h.state())
        );
        logic_only(&mut h, &raw);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(h.ctx.cumulative_pass_nr(), passes, "a ui pass ran");
    assert!(
        h.state().host.repaint.is_background(),
        "a minimised window is in the background"
    );
    let run = tr(h.state()).run.as_ref();
    assert!(run.is_some_and(|r| r.series.eigs.first().is_some_and(|e| e.len() == 31)));
    // The window shown again draws what logic collected, and the policy is back to normal.
    h.step();
    assert!(!h.state().host.repaint.is_background());
    assert!(h.query_all_by_label_contains("step 30 / 30").count() >= 1);
}

#[test]
fn commands_switch_workspaces_apply_presets_and_remember_folders() {
    let mut h = app_harness();
    h.step();
    assert_eq!(h.state().active(), training::ID);
    h.state_mut().send(AppCommand::Show(linear::ID));
    logic_only(&mut h, &RawInput::default());
    assert_eq!(h.state().active(), linear::ID);

    let Some(p) = eos_explorer::engine::presets::find("damian-stages") else {
        panic!("preset damian-stages is missing")
    };
    h.state_mut().send(AppCommand::ApplyPreset {
        preset: Box::new(p),
        start: false,
    });
    logic_only(&mut h, &RawInput::default());
    assert_eq!(h.state().active(), selfstab::ID);
    assert_eq!(
        h.state().host.settings.last_preset.as_deref(),
        Some("damian-stages")
    );

    h.state_mut().send(AppCommand::RememberCifarDir(
        "/data/cifar-10-batches-bin".into(),
    ));
    logic_only(&mut h, &RawInput::default());
    assert_eq!(
        h.state().host.settings.cifar_dir.as_deref(),
        Some("/data/cifar-10-batches-bin")
    );

    // With nothing measured yet, "open in Self-stabilization" says why instead of copying.
    h.state_mut().show(training::ID);
    h.state_mut().send(AppCommand::OpenInSelfStab);
    logic_only(&mut h, &RawInput::default());
    assert_eq!(h.state().active(), selfstab::ID);
    let ss: Option<&SelfStabWorkspace> = h.state().workspace();
    assert!(ss.is_some_and(|s| s.network_error.is_some()));

    h.state_mut().send(AppCommand::Notify {
        text: "hello from a command".into(),
        error: false,
    });
    h.step();
    h.step();
    assert!(
        h.query_all_by_label_contains("hello from a command")
            .count()
            >= 1
    );
}

#[test]
fn registry_lists_each_workspace_once_and_names_them() {
    let h = app_harness();
    let ids: Vec<_> = h.state().workspaces.iter().map(|w| w.id()).collect();
    assert_eq!(ids, vec![training::ID, selfstab::ID, linear::ID, runs::ID]);
    for (s, id) in [
        ("train", training::ID),
        ("self-stab", selfstab::ID),
        ("Linear", linear::ID),
        ("runs", runs::ID),
    ] {
        assert_eq!(h.state().workspaces.find_id(s), Some(id), "{s}");
    }
    assert_eq!(h.state().workspaces.find_id("plots"), None);
}

/// Issue 10: notices are toasts over the content (the controls do not move under the
/// pointer when one appears), an error stays until dismissed, and each can be copied.
#[test]
fn notices_are_toasts_that_do_not_move_the_layout() {
    let mut h = app_harness();
    h.step();
    let start_before = h.get_by_label("Start").rect();
    h.state_mut().host.commands.send(AppCommand::Notify {
        text: "wrote /tmp/eos-toast-test/sharpness.svg".into(),
        error: false,
    });
    h.state_mut().host.commands.send(AppCommand::Notify {
        text: "could not write /nonexistent/x.png".into(),
        error: true,
    });
    h.step();
    h.step();
    assert!(
        h.query_by_label_contains("wrote /tmp/eos-toast-test")
            .is_some()
    );
    assert!(h.query_by_label_contains("could not write").is_some());
    assert_eq!(
        h.get_by_label("Start").rect(),
        start_before,
        "the layout moved"
    );
    assert_eq!(h.query_all_by_label("copy").count(), 2);
    // Dismissing the error removes it; the info notice is still there (it goes by itself).
    let dismiss: Vec<_> = h.query_all_by_label("x").collect();
    assert_eq!(dismiss.len(), 2);
    dismiss[1].click();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("could not write").is_none());
    assert!(
        h.query_by_label_contains("wrote /tmp/eos-toast-test")
            .is_some()
    );
    assert_eq!(h.state().host.exports.notices.len(), 1);
}
