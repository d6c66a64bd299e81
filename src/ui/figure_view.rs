//! The screen renderer of [`Figure`]s: every layer of the description becomes one egui_plot
//! item with its role's colour, so the screen shows what the SVG/PNG exporter writes.
//! [`screen_items`] is the pure half (testable without a window); [`show`] draws them.

use eframe::egui::{self, Color32};
use egui_plot::{Arrows, Axis, HLine, Line, LineStyle, MarkerShape, Plot, Points, Span, VLine};

use super::plot_aids;
use super::plots::drawn;
use crate::engine::figure::{Dash, Figure, LayerKind, Marker, Rgba, Role, Theme};

/// One item ready for egui_plot (points already log-transformed and decimated).
#[derive(Clone, Debug, PartialEq)]
pub enum ScreenItem {
    Line {
        name: String,
        points: Vec<[f64; 2]>,
        color: Color32,
        style: LineStyle,
        width: f32,
    },
    Points {
        name: String,
        points: Vec<[f64; 2]>,
        color: Color32,
        shape: MarkerShape,
        radius: f32,
    },
    Span {
        name: String,
        from: f64,
        to: f64,
        color: Color32,
    },
    VLine {
        name: String,
        x: f64,
        color: Color32,
        style: LineStyle,
    },
    HLine {
        name: String,
        y: f64,
        color: Color32,
        style: LineStyle,
        width: f32,
    },
    Arrows {
        name: String,
        origins: Vec<[f64; 2]>,
        tips: Vec<[f64; 2]>,
        color: Color32,
    },
}

impl ScreenItem {
    pub fn name(&self) -> &str {
        match self {
            ScreenItem::Line { name, .. }
            | ScreenItem::Points { name, .. }
            | ScreenItem::Span { name, .. }
            | ScreenItem::VLine { name, .. }
            | ScreenItem::HLine { name, .. }
            | ScreenItem::Arrows { name, .. } => name,
        }
    }

    pub fn color(&self) -> Color32 {
        match self {
            ScreenItem::Line { color, .. }
            | ScreenItem::Points { color, .. }
            | ScreenItem::Span { color, .. }
            | ScreenItem::VLine { color, .. }
            | ScreenItem::HLine { color, .. }
            | ScreenItem::Arrows { color, .. } => *color,
        }
    }
}

/// The role's colour as egui draws it (premultiplied alpha).
pub fn color_of(role: Role, theme: Theme) -> Color32 {
    let c: Rgba = role.rgba(theme);
    Color32::from_rgba_unmultiplied(c[0], c[1], c[2], c[3])
}

fn line_style(d: Dash) -> LineStyle {
    match d {
        Dash::Solid => LineStyle::Solid,
        Dash::Dashed(length) => LineStyle::Dashed { length },
        Dash::Dotted => LineStyle::Dotted { spacing: 4.0 },
    }
}

/// The theme egui is drawing with.
pub fn theme_of(ctx: &egui::Context) -> Theme {
    if ctx.global_style().visuals.dark_mode {
        Theme::Dark
    } else {
        Theme::Light
    }
}

