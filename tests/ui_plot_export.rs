#![cfg(feature = "gui")]

//! `engine::plot::write_plot` writes SVG and PNG figures without system libraries.

use std::path::PathBuf;

use eos_explorer::engine::plot::{PlotSpec, Series, SeriesStyle, Threshold, write_plot};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-ui-plot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    if let Err(e) = std::fs::create_dir_all(&d) {
        panic!("cannot create {}: {e}", d.display());
    }
    d
}

fn spec(log_y: bool) -> PlotSpec {
    let mut s = PlotSpec::new("Sharpness test figure", "step", "eigenvalue");
    s.log_y = log_y;
    s.series.push(Series::line(
        "lambda_1 series",
        (0..200).map(|i| [i as f64, 1.0 + i as f64 * 0.1]).collect(),
    ));
    s.series.push(Series {
        name: "lambda_2 series".into(),
        points: (0..200)
            .map(|i| [i as f64, 0.5 + i as f64 * 0.05])
            .collect(),
        style: SeriesStyle::Dashed,
        color: None,
    });
    s.series.push(Series {
        name: "marker series".into(),
        points: vec![[50.0, 3.0], [150.0, 9.0]],
        style: SeriesStyle::Points,
        color: Some([10, 20, 30]),
    });
    s.threshold = Some(Threshold {
        name: "2/eta threshold".into(),
        steps: vec![[0.0, 10.0], [100.0, 20.0]],
    });
    s
}

