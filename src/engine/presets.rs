//! Presets: plain data shared by the app's menu and the CLI's `--preset`.

use std::path::{Path, PathBuf};

use super::config::{Optimizer, RunConfig};
use super::data::DatasetSpec;
use super::eigen::EigenSolver;
use super::model::{Activation, Init};
use super::network::LossKind;
use super::theory::linear::LinearParams;
use super::theory::self_stab::SelfStabParams;

/// What a preset sets up.
#[derive(Clone, Debug, PartialEq)]
pub enum PresetKind {
    /// A training run. For CIFAR presets the dataset's `dir` is a placeholder to be replaced
    /// with the user's folder ([`with_cifar_dir`]).
    Training(Box<RunConfig>),
    SelfStab(SelfStabParams),
    Linear(LinearParams),
}

/// A named preset with its description and source.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub source: &'static str,
    pub needs_cifar: bool,
    pub kind: PresetKind,
}

/// Name of the statistics file our CIFAR loader looks for beside the batches.
pub const CIFAR_STATS_FILE: &str = "train50k_feature_mean_std.f64le";

fn cohen_fig1(lr: f64) -> RunConfig {
    RunConfig {
        dataset: DatasetSpec::Cifar10 {
            dir: PathBuf::from("cifar-10-batches-bin"),
            n_train: 5000,
            n_test: 1000,
            stats_file: None,
            classes: None,
        },
        hidden: vec![200, 200],
        activation: Activation::Tanh,
        bias: true,
        loss: LossKind::Mse,
        init: Init::Pytorch,
        init_scale: 1.0,
        seed: 0,
        precision: super::Precision::F32,
        optimizer: Optimizer::Gd,
        lr,
        max_steps: 10_000,
        acc_goal: Some(0.99),
        loss_goal: None,
        divergence_factor: 1e3,
        eig_every: 20,
        neigs: 2,
        lanczos_tol: 1e-3,
        lanczos_max_iter: 60,
        warm_start: true,
        eig_solver: EigenSolver::Block,
        test_every: 100,
        threads: 0,
        chunk_rows: 2500,
    }
}

/// Cohen et al. 2025's quick-start setting on CPU: the first 1,000 CIFAR-10 training images of
/// classes 0–3 (airplane, automobile, bird, cat), a small tanh MLP, MSE, f64.
fn cifar4_central_flow() -> RunConfig {
    RunConfig {
        dataset: DatasetSpec::Cifar10 {
            dir: PathBuf::from("cifar-10-batches-bin"),
            n_train: 1000,
            n_test: 0,
            stats_file: None,
            classes: Some(vec![0, 1, 2, 3]),
        },
        hidden: vec![32, 32],
        activation: Activation::Tanh,
        bias: true,
        loss: LossKind::Mse,
        init: Init::Pytorch,
        init_scale: 1.0,
        seed: 0,
        precision: super::Precision::F64,
        optimizer: Optimizer::Gd,
        lr: CIFAR4_LR,
        max_steps: 400,
        acc_goal: None,
        loss_goal: None,
        divergence_factor: 1e3,
        eig_every: 1,
        neigs: 2,
        lanczos_tol: 1e-4,
        lanczos_max_iter: 60,
        warm_start: true,
        eig_solver: EigenSolver::Block,
        test_every: 0,
        threads: 0,
        chunk_rows: 1000,
    }
}

/// The lecture demo: Cohen et al. 2021's Fig. 1 (fc-tanh, MSE, full-batch GD on CIFAR-10,
/// all ten classes) made small enough to watch live on a CPU: the first 1,000 training images
/// and a 3072-32-32-10 net, with 2/η = 200 about twice λ1(0) so that progressive sharpening
/// has room to show before the edge.
fn cifar_lecture() -> RunConfig {
    RunConfig {
        dataset: DatasetSpec::Cifar10 {
            dir: PathBuf::from("cifar-10-batches-bin"),
            n_train: 1000,
            n_test: 0,
            stats_file: None,
            classes: None,
        },
        hidden: vec![32, 32],
        activation: Activation::Tanh,
        bias: true,
        loss: LossKind::Mse,
        init: Init::Pytorch,
        init_scale: 1.0,
        seed: 0,
        precision: super::Precision::F32,
        optimizer: Optimizer::Gd,
        lr: CIFAR_LECTURE_LR,
        max_steps: 3000,
        acc_goal: None,
        loss_goal: None,
        divergence_factor: 1e3,
        eig_every: 10,
        neigs: 2,
        lanczos_tol: 1e-3,
        lanczos_max_iter: 60,
        warm_start: true,
        eig_solver: EigenSolver::Block,
        test_every: 0,
        threads: 0,
        chunk_rows: 1000,
    }
}

