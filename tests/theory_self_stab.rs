//! The self-stabilization map of seed §4 (Definition 4.1), checked against an independent
//! re-implementation written here from the seed's formulas.

use std::path::PathBuf;

use eos_explorer::engine::theory::Outcome;
use eos_explorer::engine::theory::self_stab::{
    CSV_COLUMNS, SelfStabParams, SelfStabRow, Stage, displacement_field, simulate, write_csv,
};

/// One reference row: (t, x, y, sharpness, loss rise, stage number).
type RefRow = (usize, f64, f64, f64, f64, u8);

/// Definition 4.1 iterated directly: x' = −(1 + ηy)x, y' = y + η(α − βx²/2); stage from the sign
/// of y and of α − βx²/2 (> 0 rising; 0 counts as not rising; y = 0 counts as stable).
/// Stops (without the row) at the first state with |x| or |y| above `blowup` or not finite.
fn reference(p: &SelfStabParams) -> (Vec<RefRow>, Option<usize>) {
    let (eta, alpha, beta) = (p.lr, p.alpha, p.beta);
    let (mut x, mut y) = (p.x0, p.y0);
    let mut rows = Vec::new();
    for t in 0..=p.steps {
        let bad = |v: f64| !v.is_finite() || v.abs() > p.blowup;
        if bad(x) || bad(y) {
            return (rows, Some(t));
        }
        let rising = alpha - beta * x * x / 2.0 > 0.0;
        let stage = match (y > 0.0, rising) {
            (false, true) => 1,
            (true, true) => 2,
            (true, false) => 3,
            (false, false) => 4,
        };
        rows.push((t, x, y, 2.0 / eta + y, x * x / eta, stage));
        let xn = -(1.0 + eta * y) * x;
        let yn = y + eta * (alpha - beta * x * x / 2.0);
        x = xn;
        y = yn;
    }
    (rows, None)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-13 * a.abs().max(b.abs())
}

fn assert_rows_match(rows: &[SelfStabRow], want: &[RefRow], what: &str) {
    assert_eq!(rows.len(), want.len(), "{what}: row count");
    for (r, w) in rows.iter().zip(want) {
        assert_eq!(r.t, w.0, "{what}");
        assert!(
            close(r.x, w.1)
                && close(r.y, w.2)
                && close(r.sharpness, w.3)
                && close(r.loss_rise, w.4),
            "{what} t {}: {r:?} vs {w:?}",
            r.t
        );
        assert_eq!(r.stage.number(), w.5, "{what} t {}: stage", r.t);
    }
}

fn param_sets() -> Vec<SelfStabParams> {
    let base = SelfStabParams::four_stage_example();
    vec![
        base.clone(),
        SelfStabParams {
            lr: 0.05,
            alpha: 1.0,
            beta: 1.0,
            x0: 0.5,
            steps: 500,
            ..base.clone()
        },
        SelfStabParams {
            lr: 0.02,
            alpha: 2.0,
            beta: 0.5,
            x0: 0.01,
            y0: -0.3,
            steps: 700,
            ..base.clone()
        },
        // Starts above δ = 1 (stage 4 first).
        SelfStabParams { x0: 1.5, ..base },
    ]
}

#[test]
fn rows_match_an_independent_reimplementation() {
    for p in param_sets() {
        let run = simulate(&p.check().expect("valid"));
        let (want, div) = reference(&p);
        assert_eq!(div, None, "{p:?}");
        assert_eq!(run.outcome, Outcome::Completed);
        assert_rows_match(&run.rows, &want, &format!("{p:?}"));
    }
}

#[test]
fn stage_column_follows_the_rule() {
    let p = SelfStabParams::four_stage_example();
    let c = p.check().expect("valid");
    let run = simulate(&c);
    let delta2 = 2.0 * p.alpha / p.beta;
    for (i, r) in run.rows.iter().enumerate() {
        // Rising ⇔ x² < 2α/β ⇔ the next y is larger (checked against the next row).
        let rising = r.x * r.x < delta2;
        if let Some(next) = run.rows.get(i + 1) {
            assert_eq!(rising, next.y > r.y, "t {}", r.t);
        }
        let want = match (r.y > 0.0, rising) {
            (false, true) => Stage::ProgressiveSharpening,
            (true, true) => Stage::Destabilization,
            (true, false) => Stage::SelfStabilization,
            (false, false) => Stage::ReturnToStability,
        };
        assert_eq!(r.stage, want, "t {}", r.t);
    }
    // Seed's initial condition y_0 = 0, x_0 < δ: progressive sharpening, then destabilization.
    assert_eq!(run.rows[0].stage, Stage::ProgressiveSharpening);
    assert_eq!(run.rows[1].stage, Stage::Destabilization);
    // Ties: y = 0 is stable; x² = 2α/β exactly is not rising.
    assert_eq!(Stage::classify(0.0, 1e-300), Stage::ProgressiveSharpening);
    assert_eq!(Stage::classify(1e-300, 0.0), Stage::SelfStabilization);
    let tie = SelfStabParams {
        alpha: 0.5,
        beta: 1.0,
        x0: 1.0, // x0² = 2α/β exactly
        ..p
    };
    let r = simulate(&tie.check().expect("valid"));
    assert_eq!(r.rows[0].stage, Stage::ReturnToStability);
    assert_eq!(r.rows[1].y, 0.0, "no change of y at the tie");
}

