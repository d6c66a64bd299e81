//! Multi-layer perceptrons: architecture, activations, parameter layout and initialisation.
//!
//! Parameters live in one flat vector (what GD updates and Lanczos works on), layer by layer:
//! `W1` (out × in, row-major, PyTorch `Linear` layout), then `b1`, then `W2`, `b2`, …

use serde::{Deserialize, Serialize};

use super::Float;
use super::rng::Rng;

/// Hidden-layer nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Tanh,
    Relu,
    Elu,
    Softplus,
    /// Exact GELU, x·Φ(x) with Φ the standard normal CDF (PyTorch's default, erf-based).
    Gelu,
    /// x·sigmoid(x) (also called SiLU).
    Swish,
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 7] = [
        Activation::Tanh,
        Activation::Relu,
        Activation::Elu,
        Activation::Softplus,
        Activation::Gelu,
        Activation::Swish,
        Activation::Identity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Elu => "elu",
            Activation::Softplus => "softplus",
            Activation::Gelu => "gelu",
            Activation::Swish => "swish",
            Activation::Identity => "identity",
        }
    }

    /// σ(z), σ'(z), σ''(z). ReLU's second derivative is 0 (almost everywhere), as autodiff has it.
    #[inline]
    pub fn eval<T: Float>(self, z: T) -> (T, T, T) {
        let one = T::one();
        match self {
            Activation::Tanh => {
                let t = z.tanh();
                let d = one - t * t;
                (t, d, T::of(-2.0) * t * d)
            }
            Activation::Relu => {
                if z > T::zero() {
                    (z, one, T::zero())
                } else {
                    (T::zero(), T::zero(), T::zero())
                }
            }
            Activation::Elu => {
                if z > T::zero() {
                    (z, one, T::zero())
                } else {
                    let e = z.exp();
                    (e - one, e, e)
                }
            }
            Activation::Softplus => {
                // log(1 + e^z) computed without overflow; σ' = sigmoid.
                let sp = if z > T::zero() {
                    z + (-z).exp().ln_1p()
                } else {
                    z.exp().ln_1p()
                };
                let s = sigmoid(z);
                (sp, s, s * (one - s))
            }
            Activation::Gelu => {
                let x = z.f64();
                let cdf = 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                (
                    T::of(x * cdf),
                    T::of(cdf + x * pdf),
                    T::of(pdf * (2.0 - x * x)),
                )
            }
            Activation::Swish => {
                let s = sigmoid(z);
                let ds = s * (one - s);
                (
                    z * s,
                    s + z * ds,
                    ds * (T::of(2.0) + z * (one - T::of(2.0) * s)),
                )
            }
            Activation::Identity => (z, one, T::zero()),
        }
    }

    /// Whether σ'' is identically zero (the R-op can skip a term).
    pub fn is_piecewise_linear(self) -> bool {
        matches!(self, Activation::Relu | Activation::Identity)
    }
}

#[inline]
fn sigmoid<T: Float>(z: T) -> T {
    let one = T::one();
    if z >= T::zero() {
        one / (one + (-z).exp())
    } else {
        let e = z.exp();
        e / (one + e)
    }
}

impl std::str::FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.to_ascii_lowercase();
        let l = if l == "silu" { "swish".to_string() } else { l };
        Activation::ALL
            .iter()
            .copied()
            .find(|a| a.name() == l)
            .ok_or_else(|| {
                format!(
                    "unknown activation {s:?}; use one of {}",
                    Activation::ALL.map(|a| a.name()).join(", ")
                )
            })
    }
}

/// Weight initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Init {
    /// PyTorch's `nn.Linear` default: weights and biases U(−1/√fan_in, 1/√fan_in).
    #[default]
    Pytorch,
    /// Glorot/Xavier normal: N(0, 2/(fan_in + fan_out)), zero biases.
    XavierNormal,
    /// N(0, σ²/fan_in) weights, zero biases.
    Normal { sigma: f64 },
}

impl std::str::FromStr for Init {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.to_ascii_lowercase();
        match l.as_str() {
            "pytorch" | "default" => Ok(Init::Pytorch),
            "xavier" | "xavier-normal" | "glorot" => Ok(Init::XavierNormal),
            _ => {
                if let Some(rest) = l.strip_prefix("normal") {
                    let rest = rest.trim_start_matches([':', '=']);
                    let sigma = if rest.is_empty() {
                        1.0
                    } else {
                        rest.parse::<f64>()
                            .map_err(|_| format!("bad σ in init {s:?} (e.g. normal:1.0)"))?
                    };
                    Ok(Init::Normal { sigma })
                } else {
                    Err(format!(
                        "unknown init {s:?}; use pytorch, xavier or normal:SIGMA"
                    ))
                }
            }
        }
    }
}

