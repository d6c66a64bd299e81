//! Helpers shared by the workspaces' plots: decimation for drawing, log-y transforms, axis
//! formatters, and the header row of a plot with its export buttons.

use std::ops::RangeInclusive;

use eframe::egui;
use egui_plot::{GridInput, GridMark, HoverPosition};

use super::export::{ExportLook, ExportManager, ExportSize, Notice};
use crate::engine::figure::Figure;
use crate::engine::figure::animate::Animation;

/// At most this many points per drawn series (full data is kept for export).
pub const MAX_DRAWN: usize = 2000;

/// Min/max decimation: keeps the extremes of each bucket so spikes stay visible.
pub fn decimate(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
    let n = points.len();
    if n <= max || max < 4 {
        return points.to_vec();
    }
    let buckets = max / 2;
    let size = n.div_ceil(buckets);
    let mut out = Vec::with_capacity(buckets * 2 + 1);
    for chunk in points.chunks(size) {
        let mut lo = 0;
        let mut hi = 0;
        for (i, p) in chunk.iter().enumerate() {
            if p[1] < chunk[lo][1] || chunk[lo][1].is_nan() {
                lo = i;
            }
            if p[1] > chunk[hi][1] || chunk[hi][1].is_nan() {
                hi = i;
            }
        }
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    if let (Some(last), Some(orig)) = (out.last(), points.last())
        && last != orig
    {
        out.push(*orig);
    }
    out
}

/// y → log10(y), dropping non-positive and non-finite values.
pub fn to_log(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    points
        .iter()
        .filter(|p| p[1].is_finite() && p[1] > 0.0)
        .map(|p| [p[0], p[1].log10()])
        .collect()
}

/// Points ready to draw: optionally log-transformed, then decimated.
pub fn drawn(points: &[[f64; 2]], log_y: bool) -> Vec<[f64; 2]> {
    if log_y {
        decimate(&to_log(points), MAX_DRAWN)
    } else {
        decimate(points, MAX_DRAWN)
    }
}

/// Grid of a log10 axis: decades, plus 2× and 5× marks when few decades are visible.
pub fn log_grid(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let span = hi - lo;
    if !(lo.is_finite() && hi.is_finite()) || span <= 0.0 || span > 400.0 {
        return Vec::new();
    }
    let k0 = lo.floor() as i64 - 1;
    let k1 = hi.ceil() as i64 + 1;
    let every = ((span / 8.0).ceil() as i64).max(1);
    let mut marks = Vec::new();
    for k in k0..=k1 {
        if k.rem_euclid(every) == 0 {
            marks.push(GridMark {
                value: k as f64,
                step_size: every as f64,
            });
        }
        if span <= 3.0 {
            for (m, step) in [(2.0f64, 0.3), (5.0, 0.3)] {
                marks.push(GridMark {
                    value: k as f64 + m.log10(),
                    step_size: step,
                });
            }
        }
        if span <= 0.8 {
            for m in [3.0f64, 4.0, 6.0, 7.0, 8.0, 9.0] {
                marks.push(GridMark {
                    value: k as f64 + m.log10(),
                    step_size: 0.06,
                });
            }
        }
    }
    marks.retain(|m| m.value >= lo && m.value <= hi);
    marks
}

/// Tick labels of a log10 axis: 10^v.
pub fn log_axis(mark: GridMark, _range: &RangeInclusive<f64>) -> String {
    let v = mark.value;
    let x = 10f64.powf(v);
    if (v - v.round()).abs() < 1e-9 && !(1e-3..1e4).contains(&x) {
        format!("1e{}", v.round() as i64)
    } else if (1e-3..1e4).contains(&x) {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{x:.0e}")
    }
}

/// Compact number text for labels.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// Hover text: series name, x and y (y converted back from log10 when `log_y`).
pub fn hover_label(
    x_name: &'static str,
    log_y: bool,
) -> impl Fn(&HoverPosition<'_>) -> Option<String> {
    move |pos| {
        let (name, p) = match pos {
            HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => (*plot_name, *position),
            HoverPosition::Elsewhere { position } => ("", *position),
        };
        let y = if log_y { 10f64.powf(p.y) } else { p.y };
        let x = if x_name == "step" || x_name == "t" {
            format!("{:.0}", p.x)
        } else {
            fmt_num(p.x)
        };
        if name.is_empty() {
            Some(format!("{x_name} = {x}\ny = {}", fmt_num(y)))
        } else {
            Some(format!("{name}\n{x_name} = {x}\ny = {}", fmt_num(y)))
        }
    }
}

/// A plot of a workspace's column: fixed height, x axis and hover cursor linked with the
/// other plots of the same `link` group, hover label naming `x_name`.
pub fn linked_plot<'a>(
    id: &str,
    height: f32,
    link: egui::Id,
    x_name: &'static str,
    log_y: bool,
) -> egui_plot::Plot<'a> {
    egui_plot::Plot::new(id)
        .y_axis_min_width(52.0)
        .height(height)
        .link_axis(link, [true, false])
        .link_cursor(link, [true, false])
        .label_formatter(hover_label(x_name, log_y))
}

