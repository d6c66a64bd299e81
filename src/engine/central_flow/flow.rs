//! The central-flow integrator: explicit Euler substeps of
//! dw/dt = −η[∇L(w) + ½∇_w⟨Σ, ∇²L(w)⟩], time in GD steps, Σ = U X Uᵀ from the SDCP.

use nalgebra::{DMatrix, SymmetricEigen};

use super::sdcp::{Sdcp, SdcpError, SdcpOptions};
use super::third::{ThirdMethod, third_derivatives, third_derivatives_from_gradients};
use crate::engine::lanczos::{LanczosOptions, lanczos};
use crate::engine::lobpcg::{LobpcgOptions, lobpcg};
use crate::engine::theory::TheoryError;
use crate::engine::theory::measured::Derivatives;

/// How to integrate.
#[derive(Clone, Debug, PartialEq)]
pub struct CentralFlowOptions {
    /// The learning rate η of the GD run the flow models.
    pub lr: f64,
    /// Euler substeps per GD step (dt = 1/substeps).
    pub substeps: usize,
    /// An eigenvalue λ ≥ `critical_factor`/η joins the critical set U (Cohen et al. 2025 use
    /// eigenvalues at or near 2/η; 1.95 by default).
    pub critical_factor: f64,
    /// Every eigenvalue ≥ `track_factor`/η is tracked by the warm-started Lanczos (1.5).
    pub track_factor: f64,
    /// At most this many eigenpairs are computed per substep.
    pub max_tracked: usize,
    /// Relative tolerance of the Lanczos eigenvalues (an error δλ on a critical eigenvalue
    /// moves the SDCP's A by δλ/dt).
    pub lanczos_tol: f64,
    pub lanczos_max_iter: usize,
    /// The finite-difference step of the third derivatives (`None`: `default_fd_step`).
    pub fd_step: Option<f64>,
    /// Richardson-extrapolate the third derivatives (twice the HVPs, O(ε⁴) error).
    pub richardson: bool,
    /// Third derivatives from HVPs at shifted points or from gradients only (`third`).
    pub third: ThirdMethod,
    /// The eigensolver of each substep.
    pub eigen: FlowEigen,
    pub sdcp: SdcpOptions,
    /// Seed of Lanczos's random start vector (used when there is no warm start).
    pub seed: u64,
}

impl CentralFlowOptions {
    /// The defaults for learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        CentralFlowOptions {
            lr,
            substeps: 4,
            critical_factor: 1.95,
            track_factor: 1.5,
            max_tracked: 6,
            lanczos_tol: 1e-8,
            lanczos_max_iter: 300,
            fd_step: None,
            richardson: true,
            third: ThirdMethod::Hvp,
            eigen: FlowEigen::Lanczos,
            sdcp: SdcpOptions::default(),
            seed: 0,
        }
    }

    pub fn check(&self) -> Result<(), CentralFlowError> {
        let bad = |name, value: String, rule: &str| {
            Err(CentralFlowError::InvalidOption {
                name,
                value,
                rule: rule.to_string(),
            })
        };
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", self.lr.to_string(), "the learning rate must be > 0");
        }
        if !(1..=1000).contains(&self.substeps) {
            return bad(
                "substeps",
                self.substeps.to_string(),
                "use 1 to 1000 substeps per GD step (4 is the default)",
            );
        }
        if !(self.track_factor > 0.0
            && self.track_factor <= self.critical_factor
            && self.critical_factor <= 2.0)
        {
            return bad(
                "critical_factor",
                format!(
                    "{} (track_factor {})",
                    self.critical_factor, self.track_factor
                ),
                "need 0 < track_factor ≤ critical_factor ≤ 2 (defaults 1.5 and 1.95)",
            );
        }
        if self.max_tracked == 0 {
            return bad("max_tracked", "0".into(), "track at least one eigenvalue");
        }
        if !(self.lanczos_tol >= 0.0 && self.lanczos_max_iter > 0) {
            return bad(
                "lanczos_tol",
                self.lanczos_tol.to_string(),
                "need a tolerance ≥ 0 and at least one Lanczos iteration",
            );
        }
        Ok(())
    }
}

