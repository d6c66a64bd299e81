//! The Self-stabilization plots: x_t and the predicted sharpness over t (linked), and the
//! phase portrait with the stages, the two-step field and the measured trajectory.

use eframe::egui;
use egui_plot::Plot;

use super::{SelfStabWorkspace, XDisplay, phase_extent};
use crate::engine::figure;
use crate::engine::figure::animate::Animation;
use crate::engine::figure::selfstab::{Field, Fit, Measured, SelfStabView};
use crate::engine::plot::padded_extent;
use crate::engine::theory::self_stab::displacement_field_two_step;
use crate::ui::export::ExportManager;
use crate::ui::plot_aids;
use crate::ui::plots::{hover_label, linked_plot};

impl SelfStabWorkspace {
    pub(super) fn plots_ui(&self, ui: &mut egui::Ui, exports: &mut ExportManager) {
        let s = &self.series;
        let link = egui::Id::unique("selfstab-t-link");
        let avail = ui.available_height();
        let h = ((avail - 90.0) / 2.0).max(100.0);
        let cursor = self.cursor.round();
        let row = self
            .run
            .as_ref()
            .and_then(|r| r.rows.get(cursor as usize))
            .cloned();
        let x_name = match self.display {
            XDisplay::Signed => "x_t",
            XDisplay::Abs => "|x_t|",
            XDisplay::Square => "x_t²",
        };
        let measured = self.overlay_on().then_some(&self.measured);
        let fit = measured.filter(|_| self.fit_measured).map(|m| {
            let d = match self.display {
                XDisplay::Signed => [-s.delta, s.delta],
                XDisplay::Abs => [0.0, s.delta],
                XDisplay::Square => [0.0, s.delta * s.delta],
            };
            let t_max = m.x.last().map_or(1.0, |p| p[0]).max(1.0);
            FitBounds {
                t: (0.0, t_max),
                x: padded(m.x.iter().map(|p| p[1]).chain(d)),
                sharpness: padded(m.sharpness.iter().map(|p| p[1]).chain([s.threshold])),
                phase_x: padded(m.phase.iter().map(|p| p[0]).chain([-s.delta, s.delta])),
                phase_y: padded(m.phase.iter().map(|p| p[1]).chain([0.0])),
            }
        });

        let field = self.show_field.then(|| self.field_arrows()).flatten();
        let view = SelfStabView {
            x_name,
            delta_line: match self.display {
                XDisplay::Signed => None,
                XDisplay::Abs => Some(s.delta),
                XDisplay::Square => Some(s.delta * s.delta),
            },
            measured: measured.map(|m| Measured {
                x: &m.x,
                sharpness: &m.sharpness,
                phase: &m.phase,
            }),
            fit: fit.map(|f| Fit {
                t: f.t,
                x: f.x,
                sharpness: f.sharpness,
                phase_x: f.phase_x,
                phase_y: f.phase_y,
            }),
            field,
            cursor: Some((cursor, row.map(|r| [r.x, r.y]))),
        };
        let [fx, fs, fp] = [
            figure::selfstab::x_over_t(s, &view),
            figure::selfstab::sharpness(s, &view),
            figure::selfstab::phase(s, &view),
        ];
        // The play-back as a GIF: each figure rebuilt at t with the map run up to t.
        let playback = |which: usize| {
            let run = self.run.clone();
            let display = self.display;
            let measured = measured.cloned();
            let fit = view.fit;
            let field = view.field.clone();
            let delta_line = view.delta_line;
            move || -> Result<Animation, String> {
                let run = run.ok_or("the map has not been simulated")?;
                let last = run.rows.last().map_or(0.0, |r| r.t as f64);
                let first = run.rows.first().map_or(0.0, |r| r.t as f64);
                if last <= first {
                    return Err("the map has fewer than two steps".into());
                }
                Ok(Animation::new((first, last), move |t| {
                    let mut r = run.clone();
                    r.rows.retain(|row| row.t as f64 <= t);
                    let s = super::series_of(&r, display);
                    let at = r.rows.last().map(|row| [row.x, row.y]);
                    let v = SelfStabView {
                        x_name,
                        delta_line,
                        measured: measured.as_ref().map(|m| Measured {
                            x: &m.x,
                            sharpness: &m.sharpness,
                            phase: &m.phase,
                        }),
                        fit,
                        field: field.clone(),
                        cursor: Some((t.floor(), at)),
                    };
                    match which {
                        0 => figure::selfstab::x_over_t(&s, &v),
                        1 => figure::selfstab::sharpness(&s, &v),
                        _ => figure::selfstab::phase(&s, &v),
                    }
                }))
            }
        };
        // A plot's id carries whether the axes are held on the measured trajectory: when
        // that is switched off, a fresh plot memory fits the axes to the map again.
        let id = |name: &str| format!("{name}{}", if fit.is_some() { "-fit" } else { "" });
        let x_title = format!("{x_name} over t");
        let keys = ["selfstab-x", "selfstab-sharpness", "selfstab-phase"];
        let shown = plot_aids::shown(ui.ctx(), &keys);
        let draw = |ui: &mut egui::Ui, exports: &mut ExportManager, i: usize, height: f32| {
            let (fig, title) = match i {
                0 => (&fx, x_title.as_str()),
                1 => (&fs, "Sharpness 2/η + y_t"),
                _ => (&fp, "Phase portrait (x_t, y_t)"),
            };
            plot_aids::header_with(ui, keys[i], title, exports, fig, playback(i));
            let plot = if i < 2 {
                linked_plot(&id(keys[i]), height, link, "t", false)
                    .label_formatter(plot_aids::hover_all(fig, "t"))
            } else {
                Plot::new(id(keys[i]))
                    .y_axis_min_width(52.0)
                    .height(height)
                    .label_formatter(hover_label("x", false))
            };
            plot_aids::show(ui, keys[i], plot, fig);
        };
        if shown.len() == 1 {
            // One plot in focus: it takes the whole central area.
            let i = keys.iter().position(|k| *k == shown[0]).unwrap_or(0);
            draw(ui, exports, i, (avail - 40.0).max(120.0));
            return;
        }
        ui.columns(2, |cols| {
            let (left, right) = cols.split_at_mut(1);
            draw(&mut left[0], exports, 0, h);
            draw(&mut left[0], exports, 1, h);
            draw(&mut right[0], exports, 2, 2.0 * h + 24.0);
        });
    }

