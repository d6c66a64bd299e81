//! The workspace shell: the [`Workspace`] trait every workspace implements, the registry that
//! lists them, and the typed [`AppCommand`] queue through which workspaces ask for anything
//! outside themselves (switch workspace, apply a preset, remember a folder, …).
//!
//! Each frame the app calls [`Workspace::logic`] on every workspace (drain workers, update
//! state; no drawing — this also runs while the window is hidden), then [`Workspace::ui`] on
//! the one shown (draw; send commands), and applies the queued commands after each phase.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;

use super::Settings;
use super::export::ExportManager;
use super::linear::LinearWorkspace;
use super::repaint::RepaintPolicy;
use super::runs::RunsWorkspace;
use super::selfstab::SelfStabWorkspace;
use super::training::TrainingWorkspace;
use crate::engine::presets::Preset;
use crate::engine::theory::measured::TheoryLog;

/// Every workspace, in tab order. A new workspace is one file plus one line here.
pub fn registry(ctx: &egui::Context, repaint: &RepaintPolicy) -> Vec<Box<dyn Workspace>> {
    vec![
        Box::new(TrainingWorkspace::new(ctx, repaint)),
        Box::new(SelfStabWorkspace::default()),
        Box::new(LinearWorkspace::new(ctx, repaint)),
        Box::new(RunsWorkspace::new(ctx)),
    ]
}

/// A workspace's stable name (also the value of `EOS_START_TAB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WorkspaceId(pub &'static str);

impl WorkspaceId {
    /// Whether `s` names this workspace: case, `-` and `_` are ignored, and a prefix is enough
    /// (`train`, `self-stab`).
    pub fn matches(self, s: &str) -> bool {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        !norm.is_empty() && self.0.starts_with(&norm)
    }
}