/// Which eigensolver a substep uses for the tracked eigenpairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowEigen {
    /// Single-vector Lanczos warm-started from the sum of the previous Ritz vectors. At a
    /// tight tolerance it resolves critical eigenvalues that the flow holds at 2/η; at a
    /// loose one it can see only one of two equal eigenvalues (module docs of `lobpcg`).
    #[default]
    Lanczos,
    /// LOBPCG on a block of the previous Ritz vectors plus one guard column: sees every
    /// eigenvalue of a degenerate critical cluster.
    Block,
}

impl FlowEigen {
    pub fn name(self) -> &'static str {
        match self {
            FlowEigen::Lanczos => "lanczos",
            FlowEigen::Block => "block",
        }
    }
}

/// Why the flow stopped.
#[derive(Debug, thiserror::Error)]
pub enum CentralFlowError {
    #[error("invalid central-flow option `{name}` = {value}: {rule}")]
    InvalidOption {
        name: &'static str,
        value: String,
        rule: String,
    },
    #[error(transparent)]
    Derivatives(#[from] TheoryError),
    #[error("central flow at GD step {step}: {source}")]
    Sdcp { step: usize, source: SdcpError },
    /// A normal outcome (e.g. η too large for the flow to hold the sharpness), not a bug.
    #[error("the central flow diverged at GD step {step} ({what}); lower η or raise the substeps")]
    Diverged { step: usize, what: String },
}

/// What the flow reports for one GD step t (measured at w(t), before the substeps t → t + 1).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowRecord {
    pub step: usize,
    /// L(w(t)).
    pub loss: f64,
    /// The predicted time-averaged GD loss L(w) + ½⟨Σ, ∇²L(w)⟩ = L + ½ Σ_i X_ii λ_i
    /// (= L + tr(X)/η when the critical eigenvalues sit at 2/η).
    pub predicted_loss: f64,
    /// The tracked top eigenvalues of ∇²L(w(t)), largest first.
    pub eigenvalues: Vec<f64>,
    /// Eigenvalues of X (the predicted oscillation variances σ² along Σ's eigenvectors),
    /// largest first; empty when no eigenvalue is critical.
    pub sigma2: Vec<f64>,
    /// The matching unit eigenvectors of Σ in parameter space (U times X's eigenvectors):
    /// the directions along which GD's displacement from the flow should have variance σ².
    pub sigma_directions: Vec<Vec<f64>>,
    /// The number of critical eigenvalues (the size of X).
    pub k: usize,
    /// HVPs spent over the substeps of this GD step (Lanczos and third derivatives).
    pub hvps: usize,
    /// Gradient evaluations over the substeps (one per substep).
    pub grads: usize,
    /// The largest SDCP natural residual over the substeps (0 when none was solved).
    pub sdcp_residual: f64,
}

/// Counts the calls made through it (also the probe's measurements).
pub(super) struct Counting<'a, D: Derivatives> {
    pub(super) d: &'a mut D,
    pub(super) hvps: usize,
    pub(super) grads: usize,
}

impl<D: Derivatives> Derivatives for Counting<'_, D> {
    fn dim(&self) -> usize {
        self.d.dim()
    }
    fn loss_grad(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), TheoryError> {
        self.grads += 1;
        self.d.loss_grad(params)
    }
    fn hvp(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError> {
        self.hvps += 1;
        self.d.hvp(params, v)
    }
    fn unit_roundoff(&self) -> f64 {
        self.d.unit_roundoff()
    }
}

/// The central flow from w(0), advanced one GD step at a time.
pub struct CentralFlow<D: Derivatives> {
    d: D,
    opts: CentralFlowOptions,
    w: Vec<f64>,
    step: usize,
    warm: Vec<Vec<f64>>,
    /// How many eigenvalues were ≥ track_factor/η at the last solve.
    tracked: usize,
    /// The last X (a warm start for the next SDCP of the same size).
    x_prev: Option<DMatrix<f64>>,
}

/// One substep's measurements.
struct Substep {
    loss: f64,
    eigenvalues: Vec<f64>,
    x: DMatrix<f64>,
    critical: Vec<f64>,
    us: Vec<Vec<f64>>,
    sdcp_residual: f64,
}

