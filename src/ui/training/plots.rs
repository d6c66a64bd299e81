//! The Training workspace's plots: loss, accuracy, and sharpness against 2/η with the edge
//! band, the first crossing and the map's prediction; overlays in their own colours.

use eframe::egui;
use egui_plot::{Axis, Corner, Legend, Line, LineStyle, MarkerShape, Points, Span, VLine};

use super::TrainingWorkspace;
use super::model::{Overlay, OverlayKind, predicted_sharpness, step_breakpoints, step_line};
use crate::engine::plot::{PlotSpec, Series, SeriesStyle, Threshold};
use crate::ui::plots::{drawn, fmt_num, linked_plot, log_axis, log_grid, plot_header};
use crate::ui::shell::Cx;
use crate::ui::theme;

/// An overlay's colour: its palette slot, or the flow colour.
pub(super) fn overlay_color(o: &Overlay, pal: &theme::Palette) -> egui::Color32 {
    match o.kind {
        OverlayKind::Flow => pal.flow,
        _ => pal.runs[o.slot % pal.runs.len()],
    }
}

impl TrainingWorkspace {
    pub(super) fn plots_ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        let exports = &mut *cx.exports;
        let pal = theme::palette(ui.ctx());
        let Some(run) = &self.run else { return };
        let overlays = &self.overlays;
        // With overlays, the main run's legend entries name its η too.
        let main_sfx = match (&run.info, overlays.is_empty()) {
            (Some(i), false) => format!(" · η = {}", fmt_num(i.config.lr)),
            _ => String::new(),
        };
        let log_y = self.log_y;
        let link = egui::Id::unique("training-x-link");
        let avail = ui.available_height();
        let h_small = ((avail - 90.0) * 0.28).max(90.0);
        let h_big = ((avail - 90.0) * 0.44).max(120.0);
        let legend = || Legend::default().position(Corner::RightTop);

        // Loss
        plot_header(ui, "Loss", "loss", exports, || {
            let mut s = PlotSpec::new("Loss", "step", "loss");
            s.log_y = log_y;
            s.series
                .push(Series::line("train loss", run.train_loss.clone()));
            if !run.test_loss.is_empty() {
                s.series
                    .push(Series::line("test loss", run.test_loss.clone()));
            }
            for o in overlays {
                s.series.push(Series::line(
                    format!("train loss · {}", o.name()),
                    o.view.train_loss.clone(),
                ));
            }
            s
        });
        let mut p = linked_plot("train-loss", h_small, link, "step", log_y).legend(legend());
        if log_y {
            p = p.y_axis_formatter(log_axis).y_grid_spacer(log_grid);
        }
        p.show(ui, |pu| {
            pu.line(Line::new("train loss", drawn(&run.train_loss, log_y)).color(pal.train));
            if !run.test_loss.is_empty() {
                pu.line(Line::new("test loss", drawn(&run.test_loss, log_y)).color(pal.test));
            }
            for o in overlays {
                pu.line(
                    Line::new(
                        format!("train loss · {}", o.name()),
                        drawn(&o.view.train_loss, log_y),
                    )
                    .color(overlay_color(o, pal)),
                );
            }
        });

        // Accuracy
        if !run.train_acc.is_empty() || run.info.is_none() {
            plot_header(ui, "Accuracy", "accuracy", exports, || {
                let mut s = PlotSpec::new("Accuracy", "step", "accuracy");
                s.series
                    .push(Series::line("train accuracy", run.train_acc.clone()));
                if !run.test_acc.is_empty() {
                    s.series
                        .push(Series::line("test accuracy", run.test_acc.clone()));
                }
                s
            });
            linked_plot("train-acc", h_small, link, "step", false)
                .legend(legend())
                .include_y(0.0)
                .include_y(1.0)
                .show(ui, |pu| {
                    pu.line(
                        Line::new("train accuracy", drawn(&run.train_acc, false)).color(pal.train),
                    );
                    for o in overlays {
                        pu.line(
                            Line::new(
                                format!("train accuracy · {}", o.name()),
                                drawn(&o.view.train_acc, false),
                            )
                            .color(overlay_color(o, pal)),
                        );
                    }
                    if !run.test_acc.is_empty() {
                        pu.line(
                            Line::new("test accuracy", drawn(&run.test_acc, false)).color(pal.test),
                        );
                    }
                });
        }