/// Title row with "PNG" / "SVG" / "GIF" export buttons that write `fig` (the figure on screen;
/// the GIF shows it growing step by step) and the export options.
pub fn plot_header(ui: &mut egui::Ui, title: &str, exports: &mut ExportManager, fig: &Figure) {
    plot_header_with(ui, title, exports, fig, || Animation::growing(fig.clone()));
}

/// [`plot_header`] with the GIF's frames from `animation` (e.g. the map's play-back).
pub fn plot_header_with(
    ui: &mut egui::Ui,
    title: &str,
    exports: &mut ExportManager,
    fig: &Figure,
    animation: impl FnOnce() -> Result<Animation, String>,
) {
    plot_header_row(ui, title, true, exports, fig, animation);
}

/// The header row; `show_title = false` when the caller drew the title on a line of its own
/// (a narrow column, where the buttons would paint over it).
pub fn plot_header_row(
    ui: &mut egui::Ui,
    title: &str,
    show_title: bool,
    exports: &mut ExportManager,
    fig: &Figure,
    animation: impl FnOnce() -> Result<Animation, String>,
) {
    ui.horizontal(|ui| {
        if show_title {
            ui.strong(title);
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.menu_button("export…", |ui| export_options_ui(ui, exports))
                .response
                .on_hover_text("Size, light or dark, folder, GIF frame rate and length");
            if let Some(job) = exports.gif_job(&fig.id) {
                if ui
                    .small_button("cancel")
                    .on_hover_text("Stop writing the GIF")
                    .clicked()
                {
                    job.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let done = job.done.load(std::sync::atomic::Ordering::Relaxed);
                ui.add(
                    egui::ProgressBar::new(done as f32 / job.total.max(1) as f32)
                        .desired_width(90.0)
                        .text(format!("GIF {done}/{}", job.total)),
                );
            } else {
                let g = &exports.settings.gif;
                let gif = ui.small_button("GIF").on_hover_text(format!(
                    "Export “{title}” as an animated GIF ({} fps, {} s)",
                    g.fps, g.seconds
                ));
                if gif.clicked() {
                    match animation() {
                        Ok(a) => exports.export_gif(ui.ctx(), &fig.id, a),
                        Err(e) => exports
                            .notices
                            .push(Notice::error(format!("cannot animate “{title}”: {e}"))),
                    }
                }
            }
            let svg = ui
                .small_button("SVG")
                .on_hover_text(format!("Export “{title}” as an SVG figure"));
            let png = ui
                .small_button("PNG")
                .on_hover_text(format!("Export “{title}” as a PNG figure"));
            let ext = if svg.clicked() {
                Some("svg")
            } else if png.clicked() {
                Some("png")
            } else {
                None
            };
            if let Some(ext) = ext {
                exports.export_figure(ui.ctx(), fig.clone(), ext);
            }
        });
    });
}

