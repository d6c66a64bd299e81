//! Figures of a measured-theory report (`run --theory --plot`).

use super::report::TheoryReport;
use super::tracker::TheoryRow;

/// Figures of the tracked rows: (1) λ1 − 2/η measured against the map's prediction e₀ + y_t,
/// (2) x_t = uᵀ(θ_t − θ₀) measured against the prediction x* + x̃_t; both over the run's step.
pub fn theory_plots(rep: &TheoryReport, title: &str) -> Vec<crate::engine::plot::PlotSpec> {
    use crate::engine::plot::{PlotSpec, Series, SeriesStyle, Threshold};
    let step = |r: &TheoryRow| r.step as f64;
    let mut ex = PlotSpec::new(
        format!(
            "Sharpness excess, measured vs Damian et al. 2022's self-stabilization map, {title}"
        ),
        "step",
        "λ1 − 2/η",
    );
    ex.series.push(Series::line(
        "λ1 − 2/η measured",
        rep.rows
            .iter()
            .map(|r| [step(r), r.lambda1_minus_threshold])
            .collect(),
    ));
    ex.series.push(Series {
        name: "e₀ + y_t predicted".into(),
        points: rep
            .rows
            .iter()
            .filter_map(|r| Some([step(r), r.excess_predicted?]))
            .collect(),
        style: SeriesStyle::Dashed,
        color: None,
    });
    // The map can run far outside what the network does (it diverges after the first cycle
    // on digits-demo): hold the axis on the measured values and clip the prediction.
    // The range always holds 0 (the 2/η line of the excess plot, x = 0 of the other).
    let span = |v: &mut dyn Iterator<Item = f64>| {
        crate::engine::plot::padded_extent(v.chain([0.0]), 0.15).map(|(lo, hi)| [lo, hi])
    };
    ex.y_range = span(&mut rep.rows.iter().map(|r| r.lambda1_minus_threshold));
    if let (Some(a), Some(b)) = (rep.rows.first(), rep.rows.last()) {
        ex.threshold = Some(Threshold {
            name: "λ1 = 2/η".into(),
            steps: vec![[step(a), 0.0], [step(b), 0.0]],
        });
    }
    let mut x = PlotSpec::new(
        format!("Displacement along u, measured vs predicted, {title}"),
        "step",
        "x_t = uᵀ(θ_t − θ₀)",
    );
    x.series.push(Series::points(
        "x_t measured",
        rep.rows.iter().map(|r| [step(r), r.x_measured]).collect(),
    ));
    x.series.push(Series {
        name: "x_t predicted".into(),
        points: rep
            .rows
            .iter()
            .filter_map(|r| Some([step(r), r.x_predicted?]))
            .collect(),
        style: SeriesStyle::Dashed,
        color: None,
    });
    x.y_range = span(&mut rep.rows.iter().map(|r| r.x_measured));
    vec![ex, x]
}
