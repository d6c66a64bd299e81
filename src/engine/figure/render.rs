//! The file exporter: draws a [`Figure`] as SVG or PNG with plotters (no system libraries; the
//! font is embedded). The legend sits in its own column right of the plot area, so it never
//! covers data.
//!
//! Text: the font is DejaVu Sans (Greek, ∇, ⊥, sub- and superscripts; licence in
//! `assets/fonts/LICENSE-DejaVu.txt`), embedded with `include_bytes!`. PNG text is laid out and
//! rasterised here ([`GlyphText`]) rather than by plotters' ab_glyph path, which drops each
//! glyph's left side bearing and rounds the pen position down per glyph: letters then sat
//! unevenly ("e xact", "sharp ening").

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont, point};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};

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
    /// Text and line scale instead of the one the size implies (papers: from the DPI, so
    /// tick labels are about 9 pt whatever the pixel count).
    pub scale: Option<f64>,
}

impl Default for ExportStyle {
    fn default() -> Self {
        ExportStyle {
            width: 900,
            height: 560,
            theme: Theme::Light,
            scale: None,
        }
    }
}

impl ExportStyle {
    /// A canvas of `width` × `height` pixels with the scale its size implies.
    pub fn sized(width: u32, height: u32, theme: Theme) -> Self {
        ExportStyle {
            width,
            height,
            theme,
            scale: None,
        }
    }

    /// A figure for print: `width_in` × `height_in` inches at `dpi`, with text sized in points
    /// (tick labels 9 pt, title 14 pt).
    pub fn inches(width_in: f64, height_in: f64, dpi: f64, theme: Theme) -> Self {
        let px = |inch: f64| {
            (inch * dpi)
                .round()
                .clamp(MIN_SIZE.0 as f64, MAX_SIDE as f64) as u32
        };
        ExportStyle {
            width: px(width_in),
            height: px(height_in),
            theme,
            // A tick label is 15 px at scale 1; 9 pt = 9/72 inch.
            scale: Some((9.0 / 72.0 * dpi / 15.0).clamp(0.3, 8.0)),
        }
    }

    /// Text and line scale: 1 at 900 px wide, growing with the canvas (slides at 1920 × 1080
    /// get 29 px tick labels and a 46 px title: readable from the back of a room).
    pub fn scale(&self) -> f64 {
        match self.scale {
            Some(s) if s.is_finite() && s > 0.0 => s,
            _ => (self.width.min(self.height * 16 / 10) as f64 / 900.0).clamp(0.5, 4.0),
        }
    }

    /// The canvas size actually drawn (sizes are clamped to 200 × 150 … 8000 × 8000).
    pub fn pixels(&self) -> (u32, u32) {
        (
            self.width.clamp(MIN_SIZE.0, MAX_SIDE),
            self.height.clamp(MIN_SIZE.1, MAX_SIDE),
        )
    }
}

const MIN_SIZE: (u32, u32) = (200, 150);
const MAX_SIDE: u32 = 8000;

/// The font of every exported figure: DejaVu Sans Book (Bitstream Vera licence, DejaVu changes
/// in the public domain; the licence text is in `assets/fonts/LICENSE-DejaVu.txt`).
pub static FONT_DATA: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

