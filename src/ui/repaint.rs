//! When the app repaints: only when something changed (a worker event, an input) or a run is
//! live, and at most every [`BACKGROUND_INTERVAL`] while the window is unfocused, minimised or
//! occluded, so that a 2-core laptop gives its CPU to training.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use eframe::egui;

use crate::engine::worker::Waker;

/// Shortest interval between repaints asked for by workers while the window has the focus.
pub const FOREGROUND_INTERVAL: Duration = Duration::from_millis(16);
/// Shortest interval between repaints (or, while hidden, logic ticks) asked for by workers
/// while the window is in the background: at most 10 per second.
pub const BACKGROUND_INTERVAL: Duration = Duration::from_millis(100);

/// Shared between the app and every worker's waker; the app updates it each frame in
/// `logic` from the window's state.
#[derive(Clone, Debug, Default)]
pub struct RepaintPolicy {
    background: Arc<AtomicBool>,
}

impl RepaintPolicy {
    /// Read the window's state (focus, minimised, occluded); returns whether it is in the
    /// background. Unknown states count as foreground.
    pub fn observe(&self, ctx: &egui::Context) -> bool {
        let bg = ctx.input(|i| {
            let v = i.viewport();
            v.focused == Some(false) || v.visible() == Some(false) || v.minimized == Some(true)
        });
        self.set_background(bg);
        bg
    }

    pub fn set_background(&self, bg: bool) {
        self.background.store(bg, Ordering::Relaxed);
    }

    pub fn is_background(&self) -> bool {
        self.background.load(Ordering::Relaxed)
    }

    /// Shortest interval between repaints in the current state.
    pub fn interval(&self) -> Duration {
        if self.is_background() {
            BACKGROUND_INTERVAL
        } else {
            FOREGROUND_INTERVAL
        }
    }

    /// Ask for a repaint within [`Self::interval`]; egui keeps the earliest pending request, so
    /// a burst of calls gives one repaint.
    pub fn request(&self, ctx: &egui::Context) {
        ctx.request_repaint_after(self.interval());
    }

    /// The waker a worker calls after each event it sends.
    pub fn waker(&self, ctx: &egui::Context) -> Waker {
        let p = self.clone();
        let c = ctx.clone();
        Box::new(move || p.request(&c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_state_sets_the_interval() {
        let p = RepaintPolicy::default();
        assert_eq!(p.interval(), FOREGROUND_INTERVAL);
        let q = p.clone();
        q.set_background(true);
        assert!(p.is_background(), "clones share the state");
        assert_eq!(p.interval(), BACKGROUND_INTERVAL);
        assert!(BACKGROUND_INTERVAL >= Duration::from_millis(100));
    }

    #[test]
    fn an_unfocused_window_is_in_the_background() {
        let ctx = egui::Context::default();
        let p = RepaintPolicy::default();
        let mut raw = egui::RawInput::default();
        if let Some(v) = raw.viewports.get_mut(&egui::ViewportId::ROOT) {
            v.focused = Some(false);
        }
        let _ = ctx.run_logic(&raw, |ctx| {
            p.observe(ctx);
        });
        assert!(p.is_background());
        if let Some(v) = raw.viewports.get_mut(&egui::ViewportId::ROOT) {
            v.focused = Some(true);
            v.minimized = Some(false);
            v.occluded = Some(false);
        }
        let _ = ctx.run_logic(&raw, |ctx| {
            p.observe(ctx);
        });
        assert!(!p.is_background());
    }
}
