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
    #[error("{0}")]
    Other(String),
}
