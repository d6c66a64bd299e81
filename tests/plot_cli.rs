//! `eos-explorer plot`: figures from run folders written by hand (as a Python script would),
//! cut short, by the CLI, and with columns eos-explorer does not know.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eos-explorer"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-plot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp folder");
    d
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    let t = text(&o);
    assert!(o.status.success(), "{args:?} failed:\n{t}");
    assert!(!t.contains("panicked"), "{t}");
    t
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The SVG's polylines/paths as text (how many points a line has is what we check).
fn svg(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A folder as a Python script writes it: `step,train_loss` only, `repr(float)` numbers.
fn python_like(dir: &Path, rows: usize, truncated: bool) {
    let mut csv = String::from("step,train_loss\n");
    for t in 0..rows {
        csv += &format!("{t},{:?}\n", 1.0 / (1.0 + t as f64));
    }
    if truncated {
        csv += "99,0.0"; // a write cut short: no line end
    }
    std::fs::write(dir.join("metrics.csv"), csv).expect("write metrics");
}

#[test]
fn a_hand_written_folder_without_config_plots() {
    let d = tmp("py");
    let run_dir = d.join("my-pytorch-run");
    std::fs::create_dir_all(&run_dir).expect("mkdir");
    python_like(&run_dir, 20, false);
    let out = d.join("fig.svg");
    let t = ok(&["plot", s(&run_dir), "--out", s(&out), "--figure", "loss"]);
    assert!(!t.contains("warning"), "{t}");
    let body = svg(&out);
    assert!(body.contains("train loss"), "legend missing");
    // All figures: only the loss has data, so only FILE_loss is written.
    let t = ok(&["plot", s(&run_dir), "--out", s(&out)]);
    assert!(d.join("fig_loss.svg").exists(), "{t}");
    assert!(!d.join("fig_sharpness.svg").exists(), "{t}");
}

#[test]
fn a_truncated_last_line_plots_and_warns() {
    let d = tmp("cut");
    python_like(&d, 10, true);
    let out = d.join("loss.png");
    let t = ok(&["plot", s(&d), "--out", s(&out), "--figure", "loss"]);
    assert!(
        t.contains("warning") && t.contains("line 12") && t.contains("cut short"),
        "{t}"
    );
    let png = std::fs::read(&out).expect("png written");
    assert_eq!(&png[1..4], b"PNG");
}

fn cli_run(dir: &Path, lr: &str) {
    ok(&[
        "run",
        "--preset",
        "digits-demo",
        "--n",
        "60",
        "--arch",
        "fc-tanh:8",
        "--steps",
        "12",
        "--eig-every",
        "2",
        "--lr",
        lr,
        "--out",
        s(dir),
    ]);
}

#[test]
fn two_cli_runs_overlay_and_an_unknown_column_is_plottable() {
    let d = tmp("two");
    let (a, b) = (d.join("a"), d.join("b"));
    cli_run(&a, "0.5");
    cli_run(&b, "0.25");
    let out = d.join("sharp.svg");
    ok(&[
        "plot",
        s(&a),
        s(&b),
        "--out",
        s(&out),
        "--figure",
        "sharpness",
        "--theme",
        "dark",
        "--width",
        "1200",
        "--height",
        "700",
    ]);
    let body = svg(&out);
    // The main run's threshold and the overlay's λ1 and 2/η, labelled from its config.
    assert!(body.contains("2/η · digits · fc-tanh:8 · η = 0.5"), "main");
    assert!(
        body.contains("λ1 · digits · fc-tanh:8 · η = 0.25"),
        "overlay"
    );
    assert!(
        body.contains("2/η · digits · fc-tanh:8 · η = 0.25"),
        "overlay 2/η"
    );
    assert!(body.contains("width=\"1200\""), "size");

    // A column eos-explorer does not know, added by another program.
    let csv = std::fs::read_to_string(a.join("metrics.csv")).expect("metrics");
    let mut lines = csv.lines();
    let mut new = format!("{},my_metric\n", lines.next().expect("header"));
    for (i, l) in lines.enumerate() {
        new += &format!("{l},{}\n", i * i);
    }
    std::fs::write(a.join("metrics.csv"), new).expect("rewrite");
    let out = d.join("mine.svg");
    ok(&[
        "plot",
        s(&a),
        s(&b),
        "--out",
        s(&out),
        "--figure",
        "my_metric",
    ]);
    assert!(svg(&out).contains("my_metric"));
}

#[test]
fn bad_figure_names_list_the_valid_ones() {
    let d = tmp("bad");
    python_like(&d, 3, false);
    let o = run(&[
        "plot",
        s(&d),
        "--out",
        s(&d.join("x.svg")),
        "--figure",
        "lossy",
    ]);
    let t = text(&o);
    assert!(!o.status.success() && !t.contains("panicked"), "{t}");
    assert!(
        t.contains("loss, accuracy, sharpness, all") && t.contains("train_loss"),
        "{t}"
    );
    let o = run(&["plot", s(&d), "--out", s(&d.join("x.pdf"))]);
    assert!(text(&o).contains(".svg or .png"), "{}", text(&o));
    let o = run(&["plot", s(&d.join("nope")), "--out", s(&d.join("x.svg"))]);
    assert!(text(&o).contains("no metrics.csv"), "{}", text(&o));
}

#[test]
fn open_refuses_a_missing_folder_before_any_window() {
    let o = run(&["--open", "/no/such/run-folder"]);
    let t = text(&o);
    assert!(!o.status.success() && !t.contains("panicked"), "{t}");
    assert!(
        t.contains("--open /no/such/run-folder: no such folder"),
        "{t}"
    );
}

#[test]
fn the_overlays_of_an_app_export_are_overlaid() {
    use eos_explorer::engine::run_folder::{Overlay, read_run, write_run};
    let d = tmp("export");
    let (a, b) = (d.join("a"), d.join("b"));
    cli_run(&a, "0.5");
    cli_run(&b, "0.25");
    let mut main = read_run(&a).expect("read a").run;
    main.overlays.push(Overlay {
        name: "branch @ 4, η = 0.25".into(),
        run: read_run(&b).expect("read b").run,
    });
    main.summary = None;
    let export = d.join("export");
    write_run(&export, &main, false).expect("write the export");
    let out = d.join("sharp.svg");
    ok(&[
        "plot",
        s(&export),
        "--out",
        s(&out),
        "--figure",
        "sharpness",
    ]);
    assert!(svg(&out).contains("λ1 · branch @ 4, η = 0.25"));
}