/// Every layer of `fig` as a screen item, in drawing order.
pub fn screen_items(fig: &Figure, theme: Theme) -> Vec<ScreenItem> {
    let log_y = fig.log_y;
    // Step layers hold their last value to the right end of the data.
    let x_end = fig
        .layers
        .iter()
        .flat_map(|l| l.data().iter().map(|p| p[0]))
        .filter(|x| x.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    fig.layers
        .iter()
        .map(|l| {
            let color = color_of(l.role, theme);
            let name = l.name.clone();
            match &l.kind {
                LayerKind::Line {
                    points,
                    dash,
                    width,
                } => ScreenItem::Line {
                    name,
                    points: drawn(points, log_y),
                    color,
                    style: line_style(*dash),
                    width: *width,
                },
                LayerKind::Steps {
                    breakpoints,
                    dash,
                    width,
                } => {
                    let end = x_end.is_finite().then_some(x_end);
                    let line = crate::engine::figure::series::steps_to_line(breakpoints, end);
                    ScreenItem::Line {
                        name,
                        points: drawn(&line, log_y),
                        color,
                        style: line_style(*dash),
                        width: *width,
                    }
                }
                LayerKind::Points {
                    points,
                    marker,
                    radius,
                } => ScreenItem::Points {
                    name,
                    points: drawn(points, log_y),
                    color,
                    shape: match marker {
                        Marker::Circle => MarkerShape::Circle,
                        Marker::Diamond => MarkerShape::Diamond,
                    },
                    radius: *radius,
                },
                LayerKind::XSpan { from, to } => ScreenItem::Span {
                    name,
                    from: *from,
                    to: *to,
                    color,
                },
                LayerKind::VLine { x, dash } => ScreenItem::VLine {
                    name,
                    x: *x,
                    color,
                    style: line_style(*dash),
                },
                LayerKind::HLine { y, dash, width } => ScreenItem::HLine {
                    name,
                    y: if log_y { y.log10() } else { *y },
                    color,
                    style: line_style(*dash),
                    width: *width,
                },
                LayerKind::Arrows { origins, tips } => ScreenItem::Arrows {
                    name,
                    origins: origins.clone(),
                    tips: tips.clone(),
                    color,
                },
            }
        })
        .collect()
}

/// Configure `plot` for `fig` (ticks, legend out of the data's way, log axis, included y values,
/// fixed ranges as view bounds) and draw it.
pub fn show(ui: &mut egui::Ui, plot: Plot<'_>, fig: &Figure) -> egui::Response {
    let items = screen_items(fig, theme_of(ui.ctx()));
    // 4–8 labelled ticks per axis; a compact legend in the top-left corner (collapsible).
    let mut plot = plot_aids::with_ticks(plot, fig.log_y, &ui.ctx().global_style());
    if let Some(legend) = plot_aids::legend_for(ui.ctx(), fig) {
        plot = plot.legend(legend);
    }
    for &y in &fig.include_y {
        if !fig.log_y {
            plot = plot.include_y(y);
        }
    }
    let (x_range, y_range) = (fig.x_range, fig.y_range);
    plot.show(ui, |pu| {
        // A fixed range holds the view there (e.g. fitted to a measured trajectory).
        if let Some([lo, hi]) = x_range {
            pu.set_plot_bounds_x(lo..=hi);
        }
        if let Some([lo, hi]) = y_range {
            pu.set_plot_bounds_y(lo..=hi);
        }
        for item in items {
            match item {
                ScreenItem::Line {
                    name,
                    points,
                    color,
                    style,
                    width,
                } => pu.line(
                    Line::new(name, points)
                        .color(color)
                        .style(style)
                        .width(width),
                ),
                ScreenItem::Points {
                    name,
                    points,
                    color,
                    shape,
                    radius,
                } => pu.points(
                    Points::new(name, points)
                        .shape(shape)
                        .radius(radius)
                        .color(color),
                ),
                ScreenItem::Span {
                    name,
                    from,
                    to,
                    color,
                } => pu.span(
                    Span::new(name, from..=to)
                        .axis(Axis::X)
                        .fill(color)
                        .border_width(0.0),
                ),
                ScreenItem::VLine {
                    name,
                    x,
                    color,
                    style,
                } => pu.vline(VLine::new(name, x).color(color).style(style)),
                ScreenItem::HLine {
                    name,
                    y,
                    color,
                    style,
                    width,
                } => pu.hline(HLine::new(name, y).color(color).style(style).width(width)),
                ScreenItem::Arrows {
                    name,
                    origins,
                    tips,
                    color,
                } => pu.arrows(
                    Arrows::new(name, origins, tips)
                        .color(color)
                        .tip_length(5.0),
                ),
            }
        }
    })
    .response
}