/// One workspace of the app (a tab).
pub trait Workspace: Any {
    fn id(&self) -> WorkspaceId;
    /// The tab's label.
    fn title(&self) -> &'static str;
    /// Drain workers and update state; no drawing. Called every frame for every workspace,
    /// also while the window is hidden.
    fn logic(&mut self, ctx: &egui::Context, cx: &mut Cx<'_>);
    /// Draw the workspace (it is shown); changes outside it go through `cx.commands`.
    fn ui(&mut self, ui: &mut egui::Ui, cx: &mut Cx<'_>);
    /// Load `preset` if it belongs here (and start it when `start` is set and it can start);
    /// false when the preset is for another workspace.
    fn apply_preset(&mut self, _preset: &Preset, _start: bool, _cx: &mut Cx<'_>) -> bool {
        false
    }
    /// See every command the app applies (after the app's own handling).
    fn on_command(&mut self, _cmd: &AppCommand, _cx: &mut Cx<'_>) {}
    /// The workspace became the one shown.
    fn on_show(&mut self, _cx: &mut Cx<'_>) {}
    /// A strip under the top bar while this workspace is shown (e.g. a request for a folder).
    fn notice_ui(&mut self, _ui: &mut egui::Ui, _cx: &mut Cx<'_>) {}
    /// One line for the frame-rate log (`EOS_FPS_LOG`), e.g. the training step.
    fn activity(&self) -> Option<String> {
        None
    }
}

/// Requests from a workspace (or the app itself) to the app; applied in order.
#[derive(Clone, Debug)]
pub enum AppCommand {
    /// Show this workspace.
    Show(WorkspaceId),
    /// Load a preset into its workspace and show that workspace; `start` also starts it.
    ApplyPreset { preset: Box<Preset>, start: bool },
    /// The Training run's measured theory changed (read by other workspaces via
    /// [`Shared::network_theory`]).
    PublishTheory(Arc<TheoryLog>),
    /// Copy the measured map into the Self-stabilization workspace and show it.
    OpenInSelfStab,
    /// Remember this CIFAR-10 folder in the settings.
    RememberCifarDir(String),
    /// Write the training run's params.npz and data.npz into this export folder.
    SaveNpz(PathBuf),
    /// Show the Runs workspace and open this folder there (a run, or a folder of runs).
    OpenRun(PathBuf),
    /// Show the Runs workspace and its "Open run…" dialog.
    ChooseRun,
    /// Put this run folder first in the recent runs (settings).
    RememberRun(String),
    /// A message in the app's notice area.
    Notify { text: String, error: bool },
}

/// The queue of [`AppCommand`]s.
#[derive(Debug, Default)]
pub struct AppCommands {
    queue: Vec<AppCommand>,
}

impl AppCommands {
    pub fn send(&mut self, cmd: AppCommand) {
        self.queue.push(cmd);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn take(&mut self) -> Vec<AppCommand> {
        std::mem::take(&mut self.queue)
    }
}

/// Data one workspace publishes for the others (written only by the app, from commands).
#[derive(Debug, Default)]
pub struct Shared {
    /// The Training run's measured theory (Damian et al. 2022's α, β, x_t, y_t).
    pub network_theory: Arc<TheoryLog>,
}

/// What a workspace sees of the app during `logic` and `ui`.
pub struct Cx<'a> {
    pub commands: &'a mut AppCommands,
    pub exports: &'a mut ExportManager,
    pub shared: &'a Shared,
    pub settings: &'a Settings,
    pub repaint: &'a RepaintPolicy,
}

/// Everything of the app except the workspaces: a workspace can be driven alone with one.
#[derive(Default)]
pub struct Host {
    pub settings: Settings,
    pub commands: AppCommands,
    pub exports: ExportManager,
    pub shared: Shared,
    pub repaint: RepaintPolicy,
}

impl Host {
    pub fn cx(&mut self) -> Cx<'_> {
        Cx {
            commands: &mut self.commands,
            exports: &mut self.exports,
            shared: &self.shared,
            settings: &self.settings,
            repaint: &self.repaint,
        }
    }
}

/// The workspaces of the app, in tab order.
pub struct Workspaces {
    list: Vec<Box<dyn Workspace>>,
}

impl Workspaces {
    pub fn new(list: Vec<Box<dyn Workspace>>) -> Self {
        Workspaces { list }
    }

    pub fn get<T: Workspace>(&self) -> Option<&T> {
        self.list
            .iter()
            .find_map(|w| (w.as_ref() as &dyn Any).downcast_ref::<T>())
    }

    pub fn get_mut<T: Workspace>(&mut self) -> Option<&mut T> {
        self.list
            .iter_mut()
            .find_map(|w| (w.as_mut() as &mut dyn Any).downcast_mut::<T>())
    }

    pub fn by_id(&mut self, id: WorkspaceId) -> Option<&mut dyn Workspace> {
        self.list
            .iter_mut()
            .find(|w| w.id() == id)
            .map(|w| w.as_mut())
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Workspace> {
        self.list.iter().map(|w| w.as_ref())
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Box<dyn Workspace>> {
        self.list.iter_mut()
    }

    /// The workspace `s` names (see [`WorkspaceId::matches`]).
    pub fn find_id(&self, s: &str) -> Option<WorkspaceId> {
        self.list.iter().map(|w| w.id()).find(|id| id.matches(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_names_match_loosely() {
        let id = WorkspaceId("selfstab");
        for s in ["selfstab", "self-stab", "Self_Stab", "self"] {
            assert!(id.matches(s), "{s}");
        }
        assert!(!id.matches(""));
        assert!(!id.matches("linear"));
        assert!(WorkspaceId("training").matches("train"));
    }

    #[test]
    fn commands_queue_in_order() {
        let mut q = AppCommands::default();
        q.send(AppCommand::OpenInSelfStab);
        q.send(AppCommand::RememberCifarDir("/d".into()));
        assert!(!q.is_empty());
        let v = q.take();
        assert!(matches!(v[0], AppCommand::OpenInSelfStab));
        assert!(matches!(&v[1], AppCommand::RememberCifarDir(d) if d == "/d"));
        assert!(q.is_empty());
    }
}
