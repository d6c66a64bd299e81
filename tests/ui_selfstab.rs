#![cfg(feature = "gui")]

//! Self-stabilization workspace: every slider is found by role and label, and changing it
//! recomputes the map and the plotted series in the same frame.

use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

use eos_explorer::ui::Workspace as _;
use eos_explorer::ui::selfstab::{SelfStabWorkspace, XDisplay};
use eos_explorer::ui::shell::Host;

type Getter = fn(&State) -> f64;

#[derive(Default)]
struct State {
    ws: SelfStabWorkspace,
    host: Host,
}

fn harness() -> Harness<'static, State> {
    Harness::builder()
        .with_size([1280.0, 900.0])
        .with_context_setup(eos_explorer::ui::theme::install_fonts)
        .build_ui_state(
            |ui, s: &mut State| {
                let mut cx = s.host.cx();
                s.ws.logic(ui.ctx(), &mut cx);
                s.ws.ui(ui, &mut cx);
            },
            State::default(),
        )
}

#[test]
fn sliders_change_the_simulation_and_the_plots() {
    let mut h = harness();
    h.run();
    let first = h.state().ws.series.clone();
    assert_eq!(first.x.len(), 401, "the four-stage preset has 401 rows");
    assert!(
        first.phase.iter().all(|p| !p.is_empty()),
        "all four stages drawn"
    );

    let cases: [(&str, f64, Getter); 4] = [
        ("η (learning rate)", 0.05, |s| s.ws.params.lr),
        ("α (sharpening rate)", 0.8, |s| s.ws.params.alpha),
        ("β (stabilising strength)", 2.0, |s| s.ws.params.beta),
        ("x₀ (initial displacement)", 0.1, |s| s.ws.params.x0),
    ];
    for (label, value, get) in cases {
        let before = h.state().ws.series.clone();
        let n = h.state().ws.recomputes;
        let slider = h.get_by_role_and_label(Role::Slider, label);
        slider.set_value_accesskit(value);
        h.run();
        let s = h.state();
        assert!(
            (get(s) - value).abs() < 1e-9,
            "{label}: parameter is {}",
            get(s)
        );
        assert!(s.ws.recomputes > n, "{label}: map not recomputed");
        assert_ne!(s.ws.series, before, "{label}: plotted series unchanged");
        let run = s.ws.run.as_ref().map(|r| r.params.clone());
        assert_eq!(run.as_ref().map(|p| p.lr), Some(s.ws.params.lr));
        // The drawn slider node reports the new value.
        let node = h.get_by_role_and_label(Role::Slider, label);
        let shown = node.accesskit_node().numeric_value().unwrap_or(f64::NAN);
        assert!(
            (shown - value).abs() < 1e-6 * value.max(1.0),
            "{label}: slider shows {shown}"
        );
    }
    // Threshold and δ follow the parameters: η = 0.05, α = 0.8, β = 2 → 2/η = 40, δ = √0.8.
    let s = &h.state().ws.series;
    assert!((s.threshold - 40.0).abs() < 1e-9);
    assert!((s.delta - 0.8f64.sqrt()).abs() < 1e-12);
}

#[test]
fn display_toggle_and_steps_slider() {
    let mut h = harness();
    h.run();
    h.get_by_label("x_t²").click();
    h.run();
    assert_eq!(h.state().ws.display, XDisplay::Square);
    assert!(h.state().ws.series.x.iter().all(|p| p[1] >= 0.0));
    h.get_by_role_and_label(Role::Slider, "steps")
        .set_value_accesskit(100.0);
    h.run();
    assert_eq!(h.state().ws.series.x.len(), 101);
}

#[test]
fn playback_cursor_moves() {
    let mut h = harness();
    h.run();
    h.get_by_label("Play").click();
    for _ in 0..10 {
        h.step();
    }
    assert!(h.state().ws.playing);
    assert!(h.state().ws.cursor > 0.0, "cursor did not move");
}
