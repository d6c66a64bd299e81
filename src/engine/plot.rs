//! Publication-style line charts (white background, title, axis labels, legend, an optional
//! 2/η threshold drawn as a step line, optional log-y) written as SVG or PNG with plotters.
//!
//! No system libraries: the font is DejaVu Sans, embedded in the binary (see
//! [`crate::engine::figure::render`]). [`PlotSpec`] is plain data so the CLI
//! and the app describe a figure the same way. Nothing here imports UI crates.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::figure::render::{ExportStyle, write_figure};
use crate::engine::figure::{Figure, Layer, Role};

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SeriesStyle {
    #[default]
    Line,
    Dashed,
    Points,
}

/// One named series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<[f64; 2]>,
    #[serde(default)]
    pub style: SeriesStyle,
    /// RGB colour; `None` picks from the palette by index.
    #[serde(default)]
    pub color: Option<[u8; 3]>,
}

impl Series {
    /// Markers only (e.g. measured values over a predicted curve).
    pub fn points(name: impl Into<String>, points: Vec<[f64; 2]>) -> Self {
        Series {
            style: SeriesStyle::Points,
            ..Series::line(name, points)
        }
    }

    /// A dashed line (e.g. a prediction or a second eigenvalue).
    pub fn dashed(name: impl Into<String>, points: Vec<[f64; 2]>) -> Self {
        Series {
            style: SeriesStyle::Dashed,
            ..Series::line(name, points)
        }
    }

    pub fn line(name: impl Into<String>, points: Vec<[f64; 2]>) -> Self {
        Series {
            name: name.into(),
            points,
            style: SeriesStyle::Line,
            color: None,
        }
    }
}

/// A horizontal threshold that may change along x (e.g. 2/η when η changed mid-run): a list
/// of (x, value) breakpoints drawn as a step function (value holds until the next x).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub name: String,
    pub steps: Vec<[f64; 2]>,
}

/// A whole figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlotSpec {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    #[serde(default)]
    pub log_y: bool,
    pub series: Vec<Series>,
    #[serde(default)]
    pub threshold: Option<Threshold>,
    /// Fixed y range (data units) instead of the data's extent. A curve ends where it first
    /// leaves the range (at the interpolated crossing of the border); points of a point series
    /// outside it are dropped.
    #[serde(default)]
    pub y_range: Option<[f64; 2]>,
    /// Pixel size (also the SVG canvas size).
    #[serde(default = "default_size")]
    pub size: (u32, u32),
}

fn default_size() -> (u32, u32) {
    (900, 560)
}

impl PlotSpec {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        PlotSpec {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: false,
            series: Vec::new(),
            threshold: None,
            y_range: None,
            size: default_size(),
        }
    }
}

/// Why a figure could not be written (the figure module's error). Always names the file.
pub type PlotError = crate::engine::figure::render::FigureError;

/// Palette for series without a colour (colour-blind friendly, Okabe–Ito).
pub const PALETTE: [[u8; 3]; 7] = [
    [0, 114, 178],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
    [230, 159, 0],
    [86, 180, 233],
    [120, 120, 120],
];

impl From<&PlotSpec> for Figure {
    /// The simple spec as a [`Figure`]: series become lines/points coloured by their index
    /// in the palette, the threshold a 2/η step layer.
    fn from(spec: &PlotSpec) -> Figure {
        let mut f = Figure::new("figure", &spec.title, &spec.x_label, &spec.y_label);
        f.log_y = spec.log_y;
        f.y_range = spec.y_range;
        for (i, s) in spec.series.iter().enumerate() {
            let role = Role::Palette(i);
            let pts = s.points.clone();
            f.push(match s.style {
                SeriesStyle::Line => Layer::line(&s.name, role, pts),
                SeriesStyle::Dashed => Layer::dashed(&s.name, role, pts),
                SeriesStyle::Points => Layer::points(&s.name, role, pts),
            });
        }
        if let Some(t) = &spec.threshold {
            f.push(Layer::steps(&t.name, Role::Threshold, t.steps.clone()).with_width(2.0));
        }
        f
    }
}

/// Write `spec` to `path` (`.svg` or `.png`) at its size, light theme.
pub fn write_plot(path: &Path, spec: &PlotSpec) -> Result<(), PlotError> {
    let style = ExportStyle {
        width: spec.size.0,
        height: spec.size.1,
        ..ExportStyle::default()
    };
    write_figure(path, &Figure::from(spec), &style)
}

/// The finite values' range (lo, hi) widened by `pad` × its width on each side; None when
/// no value is finite. A zero-width range is widened by `pad` × max(|hi|, 1e-300) instead.
pub fn padded_extent(values: impl IntoIterator<Item = f64>, pad: f64) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return None;
    }
    let w = if hi > lo {
        hi - lo
    } else {
        hi.abs().max(1e-300)
    };
    Some((lo - pad * w, hi + pad * w))
}

/// A line cut where it first leaves lo ≤ y ≤ hi, ending at the interpolated crossing of the
/// border (leading points outside are skipped). For drawing a prediction that diverges.
pub fn clip_line(pts: &[[f64; 2]], lo: f64, hi: f64) -> Vec<[f64; 2]> {
    let inside = |y: f64| (lo..=hi).contains(&y);
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(pts.len());
    for &p in pts {
        if inside(p[1]) {
            out.push(p);
            continue;
        }
        if let Some(&[x0, y0]) = out.last() {
            let edge = if p[1] > hi { hi } else { lo };
            let f = (edge - y0) / (p[1] - y0);
            out.push([x0 + f * (p[0] - x0), edge]);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::figure::render::prepare;

    #[test]
    fn a_line_ends_at_its_first_exit_from_the_y_range() {
        let pts = [[0.0, 0.0], [1.0, 0.5], [2.0, -3.0], [3.0, 0.2]];
        let c = clip_line(&pts, -1.0, 1.0);
        assert_eq!(c.len(), 3);
        assert_eq!(c[1], [1.0, 0.5]);
        // Crossing of y = -1 between (1, 0.5) and (2, -3): x = 1 + 1.5/3.5.
        assert!((c[2][0] - (1.0 + 1.5 / 3.5)).abs() < 1e-15 && c[2][1] == -1.0);
    }

    #[test]
    fn padded_extent_skips_non_finite_values() {
        assert_eq!(padded_extent([1.0, f64::NAN, 3.0], 0.5), Some((0.0, 4.0)));
        assert_eq!(padded_extent([2.0], 0.5), Some((1.0, 3.0)));
        assert_eq!(padded_extent([f64::INFINITY], 0.5), None);
    }

    #[test]
    fn y_range_overrides_the_extent() {
        let mut s = PlotSpec::new("t", "x", "y");
        s.series
            .push(Series::line("a", vec![[0.0, 0.0], [1.0, 1e6], [2.0, 1.0]]));
        s.y_range = Some([-2.0, 2.0]);
        let p = prepare(&Figure::from(&s)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.y, (-2.0, 2.0));
        assert_eq!(p.layers[0].len(), 2);
        s.y_range = None;
        let p = prepare(&Figure::from(&s)).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.y.1 > 1e6);
    }
}