/// η of the `cifar-lecture` preset (2/η = 200).
pub const CIFAR_LECTURE_LR: f64 = 0.01;
/// λ1 at initialisation of the `cifar-lecture` preset's net and data, measured on real
/// CIFAR-10 (step 0 of `run --preset cifar-lecture`, 2026-12-05). It depends only on the
/// data, the architecture, the init, the precision and the random seed, which its test pins.
pub const CIFAR_LECTURE_LAMBDA1_0: f64 = 106.6;
/// The step where the `cifar-lecture` run first measured λ1 ≥ 2/η (2026-12-05).
pub const CIFAR_LECTURE_CROSSING_STEP: usize = 1200;

/// Former preset names that still open the preset now under another name.
const RENAMED: &[(&str, &str)] = &[("cohen-fig1-fast", "cifar-lecture")];

/// η of the `cf-cifar4` preset.
pub const CIFAR4_LR: f64 = 0.02;

fn digits_demo() -> RunConfig {
    RunConfig {
        dataset: DatasetSpec::Digits {
            n_train: 1000,
            n_test: 797,
        },
        hidden: vec![64, 64],
        activation: Activation::Tanh,
        bias: true,
        loss: LossKind::Mse,
        init: Init::Pytorch,
        init_scale: 1.0,
        seed: 0,
        precision: super::Precision::F32,
        optimizer: Optimizer::Gd,
        lr: 0.4,
        max_steps: 2000,
        acc_goal: None,
        loss_goal: None,
        divergence_factor: 1e3,
        eig_every: 1,
        neigs: 1,
        lanczos_tol: 1e-3,
        lanczos_max_iter: 60,
        warm_start: true,
        eig_solver: EigenSolver::Block,
        test_every: 10,
        threads: 0,
        chunk_rows: 2048,
    }
}

fn chebyshev() -> RunConfig {
    RunConfig {
        dataset: DatasetSpec::Chebyshev { n: 20, degree: 4 },
        hidden: vec![100, 100],
        activation: Activation::Tanh,
        bias: true,
        loss: LossKind::Mse,
        init: Init::Pytorch,
        init_scale: 1.0,
        seed: 0,
        precision: super::Precision::F64,
        optimizer: Optimizer::Gd,
        lr: 0.1,
        max_steps: 5000,
        acc_goal: None,
        loss_goal: Some(1e-6),
        divergence_factor: 1e3,
        eig_every: 1,
        neigs: 1,
        lanczos_tol: 1e-4,
        lanczos_max_iter: 60,
        warm_start: true,
        eig_solver: EigenSolver::Block,
        test_every: 0,
        threads: 1,
        chunk_rows: 2048,
    }
}

