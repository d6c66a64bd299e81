#![cfg(feature = "gui")]

//! Screen and file draw the same figure: every legend entry of every training figure, built
//! from a real (small) digits run, appears on screen with its role's colour and in the SVG
//! with the same name and colour.

use eos_explorer::engine::central_flow::{
    CentralFlowProbe, CentralFlowProbeOptions, CentralFlowUpdate,
};
use eos_explorer::engine::config::RunConfig;
use eos_explorer::engine::data::DatasetSpec;
use eos_explorer::engine::figure::central_flow::CentralFlowSeries;
use eos_explorer::engine::figure::render::{ExportStyle, write_figure};
use eos_explorer::engine::figure::training::{self, OverlayRun, TrainingView};
use eos_explorer::engine::figure::{Figure, Role, RunSeries, Theme};
use eos_explorer::engine::probe::{Probe, ProbeUpdate};
use eos_explorer::engine::session::Session;
use eos_explorer::engine::theory::measured::PredictedLambda1;
use eos_explorer::ui::figure_view::{color_of, screen_items};

fn run(lr: f64) -> RunSeries {
    let config = RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 200,
            n_test: 50,
        },
        hidden: vec![16],
        lr,
        max_steps: 120,
        eig_every: 2,
        neigs: 2,
        test_every: 10,
        ..RunConfig::default()
    };
    let (mut s, _data) = Session::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut series = RunSeries::new();
    while let Some((r, _)) = s.step() {
        series.push(&r);
    }
    series
}

fn check(fig: &Figure, dir: &std::path::Path) {
    for theme in [Theme::Light, Theme::Dark] {
        let items = screen_items(fig, theme);
        assert_eq!(
            items.len(),
            fig.layers.len(),
            "{}: a layer is missing on screen",
            fig.id
        );
        let path = dir.join(format!("{}-{theme:?}.svg", fig.id));
        let st = ExportStyle {
            theme,
            ..ExportStyle::default()
        };
        write_figure(&path, fig, &st).unwrap_or_else(|e| panic!("{e}"));
        let svg = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .to_uppercase();
        for (layer, item) in fig.layers.iter().zip(&items) {
            assert_eq!(item.name(), layer.name);
            assert_eq!(item.color(), color_of(layer.role, theme), "{}", layer.name);
        }
        for (name, role) in fig.legend() {
            assert!(
                svg.contains(&name.to_uppercase()),
                "{}: {name} not in the SVG",
                fig.id
            );
            let c = role.rgba(theme);
            let hex = format!("#{:02X}{:02X}{:02X}", c[0], c[1], c[2]);
            assert!(
                svg.contains(&hex),
                "{}: {name}'s colour {hex} not in the SVG",
                fig.id
            );
        }
    }
}

#[test]
fn screen_and_file_carry_the_same_layers_and_colours() {
    let main = run(2.0);
    let other = run(1.0);
    let dir = std::env::temp_dir().join(format!("eos-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let prediction = PredictedLambda1 {
        points: (0..40)
            .map(|t| [t as f64 + 30.0, 0.5 * 1.3f64.powi(t)])
            .collect(),
        left_range_at: None,
    };
    let view = TrainingView {
        main: Some(&main),
        main_suffix: " · η = 2".into(),
        overlays: vec![OverlayRun {
            label: "η = 1".into(),
            role: Role::Run(0),
            draw_threshold: true,
            series: &other,
        }],
        prediction,
        log_y: true,
        central_flow: None,
    };
    let figs = training::all(&view);
    assert_eq!(figs.len(), 3, "loss, accuracy and sharpness");
    let sharp = &figs[2];
    for role in [
        Role::Threshold,
        Role::Eig(0),
        Role::Eig(1),
        Role::Run(0),
        Role::Predicted,
    ] {
        assert!(
            sharp.layers.iter().any(|l| l.role == role),
            "sharpness lacks {role:?}"
        );
    }
    for f in &figs {
        check(f, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The central flow's layers (loss and sharpness) and its two figures, from a real probe beside
/// a small digits run that reaches 2/η: the same names and colours on screen and in the file.
#[test]
fn central_flow_figures_carry_the_same_layers_and_colours() {
    let config = RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 100,
            n_test: 0,
        },
        hidden: vec![16, 16],
        lr: 0.8,
        max_steps: 30,
        eig_every: 1,
        threads: 1,
        ..RunConfig::default()
    };
    let (mut s, _data) = Session::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    let opts = CentralFlowProbeOptions {
        substeps: 2,
        lanczos_tol: 1e-6,
        ..CentralFlowProbeOptions::default()
    };
    let mut probe = CentralFlowProbe::new(&s, opts).unwrap_or_else(|e| panic!("{e}"));
    let mut main = RunSeries::new();
    let mut cf = CentralFlowSeries::new(10);
    while let Some((r, _)) = s.step() {
        main.push(&r);
        let mut out = Vec::new();
        probe
            .observe(&s, &r, &mut out)
            .unwrap_or_else(|e| panic!("{e}"));
        for u in out {
            if let ProbeUpdate::CentralFlow(CentralFlowUpdate::Row(row)) = u {
                cf.push(&row);
            }
        }
    }
    assert!(!cf.sigma2.is_empty(), "the flow never became critical");
    let view = TrainingView {
        main: Some(&main),
        log_y: true,
        central_flow: Some(&cf),
        ..Default::default()
    };
    let figs = training::all(&view);
    let ids: Vec<&str> = figs.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["loss", "accuracy", "sharpness", "distance", "sigma2"]);
    for id in ["loss", "sharpness", "distance", "sigma2"] {
        let f = figs.iter().find(|f| f.id == id);
        assert!(
            f.is_some_and(|f| f.layers.iter().any(|l| l.role == Role::CentralFlow)),
            "{id} lacks the central flow"
        );
    }
    let dir = std::env::temp_dir().join(format!("eos-parity-cf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    for f in &figs {
        check(f, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
