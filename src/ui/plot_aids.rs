//! What makes the plots readable on a projector, shared by every workspace: 4–8 labelled ticks
//! per axis ([`linear_ticks`], [`log_ticks`], [`with_ticks`]), a compact legend that can be
//! hidden per plot, a "focus" view of one plot, and a hover label that lists every series'
//! value at the step under the pointer ([`hover_values`]).

use std::collections::HashSet;
use std::ops::RangeInclusive;

use eframe::egui::{self, Rangef, TextStyle};
use egui_plot::{AxisHints, Corner, GridInput, GridMark, HoverPosition, Legend, Plot};

use crate::engine::figure::{Figure, LayerKind};

/// Fewest and most labelled ticks an axis aims for.
pub const MIN_TICKS: usize = 4;
pub const MAX_TICKS: usize = 8;
/// Least room between x labels, in em (egui_plot's own threshold is set to this too).
const X_LABEL_MIN_EM: f64 = 2.2;
/// egui_plot's thinnest grid spacing (pixels): the spacer recovers the axis length from it.
const GRID_MIN_PX: f32 = 8.0;

/// Labelled ticks of one axis: where they are and the spacing that labels are drawn at.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticks {
    /// Tick positions in axis units (log10 units on a log axis), increasing.
    pub values: Vec<f64>,
    /// The smallest distance between two ticks, in axis units.
    pub step: f64,
}

/// The least room (pixels) between two labelled ticks for a body font of `font` points:
/// `[x, y]` (an x label of ~6 characters, a y label one line high).
pub fn min_label_px(font: f32) -> [f32; 2] {
    [4.6 * font, 1.45 * font]
}

/// How much room an x label needs, from its text: digits are about 0.6 em wide, plus a gap.
pub fn x_label_px(ticks: &Ticks, lo: f64, hi: f64, font: f64) -> f64 {
    let chars = ticks
        .values
        .iter()
        .map(|&value| {
            linear_label(
                GridMark {
                    value,
                    step_size: ticks.step,
                },
                &(lo..=hi),
            )
            .chars()
            .count()
        })
        .max()
        .unwrap_or(1);
    (chars as f64 * 0.62 + 1.2) * font
}

/// The room between labelled ticks: a fixed minimum, or one that depends on the labels.
pub enum Room {
    Px(f64),
    /// x labels of a body font of this size (see [`x_label_px`]).
    XLabels(f64),
}

/// Pick among candidate tick sets: 4–8 ticks with room for their labels, closest to 6; when
/// the axis is too short for 4 such ticks, the most ticks that still fit.
fn choose(cands: Vec<Ticks>, lo: f64, hi: f64, len_px: f64, room: Room) -> Ticks {
    let px = |t: &Ticks| t.step / (hi - lo) * len_px;
    let fits = |t: &Ticks| match room {
        Room::Px(min_px) => px(t) >= min_px,
        Room::XLabels(font) => px(t) >= x_label_px(t, lo, hi, font).max(X_LABEL_MIN_EM * font),
    };
    let ok = |t: &Ticks| fits(t) && (MIN_TICKS..=MAX_TICKS).contains(&t.values.len());
    let score = |t: &Ticks| (t.values.len() as i64 - 6).abs();
    if let Some(best) = cands
        .iter()
        .filter(|t| ok(t))
        .min_by(|a, b| score(a).cmp(&score(b)).then(b.step.total_cmp(&a.step)))
    {
        return best.clone();
    }
    if let Some(best) = cands
        .iter()
        .filter(|t| fits(t) && t.values.len() <= MAX_TICKS)
        .max_by(|a, b| a.values.len().cmp(&b.values.len()))
    {
        return best.clone();
    }
    cands
        .into_iter()
        .max_by(|a, b| a.step.total_cmp(&b.step))
        .unwrap_or(Ticks {
            values: Vec::new(),
            step: 1.0,
        })
}