/// Architecture of a fully connected network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpSpec {
    pub input_dim: usize,
    pub hidden: Vec<usize>,
    pub output_dim: usize,
    pub activation: Activation,
    pub bias: bool,
}

/// Where one layer's parameters sit in the flat vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerLayout {
    pub fan_in: usize,
    pub fan_out: usize,
    /// Offset of W (fan_out × fan_in, row-major).
    pub w_offset: usize,
    /// Offset of b (fan_out), if the net has biases.
    pub b_offset: Option<usize>,
}

impl LayerLayout {
    pub fn w_range(&self) -> std::ops::Range<usize> {
        self.w_offset..self.w_offset + self.fan_in * self.fan_out
    }
    pub fn b_range(&self) -> Option<std::ops::Range<usize>> {
        self.b_offset.map(|o| o..o + self.fan_out)
    }
}

impl MlpSpec {
    /// Layer widths from input to output.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.input_dim];
        w.extend(&self.hidden);
        w.push(self.output_dim);
        w
    }

    pub fn layout(&self) -> Vec<LayerLayout> {
        let widths = self.widths();
        let mut off = 0;
        widths
            .windows(2)
            .map(|p| {
                let (fan_in, fan_out) = (p[0], p[1]);
                let w_offset = off;
                off += fan_in * fan_out;
                let b_offset = if self.bias {
                    let b = off;
                    off += fan_out;
                    Some(b)
                } else {
                    None
                };
                LayerLayout {
                    fan_in,
                    fan_out,
                    w_offset,
                    b_offset,
                }
            })
            .collect()
    }

    pub fn num_params(&self) -> usize {
        self.layout()
            .last()
            .map(|l| {
                l.b_range()
                    .map(|r| r.end)
                    .unwrap_or_else(|| l.w_range().end)
            })
            .unwrap_or(0)
    }

    /// Short description like `fc-tanh 3072-200-200-10`.
    pub fn describe(&self) -> String {
        let w: Vec<String> = self.widths().iter().map(|x| x.to_string()).collect();
        format!(
            "fc-{} {}{}",
            self.activation.name(),
            w.join("-"),
            if self.bias { "" } else { " (no bias)" }
        )
    }

    /// Initial parameters (f64; cast to the run's precision by the caller). Draws layer by
    /// layer, W row-major then b, from `rng`; `scale` multiplies everything.
    pub fn init_params(&self, init: Init, scale: f64, rng: &mut Rng) -> Vec<f64> {
        let mut p = vec![0.0; self.num_params()];
        for layer in self.layout() {
            let fan_in = layer.fan_in as f64;
            let fan_out = layer.fan_out as f64;
            match init {
                Init::Pytorch => {
                    let bound = 1.0 / fan_in.sqrt();
                    for x in &mut p[layer.w_range()] {
                        *x = scale * rng.uniform_range(-bound, bound);
                    }
                    if let Some(r) = layer.b_range() {
                        for x in &mut p[r] {
                            *x = scale * rng.uniform_range(-bound, bound);
                        }
                    }
                }
                Init::XavierNormal => {
                    let std = (2.0 / (fan_in + fan_out)).sqrt();
                    for x in &mut p[layer.w_range()] {
                        *x = scale * std * rng.normal();
                    }
                }
                Init::Normal { sigma } => {
                    let std = sigma / fan_in.sqrt();
                    for x in &mut p[layer.w_range()] {
                        *x = scale * std * rng.normal();
                    }
                }
            }
        }
        p
    }
}

/// Parse a hidden-layer list such as `200,200` (empty string or `-` = no hidden layer).
pub fn parse_widths(s: &str) -> Result<Vec<usize>, String> {
    let s = s.trim();
    if s.is_empty() || s == "-" {
        return Ok(vec![]);
    }
    s.split(',')
        .map(|w| {
            let w = w.trim();
            match w.parse::<usize>() {
                Ok(0) => Err("a hidden layer must have at least one unit".to_string()),
                Ok(v) => Ok(v),
                Err(_) => Err(format!("bad width {w:?} in {s:?} (e.g. 200,200)")),
            }
        })
        .collect()
}