/// Eigenvalues of X (largest first) and the matching eigenvectors of Σ = U X Uᵀ.
fn sigma_eigen(x: &DMatrix<f64>, us: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    if us.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let eig = SymmetricEigen::new((x + x.transpose()) * 0.5);
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let p = us[0].len();
    let dirs = order
        .iter()
        .map(|&c| {
            let mut v = vec![0.0; p];
            for (i, u) in us.iter().enumerate() {
                let coef = eig.eigenvectors[(i, c)];
                v.iter_mut().zip(u).for_each(|(o, ui)| *o += coef * ui);
            }
            v
        })
        .collect();
    (order.iter().map(|&c| eig.eigenvalues[c]).collect(), dirs)
}

impl<D: Derivatives> CentralFlow<D> {
    pub fn new(d: D, w0: Vec<f64>, opts: CentralFlowOptions) -> Result<Self, CentralFlowError> {
        opts.check()?;
        if w0.len() != d.dim() {
            return Err(TheoryError::Shape(format!(
                "the start point has {} entries, the network has {} parameters",
                w0.len(),
                d.dim()
            ))
            .into());
        }
        Ok(CentralFlow {
            d,
            opts,
            w: w0,
            step: 0,
            warm: Vec::new(),
            tracked: 0,
            x_prev: None,
        })
    }

    /// w(t) at the current GD step t.
    pub fn params(&self) -> &[f64] {
        &self.w
    }
    pub fn step_index(&self) -> usize {
        self.step
    }
    pub fn options(&self) -> &CentralFlowOptions {
        &self.opts
    }
    pub fn derivatives(&mut self) -> &mut D {
        &mut self.d
    }

    /// Measure at w(t), then advance w by one GD step (`substeps` Euler substeps).
    pub fn step(&mut self) -> Result<FlowRecord, CentralFlowError> {
        let mut hvps = 0;
        let mut grads = 0;
        let mut first = None;
        let mut worst: f64 = 0.0;
        for s in 0..self.opts.substeps {
            let (sub, h, g) = self.substep()?;
            hvps += h;
            grads += g;
            worst = worst.max(sub.sdcp_residual);
            if s == 0 {
                first = Some(sub);
            }
        }
        let Some(sub) = first else {
            return Err(CentralFlowError::Diverged {
                step: self.step,
                what: "no substep ran".into(),
            });
        };
        let predicted = sub.loss
            + 0.5
                * (0..sub.critical.len())
                    .map(|i| sub.x[(i, i)] * sub.critical[i])
                    .sum::<f64>();
        let (sigma2, sigma_directions) = sigma_eigen(&sub.x, &sub.us);
        let rec = FlowRecord {
            step: self.step,
            loss: sub.loss,
            predicted_loss: predicted,
            eigenvalues: sub.eigenvalues,
            sigma2,
            sigma_directions,
            k: sub.critical.len(),
            hvps,
            grads,
            sdcp_residual: worst,
        };
        self.step += 1;
        Ok(rec)
    }

