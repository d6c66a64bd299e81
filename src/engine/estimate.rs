//! What a run will cost before anything is allocated: parameters, bytes (parameters and
//! optimizer state, data, activation caches, the Lanczos basis) and FLOPs per step. Every size
//! is computed with checked arithmetic, so an absurd width is refused with numbers instead of
//! aborting the process. A plain function of the checked config and the dataset's shape; the
//! CLI calls it before loading data, the app can call it before starting a worker.

use super::Precision;
use super::config::CheckedConfig;
use super::data::DatasetSpec;

/// The shape of a dataset, known from its spec without loading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataShape {
    pub n_train: usize,
    pub n_test: usize,
    pub input_dim: usize,
    pub outputs: usize,
}

impl DataShape {
    pub fn of_spec(spec: &DatasetSpec) -> DataShape {
        match spec {
            DatasetSpec::Digits { n_train, n_test } => DataShape {
                n_train: *n_train,
                n_test: *n_test,
                input_dim: 64,
                outputs: 10,
            },
            DatasetSpec::Cifar10 {
                n_train,
                n_test,
                classes,
                ..
            } => DataShape {
                n_train: *n_train,
                n_test: *n_test,
                input_dim: 3072,
                outputs: classes.as_ref().map_or(10, |c| c.len()),
            },
            DatasetSpec::Chebyshev { n, .. } => DataShape {
                n_train: *n,
                n_test: 0,
                input_dim: 1,
                outputs: 1,
            },
            DatasetSpec::Teacher {
                n_train,
                n_test,
                dim,
                num_classes,
                ..
            } => DataShape {
                n_train: *n_train,
                n_test: *n_test,
                input_dim: *dim,
                outputs: *num_classes,
            },
        }
    }
}

/// A size that does not fit in 64 bits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the run is too large to count: {what} overflows 64 bits (widths {widths:?}); choose smaller layers or fewer samples"
)]
pub struct EstimateError {
    pub what: &'static str,
    pub widths: Vec<usize>,
}

/// The estimate. Bytes are the peak the run holds at once (approximately; the allocator and
/// the program itself add a few tens of MB).
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub parameters: u64,
    /// θ, θ_0, the recorded θ_t, the gradient, the momentum, per-thread gradient buffers.
    pub param_bytes: u64,
    /// The training and test sets (f64 as loaded, and in the run's precision).
    pub data_bytes: u64,
    /// Pre-activations, activations and derivatives of every hidden layer for the whole
    /// training set (kept between the gradient and the Hessian–vector products), plus the
    /// per-thread chunk buffers.
    pub activation_bytes: u64,
    /// The Lanczos basis (up to `lanczos_max_iter` vectors in f64) and the Ritz vectors.
    pub lanczos_bytes: u64,
    pub total_bytes: u64,
    /// Average FLOPs per step: a gradient (≈ 6·n·p) plus, on eigenvalue steps, ≈ 10 HVPs
    /// (≈ 12·n·p each), spread over `eig_every`.
    pub flops_per_step: f64,
}

/// A rough throughput for turning FLOPs into seconds: 20 GFLOP/s per thread (order of magnitude).
pub const ASSUMED_FLOPS_PER_THREAD: f64 = 2e10;
/// HVPs a warm-started sharpness estimate typically takes (used for the time estimate only).
const TYPICAL_HVPS: f64 = 10.0;

impl Estimate {
    /// Seconds per step at [`ASSUMED_FLOPS_PER_THREAD`] on `threads` threads (order of
    /// magnitude only: memory bandwidth and the machine's load decide the rest).
    pub fn seconds_per_step(&self, threads: usize) -> f64 {
        self.flops_per_step / (ASSUMED_FLOPS_PER_THREAD * threads.max(1) as f64)
    }

    /// One line for people: `1.2 M parameters, ≈ 340 MB (params 19 MB, data 25 MB, …)`.
    pub fn describe(&self) -> String {
        format!(
            "{} parameters, ≈ {} (parameters and state {}, data {}, activations {}, Lanczos {}), ≈ {} per step",
            count(self.parameters),
            bytes(self.total_bytes),
            bytes(self.param_bytes),
            bytes(self.data_bytes),
            bytes(self.activation_bytes),
            bytes(self.lanczos_bytes),
            flops(self.flops_per_step)
        )
    }
}