/// Multiples of `step` in [lo, hi].
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let (a, b) = (
        (lo / step - 1e-9).ceil() as i64,
        (hi / step + 1e-9).floor() as i64,
    );
    // More than a few dozen marks is never a tick set worth labelling (and costs time).
    if b < a || b - a > 64 {
        return Vec::new();
    }
    (a..=b)
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < step * 1e-9 { 0.0 } else { v }
        })
        .collect()
}

/// Ticks of a linear axis showing [lo, hi] on `len_px` pixels: steps 1, 2, 2.5, 5 × 10^k.
pub fn linear_ticks(lo: f64, hi: f64, len_px: f64, room: Room) -> Ticks {
    let span = hi - lo;
    if !(lo.is_finite() && hi.is_finite()) || span <= 0.0 || len_px <= 0.0 {
        return Ticks {
            values: Vec::new(),
            step: 1.0,
        };
    }
    let e0 = span.log10().floor() as i32;
    let mut cands = Vec::new();
    for e in (e0 - 3)..=(e0 + 1) {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let step = m * 10f64.powi(e);
            cands.push(Ticks {
                values: multiples(lo, hi, step),
                step,
            });
        }
    }
    choose(cands, lo, hi, len_px, room)
}

/// Ticks of a log10 axis showing [lo, hi] (log10 units): every k decades, or 1-2-5 /
/// 1-2-3-5 / 1…9 within each decade, or (less than a decade) round values in between.
pub fn log_ticks(lo: f64, hi: f64, len_px: f64, room: Room) -> Ticks {
    let span = hi - lo;
    if !(lo.is_finite() && hi.is_finite()) || span <= 0.0 || span > 400.0 || len_px <= 0.0 {
        return Ticks {
            values: Vec::new(),
            step: 1.0,
        };
    }
    let mut cands = Vec::new();
    for k in [1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0] {
        cands.push(Ticks {
            values: multiples(lo, hi, k),
            step: k,
        });
    }
    if span < 12.0 {
        let mantissas: [&[f64]; 4] = [
            &[1.0, 2.0, 5.0],
            &[1.0, 2.0, 3.0, 5.0],
            &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ];
        for ms in mantissas {
            let mut values = Vec::new();
            for d in (lo.floor() as i64 - 1)..=(hi.ceil() as i64) {
                for m in ms {
                    let v = d as f64 + m.log10();
                    if v >= lo - 1e-9 && v <= hi + 1e-9 {
                        values.push(v);
                    }
                }
            }
            let step = values
                .windows(2)
                .map(|w| w[1] - w[0])
                .fold(f64::INFINITY, f64::min);
            let step = if step.is_finite() { step } else { 1.0 };
            cands.push(Ticks { values, step });
        }
    }
    if span < 1.5 {
        // Round values of the quantity itself (e.g. 0.2, 0.3, 0.4), placed on the log axis.
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        // Its step and finer and coarser neighbours.
        let base = linear_ticks(a, b, len_px, Room::Px(0.0)).step;
        for f in [0.4, 0.5, 1.0, 1.5, 2.0, 2.5] {
            let values: Vec<f64> = multiples(a, b, base * f)
                .into_iter()
                .filter(|v| *v > 0.0)
                .map(f64::log10)
                .collect();
            let step = values
                .windows(2)
                .map(|w| w[1] - w[0])
                .fold(f64::INFINITY, f64::min);
            if step.is_finite() {
                cands.push(Ticks { values, step });
            }
        }
    }
    choose(cands, lo, hi, len_px, room)
}

/// Tick label of a linear axis: as many decimals as the tick spacing needs.
pub fn linear_label(mark: GridMark, range: &RangeInclusive<f64>) -> String {
    let (v, step) = (mark.value, mark.step_size.abs());
    let big = range.start().abs().max(range.end().abs());
    if big >= 1e6 || (step < 1e-4 && big < 1e-2) {
        return format!("{v:.2e}")
            .replace(".00e", "e")
            .replace("0e", "e")
            .replace(".e", "e");
    }
    let mut d = 0;
    while d < 8 {
        let s = step * 10f64.powi(d);
        if (s - s.round()).abs() < 1e-6 * s.max(1.0) {
            break;
        }
        d += 1;
    }
    format!("{v:.*}", d as usize)
}

