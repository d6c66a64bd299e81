//! The Self-stabilization plots: x_t and the predicted sharpness over t (linked), and the
//! phase portrait with the stages, the two-step field and the measured trajectory.

use eframe::egui;
use egui_plot::{Arrows, Corner, HLine, Legend, Line, LineStyle, MarkerShape, Plot, Points, VLine};

use super::{SelfStabWorkspace, XDisplay, phase_extent};
use crate::engine::plot::{PlotSpec, Series, Threshold, padded_extent};
use crate::engine::theory::self_stab::{Stage, displacement_field_two_step};
use crate::ui::export::ExportManager;
use crate::ui::plots::{decimate, hover_label, linked_plot, plot_header};
use crate::ui::theme;

impl SelfStabWorkspace {
    pub(super) fn plots_ui(&self, ui: &mut egui::Ui, exports: &mut ExportManager) {
        let pal = theme::palette(ui.ctx());
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
        let measured =
            (self.show_measured && !self.measured.x.is_empty()).then_some(&self.measured);
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

        ui.columns(2, |cols| {
            let (left, right) = cols.split_at_mut(1);
            let ui = &mut left[0];
            plot_header(
                ui,
                &format!("{x_name} over t"),
                "selfstab-x",
                exports,
                || {
                    let mut p = PlotSpec::new(format!("{x_name} over t"), "t", x_name);
                    p.series.push(Series::line(x_name, s.x.clone()));
                    if let Some(m) = measured {
                        p.series
                            .push(Series::points(format!("{x_name} measured"), m.x.clone()));
                    }
                    p.y_range = fit.map(|f| [f.x.0, f.x.1]);
                    p
                },
            );
            linked_plot("selfstab-x", h, link, "t", false).show(ui, |pu| {
                if let Some(f) = &fit {
                    pu.set_plot_bounds_x(f.t.0..=f.t.1);
                    pu.set_plot_bounds_y(f.x.0..=f.x.1);
                }
                pu.line(Line::new(x_name, decimate(&s.x, 4000)).color(pal.train));
                if let Some(m) = measured {
                    pu.points(
                        Points::new(format!("{x_name} measured"), decimate(&m.x, 4000))
                            .color(pal.measured)
                            .radius(1.6),
                    );
                }
                if self.display != XDisplay::Signed {
                    let d = if self.display == XDisplay::Square {
                        s.delta * s.delta
                    } else {
                        s.delta
                    };
                    pu.hline(
                        HLine::new("δ", d)
                            .color(pal.delta_line)
                            .style(LineStyle::Dashed { length: 6.0 }),
                    );
                }
                pu.vline(VLine::new("cursor", cursor).color(pal.cursor).width(1.0));
            });
            plot_header(
                ui,
                "Sharpness 2/η + y_t",
                "selfstab-sharpness",
                exports,
                || {
                    let mut p = PlotSpec::new("Predicted sharpness", "t", "2/η + y_t");
                    p.series
                        .push(Series::line("2/η + y_t", s.sharpness.clone()));
                    if let Some(m) = measured {
                        p.series
                            .push(Series::points("λ1 measured", m.sharpness.clone()));
                    }
                    p.y_range = fit.map(|f| [f.sharpness.0, f.sharpness.1]);
                    p.threshold = Some(Threshold {
                        name: "2/η".into(),
                        steps: vec![[0.0, s.threshold]],
                    });
                    p
                },
            );
            linked_plot("selfstab-sharpness", h, link, "t", false)
                .legend(Legend::default().position(Corner::RightTop))
                .show(ui, |pu| {
                    if let Some(f) = &fit {
                        pu.set_plot_bounds_x(f.t.0..=f.t.1);
                        pu.set_plot_bounds_y(f.sharpness.0..=f.sharpness.1);
                    }
                    pu.hline(
                        HLine::new("2/η", s.threshold)
                            .color(pal.threshold)
                            .style(LineStyle::Dashed { length: 8.0 }),
                    );
                    pu.line(
                        Line::new("2/η + y_t", decimate(&s.sharpness, 4000)).color(pal.eigs[0]),
                    );
                    if let Some(m) = measured {
                        pu.points(
                            Points::new("λ1 measured", decimate(&m.sharpness, 4000))
                                .color(pal.measured)
                                .radius(1.6),
                        );
                    }
                    pu.vline(VLine::new("cursor", cursor).color(pal.cursor).width(1.0));
                });

            let ui = &mut right[0];
            plot_header(
                ui,
                "Phase portrait (x_t, y_t)",
                "selfstab-phase",
                exports,
                || {
                    let mut p = PlotSpec::new("Phase portrait", "x_t", "y_t");
                    for (i, pts) in s.phase.iter().enumerate() {
                        p.series.push(Series::points(
                            format!("stage {}", Stage::ALL[i].name()),
                            pts.clone(),
                        ));
                    }
                    if let Some(m) = measured {
                        p.series
                            .push(Series::points("measured (x̃_t, λ1 − 2/η)", m.phase.clone()));
                    }
                    p.y_range = fit.map(|f| [f.phase_y.0, f.phase_y.1]);
                    p
                },
            );
            Plot::new("selfstab-phase")
                .y_axis_min_width(52.0)
                .height(2.0 * h + 24.0)
                .legend(Legend::default().position(Corner::RightTop))
                .label_formatter(hover_label("x", false))
                .show(ui, |pu| {
                    if let Some(f) = &fit {
                        pu.set_plot_bounds_x(f.phase_x.0..=f.phase_x.1);
                        pu.set_plot_bounds_y(f.phase_y.0..=f.phase_y.1);
                    }
                    if self.show_field
                        && let Some(run) = &self.run
                        && let Ok(c) = run.params.check()
                    {
                        // Over the trajectory's extent (not the plot bounds, which the
                        // arrows themselves would keep widening).
                        let (xr, yr) = phase_extent(s);
                        if let Ok(f) = displacement_field_two_step(&c, xr, yr, 17, 13) {
                            let cell = ((xr.1 - xr.0) / 17.0, (yr.1 - yr.0) / 13.0);
                            let max = f
                                .iter()
                                .map(|(_, d)| {
                                    ((d[0] / cell.0).powi(2) + (d[1] / cell.1).powi(2)).sqrt()
                                })
                                .fold(0.0f64, f64::max)
                                .max(1e-300);
                            let mut origins = Vec::new();
                            let mut tips = Vec::new();
                            for (o, d) in f {
                                let n = ((d[0] / cell.0).powi(2) + (d[1] / cell.1).powi(2)).sqrt();
                                if n.is_finite() && n > 0.0 {
                                    let k = 0.8 * (n / max).sqrt() / n;
                                    origins.push(o);
                                    tips.push([o[0] + d[0] * k, o[1] + d[1] * k]);
                                }
                            }
                            pu.arrows(
                                Arrows::new("two-step field", origins, tips)
                                    .color(pal.field)
                                    .tip_length(5.0),
                            );
                        }
                    }
                    pu.vline(
                        VLine::new("x = ±δ", s.delta)
                            .color(pal.delta_line)
                            .style(LineStyle::Dashed { length: 6.0 }),
                    );
                    pu.vline(
                        VLine::new("x = ±δ", -s.delta)
                            .color(pal.delta_line)
                            .style(LineStyle::Dashed { length: 6.0 }),
                    );
                    pu.hline(HLine::new("y = 0", 0.0).color(pal.zero_line).width(0.5));
                    for (i, pts) in s.phase.iter().enumerate() {
                        pu.points(
                            Points::new(
                                format!("{} {}", i + 1, Stage::ALL[i].name()),
                                decimate(pts, 6000),
                            )
                            .color(pal.stages[i])
                            .radius(1.8),
                        );
                    }
                    if let Some(m) = measured {
                        // Points: x alternates in sign, so a line would zig-zag across.
                        pu.points(
                            Points::new("measured (x̃_t, λ1 − 2/η)", decimate(&m.phase, 6000))
                                .color(pal.measured)
                                .radius(1.6),
                        );
                    }
                    if let Some(r) = &row {
                        pu.points(
                            Points::new("cursor", vec![[r.x, r.y]])
                                .shape(MarkerShape::Circle)
                                .radius(6.0)
                                .filled(false)
                                .color(pal.cursor),
                        );
                    }
                });
        });
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
