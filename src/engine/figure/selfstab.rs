//! Figures of the Self-stabilization workspace (Damian et al. 2022's map): x_t over t, the
//! predicted sharpness 2/η + y_t, and the phase portrait coloured by stage. Optionally with the
//! trajectory measured on a training network, a fitted range, the two-step vector field and
//! the play-back cursor.

use super::{Dash, Figure, Layer, Role};
use crate::engine::theory::self_stab::Stage;

/// The map's trajectory as drawn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelfStabSeries {
    /// (t, x_t as displayed: x, |x| or x²).
    pub x: Vec<[f64; 2]>,
    /// (t, 2/η + y_t).
    pub sharpness: Vec<[f64; 2]>,
    /// Phase-portrait points (x_t, y_t) per stage 1..=4.
    pub phase: [Vec<[f64; 2]>; 4],
    pub threshold: f64,
    pub delta: f64,
}

/// The trajectory measured on the training network, in the map's coordinates.
#[derive(Clone, Copy, Debug)]
pub struct Measured<'a> {
    /// (t, x̃_t as displayed).
    pub x: &'a [[f64; 2]],
    /// (t, λ1).
    pub sharpness: &'a [[f64; 2]],
    /// (x̃_t, λ1 − 2/η).
    pub phase: &'a [[f64; 2]],
}

/// Ranges that hold the measured trajectory (when fitting to it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub t: (f64, f64),
    pub x: (f64, f64),
    pub sharpness: (f64, f64),
    pub phase_x: (f64, f64),
    pub phase_y: (f64, f64),
}

/// A vector field: arrow origins and tips.
pub type Field = (Vec<[f64; 2]>, Vec<[f64; 2]>);

/// What the three figures show besides the map.
#[derive(Clone, Debug, Default)]
pub struct SelfStabView<'a> {
    /// Axis name of the displayed x: `x_t`, `|x_t|` or `x_t²`.
    pub x_name: &'a str,
    /// δ line on the x plot, at this displayed value (|x| and x² displays).
    pub delta_line: Option<f64>,
    pub measured: Option<Measured<'a>>,
    pub fit: Option<Fit>,
    /// Two-step displacement field: (origins, tips).
    pub field: Option<Field>,
    /// Play-back cursor: t, and the point (x_t, y_t) at t.
    pub cursor: Option<(f64, Option<[f64; 2]>)>,
}

fn range(r: (f64, f64)) -> Option<[f64; 2]> {
    Some([r.0, r.1])
}

/// x_t (as displayed) over t.
pub fn x_over_t(s: &SelfStabSeries, v: &SelfStabView) -> Figure {
    let mut f = Figure::new("selfstab-x", format!("{} over t", v.x_name), "t", v.x_name);
    f.push(Layer::line(v.x_name, Role::Train, s.x.clone()));
    if let Some(m) = v.measured {
        f.push(
            Layer::points(
                format!("{} measured", v.x_name),
                Role::Measured,
                m.x.to_vec(),
            )
            .with_width(1.6),
        );
    }
    if let Some(d) = v.delta_line {
        f.push(Layer::h_line("δ", Role::Delta, d).with_dash(Dash::Dashed(6.0)));
    }
    if let Some((t, _)) = v.cursor {
        f.push(Layer::v_line("cursor", Role::Cursor, t).with_dash(Dash::Solid));
    }
    if let Some(fit) = v.fit {
        f.x_range = range(fit.t);
        f.y_range = range(fit.x);
    }
    f
}

/// The predicted sharpness 2/η + y_t against 2/η.
pub fn sharpness(s: &SelfStabSeries, v: &SelfStabView) -> Figure {
    let mut f = Figure::new(
        "selfstab-sharpness",
        "Predicted sharpness",
        "t",
        "2/η + y_t",
    );
    f.push(
        Layer::h_line("2/η", Role::Threshold, s.threshold)
            .with_dash(Dash::Dashed(8.0))
            .with_width(1.5),
    );
    f.push(Layer::line("2/η + y_t", Role::Eig(0), s.sharpness.clone()));
    if let Some(m) = v.measured {
        f.push(Layer::points("λ1 measured", Role::Measured, m.sharpness.to_vec()).with_width(1.6));
    }
    if let Some((t, _)) = v.cursor {
        f.push(Layer::v_line("cursor", Role::Cursor, t).with_dash(Dash::Solid));
    }
    if let Some(fit) = v.fit {
        f.x_range = range(fit.t);
        f.y_range = range(fit.sharpness);
    }
    f
}

/// Legend name of stage `i` (0..=3).
pub fn stage_name(i: usize) -> String {
    format!("{} {}", i + 1, Stage::ALL[i.min(3)].name())
}

/// The phase portrait (x_t, y_t), one colour per stage, with x = ±δ and y = 0.
pub fn phase(s: &SelfStabSeries, v: &SelfStabView) -> Figure {
    let mut f = Figure::new("selfstab-phase", "Phase portrait", "x_t", "y_t");
    if let Some((o, t)) = &v.field {
        f.push(Layer::arrows(
            "two-step field",
            Role::Field,
            o.clone(),
            t.clone(),
        ));
    }
    for d in [s.delta, -s.delta] {
        f.push(Layer::v_line("x = ±δ", Role::Delta, d).with_dash(Dash::Dashed(6.0)));
    }
    f.push(Layer::h_line("y = 0", Role::Zero, 0.0).with_width(0.5));
    for (i, pts) in s.phase.iter().enumerate() {
        f.push(Layer::points(stage_name(i), Role::Stage(i), pts.clone()).with_width(1.8));
    }
    if let Some(m) = v.measured {
        // Points: x alternates in sign, so a line would zig-zag across.
        f.push(
            Layer::points("measured (x̃_t, λ1 − 2/η)", Role::Measured, m.phase.to_vec())
                .with_width(1.6),
        );
    }
    if let Some((_, Some(p))) = v.cursor {
        f.push(Layer::points("cursor", Role::Cursor, vec![p]).with_width(6.0));
    }
    if let Some(fit) = v.fit {
        f.x_range = range(fit.phase_x);
        f.y_range = range(fit.phase_y);
    }
    f
}

/// The three figures in screen order.
pub fn all(s: &SelfStabSeries, v: &SelfStabView) -> Vec<Figure> {
    vec![x_over_t(s, v), sharpness(s, v), phase(s, v)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_portrait_colours_each_stage_by_its_role() {
        let mut s = SelfStabSeries {
            threshold: 20.0,
            delta: 1.0,
            ..Default::default()
        };
        for i in 0..4 {
            s.phase[i].push([i as f64 * 0.1, 0.5]);
        }
        let f = phase(&s, &SelfStabView::default());
        for i in 0..4 {
            assert!(
                f.layers
                    .iter()
                    .any(|l| l.role == Role::Stage(i) && l.name == stage_name(i))
            );
        }
        assert_eq!(stage_name(0), "1 progressive sharpening");
    }
}