/// `3.2 GFLOP` style (two significant digits, powers of 1000).
pub fn flops(f: f64) -> String {
    for (unit, scale) in [
        ("PFLOP", 1e15),
        ("TFLOP", 1e12),
        ("GFLOP", 1e9),
        ("MFLOP", 1e6),
    ] {
        if f >= scale {
            let v = f / scale;
            return if v >= 10.0 {
                format!("{v:.0} {unit}")
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{:.0} kFLOP", f / 1e3)
}

/// `1.5 GB` style (powers of 1000, rounded for people).
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    for (unit, scale) in [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] {
        if b >= scale {
            return format!("{:.1} {unit}", b / scale);
        }
    }
    format!("{b} bytes")
}

fn count(n: u64) -> String {
    let x = n as f64;
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        n.to_string()
    }
}

/// Checked arithmetic that names what overflowed.
struct Sizer<'a> {
    widths: &'a [usize],
}

impl Sizer<'_> {
    fn err(&self, what: &'static str) -> EstimateError {
        EstimateError {
            what,
            widths: self.widths.to_vec(),
        }
    }
    fn mul(&self, what: &'static str, xs: &[u64]) -> Result<u64, EstimateError> {
        xs.iter()
            .try_fold(1u64, |a, b| a.checked_mul(*b))
            .ok_or_else(|| self.err(what))
    }
    fn add(&self, what: &'static str, xs: &[u64]) -> Result<u64, EstimateError> {
        xs.iter()
            .try_fold(0u64, |a, b| a.checked_add(*b))
            .ok_or_else(|| self.err(what))
    }
}

/// The estimate for a checked configuration on a dataset of this shape, with `threads`
/// worker threads (the resolved count, ≥ 1) and, if `theory`, the measured-theory probe's f64
/// copy of the network and data.
pub fn estimate(
    cfg: &CheckedConfig,
    shape: &DataShape,
    threads: usize,
    theory: bool,
) -> Result<Estimate, EstimateError> {
    let mut widths = vec![shape.input_dim];
    widths.extend(&cfg.hidden);
    widths.push(shape.outputs);
    let s = Sizer { widths: &widths };
    let u = |x: usize| x as u64;
    let elem: u64 = match cfg.precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    };
    let mut parameters = 0u64;
    for w in widths.windows(2) {
        let layer = s.mul("the parameter count", &[u(w[0]), u(w[1])])?;
        let b = if cfg.bias { u(w[1]) } else { 0 };
        parameters = s.add("the parameter count", &[parameters, layer, b])?;
    }
    let threads = u(threads.max(1));
    // θ, θ_0, recorded θ_t, gradient, momentum, HVP scratch and output, + one gradient
    // buffer per thread; the f64 copies the Lanczos closure converts through (2 × 8 bytes).
    let vectors = s.add("the parameter buffers", &[7, threads])?;
    let param_bytes = s.add(
        "the parameter bytes",
        &[
            s.mul("the parameter bytes", &[parameters, vectors, elem])?,
            s.mul("the parameter bytes", &[parameters, 16])?,
        ],
    )?;
    let n_all = s.add("the sample count", &[u(shape.n_train), u(shape.n_test)])?;
    let row = s.add("the data size", &[u(shape.input_dim), u(shape.outputs)])?;
    // f64 as loaded (inputs + one-hot targets) and the run-precision batches.
    let data_bytes = s.mul(
        "the data size",
        &[n_all, row, s.add("the data size", &[8, elem])?],
    )?;
    let hidden_sum = cfg
        .hidden
        .iter()
        .try_fold(0u64, |a, w| a.checked_add(u(*w)));
    let hidden_sum = hidden_sum.ok_or_else(|| s.err("the activation size"))?;
    let act_width = s.add("the activation size", &[hidden_sum, u(shape.outputs)])?;
    // z, σ(z), σ'(z) per hidden unit per sample, kept for the HVPs; chunk temporaries
    // (≈ 4 per unit per row) on every thread.
    let cache = s.mul(
        "the activation size",
        &[u(shape.n_train), act_width, 3, elem],
    )?;
    let chunk_rows = u(cfg.chunk_rows.min(shape.n_train.max(1)));
    let widest = u(widths.iter().copied().max().unwrap_or(1));
    let temps = s.mul(
        "the activation size",
        &[
            threads,
            chunk_rows,
            s.add("the activation size", &[act_width, widest])?,
            4,
            elem,
        ],
    )?;
    let activation_bytes = s.add("the activation size", &[cache, temps])?;
    let lanczos_bytes = if cfg.eig_every > 0 {
        let vecs = s.add(
            "the Lanczos basis",
            &[u(cfg.lanczos_max_iter), u(cfg.neigs), 6],
        )?;
        s.mul("the Lanczos basis", &[vecs, parameters, 8])?
    } else {
        0
    };
    let theory_bytes = if theory {
        // An f64 evaluator (data + cache) and a few f64 parameter vectors.
        let d = s.mul("the theory probe", &[u(shape.n_train), row, 8])?;
        let c = s.mul("the theory probe", &[u(shape.n_train), act_width, 3, 8])?;
        let v = s.mul("the theory probe", &[parameters, 8, 12])?;
        s.add("the theory probe", &[d, c, v])?
    } else {
        0
    };
    let total_bytes = s.add(
        "the total size",
        &[
            param_bytes,
            data_bytes,
            activation_bytes,
            lanczos_bytes,
            theory_bytes,
        ],
    )?;
    let np = shape.n_train as f64 * parameters as f64;
    let eig = if cfg.eig_every > 0 {
        TYPICAL_HVPS.min(cfg.lanczos_max_iter as f64) * 12.0 * np / cfg.eig_every as f64
    } else {
        0.0
    };
    Ok(Estimate {
        parameters,
        param_bytes,
        data_bytes,
        activation_bytes,
        lanczos_bytes,
        total_bytes,
        flops_per_step: 6.0 * np + eig,
    })
}

