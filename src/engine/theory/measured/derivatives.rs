//! [`Derivatives`]: loss, gradient and exact Hessian–vector products at arbitrary parameters,
//! as f64 vectors whatever the arithmetic, for an [`Evaluator`] and for a [`Session`].

use crate::engine::Float;
use crate::engine::network::Evaluator;
use crate::engine::session::Session;
use crate::engine::theory::TheoryError;

/// Loss, gradient and exact HVPs at arbitrary parameters (f64 vectors whatever the arithmetic).
pub trait Derivatives {
    fn dim(&self) -> usize;
    fn loss_grad(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), TheoryError>;
    fn hvp(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError>;
    /// Unit round-off of the arithmetic (picks the finite-difference step).
    fn unit_roundoff(&self) -> f64;
}

pub(crate) fn check_len(what: &str, got: usize, want: usize) -> Result<(), TheoryError> {
    if got == want {
        Ok(())
    } else {
        Err(TheoryError::Shape(format!(
            "{what} has {got} entries, the network has {want} parameters"
        )))
    }
}

impl<T: Float> Derivatives for Evaluator<T> {
    fn dim(&self) -> usize {
        self.num_params()
    }
    fn loss_grad(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), TheoryError> {
        check_len("the parameter vector", params.len(), self.num_params())?;
        let p: Vec<T> = params.iter().map(|x| T::of(*x)).collect();
        let mut g = vec![T::zero(); p.len()];
        let s = Evaluator::loss_grad(self, &p, &mut g);
        Ok((s.loss, g.iter().map(|x| x.f64()).collect()))
    }
    fn hvp(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError> {
        check_len("the parameter vector", params.len(), self.num_params())?;
        check_len("the direction", v.len(), self.num_params())?;
        let p: Vec<T> = params.iter().map(|x| T::of(*x)).collect();
        let vt: Vec<T> = v.iter().map(|x| T::of(*x)).collect();
        let mut out = vec![T::zero(); p.len()];
        Evaluator::hvp(self, &p, &vt, &mut out);
        Ok(out.iter().map(|x| x.f64()).collect())
    }
    fn unit_roundoff(&self) -> f64 {
        T::epsilon().f64() / 2.0
    }
}

impl<D: Derivatives + ?Sized> Derivatives for Box<D> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn loss_grad(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), TheoryError> {
        (**self).loss_grad(params)
    }
    fn hvp(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError> {
        (**self).hvp(params, v)
    }
    fn unit_roundoff(&self) -> f64 {
        (**self).unit_roundoff()
    }
}

impl Derivatives for Session {
    fn dim(&self) -> usize {
        self.num_params()
    }
    fn loss_grad(&mut self, params: &[f64]) -> Result<(f64, Vec<f64>), TheoryError> {
        self.loss_grad_at(params)
            .map_err(|e| TheoryError::Shape(e.to_string()))
    }
    fn hvp(&mut self, params: &[f64], v: &[f64]) -> Result<Vec<f64>, TheoryError> {
        self.hvp_at(params, v)
            .map_err(|e| TheoryError::Shape(e.to_string()))
    }
    fn unit_roundoff(&self) -> f64 {
        match self.precision() {
            crate::engine::Precision::F32 => f32::EPSILON as f64 / 2.0,
            crate::engine::Precision::F64 => f64::EPSILON / 2.0,
        }
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}
