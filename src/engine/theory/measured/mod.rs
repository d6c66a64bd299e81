//! Damian et al.'s self-stabilization quantities measured along a real gradient-descent run,
//! with the predicted dynamics of Shapira's Definition 4.1 (Damian et al. 2022's
//! self-stabilization map) stepped alongside (GitHub issue 5).
//!
//! # What is measured
//!
//! * **Anchor θ₀.** The first iterate at which the top Hessian eigenvalue λ1 reaches the
//!   threshold 2/η. No interpolation between iterates: θ₀ must be a GD iterate so that the
//!   following iterates θ_1, θ_2, … are exactly the steps the map of Definition 4.1 models.
//!   The overshoot e₀ = λ1(θ₀) − 2/η is therefore in [0, one step of sharpening ≈ ηα) and is
//!   reported (and used, see below).
//! * **u** = top eigenvector of ∇²L(θ₀) by Lanczos in f64 with a tight tolerance (k = 2, so λ2
//!   and the eigengap of Assumption 1 are reported too), with its residual ‖Hu − λ1 u‖.
//! * **∇S(θ₀) = ∇³L(θ₀)[u, u]** (Shapira, Lemma 2, after Damian et al. 2022), by central differences of exact HVPs along u,
//!   D(ε) = (H(θ₀+εu)u − H(θ₀−εu)u)/(2ε), Richardson-extrapolated:
//!   ∇S ≈ (4 D(ε/2) − D(ε))/3 (error O(ε⁴) instead of O(ε²)). The step is
//!   ε = 1e-3 · max(1, ‖θ₀‖/√p) in f64 (u is a unit vector, so ε is a parameter-space distance;
//!   ‖θ‖/√p is the typical size of one weight). With Richardson the round-off error
//!   ~ u_mach‖Hu‖/ε and the truncation error ~ ε⁴ balance near ε ≈ u_mach^{1/5} ≈ 1e-3; the test
//!   `tests/theory_measured.rs` checks the result against finite differences of the dense λ1 to
//!   1e-5 relative, and every anchor reports ‖D(ε) − D(ε/2)‖/‖D(ε/2)‖ as a quality figure.
//!   For f32 derivatives (the anchor is always measured in f64 by the CLI and the app) ε is
//!   30× larger.
//! * ∇S⊥ = ∇S − u(uᵀ∇S), **α = −∇L(θ₀)·∇S⊥** (the rate of y in the derivation of Eq. (2);
//!   Shapira's Assumption 2 uses the full ∇S, reported as `alpha_full`), **β = ‖∇S⊥‖²**,
//!   **δ = √(2α/β)** (NaN unless α > 0).
//! * Along the following iterates: x_t = uᵀ(θ_t − θ₀), y_t = ∇S⊥ᵀ(θ_t − θ₀), λ1(θ_t) − 2/η
//!   (a warm-started Lanczos probe at every tracked step) and L(θ_t) − L(θ₀). The probes run
//!   in f32 by default ([`TheoryOptions::probe_precision`]) on an f32 copy of the network —
//!   the run's own arithmetic on CIFAR — to a 1e-5 relative bound, and are redone in f64 (to
//!   1e-6) whenever the f32 λ1 lands within 1e-4·2/η of 2/η, so which side of 2/η a step is on
//!   (the crossing step, the measured return) is decided in f64 as before.
//!
//! # The prediction and its initial condition
//!
//! x_t is 0 at t = 0 by definition, and the map of Definition 4.1 keeps x ≡ 0 from x₀ = 0, so
//! the prediction cannot start from the measured x₀. Shapira's Assumption 3
//! (uᵀ∇L(θ₀) = 0) fails on real runs: with g_u = uᵀ∇L(θ₀) ≠ 0 the GD step along u is
//! x_{t+1} = (1 − ηλ1) x_t − η g_u, a period-2 oscillation about the centre
//! x* = −g_u/λ1 (= −η g_u/2 at λ1 = 2/η) — the point their relaxation of Assumption 3
//! expands about ("the projection of θ₀ onto {∇L·u = 0}"). So the prediction runs the map on
//! the **centred** coordinate x̃ = x − x*, started from x̃₀ = −x* = g_u/λ1, and reports
//! x_predicted = x* + x̃_t, which equals the measured x at t = 0 (both 0) and, to first order,
//! at t = 1 (x₁ = −η g_u). y starts at y₀ = 0 as in Definition 4.1 (y_t is a displacement from
//! θ₀, 0 there by definition). Because θ₀ overshoots 2/η by e₀, the x-factor uses the actual
//! sharpness excess: x̃_{t+1} = −(1 + η(e₀ + y_t)) x̃_t, y_{t+1} = y_t + η(α − β x̃_t²/2); this is
//! the derivation of their Eq. (3) without assuming S(θ₀) = 2/η exactly, and is Definition 4.1
//! when e₀ = 0. The predicted sharpness excess S(θ_t) − 2/η is e₀ + y_t (`excess_predicted`).
//!
//! # Re-anchoring
//!
//! With `reanchor_every = K > 0` a new anchor (θ₀, u, ∇S, α, β, x*) is taken every K tracked
//! steps at the current iterate (whatever its λ1; e₀ may then be negative) and the prediction
//! restarts there. `t` counts steps since the current anchor.
//!
//! # Agreement figures (per anchor, over its first cycle)
//!
//! The measured return is the first t ≥ 1 with λ1 − 2/η < 0, the predicted return the first
//! t ≥ 1 with e₀ + y_t < 0; the first cycle is t = 0 ..= the later of the two (all rows if
//! neither happens). Over it: the Pearson correlation of the predicted excess e₀ + y_t with the
//! measured λ1 − 2/η (and of predicted y with measured y), δ against the peak |x_t| measured (and
//! |x_t| at the step of the measured sharpness peak, where the theory puts |x| = δ), and the
//! fraction of steps with λ1 > 2/η on which the centred x̃ changed sign.
//!
//! # Where things live
//!
//! * [`derivatives`]: the [`Derivatives`] trait (loss, gradient, exact HVPs at any θ, in f64);
//! * [`eigen`]: top eigenpairs ([`top_eigen`]) and ∇S ([`sharpness_gradient`]);
//! * [`options`] holds [`TheoryOptions`];
//! * [`anchor`]: the measurement at θ₀ ([`measure_anchor`]);
//! * [`tracker`]: [`MeasuredTracker`], which finds θ₀ and tracks the following steps;
//! * [`agreement`](mod@agreement): the predicted map ([`predicted_step`]), the first cycle and the agreement
//!   figures ([`agreement`](fn@agreement), [`calibrated`]);
//! * [`report`]: [`TheoryReport`] (`theory_summary.json`) and its text ([`describe_anchors`]);
//! * [`files`]: reading a run's `theory.csv` and `theory_summary.json` back ([`read_theory_run`]);
//! * [`figures`] holds [`theory_plots`];
//! * [`log`]: the messages a live tracker sends ([`TheoryUpdate`]) and the app's [`TheoryLog`];
//! * [`probe`]: [`TheoryProbe`], the tracker on the probe seam ([`crate::engine::probe`]);
//! * [`bench`](mod@bench): [`theory_probe_cost`], one probe timed the f64 and the f32 way.

pub mod agreement;
pub mod anchor;
pub mod bench;
pub mod derivatives;
pub mod eigen;
pub mod figures;
pub mod files;
pub mod log;
pub mod options;
pub mod probe;
pub mod report;
pub mod tracker;

pub use agreement::{
    Agreement, Calibrated, FirstCycle, agreement, calibrated, measured_return, predicted_step,
};
pub use anchor::{AnchorInfo, AnchorMeasurement, AnchorVectors, measure_anchor};
pub use bench::theory_probe_cost;
pub use derivatives::Derivatives;
pub use eigen::{SharpnessGradient, TopEigen, default_fd_step, sharpness_gradient, top_eigen};
pub use figures::theory_plots;
pub use files::{SkippedRow, TheoryRun, read_theory_run};
pub use log::{MAP_RANGE_DELTAS, PredictedLambda1, TheoryLog, TheoryUpdate, predicted_lambda1};
pub use options::TheoryOptions;
pub use probe::{TheoryProbe, evaluator_in};
pub use report::{AnchorReport, TheoryReport, anchor_reports, describe_anchors};
pub use tracker::{
    CSV_COLUMNS, MeasuredTracker, Phase, ProbeDerivatives, ProbeStats, StepInput, TheoryRow,
};