    /// One Euler substep of size dt = 1/substeps; returns its measurements and the HVPs and
    /// gradients it spent.
    fn substep(&mut self) -> Result<(Substep, usize, usize), CentralFlowError> {
        let eta = self.opts.lr;
        let dt = 1.0 / self.opts.substeps as f64;
        let step = self.step;
        let mut c = Counting {
            d: &mut self.d,
            hvps: 0,
            grads: 0,
        };
        let (loss, grad) = c.loss_grad(&self.w)?;
        if !loss.is_finite() || grad.iter().any(|v| !v.is_finite()) {
            return Err(CentralFlowError::Diverged {
                step,
                what: format!("the loss is {loss}"),
            });
        }
        // Top eigenpairs: one more than were tracked last time; grow while all are tracked.
        let p = self.w.len();
        let cap = self.opts.max_tracked.min(p);
        let mut k = (self.tracked + 1).min(cap);
        let (eigenvalues, vectors) = loop {
            let mut err = None;
            let w = &self.w;
            let mut apply = |v: &[f64], out: &mut [f64]| match c.hvp(w, v) {
                Ok(h) => out.copy_from_slice(&h),
                Err(e) => {
                    out.iter_mut().for_each(|o| *o = f64::NAN);
                    err = Some(e);
                }
            };
            let r = match self.opts.eigen {
                FlowEigen::Lanczos => {
                    let opts = LanczosOptions {
                        k,
                        max_iter: self.opts.lanczos_max_iter.min(p).max(k),
                        min_iter: 1,
                        tol: self.opts.lanczos_tol,
                        seed: self.opts.seed,
                    };
                    lanczos(p, &mut apply, &opts, &self.warm)
                }
                FlowEigen::Block => {
                    let opts = LobpcgOptions {
                        k,
                        block: (k + 1).min(p),
                        max_matvecs: self.opts.lanczos_max_iter.max(k + 1),
                        tol: self.opts.lanczos_tol,
                        guard_tol: 0.0,
                        seed: self.opts.seed,
                    };
                    lobpcg(p, &mut apply, &opts, &self.warm)
                }
            };
            if let Some(e) = err {
                return Err(e.into());
            }
            let (values, vectors) = (r.eigenvalues, r.eigenvectors);
            self.warm = r.warm_vectors;
            let above = values
                .iter()
                .filter(|&&l| l >= self.opts.track_factor / eta)
                .count();
            if above == k && k < cap {
                k += 1;
                continue;
            }
            self.tracked = above;
            break (values, vectors);
        };
        if eigenvalues.iter().any(|v| !v.is_finite()) {
            return Err(CentralFlowError::Diverged {
                step,
                what: "a Hessian eigenvalue is not finite".into(),
            });
        }
        let crit: Vec<usize> = (0..eigenvalues.len())
            .filter(|&i| eigenvalues[i] >= self.opts.critical_factor / eta)
            .collect();
        let critical: Vec<f64> = crit.iter().map(|&i| eigenvalues[i]).collect();
        let us: Vec<Vec<f64>> = crit.iter().map(|&i| vectors[i].clone()).collect();
        let h = eta * dt;
        let mut x = DMatrix::zeros(critical.len(), critical.len());
        let mut sdcp_residual = 0.0;
        if critical.is_empty() {
            // Exactly gradient flow: w ← w − (η·dt)∇L.
            self.x_prev = None;
            for (wi, gi) in self.w.iter_mut().zip(&grad) {
                *wi -= h * gi;
            }
        } else {
            let t = match self.opts.third {
                ThirdMethod::Hvp => third_derivatives(
                    &mut c,
                    &self.w,
                    &us,
                    self.opts.fd_step,
                    self.opts.richardson,
                )?,
                ThirdMethod::Gradients => third_derivatives_from_gradients(
                    &mut c,
                    &self.w,
                    &grad,
                    &us,
                    self.opts.fd_step,
                    self.opts.richardson,
                )?,
            };
            let prob = Sdcp::from_flow(&critical, &t.table(), &grad, eta, dt)
                .map_err(|source| CentralFlowError::Sdcp { step, source })?;
            let start = self.x_prev.as_ref().filter(|s| s.nrows() == critical.len());
            let sol = prob
                .solve(start, &self.opts.sdcp)
                .map_err(|source| CentralFlowError::Sdcp { step, source })?;
            if !sol.converged && sol.residual > 1e-6 {
                return Err(CentralFlowError::Diverged {
                    step,
                    what: format!(
                        "the oscillation covariance did not converge (residual {:.1e})",
                        sol.residual
                    ),
                });
            }
            sdcp_residual = sol.residual;
            x = sol.x;
            self.x_prev = Some(x.clone());
            let corr = t.contract(&x);
            for ((wi, gi), ci) in self.w.iter_mut().zip(&grad).zip(&corr) {
                *wi -= h * (gi + 0.5 * ci);
            }
        }
        if self.w.iter().any(|v| !v.is_finite()) {
            return Err(CentralFlowError::Diverged {
                step,
                what: "a parameter is not finite".into(),
            });
        }
        let (hv, gr) = (c.hvps, c.grads);
        Ok((
            Substep {
                loss,
                eigenvalues,
                x,
                critical,
                us,
                sdcp_residual,
            },
            hv,
            gr,
        ))
    }
}
