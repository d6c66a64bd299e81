//! `python/eos_run.py` (the run-folder writer for Python training scripts) against the app's
//! reader: its folders read back with no warning and bit-exact numbers, `eos-explorer plot`
//! draws them, the follower sees every row in order while a Python process is still appending,
//! and the JAX example (`python/examples/jax_sharpness.py`) writes a folder with its sharpness
//! (the PyTorch example, which CI cannot run, is parsed as Python 3.9 with the others).
//! Skipped, with the reason printed, only when `python3` cannot be started (and the JAX test
//! when `import jax` fails); in CI both are there, so these tests run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use eos_explorer::engine::figure::runs::run_label;
use eos_explorer::engine::run_folder::{Metrics, Rows, RunFollower, read_run};

const PYTHON_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-pywriter-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp folder");
    d
}

/// `python3` with `python/` on its path, run in `dir`; `None` (and the reason printed) when
/// python3 cannot be started.
fn python(dir: &Path) -> Option<Command> {
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            println!(
                "skipped: python3 --version failed ({}); install python3 to run this test",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return None;
        }
        Err(e) => {
            println!(
                "skipped: python3 could not be started ({e}); install python3 to run this test"
            );
            return None;
        }
    }
    let mut c = Command::new("python3");
    c.current_dir(dir)
        .env("PYTHONPATH", PYTHON_DIR)
        .env("PYTHONDONTWRITEBYTECODE", "1"); // no __pycache__ in the source tree
    Some(c)
}

fn checked(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Run a Python program given as text; `None` when python3 is missing.
fn run_py(dir: &Path, code: &str) -> Option<String> {
    let o = python(dir)?
        .arg("-c")
        .arg(code)
        .output()
        .expect("python3 runs");
    Some(checked(o, "the Python program"))
}

fn bits(v: &[Option<f64>]) -> Vec<Option<u64>> {
    v.iter().map(|x| x.map(f64::to_bits)).collect()
}

const KNOWN_FLOATS: &str = r#"
import math
from eos_run import RunWriter

X = [0.1, 1 / 3, 1e-300, 123456789.125, -0.0, 5e-324, 1.7976931348623157e308, 2.0 / 3.0 * 1e-7]
with RunWriter("known", config={"dataset": "toy", "network": "mlp 3-2", "parameters": 17,
                                "dataset_notes": ["made up"]}) as run:
    for t, x in enumerate(X):
        lam = 2.0 + t / 7 if t % 2 == 0 else None
        run.log(t, train_loss=x, lambda_1=lam, hvps=20 if lam else None, lr=0.4,
                my_col=float(t) if t != 3 else math.nan, big=math.inf if t == 5 else -math.inf)

    # What the writer refuses, with a message that says what to do.
    def refused(kind, f, words):
        try:
            f()
        except kind as e:
            assert words in str(e), (words, str(e))
        else:
            raise AssertionError(f"not refused: {words}")
    refused(ValueError, lambda: run.log(99, new_col=1.0), "declare every column up front")
    refused(ValueError, lambda: run.log(3, train_loss=1.0), "does not follow")
    refused(ValueError, lambda: run.log(math.nan), "finite whole number")
    refused(ValueError, lambda: run.log(math.inf), "finite whole number")
    refused(ValueError, lambda: run.log(10.5), "finite whole number")
    refused(TypeError, lambda: run.log(10, train_loss="low"), "not a number")
    refused(TypeError, lambda: run.log(10, train_loss="1.5"), "a string")
    refused(ValueError, lambda: run.write_json("summary.json", {}), "plain file name")
    refused(RuntimeError, lambda: RunWriter("known"), "in use by another run")
    run.write_json("settings.json", {"width": 2, "note": "kept by name"})

refused(FileExistsError, lambda: RunWriter("known"), "overwrite=True")
refused(ValueError, lambda: RunWriter("other", config={"lr": 0.1}), "not an info field")
refused(TypeError, lambda: RunWriter("other", config={"parameters": "9k"}), "integer")

# An exception inside the block: the rows are kept and the summary says the run stopped.
try:
    with RunWriter("crashed", columns=["train_loss", "test_loss"]) as run:
        run.log(0, train_loss=1.0)
        run.log(1, train_loss=0.5, test_loss=0.75)
        raise ZeroDivisionError("boom")
except ZeroDivisionError:
    pass
print("ok")
"#;

#[test]
fn the_writers_folder_reads_back_bit_exact_with_no_warning() {
    let d = tmp("known");
    let Some(out) = run_py(&d, KNOWN_FLOATS) else {
        return;
    };
    assert_eq!(out.trim(), "ok");
    let loaded = read_run(&d.join("known")).expect("the reader opens the folder");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let run = &loaded.run;
    let m = &run.metrics;
    assert_eq!(m.step, (0..8).collect::<Vec<_>>());
    let x = [
        0.1,
        1.0 / 3.0,
        1e-300,
        123456789.125,
        -0.0,
        5e-324,
        f64::MAX,
        2.0 / 3.0 * 1e-7,
    ];
    let col = |n: &str| m.column(n).unwrap_or_else(|| panic!("column {n}"));
    assert_eq!(
        bits(&col("train_loss").values),
        bits(&x.map(Some)),
        "bit-exact floats"
    );
    let lam: Vec<Option<f64>> = (0..8)
        .map(|t| (t % 2 == 0).then(|| 2.0 + t as f64 / 7.0))
        .collect();
    assert_eq!(bits(&col("lambda_1").values), bits(&lam));
    assert!(col("my_col").values[3].is_some_and(f64::is_nan));
    assert_eq!(col("my_col").values[4], Some(4.0));
    assert_eq!(col("big").values[5], Some(f64::INFINITY));
    assert_eq!(col("big").values[0], Some(f64::NEG_INFINITY));
    // Known columns in the format's order, then the script's own.
    let header: Vec<&str> = m.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        header,
        ["lr", "train_loss", "lambda_1", "hvps", "my_col", "big"]
    );
    let csv = std::fs::read_to_string(d.join("known/metrics.csv")).expect("metrics.csv");
    assert!(
        csv.lines().nth(1) == Some("0,0.4,0.1,2.0,20,0.0,-inf"),
        "integers as integers, floats by repr:\n{csv}"
    );
    // config.json: format_version 1 and the info fields; no RunConfig.
    assert_eq!(run.format_version, 1);
    assert!(run.config.is_none());
    let info = run.info.as_ref().expect("info");
    assert_eq!(
        (
            info.dataset.as_str(),
            info.network.as_str(),
            info.parameters
        ),
        ("toy", "mlp 3-2", 17)
    );
    assert_eq!(info.dataset_notes, ["made up"]);
    assert_eq!(info.program, "python");
    assert_eq!(
        run.json.get("settings.json").and_then(|v| v.get("width")),
        Some(&serde_json::json!(2))
    );
    let s = run.summary.as_ref().expect("summary.json");
    assert_eq!(s.outcome["kind"], "max-steps");
    assert_eq!((s.steps, s.hvps), (7, 80));
    assert_eq!(s.final_train_loss, Some(x[7]));
    assert_eq!(s.last_lambda_1, lam[6]);
    // Nothing left behind: no lock, no *.partial.
    let mut names: Vec<String> = std::fs::read_dir(d.join("known"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "config.json",
            "metrics.csv",
            "settings.json",
            "summary.json"
        ]
    );

    let crashed = read_run(&d.join("crashed")).expect("the crashed run opens");
    assert!(crashed.warnings.is_empty(), "{:?}", crashed.warnings);
    assert_eq!(crashed.run.metrics.step, vec![0, 1]);
    assert_eq!(
        crashed
            .run
            .metrics
            .column("test_loss")
            .map(|c| c.values.clone()),
        Some(vec![None, Some(0.75)]),
        "a column declared up front, measured from step 1 on"
    );
    let s = crashed.run.summary.as_ref().expect("summary.json");
    assert_eq!(s.outcome["kind"], "stopped");
    assert!(
        s.message.contains("ZeroDivisionError: boom"),
        "{}",
        s.message
    );
}