    /// The two-step displacement field over the trajectory's extent (not the plot bounds,
    /// which the arrows themselves would keep widening), scaled to the grid cells.
    fn field_arrows(&self) -> Option<Field> {
        let run = self.run.as_ref()?;
        let c = run.params.check().ok()?;
        let (xr, yr) = phase_extent(&self.series);
        let f = displacement_field_two_step(&c, xr, yr, 17, 13).ok()?;
        let cell = ((xr.1 - xr.0) / 17.0, (yr.1 - yr.0) / 13.0);
        let norm = |d: &[f64; 2]| ((d[0] / cell.0).powi(2) + (d[1] / cell.1).powi(2)).sqrt();
        let max = f
            .iter()
            .map(|(_, d)| norm(d))
            .fold(0.0f64, f64::max)
            .max(1e-300);
        let mut origins = Vec::new();
        let mut tips = Vec::new();
        for (o, d) in f {
            let n = norm(&d);
            if n.is_finite() && n > 0.0 {
                let k = 0.8 * (n / max).sqrt() / n;
                origins.push(o);
                tips.push([o[0] + d[0] * k, o[1] + d[1] * k]);
            }
        }
        Some((origins, tips))
    }
}

/// Plot ranges that hold the measured trajectory.
#[derive(Clone, Copy, Debug)]
struct FitBounds {
    t: (f64, f64),
    x: (f64, f64),
    sharpness: (f64, f64),
    phase_x: (f64, f64),
    phase_y: (f64, f64),
}

/// The finite extent of `v`, padded by 8 % (and never empty).
fn padded(v: impl Iterator<Item = f64>) -> (f64, f64) {
    padded_extent(v, 0.08).unwrap_or((-1.0, 1.0))
}
