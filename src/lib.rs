//! eos-explorer: watch gradient descent find the edge of stability.
//!
//! * [`engine`] is the compute core (data, models, exact derivatives, Lanczos, training loop,
//!   theory simulators, presets, export). It never imports UI crates and builds with
//!   `--no-default-features`.
//! * `ui` (feature `gui`) is the desktop app; it only draws and sends commands to engine workers.

pub mod engine;

#[cfg(feature = "gui")]
pub mod ui;
