//! Publication-style line charts (white background, title, axis labels, legend, an optional
//! 2/η threshold drawn as a step line, optional log-y) written as SVG or PNG with plotters.
//!
//! No system libraries: the font is the Ubuntu Light face embedded in `epaint_default_fonts`,
//! registered with plotters before anything is drawn. [`PlotSpec`] is plain data so the CLI
//! and the app describe a figure the same way. Nothing here imports UI crates.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde::{Deserialize, Serialize};

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

/// Why a figure could not be written. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot write {path}: the file name must end in .svg or .png")]
    UnknownFormat { path: PathBuf },
    #[error("cannot write {path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("cannot plot {path}: {message}")]
    Data { path: PathBuf, message: String },
}

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

fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .map_err(|_| "the embedded font could not be loaded".to_string())
    })
    .clone()
}

/// Write `spec` to `path`; the format follows the extension (`.svg` or `.png`).
pub fn write_plot(path: &Path, spec: &PlotSpec) -> Result<(), PlotError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let draw_err = |message: String| PlotError::Draw {
        path: path.to_path_buf(),
        message,
    };
    ensure_font().map_err(draw_err)?;
    let prepared = prepare(spec).map_err(|message| PlotError::Data {
        path: path.to_path_buf(),
        message,
    })?;
    let (w, h) = (spec.size.0.clamp(200, 8000), spec.size.1.clamp(150, 8000));
    match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, (w, h)).into_drawing_area();
            draw(&root, spec, &prepared).map_err(draw_err)?;
            root.present().map_err(|e| draw_err(e.to_string()))
        }
        Some("png") => {
            let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
            draw(&root, spec, &prepared).map_err(draw_err)?;
            root.present().map_err(|e| draw_err(e.to_string()))
        }
        _ => Err(PlotError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// Series in plot coordinates (log10 of y for log plots; non-finite / non-positive dropped).
struct Prepared {
    series: Vec<Vec<(f64, f64)>>,
    threshold: Vec<(f64, f64)>,
    x: (f64, f64),
    y: (f64, f64),
}

fn prepare(spec: &PlotSpec) -> Result<Prepared, String> {
    let tf = |y: f64| -> Option<f64> {
        if !y.is_finite() {
            None
        } else if spec.log_y {
            (y > 0.0).then(|| y.log10())
        } else {
            Some(y)
        }
    };
    let series: Vec<Vec<(f64, f64)>> = spec
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter(|p| p[0].is_finite())
                .filter_map(|p| tf(p[1]).map(|y| (p[0], y)))
                .collect()
        })
        .collect();
    let mut xmin = f64::INFINITY;
    let mut xmax = f64::NEG_INFINITY;
    let mut ymin = f64::INFINITY;
    let mut ymax = f64::NEG_INFINITY;
    for s in &series {
        for &(x, y) in s {
            xmin = xmin.min(x);
            xmax = xmax.max(x);
            ymin = ymin.min(y);
            ymax = ymax.max(y);
        }
    }
    if !xmin.is_finite() {
        return Err("no finite data points to plot".into());
    }
    let mut threshold = Vec::new();
    if let Some(t) = &spec.threshold {
        // Step function: hold each value until the next breakpoint, to the end of the x range.
        let pts: Vec<(f64, f64)> = t
            .steps
            .iter()
            .filter(|p| p[0].is_finite())
            .filter_map(|p| tf(p[1]).map(|y| (p[0], y)))
            .collect();
        for (i, &(x, y)) in pts.iter().enumerate() {
            let x0 = if i == 0 { x.min(xmin) } else { x };
            let x1 = pts.get(i + 1).map(|p| p.0).unwrap_or(xmax.max(x));
            threshold.push((x0, y));
            threshold.push((x1, y));
            ymin = ymin.min(y);
            ymax = ymax.max(y);
        }
    }
    if xmax <= xmin {
        xmax = xmin + 1.0;
    }
    if ymax <= ymin {
        let d = if ymin.abs() > 0.0 {
            ymin.abs() * 0.1
        } else {
            1.0
        };
        ymin -= d;
        ymax += d;
    }
    let pad = (ymax - ymin) * 0.05;
    let mut y = (ymin - pad, ymax + pad);
    if let Some([lo, hi]) = spec.y_range
        && let (Some(lo), Some(hi)) = (tf(lo), tf(hi))
        && hi > lo
    {
        y = (lo, hi);
    }
    let series = match spec.y_range {
        Some(_) => series
            .into_iter()
            .zip(&spec.series)
            .map(|(pts, s)| clip_to(pts, y, s.style == SeriesStyle::Points))
            .collect(),
        None => series,
    };
    Ok(Prepared {
        series,
        threshold,
        x: (xmin, xmax),
        y,
    })
}