        // Sharpness (with the self-stabilization map's prediction when the tracker ran)
        let theory_pred = predicted_sharpness(&self.theory, run);
        plot_header(
            ui,
            "Sharpness λ1…λk and 2/η",
            "sharpness",
            exports,
            || {
                let mut s = PlotSpec::new("Sharpness", "step", "top Hessian eigenvalues");
                for (i, e) in run.eigs.iter().enumerate() {
                    s.series.push(Series {
                        name: format!("λ{}", i + 1),
                        points: e.clone(),
                        style: if i == 0 {
                            SeriesStyle::Line
                        } else {
                            SeriesStyle::Dashed
                        },
                        color: None,
                    });
                }
                s.threshold = Some(Threshold {
                    name: "2/η".into(),
                    steps: step_breakpoints(&run.threshold),
                });
                if !theory_pred.is_empty() {
                    s.series.push(Series::dashed(
                        "λ1 predicted (Damian et al. 2022 map)",
                        theory_pred.clone(),
                    ));
                }
                for o in overlays {
                    if let Some(e) = o.view.eigs.first() {
                        s.series.push(Series {
                            name: format!("λ1 · {}", o.name()),
                            points: e.clone(),
                            style: SeriesStyle::Line,
                            color: None,
                        });
                    }
                    if o.kind != OverlayKind::Flow {
                        s.series.push(Series::dashed(
                            format!("2/η · {}", o.name()),
                            step_line(&o.view.threshold),
                        ));
                    }
                }
                s
            },
        );
        linked_plot("train-sharpness", h_big, link, "step", false)
            .legend(legend())
            .include_y(0.0)
            .show(ui, |pu| {
                for band in run.bands() {
                    pu.span(
                        Span::new("at the edge (λ1 ≥ 0.9·2/η)", band[0]..=band[1])
                            .axis(Axis::X)
                            .fill(pal.edge_band)
                            .border_width(0.0),
                    );
                }
                let thr = step_line(&run.threshold);
                pu.line(
                    Line::new(format!("2/η{main_sfx}"), thr)
                        .color(pal.threshold)
                        .style(LineStyle::Dashed { length: 8.0 })
                        .width(1.5),
                );
                for (i, e) in run.eigs.iter().enumerate() {
                    pu.line(
                        Line::new(format!("λ{}{main_sfx}", i + 1), drawn(e, false))
                            .color(pal.eigs[i % pal.eigs.len()])
                            .width(if i == 0 { 2.0 } else { 1.2 }),
                    );
                }
                for o in overlays {
                    let c = overlay_color(o, pal);
                    if o.kind != OverlayKind::Flow && !o.view.threshold.is_empty() {
                        pu.line(
                            Line::new(format!("2/η · {}", o.name()), step_line(&o.view.threshold))
                                .color(c)
                                .style(LineStyle::Dashed { length: 8.0 })
                                .width(1.5),
                        );
                    }
                    if let Some(e) = o.view.eigs.first() {
                        pu.line(
                            Line::new(format!("λ1 · {}", o.name()), drawn(e, false))
                                .color(c)
                                .width(2.0),
                        );
                    }
                }
                if !theory_pred.is_empty() {
                    pu.line(
                        Line::new("λ1 predicted (Damian et al. 2022 map)", theory_pred.clone())
                            .color(pal.predicted)
                            .style(LineStyle::Dashed { length: 5.0 })
                            .width(1.8),
                    );
                }
                if let Some(c) = run.first_crossing {
                    pu.vline(
                        VLine::new("first crossing of 2/η", c[0])
                            .color(pal.crossing)
                            .style(LineStyle::Dotted { spacing: 4.0 }),
                    );
                    pu.points(
                        Points::new("first crossing of 2/η", vec![c])
                            .shape(MarkerShape::Diamond)
                            .radius(6.0)
                            .color(pal.crossing),
                    );
                }
            });
    }
}