/// Every preset, in menu order.
pub fn all() -> Vec<Preset> {
    vec![
        Preset {
            name: "digits-demo",
            title: "Digits: progressive sharpening to the edge",
            description: "A tanh MLP (64-64-64-10) on 1,000 embedded 8×8 digits, MSE on one-hot targets, full-batch GD at η = 0.4. The sharpness λ1 rises from 2.3 to 2/η = 5 in about 133 steps, then hovers at the edge of stability while the loss keeps falling, non-monotonically. Runs in seconds on any CPU; no files needed.",
            source: "After Cohen et al. 2021, Fig. 1, on a dataset small enough to embed.",
            needs_cifar: false,
            kind: PresetKind::Training(Box::new(digits_demo())),
        },
        Preset {
            name: "cohen-fig1",
            title: "CIFAR-10 5k, fc-tanh, η = 0.02 (2/η = 100)",
            description: "Cohen et al.'s setting: the first 5,000 CIFAR-10 training images, standardised with the 50k-image statistics, a 3072-200-200-10 tanh MLP with PyTorch's default init, MSE loss, full-batch GD at η = 0.02 until 99% train accuracy. Sharpness rises (progressive sharpening) to 2/η = 100, then hovers there (edge of stability). Needs a cifar-10-batches-bin folder.",
            source: "Cohen et al. 2021, Fig. 1 (fully connected tanh network on a 5,000-image CIFAR-10 subset).",
            needs_cifar: true,
            kind: PresetKind::Training(Box::new(cohen_fig1(0.02))),
        },
        Preset {
            name: "cifar-lecture",
            title: "CIFAR-10 1k, fc-tanh 32-32, η = 0.01 (2/η = 200): the lecture demo",
            description: "Cohen et al.'s Fig. 1 made small enough to watch live: the first 1,000 CIFAR-10 training images (all ten classes), a 3072-32-32-10 tanh MLP, MSE on one-hot targets, full-batch GD in f32 at η = 0.01 for 3,000 steps, λ1 every 10 steps. λ1 starts at 107, about half of 2/η = 200, and rises steadily (progressive sharpening) until it crosses 2/η at step 1,200; it overshoots to 218 (step 1,370), falls back and hovers at the edge of stability (199–211 from step 1,400) while the train loss keeps falling, non-monotonically, from 0.21 to 0.10. About 45 s of CPU time on one core. Needs a cifar-10-batches-bin folder.",
            source: "After Cohen et al. 2021, Fig. 1, on a smaller subset (1,000 images) and a narrower network (32-32).",
            needs_cifar: true,
            kind: PresetKind::Training(Box::new(cifar_lecture())),
        },
        Preset {
            name: "cf-cifar4",
            title: "Central flow on CIFAR-10, 4 classes, 1k images",
            description: "The first 1,000 CIFAR-10 training images of classes 0–3 (airplane, automobile, bird, cat), a 3072-32-32-4 tanh MLP, MSE on one-hot targets, full-batch GD in f64 at η = 0.02. The sharpness rises from 78 to 2/η = 100 near step 90, keeps rising (f64 GD needs round-off to seed the instability) until GD's oscillation takes over near step 195, and then hovers at 2/η; run it with the central flow on (`run --central-flow`, or the Training workspace's checkbox) to see the flow hold λ1 at 2/η and predict GD's time-averaged loss. Needs a cifar-10-batches-bin folder.",
            source: "After the quick start of Cohen, Damian, Talwalkar, Kolter & Lee 2025 (central flows), on a CPU-sized network.",
            needs_cifar: true,
            kind: PresetKind::Training(Box::new(cifar4_central_flow())),
        },
        Preset {
            name: "chebyshev",
            title: "Chebyshev regression (T4 on 20 points)",
            description: "Cohen et al.'s small regression task: fit the degree-4 Chebyshev polynomial on 20 points in [−1, 1] with a tanh MLP (100-100), MSE, full-batch GD in f64. Tiny and exact enough to compare GD with gradient flow.",
            source: "Cohen et al. 2021, Appendix (Chebyshev polynomial regression).",
            needs_cifar: false,
            kind: PresetKind::Training(Box::new(chebyshev())),
        },
        Preset {
            name: "damian-stages",
            title: "Self-stabilization map: four stages",
            description: "Damian et al.'s predicted dynamics x' = −(1 + ηy)x, y' = y + η(α − βx²/2) with parameters that show several full cycles of progressive sharpening, destabilization, self-stabilization and return to stability.",
            source: "Damian et al. 2022, Def. 4.1: the four stages of self-stabilization.",
            needs_cifar: false,
            kind: PresetKind::SelfStab(SelfStabParams::four_stage_example()),
        },
        Preset {
            name: "li-linear",
            title: "Two-layer linear network: ‖A‖² drives sharpness",
            description: "Li et al.'s model f(x) = AᵀWx/√m with symmetric init (F₀ = 0) on Gaussian data with ±1 labels: ‖A‖² and the sharpness rise together to 2/η while ⟨F, D⟩ < 0; the lemma residuals check Li et al.'s identities step by step.",
            source: "Li et al. 2022, Lemmas 4 and 5 (Lemma 5 with its sign corrected).",
            needs_cifar: false,
            kind: PresetKind::Linear(LinearParams::li_linear()),
        },
    ]
}

