//! Every eigenvalue Lanczos reports is within its tolerance, also when λ2 ≈ λ3 (a cluster just
//! below the reported set) and the solve is warm-started from the previous step's Ritz vectors
//! as along a GD trajectory. Modelled on an independent float64 check at CIFAR-5k step 350
//! (λ1 ≈ 2/η, λ2 = 56.314, λ3 = 55.79), where a warm solve with the default tolerance 1e-3
//! stopped after 8 products and reported λ2 = 55.830 (a Ritz value mixing the λ2 and λ3
//! eigenvectors).

use eos_explorer::engine::Rng;
use eos_explorer::engine::eigen::{EigenSolver, top_eigen};
use eos_explorer::engine::lanczos::{LanczosOptions, LanczosResult, lanczos};
use nalgebra::{DMatrix, DVector};

/// A slowly moving symmetric operator H_t = Q_t diag(λ_t) Q_tᵀ: λ1 near 100, the pair
/// 56.314 / 55.79, a third close value 55.2, and a bulk in [−5, 45]. Each step the basis turns
/// a little (a small random rotation) and, faster, inside the plane of the near-degenerate pair
/// (eigenvectors of close eigenvalues rotate fast along a trajectory).
struct Trajectory {
    n: usize,
    q: DMatrix<f64>,
    lambda: Vec<f64>,
    rng: Rng,
}

impl Trajectory {
    fn new(n: usize, seed: u64) -> Self {
        let mut rng = Rng::seed_from_u64(seed);
        let g = DMatrix::from_fn(n, n, |_, _| rng.normal());
        let q = g.qr().q();
        let mut lambda = vec![99.7, 56.314, 55.79, 55.2];
        lambda.extend((4..n).map(|i| 45.0 - 50.0 * ((i - 4) as f64 / (n - 5) as f64).powf(0.6)));
        Trajectory { n, q, lambda, rng }
    }

    fn matrix(&self) -> DMatrix<f64> {
        &self.q
            * DMatrix::from_diagonal(&DVector::from_vec(self.lambda.clone()))
            * self.q.transpose()
    }

    /// One "GD step": a small rotation of the whole basis, a larger one of the (v2, v3) plane,
    /// and eigenvalues that drift by ~1e-3 relative.
    fn advance(&mut self) {
        let n = self.n;
        let eps = 0.02 / (n as f64).sqrt();
        let g = DMatrix::from_fn(n, n, |_, _| eps * self.rng.normal());
        let skew = (&g - g.transpose()) * 0.5;
        // Cayley transform: an exactly orthogonal matrix near the identity.
        let id = DMatrix::<f64>::identity(n, n);
        let cayley = (&id - &skew * 0.5)
            .try_inverse()
            .expect("I − A/2 is invertible for a small skew A")
            * (&id + &skew * 0.5);
        self.q = &self.q * cayley;
        let angle = 0.3 + 0.2 * self.rng.uniform();
        let (c, s) = (angle.cos(), angle.sin());
        let v2 = self.q.column(1).clone_owned();
        let v3 = self.q.column(2).clone_owned();
        self.q.set_column(1, &(&v2 * c + &v3 * s));
        self.q.set_column(2, &(&v3 * c - &v2 * s));
        for l in self.lambda.iter_mut() {
            *l *= 1.0 + 1e-3 * self.rng.normal();
        }
        self.lambda[1] = 56.314 * (1.0 + 2e-4 * self.rng.normal());
        self.lambda[2] = 55.79 * (1.0 + 2e-4 * self.rng.normal());
    }

    fn solve(
        &self,
        solver: EigenSolver,
        opts: &LanczosOptions,
        warm: &[Vec<f64>],
    ) -> LanczosResult {
        let h = self.matrix();
        let n = self.n;
        top_eigen(
            solver,
            n,
            |v, out| {
                let y = &h * DMatrix::from_column_slice(n, 1, v);
                out.copy_from_slice(y.as_slice());
            },
            opts,
            warm,
        )
    }

    fn top(&self, k: usize) -> Vec<f64> {
        let mut l = self.lambda.clone();
        l.sort_by(|a, b| b.total_cmp(a));
        l.truncate(k);
        l
    }
}