#[test]
fn preset_cycles_through_all_four_stages_repeatedly() {
    let run = simulate(&SelfStabParams::four_stage_example().check().expect("valid"));
    assert_eq!(run.outcome, Outcome::Completed);
    assert!(run.rows.len() <= 1001, "a few hundred steps");
    let s = &run.summary;
    assert!(s.cycles.len() >= 3, "{s:?}");
    for c in &s.cycles {
        assert_eq!(c.stages_seen, [true; 4], "{c:?}");
    }
    // Stages come in the order 1 → 2 → 3 → 4 → 1 …, never skipping one.
    for w in run.rows.windows(2) {
        let (a, b) = (w[0].stage.number(), w[1].stage.number());
        assert!(b == a || b == a % 4 + 1, "t {}: {a} → {b}", w[1].t);
    }
    // Independent cycle bookkeeping from the reference rows.
    let (want, _) = reference(&SelfStabParams::four_stage_example());
    let entries: Vec<usize> = (0..want.len())
        .filter(|&i| want[i].5 == 2 && (i == 0 || want[i - 1].5 != 2))
        .collect();
    assert_eq!(s.stage2_entries, entries);
    for (c, e) in s.cycles.iter().zip(entries.windows(2)) {
        assert_eq!((c.start, c.end, c.length), (e[0], e[1], e[1] - e[0]));
        let peak_y = want[e[0]..e[1]]
            .iter()
            .map(|r| r.2)
            .fold(f64::MIN, f64::max);
        let peak_x = want[e[0]..e[1]]
            .iter()
            .map(|r| r.1.abs())
            .fold(0.0, f64::max);
        assert_eq!((c.peak_y, c.peak_abs_x), (peak_y, peak_x));
        // y peaks where |x| crosses δ, so the peak is positive and x gets beyond δ.
        assert!(c.peak_y > 0.0 && c.peak_abs_x > s.delta);
    }
    assert!((s.delta - (2.0f64 * 0.5 / 1.0).sqrt()).abs() < 1e-15);
    let text = run.describe();
    assert!(text.contains("4/4") && text.contains("complete cycles") && text.contains("completed"));
}

#[test]
fn divergence_is_detected_and_rows_before_it_are_kept() {
    // The preset run long enough: cycles grow (explicit-Euler drift) until y < −2/η blows x up.
    let p = SelfStabParams {
        steps: 2000,
        ..SelfStabParams::four_stage_example()
    };
    let run = simulate(&p.check().expect("valid"));
    let (want, div) = reference(&p);
    let step = div.expect("reference diverges");
    match &run.outcome {
        Outcome::Diverged { step: s, reason } => {
            assert_eq!(*s, step);
            assert!(reason.contains("bound"), "{reason}");
        }
        o => panic!("expected divergence, got {o:?}"),
    }
    assert_eq!(run.rows.len(), step);
    assert_rows_match(&run.rows, &want, "diverging run");
    assert!(
        run.rows
            .iter()
            .all(|r| r.x.abs() <= p.blowup && r.y.abs() <= p.blowup)
    );
    assert!(run.describe().contains("diverged at step"));

    // Overflow to a non-finite value is caught too (bound near f64::MAX).
    let q = SelfStabParams {
        blowup: f64::MAX,
        steps: 5000,
        ..p
    };
    let r2 = simulate(&q.check().expect("valid"));
    let (want2, div2) = reference(&q);
    assert!(matches!(r2.outcome, Outcome::Diverged { step, .. } if Some(step) == div2));
    assert_eq!(r2.rows.len(), want2.len());
}

