//! Sliders for values that span decades (η, α): a range around the preset's value, a wide rail,
//! and a fine drag with Shift held (a tenth of the speed).

use std::ops::RangeInclusive;

use eframe::egui;

/// Rail length of a slider labelled `text`: the room the panel has left beside the label and
/// the value box (never more, so the panel does not grow with its own slider).
pub fn wide_rail(ui: &egui::Ui, text: &str) -> f32 {
    let font = egui::TextStyle::Body.resolve(ui.style());
    let text_w = ui
        .painter()
        .layout_no_wrap(text.to_string(), font.clone(), egui::Color32::WHITE)
        .size()
        .x;
    // The value box holds ~7 characters; two item spacings.
    let value_w = 7.0 * 0.62 * font.size + 2.0 * ui.spacing().item_spacing.x + 12.0;
    (ui.available_width() - text_w - value_w).clamp(60.0, 320.0)
}

/// η/10 … 10η (two decades around the preset's value), for a log slider.
pub fn around(anchor: f64) -> RangeInclusive<f64> {
    if anchor.is_finite() && anchor > 0.0 {
        anchor / 10.0..=anchor * 10.0
    } else {
        1e-4..=20.0
    }
}

/// The value a Shift-drag gives: from the value before this frame, moved by a tenth of what the
/// pointer's `dx` pixels move on a log rail of `rail_px` pixels spanning `range`.
pub fn fine_drag_value(before: f64, dx: f32, range: &RangeInclusive<f64>, rail_px: f32) -> f64 {
    let (lo, hi) = (*range.start(), *range.end());
    if !(before > 0.0 && lo > 0.0 && hi > lo && rail_px > 0.0) {
        return before;
    }
    let decades_per_px = (hi / lo).log10() / rail_px as f64;
    before * 10f64.powf(dx as f64 * decades_per_px / 10.0)
}

/// A wide log slider over `range` whose drag moves ten times slower with Shift held.
pub fn log_slider(
    ui: &mut egui::Ui,
    value: &mut f64,
    range: RangeInclusive<f64>,
    text: &str,
    clamp: bool,
) -> egui::Response {
    let before = *value;
    let rail = wide_rail(ui, text);
    let r = ui
        .scope(|ui| {
            ui.spacing_mut().slider_width = rail;
            ui.add(
                egui::Slider::new(value, range.clone())
                    .logarithmic(true)
                    .clamping(if clamp {
                        egui::SliderClamping::Always
                    } else {
                        egui::SliderClamping::Never
                    })
                    .update_while_editing(false)
                    .text(text),
            )
        })
        .inner;
    let shift = ui.input(|i| i.modifiers.shift);
    if r.dragged() && shift {
        let dx = ui.input(|i| i.pointer.delta().x);
        *value = fine_drag_value(before, dx, &range, rail);
    }
    r.on_hover_text("Hold Shift while dragging to move finely")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_sit_around_the_preset_and_shift_drags_finely() {
        assert_eq!(around(0.4), 0.04..=4.0);
        // Two decades on 150 px: 15 px move a plain drag by 10^0.2 = ×1.58; with Shift by
        // 10^0.02 = ×1.047.
        let v = fine_drag_value(0.4, 15.0, &(0.04..=4.0), 150.0);
        assert!((v / 0.4 - 10f64.powf(0.02)).abs() < 1e-12, "{v}");
        assert!(fine_drag_value(0.4, -15.0, &(0.04..=4.0), 150.0) < 0.4);
    }
}