/// The points of the SVG's polylines, largest first.
fn polyline_sizes(svg: &str) -> Vec<usize> {
    let mut v: Vec<usize> = svg
        .split("<polyline")
        .skip(1)
        .filter_map(|p| {
            let pts = p.split("points=\"").nth(1)?.split('"').next()?;
            Some(pts.split_whitespace().count())
        })
        .collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v
}

#[test]
fn eos_explorer_plot_draws_the_writers_rows() {
    let d = tmp("plot");
    let code = r#"
from eos_run import RunWriter
with RunWriter("run", config={"dataset": "toy-plot"}) as run:
    for t in range(50):
        run.log(t, train_loss=1.0 / (1 + t), lambda_1=2.0 + 0.1 * t, lr=0.4, my_metric=t * t)
"#;
    if run_py(&d, code).is_none() {
        return;
    }
    let dir = d.join("run");
    let loaded = read_run(&dir).expect("read");
    assert_eq!(
        run_label(&loaded.run, &dir),
        "toy-plot · η = 0.4",
        "labelled from config.json's info and the first lr"
    );
    for (figure, needle) in [
        ("sharpness", "first crossing of 2/η"),
        ("loss", "train loss"),
        ("my_metric", "my_metric"),
    ] {
        let fig = d.join(format!("{figure}.svg"));
        let o = Command::new(env!("CARGO_BIN_EXE_eos-explorer"))
            .args(["plot", "--figure", figure, "--out"])
            .arg(&fig)
            .arg(&dir)
            .output()
            .expect("the binary runs");
        let text = checked(o, "eos-explorer plot");
        assert!(!text.contains("warning"), "{text}");
        let svg = std::fs::read_to_string(&fig).expect("figure written");
        assert!(svg.contains(needle), "{figure}: {needle} missing");
        // The series is drawn through all 50 rows (one point per row).
        let sizes = polyline_sizes(&svg);
        assert!(
            sizes.first().is_some_and(|n| *n >= 50),
            "{figure}: polylines of {sizes:?} points"
        );
    }
}

