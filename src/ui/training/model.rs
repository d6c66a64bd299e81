//! The Training workspace's view model: runs, overlays, records and the series derived from
//! them. Pure data (no egui), unit-tested below.

use std::time::Instant;

use crate::engine::config::{RunConfig, check_lr};
pub use crate::engine::figure::{RunSeries, step_breakpoints, step_line};
use crate::engine::session::{StepRecord, StopReason};
use crate::engine::theory::measured::{PredictedLambda1, TheoryLog, predicted_lambda1};
use crate::engine::worker::RunInfo;
use crate::ui::plot_aids::{fmt_sig, sig};
use crate::ui::plots::fmt_num;

/// Everything the UI knows about the current run (full data kept for export).
#[derive(Default)]
pub struct RunView {
    pub run_id: u64,
    pub info: Option<RunInfo>,
    pub records: Vec<StepRecord>,
    pub finished: Option<StopReason>,
    pub paused: bool,
    pub loading: bool,
    /// The plotted series (crossing and edge bands by the engine's one rule).
    pub series: RunSeries,
    /// Arrival times of recent records (for steps/s).
    arrivals: std::collections::VecDeque<(Instant, usize)>,
}

impl RunView {
    pub fn new(run_id: u64) -> Self {
        RunView {
            run_id,
            loading: true,
            ..Default::default()
        }
    }

    /// Forget the records (after a reset), keeping the run's identity and info.
    pub fn clear_data(&mut self) {
        let (id, info) = (self.run_id, self.info.take());
        *self = RunView::new(id);
        self.info = info;
        self.loading = false;
        self.paused = true;
    }

    /// Add one record and update the derived series.
    pub fn push(&mut self, r: StepRecord) {
        self.series.push(&r);
        self.arrivals.push_back((Instant::now(), r.step));
        while self.arrivals.len() > 200 {
            self.arrivals.pop_front();
        }
        self.records.push(r);
    }

    /// Steps per second of wall-clock time over the last [`RATE_WINDOW_S`] seconds of running
    /// (pauses excluded: the arrivals restart after each pause).
    pub fn steps_per_s(&self) -> Option<f64> {
        let (t1, s1) = self.arrivals.back()?;
        let (t0, s0) = self
            .arrivals
            .iter()
            .find(|(t, _)| t1.duration_since(*t).as_secs_f64() <= RATE_WINDOW_S)?;
        let dt = t1.duration_since(*t0).as_secs_f64();
        (dt > 0.2 && s1 > s0).then(|| (s1 - s0) as f64 / dt)
    }

    /// The run paused, resumed or was reset: the time in between is not running time.
    pub fn restart_rate(&mut self) {
        self.arrivals.clear();
    }

    /// Compute seconds per step (from the records' clocks).
    pub fn s_per_step(&self) -> Option<f64> {
        let n = self.records.len();
        if n < 2 {
            return None;
        }
        let a = &self.records[n.saturating_sub(50)];
        let b = &self.records[n - 1];
        (b.step > a.step).then(|| (b.wall_s - a.wall_s) / (b.step - a.step) as f64)
    }

    pub fn is_active(&self) -> bool {
        self.finished.is_none() && !self.loading && self.info.is_some()
    }
}

/// Seconds of running over which steps/s is measured.
pub const RATE_WINDOW_S: f64 = 5.0;

/// `1 step`, `2 steps`.
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// How a run ended, in words that do not repeat (or contradict) the step counter beside them.
pub fn stop_text(r: &StopReason) -> String {
    match r {
        StopReason::MaxSteps { steps } => format!("finished {}", plural(*steps, "step")),
        StopReason::AccuracyGoal { accuracy, .. } => {
            format!(
                "stopped: train accuracy {:.1}% reached the goal",
                accuracy * 100.0
            )
        }
        StopReason::LossGoal { loss, .. } => {
            format!("stopped: train loss {} reached the goal", fmt_sig(*loss))
        }
        StopReason::Diverged { .. } => "diverged".into(),
        StopReason::Stopped { .. } => "stopped".into(),
    }
}