#[test]
fn writes_svg_with_series_names() {
    let d = temp_dir("svg");
    for log_y in [false, true] {
        let p = d.join(format!("fig-{log_y}.svg"));
        if let Err(e) = write_plot(&p, &spec(log_y)) {
            panic!("{e}");
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(text.contains("<svg"), "not an SVG");
        assert!(text.trim_end().ends_with("</svg>"));
        for name in [
            "lambda_1 series",
            "lambda_2 series",
            "marker series",
            "2/eta threshold",
            "Sharpness test figure",
        ] {
            assert!(text.contains(name), "{name} missing from the SVG");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn writes_png_that_decodes() {
    let d = temp_dir("png");
    let p = d.join("fig.png");
    if let Err(e) = write_plot(&p, &spec(true)) {
        panic!("{e}");
    }
    let img = match image::open(&p) {
        Ok(i) => i.to_rgb8(),
        Err(e) => panic!("PNG does not decode: {e}"),
    };
    assert_eq!((img.width(), img.height()), (900, 560));
    // White background, but not blank: some pixels are drawn.
    assert_eq!(img.get_pixel(2, 2).0, [255, 255, 255]);
    let dark = img
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c < 128))
        .count();
    assert!(dark > 500, "only {dark} dark pixels");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_extension_and_empty_data_are_errors() {
    let d = temp_dir("err");
    let e = write_plot(&d.join("fig.jpg"), &spec(false));
    assert!(e.is_err_and(|e| e.to_string().contains(".svg or .png")));
    let empty = PlotSpec::new("empty", "x", "y");
    assert!(write_plot(&d.join("e.svg"), &empty).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn run_folder_has_metrics_and_config() {
    use eos_explorer::engine::config::RunConfig;
    use eos_explorer::engine::session::StepRecord;
    let d = temp_dir("run");
    let rec = |step: usize, lr: f64| StepRecord {
        step,
        wall_s: step as f64 * 0.1,
        lr,
        threshold: 2.0 / lr,
        train_loss: 1.0 / (step as f64 + 1.0),
        train_acc: Some(0.5),
        test_loss: None,
        test_acc: None,
        eigs: Some(vec![3.0, 2.0]),
        hvps: Some(12),
        lanczos_residual: Some(1e-4),
        grad_norm: 0.3,
    };
    let records = vec![rec(0, 0.1), rec(1, 0.1), rec(2, 0.05)];
    let cfg = RunConfig {
        neigs: 2,
        ..RunConfig::default()
    };
    let dir = d.join("run-1");
    if let Err(e) = eos_explorer::ui::export::write_run_folder(&dir, &records, &cfg, 2) {
        panic!("{e}");
    }
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap_or_default();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "step,wall_s,lr,train_loss,train_acc,test_loss,test_acc,lambda_1,lambda_2,hvps,lanczos_residual,grad_norm,threshold"
        )
    );
    assert_eq!(lines.count(), 3);
    // config.json in the versioned form the CLI writes, read back by the engine's reader.
    let back = eos_explorer::engine::run_folder::read_run(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.run.config, Some(cfg.clone()));
    assert!(back.run.format_version >= 1);
    let _ = std::fs::remove_dir_all(&d);
}

/// A run export with an overlaid branch and a measured theory log: the overlay gets its own
/// run folder and theory.csv holds the tracker's rows with the CLI's columns, exactly.
#[test]
fn run_export_has_overlays_and_theory() {
    use eos_explorer::engine::config::RunConfig;
    use eos_explorer::engine::data::DatasetSpec;
    use eos_explorer::engine::session::Session;
    use eos_explorer::engine::theory::measured::{
        CSV_COLUMNS, MeasuredTracker, StepInput, TheoryLog, TheoryOptions, TheoryUpdate,
    };
    use eos_explorer::ui::export::{OverlayExport, RunExport, write_run_export};

    // Progressive sharpening reaches 2/η = 2.5 at step 20 on this run.
    let cfg = RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 200,
            n_test: 50,
        },
        hidden: vec![32, 32],
        lr: 0.8,
        max_steps: 40,
        eig_every: 1,
        threads: 1,
        ..RunConfig::default()
    };
    let (mut s, _) = Session::from_config(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let mut tracker = MeasuredTracker::new(
        s.evaluator_f64(),
        TheoryOptions {
            window: 10,
            ..TheoryOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut log = TheoryLog::default();
    log.apply(TheoryUpdate::Started { step: 0 });
    let mut records = Vec::new();
    while let Some((r, stop)) = s.step() {
        let params = s.params_f64();
        let input = StepInput::from_record(&r, &params);
        if let Some(row) = tracker.observe(&input).unwrap_or_else(|e| panic!("{e}")) {
            if log.anchors.is_empty() {
                log.apply(TheoryUpdate::Anchor(Box::new(
                    tracker.anchors()[0].info.clone(),
                )));
            }
            log.apply(TheoryUpdate::Row(Box::new(row)));
        }
        records.push(r);
        if stop.is_some() {
            break;
        }
    }
    assert_eq!(log.rows.len(), 10);
    let branch: Vec<_> = records[5..]
        .iter()
        .cloned()
        .map(|mut r| {
            r.lr = 0.5;
            r
        })
        .collect();
    let export = RunExport {
        records: records.clone(),
        config: cfg.clone(),
        neigs: 1,
        overlays: vec![OverlayExport {
            name: "branch @ 5, η = 0.5".into(),
            records: branch,
            config: RunConfig {
                lr: 0.5,
                ..cfg.clone()
            },
        }],
        theory: log.clone(),
        theory_options: TheoryOptions {
            window: 10,
            ..TheoryOptions::default()
        },
        central_flow: Default::default(),
        central_flow_options: Default::default(),
    };
    let d = temp_dir("run-export");
    if let Err(e) = write_run_export(&d, &export) {
        panic!("{e}");
    }
    let lines = |p: PathBuf| -> Vec<String> {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .lines()
            .map(String::from)
            .collect()
    };
    assert_eq!(lines(d.join("metrics.csv")).len(), records.len() + 1);
    let ov = d.join("overlays").join("0-branch-5-eta-0.5");
    assert_eq!(lines(ov.join("metrics.csv")).len(), records.len() - 5 + 1);
    let oj = std::fs::read_to_string(ov.join("overlay.json")).unwrap_or_default();
    assert!(oj.contains("\"first_step\": 5"), "{oj}");
    let th = lines(d.join("theory.csv"));
    assert_eq!(th[0], CSV_COLUMNS.join(","));
    assert_eq!(th.len(), 11);
    for (line, row) in th[1..].iter().zip(&log.rows) {
        let back: Vec<Option<f64>> = line
            .split(',')
            .map(|c| (!c.is_empty()).then(|| c.parse::<f64>().unwrap_or(f64::NAN)))
            .collect();
        assert_eq!(back, row.cells());
    }
    // The same summary file, in the same form, as `run --theory` writes.
    let aj = std::fs::read_to_string(d.join("theory_summary.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&aj).unwrap_or_default();
    let a = &v["anchors"][0];
    assert_eq!(a["anchor"]["step"], 20);
    assert!(a["anchor"]["alpha"].as_f64().is_some_and(|a| a > 0.0));
    assert!(a["agreement"]["delta"].as_f64().is_some());
    assert_eq!(v["options"]["window"], 10);
    // The engine's reader reads the app's export back.
    let back = eos_explorer::engine::run_folder::read_run(&d).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.run.metrics.step.len(), records.len());
    assert_eq!(back.run.overlays.len(), 1);
    assert!(back.run.tables.contains_key("theory.csv"));
    let _ = std::fs::remove_dir_all(&d);
}