/// Memory this process may still take (Linux `MemAvailable`), if known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// What to do with an estimate.
#[derive(Clone, Debug, PartialEq)]
pub enum MemoryVerdict {
    Fine,
    /// Above half the available memory: worth a warning.
    Warn(String),
    /// More than the available memory: refuse before allocating.
    Refuse(String),
}

/// Compare an estimate with the available memory (`None` = unknown: never refuse).
pub fn judge(est: &Estimate, available: Option<u64>) -> MemoryVerdict {
    let Some(avail) = available else {
        return MemoryVerdict::Fine;
    };
    if est.total_bytes > avail {
        MemoryVerdict::Refuse(format!(
            "this run needs about {} but only {} of memory is available ({}); choose smaller layers, fewer samples (--n) or fewer eigenvalues",
            bytes(est.total_bytes),
            bytes(avail),
            est.describe()
        ))
    } else if est.total_bytes > avail / 2 {
        MemoryVerdict::Warn(format!(
            "this run needs about {} of the {} available ({})",
            bytes(est.total_bytes),
            bytes(avail),
            est.describe()
        ))
    } else {
        MemoryVerdict::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::RunConfig;
    use crate::engine::model::MlpSpec;

    #[test]
    fn flops_are_rounded_for_people() {
        assert_eq!(flops(4.058744096e16), "41 PFLOP");
        assert_eq!(flops(3.21e9), "3.2 GFLOP");
        assert_eq!(flops(14.8e9), "15 GFLOP");
        assert_eq!(flops(2.0e5), "200 kFLOP");
    }

    #[test]
    fn parameters_match_the_network_and_overflow_is_an_error() {
        let cfg = RunConfig {
            hidden: vec![30, 20],
            ..RunConfig::default()
        };
        let checked = cfg.check().expect("valid");
        let shape = DataShape::of_spec(&cfg.dataset);
        let e = estimate(&checked, &shape, 2, false).expect("estimate");
        let spec: MlpSpec = cfg.mlp_spec(64, 10);
        assert_eq!(e.parameters, spec.num_params() as u64);
        assert!(e.total_bytes > e.param_bytes);
        let huge = RunConfig {
            hidden: vec![usize::MAX / 2, usize::MAX / 2],
            ..RunConfig::default()
        };
        let err = estimate(&huge.check().expect("valid"), &shape, 1, false).expect_err("overflow");
        assert_eq!(err.what, "the parameter count");
        let big = RunConfig {
            hidden: vec![4_294_967_297],
            ..RunConfig::default()
        };
        let e = estimate(&big.check().expect("valid"), &shape, 1, false).expect("counts");
        assert!(matches!(judge(&e, Some(64 << 30)), MemoryVerdict::Refuse(m) if m.contains("TB")));
    }
}
