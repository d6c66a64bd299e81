//! The Training workspace's figures (loss, accuracy, sharpness against 2/η; with the central
//! flow also its distance and σ² figures), built once from plain series and drawn by the
//! screen, the file exporter and `run --plot` alike.

use super::central_flow::{self, CentralFlowSeries};
use super::series::{RunSeries, steps_to_line};
use super::{Dash, Figure, Layer, Marker, Role, step_breakpoints};
use crate::engine::plot::{clip_line, padded_extent};
use crate::engine::theory::measured::PredictedLambda1;

/// A run drawn over the main one (branch, sweep member, gradient flow, opened run).
#[derive(Clone, Debug)]
pub struct OverlayRun<'a> {
    /// Legend suffix, e.g. `branch @ 120, η = 0.05`.
    pub label: String,
    /// `Role::Run(slot)` or `Role::Flow`.
    pub role: Role,
    /// Gradient flow has no 2/η of its own to draw.
    pub draw_threshold: bool,
    pub series: &'a RunSeries,
}

/// Everything the training figures show.
#[derive(Clone, Debug, Default)]
pub struct TrainingView<'a> {
    pub main: Option<&'a RunSeries>,
    /// Appended to the main run's legend entries (e.g. ` · η = 0.4` when runs are overlaid).
    pub main_suffix: String,
    pub overlays: Vec<OverlayRun<'a>>,
    /// λ1 predicted by Damian et al.'s map from the first crossing, (step, λ1), up to where
    /// the map left its range.
    pub prediction: PredictedLambda1,
    pub log_y: bool,
    /// Cohen et al. 2025's central flow beside the main run: its predicted loss on the loss
    /// figure, its eigenvalues on the sharpness figure, and the distance and σ² figures.
    pub central_flow: Option<&'a CentralFlowSeries>,
}

/// Legend name of the map's prediction.
pub const PREDICTION_NAME: &str = "λ1 predicted (Damian et al. 2022)";
/// Legend name of the point where the prediction leaves the plotted range.
pub const PREDICTION_END_NAME: &str = "the map leaves its range";

fn empty() -> RunSeries {
    RunSeries::new()
}

/// Training loss (and test loss) with the overlaid runs' training losses.
pub fn loss(v: &TrainingView) -> Figure {
    let e = empty();
    let main = v.main.unwrap_or(&e);
    let mut f = Figure::new("loss", "Loss", "step", "loss");
    f.log_y = v.log_y;
    f.push(Layer::line(
        "train loss",
        Role::Train,
        main.train_loss.clone(),
    ));
    if !main.test_loss.is_empty() {
        f.push(Layer::line("test loss", Role::Test, main.test_loss.clone()));
    }
    for o in &v.overlays {
        f.push(Layer::line(
            format!("train loss · {}", o.label),
            o.role,
            o.series.train_loss.clone(),
        ));
    }
    if let Some(cf) = v.central_flow.filter(|c| !c.is_empty()) {
        f.push(central_flow::loss_layer(cf));
    }
    f
}

/// Training and test accuracy (0 to 1) with the overlaid runs' training accuracies.
pub fn accuracy(v: &TrainingView) -> Figure {
    let e = empty();
    let main = v.main.unwrap_or(&e);
    let mut f = Figure::new("accuracy", "Accuracy", "step", "accuracy");
    f.include_y = vec![0.0, 1.0];
    f.push(Layer::line(
        "train accuracy",
        Role::Train,
        main.train_acc.clone(),
    ));
    for o in &v.overlays {
        f.push(Layer::line(
            format!("train accuracy · {}", o.label),
            o.role,
            o.series.train_acc.clone(),
        ));
    }
    if !main.test_acc.is_empty() {
        f.push(Layer::line(
            "test accuracy",
            Role::Test,
            main.test_acc.clone(),
        ));
    }
    f
}

/// The prediction as drawn, and the point where it ends because the map left its range, if
/// it did. Damian et al.'s cubic map is local: after about one cycle it can run off to ±∞, and
/// the plot must not follow it there. The prediction stops where the map leaves the range of
/// its model ([`PredictedLambda1::left_range_at`]); as a second guard it is also cut where it
/// leaves the range of the measured values (15 % margin, zero included).
pub fn clip_prediction(
    main: &RunSeries,
    prediction: &PredictedLambda1,
) -> (Vec<[f64; 2]>, Option<[f64; 2]>) {
    let cut = prediction.left_range_at.is_some();
    let prediction = &prediction.points[..];
    if prediction.is_empty() {
        return (Vec::new(), None);
    }
    let measured = main.eigs.iter().flatten().chain(&main.threshold);
    let Some((lo, hi)) = padded_extent(measured.map(|p| p[1]).chain([0.0]), 0.15) else {
        return (prediction.to_vec(), None);
    };
    let clipped = clip_line(prediction, lo, hi);
    let left = cut || clipped.len() < prediction.len() || clipped.last() != prediction.last();
    let end = (left && !clipped.is_empty())
        .then(|| clipped.last().copied())
        .flatten();
    (clipped, end)
}

