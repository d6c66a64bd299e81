//! The floating-point types the engine computes in: `f32` (CIFAR-size runs) and `f64`
//! (small nets, theory tools, tests).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, MulAssign, SubAssign};

use serde::{Deserialize, Serialize};

/// A scalar the engine can train in.
pub trait Float:
    num_traits::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + ndarray_npy::WritableElement
    + 'static
{
    /// Which precision this is, for configs and file headers.
    const PRECISION: Precision;
    fn of(x: f64) -> Self;
    fn f64(self) -> f64;
}

impl Float for f32 {
    const PRECISION: Precision = Precision::F32;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const PRECISION: Precision = Precision::F64;
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
}

/// Run-time choice of precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    F64,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "single" => Ok(Precision::F32),
            "f64" | "float64" | "double" => Ok(Precision::F64),
            other => Err(format!("unknown precision {other:?} (use f32 or f64)")),
        }
    }
}
