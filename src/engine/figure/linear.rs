//! Figures of the Linear-model workspace (Li et al. 2022's two-layer linear network): weight
//! norms, ⟨F, D⟩, the sharpness against 2/η, and the residuals of the paper's identities.

use super::{Dash, Figure, Layer, Role};
use crate::engine::theory::linear::{LemmaResiduals, LinearRow};

/// Residuals below this are drawn at this value on the log plot.
pub const RES_FLOOR: f64 = 1e-18;

fn col(rows: &[LinearRow], f: impl Fn(&LinearRow) -> Option<f64>) -> Vec<[f64; 2]> {
    rows.iter()
        .filter_map(|r| f(r).map(|v| [r.t as f64, v]))
        .collect()
}

fn res(rows: &[LinearRow], f: impl Fn(&LemmaResiduals) -> f64) -> Vec<[f64; 2]> {
    col(rows, |r| r.residuals.as_ref().map(|x| f(x).max(RES_FLOOR)))
}

/// ‖A‖² and ‖W‖² over t.
pub fn norms(rows: &[LinearRow]) -> Figure {
    let mut f = Figure::new("linear-norms", "Weight norms", "t", "squared norm");
    f.push(Layer::line(
        "||A||²",
        Role::ANorm,
        col(rows, |r| Some(r.a_norm2)),
    ));
    f.push(Layer::line("||W||²", Role::WNorm, col(rows, |r| Some(r.w_norm2))).with_width(1.2));
    f
}

/// ⟨F, D⟩ over t against zero (Li et al. 2022: ‖A‖² grows while it is negative).
pub fn f_dot_d(rows: &[LinearRow]) -> Figure {
    let mut f = Figure::new("linear-fd", "<F, D>", "t", "<F, D>");
    f.push(Layer::h_line("zero", Role::Zero, 0.0));
    f.push(Layer::line("<F, D>", Role::Fd, col(rows, |r| Some(r.f_dot_d))).with_width(1.5));
    f
}

/// The exact sharpness, λ1(M) and v1ᵀMv1 against 2/η.
pub fn sharpness(rows: &[LinearRow], lr: f64) -> Figure {
    let mut f = Figure::new("linear-sharpness", "Sharpness", "t", "eigenvalue");
    f.include_y = vec![0.0];
    f.push(
        Layer::h_line("2/η", Role::Threshold, 2.0 / lr)
            .with_dash(Dash::Dashed(8.0))
            .with_width(1.5),
    );
    f.push(Layer::line(
        "exact sharpness λ1(∇²L)",
        Role::Eig(0),
        col(rows, |r| r.sharpness),
    ));
    f.push(Layer::dashed("λ1(M)", Role::Eig(1), col(rows, |r| r.lambda1_m)).with_width(1.2));
    f.push(
        Layer::line("v1^T M v1", Role::Eig(2), col(rows, |r| Some(r.v1_m_v1)))
            .with_dash(Dash::Dotted)
            .with_width(1.2),
    );
    f
}

/// Relative residuals of Li et al. 2022's identities (log scale).
pub fn residuals(rows: &[LinearRow]) -> Figure {
    let mut f = Figure::new(
        "linear-residuals",
        "Relative residuals of Li et al. 2022's identities",
        "t",
        "relative residual",
    );
    f.log_y = true;
    f.push(Layer::line(
        "Lemma 5 as printed",
        Role::Printed,
        res(rows, |x| x.m_lemma5_printed),
    ));
    f.push(Layer::line(
        "Lemma 5 corrected",
        Role::Corrected,
        res(rows, |x| x.m_lemma5_corrected),
    ));
    f.push(
        Layer::line(
            "Lemma 5 proof, last line (printed)",
            Role::OtherResidual(1),
            res(rows, |x| x.m_lemma5_proof_printed),
        )
        .with_width(1.2),
    );
    f.push(
        Layer::line(
            "Lemma 4 (D update)",
            Role::OtherResidual(0),
            res(rows, |x| x.d_lemma4),
        )
        .with_width(1.2),
    );
    f.push(
        Layer::line(
            "||A||² update",
            Role::OtherResidual(2),
            res(rows, |x| x.a_norm2),
        )
        .with_width(1.2),
    );
    f.push(
        Layer::line(
            "v1^T (ΔM) v1 expansion",
            Role::OtherResidual(3),
            res(rows, |x| x.v1_expansion),
        )
        .with_width(1.2),
    );
    f
}

/// The four figures in screen order (left column, then right).
pub fn all(rows: &[LinearRow], lr: f64) -> Vec<Figure> {
    vec![
        norms(rows),
        f_dot_d(rows),
        sharpness(rows, lr),
        residuals(rows),
    ]
}
