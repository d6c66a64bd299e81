//! Theory simulators from the seed paper (Shapira, *Edge of Stability Training Dynamics*):
//!
//! * [`self_stab`]: the predicted edge-of-stability map of §4 (Definition 4.1, after
//!   Damian et al. 2022) with its four stages (§4.2);
//! * [`measured`]: α, β, x_t, y_t of §4 measured along a real GD run, with the predicted map
//!   stepped alongside (issue 5);
//! * [`linear`]: the two-layer linear network of §5 (after Li et al. 2022) trained by full-batch
//!   GD, with the exact loss-Hessian sharpness and step-by-step checks of Lemmas 4 and 5.
//!
//! Both report divergence as a normal [`Outcome`], never as an error; [`TheoryError`] is for bad
//! parameters and failed writes.

use serde::{Deserialize, Serialize};

use super::export::ExportError;

pub mod linear;
pub mod measured;
pub mod self_stab;

/// Why a theory simulation could not start or could not write its results.
#[derive(Debug, thiserror::Error)]
pub enum TheoryError {
    /// A parameter breaks a rule; the message names the parameter, its value and the rule.
    #[error("invalid parameter `{name}` = {value}: {rule}")]
    InvalidParam {
        name: &'static str,
        value: String,
        rule: String,
    },
    /// Arrays that do not fit together (e.g. a flat parameter vector of the wrong length).
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A results file that cannot be read back (names the file and the problem).
    #[error("cannot read {path}: {message}")]
    Read {
        path: std::path::PathBuf,
        message: String,
    },
}

impl TheoryError {
    /// An [`TheoryError::InvalidParam`] for `name` with value `value`.
    pub fn invalid(
        name: &'static str,
        value: impl std::fmt::Display,
        rule: impl Into<String>,
    ) -> Self {
        TheoryError::InvalidParam {
            name,
            value: value.to_string(),
            rule: rule.into(),
        }
    }
}

/// How a simulation ended. Divergence is a result worth seeing, not an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// Every requested step was computed.
    Completed,
    /// The state at `step` blew up (non-finite or beyond the bound); rows before `step` are kept.
    Diverged { step: usize, reason: String },
}

impl Outcome {
    pub fn is_diverged(&self) -> bool {
        matches!(self, Outcome::Diverged { .. })
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Completed => write!(f, "completed"),
            Outcome::Diverged { step, reason } => write!(f, "diverged at step {step} ({reason})"),
        }
    }
}

pub use crate::engine::export::{SaveSteps, parse_save_steps};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_steps_parse_and_contains() {
        assert_eq!(
            parse_save_steps("500, 0,100,100"),
            Ok(SaveSteps::List(vec![0, 100, 500]))
        );
        assert_eq!(parse_save_steps("every:25"), Ok(SaveSteps::Every(25)));
        let e = parse_save_steps("every:25").unwrap_or(SaveSteps::Every(1));
        assert!(e.contains(0) && e.contains(50) && !e.contains(49));
        let l = parse_save_steps("3,7").unwrap_or(SaveSteps::List(vec![]));
        assert!(l.contains(3) && l.contains(7) && !l.contains(0));
        for bad in ["", "every:0", "every:x", "1,,2", "1,-2", "abc", "every:"] {
            assert!(parse_save_steps(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(SaveSteps::Every(4).to_string(), "every:4");
        assert_eq!(SaveSteps::List(vec![1, 2]).to_string(), "1,2");
    }

    #[test]
    fn outcome_display() {
        assert_eq!(Outcome::Completed.to_string(), "completed");
        let d = Outcome::Diverged {
            step: 3,
            reason: "x".into(),
        };
        assert!(d.is_diverged());
        assert_eq!(d.to_string(), "diverged at step 3 (x)");
    }
}