fn font() -> Result<&'static FontRef<'static>, String> {
    static FONT: OnceLock<Result<FontRef<'static>, String>> = OnceLock::new();
    FONT.get_or_init(|| {
        FontRef::try_from_slice(FONT_DATA)
            .map_err(|e| format!("the embedded font could not be loaded: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The characters of `text` the embedded font has no glyph for (they would be drawn as a
/// box). Spaces and line breaks never count.
pub fn missing_glyphs(text: &str) -> Vec<char> {
    let Ok(f) = font() else {
        return text.chars().collect();
    };
    let mut out: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace() && f.glyph_id(*c).0 == 0)
        .collect();
    out.dedup();
    out
}

/// Every text an export of `fig` draws besides tick numbers: title, axis labels (with the
/// log-scale note), legend entries.
pub fn figure_texts(fig: &Figure) -> Vec<String> {
    let mut v = vec![fig.title.clone(), fig.x_label.clone(), y_label(fig)];
    v.extend(fig.legend().into_iter().map(|(n, _)| n));
    v
}

fn y_label(fig: &Figure) -> String {
    if fig.log_y {
        format!("{} (log scale)", fig.y_label)
    } else {
        fig.y_label.clone()
    }
}

/// Pen positions of `text`'s glyphs at `size` px (plotters' size: ascent − descent), and the
/// advance of the whole line. Fractional: positions are not rounded per glyph.
fn layout_line(
    f: &FontRef<'static>,
    size: f32,
    text: &str,
) -> (Vec<(ab_glyph::GlyphId, f32)>, f32) {
    let sf = f.as_scaled(size);
    let mut pen = 0f32;
    let mut prev = None;
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            pen += sf.kern(p, id);
        }
        out.push((id, pen));
        pen += sf.h_advance(id);
        prev = Some(id);
    }
    (out, pen)
}

/// A raster backend whose text is laid out and drawn with the embedded font here (see the
/// module note); everything else goes to the wrapped backend unchanged.
pub(crate) struct GlyphText<B>(pub B);

impl<B: DrawingBackend> GlyphText<B> {
    fn font_err(e: String) -> DrawingErrorKind<B::ErrorType> {
        DrawingErrorKind::FontError(e.into())
    }

    fn text_box(size: f64, text: &str) -> Result<(f32, f32), String> {
        let f = font()?;
        let (_, w) = layout_line(f, size as f32, text);
        let sf = f.as_scaled(size as f32);
        Ok((w, sf.ascent() - sf.descent()))
    }
}

impl<B: DrawingBackend> DrawingBackend for GlyphText<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.present()
    }
    fn draw_pixel(
        &mut self,
        p: BackendCoord,
        c: BackendColor,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_pixel(p, c)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_line(from, to, style)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        ul: BackendCoord,
        br: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_rect(ul, br, style, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_path(path, style)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<B::ErrorType>> {
        let (w, h) = Self::text_box(style.size(), text).map_err(Self::font_err)?;
        Ok((w.ceil() as u32, h.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let f = font().map_err(Self::font_err)?;
        let size = style.size() as f32;
        let sf = f.as_scaled(size);
        let (glyphs, width) = layout_line(f, size, text);
        let height = sf.ascent() - sf.descent();
        let (width, height) = (width.ceil() as i32, height.ceil() as i32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.get_size();
        let baseline = sf.ascent();
        for (id, x) in glyphs {
            let g = id.with_scale_and_position(size, point(x, baseline));
            let Some(outline) = f.outline_glyph(g) else {
                continue; // spaces
            };
            let b = outline.px_bounds();
            let (bx, by) = (b.min.x as i32, b.min.y as i32);
            let mut pixels = Vec::new();
            outline.draw(|gx, gy, cov| {
                if cov > 0.0 {
                    pixels.push((bx + gx as i32, by + gy as i32, cov));
                }
            });
            for (px, py, cov) in pixels {
                let (tx, ty) = trans.transform(px + dx, py + dy);
                let (tx, ty) = (pos.0 + tx, pos.1 + ty);
                if tx >= 0 && ty >= 0 && (tx as u32) < w && (ty as u32) < h {
                    self.0.draw_pixel(
                        (tx, ty),
                        BackendColor {
                            alpha: color.alpha * cov.min(1.0) as f64,
                            rgb: color.rgb,
                        },
                    )?;
                }
            }
        }
        Ok(())
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
    #[error("export cancelled")]
    Cancelled,
}

/// Registers the embedded font with plotters (its text layout for SVG files).
fn ensure_font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT_DATA)
            .map_err(|_| "the embedded font could not be loaded".to_string())
    })
    .clone()
}

/// Draw `fig` into an RGB buffer of `st.pixels()` (3 bytes a pixel, rows top to bottom): the
/// PNG's pixels, and the frames of an animation.
pub fn render_rgb(fig: &Figure, st: &ExportStyle) -> Result<Vec<u8>, String> {
    ensure_font()?;
    let prepared = prepare(fig)?;
    let (w, h) = st.pixels();
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = GlyphText(BitMapBackend::with_buffer(&mut buf, (w, h))).into_drawing_area();
        draw(&root, fig, &prepared, st)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(buf)
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
    let (w, h) = st.pixels();
    match ext.as_deref() {
        Some("svg") => {
            let root = SVGBackend::new(path, (w, h)).into_drawing_area();
            draw(&root, fig, &prepared, st).map_err(draw_err)?;
            root.present().map_err(|e| draw_err(e.to_string()))
        }
        Some("png") => {
            let root = GlyphText(BitMapBackend::new(path, (w, h))).into_drawing_area();
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
    let f = font()?;
    let longest = legend
        .iter()
        .map(|(n, _)| layout_line(f, (15.0 * s) as f32, n).1 as f64)
        .fold(0.0, f64::max);
    let (w, _) = root.dim_in_pixel();
    let legend_w = if legend.is_empty() {
        0
    } else {
        (longest + 52.0 * s).min(w as f64 * 0.4) as u32
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
        .y_desc(y_label(fig))
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
                if to <= from {
                    continue; // cut away (an animation frame before the band)
                }
                chart
                    .draw_series([Rectangle::new([(*from, y0), (*to, y1)], rgba(c).filled())])
                    .map_err(e)?;
            }
            LayerKind::VLine { x, dash } => {
                if !x.is_finite() {
                    continue; // hidden (an animation frame before the marker)
                }
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

    /// Ink columns of `text` drawn at (40, 10) in an otherwise white bitmap.
    fn ink_columns(text: &str, size: f64) -> (i32, i32) {
        let (w, h) = (1400u32, 140u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = GlyphText(BitMapBackend::with_buffer(&mut buf, (w, h))).into_drawing_area();
            let style = ("sans-serif", size).into_font().color(&BLACK);
            root.draw(&Text::new(text.to_string(), (40, 10), style))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        for (i, p) in buf.chunks_exact(3).enumerate() {
            if p[0] < 128 {
                let x = (i as u32 % w) as i32;
                lo = lo.min(x);
                hi = hi.max(x);
            }
        }
        (lo, hi)
    }

    /// Each glyph sits at its pen position plus its own left side bearing: the ink of a line
    /// starts and ends where ab_glyph's layout puts the first and last glyph outlines. (plotters'
    /// own path drops the bearings, which made "e xact" and "sharp ening".)
    #[test]
    fn glyphs_sit_at_their_side_bearings() {
        ensure_font().unwrap_or_else(|e| panic!("{e}"));
        let f = font().unwrap_or_else(|e| panic!("{e}"));
        for text in ["exact sharpening", "λ1(∇²L) ≥ 2/η", "jig"] {
            let size = 60.0f32;
            let (glyphs, _) = layout_line(f, size, text);
            let bounds = |k: usize| {
                let (id, x) = glyphs[k];
                f.outline_glyph(id.with_scale_and_position(size, point(x, 0.0)))
                    .map(|o| o.px_bounds())
                    .unwrap_or_else(|| panic!("no outline in {text}"))
            };
            let first = bounds(0).min.x.floor() as i32 + 40;
            let last = bounds(glyphs.len() - 1).max.x.ceil() as i32 + 40;
            let (lo, hi) = ink_columns(text, size as f64);
            assert!(
                (lo - first).abs() <= 1,
                "{text}: ink starts at {lo}, glyph at {first}"
            );
            assert!(
                (hi - last).abs() <= 2,
                "{text}: ink ends at {hi}, glyph at {last}"
            );
        }
    }

    #[test]
    fn the_embedded_font_covers_greek_and_math() {
        assert!(
            missing_glyphs("η λ₁ λ1(∇²L) ⊥ ‖w‖ σ²₁ x_t² ≥ ≤ · − … α β δ θ Σ Δ ᵀ ⟨F, D⟩").is_empty()
        );
        // A character DejaVu Sans lacks (CJK) is reported.
        assert_eq!(missing_glyphs("a 漢"), vec!['漢']);
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
            let st = ExportStyle::sized(1920, 1080, theme);
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
