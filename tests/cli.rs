//! The headless command line end to end: files written, reruns reproducible, and every bad
//! input ends in a clear message and a non-zero exit without a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eos-explorer"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
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

fn assert_clean_failure(args: &[&str], expect: &str) {
    let o = run(args);
    let t = text(&o);
    assert!(!o.status.success(), "{args:?} should fail:\n{t}");
    assert!(!t.contains("panicked"), "{args:?} panicked:\n{t}");
    assert!(
        t.to_lowercase().contains(&expect.to_lowercase()),
        "{args:?}: message should mention {expect:?}:\n{t}"
    );
}

fn column(csv: &Path, name: &str) -> Vec<String> {
    let s = std::fs::read_to_string(csv).expect("csv");
    let mut lines = s.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let i = header.iter().position(|h| *h == name).expect("column");
    lines
        .map(|l| l.split(',').nth(i).unwrap_or("").to_string())
        .collect()
}

#[test]
fn run_writes_config_metrics_params_and_data_and_reruns_identically() {
    let out = tmp("digits");
    let o = run(&[
        "run",
        "--preset",
        "digits-demo",
        "--steps",
        "6",
        "--arch",
        "fc-tanh:16",
        "--save-params",
        "0,3,6",
        "--save-data",
        "--quiet",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for f in [
        "config.json",
        "metrics.csv",
        "summary.json",
        "train.npz",
        "params_step0.npz",
        "params_step3.npz",
        "params_step6.npz",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    assert!(!out.join("params_step1.npz").exists());
    let loss = column(&out.join("metrics.csv"), "train_loss");
    assert_eq!(loss.len(), 7);
    assert!(!column(&out.join("metrics.csv"), "lambda_1")[0].is_empty());

    let again = tmp("digits-again");
    let o = run(&[
        "run",
        "--config",
        out.join("config.json").to_str().expect("utf8"),
        "--quiet",
        "--out",
        again.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(column(&again.join("metrics.csv"), "train_loss"), loss);
    assert_eq!(
        column(&again.join("metrics.csv"), "lambda_1"),
        column(&out.join("metrics.csv"), "lambda_1")
    );
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::remove_dir_all(again);
}

#[test]
fn diverging_run_is_reported_not_crashed() {
    let out = tmp("diverge");
    let o = run(&[
        "run",
        "--lr",
        "80",
        "--steps",
        "300",
        "--quiet",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("diverged at step"), "{t}");
    let summary = std::fs::read_to_string(out.join("summary.json")).expect("summary");
    assert!(summary.contains("diverged"));
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let missing = tmp("no-such-folder");
    assert_clean_failure(
        &[
            "run",
            "--preset",
            "cohen-fig1",
            "--cifar-dir",
            missing.to_str().expect("utf8"),
            "--steps",
            "1",
        ],
        "no-such-folder",
    );
    assert_clean_failure(&["run", "--preset", "cohen-fig1"], "--cifar-dir");
    // The app's own --preset / --cifar-dir are checked before any window opens.
    #[cfg(feature = "gui")]
    {
        assert_clean_failure(
            &["--preset", "no-such-preset"],
            "unknown preset `no-such-preset`",
        );
        assert_clean_failure(
            &[
                "--preset",
                "cohen-fig1",
                "--cifar-dir",
                missing.to_str().expect("utf8"),
            ],
            "not a folder",
        );
    }
    assert_clean_failure(&["run", "--preset", "nope"], "unknown preset");
    assert_clean_failure(
        &["run", "--arch", "conv-relu:3", "--steps", "1"],
        "architecture",
    );
    assert_clean_failure(&["run", "--lr=-1", "--steps", "1"], "learning rate");
    assert_clean_failure(&["run", "--n", "5000", "--steps", "1"], "1797");
    assert_clean_failure(
        &["run", "--save-params", "every:0", "--steps", "1"],
        "every",
    );
    assert_clean_failure(
        &["run", "--dataset", "chebyshev", "--loss", "ce"],
        "cross-entropy",
    );
    assert_clean_failure(&["run", "--config", "/no/such/config.json"], "config.json");

    // A truncated CIFAR file and a statistics file of the wrong length.
    let dir = tmp("bad-cifar");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("data_batch_1.bin"), vec![1u8; 3073 * 2 + 100]).expect("write");
    assert_clean_failure(
        &[
            "run",
            "--dataset",
            "cifar10",
            "--cifar-dir",
            dir.to_str().expect("utf8"),
            "--n",
            "2",
            "--n-test",
            "0",
            "--steps",
            "1",
        ],
        "data_batch_1.bin",
    );
    std::fs::write(dir.join("data_batch_1.bin"), vec![1u8; 3073 * 2]).expect("write");
    std::fs::write(dir.join("stats.f64le"), vec![0u8; 100]).expect("write");
    assert_clean_failure(
        &[
            "run",
            "--dataset",
            "cifar10",
            "--cifar-dir",
            dir.to_str().expect("utf8"),
            "--n",
            "2",
            "--n-test",
            "0",
            "--stats-file",
            dir.join("stats.f64le").to_str().expect("utf8"),
            "--steps",
            "1",
        ],
        "stats.f64le",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn presets_are_listed() {
    let o = run(&["presets"]);
    let t = text(&o);
    assert!(o.status.success());
    for name in [
        "digits-demo",
        "cohen-fig1",
        "cifar-lecture",
        "chebyshev",
        "damian-stages",
        "li-linear",
    ] {
        assert!(t.contains(name), "{name} missing from:\n{t}");
    }
}

/// `run --theory --plot` adds the measured-vs-predicted figures.
#[test]
fn theory_run_plots_measured_against_predicted() {
    let dir = tmp("theory-plot");
    let plot = dir.join("fig.svg");
    let o = run(&[
        "run",
        "--dataset",
        "digits",
        "--n",
        "200",
        "--n-test",
        "50",
        "--arch",
        "fc-tanh:32,32",
        "--lr",
        "0.8",
        "--steps",
        "40",
        "--eig-every",
        "1",
        "--theory",
        "--theory-steps",
        "15",
        "--quiet",
        "--out",
        dir.join("run").to_str().expect("utf8"),
        "--plot",
        plot.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let svg = std::fs::read_to_string(dir.join("fig_theory.svg")).unwrap_or_default();
    assert!(
        svg.contains("λ1 − 2/η measured"),
        "theory figure missing its series"
    );
    assert!(svg.contains("e₀ + y_t predicted"));
    let svg = std::fs::read_to_string(dir.join("fig_theory_x.svg")).unwrap_or_default();
    assert!(svg.contains("x_t predicted"));
    // The folder re-analysed: the same figures as the run printed, plus the JSON.
    let run_dir = dir.join("run");
    let rep = run(&["theory-report", run_dir.to_str().expect("utf8")]);
    assert!(rep.status.success(), "{}", text(&rep));
    let first_cycle = |s: &str| {
        s.lines()
            .find(|l| l.contains("first cycle"))
            .map(str::to_string)
    };
    assert!(first_cycle(&text(&rep)).is_some());
    assert_eq!(first_cycle(&text(&rep)), first_cycle(&text(&o)));
    assert!(run_dir.join("theory_agreement.json").is_file());
    // A folder without a theory run: a clean error naming the file.
    assert_clean_failure(
        &["theory-report", dir.to_str().expect("utf8")],
        "theory_summary.json",
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Issue 14: reruns never mix into an earlier run's folder; concurrent runs never share one.
#[test]
fn out_folders_are_never_silently_reused() {
    let out = tmp("reuse");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "run",
            "--steps",
            "2",
            "--arch",
            "fc-tanh:8",
            "--quiet",
            "--out",
            out.to_str().expect("utf8"),
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let o = bin()
        .args(args(&["--save-params", "0,2"]))
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", text(&o));
    assert_clean_failure(
        &args(&[]).iter().map(String::as_str).collect::<Vec<_>>(),
        "--overwrite",
    );
    let o = bin().args(args(&["--overwrite"])).output().expect("runs");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !out.join("params_step2.npz").exists(),
        "--overwrite clears the old run's files"
    );
    let _ = std::fs::remove_dir_all(&out);

    // Default names: two runs started together in one folder get two folders.
    let cwd = tmp("default-names");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    let spawn = || {
        bin()
            .current_dir(&cwd)
            .args(["run", "--steps", "1", "--arch", "fc-tanh:4", "--quiet"])
            .output()
            .expect("runs")
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join(), b.join())
    });
    for o in [a, b] {
        let o = o.expect("thread");
        assert!(o.status.success(), "{}", text(&o));
    }
    let runs: Vec<_> = std::fs::read_dir(cwd.join("runs"))
        .expect("runs/")
        .flatten()
        .collect();
    assert_eq!(runs.len(), 2, "two folders");
    for r in runs {
        assert!(r.path().join("summary.json").is_file());
    }
    let _ = std::fs::remove_dir_all(cwd);
}

#[test]
fn inputs_are_checked_before_anything_runs() {
    // Strict config files: a misspelt field is named with a suggestion and its line.
    let dir = tmp("strict");
    let run_dir = dir.join("run");
    let o = run(&[
        "run",
        "--steps",
        "1",
        "--arch",
        "fc-tanh:4",
        "--quiet",
        "--out",
        run_dir.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let cfg = std::fs::read_to_string(run_dir.join("config.json")).expect("config");
    assert!(cfg.contains("\"format_version\": 1"));
    let bad = dir.join("bad.json");
    std::fs::write(&bad, cfg.replace("\"acc_goal\"", "\"acc_gaol\"")).expect("write");
    let bad_s = bad.to_str().expect("utf8");
    assert_clean_failure(&["run", "--config", bad_s], "did you mean `acc_goal`");
    assert_clean_failure(&["run", "--config", bad_s], "line ");
    // Not regular files: refused before reading (a FIFO would hang, /dev/zero never ends).
    assert_clean_failure(&["run", "--config", "/dev/zero"], "not a regular file");
    let fifo = dir.join("fifo");
    if std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        assert_clean_failure(
            &["run", "--config", fifo.to_str().expect("utf8")],
            "named pipe",
        );
    }
    // Negative numbers reach the validator; `fc-tanh:` is not a linear model.
    assert_clean_failure(&["run", "--lr", "-1", "--steps", "1"], "learning rate");
    assert_clean_failure(&["run", "--arch", "fc-tanh:", "--steps", "1"], "no widths");
    // --plot is checked before the run.
    assert_clean_failure(
        &["run", "--steps", "1", "--plot", "/dev/null/fig.svg"],
        "cannot create the folder",
    );
    // Sizes are counted before allocation: refused with the numbers, no abort.
    assert_clean_failure(
        &["run", "--arch", "fc-tanh:4294967297", "--steps", "1"],
        "memory is available",
    );
    assert_clean_failure(
        &[
            "run",
            "--arch",
            "fc-tanh:18446744073709551615,18446744073709551615",
            "--steps",
            "1",
        ],
        "overflows",
    );
    // Each cause once.
    let o = run(&["run", "--config", "/no/such/config.json"]);
    let t = text(&o);
    assert_eq!(t.matches("No such file").count(), 1, "{t}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn divergence_can_fail_a_script() {
    let out = tmp("fail-div");
    let o = run(&[
        "run",
        "--lr",
        "80",
        "--steps",
        "300",
        "--quiet",
        "--fail-on-divergence",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(out.join("summary.json").is_file());
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = bin()
        .arg("presets")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out).read_line(&mut first).expect("line");
        // The reader goes away after one line, as `| head -1` does.
    }
    let o = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(first.contains("digits-demo"), "{first}");
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `run --central-flow --plot`: central_flow.csv (read back by the run-folder reader) and its
/// summary, the flow on the loss and sharpness figures, the distance and σ² figures; its
/// options are checked before anything runs.
#[test]
fn central_flow_run_writes_its_table_summary_and_figures() {
    use eos_explorer::engine::run_folder::read_run;
    let dir = tmp("central-flow");
    let plot = dir.join("fig.svg");
    let run_dir = dir.join("run");
    let o = run(&[
        "run",
        "--dataset",
        "digits",
        "--n",
        "100",
        "--n-test",
        "0",
        "--arch",
        "fc-tanh:16,16",
        "--lr",
        "0.8",
        "--steps",
        "30",
        "--eig-every",
        "1",
        "--central-flow",
        "--cf-substeps",
        "2",
        "--cf-lanczos-tol",
        "1e-6",
        "--quiet",
        "--out",
        run_dir.to_str().expect("utf8"),
        "--plot",
        plot.to_str().expect("utf8"),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("central flow (Cohen et al. 2025)"), "{t}");
    let loaded = read_run(&run_dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let table = loaded
        .run
        .tables
        .get("central_flow.csv")
        .unwrap_or_else(|| panic!("central_flow.csv not read back"));
    assert_eq!(table.rows.len(), 31);
    let col = |name: &str| {
        let i = table
            .header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        table.rows.iter().map(|r| r[i]).collect::<Vec<_>>()
    };
    assert_eq!(col("step")[30], Some(30.0));
    // Both flows start at θ₀; the flow reaches 2/η = 2.5 and holds it (k ≥ 1 with σ²).
    assert_eq!(col("dist_gd_cf")[0], Some(0.0));
    assert!(
        col("k").iter().any(|k| k.is_some_and(|k| k >= 1.0)),
        "never critical"
    );
    assert!(col("sigma2_1").iter().any(|s| s.is_some_and(|s| s > 0.0)));
    let summary = &loaded.run.json["central_flow_summary.json"];
    assert_eq!(summary["options"]["substeps"].as_u64(), Some(2));
    assert!(summary["cf_crossing_step"].as_u64().is_some(), "{summary}");
    assert!(summary["end"]["ratio"].as_f64().is_some());
    let svg = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert!(svg("fig_loss.svg").contains("predicted time-averaged loss (central flow)"));
    assert!(svg("fig.svg").contains("λ1 central flow"));
    assert!(svg("fig_distance.svg").contains("‖w_GD − w_GF‖ (gradient flow)"));
    assert!(svg("fig_sigma2.svg").contains("σ²₁ predicted (central flow)"));
    // Options are refused without the probe, or out of range.
    assert_clean_failure(
        &["run", "--preset", "digits-demo", "--cf-substeps", "2"],
        "need --central-flow",
    );
    assert_clean_failure(
        &[
            "run",
            "--preset",
            "digits-demo",
            "--central-flow",
            "--cf-substeps",
            "0",
        ],
        "substeps",
    );
    assert_clean_failure(
        &[
            "run",
            "--preset",
            "digits-demo",
            "--central-flow",
            "--optimizer",
            "polyak:0.9",
        ],
        "plain gradient descent",
    );
    let _ = std::fs::remove_dir_all(dir);
}