/// The status line's parts: step counter, state, and (while running) the recent rate with its
/// inverse and the time left at that rate.
pub fn status_parts(
    step: usize,
    max_steps: usize,
    finished: Option<&StopReason>,
    paused: bool,
    steps_per_s: Option<f64>,
) -> Vec<String> {
    let mut parts = vec![format!("step {step} / {max_steps}")];
    match (finished, paused) {
        (Some(r), _) => parts.push(stop_text(r)),
        (None, true) => parts.push("paused".into()),
        (None, false) => {
            parts.push("running".into());
            if let Some(r) = steps_per_s.filter(|r| r.is_finite() && *r > 0.0) {
                let rate = if r >= 10.0 {
                    format!("{r:.0}")
                } else {
                    format!("{r:.1}")
                };
                parts.push(format!("{rate} steps/s ({} s/step)", sig(1.0 / r, 2)));
                let left = max_steps.saturating_sub(step) as f64 / r;
                parts.push(format!("ETA {}", fmt_duration(left)));
            }
        }
    }
    parts
}

/// How many latest estimates [`typical_hvps`] looks at.
pub const RECENT_ESTIMATES: usize = 50;

/// The typical cost of the run's sharpness estimates for the status line: the median HVP
/// count (the upper one of an even count) over the latest [`RECENT_ESTIMATES`] estimates, so
/// one slow estimate does not misstate it (the digits demo's last estimate took 14 HVPs where
/// its median is 4). `None` before the first estimate.
pub fn typical_hvps(records: &[StepRecord]) -> Option<usize> {
    let mut recent: Vec<usize> = records
        .iter()
        .rev()
        .filter_map(|r| r.hvps)
        .take(RECENT_ESTIMATES)
        .collect();
    recent.sort_unstable();
    recent.get(recent.len() / 2).copied()
}

/// The "Compare runs" defaults for a preset's η: branch at 0.5η; sweep 0.5η, η, 1.5η (as
/// typed in the sweep field, rounded to 3 significant digits).
pub fn compare_defaults(lr: f64) -> (f64, String) {
    let r = |v: f64| sig(v, 3).parse::<f64>().unwrap_or(v);
    let sweep = [0.5 * lr, lr, 1.5 * lr]
        .iter()
        .map(|v| sig(*v, 3))
        .collect::<Vec<_>>()
        .join(", ");
    (r(0.5 * lr), sweep)
}

/// What an overlaid run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverlayKind {
    /// Forked from the main run at some step, with its own η.
    Branch,
    /// Another η of a sweep, from the same initialisation.
    Sweep,
    /// Gradient flow from the same initialisation (x = time / η).
    Flow,
}

/// A run drawn on top of the main one (branch, sweep member or gradient-flow reference).
pub struct Overlay {
    pub kind: OverlayKind,
    /// η of this run.
    pub lr: f64,
    pub view: RunView,
    /// Colour slot in the palette's `runs` (unused for flow).
    pub slot: usize,
    /// How to rebuild it from θ_0 after a reset (sweep and flow runs).
    pub config: Option<RunConfig>,
}

impl Overlay {
    /// Legend suffix, e.g. `branch @ 120, η = 0.05`.
    pub fn name(&self) -> String {
        match self.kind {
            OverlayKind::Branch => match self.view.records.first() {
                Some(r) => format!("branch @ {}, η = {}", r.step, fmt_num(self.lr)),
                None => format!("branch, η = {}", fmt_num(self.lr)),
            },
            OverlayKind::Sweep => format!("η = {}", fmt_num(self.lr)),
            OverlayKind::Flow => "gradient flow (x = time/η)".to_string(),
        }
    }

    /// First step of this run's records (the branch step of a branch).
    pub fn first_step(&self) -> Option<usize> {
        self.view.records.first().map(|r| r.step)
    }
}