#[test]
fn bad_parameters_are_rejected_with_clear_messages() {
    let ok = SelfStabParams::four_stage_example();
    let cases = [
        (
            SelfStabParams {
                lr: 0.0,
                ..ok.clone()
            },
            "`lr`",
            "> 0",
        ),
        (
            SelfStabParams {
                lr: f64::NAN,
                ..ok.clone()
            },
            "`lr`",
            "finite",
        ),
        (
            SelfStabParams {
                alpha: -1.0,
                ..ok.clone()
            },
            "`alpha`",
            "Assumption 2",
        ),
        (
            SelfStabParams {
                beta: 0.0,
                ..ok.clone()
            },
            "`beta`",
            "squared norm",
        ),
        (
            SelfStabParams {
                x0: 0.0,
                ..ok.clone()
            },
            "`x0`",
            "x_0 > 0",
        ),
        (
            SelfStabParams {
                x0: -0.5,
                ..ok.clone()
            },
            "`x0`",
            "mirror",
        ),
        (
            SelfStabParams {
                y0: f64::INFINITY,
                ..ok.clone()
            },
            "`y0`",
            "finite",
        ),
        (
            SelfStabParams {
                steps: 0,
                ..ok.clone()
            },
            "`steps`",
            "between 1",
        ),
        (
            SelfStabParams {
                steps: 20_000_000,
                ..ok.clone()
            },
            "`steps`",
            "between 1",
        ),
        (
            SelfStabParams {
                blowup: 0.1,
                ..ok.clone()
            },
            "`blowup`",
            "exceed",
        ),
        (
            SelfStabParams {
                blowup: -1.0,
                ..ok.clone()
            },
            "`blowup`",
            "> 0",
        ),
    ];
    for (p, name, rule) in cases {
        let e = p.check().expect_err("must be rejected").to_string();
        assert!(
            e.contains(name) && e.contains(rule),
            "{e:?} lacks {name} / {rule}"
        );
    }
    assert_eq!(SelfStabParams::default(), ok);
}

#[test]
fn displacement_field_validates_and_matches_the_map() {
    let c = SelfStabParams::four_stage_example().check().expect("valid");
    let f = displacement_field(&c, (-3.0, 3.0), (-2.0, 2.0), 7, 5).expect("grid");
    assert_eq!(f.len(), 35);
    assert_eq!(f[0].0, [-3.0, -2.0]);
    assert_eq!(f[34].0, [3.0, 2.0]);
    for ([x, y], [dx, dy]) in &f {
        let (xn, yn) = (-(1.0 + 0.1 * y) * x, y + 0.1 * (0.5 - x * x / 2.0));
        assert!(close(*dx, xn - x) && close(*dy, yn - y));
    }
    for (xr, yr, nx, ny) in [
        ((1.0, 0.0), (0.0, 1.0), 5, 5),
        ((0.0, f64::INFINITY), (0.0, 1.0), 5, 5),
        ((0.0, 1.0), (0.0, 1.0), 0, 5),
        ((0.0, 1.0), (0.0, 1.0), 5, 1),
        ((0.0, 1.0), (0.0, 1.0), 2000, 2000),
    ] {
        assert!(displacement_field(&c, xr, yr, nx, ny).is_err());
    }
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("eos-selfstab-{}-{name}", std::process::id()))
}

/// Parse the CSV and compare with the independent re-implementation (exact: shortest
/// round-trip floats).
fn check_csv(path: &std::path::Path, p: &SelfStabParams) {
    let text = std::fs::read_to_string(path).expect("csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(CSV_COLUMNS.join(",").as_str()));
    let (want, _) = reference(p);
    let mut count = 0;
    for (line, w) in lines.zip(&want) {
        let c: Vec<f64> = line
            .split(',')
            .map(|s| s.parse().expect("number"))
            .collect();
        assert_eq!(c.len(), 6);
        assert_eq!(c[0], w.0 as f64);
        assert!(close(c[1], w.1) && close(c[2], w.2) && close(c[3], w.3) && close(c[4], w.4));
        assert_eq!(c[5], f64::from(w.5));
        count += 1;
    }
    assert_eq!(count, want.len());
}

#[test]
fn csv_round_trip_matches_the_reference() {
    for p in param_sets() {
        let run = simulate(&p.check().expect("valid"));
        let path = temp_path("lib.csv");
        write_csv(&run, &path).expect("write");
        check_csv(&path, &p);
        let _ = std::fs::remove_file(&path);
    }
}

/// The binary's `simulate self-stab` (only when src/main.rs wires it).
#[test]
fn cli_self_stab_writes_the_reference_rows() {
    let bin = env!("CARGO_BIN_EXE_eos-explorer");
    let path = temp_path("cli.csv");
    let out = std::process::Command::new(bin)
        .args([
            "simulate",
            "self-stab",
            "--preset",
            "damian-stages",
            "--lr",
            "0.05",
            "--alpha",
            "1",
        ])
        .args(["--x0", "0.5", "--steps", "500", "--out"])
        .arg(&path)
        .output()
        .expect("run binary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("δ") && stdout.contains("stages visited"),
        "{stdout}"
    );
    let p = SelfStabParams {
        lr: 0.05,
        alpha: 1.0,
        x0: 0.5,
        steps: 500,
        ..SelfStabParams::four_stage_example()
    };
    check_csv(&path, &p);
    let _ = std::fs::remove_file(&path);

    let bad = std::process::Command::new(bin)
        .args(["simulate", "self-stab", "--beta", "-1"])
        .output()
        .expect("run binary");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("beta"), "{err}");
}
