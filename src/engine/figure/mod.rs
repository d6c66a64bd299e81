//! Figures as data. Each figure is one function from run state to a [`Figure`]: its layers
//! (lines, point sets, step lines, bands, vertical markers), each with a name and a colour
//! [`Role`], plus title, axis labels and ranges. The screen (egui_plot, `src/ui/figure_view.rs`),
//! the file exporter ([`crate::engine::plot::write_figure`], SVG/PNG) and `run --plot` draw the
//! same description, so what is exported is what is on screen.
//!
//! Where a new figure goes: a builder function next to its kin (`training.rs` for the
//! training plots); it takes plain data (slices, [`RunSeries`]) and returns a [`Figure`].
//! Nothing here imports UI crates.

pub mod animate;
pub mod central_flow;
pub mod linear;
pub mod render;
pub mod runs;
pub mod selfstab;
pub mod series;
pub mod style;
pub mod training;

use serde::{Deserialize, Serialize};

pub use series::{RunSeries, step_breakpoints, step_line};
pub use style::{Rgba, Role, Theme};

/// How a line is stroked.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Dash {
    #[default]
    Solid,
    /// Dashes of this length (screen points / pixels).
    Dashed(f32),
    Dotted,
}

/// Marker shape of a point set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Marker {
    #[default]
    Circle,
    Diamond,
}

/// What a layer draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerKind {
    /// A polyline through the points (x, y).
    Line {
        points: Vec<[f64; 2]>,
        dash: Dash,
        width: f32,
    },
    /// Markers at the points.
    Points {
        points: Vec<[f64; 2]>,
        marker: Marker,
        radius: f32,
    },
    /// A step function through breakpoints (x, value): each value holds until the next x and
    /// the last one to the right end of the data (2/η when η changed mid-run).
    Steps {
        breakpoints: Vec<[f64; 2]>,
        dash: Dash,
        width: f32,
    },
    /// A vertical band from x = `from` to x = `to`, filled with the role's colour.
    XSpan { from: f64, to: f64 },
    /// A vertical line at x.
    VLine { x: f64, dash: Dash },
    /// A horizontal line at y.
    HLine { y: f64, dash: Dash, width: f32 },
    /// Arrows from each origin to its tip (a vector field).
    Arrows {
        origins: Vec<[f64; 2]>,
        tips: Vec<[f64; 2]>,
    },
}

/// One named, coloured layer. Layers sharing a name form one legend entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    pub role: Role,
    pub kind: LayerKind,
}

impl Layer {
    pub fn line(name: impl Into<String>, role: Role, points: Vec<[f64; 2]>) -> Self {
        Layer {
            name: name.into(),
            role,
            kind: LayerKind::Line {
                points,
                dash: Dash::Solid,
                width: 2.0,
            },
        }
    }

    pub fn dashed(name: impl Into<String>, role: Role, points: Vec<[f64; 2]>) -> Self {
        Layer::line(name, role, points).with_dash(Dash::Dashed(6.0))
    }

    pub fn points(name: impl Into<String>, role: Role, points: Vec<[f64; 2]>) -> Self {
        Layer {
            name: name.into(),
            role,
            kind: LayerKind::Points {
                points,
                marker: Marker::Circle,
                radius: 2.5,
            },
        }
    }

    pub fn steps(name: impl Into<String>, role: Role, breakpoints: Vec<[f64; 2]>) -> Self {
        Layer {
            name: name.into(),
            role,
            kind: LayerKind::Steps {
                breakpoints,
                dash: Dash::Dashed(8.0),
                width: 1.5,
            },
        }
    }

    pub fn x_span(name: impl Into<String>, role: Role, from: f64, to: f64) -> Self {
        Layer {
            name: name.into(),
            role,
            kind: LayerKind::XSpan { from, to },
        }
    }

    pub fn v_line(name: impl Into<String>, role: Role, x: f64) -> Self {
        Layer {
            name: name.into(),
            role,
            kind: LayerKind::VLine {
                x,
                dash: Dash::Dotted,
            },
        }
    }