/// `0.01, 0.02 0.04` → [0.01, 0.02, 0.04] (commas, semicolons or spaces; each η > 0).
pub fn parse_lrs(s: &str) -> Result<Vec<f64>, String> {
    let v: Vec<f64> = s
        .split([',', ';', ' ', '\t'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<f64>()
                .ok()
                .filter(|x| check_lr(*x).is_ok())
                .ok_or_else(|| format!("`{p}` is not a positive learning rate"))
        })
        .collect::<Result<_, _>>()?;
    if v.is_empty() {
        return Err("enter at least one η, e.g. 0.01, 0.02, 0.04".into());
    }
    if v.len() > 12 {
        return Err("at most 12 values in one sweep".into());
    }
    Ok(v)
}

/// The self-stabilization map's prediction of λ1 along the main run, (step, 2/η + y_t), from
/// the measured theory, up to where the map leaves its range.
pub fn predicted_sharpness(theory: &TheoryLog) -> PredictedLambda1 {
    predicted_lambda1(theory.anchors.first(), &theory.rows)
}

pub fn fmt_duration(s: f64) -> String {
    if !s.is_finite() {
        return "?".into();
    }
    let s = s.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `64,64` → [64, 64]; empty → no hidden layer (the engine's one parser, as `--arch` uses).
pub use crate::engine::model::parse_widths;

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: usize, lr: f64, l1: f64) -> StepRecord {
        StepRecord {
            step,
            lr,
            threshold: 2.0 / lr,
            train_loss: 1.0 / (1.0 + step as f64),
            eigs: Some(vec![l1, 0.5 * l1]),
            wall_s: 0.01 * step as f64,
            train_acc: None,
            test_loss: None,
            test_acc: None,
            hvps: None,
            lanczos_residual: None,
            grad_norm: 1.0,
        }
    }

    #[test]
    fn the_typical_cost_is_the_median_of_the_latest_estimates() {
        let with = |hvps: &[Option<usize>]| -> Vec<StepRecord> {
            hvps.iter()
                .enumerate()
                .map(|(i, &h)| StepRecord {
                    hvps: h,
                    ..rec(i, 0.1, 1.0)
                })
                .collect()
        };
        assert_eq!(typical_hvps(&[]), None);
        assert_eq!(typical_hvps(&with(&[None, None])), None);
        // A slow last estimate (14) and a cold first one (20) do not set it.
        assert_eq!(
            typical_hvps(&with(&[
                Some(20),
                None,
                Some(4),
                Some(5),
                Some(4),
                Some(14)
            ])),
            Some(5)
        );
        // Only the latest 50 count: 60 estimates of 9, then 50 of 3.
        let mut h = vec![Some(9); 60];
        h.extend(vec![Some(3); 50]);
        assert_eq!(typical_hvps(&with(&h)), Some(3));
    }

    #[test]
    fn records_build_the_series_crossing_and_bands() {
        let mut v = RunView::new(7);
        // 2/η = 20: λ1 rises through 20 at step 3, leaves the 10 % band at step 5.
        for (s, l1) in [
            (0, 10.0),
            (1, 15.0),
            (2, 19.0),
            (3, 21.0),
            (4, 19.5),
            (5, 12.0),
        ] {
            v.push(rec(s, 0.1, l1));
        }
        assert_eq!(v.series.train_loss.len(), 6);
        assert_eq!(v.series.eigs.len(), 2);
        assert_eq!(v.series.first_crossing, Some([3.0, 21.0]));
        assert_eq!(v.series.bands(), vec![[3.0, 5.0]]);
        v.push(rec(6, 0.1, 12.0));
        assert_eq!(
            v.series.bands(),
            vec![[3.0, 5.0]],
            "far below 2/η no band opens"
        );
        v.push(rec(7, 0.1, 19.0));
        assert_eq!(
            v.series.bands(),
            vec![[3.0, 5.0], [7.0, 7.0]],
            "back within 10 % of 2/η: a new band, open at the latest step"
        );
        v.clear_data();
        assert!(v.records.is_empty() && v.series.first_crossing.is_none() && v.paused);
        assert_eq!(v.run_id, 7);
    }

    #[test]
    fn threshold_step_line_follows_lr_changes() {
        let thr = [[0.0, 20.0], [1.0, 20.0], [2.0, 40.0], [3.0, 40.0]];
        assert_eq!(step_breakpoints(&thr), vec![[0.0, 20.0], [2.0, 40.0]]);
        assert_eq!(
            step_line(&thr),
            vec![[0.0, 20.0], [2.0, 20.0], [2.0, 40.0], [3.0, 40.0]]
        );
    }

    #[test]
    fn lists_of_numbers_parse_or_say_why() {
        assert_eq!(parse_lrs("0.01, 0.02;0.04"), Ok(vec![0.01, 0.02, 0.04]));
        assert!(parse_lrs("").is_err());
        assert!(parse_lrs("0.1, -1").is_err());
        assert_eq!(parse_widths(" 64, 32 "), Ok(vec![64, 32]));
        assert_eq!(parse_widths(""), Ok(vec![]));
        assert!(parse_widths("64,,x").is_err());
        assert_eq!(fmt_duration(75.0), "1m15s");
    }

    #[test]
    fn prediction_is_empty_without_a_measurement() {
        assert!(predicted_sharpness(&TheoryLog::default()).points.is_empty());
    }

    #[test]
    fn status_is_consistent_and_grammatical() {
        let p = status_parts(535, 2000, None, false, Some(4.0));
        assert_eq!(
            p,
            [
                "step 535 / 2000",
                "running",
                "4.0 steps/s (0.25 s/step)",
                "ETA 6m06s"
            ]
        );
        // A stopped run does not name a second, different step.
        let stopped = StopReason::Stopped { step: 536 };
        let p = status_parts(535, 2000, Some(&stopped), false, Some(4.0));
        assert_eq!(p, ["step 535 / 2000", "stopped"]);
        let one = StopReason::MaxSteps { steps: 1 };
        assert_eq!(
            status_parts(1, 1, Some(&one), false, None)[1],
            "finished 1 step"
        );
        let two = StopReason::MaxSteps { steps: 2 };
        assert_eq!(
            status_parts(2, 2, Some(&two), false, None)[1],
            "finished 2 steps"
        );
        assert_eq!(
            status_parts(3, 9, None, true, Some(2.0)),
            ["step 3 / 9", "paused"]
        );
        assert_eq!(plural(1, "overlaid run"), "1 overlaid run");
        assert_eq!(plural(0, "overlaid run"), "0 overlaid runs");
    }

    #[test]
    fn steps_per_s_is_recent_and_restarts_after_a_pause() {
        let mut v = RunView::new(1);
        assert_eq!(v.steps_per_s(), None);
        let t0 = Instant::now() - std::time::Duration::from_secs(100);
        // 10 steps over 95 s (a long pause in the middle), then 10 steps in the last 2 s.
        for (dt, s) in [(0.0, 0), (1.0, 10), (96.0, 11), (98.0, 21)] {
            v.arrivals
                .push_back((t0 + std::time::Duration::from_secs_f64(dt), s));
        }
        let r = v.steps_per_s().expect("a rate");
        assert!((r - 5.0).abs() < 1e-9, "{r}");
        v.restart_rate();
        assert_eq!(v.steps_per_s(), None);
    }

    #[test]
    fn compare_defaults_scale_with_the_presets_lr() {
        assert_eq!(compare_defaults(0.4), (0.2, "0.2, 0.4, 0.6".to_string()));
        assert_eq!(
            compare_defaults(2.0 / 30.0),
            (0.0333, "0.0333, 0.0667, 0.1".to_string())
        );
        let (_, text) = compare_defaults(0.01);
        assert_eq!(parse_lrs(&text), Ok(vec![0.005, 0.01, 0.015]));
    }
}
