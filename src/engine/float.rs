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
    /// tanh for the training hot loop: exact (`std`) in f64; in f32 a branch-free rational
    /// approximation (Eigen's `generic_fast_tanh_float`) that vectorises, within a few ulp
    /// of the correctly rounded value (tested in `model::tests`).
    fn tanh_fast(self) -> Self;
}

impl Float for f32 {
    const PRECISION: Precision = Precision::F32;
    #[inline(always)]
    #[allow(clippy::excessive_precision)] // coefficients as published
    fn tanh_fast(self) -> Self {
        // Eigen, `generic_fast_tanh_float`: odd 13/even 6 rational approximation on the
        // clamped range; tanh(±7.9) rounds to ±1 in f32.
        let x = self.clamp(-7.905_311, 7.905_311);
        let x2 = x * x;
        let p = x2 * (-2.760_768_5e-16) + 2.000_187_9e-13;
        let p = p * x2 + (-8.604_671_5e-11);
        let p = p * x2 + 5.122_297e-8;
        let p = p * x2 + 1.485_722_4e-5;
        let p = p * x2 + 6.372_619_3e-4;
        let p = p * x2 + 4.893_524_6e-3;
        let p = p * x;
        let q = x2 * 1.198_258_4e-6 + 1.185_347_1e-4;
        let q = q * x2 + 2.268_434_6e-3;
        let q = q * x2 + 4.893_525e-3;
        p / q
    }
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
    fn tanh_fast(self) -> Self {
        self.tanh()
    }
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
