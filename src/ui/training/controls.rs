//! The Training workspace's side panel: data, network, gradient descent, sharpness and stop
//! rules (the compare and theory sections live in their own files), and the folder dialog.

use std::path::PathBuf;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};

use super::model::parse_widths;
use super::{DatasetKind, TrainingWorkspace};
use crate::engine::config::{ConfigError, ConfigField};
use crate::engine::data::DatasetSpec;
use crate::engine::model::{Activation, Init};
use crate::engine::network::LossKind;
use crate::ui::plots::fmt_num;
use crate::ui::shell::{AppCommand, Cx};
use crate::ui::theme;
use crate::ui::widgets::{self, around};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InitKind {
    Pytorch,
    Xavier,
    Normal,
}

use ConfigField as F;

impl TrainingWorkspace {
    pub(super) fn controls_ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>) {
        let probs = self.problems();
        let pal = theme::palette(ui.ctx());
        let show = |ui: &mut egui::Ui, fields: &[ConfigField]| {
            for p in probs.iter().filter(|p| fields.contains(&p.field)) {
                ui.label(RichText::new(format!("! {}", p.message)).color(pal.warn_fg));
            }
        };
        if let Some(p) = &self.preset {
            ui.label(RichText::new(p.title).strong());
            egui::CollapsingHeader::new("About this preset")
                .default_open(false)
                .show(ui, |ui| {
                    ui.label(RichText::new(p.description).small());
                });
            ui.label(RichText::new(p.source).small().color(pal.muted));
            ui.separator();
        }

        ui.heading("Data");
        let mut kind = DatasetKind::of(&self.config.dataset);
        let old = kind;
        egui::ComboBox::from_label("dataset")
            .selected_text(kind.label())
            .show_ui(ui, |ui| {
                for k in [
                    DatasetKind::Digits,
                    DatasetKind::Cifar,
                    DatasetKind::Chebyshev,
                    DatasetKind::Teacher,
                ] {
                    ui.selectable_value(&mut kind, k, k.label());
                }
            });
        if kind != old {
            self.config.dataset = match kind {
                DatasetKind::Digits => DatasetSpec::Digits {
                    n_train: 1000,
                    n_test: 797,
                },
                DatasetKind::Cifar => DatasetSpec::Cifar10 {
                    dir: PathBuf::from(self.cifar_dir.trim()),
                    n_train: 5000,
                    n_test: 1000,
                    stats_file: None,
                    classes: None,
                },
                DatasetKind::Chebyshev => DatasetSpec::Chebyshev { n: 20, degree: 4 },
                DatasetKind::Teacher => DatasetSpec::Teacher {
                    n_train: 500,
                    n_test: 200,
                    dim: 20,
                    num_classes: 4,
                    seed: 0,
                },
            };
            if kind == DatasetKind::Cifar {
                self.sync_cifar_dir();
            }
            if kind == DatasetKind::Chebyshev {
                self.config.loss = LossKind::Mse;
                self.use_acc_goal = false;
                self.config.acc_goal = None;
            }
        }
        let mut cifar_changed = false;
        match &mut self.config.dataset {
            DatasetSpec::Digits { n_train, n_test } => {
                ui.add(slider(n_train, 1..=1797).text("training examples"));
                let max_test = 1797usize.saturating_sub(*n_train);
                *n_test = (*n_test).min(max_test);
                ui.add(slider(n_test, 0..=max_test).text("test examples"));
            }
            DatasetSpec::Cifar10 {
                n_train, n_test, ..
            } => {
                ui.add(
                    slider(n_train, 1..=50_000)
                        .logarithmic(true)
                        .text("training subset"),
                );
                ui.add(
                    slider(n_test, 0..=10_000)
                        .logarithmic(true)
                        .text("test subset"),
                );
                ui.horizontal(|ui| {
                    let l = ui.label("folder");
                    let r = ui
                        .add(
                            egui::TextEdit::singleline(&mut self.cifar_dir)
                                .hint_text("…/cifar-10-batches-bin")
                                .desired_width(150.0),
                        )
                        .labelled_by(l.id);
                    cifar_changed = r.changed();
                    if ui
                        .add_enabled(self.folder_rx.is_none(), egui::Button::new("Browse…"))
                        .on_hover_text("Choose the cifar-10-batches-bin folder")
                        .clicked()
                    {
                        self.browse_cifar_dir(ui.ctx());
                    }
                });
            }
            DatasetSpec::Chebyshev { n, degree } => {
                ui.add(slider(n, 2..=1000).text("points"));
                ui.add(slider(degree, 0..=20).text("degree"));
            }
            DatasetSpec::Teacher {
                n_train,
                n_test,
                dim,
                num_classes,
                seed,
            } => {
                ui.add(
                    slider(n_train, 1..=20_000)
                        .logarithmic(true)
                        .text("training examples"),
                );
                ui.add(
                    slider(n_test, 0..=20_000)
                        .logarithmic(true)
                        .text("test examples"),
                );
                ui.add(slider(dim, 1..=1000).logarithmic(true).text("input dim"));
                ui.add(slider(num_classes, 2..=100).text("classes"));
                ui.add(egui::DragValue::new(seed))
                    .on_hover_text("data seed");
            }
        }
        if cifar_changed {
            self.sync_cifar_dir();
        }
        show(ui, &[F::CifarDir, F::Subset]);

        ui.separator();
        ui.heading("Network");
        ui.horizontal(|ui| {
            let l = ui.label("hidden widths");
            let r = ui
                .add(egui::TextEdit::singleline(&mut self.widths_text).desired_width(110.0))
                .labelled_by(l.id)
                .on_hover_text("comma-separated, e.g. 64,64");
            if r.changed()
                && let Ok(w) = parse_widths(&self.widths_text)
            {
                self.config.hidden = w;
            }
        });
        show(ui, &[F::Arch]);
        egui::ComboBox::from_label("activation")
            .selected_text(self.config.activation.name())
            .show_ui(ui, |ui| {
                for a in Activation::ALL {
                    ui.selectable_value(&mut self.config.activation, a, a.name());
                }
            });
        egui::ComboBox::from_label("loss")
            .selected_text(match self.config.loss {
                LossKind::Mse => "MSE",
                LossKind::CrossEntropy => "cross-entropy",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.config.loss, LossKind::Mse, "MSE");
                ui.selectable_value(
                    &mut self.config.loss,
                    LossKind::CrossEntropy,
                    "cross-entropy",
                );
            });
        show(ui, &[F::Loss]);
        let mut ik = match self.config.init {
            Init::Pytorch => InitKind::Pytorch,
            Init::XavierNormal => InitKind::Xavier,
            Init::Normal { .. } => InitKind::Normal,
        };
        let old_ik = ik;
        egui::ComboBox::from_label("init")
            .selected_text(match ik {
                InitKind::Pytorch => "PyTorch default",
                InitKind::Xavier => "Xavier normal",
                InitKind::Normal => "Normal σ/√fan_in",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut ik, InitKind::Pytorch, "PyTorch default");
                ui.selectable_value(&mut ik, InitKind::Xavier, "Xavier normal");
                ui.selectable_value(&mut ik, InitKind::Normal, "Normal σ/√fan_in");
            });
        if ik != old_ik {
            self.config.init = match ik {
                InitKind::Pytorch => Init::Pytorch,
                InitKind::Xavier => Init::XavierNormal,
                InitKind::Normal => Init::Normal { sigma: 1.0 },
            };
        }
        if let Init::Normal { sigma } = &mut self.config.init {
            ui.add(slider(sigma, 0.01..=10.0).logarithmic(true).text("σ"));
        }
        ui.add(
            slider(&mut self.config.init_scale, 0.01..=10.0)
                .logarithmic(true)
                .text("init scale"),
        );
        show(ui, &[F::Init, F::InitScale]);
        ui.horizontal(|ui| {
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.config.seed))
                .labelled_by(l.id);
        });

        ui.separator();
        ui.heading("Gradient descent");
        // Typed values apply on Enter or focus loss (not per keystroke: typing `0` then `.5`
        // must not train at η = 0.0001 in between); a drag applies on release and shows the
        // pending value meanwhile; values outside the slider's range are not clamped but
        // checked, with the reason beside the slider.
        let mut lr = self.lr_pending.unwrap_or(self.config.lr);
        // Two decades around the preset's η on a wide rail (Shift: fine drag).
        let r = widgets::log_slider(
            ui,
            &mut lr,
            around(self.lr_anchor),
            "η (learning rate)",
            false,
        );
        let dragging = r.dragged() || r.is_pointer_button_down_on();
        if r.changed() {
            if dragging {
                self.lr_pending = Some(lr);
            } else {
                self.lr_pending = None;
                self.apply_lr(lr);
            }
        }
        if !dragging && let Some(p) = self.lr_pending.take() {
            self.apply_lr(p);
        }
        if let Some(p) = self.lr_pending {
            ui.label(
                RichText::new(format!("η = {} applies on release", fmt_num(p)))
                    .small()
                    .color(pal.muted),
            );
        }
        if let Some(e) = &self.lr_problem {
            ui.label(RichText::new(format!("! {e}")).small().color(pal.warn_fg));
        }
        let thr = self.config.optimizer.stability_threshold(self.config.lr);
        ui.label(
            RichText::new(format!("2/η = {}", fmt_num(thr)))
                .strong()
                .color(pal.threshold),
        );
        if self.run.as_ref().is_some_and(|r| r.is_active()) {
            ui.label(
                RichText::new("η can be changed during the run")
                    .small()
                    .color(pal.muted),
            );
        }
        show(ui, &[F::Lr, F::Momentum, F::Flow]);
        ui.horizontal(|ui| {
            let l = ui.label("max steps");
            ui.add(egui::DragValue::new(&mut self.config.max_steps).update_while_editing(false))
                .labelled_by(l.id);
        });
        show(ui, &[F::Steps]);

        ui.separator();
        // Own id scope: the widgets keep their ids when labels above come and go.
        ui.scope_builder(
            egui::UiBuilder::new().scope_id(egui::Id::unique("training-compare-runs")),
            |ui| self.compare_ui(ui),
        );

        ui.separator();
        ui.heading("Sharpness");
        ui.add(slider(&mut self.config.neigs, 1..=10).text("eigenvalues k"));
        ui.add(slider(&mut self.config.eig_every, 0..=200).text("every n steps (0 = never)"));
        show(
            ui,
            &[F::Neigs, F::EigEvery, F::LanczosTol, F::LanczosMaxIter],
        );
        ui.horizontal(|ui| {
            let l = ui.label("test every");
            ui.add(egui::DragValue::new(&mut self.config.test_every).update_while_editing(false))
                .labelled_by(l.id);
        });

        ui.separator();
        ui.scope_builder(
            egui::UiBuilder::new().scope_id(egui::Id::unique("training-theory")),
            |ui| self.theory_ui(ui, cx),
        );

        ui.separator();
        ui.scope_builder(
            egui::UiBuilder::new().scope_id(egui::Id::unique("training-central-flow")),
            |ui| self.central_flow_ui(ui),
        );

        ui.separator();
        ui.heading("Stop rules");
        let has_classes = !matches!(self.config.dataset, DatasetSpec::Chebyshev { .. });
        ui.add_enabled_ui(has_classes, |ui| {
            ui.checkbox(&mut self.use_acc_goal, "stop at train accuracy");
        });
        if self.use_acc_goal && has_classes {
            let mut g = self.config.acc_goal.unwrap_or(0.99);
            ui.add(slider(&mut g, 0.5..=1.0).text("accuracy goal"));
            self.config.acc_goal = Some(g);
        } else {
            self.config.acc_goal = None;
        }
        ui.checkbox(&mut self.use_loss_goal, "stop at train loss");
        if self.use_loss_goal {
            let mut g = self.config.loss_goal.unwrap_or(1e-3);
            ui.add(
                slider(&mut g, 1e-8..=1.0)
                    .logarithmic(true)
                    .text("loss goal"),
            );
            self.config.loss_goal = Some(g);
        } else {
            self.config.loss_goal = None;
        }
        ui.add(
            slider(&mut self.config.divergence_factor, 2.0..=1e6)
                .logarithmic(true)
                .text("divergence factor"),
        );
        show(ui, &[F::AccGoal, F::LossGoal, F::DivergenceFactor]);
        let other: Vec<&ConfigError> = probs
            .iter()
            .filter(|p| !beside_a_control(p.field))
            .collect();
        for p in other {
            ui.label(RichText::new(format!("! {p}")).color(pal.warn_fg));
        }
    }

    /// Take the folder chosen in the dialog (and remember it).
    pub(super) fn poll_folder_dialog(&mut self, cx: &mut Cx<'_>) {
        let Some((rx, t0)) = &self.folder_rx else {
            return;
        };
        let t0 = *t0;
        match rx.try_recv() {
            Ok(Some(p)) => {
                self.cifar_dir = p.display().to_string();
                self.checked_dir = self.cifar_dir.clone();
                cx.commands
                    .send(AppCommand::RememberCifarDir(self.cifar_dir.clone()));
                self.sync_cifar_dir();
                self.folder_rx = None;
            }
            Ok(None) => {
                if t0.elapsed() < Duration::from_millis(600) {
                    self.banners.push((
                        "No folder dialog could be opened on this system (no desktop portal or zenity): type the folder path into the field instead.".into(),
                        false,
                    ));
                }
                self.folder_rx = None;
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(std::sync::mpsc::TryRecvError::Disconnected) => self.folder_rx = None,
        }
    }

    /// Open the folder dialog on its own thread (the answer arrives in `poll_folder_dialog`).
    fn browse_cifar_dir(&mut self, ctx: &egui::Context) {
        let (tx, rx) = channel();
        let c = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("eos-folder-dialog".into())
            .spawn(move || {
                let p = if std::env::var_os("EOS_NO_DIALOG").is_some() {
                    None
                } else {
                    rfd::FileDialog::new()
                        .set_title("CIFAR-10 folder (cifar-10-batches-bin)")
                        .pick_folder()
                };
                let _ = tx.send(p);
                c.request_repaint();
            });
        if spawned.is_ok() {
            self.folder_rx = Some((rx, Instant::now()));
        }
    }
}

/// Whether a problem with `f` is shown next to the control that sets it (the others are
/// listed under the controls). Exhaustive: a new field must say where it goes.
fn beside_a_control(f: ConfigField) -> bool {
    use ConfigField as F;
    match f {
        F::CifarDir
        | F::Subset
        | F::Arch
        | F::Loss
        | F::Init
        | F::InitScale
        | F::Lr
        | F::Momentum
        | F::Flow
        | F::Steps
        | F::AccGoal
        | F::LossGoal
        | F::DivergenceFactor
        | F::Neigs
        | F::EigEvery
        | F::LanczosTol
        | F::LanczosMaxIter => true,
        F::ChunkRows | F::Threads => false,
    }
}

/// The side panel's sliders: a typed value applies on Enter or focus loss (not per keystroke)
/// and is never clamped to the slider's range: the configuration's own checks say, beside the
/// control, what is out of bounds (the range only sets the slider's travel).
fn slider<'a, Num: egui::emath::Numeric>(
    value: &'a mut Num,
    range: std::ops::RangeInclusive<Num>,
) -> egui::Slider<'a> {
    egui::Slider::new(value, range)
        .clamping(egui::SliderClamping::Never)
        .update_while_editing(false)
}