/// Tick label of a log10 axis: the value 10^v to 3 significant digits.
pub fn log_label(mark: GridMark, _range: &RangeInclusive<f64>) -> String {
    let x = 10f64.powf(mark.value);
    if !(1e-3..1e5).contains(&x) {
        return format!("{x:.1e}").replace(".0e", "e");
    }
    sig(x, 3)
}

/// A grid spacer for `Plot::{x,y}_grid_spacer` that marks only the labelled ticks (the axis
/// length is recovered from egui_plot's `base_step_size`); `x` axes size the room by label.
fn spacer(log: bool, x: bool, font: f32) -> impl Fn(GridInput) -> Vec<GridMark> {
    move |input: GridInput| {
        let (lo, hi) = input.bounds;
        if input.base_step_size <= 0.0 {
            return Vec::new();
        }
        let len_px = (hi - lo) / input.base_step_size * GRID_MIN_PX as f64;
        let room = if x {
            Room::XLabels(font as f64)
        } else {
            Room::Px(min_label_px(font)[1] as f64)
        };
        let t = if log {
            log_ticks(lo, hi, len_px, room)
        } else {
            linear_ticks(lo, hi, len_px, room)
        };
        t.values
            .iter()
            .map(|&value| GridMark {
                value,
                step_size: t.step,
            })
            .collect()
    }
}

/// Ticks for both axes of `plot` (log10 y when `log_y`): 4–8 labelled ticks, sized for the
/// body font of `style` so that every tick gets its label.
pub fn with_ticks<'a>(plot: Plot<'a>, log_y: bool, style: &egui::Style) -> Plot<'a> {
    let font = TextStyle::Body.resolve(style).size;
    let mx = X_LABEL_MIN_EM as f32 * font;
    let my = min_label_px(font)[1];
    let x_axis = AxisHints::new_x()
        .label_spacing(Rangef::new(mx - 1.0, mx))
        .formatter(linear_label);
    let y_axis = AxisHints::new_y()
        .label_spacing(Rangef::new(my - 1.0, my))
        .min_thickness(52.0);
    let y_axis = if log_y {
        y_axis.formatter(log_label)
    } else {
        y_axis.formatter(linear_label)
    };
    plot.custom_x_axes(vec![x_axis])
        .custom_y_axes(vec![y_axis])
        .grid_spacing(Rangef::new(GRID_MIN_PX, 160.0))
        .x_grid_spacer(spacer(false, true, font))
        .y_grid_spacer(spacer(log_y, false, font))
}

/// Per-plot view choices (held in egui's memory): plots whose legend is collapsed, and the
/// plot shown alone across the central area.
#[derive(Clone, Debug, Default)]
pub struct PlotViews {
    pub legend_hidden: HashSet<String>,
    pub focused: Option<String>,
}

fn views_id() -> egui::Id {
    egui::Id::unique("eos-plot-views")
}

pub fn plot_views(ctx: &egui::Context) -> PlotViews {
    ctx.data(|d| d.get_temp::<PlotViews>(views_id()))
        .unwrap_or_default()
}

fn edit_views(ctx: &egui::Context, f: impl FnOnce(&mut PlotViews)) {
    ctx.data_mut(|d| f(d.get_temp_mut_or_default::<PlotViews>(views_id())));
}

/// The plot (its key) shown alone, if any.
pub fn focused(ctx: &egui::Context) -> Option<String> {
    plot_views(ctx).focused
}

/// Show `key` alone (or everything again with `None`).
pub fn set_focus(ctx: &egui::Context, key: Option<&str>) {
    edit_views(ctx, |v| v.focused = key.map(str::to_string));
}

/// The legend `fig` gets on screen: compact (small text, see-through) in the top-left corner,
/// none when collapsed for this figure.
pub fn legend_for(ctx: &egui::Context, fig: &Figure) -> Option<Legend> {
    if plot_views(ctx).legend_hidden.contains(&fig.id) {
        return None;
    }
    Some(
        Legend::default()
            .position(Corner::LeftTop)
            .text_style(TextStyle::Small)
            .background_alpha(0.7),
    )
}

