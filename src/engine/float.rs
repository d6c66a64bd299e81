//! The floating-point types the engine computes in: `f32` (CIFAR-size runs) and `f64`
//! (small nets, theory tools, tests).

use ndarray::{ArrayView2, ArrayViewMut2};
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
    /// tanh for the training hot loop, branch-free so loops over arrays vectorise: in f32 a
    /// rational approximation (Eigen's `generic_fast_tanh_float`), in f64 [`tanh_f64`]; both
    /// within a few ulp of the correctly rounded value (tested in `model::tests`).
    fn tanh_fast(self) -> Self;
    /// `c ← a·b` (`c ← c + a·b` with `accumulate`) by this precision's own kernel where there
    /// is one and it applies (f32 with AVX-512: [`sgemm`](super::sgemm)); `false`, with `c`
    /// untouched, otherwise.
    fn matmul_own_kernel(
        a: ArrayView2<'_, Self>,
        b: ArrayView2<'_, Self>,
        accumulate: bool,
        c: &mut ArrayViewMut2<'_, Self>,
    ) -> bool {
        let _ = (a, b, accumulate, c);
        false
    }
    /// A right operand packed for this precision's own kernel, kept between products.
    type PackedRight: Default + Send + Sync;
    /// Whether this precision has its own kernel on this CPU.
    fn has_own_kernel() -> bool {
        false
    }
    /// Packs `b` into `packed` for [`matmul_packed_own_kernel`](Self::matmul_packed_own_kernel),
    /// up to `threads` threads side by side; `false` where the own kernel does not apply.
    fn pack_right_own_kernel(
        b: ArrayView2<'_, Self>,
        packed: &mut Self::PackedRight,
        threads: usize,
    ) -> bool {
        let _ = (b, packed, threads);
        false
    }
    /// `c ← a·b` for the `b` last packed into `packed`; `false`, with `c` untouched, where the
    /// own kernel does not apply.
    fn matmul_packed_own_kernel(
        a: ArrayView2<'_, Self>,
        packed: &Self::PackedRight,
        c: &mut ArrayViewMut2<'_, Self>,
    ) -> bool {
        let _ = (a, packed, c);
        false
    }
}

impl Float for f32 {
    const PRECISION: Precision = Precision::F32;
    fn matmul_own_kernel(
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
        accumulate: bool,
        c: &mut ArrayViewMut2<'_, f32>,
    ) -> bool {
        super::sgemm::matmul_f32(a, b, accumulate, c)
    }
    type PackedRight = super::sgemm::PackedRight;
    fn has_own_kernel() -> bool {
        super::sgemm::available()
    }
    fn pack_right_own_kernel(
        b: ArrayView2<'_, f32>,
        packed: &mut Self::PackedRight,
        threads: usize,
    ) -> bool {
        packed.pack(b, threads)
    }
    fn matmul_packed_own_kernel(
        a: ArrayView2<'_, f32>,
        packed: &Self::PackedRight,
        c: &mut ArrayViewMut2<'_, f32>,
    ) -> bool {
        super::sgemm::matmul_packed(a, packed, c)
    }
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
    type PackedRight = ();
    #[inline(always)]
    fn tanh_fast(self) -> Self {
        tanh_f64(self)
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

/// e^y for 1.25 ≤ y ≤ 40 (what [`tanh_f64`] needs), branch-free: Cephes' `exp` (range
/// reduction by ln 2 in two parts, a (2,3) Padé form of e^r on |r| ≤ ln2/2, then 2^n from the
/// exponent bits), within about an ulp.
#[inline(always)]
#[allow(clippy::excessive_precision)] // coefficients as published
fn exp_mid(y: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const C1: f64 = 6.931_457_519_531_25e-1;
    const C2: f64 = 1.428_606_820_309_417_232_12e-6;
    let n = (LOG2E * y + 0.5).floor();
    let r = y - n * C1 - n * C2;
    let rr = r * r;
    let px = r
        * ((1.261_771_930_748_105_908_78e-4 * rr + 3.029_944_077_074_419_613_00e-2) * rr
            + 9.999_999_999_999_999_999_10e-1);
    let q = ((3.001_985_051_386_644_550_42e-6 * rr + 2.524_483_403_496_841_041_92e-3) * rr
        + 2.272_655_482_081_550_287_66e-1)
        * rr
        + 2.000_000_000_000_000_000_09;
    let e = 1.0 + 2.0 * (px / (q - px));
    // 2^n for 1 ≤ n ≤ 58: a normal number built from its exponent bits.
    e * f64::from_bits(((n as i64 + 1023) as u64) << 52)
}

/// tanh in f64 without branches or library calls, so `mapv` over an array vectorises (std's
/// tanh is a libm call, most of an f64 forward pass): Cephes' `tanh`, a (2,3) rational
/// approximation for |x| < 0.625 and 1 − 2/(e^{2|x|} + 1) above, both computed and one
/// selected. Within 2 ulp of std's tanh over the whole line (tested in `model::tests`).
#[inline(always)]
#[allow(clippy::excessive_precision)] // coefficients as published
pub fn tanh_f64(x: f64) -> f64 {
    let a = x.abs();
    let s = x * x;
    let p = (-9.643_991_794_250_522_386_28e-1 * s - 9.928_772_310_019_185_865_64e1) * s
        - 1.614_687_684_417_084_479_52e3;
    let q = ((s + 1.128_116_784_916_329_314_02e2) * s + 2.235_488_390_601_004_485_83e3) * s
        + 4.844_063_053_251_254_860_48e3;
    let small = x + x * s * (p / q);
    // tanh(20) rounds to 1 in f64; clamping keeps e^{2a} finite. NaN stays NaN through `a`.
    let e = exp_mid(2.0 * a.clamp(0.625, 20.0));
    let large = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    if a < 0.625 || a.is_nan() {
        small
    } else {
        large
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
