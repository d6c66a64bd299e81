//! [`TheoryOptions`]: how the measured-theory tracker works, checked before it starts.

use serde::Serialize;

use crate::engine::eigen::EigenSolver;

use crate::engine::Precision;
use crate::engine::theory::TheoryError;

/// How the tracker works.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TheoryOptions {
    /// Steps tracked after the first crossing (rows t = 0 .. window−1 over all anchors).
    pub window: usize,
    /// Re-anchor every this many tracked steps (0 = never).
    pub reanchor_every: usize,
    /// Finite-difference step for ∇S (None = [`super::eigen::default_fd_step`]).
    pub eps: Option<f64>,
    /// Lanczos tolerance and iteration cap at an anchor.
    pub anchor_tol: f64,
    pub anchor_max_iter: usize,
    /// Arithmetic of the per-step λ1 probes that [`super::TheoryProbe`] (the CLI and the app)
    /// builds: f32 (default) probes on an f32 copy of the network and training set and
    /// re-probes in f64 (at `probe_tol`) whenever the f32 λ1 lands within `refine_band`·2/η of
    /// 2/η, so the crossing step and the measured return are decided in f64 as before; f64
    /// probes every step in f64 at `probe_tol` (the behaviour before f32 probes). The anchor
    /// (u, ∇S, α, β) is measured in f64 either way. A [`super::MeasuredTracker`] built with
    /// `new` probes with its own derivatives whatever this says.
    pub probe_precision: Precision,
    /// Lanczos tolerance (relative error bound on λ1) and iteration cap of the f64 λ1 probes
    /// and of the f64 re-probes near 2/η.
    pub probe_tol: f64,
    pub probe_max_iter: usize,
    /// Lanczos tolerance of the f32 probes: 1e-4 bounds the error at 1e-2 on λ1 ≈ 100 (λ1 − 2/η
    /// peaks near 10 on CIFAR), and the error actually left is near the f32 round-off (on
    /// CIFAR-5k at λ1 ≈ 71, `eos-explorer bench`: 6.6e-6 from the f64 probe at 1e-4 with a
    /// median of 9 HVPs, 5.0e-6 at 3e-5 with 10.5, 4.9e-6 at 1e-5 with 12). Which side of
    /// 2/η a step is on is decided in f64 anyway (`refine_band`, equal to this tolerance).
    pub probe_tol_f32: f64,
    /// With f32 probes: re-probe in f64 when |λ1(f32) − 2/η| ≤ this fraction of 2/η.
    pub refine_band: f64,
    /// Solver of the warm-started per-step probes (the anchor always uses Lanczos). Lanczos:
    /// at these tight tolerances the block solver needed more products (CIFAR-5k, f32 at
    /// 1e-5: median 16 against 12, `eos-explorer bench`).
    pub probe_solver: EigenSolver,
    /// While searching, probe every step once the last known λ1 ≥ this fraction of 2/η.
    /// 0.97 leaves 3 % of 2/η between the last record below it and the crossing: on
    /// cohen-fig1 (λ1 every 20 steps, rising 1.3 between records near 2/η = 100) that is
    /// 2.3× the rise between two records; with 0.9 (and a probe every 10 steps between
    /// records) the f64 probes before the crossing numbered 201, now the steps from the first
    /// record ≥ 97 (step 1040) to the crossing.
    pub near_fraction: f64,
    /// While searching and far from 2/η with no λ1 in the records, probe every this many steps.
    pub far_probe_every: usize,
    /// The prediction counts as blown up beyond this |x| or |y|.
    pub blowup: f64,
    pub seed: u64,
}

impl Default for TheoryOptions {
    fn default() -> Self {
        TheoryOptions {
            window: 300,
            reanchor_every: 0,
            eps: None,
            anchor_tol: 1e-12,
            anchor_max_iter: 300,
            probe_precision: Precision::F32,
            probe_tol: 1e-6,
            probe_max_iter: 200,
            probe_tol_f32: 1e-4,
            refine_band: 1e-4,
            probe_solver: EigenSolver::Lanczos,
            near_fraction: 0.97,
            far_probe_every: 10,
            blowup: 1e8,
            seed: 0,
        }
    }
}

impl TheoryOptions {
    /// The options that reproduce the tracker before f32 probes: every probe in f64.
    pub fn f64_probes(self) -> Self {
        TheoryOptions {
            probe_precision: Precision::F64,
            ..self
        }
    }

    pub fn check(&self) -> Result<(), TheoryError> {
        if self.window == 0 {
            return Err(TheoryError::invalid("window", 0, "track at least 1 step"));
        }
        for (name, v) in [
            ("anchor_tol", self.anchor_tol),
            ("probe_tol", self.probe_tol),
            ("probe_tol_f32", self.probe_tol_f32),
            ("refine_band", self.refine_band),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(TheoryError::invalid(name, v, "must be a finite number ≥ 0"));
            }
        }
        if let Some(e) = self.eps
            && !(e.is_finite() && e > 0.0)
        {
            return Err(TheoryError::invalid(
                "eps",
                e,
                "the finite-difference step must be a finite number > 0",
            ));
        }
        if !(self.near_fraction.is_finite() && self.near_fraction > 0.0) {
            return Err(TheoryError::invalid(
                "near_fraction",
                self.near_fraction,
                "must be a finite number > 0",
            ));
        }
        if !(self.blowup.is_finite() && self.blowup > 0.0) {
            return Err(TheoryError::invalid(
                "blowup",
                self.blowup,
                "must be a finite number > 0",
            ));
        }
        Ok(())
    }
}
