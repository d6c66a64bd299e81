#![cfg(feature = "gui")]

//! Linear-model workspace: the run happens on a worker and its rows reach the plots; a
//! parameter change restarts it; an invalid parameter shows a message.

use std::time::{Duration, Instant};

use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use eos_explorer::engine::theory::linear::LinearParams;
use eos_explorer::ui::Workspace as _;
use eos_explorer::ui::linear::LinearWorkspace;
use eos_explorer::ui::repaint::RepaintPolicy;
use eos_explorer::ui::shell::Host;

struct State {
    ws: LinearWorkspace,
    host: Host,
}

fn wait(h: &mut Harness<'static, State>, what: &str, pred: impl Fn(&State) -> bool) {
    let t0 = Instant::now();
    while !pred(h.state()) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn small() -> LinearParams {
    LinearParams {
        m: 20,
        d: 10,
        n: 10,
        steps: 40,
        ..LinearParams::li_linear()
    }
}

#[test]
fn runs_on_a_worker_and_restarts_on_change() {
    let mut h = Harness::builder()
        .with_size([1280.0, 900.0])
        .with_context_setup(eos_explorer::ui::theme::install_fonts)
        .build_ui_state(
            |ui, s: &mut State| {
                let mut cx = s.host.cx();
                s.ws.logic(ui.ctx(), &mut cx);
                s.ws.ui(ui, &mut cx);
            },
            State {
                ws: LinearWorkspace::new(
                    &eframe::egui::Context::default(),
                    &RepaintPolicy::default(),
                ),
                host: Host::default(),
            },
        );
    h.state_mut().ws.set_params(small());
    wait(&mut h, "all rows", |s| {
        s.ws.rows.len() == 41 && !s.ws.running
    });
    let s = &h.state().ws;
    assert!(s.rows.iter().any(|r| r.sharpness.is_some()));
    assert!(s.rows.iter().any(|r| r.residuals.is_some()));
    let first_id = s.run_id;

    h.get_by_role_and_label(Role::Slider, "η (learning rate)")
        .set_value_accesskit(1.0);
    wait(&mut h, "restart", |s| s.ws.run_id != first_id);
    wait(&mut h, "rows of the new run", |s| s.ws.rows.len() == 41);
    assert!(
        h.state()
            .ws
            .rows
            .iter()
            .all(|r| (r.two_over_eta - 2.0).abs() < 1e-12)
    );

    // Odd width with the symmetric init: a message instead of a run.
    h.get_by_role_and_label(Role::Slider, "m (width)")
        .set_value_accesskit(21.0);
    wait(&mut h, "error", |s| s.ws.error.is_some());
    h.step();
    let n = h.query_all_by_label_contains("even width").count();
    assert!(
        n >= 1,
        "no message about the even width (m = {}, error {:?})",
        h.state().ws.params.m,
        h.state().ws.error
    );
}
