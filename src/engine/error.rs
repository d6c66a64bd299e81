//! The engine's error type.

use super::config::ConfigError;
use super::data::DataError;
use super::export::ExportError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The receiver of a run's events is gone (the app closed); the run just ends.
    #[error("the app closed")]
    Disconnected,
    #[error("{0}")]
    Other(String),
}