    pub fn h_line(name: impl Into<String>, role: Role, y: f64) -> Self {
        Layer {
            name: name.into(),
            role,
            kind: LayerKind::HLine {
                y,
                dash: Dash::Solid,
                width: 1.0,
            },
        }
    }

    pub fn arrows(
        name: impl Into<String>,
        role: Role,
        origins: Vec<[f64; 2]>,
        tips: Vec<[f64; 2]>,
    ) -> Self {
        Layer {
            name: name.into(),
            role,
            kind: LayerKind::Arrows { origins, tips },
        }
    }

    /// The same layer with another dash pattern (lines, steps, vertical/horizontal lines).
    pub fn with_dash(mut self, d: Dash) -> Self {
        match &mut self.kind {
            LayerKind::Line { dash, .. }
            | LayerKind::Steps { dash, .. }
            | LayerKind::VLine { dash, .. }
            | LayerKind::HLine { dash, .. } => *dash = d,
            LayerKind::Points { .. } | LayerKind::XSpan { .. } | LayerKind::Arrows { .. } => {}
        }
        self
    }

    /// The same layer with another stroke width (lines, steps) or marker radius (points).
    pub fn with_width(mut self, w: f32) -> Self {
        match &mut self.kind {
            LayerKind::Line { width, .. }
            | LayerKind::Steps { width, .. }
            | LayerKind::HLine { width, .. } => *width = w,
            LayerKind::Points { radius, .. } => *radius = w,
            LayerKind::VLine { .. } | LayerKind::XSpan { .. } | LayerKind::Arrows { .. } => {}
        }
        self
    }

    /// A point set's marker.
    pub fn with_marker(mut self, m: Marker) -> Self {
        if let LayerKind::Points { marker, .. } = &mut self.kind {
            *marker = m;
        }
        self
    }

    /// The (x, y) data this layer contributes to the axis ranges.
    pub fn data(&self) -> &[[f64; 2]] {
        match &self.kind {
            LayerKind::Line { points, .. } | LayerKind::Points { points, .. } => points,
            LayerKind::Steps { breakpoints, .. } => breakpoints,
            LayerKind::Arrows { origins, .. } => origins,
            LayerKind::XSpan { .. } | LayerKind::VLine { .. } | LayerKind::HLine { .. } => &[],
        }
    }
}

/// A whole figure, independent of where it is drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Short identifier, used in file names (`loss`, `sharpness`, …).
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    #[serde(default)]
    pub log_y: bool,
    /// Values the y axis must include (e.g. 0 and 1 for accuracies).
    #[serde(default)]
    pub include_y: Vec<f64>,
    /// Fixed y range (data units) instead of the data's extent: lines end where they first
    /// leave it, points outside are dropped.
    #[serde(default)]
    pub y_range: Option<[f64; 2]>,
    /// Fixed x range instead of the data's extent (the screen starts there; files use it).
    #[serde(default)]
    pub x_range: Option<[f64; 2]>,
    /// Drawn in order: earlier layers below later ones.
    pub layers: Vec<Layer>,
}

impl Figure {
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Figure {
            id: id.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: false,
            include_y: Vec::new(),
            y_range: None,
            x_range: None,
            layers: Vec::new(),
        }
    }

    pub fn push(&mut self, layer: Layer) {
        self.layers.push(layer);
    }

    /// True when no layer has data to draw.
    pub fn is_empty(&self) -> bool {
        self.layers.iter().all(|l| l.data().is_empty())
    }

    /// (name, role) of each legend entry, in order, without repeats: what a reader of the
    /// figure can tell apart. Screen and file must show the same list.
    pub fn legend(&self) -> Vec<(String, Role)> {
        let mut out: Vec<(String, Role)> = Vec::new();
        for l in &self.layers {
            if !out.iter().any(|(n, _)| *n == l.name) {
                out.push((l.name.clone(), l.role));
            }
        }
        out
    }
}