/// Top Hessian eigenvalues against the 2/η step line, with the edge-of-stability bands, the
/// first crossing, the overlaid runs' λ1 and 2/η, and the map's prediction.
pub fn sharpness(v: &TrainingView) -> Figure {
    let e = empty();
    let main = v.main.unwrap_or(&e);
    let sfx = &v.main_suffix;
    let mut f = Figure::new("sharpness", "Sharpness", "step", "top Hessian eigenvalues");
    f.include_y = vec![0.0];
    for b in main.bands() {
        f.push(Layer::x_span(
            "at the edge (λ1 ≥ 0.9·2/η)",
            Role::EdgeBand,
            b[0],
            b[1],
        ));
    }
    let last = main.threshold.last().map(|p| p[0]);
    if !main.threshold.is_empty() {
        let mut l = Layer::steps(
            format!("2/η{sfx}"),
            Role::Threshold,
            step_breakpoints(&main.threshold),
        );
        if let super::LayerKind::Steps { breakpoints, .. } = &mut l.kind {
            // Hold the last value to the last record.
            if let (Some(x), Some(b)) = (last, breakpoints.last().copied())
                && x > b[0]
            {
                breakpoints.push([x, b[1]]);
            }
        }
        f.push(l);
    }
    for (i, e) in main.eigs.iter().enumerate() {
        f.push(
            Layer::line(format!("λ{}{sfx}", i + 1), Role::Eig(i), e.clone())
                .with_width(if i == 0 { 2.0 } else { 1.2 }),
        );
    }
    for o in &v.overlays {
        if o.draw_threshold && !o.series.threshold.is_empty() {
            f.push(
                Layer::line(
                    format!("2/η · {}", o.label),
                    o.role,
                    steps_to_line(
                        &step_breakpoints(&o.series.threshold),
                        o.series.threshold.last().map(|p| p[0]),
                    ),
                )
                .with_dash(Dash::Dashed(8.0))
                .with_width(1.5),
            );
        }
        if let Some(e) = o.series.eigs.first() {
            f.push(Layer::line(format!("λ1 · {}", o.label), o.role, e.clone()));
        }
    }
    if let Some(cf) = v.central_flow {
        for l in central_flow::sharpness_layers(cf) {
            f.push(l);
        }
    }
    let (pred, end) = clip_prediction(main, &v.prediction);
    if !pred.is_empty() {
        f.push(
            Layer::dashed(PREDICTION_NAME, Role::Predicted, pred)
                .with_dash(Dash::Dashed(5.0))
                .with_width(1.8),
        );
    }
    if let Some(p) = end {
        f.push(
            Layer::points(PREDICTION_END_NAME, Role::Predicted, vec![p])
                .with_marker(Marker::Circle)
                .with_width(5.0),
        );
    }
    if let Some(c) = main.first_crossing {
        f.push(Layer::v_line("first crossing of 2/η", Role::Crossing, c[0]));
        f.push(
            Layer::points("first crossing of 2/η", Role::Crossing, vec![c])
                .with_marker(Marker::Diamond)
                .with_width(6.0),
        );
    }
    f
}

/// The training figures in screen order: loss, accuracy (when measured), sharpness, and with
/// the central flow its distance and σ² figures.
pub fn all(v: &TrainingView) -> Vec<Figure> {
    let mut out = vec![loss(v)];
    if v.main.is_some_and(|m| !m.train_acc.is_empty()) {
        out.push(accuracy(v));
    }
    out.push(sharpness(v));
    if let Some(cf) = v.central_flow.filter(|c| !c.is_empty()) {
        out.push(central_flow::distance(cf));
        out.push(central_flow::sigma2(cf));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::figure::LayerKind;

    fn series() -> RunSeries {
        let mut s = RunSeries::new();
        for t in 0..10 {
            let l1 = 1.0 + 0.3 * t as f64;
            s.push_values(
                t as f64,
                1.0 / (1.0 + t as f64),
                Some(0.5),
                None,
                None,
                Some(&[l1, 0.5]),
                2.5,
            );
        }
        s
    }

    #[test]
    fn sharpness_has_band_threshold_eigs_and_crossing() {
        let s = series();
        let v = TrainingView {
            main: Some(&s),
            ..Default::default()
        };
        let f = sharpness(&v);
        let roles: Vec<Role> = f.layers.iter().map(|l| l.role).collect();
        assert!(roles.contains(&Role::EdgeBand));
        assert!(roles.contains(&Role::Threshold));
        assert!(roles.contains(&Role::Eig(0)) && roles.contains(&Role::Eig(1)));
        assert!(roles.contains(&Role::Crossing));
        // λ1 = 1 + 0.3 t ≥ 2.5 first at t = 5.
        assert!(
            f.layers
                .iter()
                .any(|l| matches!(l.kind, LayerKind::VLine { x, .. } if x == 5.0))
        );
    }

    #[test]
    fn a_runaway_prediction_is_cut_and_its_exit_marked() {
        let s = series();
        let pred: Vec<[f64; 2]> = (5..10)
            .map(|t| [t as f64, 2.5 * 10f64.powi(t - 5)])
            .collect();
        let pred = PredictedLambda1 {
            points: pred,
            left_range_at: None,
        };
        let (clipped, end) = clip_prediction(&s, &pred);
        assert!(clipped.len() < pred.points.len());
        let end = end.unwrap_or([f64::NAN; 2]);
        assert!(end[1] < 5.0 && end[1] > 3.7, "{end:?}");
        // A prediction inside the range is drawn whole, with no exit mark.
        let calm = PredictedLambda1 {
            points: (5..10).map(|t| [t as f64, 2.4]).collect(),
            left_range_at: None,
        };
        let (c, e) = clip_prediction(&s, &calm);
        assert_eq!((c.len(), e), (5, None));
        // A prediction the map's own range cut is drawn up to there, and its end is marked.
        let cut = PredictedLambda1 {
            left_range_at: Some(10),
            ..calm
        };
        let (c, e) = clip_prediction(&s, &cut);
        assert_eq!((c.len(), e), (5, Some([9.0, 2.4])));
    }
}