/// "focus" and "legend" toggles for the plot `key` drawing `fig`.
pub fn plot_tools(ui: &mut egui::Ui, key: &str, fig: &Figure) {
    let ctx = ui.ctx().clone();
    let views = plot_views(&ctx);
    let is_focused = views.focused.as_deref() == Some(key);
    let focus_label = if is_focused { "all plots" } else { "focus" };
    if ui
        .small_button(focus_label)
        .on_hover_text(if is_focused {
            "Show all plots again (Esc)"
        } else {
            "Show this plot alone across the window (Esc returns)"
        })
        .clicked()
    {
        set_focus(&ctx, (!is_focused).then_some(key));
    }
    let hidden = views.legend_hidden.contains(&fig.id);
    if ui
        .small_button(if hidden { "legend +" } else { "legend −" })
        .on_hover_text(if hidden {
            "Show this plot's legend"
        } else {
            "Collapse this plot's legend (the data under it shows)"
        })
        .clicked()
    {
        let id = fig.id.clone();
        edit_views(&ctx, |v| {
            if !v.legend_hidden.remove(&id) {
                v.legend_hidden.insert(id);
            }
        });
    }
}

/// `v` with `n` significant digits, trailing zeros dropped.
pub fn sig(v: f64, n: i32) -> String {
    let a = v.abs();
    let digits = if a == 0.0 {
        0
    } else {
        (n - 1 - a.log10().floor() as i32).clamp(0, 8) as usize
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A plot's title row: "focus" and "legend" toggles, then the title and its export buttons.
pub fn header(
    ui: &mut egui::Ui,
    key: &str,
    title: &str,
    exports: &mut crate::ui::export::ExportManager,
    fig: &Figure,
) {
    header_with(ui, key, title, exports, fig, || {
        crate::engine::figure::animate::Animation::growing(fig.clone())
    });
}

/// [`header`] with the GIF's frames from `animation` (e.g. the map's play-back).
pub fn header_with(
    ui: &mut egui::Ui,
    key: &str,
    title: &str,
    exports: &mut crate::ui::export::ExportManager,
    fig: &Figure,
    animation: impl FnOnce() -> Result<crate::engine::figure::animate::Animation, String>,
) {
    // The buttons take about 340 px; in a narrower column the title gets its own line so
    // they never paint over it (seen at 1024×768 in Self-stabilization).
    let font = egui::TextStyle::Body.resolve(ui.style());
    let title_w = ui
        .painter()
        .layout_no_wrap(title.to_string(), font, egui::Color32::WHITE)
        .size()
        .x;
    let narrow = title_w + 360.0 > ui.available_width();
    if narrow {
        ui.strong(title);
    }
    ui.horizontal(|ui| {
        plot_tools(ui, key, fig);
        crate::ui::plots::plot_header_row(ui, title, !narrow, exports, fig, animation);
    });
}

/// Draw `fig` with `plot` (see [`crate::ui::figure_view::show`]) and note where its data
/// area landed this frame under `key` (read back by [`frames`]).
pub fn show(ui: &mut egui::Ui, key: &str, plot: Plot<'_>, fig: &Figure) -> egui::Response {
    let r = crate::ui::figure_view::show(ui, plot, fig);
    let nr = ui.ctx().cumulative_frame_nr();
    let (key, rect) = (key.to_string(), r.rect);
    ui.ctx().data_mut(|d| {
        let m = d.get_temp_mut_or_default::<Vec<(u64, String, egui::Rect)>>(frames_id());
        m.retain(|(n, k, _)| *n == nr && *k != key);
        m.push((nr, key, rect));
    });
    r
}

fn frames_id() -> egui::Id {
    egui::Id::unique("eos-plot-frames")
}

/// The data areas of the plots drawn in the latest frame: (key, rect).
pub fn frames(ctx: &egui::Context) -> Vec<(String, egui::Rect)> {
    let v = ctx
        .data(|d| d.get_temp::<Vec<(u64, String, egui::Rect)>>(frames_id()))
        .unwrap_or_default();
    let last = v.iter().map(|(n, _, _)| *n).max();
    v.into_iter()
        .filter(|(n, _, _)| Some(*n) == last)
        .map(|(_, k, r)| (k, r))
        .collect()
}

/// Which of `keys` to draw: the focused one alone when it is among them, else all.
pub fn shown<'k>(ctx: &egui::Context, keys: &[&'k str]) -> Vec<&'k str> {
    match focused(ctx) {
        Some(f) if keys.contains(&f.as_str()) => keys.iter().copied().filter(|k| *k == f).collect(),
        _ => keys.to_vec(),
    }
}

