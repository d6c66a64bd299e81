//! The messages a tracker running beside a live run sends ([`TheoryUpdate`]) and what the app
//! collects from them ([`TheoryLog`]).

use super::agreement::{Agreement, agreement};
use super::anchor::AnchorInfo;
use super::options::TheoryOptions;
use super::report::{TheoryReport, anchor_reports};
use super::tracker::{Phase, ProbeStats, TheoryRow};
use crate::engine::theory::TheoryError;
use crate::engine::theory::self_stab::SelfStabParams;

/// One message from a tracker running beside a live run (the app's training worker sends these
/// as events; [`TheoryLog::apply`] collects them on the other side).
#[derive(Clone, Debug, PartialEq)]
pub enum TheoryUpdate {
    /// A fresh tracker starts watching at this step (forget earlier updates).
    Started { step: usize },
    /// The tracker's phase changed.
    Phase(Phase),
    /// A new anchor θ₀ was measured.
    Anchor(Box<AnchorInfo>),
    /// One tracked step.
    Row(Box<TheoryRow>),
    /// Probe statistics so far (per-step λ1 probes, f64 re-probes near 2/η, their HVPs).
    Probes(ProbeStats),
    /// The tracker failed and was switched off (the run goes on).
    Failed(String),
}

/// What a live tracker has reported so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TheoryLog {
    /// None until a tracker started.
    pub phase: Option<Phase>,
    pub started_at: usize,
    pub anchors: Vec<AnchorInfo>,
    pub rows: Vec<TheoryRow>,
    pub probes: usize,
    pub probe_hvps: usize,
    pub probe_seconds: f64,
    pub refinements: usize,
    pub refinement_hvps: usize,
    pub refinement_seconds: f64,
    pub error: Option<String>,
}

/// Definition 4.1 needs x₀ > 0 and the map is odd in x, so the map runs on sign · x̃ with
/// x̃₀ = −x* made positive; measured x̃_t enter the map's coordinates times the same sign.
fn map_sign(a: &AnchorInfo) -> f64 {
    if a.x_center > 0.0 { -1.0 } else { 1.0 }
}

/// The cubic model behind the map holds while the oscillation stays near its own scale δ
/// (Damian et al. 2022): the prediction is drawn while |x̃_t| ≤ this many δ.
pub const MAP_RANGE_DELTAS: f64 = 10.0;

/// The map's prediction of λ1 along the run from the first anchor, (step, 2/η + y_t), up to
/// where the map leaves the range of its cubic model: what the sharpness figure draws, on
/// screen and from `run --theory --plot` alike.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PredictedLambda1 {
    pub points: Vec<[f64; 2]>,
    /// The first step where the map left its range (|x̃| > [`MAP_RANGE_DELTAS`]·δ, a predicted
    /// λ1 ≤ 0, or the map blew up); the points stop before it.
    pub left_range_at: Option<usize>,
}

impl PredictedLambda1 {
    /// One plain sentence for the user when the prediction was cut, e.g. for the Training
    /// panel.
    pub fn cut_note(&self) -> Option<String> {
        let step = self.left_range_at?;
        Some(format!(
            "Damian et al.'s cubic model is local: its prediction stops at step {step}, where the \
             predicted oscillation grew past {MAP_RANGE_DELTAS:.0}δ (it holds for about one cycle)."
        ))
    }
}

/// See [`PredictedLambda1`].
pub fn predicted_lambda1(anchor: Option<&AnchorInfo>, rows: &[TheoryRow]) -> PredictedLambda1 {
    let Some(a) = anchor else {
        return PredictedLambda1::default();
    };
    let mut out = PredictedLambda1::default();
    let limit = MAP_RANGE_DELTAS * a.delta;
    for r in rows.iter().filter(|r| r.anchor == a.index) {
        let in_range = match (r.excess_predicted, r.x_predicted) {
            (Some(e), Some(x)) => {
                let lambda = a.threshold + e;
                let x_tilde = (x - a.x_center).abs();
                (!limit.is_finite() || x_tilde <= limit) && lambda > 0.0 && lambda.is_finite()
            }
            _ => false,
        };
        if !in_range {
            out.left_range_at = Some(r.step);
            break;
        }
        if let Some(e) = r.excess_predicted {
            out.points.push([r.step as f64, a.threshold + e]);
        }
    }
    out
}

