//! Every colour the app draws with, for the dark and the light theme, plus text-size settings.

use eframe::egui::{self, Color32, TextStyle};

/// Colours of one theme.
#[derive(Clone, Copy, Debug)]
pub struct Palette {
    pub train: Color32,
    pub test: Color32,
    /// λ1 … λk (cycled).
    pub eigs: [Color32; 4],
    pub threshold: Color32,
    pub crossing: Color32,
    pub edge_band: Color32,
    pub zero_line: Color32,
    pub delta_line: Color32,
    /// Stage 1..=4 of the self-stabilization map.
    pub stages: [Color32; 4],
    pub cursor: Color32,
    pub field: Color32,
    pub a_norm: Color32,
    pub w_norm: Color32,
    pub fd: Color32,
    pub printed: Color32,
    pub corrected: Color32,
    pub other_residual: [Color32; 4],
    /// Overlaid training runs (branches, η sweep), cycled.
    pub runs: [Color32; 6],
    /// The gradient-flow reference run.
    pub flow: Color32,
    pub error_bg: Color32,
    pub error_fg: Color32,
    pub info_bg: Color32,
    pub info_fg: Color32,
    pub warn_fg: Color32,
    pub ok_fg: Color32,
    pub muted: Color32,
    /// Quantities measured on the network (issue 5 overlays) and the map's prediction.
    pub measured: Color32,
    pub predicted: Color32,
}

pub const DARK: Palette = Palette {
    train: Color32::from_rgb(86, 180, 233),
    test: Color32::from_rgb(230, 159, 0),
    eigs: [
        Color32::from_rgb(0, 200, 150),
        Color32::from_rgb(204, 121, 167),
        Color32::from_rgb(180, 180, 90),
        Color32::from_rgb(150, 150, 230),
    ],
    threshold: Color32::from_rgb(240, 80, 80),
    crossing: Color32::from_rgb(255, 220, 80),
    edge_band: Color32::from_rgba_premultiplied(32, 8, 8, 22),
    zero_line: Color32::from_gray(150),
    delta_line: Color32::from_rgb(240, 80, 80),
    stages: [
        Color32::from_rgb(86, 180, 233),
        Color32::from_rgb(240, 80, 80),
        Color32::from_rgb(230, 159, 0),
        Color32::from_rgb(0, 200, 150),
    ],
    cursor: Color32::from_rgb(255, 255, 255),
    field: Color32::from_gray(110),
    a_norm: Color32::from_rgb(0, 200, 150),
    w_norm: Color32::from_rgb(86, 180, 233),
    fd: Color32::from_rgb(204, 121, 167),
    printed: Color32::from_rgb(240, 80, 80),
    corrected: Color32::from_rgb(0, 200, 150),
    other_residual: [
        Color32::from_rgb(86, 180, 233),
        Color32::from_rgb(230, 159, 0),
        Color32::from_rgb(180, 180, 90),
        Color32::from_rgb(150, 150, 230),
    ],
    runs: [
        Color32::from_rgb(230, 159, 0),
        Color32::from_rgb(204, 121, 167),
        Color32::from_rgb(86, 180, 233),
        Color32::from_rgb(240, 228, 66),
        Color32::from_rgb(150, 150, 230),
        Color32::from_rgb(213, 94, 0),
    ],
    flow: Color32::from_gray(220),
    error_bg: Color32::from_rgb(90, 25, 25),
    error_fg: Color32::from_rgb(255, 210, 210),
    info_bg: Color32::from_rgb(25, 50, 80),
    info_fg: Color32::from_rgb(210, 230, 255),
    warn_fg: Color32::from_rgb(255, 190, 90),
    ok_fg: Color32::from_rgb(120, 220, 140),
    muted: Color32::from_gray(150),
    measured: Color32::from_gray(235),
    predicted: Color32::from_rgb(240, 228, 66),
};