/// One poll of the follower folded into `seen`: (rows were appended, summary.json appeared).
fn absorb(f: &mut RunFollower, seen: &mut Metrics) -> (bool, bool) {
    let u = f.poll().expect("poll");
    assert!(u.warnings.is_empty(), "{:?}", u.warnings);
    let mut appended = false;
    match u.metrics {
        Some(Rows::Append(m)) => {
            appended = !m.is_empty();
            seen.append(m);
        }
        Some(Rows::Replace { rows, reason }) => {
            assert!(reason.is_none(), "read again from the start: {reason:?}");
            assert!(seen.is_empty(), "replaced after rows arrived");
            *seen = rows;
        }
        None => {}
    }
    (appended, u.finished)
}

#[test]
fn the_follower_sees_every_row_in_order_while_python_appends() {
    let d = tmp("follow");
    let code = r#"
import sys, time
from eos_run import RunWriter
with RunWriter("live", columns=["train_loss", "lambda_1", "lr"]) as run:
    print("started", flush=True)
    for t in range(40):
        run.log(t, train_loss=1.0 / (3 + t), lambda_1=(1.5 + t / 9) if t % 3 == 0 else None,
                lr=0.25)
        time.sleep(0.02)
"#;
    let Some(mut cmd) = python(&d) else {
        return;
    };
    let dir = d.join("live");
    let mut follower = RunFollower::new(&dir);
    let mut child = cmd
        .arg("-c")
        .arg(code)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let mut seen = Metrics::default();
    let (mut appends, mut finished) = (0, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let (a, f) = absorb(&mut follower, &mut seen);
        appends += usize::from(a);
        finished |= f;
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the writer did not finish");
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = child.wait_with_output().expect("output");
    assert!(
        status.success(),
        "the writer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, f) = absorb(&mut follower, &mut seen);
    appends += usize::from(a);
    finished |= f;
    println!("rows arrived in {appends} batches while Python wrote them");
    assert!(finished, "summary.json was seen");
    assert!(
        appends >= 2,
        "rows arrived in {appends} batch(es): the run was not followed while written"
    );
    let whole = read_run(&dir).expect("read");
    assert!(whole.warnings.is_empty(), "{:?}", whole.warnings);
    assert_eq!(
        seen.step,
        (0..40).collect::<Vec<_>>(),
        "every row, in order"
    );
    assert_eq!(seen, whole.run.metrics, "the followed rows are the file's");
}

#[test]
fn the_jax_example_writes_a_folder_with_its_sharpness() {
    let d = tmp("jax");
    let Some(mut probe) = python(&d) else {
        return;
    };
    let o = probe
        .args(["-c", "import jax, scipy"])
        .output()
        .expect("python3 runs");
    if !o.status.success() {
        println!(
            "skipped: `import jax, scipy` failed ({}); python3 -m pip install \"jax[cpu]\" to run this test",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/python/examples/jax_sharpness.py"
    );
    let t0 = Instant::now();
    let o = python(&d)
        .expect("python3")
        .args([script, "--steps", "30", "--every", "10", "--out", "jax-run"])
        .output()
        .expect("python3 runs");
    checked(o, "jax_sharpness.py");
    println!(
        "jax_sharpness.py --steps 30: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let loaded = read_run(&d.join("jax-run")).expect("the reader opens the folder");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let m = &loaded.run.metrics;
    assert_eq!(m.step, (0..=30).collect::<Vec<_>>());
    let lam = &m.column("lambda_1").expect("lambda_1").values;
    for (t, v) in lam.iter().enumerate() {
        if t % 10 == 0 {
            assert!(v.is_some_and(|l| l > 0.0), "λ1 at step {t}: {v:?}");
        } else {
            assert_eq!(*v, None, "λ1 measured every 10 steps only");
        }
    }
    let l2 = m.column("lambda_2").expect("lambda_2").values[0];
    assert!(
        l2.is_some_and(|l2| lam[0].is_some_and(|l1| l2 <= l1)),
        "largest first"
    );
    let s = loaded.run.summary.as_ref().expect("summary.json");
    assert_eq!(
        (s.steps, s.outcome["kind"].as_str()),
        (30, Some("max-steps"))
    );
    assert!(s.hvps > 0);
    assert_eq!(
        loaded.run.info.as_ref().map(|i| i.program.as_str()),
        Some("jax_sharpness.py")
    );
}

#[test]
fn the_writer_and_both_examples_parse_as_python_3_9() {
    // The PyTorch example cannot run here (no torch in CI); its syntax is checked, with the
    // writer's and the JAX example's, against the oldest Python the writer supports.
    let d = tmp("syntax");
    let code = format!(
        r#"
import ast
for f in ["{p}/eos_run.py", "{p}/examples/torch_sharpness.py", "{p}/examples/jax_sharpness.py"]:
    ast.parse(open(f, encoding="utf-8").read(), f, feature_version=(3, 9))
print("ok")
"#,
        p = PYTHON_DIR
    );
    if let Some(out) = run_py(&d, &code) {
        assert_eq!(out.trim(), "ok");
    }
}