/// Points inside [lo, hi] in y: a point series keeps those; a line ends at its first exit,
/// with the crossing of the border interpolated.
fn clip_to(pts: Vec<(f64, f64)>, (lo, hi): (f64, f64), points: bool) -> Vec<(f64, f64)> {
    let inside = |y: f64| (lo..=hi).contains(&y);
    if points {
        return pts.into_iter().filter(|p| inside(p.1)).collect();
    }
    let v: Vec<[f64; 2]> = pts.iter().map(|p| [p.0, p.1]).collect();
    clip_line(&v, lo, hi)
        .into_iter()
        .map(|p| (p[0], p[1]))
        .collect()
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

fn color_of(spec_color: Option<[u8; 3]>, i: usize) -> RGBColor {
    let c = spec_color.unwrap_or(PALETTE[i % PALETTE.len()]);
    RGBColor(c[0], c[1], c[2])
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &PlotSpec,
    p: &Prepared,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let log_y = spec.log_y;
    let y_fmt = move |v: &f64| {
        if log_y {
            fmt_tick(10f64.powf(*v))
        } else {
            fmt_tick(*v)
        }
    };
    let x_fmt = |v: &f64| fmt_tick(*v);
    let mut chart = ChartBuilder::on(root)
        .caption(&spec.title, ("sans-serif", 24).into_font())
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(p.x.0..p.x.1, p.y.0..p.y.1)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(&spec.x_label)
        .y_desc(if log_y {
            format!("{} (log scale)", spec.y_label)
        } else {
            spec.y_label.clone()
        })
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(e)?;
    for (i, (s, pts)) in spec.series.iter().zip(&p.series).enumerate() {
        let color = color_of(s.color, i);
        match s.style {
            SeriesStyle::Line => {
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                    .map_err(e)?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            SeriesStyle::Dashed => {
                chart
                    .draw_series(DashedLineSeries::new(
                        pts.iter().copied(),
                        6,
                        4,
                        color.stroke_width(2),
                    ))
                    .map_err(e)?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            SeriesStyle::Points => {
                chart
                    .draw_series(
                        pts.iter()
                            .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                    )
                    .map_err(e)?
                    .label(&s.name)
                    .legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()));
            }
        }
    }
    if let Some(t) = &spec.threshold
        && !p.threshold.is_empty()
    {
        let red = RGBColor(200, 30, 30);
        chart
            .draw_series(DashedLineSeries::new(
                p.threshold.iter().copied(),
                8,
                5,
                red.stroke_width(2),
            ))
            .map_err(e)?
            .label(&t.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 15))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_ends_at_its_first_exit_from_the_y_range() {
        let pts = vec![(0.0, 0.0), (1.0, 0.5), (2.0, -3.0), (3.0, 0.2)];
        let c = clip_to(pts.clone(), (-1.0, 1.0), false);
        assert_eq!(c.len(), 3);
        assert_eq!(c[1], (1.0, 0.5));
        // Crossing of y = -1 between (1, 0.5) and (2, -3): x = 1 + 1.5/3.5.
        assert!((c[2].0 - (1.0 + 1.5 / 3.5)).abs() < 1e-15 && c[2].1 == -1.0);
        // Points keep everything inside.
        assert_eq!(clip_to(pts, (-1.0, 1.0), true).len(), 3);
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
        let p = prepare(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.y, (-2.0, 2.0));
        assert_eq!(p.series[0].len(), 2);
        s.y_range = None;
        let p = prepare(&s).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.y.1 > 1e6);
    }
}