/// Parse an architecture string `fc-ACT:W1,W2,…` (e.g. `fc-tanh:200,200`) into activation
/// and hidden widths.
pub fn parse_arch(s: &str) -> Result<(Activation, Vec<usize>), String> {
    let rest = s.strip_prefix("fc-").ok_or_else(|| {
        format!("architecture {s:?} must look like fc-ACTIVATION:WIDTHS, e.g. fc-tanh:200,200")
    })?;
    let (act, widths) = rest.split_once(':').unwrap_or((rest, ""));
    if rest.contains(':') && widths.trim().is_empty() {
        return Err(format!(
            "architecture {s:?} has no widths after the colon: write e.g. fc-tanh:200,200 (a model without hidden layers is fc-tanh with no colon)"
        ));
    }
    Ok((act.parse()?, parse_widths(widths)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cifar_shape_has_656810_params() {
        let spec = MlpSpec {
            input_dim: 3072,
            hidden: vec![200, 200],
            output_dim: 10,
            activation: Activation::Tanh,
            bias: true,
        };
        assert_eq!(spec.num_params(), 656_810);
        assert_eq!(spec.describe(), "fc-tanh 3072-200-200-10");
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        for act in Activation::ALL {
            for &z in &[-2.3, -0.7, 0.3, 1.1, 2.9] {
                let h = 1e-5;
                let (_, d, dd) = act.eval::<f64>(z);
                let fd1 = (act.eval::<f64>(z + h).0 - act.eval::<f64>(z - h).0) / (2.0 * h);
                let fd2 = (act.eval::<f64>(z + h).1 - act.eval::<f64>(z - h).1) / (2.0 * h);
                assert!((d - fd1).abs() < 1e-8, "{act:?} σ' at {z}: {d} vs {fd1}");
                assert!((dd - fd2).abs() < 1e-8, "{act:?} σ'' at {z}: {dd} vs {fd2}");
            }
        }
    }

    #[test]
    fn fast_f32_tanh_is_accurate() {
        let mut worst: f64 = 0.0;
        for i in -200_000..=200_000 {
            let x = i as f32 * 5e-5; // [-10, 10]
            let exact = (x as f64).tanh();
            let err = (x.tanh_fast() as f64 - exact).abs() / exact.abs().max(1e-30);
            worst = worst.max(if exact == 0.0 { 0.0 } else { err });
        }
        assert!(worst < 1e-6, "worst relative error {worst:e}");
    }

    #[test]
    fn fast_f64_tanh_is_within_two_ulp() {
        let mut worst_ulp: f64 = 0.0;
        let mut at = 0.0;
        let mut check = |x: f64| {
            let exact = x.tanh();
            let got = x.tanh_fast();
            let ulp = if exact == 0.0 {
                if got == 0.0 { 0.0 } else { f64::INFINITY }
            } else {
                (got - exact).abs() / (exact.abs() * f64::EPSILON)
            };
            if ulp > worst_ulp {
                worst_ulp = ulp;
                at = x;
            }
        };
        for i in -400_000..=400_000 {
            check(i as f64 * 6.25e-5); // [-25, 25], across the 0.625 switch
        }
        for e in -320..=3 {
            for m in [1.0, 1.7, 3.3, 6.1] {
                check(m * 10f64.powi(e));
                check(-m * 10f64.powi(e));
            }
        }
        for x in [
            0.625,
            0.625 - 1e-16,
            20.0,
            700.0,
            f64::MAX,
            f64::INFINITY,
            -0.0,
        ] {
            check(x);
            check(-x);
        }
        assert!(
            worst_ulp <= 2.0,
            "worst error {worst_ulp:.2} ulp at x = {at:e}"
        );
        assert!(f64::NAN.tanh_fast().is_nan());
    }

    #[test]
    fn pytorch_init_bounds_and_parsing() {
        let spec = MlpSpec {
            input_dim: 16,
            hidden: vec![8],
            output_dim: 3,
            activation: Activation::Tanh,
            bias: true,
        };
        let p = spec.init_params(Init::Pytorch, 1.0, &mut Rng::seed_from_u64(1));
        let l = spec.layout();
        assert!(p[l[0].w_range()].iter().all(|x| x.abs() <= 0.25));
        assert!(
            p[l[1].w_range()]
                .iter()
                .all(|x| x.abs() <= 1.0 / 8f64.sqrt())
        );
        assert_eq!(
            parse_arch("fc-tanh:200,200").unwrap(),
            (Activation::Tanh, vec![200, 200])
        );
        assert!(parse_arch("conv-relu").is_err());
        assert!(parse_arch("fc-tanh:200,0").is_err());
        assert_eq!(
            "normal:2".parse::<Init>().unwrap(),
            Init::Normal { sigma: 2.0 }
        );
    }
}