impl TheoryLog {
    /// Fold one update in.
    pub fn apply(&mut self, u: TheoryUpdate) {
        match u {
            TheoryUpdate::Started { step } => {
                *self = TheoryLog {
                    phase: Some(Phase::Searching),
                    started_at: step,
                    ..Default::default()
                }
            }
            TheoryUpdate::Phase(p) => self.phase = Some(p),
            TheoryUpdate::Anchor(a) => self.anchors.push(*a),
            TheoryUpdate::Row(r) => self.rows.push(*r),
            TheoryUpdate::Probes(p) => {
                self.probes = p.probes;
                self.probe_hvps = p.hvps;
                self.probe_seconds = p.seconds;
                self.refinements = p.refinements;
                self.refinement_hvps = p.refinement_hvps;
                self.refinement_seconds = p.refinement_seconds;
            }

            TheoryUpdate::Failed(e) => {
                self.error = Some(e);
                self.phase = Some(Phase::Done);
            }
        }
    }

    /// The same summary `run --theory` writes (`theory_summary.json`), from what the app
    /// received; `options` are the ones the tracker ran with.
    pub fn report(&self, options: &TheoryOptions) -> TheoryReport {
        let anchors = anchor_reports(&self.anchors, &self.rows);
        let status = match (&self.error, self.anchors.first()) {
            (Some(e), _) => format!("the tracker stopped: {e}"),
            (None, None) => "λ1 did not reach 2/η while tracked; nothing to compare".into(),
            (None, Some(a)) => format!(
                "{} anchor(s), {} tracked steps, first crossing at step {}",
                anchors.len(),
                self.rows.len(),
                a.step
            ),
        };
        TheoryReport {
            status,
            phase: self.phase.clone().unwrap_or(Phase::Searching),
            options: options.clone(),
            // The app's tracker is a `TheoryProbe`, which probes in the options' precision.
            probe_precision: options.probe_precision,
            probes: self.probes,
            probe_hvps: self.probe_hvps,
            probe_seconds: self.probe_seconds,
            refinements: self.refinements,
            refinement_hvps: self.refinement_hvps,
            refinement_seconds: self.refinement_seconds,
            anchors,
            rows: self.rows.clone(),
        }
    }

    /// Rows of one anchor, ordered by t.
    pub fn rows_of(&self, anchor: usize) -> Vec<&TheoryRow> {
        self.rows.iter().filter(|r| r.anchor == anchor).collect()
    }

    /// The agreement figures of one anchor so far.
    pub fn agreement(&self, anchor: usize) -> Option<Agreement> {
        let info = self.anchors.get(anchor)?;
        agreement(info, &self.rows_of(anchor))
    }

    /// The map of Definition 4.1 with an anchor's measured η, α, β and initial condition, over
    /// `steps` steps: x₀ = |x̃₀| = |x*| (see `map_sign`) and y₀ = e₀ = λ1(θ₀) − 2/η, so the
    /// map's 2/η + y_t is the predicted sharpness (module notes). Fails (with the reason) when
    /// the anchor violates the map's assumptions, e.g. α ≤ 0.
    pub fn map_of(&self, anchor: usize, steps: usize) -> Result<SelfStabParams, TheoryError> {
        let Some(a) = self.anchors.get(anchor) else {
            return Err(TheoryError::Shape(format!(
                "no anchor {anchor} has been measured yet"
            )));
        };
        let x0 = a.x_center.abs();
        let params = SelfStabParams {
            lr: a.lr,
            alpha: a.alpha,
            beta: a.beta,
            x0,
            y0: a.excess0,
            steps,
            blowup: SelfStabParams::default()
                .blowup
                .max(1e3 * x0.max(a.excess0.abs())),
        };
        params.check()?;
        Ok(params)
    }

    /// Measured (t, x̃_t in the map's coordinates, λ1 − 2/η) of one anchor: the points to draw
    /// over the map's (t, x_t) and (x_t, y_t) plots.
    pub fn measured_in_map_coordinates(&self, anchor: usize) -> Vec<(usize, f64, f64)> {
        let Some(a) = self.anchors.get(anchor) else {
            return Vec::new();
        };
        let sign = map_sign(a);
        self.rows_of(anchor)
            .into_iter()
            .map(|r| {
                (
                    r.t,
                    sign * (r.x_measured - a.x_center),
                    r.lambda1_minus_threshold,
                )
            })
            .collect()
    }
}