pub const LIGHT: Palette = Palette {
    train: Color32::from_rgb(0, 114, 178),
    test: Color32::from_rgb(213, 94, 0),
    eigs: [
        Color32::from_rgb(0, 130, 90),
        Color32::from_rgb(170, 70, 140),
        Color32::from_rgb(120, 120, 30),
        Color32::from_rgb(70, 70, 180),
    ],
    threshold: Color32::from_rgb(200, 30, 30),
    crossing: Color32::from_rgb(170, 120, 0),
    edge_band: Color32::from_rgba_premultiplied(60, 10, 10, 25),
    zero_line: Color32::from_gray(90),
    delta_line: Color32::from_rgb(200, 30, 30),
    stages: [
        Color32::from_rgb(0, 114, 178),
        Color32::from_rgb(200, 30, 30),
        Color32::from_rgb(200, 130, 0),
        Color32::from_rgb(0, 140, 100),
    ],
    cursor: Color32::from_rgb(0, 0, 0),
    field: Color32::from_gray(170),
    a_norm: Color32::from_rgb(0, 130, 90),
    w_norm: Color32::from_rgb(0, 114, 178),
    fd: Color32::from_rgb(170, 70, 140),
    printed: Color32::from_rgb(200, 30, 30),
    corrected: Color32::from_rgb(0, 130, 90),
    other_residual: [
        Color32::from_rgb(0, 114, 178),
        Color32::from_rgb(213, 94, 0),
        Color32::from_rgb(120, 120, 30),
        Color32::from_rgb(70, 70, 180),
    ],
    runs: [
        Color32::from_rgb(213, 94, 0),
        Color32::from_rgb(170, 70, 140),
        Color32::from_rgb(0, 114, 178),
        Color32::from_rgb(150, 130, 0),
        Color32::from_rgb(70, 70, 180),
        Color32::from_rgb(140, 60, 0),
    ],
    flow: Color32::from_gray(40),
    error_bg: Color32::from_rgb(255, 225, 225),
    error_fg: Color32::from_rgb(130, 0, 0),
    info_bg: Color32::from_rgb(225, 238, 255),
    info_fg: Color32::from_rgb(0, 50, 110),
    warn_fg: Color32::from_rgb(170, 90, 0),
    ok_fg: Color32::from_rgb(0, 120, 40),
    muted: Color32::from_gray(110),
    measured: Color32::from_gray(20),
    predicted: Color32::from_rgb(150, 60, 170),
};

/// The palette for the context's current theme.
pub fn palette(ctx: &egui::Context) -> &'static Palette {
    if ctx.global_style().visuals.dark_mode {
        &DARK
    } else {
        &LIGHT
    }
}

/// Default text sizes, scaled up for the large-font setting.
pub fn apply_text_size(ctx: &egui::Context, large: bool) {
    let f = if large { 1.3 } else { 1.0 };
    ctx.all_styles_mut(|style| {
        let sizes = [
            (TextStyle::Small, 11.5),
            (TextStyle::Body, 13.5),
            (TextStyle::Button, 13.5),
            (TextStyle::Monospace, 13.0),
            (TextStyle::Heading, 19.0),
        ];
        for (ts, size) in sizes {
            if let Some(font) = style.text_styles.get_mut(&ts) {
                font.size = size * f;
            }
        }
    });
}

/// Add Hack as a fallback font (more symbols than Ubuntu Light). egui 0.37 installs no emoji
/// font unless `epaint_default_fonts/monochrome_emoji_fonts` is on, so labels avoid emoji.
pub fn install_fonts(ctx: &egui::Context) {
    use egui::epaint::text::{FontInsert, FontPriority, InsertFontFamily};
    use egui::{FontData, FontFamily};
    let fonts: [(&str, &'static [u8]); 1] = [("eos-hack", epaint_default_fonts::HACK_REGULAR)];
    for (name, bytes) in fonts {
        ctx.add_font(FontInsert::new(
            name,
            FontData::from_static(bytes),
            vec![
                InsertFontFamily {
                    family: FontFamily::Proportional,
                    priority: FontPriority::Lowest,
                },
                InsertFontFamily {
                    family: FontFamily::Monospace,
                    priority: FontPriority::Lowest,
                },
            ],
        ));
    }
}
