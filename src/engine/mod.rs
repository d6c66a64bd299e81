//! The compute core. Nothing here imports egui, eframe or rfd.

pub mod data;
pub mod export;
pub mod float;
pub mod rng;
pub mod theory;

pub use float::{Float, Precision};
pub use rng::Rng;
pub mod bench;
pub mod central_flow;
pub mod config;
pub mod error;
pub mod estimate;
pub mod figure;
pub mod lanczos;
pub mod lobpcg;
pub mod model;
pub mod network;
pub mod plot;
pub mod presets;
pub mod probe;
pub mod run_folder;
pub mod session;
pub mod worker;