/// The preset of this name, or of a former name (`cohen-fig1-fast` is now `cifar-lecture`).
pub fn find(name: &str) -> Option<Preset> {
    let name = RENAMED
        .iter()
        .find(|(old, _)| *old == name)
        .map_or(name, |(_, new)| *new);
    all().into_iter().find(|p| p.name == name)
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name).collect()
}

/// Point a CIFAR training config at a folder; uses the statistics file found there unless
/// one is given.
pub fn with_cifar_dir(config: &mut RunConfig, dir: &Path, stats: Option<&Path>) {
    if let DatasetSpec::Cifar10 {
        dir: d, stats_file, ..
    } = &mut config.dataset
    {
        *d = dir.to_path_buf();
        *stats_file = match stats {
            Some(s) => Some(s.to_path_buf()),
            None => {
                let s = dir.join(CIFAR_STATS_FILE);
                s.is_file().then_some(s)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_unique() {
        let all = all();
        for p in &all {
            match &p.kind {
                PresetKind::Training(c) => assert!(c.check().is_ok(), "{}", p.name),
                PresetKind::SelfStab(s) => assert!(s.check().is_ok(), "{}", p.name),
                PresetKind::Linear(l) => assert!(l.check().is_ok(), "{}", p.name),
            }
        }
        let mut names = names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(find("cohen-fig1").is_some_and(|p| p.needs_cifar));
    }

    fn training(name: &str) -> RunConfig {
        match find(name).map(|p| p.kind) {
            Some(PresetKind::Training(c)) => *c,
            other => panic!("{name} is not a training preset: {other:?}"),
        }
    }

    /// The lecture demo must start well below the edge and cross it about a third to a half
    /// of the way through. λ1(0) and the crossing step were measured on real CIFAR-10 for
    /// exactly this data, net, init, precision and seed; changing any of them needs a new
    /// measurement (and new numbers in the description and the README).
    #[test]
    fn cifar_lecture_shows_sharpening_before_the_edge() {
        let c = training("cifar-lecture");
        assert_eq!(
            c.dataset,
            DatasetSpec::Cifar10 {
                dir: PathBuf::from("cifar-10-batches-bin"),
                n_train: 1000,
                n_test: 0,
                stats_file: None,
                classes: None,
            }
        );
        assert_eq!(c.hidden, [32, 32]);
        assert_eq!(
            (c.activation, c.loss, c.init, c.init_scale, c.seed, c.bias),
            (Activation::Tanh, LossKind::Mse, Init::Pytorch, 1.0, 0, true)
        );
        assert_eq!(c.precision, crate::engine::Precision::F32);
        assert_eq!(c.optimizer, Optimizer::Gd);
        // Room for progressive sharpening: λ1(0) at most 0.6 of 2/η.
        assert!(
            CIFAR_LECTURE_LAMBDA1_0 <= 0.6 * 2.0 / c.lr,
            "2/η = {}",
            2.0 / c.lr
        );
        assert_eq!(c.lr, CIFAR_LECTURE_LR);
        // The crossing a third to a half of the way, and nothing stops the run before it.
        assert!(
            (2 * CIFAR_LECTURE_CROSSING_STEP..=3 * CIFAR_LECTURE_CROSSING_STEP)
                .contains(&c.max_steps),
            "max_steps = {}",
            c.max_steps
        );
        assert!(c.acc_goal.is_none() && c.loss_goal.is_none());
        assert!(
            c.eig_every > 0 && c.eig_every <= 10,
            "eig_every = {}",
            c.eig_every
        );
        // The old name still opens it.
        assert_eq!(
            find("cohen-fig1-fast").map(|p| p.name),
            Some("cifar-lecture")
        );
    }

    /// Cohen et al. 2021, Fig. 1 stays as published: 5,000 images, 200-200, η = 0.02.
    #[test]
    fn cohen_fig1_is_the_published_setting() {
        let c = training("cohen-fig1");
        assert!(matches!(
            c.dataset,
            DatasetSpec::Cifar10 {
                n_train: 5000,
                classes: None,
                ..
            }
        ));
        assert_eq!(c.hidden, [200, 200]);
        assert_eq!(c.lr, 0.02);
        assert_eq!(c.acc_goal, Some(0.99));
    }
}