/// Rounded to 4 significant digits (what a reader compares), plain or scientific.
pub fn fmt_sig(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{v:.3e}");
    }
    sig(v, 4)
}

/// The value of a line (sorted by x) at its point nearest to `x`; `None` when `x` lies outside
/// the line's x extent by more than `slack`.
fn nearest(points: &[[f64; 2]], x: f64, slack: f64) -> Option<[f64; 2]> {
    let first = points.first()?;
    let last = points.last()?;
    if x < first[0] - slack || x > last[0] + slack {
        return None;
    }
    let i = points.partition_point(|p| p[0] < x);
    let cands = [i.checked_sub(1), (i < points.len()).then_some(i)];
    cands
        .into_iter()
        .flatten()
        .map(|j| points[j])
        .filter(|p| p[1].is_finite())
        .min_by(|a, b| (a[0] - x).abs().total_cmp(&(b[0] - x).abs()))
}

/// The hover text of `fig` at `x`: the x value, then every named series' value there (lines at
/// their nearest point, step lines and horizontal lines at their level), like TensorBoard.
pub fn hover_values(fig: &Figure, x: f64, x_name: &str) -> String {
    let xs = fig
        .layers
        .iter()
        .flat_map(|l| l.data().iter().map(|p| p[0]))
        .filter(|v| v.is_finite());
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let slack = if hi > lo { 0.02 * (hi - lo) } else { 1.0 };
    let integer_x = matches!(x_name, "step" | "t");
    let mut step_at = None;
    let mut rows: Vec<(String, String)> = Vec::new();
    for l in &fig.layers {
        if l.name.is_empty() || rows.iter().any(|(n, _)| *n == l.name) {
            continue;
        }
        let value = match &l.kind {
            LayerKind::Line { points, .. } => nearest(points, x, slack).map(|p| {
                step_at.get_or_insert(p[0]);
                p[1]
            }),
            LayerKind::Steps { breakpoints, .. } => {
                let i = breakpoints.partition_point(|p| p[0] <= x);
                (x >= lo - slack && x <= hi + slack)
                    .then(|| breakpoints[i.max(1) - 1][1])
                    .filter(|_| !breakpoints.is_empty())
            }
            LayerKind::HLine { y, .. } => Some(*y),
            _ => None,
        };
        if let Some(v) = value
            && v.is_finite()
        {
            rows.push((l.name.clone(), fmt_sig(v)));
        }
    }
    let shown_x = if integer_x {
        format!("{:.0}", step_at.unwrap_or(x).round())
    } else {
        fmt_sig(x)
    };
    let mut out = format!("{x_name} {shown_x}");
    for (n, v) in rows {
        out.push_str(&format!("\n{n} = {v}"));
    }
    out
}