/// Worst relative error of each reported eigenvalue over a warm-started trajectory, and the
/// products each solve used.
fn run(steps: usize, seed: u64, solver: EigenSolver) -> (Vec<f64>, Vec<usize>) {
    let mut t = Trajectory::new(300, seed);
    let k = 2;
    let opts = LanczosOptions {
        k,
        max_iter: 80,
        tol: 1e-3,
        seed,
        ..Default::default()
    };
    let mut warm = t.solve(solver, &opts, &[]).warm_vectors;
    let mut worst = vec![0.0f64; k];
    let mut hvps = Vec::new();
    for step in 0..steps {
        t.advance();
        let r = t.solve(
            solver,
            &LanczosOptions {
                seed: seed ^ step as u64,
                ..opts.clone()
            },
            &warm,
        );
        let truth = t.top(k);
        for i in 0..k {
            let rel = (r.eigenvalues[i] - truth[i]).abs() / truth[i];
            worst[i] = worst[i].max(rel);
        }
        hvps.push(r.matvecs);
        warm = r.warm_vectors;
    }
    (worst, hvps)
}

#[test]
fn warm_solves_along_a_trajectory_report_every_eigenvalue_within_tolerance() {
    // With the former stop rule (Kato–Temple r²/gap with the gap to the nearest Ritz value)
    // this failed: solves of 7–8 products reported λ2 ≈ 55.8 for 56.3 (9e-3 relative).
    // Both solvers share the stop rule; the block one refines its guard columns loosely.
    for (seed, solver) in (0..3).flat_map(|s| EigenSolver::ALL.map(|e| (s, e))) {
        let (worst, hvps) = run(30, seed, solver);
        let mut sorted = hvps.clone();
        sorted.sort_unstable();
        eprintln!(
            "{} seed {seed}: worst relative errors {worst:?}, HVPs median {} max {}",
            solver.name(),
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1]
        );
        for (i, w) in worst.iter().enumerate() {
            assert!(
                *w <= 1e-3,
                "{} seed {seed}: λ{} off by {w:.1e} relative (tolerance 1e-3)",
                solver.name(),
                i + 1
            );
        }
    }
}

/// The digits demo (f32, η = 0.4) over 100 steps with the top `neigs` eigenvalues at every
/// step, warm-started at tolerance 1e-3 as the run does, each checked against a cold solve to
/// 1e-10 of the same (f32) Hessian. Returns the worst relative error of each reported value
/// and the median products per warm solve.
fn digits_warm_study(neigs: usize, steps: usize) -> (Vec<f64>, usize) {
    use eos_explorer::engine::presets::{self, PresetKind};
    use eos_explorer::engine::session::Session;
    let mut c = match presets::find("digits-demo").map(|p| p.kind) {
        Some(PresetKind::Training(c)) => *c,
        other => panic!("digits-demo is a training preset, got {other:?}"),
    };
    c.max_steps = steps;
    c.neigs = neigs;
    c.eig_every = 1;
    c.test_every = 0;
    c.threads = 1;
    let (mut s, _) = Session::from_config(&c).expect("digits session");
    let mut worst = vec![0.0f64; neigs];
    let mut hvps = Vec::new();
    while let Some((r, stop)) = s.step() {
        let eigs = r.eigs.clone().expect("measured at every step");
        if r.step > 0 {
            hvps.push(r.hvps.unwrap_or(0));
        }
        let params = s.params_f64();
        let reference = lanczos(
            params.len(),
            |v, out| {
                let h = s.hvp_at(&params, v).expect("lengths match");
                out.copy_from_slice(&h);
            },
            &LanczosOptions {
                k: neigs,
                max_iter: 300,
                tol: 1e-10,
                seed: 99,
                ..Default::default()
            },
            &[],
        );
        for i in 0..neigs {
            let rel = (eigs[i] - reference.eigenvalues[i]).abs() / reference.eigenvalues[i].abs();
            worst[i] = worst[i].max(rel);
        }
        if stop.is_some() {
            break;
        }
    }
    hvps.sort_unstable();
    (worst, hvps[hvps.len() / 2])
}

/// A study rather than a routine test (the 1e-10 reference solves take minutes in a debug
/// build): `cargo test --release --test lanczos_clusters -- --ignored --nocapture`.
#[test]
#[ignore = "minutes: a 1e-10 reference solve at each of 100 digits steps"]
fn digits_warm_estimates_are_within_tolerance_of_a_tight_reference() {
    for neigs in [1, 2] {
        let (worst, median) = digits_warm_study(neigs, 100);
        eprintln!(
            "digits, k = {neigs}: worst relative errors {worst:?}, median {median} HVPs per warm solve"
        );
        for (i, w) in worst.iter().enumerate() {
            assert!(
                *w <= 1e-3,
                "k = {neigs}: λ{} off by {w:.1e} relative",
                i + 1
            );
        }
    }
}
