//! The file exporter: draws a [`Figure`] as SVG or PNG with plotters (no system libraries; the
//! font is embedded). The legend sits in its own column right of the plot area, so it never
//! covers data.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::style::{self, Rgba, Theme};
use super::{Dash, Figure, LayerKind, Marker};
use crate::engine::plot::clip_line;

/// Size and look of an exported figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExportStyle {
    /// Pixels (also the SVG canvas size).
    pub width: u32,
    pub height: u32,
    pub theme: Theme,
}

impl Default for ExportStyle {
    fn default() -> Self {
        ExportStyle {
            width: 900,
            height: 560,
            theme: Theme::Light,
        }
    }
}

impl ExportStyle {
    /// Text and line scale: 1 at 900 px wide, growing with the canvas (slides at 1920 × 1080
    /// get type large enough to read from the back of a room).
    pub fn scale(&self) -> f64 {
        (self.width.min(self.height * 16 / 10) as f64 / 900.0).clamp(0.5, 4.0)
    }
}

/// Why a figure could not be written. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error("cannot write {path}: the file name must end in .svg or .png")]
    UnknownFormat { path: PathBuf },
    #[error("cannot write {path}: {message}")]
    Draw { path: PathBuf, message: String },
    #[error("cannot plot {path}: {message}")]
    Data { path: PathBuf, message: String },
}

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