/// A label formatter listing every series of `fig` at the hovered x (see [`hover_values`]).
pub fn hover_all<'a>(
    fig: &'a Figure,
    x_name: &'static str,
) -> impl Fn(&HoverPosition<'_>) -> Option<String> + 'a {
    move |pos| {
        let p = match pos {
            HoverPosition::NearDataPoint { position, .. } => *position,
            HoverPosition::Elsewhere { position } => *position,
        };
        Some(hover_values(fig, p.x, x_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_ok(t: &Ticks) -> bool {
        (MIN_TICKS..=MAX_TICKS).contains(&t.values.len())
    }

    #[test]
    fn linear_axes_get_four_to_eight_ticks_at_plot_sizes() {
        let [x, y] = min_label_px(13.5).map(f64::from);
        // (lo, hi, pixels): the x_t axis, the linear model's sharpness 0…1.5, steps 0…2000,
        // a short y axis of a small training plot.
        for (lo, hi, px, min) in [
            (-1.2, 1.1, 150.0, y),
            (0.0, 1.5, 120.0, y),
            (0.0, 2000.0, 700.0, x),
            (0.0, 2000.0, 330.0, x),
            (-4.0, 4.0, 300.0, y),
            (0.0, 20000.0, 150.0, y),
            (0.97, 1.03, 120.0, y),
        ] {
            let t = linear_ticks(lo, hi, px, Room::Px(min));
            assert!(count_ok(&t), "{lo}..{hi} on {px} px: {:?}", t.values);
            assert!(t.step / (hi - lo) * px >= min, "labels too close: {t:?}");
            // x labels sized by their text: the Self-stabilization t axis at 1024×768.
            let t = linear_ticks(0.0, 400.0, 228.0, Room::XLabels(13.5));
            assert!(count_ok(&t), "{:?}", t.values);
        }
        // 2/η = 1.43 on 0…1.5 can be read between ticks 0.25 apart or finer.
        let t = linear_ticks(0.0, 1.5, 200.0, Room::Px(y));
        assert!(t.step <= 0.25, "{t:?}");
    }

    #[test]
    fn log_axes_get_four_to_eight_ticks() {
        for (lo, hi, px) in [
            (-3.0, 0.5, 150.0),
            (-1.3, -0.4, 150.0),
            (-0.2, 0.1, 120.0),
            (-8.0, 1.0, 200.0),
            (1.0, 2.5, 300.0),
        ] {
            let y = f64::from(min_label_px(13.5)[1]);
            let t = log_ticks(lo, hi, px, Room::Px(y));
            assert!(count_ok(&t), "{lo}..{hi}: {:?}", t.values);
            assert!(t.step / (hi - lo) * px >= y - 1e-9, "{t:?}");
        }
    }

    #[test]
    fn labels_carry_the_decimals_the_step_needs() {
        let m = |value, step_size| GridMark { value, step_size };
        assert_eq!(linear_label(m(0.25, 0.25), &(0.0..=1.5)), "0.25");
        assert_eq!(linear_label(m(2.5, 2.5), &(0.0..=10.0)), "2.5");
        assert_eq!(linear_label(m(1500.0, 500.0), &(0.0..=2000.0)), "1500");
        assert_eq!(log_label(m(2f64.log10(), 0.3), &(0.0..=1.0)), "2");
        assert_eq!(log_label(m(-2.0, 1.0), &(-3.0..=0.0)), "0.01");
    }

    #[test]
    fn hover_lists_every_series_at_the_nearest_step() {
        use crate::engine::figure::{Layer, Role};
        let mut fig = Figure::new("sharpness", "t", "step", "λ");
        fig.push(Layer::line(
            "λ1",
            Role::Eig(0),
            vec![[0.0, 1.0], [10.0, 2.0], [20.0, 3.0]],
        ));
        fig.push(Layer::line(
            "λ2",
            Role::Eig(1),
            vec![[0.0, 0.5], [10.0, 0.75], [20.0, 0.875]],
        ));
        fig.push(Layer::steps(
            "2/η",
            Role::Threshold,
            vec![[0.0, 5.0], [12.0, 4.0]],
        ));
        let s = hover_values(&fig, 11.0, "step");
        assert_eq!(s, "step 10\nλ1 = 2\nλ2 = 0.75\n2/η = 5");
        let s = hover_values(&fig, 13.0, "step");
        assert!(s.contains("2/η = 4") && s.contains("λ1 = 2"), "{s}");
        assert_eq!(fmt_sig(1.234567), "1.235");
        assert_eq!(fmt_sig(1234.56), "1235");
    }
}
