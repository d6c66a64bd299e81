#![cfg(feature = "gui")]

//! Every input widget in every workspace has an accessible name (issue 4, §7): screen readers
//! and the kittest queries find controls by role and label.

use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

use eos_explorer::ui::{AppCommand, EosApp, Settings, linear, runs, selfstab, training};

const INPUT_ROLES: [Role; 9] = [
    Role::Slider,
    Role::SpinButton,
    Role::CheckBox,
    Role::TextInput,
    Role::ComboBox,
    Role::Button,
    Role::RadioButton,
    Role::Switch,
    Role::Tab,
];

#[test]
fn every_input_widget_has_an_accessible_name() {
    let mut h = Harness::builder()
        .with_size([1280.0, 900.0])
        .build_eframe(|cc| EosApp::new(&cc.egui_ctx, Settings::default(), false));
    // The Runs workspace with a run open (its list, replay bar and skipped-rows note).
    let run = std::env::temp_dir().join(format!("eos-a11y-run-{}", std::process::id()));
    std::fs::create_dir_all(&run).expect("temp folder");
    std::fs::write(
        run.join("metrics.csv"),
        "step,train_loss,lambda_1,lr\n0,1.0,1.0,0.5\n1,0.5,x,0.5\n",
    )
    .expect("write metrics");
    h.state_mut().send(AppCommand::OpenRun(run));
    for tab in [training::ID, selfstab::ID, linear::ID, runs::ID] {
        h.state_mut().show(tab);
        for _ in 0..3 {
            h.step();
        }
        if tab == runs::ID {
            let t0 = std::time::Instant::now();
            while h
                .query_all_by_label_contains("skipped while reading")
                .count()
                == 0
            {
                assert!(t0.elapsed().as_secs() < 30, "the run did not open");
                std::thread::sleep(std::time::Duration::from_millis(10));
                h.step();
            }
        }
        let mut inputs = 0;
        let mut unnamed = Vec::new();
        for node in h.query_all_by(|n| INPUT_ROLES.contains(&n.role())) {
            inputs += 1;
            let n = node.accesskit_node();
            if n.label().is_none_or(|l| l.trim().is_empty()) {
                unnamed.push(format!("{:?} value {:?}", n.role(), n.value()));
            }
        }
        assert!(inputs >= 10, "{tab:?}: only {inputs} input widgets found");
        assert!(unnamed.is_empty(), "{tab:?}: unnamed inputs: {unnamed:#?}");
    }
}