/// Write `fig` to `path`; the format follows the extension (`.svg` or `.png`).
pub fn write_figure(path: &Path, fig: &Figure, st: &ExportStyle) -> Result<(), FigureError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let draw_err = |message: String| FigureError::Draw {
        path: path.to_path_buf(),
        message,
    };
    ensure_font().map_err(draw_err)?;
    let prepared = prepare(fig).map_err(|message| FigureError::Data {
        path: path.to_path_buf(),
        message,
    })?;
    let (w, h) = (st.width.clamp(200, 8000), st.height.clamp(150, 8000));
    match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, (w, h)).into_drawing_area();
            draw(&root, fig, &prepared, st).map_err(draw_err)?;
            root.present().map_err(|e| draw_err(e.to_string()))
        }
        Some("png") => {
            let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
            draw(&root, fig, &prepared, st).map_err(draw_err)?;
            root.present().map_err(|e| draw_err(e.to_string()))
        }
        _ => Err(FigureError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// Layers in plot coordinates (log10 of y on log plots; non-finite / non-positive dropped).
pub(crate) struct Prepared {
    /// Per layer: points (lines, points, steps as polylines); empty for spans and v-lines.
    pub layers: Vec<Vec<(f64, f64)>>,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

pub(crate) fn prepare(fig: &Figure) -> Result<Prepared, String> {
    let tf = |y: f64| -> Option<f64> {
        if !y.is_finite() {
            None
        } else if fig.log_y {
            (y > 0.0).then(|| y.log10())
        } else {
            Some(y)
        }
    };
    let conv = |pts: &[[f64; 2]]| -> Vec<(f64, f64)> {
        pts.iter()
            .filter(|p| p[0].is_finite())
            .filter_map(|p| tf(p[1]).map(|y| (p[0], y)))
            .collect()
    };
    let mut layers: Vec<Vec<(f64, f64)>> = fig
        .layers
        .iter()
        .map(|l| match &l.kind {
            // Origin and tip interleaved.
            LayerKind::Arrows { origins, tips } => {
                let both: Vec<[f64; 2]> = origins
                    .iter()
                    .zip(tips)
                    .flat_map(|(o, t)| [*o, *t])
                    .collect();
                let v = conv(&both);
                if v.len() == both.len() { v } else { Vec::new() }
            }
            _ => conv(l.data()),
        })
        .collect();
    let (mut xmin, mut xmax) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut ymin, mut ymax) = (f64::INFINITY, f64::NEG_INFINITY);
    for pts in &layers {
        for &(x, y) in pts {
            xmin = xmin.min(x);
            xmax = xmax.max(x);
            ymin = ymin.min(y);
            ymax = ymax.max(y);
        }
    }
    if !xmin.is_finite() {
        return Err("no finite data points to plot".into());
    }
    for l in &fig.layers {
        match l.kind {
            LayerKind::XSpan { from, to } if from.is_finite() && to.is_finite() => {
                xmin = xmin.min(from);
                xmax = xmax.max(to);
            }
            LayerKind::VLine { x, .. } if x.is_finite() => {
                xmin = xmin.min(x);
                xmax = xmax.max(x);
            }
            LayerKind::HLine { y, .. } => {
                if let Some(y) = tf(y) {
                    ymin = ymin.min(y);
                    ymax = ymax.max(y);
                }
            }
            _ => {}
        }
    }
    for &v in &fig.include_y {
        if let Some(y) = tf(v) {
            ymin = ymin.min(y);
            ymax = ymax.max(y);
        }
    }
    // Step layers become polylines held to the right end of the data.
    for (l, pts) in fig.layers.iter().zip(layers.iter_mut()) {
        if let LayerKind::Steps { .. } = l.kind {
            let mut line = Vec::with_capacity(pts.len() * 2);
            for (i, &(x, y)) in pts.iter().enumerate() {
                let x0 = if i == 0 { x.min(xmin) } else { x };
                let x1 = pts.get(i + 1).map(|p| p.0).unwrap_or(xmax.max(x));
                line.push((x0, y));
                line.push((x1, y));
            }
            *pts = line;
        }
    }
    if let Some([lo, hi]) = fig.x_range
        && lo.is_finite()
        && hi > lo
    {
        (xmin, xmax) = (lo, hi);
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
    if let Some([lo, hi]) = fig.y_range
        && let (Some(lo), Some(hi)) = (tf(lo), tf(hi))
        && hi > lo
    {
        y = (lo, hi);
        for (l, pts) in fig.layers.iter().zip(layers.iter_mut()) {
            *pts = match l.kind {
                LayerKind::Points { .. } => pts
                    .iter()
                    .copied()
                    .filter(|p| (lo..=hi).contains(&p.1))
                    .collect(),
                LayerKind::Arrows { .. } => std::mem::take(pts),
                _ => {
                    let v: Vec<[f64; 2]> = pts.iter().map(|p| [p.0, p.1]).collect();
                    clip_line(&v, lo, hi)
                        .into_iter()
                        .map(|p| (p[0], p[1]))
                        .collect()
                }
            };
        }
    }
    Ok(Prepared {
        layers,
        x: (xmin, xmax),
        y,
    })
}

fn rgb(c: Rgba) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

fn rgba(c: Rgba) -> RGBAColor {
    RGBColor(c[0], c[1], c[2]).mix(c[3] as f64 / 255.0)
}

/// Axis tick label: short, rounded to what matters.
pub fn fmt_tick(v: f64) -> String {
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

fn dash_pattern(d: Dash, s: f64) -> Option<(u32, u32)> {
    match d {
        Dash::Solid => None,
        Dash::Dashed(len) => Some((
            ((len as f64) * s).max(2.0) as u32,
            ((len as f64 * 0.6) * s).max(2.0) as u32,
        )),
        Dash::Dotted => Some(((2.0 * s).max(1.0) as u32, (4.0 * s).max(2.0) as u32)),
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    p: &Prepared,
    st: &ExportStyle,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let s = st.scale();
    let px = |v: f64| (v * s).round().max(1.0) as u32;
    let fg = rgb(style::foreground(st.theme));
    root.fill(&rgb(style::background(st.theme))).map_err(e)?;
    let legend = fig.legend();
    let longest = legend
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    let (w, _) = root.dim_in_pixel();
    let legend_w = if legend.is_empty() {
        0
    } else {
        ((longest as f64 * 8.2 + 48.0) * s).min(w as f64 * 0.4) as u32
    };
    let (plot_area, legend_area) = root.split_horizontally(w.saturating_sub(legend_w));
    let log_y = fig.log_y;
    let y_fmt = move |v: &f64| {
        if log_y {
            fmt_tick(10f64.powf(*v))
        } else {
            fmt_tick(*v)
        }
    };
    let x_fmt = |v: &f64| fmt_tick(*v);
    let font = |size: f64| ("sans-serif", size * s).into_font().color(&fg);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(&fig.title, font(24.0))
        .margin(px(14.0))
        .x_label_area_size(px(48.0))
        .y_label_area_size(px(72.0))
        .build_cartesian_2d(p.x.0..p.x.1, p.y.0..p.y.1)
        .map_err(e)?;
    let (light, bold) = style::grid(st.theme);
    chart
        .configure_mesh()
        .x_desc(&fig.x_label)
        .y_desc(if log_y {
            format!("{} (log scale)", fig.y_label)
        } else {
            fig.y_label.clone()
        })
        .x_labels(7)
        .y_labels(7)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(font(15.0))
        .axis_desc_style(font(17.0))
        .axis_style(fg.stroke_width(px(1.0)))
        .light_line_style(rgb(light))
        .bold_line_style(rgb(bold))
        .draw()
        .map_err(e)?;
    let (y0, y1) = p.y;
    for (l, pts) in fig.layers.iter().zip(&p.layers) {
        let c = l.role.rgba(st.theme);
        match &l.kind {
            LayerKind::XSpan { from, to } => {
                chart
                    .draw_series([Rectangle::new([(*from, y0), (*to, y1)], rgba(c).filled())])
                    .map_err(e)?;
            }
            LayerKind::VLine { x, dash } => {
                let line = vec![(*x, y0), (*x, y1)];
                let style = rgb(c).stroke_width(px(1.5));
                match dash_pattern(*dash, s) {
                    Some((a, b)) => chart
                        .draw_series(DashedLineSeries::new(line, a, b, style))
                        .map_err(e)?,
                    None => chart.draw_series(LineSeries::new(line, style)).map_err(e)?,
                };
            }
            LayerKind::Line { dash, width, .. } | LayerKind::Steps { dash, width, .. } => {
                let style = rgb(c).stroke_width(px(*width as f64));
                match dash_pattern(*dash, s) {
                    Some((a, b)) => chart
                        .draw_series(DashedLineSeries::new(pts.iter().copied(), a, b, style))
                        .map_err(e)?,
                    None => chart
                        .draw_series(LineSeries::new(pts.iter().copied(), style))
                        .map_err(e)?,
                };
            }
            LayerKind::HLine { y, dash, width } => {
                let Some(y) = (if log_y {
                    (*y > 0.0).then(|| y.log10())
                } else {
                    Some(*y)
                }) else {
                    continue;
                };
                let line = vec![(p.x.0, y), (p.x.1, y)];
                let style = rgb(c).stroke_width(px(*width as f64));
                match dash_pattern(*dash, s) {
                    Some((a, b)) => chart
                        .draw_series(DashedLineSeries::new(line, a, b, style))
                        .map_err(e)?,
                    None => chart.draw_series(LineSeries::new(line, style)).map_err(e)?,
                };
            }
            LayerKind::Arrows { .. } => {
                let style = rgb(c).stroke_width(px(1.0));
                for pair in pts.chunks_exact(2) {
                    chart
                        .draw_series(LineSeries::new(pair.iter().copied(), style))
                        .map_err(e)?;
                    chart
                        .draw_series([Circle::new(pair[1], px(1.5) as i32, style.filled())])
                        .map_err(e)?;
                }
            }
            LayerKind::Points { marker, radius, .. } => {
                let r = (*radius as f64 * s).max(1.0) as i32;
                let style = rgb(c).filled();
                match marker {
                    Marker::Circle => chart
                        .draw_series(pts.iter().map(|&q| Circle::new(q, r, style)))
                        .map_err(e)?,
                    Marker::Diamond => chart
                        .draw_series(pts.iter().map(|&q| {
                            EmptyElement::at(q)
                                + Polygon::new(vec![(0, -r), (r, 0), (0, r), (-r, 0)], style)
                        }))
                        .map_err(e)?,
                };
            }
        }
    }
    // The legend: a swatch and the name of each entry, top to bottom.
    let row = (22.0 * s) as i32;
    let top = (52.0 * s) as i32;
    for (i, (name, role)) in legend.iter().enumerate() {
        let y = top + i as i32 * row;
        let c = role.rgba(st.theme);
        let x0 = (6.0 * s) as i32;
        let x1 = (30.0 * s) as i32;
        let kind = fig.layers.iter().find(|l| l.name == *name).map(|l| &l.kind);
        match kind {
            Some(LayerKind::XSpan { .. }) => {
                legend_area
                    .draw(&Rectangle::new(
                        [(x0, y - row / 3), (x1, y + row / 3)],
                        rgba(c).filled(),
                    ))
                    .map_err(e)?;
            }
            Some(LayerKind::Points { .. }) => {
                legend_area
                    .draw(&Circle::new(
                        ((x0 + x1) / 2, y),
                        (4.0 * s) as i32,
                        rgb(c).filled(),
                    ))
                    .map_err(e)?;
            }
            _ => {
                legend_area
                    .draw(&PathElement::new(
                        vec![(x0, y), (x1, y)],
                        rgb(c).stroke_width(px(2.5)),
                    ))
                    .map_err(e)?;
            }
        }
        legend_area
            .draw(&Text::new(
                name.clone(),
                (x1 + (8.0 * s) as i32, y - (8.0 * s) as i32),
                font(15.0),
            ))
            .map_err(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::figure::RunSeries;
    use crate::engine::figure::training::{TrainingView, sharpness};

    fn demo() -> RunSeries {
        let mut s = RunSeries::new();
        for t in 0..300 {
            let x = t as f64;
            let l1 = if t < 130 {
                2.3 + 2.7 * x / 130.0
            } else {
                5.0 + 0.4 * (x * 0.7).sin()
            };
            s.push_values(
                x,
                (-x / 80.0).exp(),
                Some(x / 300.0),
                None,
                None,
                Some(&[l1, 0.8 * l1]),
                5.0,
            );
        }
        s
    }

    #[test]
    fn every_legend_entry_and_band_reaches_the_svg() {
        let s = demo();
        let v = TrainingView {
            main: Some(&s),
            ..Default::default()
        };
        let fig = sharpness(&v);
        let dir = std::env::temp_dir().join(format!("eos-figure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        for theme in [Theme::Light, Theme::Dark] {
            let path = dir.join(format!("sharpness-{theme:?}.svg"));
            let st = ExportStyle {
                width: 1920,
                height: 1080,
                theme,
            };
            write_figure(&path, &fig, &st).unwrap_or_else(|e| panic!("{e}"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (name, role) in fig.legend() {
                assert!(text.contains(&name), "{name} missing from the SVG");
                let c = role.rgba(theme);
                let hex = format!("#{:02X}{:02X}{:02X}", c[0], c[1], c[2]);
                assert!(
                    text.to_uppercase().contains(&hex),
                    "{name}: colour {hex} missing"
                );
            }
        }
        let png = dir.join("sharpness.png");
        write_figure(&png, &fig, &ExportStyle::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            std::fs::metadata(&png)
                .map(|m| m.len() > 1000)
                .unwrap_or(false)
        );
        if std::env::var_os("EOS_KEEP_FIGURES").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