/// The export options: size, look, folder, GIF frame rate and length.
pub fn export_options_ui(ui: &mut egui::Ui, exports: &mut ExportManager) {
    ui.set_min_width(300.0);
    let st = &mut exports.settings;
    ui.label("Size");
    for size in ExportSize::ALL {
        ui.radio_value(&mut st.size, size, size.label());
    }
    if st.size == ExportSize::Paper {
        ui.horizontal(|ui| {
            ui.add(
                egui::DragValue::new(&mut st.paper_inches[0])
                    .range(1.0..=40.0)
                    .speed(0.05)
                    .suffix(" in"),
            );
            ui.label("×");
            ui.add(
                egui::DragValue::new(&mut st.paper_inches[1])
                    .range(1.0..=40.0)
                    .speed(0.05)
                    .suffix(" in"),
            );
            ui.label("at");
            ui.add(
                egui::DragValue::new(&mut st.dpi)
                    .range(50.0..=1200.0)
                    .speed(5.0)
                    .suffix(" DPI"),
            );
        });
    }
    let (w, h) = st.style(crate::engine::figure::Theme::Light).pixels();
    ui.weak(format!("{w} × {h} pixels"));
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("Look");
        ui.radio_value(&mut st.look, ExportLook::Light, "light");
        ui.radio_value(&mut st.look, ExportLook::Dark, "dark");
        ui.radio_value(&mut st.look, ExportLook::Both, "both")
            .on_hover_text("A light and a dark file (GIFs: light)");
    });
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("GIF");
        egui::ComboBox::from_id_salt("gif-fps")
            .selected_text(format!("{} fps", st.gif.fps))
            .show_ui(ui, |ui| {
                for fps in [10, 15, 24, 30] {
                    ui.selectable_value(&mut st.gif.fps, fps, format!("{fps} fps"));
                }
            });
        egui::ComboBox::from_id_salt("gif-seconds")
            .selected_text(format!("{} s", st.gif.seconds))
            .show_ui(ui, |ui| {
                for s in [3.0, 5.0, 6.0, 8.0, 12.0, 20.0] {
                    ui.selectable_value(&mut st.gif.seconds, s, format!("{s} s"));
                }
            });
    });
    ui.weak(format!(
        "{} frames, then the last one stays {} s",
        st.gif.frames(),
        st.gif.hold_seconds
    ));
    ui.separator();
    ui.label("Folder (full path)");
    let current = exports.settings.folder().display().to_string();
    let text = exports.folder_text.get_or_insert_with(|| current.clone());
    let r = ui.add(egui::TextEdit::singleline(text).desired_width(280.0));
    if r.lost_focus() {
        let t = text.clone();
        exports.folder_text = None;
        if t != current {
            exports.set_folder_text(&t);
        }
    }
    if ui
        .button("choose folder…")
        .on_hover_text("Pick the export folder in a dialog")
        .clicked()
    {
        exports.choose_export_folder(ui.ctx());
    }
}

/// A workspace's list of (text, is_error) banners: each drawn with [`banner`], a dismissed one
/// removed, and only the newest `keep` kept.
pub fn banner_list(ui: &mut egui::Ui, banners: &mut Vec<(String, bool)>, keep: usize) {
    let pal = super::theme::palette(ui.ctx());
    let mut remove = None;
    for (i, (text, is_err)) in banners.iter().enumerate() {
        let (bg, fg) = if *is_err {
            (pal.error_bg, pal.error_fg)
        } else {
            (pal.info_bg, pal.info_fg)
        };
        if banner(ui, text, bg, fg) {
            remove = Some(i);
        }
    }
    if let Some(i) = remove {
        banners.remove(i);
    }
    if banners.len() > keep {
        let extra = banners.len() - keep;
        banners.drain(..extra);
    }
}

/// A coloured banner (error or info) with a dismiss button; returns true when dismissed.
pub fn banner(ui: &mut egui::Ui, text: &str, bg: egui::Color32, fg: egui::Color32) -> bool {
    let mut dismissed = false;
    egui::Frame::new()
        .fill(bg)
        .inner_margin(egui::Margin::symmetric(8, 5))
        .corner_radius(4.0)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                if ui
                    .small_button("x")
                    .on_hover_text("Dismiss this message")
                    .clicked()
                {
                    dismissed = true;
                }
                ui.add(egui::Label::new(egui::RichText::new(text).color(fg)).wrap());
            });
        });
    dismissed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimate_keeps_extremes_and_ends() {
        let pts: Vec<[f64; 2]> = (0..10_000)
            .map(|i| [i as f64, if i == 5000 { 100.0 } else { 0.0 }])
            .collect();
        let d = decimate(&pts, 200);
        assert!(d.len() <= 202);
        assert!(d.iter().any(|p| p[1] == 100.0));
        assert_eq!(d.first(), pts.first());
        assert_eq!(d.last(), pts.last());
    }
}
