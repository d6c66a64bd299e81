//! Colour roles: every figure names what a layer *is* (train loss, λ2, 2/η, …); the role
//! decides the colour, for the light and the dark theme alike. The screen (egui_plot) and the
//! file exporter (SVG/PNG) both look colours up here, so they cannot drift apart.

use serde::{Deserialize, Serialize};

/// Light (white background: exports, light UI theme) or dark (dark UI theme, dark exports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

/// What a layer shows; the colour follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Train,
    Test,
    /// λ_{i+1} (cycled over four colours).
    Eig(usize),
    /// 2/η and other stability thresholds.
    Threshold,
    /// The first crossing of 2/η.
    Crossing,
    /// Steps at the edge of stability (a translucent band).
    EdgeBand,
    /// A reference line at zero.
    Zero,
    /// ±δ of Damian et al.'s map.
    Delta,
    /// Stage 1..=4 of the self-stabilization map (index 0..=3).
    Stage(usize),
    Cursor,
    /// Arrows of a vector field.
    Field,
    /// ‖A‖² in Li et al.'s network.
    ANorm,
    /// ‖W‖ in Li et al.'s network.
    WNorm,
    /// A finite-difference check.
    Fd,
    /// A statement as printed in the reference text.
    Printed,
    /// The corrected statement.
    Corrected,
    /// Further residual curves (cycled).
    OtherResidual(usize),
    /// Overlaid training runs (branches, sweeps, opened runs), cycled by slot.
    Run(usize),
    /// The gradient-flow reference.
    Flow,
    /// Quantities measured on the network.
    Measured,
    /// A theory's prediction.
    Predicted,
    /// The central flow's prediction.
    CentralFlow,
    /// A generic series colour, cycled (figures without named roles).
    Palette(usize),
}

/// An sRGB colour with straight (not premultiplied) alpha.
pub type Rgba = [u8; 4];

const fn rgb(r: u8, g: u8, b: u8) -> Rgba {
    [r, g, b, 255]
}

const fn gray(v: u8) -> Rgba {
    [v, v, v, 255]
}

/// Okabe–Ito (colour-blind friendly): generic series on a light background.
const PALETTE_LIGHT: [Rgba; 7] = [
    rgb(0, 114, 178),
    rgb(213, 94, 0),
    rgb(0, 158, 115),
    rgb(204, 121, 167),
    rgb(230, 159, 0),
    rgb(86, 180, 233),
    gray(120),
];

const PALETTE_DARK: [Rgba; 7] = [
    rgb(86, 180, 233),
    rgb(230, 159, 0),
    rgb(0, 200, 150),
    rgb(204, 121, 167),
    rgb(240, 228, 66),
    rgb(150, 150, 230),
    gray(170),
];

fn pick<const N: usize>(v: &[Rgba; N], i: usize) -> Rgba {
    v[i % N]
}

impl Role {
    /// The colour of this role in `theme`.
    pub fn rgba(self, theme: Theme) -> Rgba {
        match theme {
            Theme::Light => self.light(),
            Theme::Dark => self.dark(),
        }
    }

    fn light(self) -> Rgba {
        use Role::*;
        match self {
            Train => rgb(0, 114, 178),
            Test => rgb(213, 94, 0),
            Eig(i) => pick(
                &[
                    rgb(0, 130, 90),
                    rgb(170, 70, 140),
                    rgb(120, 120, 30),
                    rgb(70, 70, 180),
                ],
                i,
            ),
            Threshold | Delta | Printed => rgb(200, 30, 30),
            Crossing => rgb(170, 120, 0),
            EdgeBand => [200, 40, 40, 40],
            Zero => gray(90),
            Stage(i) => pick(
                &[
                    rgb(0, 114, 178),
                    rgb(200, 30, 30),
                    rgb(200, 130, 0),
                    rgb(0, 140, 100),
                ],
                i,
            ),
            Cursor => gray(0),
            Field => gray(170),
            ANorm | Corrected => rgb(0, 130, 90),
            WNorm => rgb(0, 114, 178),
            Fd => rgb(170, 70, 140),
            OtherResidual(i) => pick(
                &[
                    rgb(0, 114, 178),
                    rgb(213, 94, 0),
                    rgb(120, 120, 30),
                    rgb(70, 70, 180),
                ],
                i,
            ),
            Run(i) => pick(
                &[
                    rgb(213, 94, 0),
                    rgb(170, 70, 140),
                    rgb(0, 114, 178),
                    rgb(150, 130, 0),
                    rgb(70, 70, 180),
                    rgb(140, 60, 0),
                ],
                i,
            ),
            Flow => gray(40),
            Measured => gray(20),
            Predicted => rgb(150, 60, 170),
            CentralFlow => rgb(0, 150, 160),
            Palette(i) => pick(&PALETTE_LIGHT, i),
        }
    }

    fn dark(self) -> Rgba {
        use Role::*;
        match self {
            Train => rgb(86, 180, 233),
            Test => rgb(230, 159, 0),
            Eig(i) => pick(
                &[
                    rgb(0, 200, 150),
                    rgb(204, 121, 167),
                    rgb(180, 180, 90),
                    rgb(150, 150, 230),
                ],
                i,
            ),
            Threshold | Delta | Printed => rgb(240, 80, 80),
            Crossing => rgb(255, 220, 80),
            EdgeBand => [240, 80, 80, 40],
            Zero => gray(150),
            Stage(i) => pick(
                &[
                    rgb(86, 180, 233),
                    rgb(240, 80, 80),
                    rgb(230, 159, 0),
                    rgb(0, 200, 150),
                ],
                i,
            ),
            Cursor => gray(255),
            Field => gray(110),
            ANorm | Corrected => rgb(0, 200, 150),
            WNorm => rgb(86, 180, 233),
            Fd => rgb(204, 121, 167),
            OtherResidual(i) => pick(
                &[
                    rgb(86, 180, 233),
                    rgb(230, 159, 0),
                    rgb(180, 180, 90),
                    rgb(150, 150, 230),
                ],
                i,
            ),
            Run(i) => pick(
                &[
                    rgb(230, 159, 0),
                    rgb(204, 121, 167),
                    rgb(86, 180, 233),
                    rgb(240, 228, 66),
                    rgb(150, 150, 230),
                    rgb(213, 94, 0),
                ],
                i,
            ),
            Flow => gray(220),
            Measured => gray(235),
            Predicted => rgb(240, 228, 66),
            CentralFlow => rgb(80, 220, 230),
            Palette(i) => pick(&PALETTE_DARK, i),
        }
    }
}

/// Background and grid colours of a theme (file exports; the screen uses egui's visuals).
pub fn background(theme: Theme) -> Rgba {
    match theme {
        Theme::Light => gray(255),
        Theme::Dark => rgb(27, 27, 27),
    }
}

/// Text and axis colour of a theme.
pub fn foreground(theme: Theme) -> Rgba {
    match theme {
        Theme::Light => gray(20),
        Theme::Dark => gray(225),
    }
}

/// Grid line colours (light, bold) of a theme.
pub fn grid(theme: Theme) -> (Rgba, Rgba) {
    match theme {
        Theme::Light => (gray(235), gray(210)),
        Theme::Dark => (gray(45), gray(70)),
    }
}
