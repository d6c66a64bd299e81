//! Generated datasets: Cohen et al.'s Chebyshev regression and a Gaussian teacher–student
//! classification task.

use ndarray::Array2;

use super::{DataError, Dataset, Split, Targets, to_array, try_zeros};
use crate::engine::rng::Rng;

/// Largest Chebyshev degree accepted (the recurrence costs n × degree).
pub const MAX_CHEBYSHEV_DEGREE: usize = 10_000;
/// Labels are bytes.
pub const MAX_TEACHER_CLASSES: usize = 256;

/// `np.linspace(-1, 1, n)`: `-1 + i·step` with `step = 2/(n-1)`, the last point exactly 1.
pub fn linspace(n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![-1.0];
    }
    let step = 2.0 / (n as f64 - 1.0);
    let mut x: Vec<f64> = (0..n).map(|i| i as f64 * step - 1.0).collect();
    if let Some(last) = x.last_mut() {
        *last = 1.0;
    }
    x
}

/// Chebyshev polynomial of the first kind, T_degree(x), by the three-term recurrence.
pub fn chebyshev_t(degree: usize, x: f64) -> f64 {
    let (mut prev, mut cur) = (1.0, x);
    if degree == 0 {
        return prev;
    }
    for _ in 1..degree {
        let next = 2.0 * x * cur - prev;
        prev = cur;
        cur = next;
    }
    cur
}

/// Cohen et al.'s Chebyshev regression: X = linspace(-1, 1, n) (n × 1), y = T_degree(X).
pub fn chebyshev(n: usize, degree: usize) -> Result<Dataset, DataError> {
    if n < 2 {
        return Err(DataError::InvalidSpec(format!(
            "Chebyshev needs at least 2 points (n = {n})"
        )));
    }
    if degree > MAX_CHEBYSHEV_DEGREE {
        return Err(DataError::InvalidSpec(format!(
            "Chebyshev degree {degree} is above the supported maximum {MAX_CHEBYSHEV_DEGREE}"
        )));
    }
    // reserve checks the size before linspace allocates
    let mut xs = try_zeros(n, 1, "Chebyshev inputs")?;
    xs.copy_from_slice(&linspace(n));
    let ys: Vec<f64> = xs.iter().map(|&x| chebyshev_t(degree, x)).collect();
    let x = to_array(n, 1, xs)?;
    let y = to_array(n, 1, ys)?;
    Ok(Dataset {
        name: format!("chebyshev-T{degree}"),
        train: Split {
            x,
            targets: Targets::Regression(y),
        },
        test: None,
        notes: vec![format!(
            "data: Chebyshev regression (Cohen et al.): x = linspace(-1, 1, {n}), target T_{degree}(x) by the three-term recurrence; 1 input, 1 output, no test split, no normalization"
        )],
    })
}

/// `n × dim` standard normal draws, row by row.
fn normal_matrix(
    rng: &mut Rng,
    n: usize,
    dim: usize,
    what: &str,
) -> Result<Array2<f64>, DataError> {
    let mut v = try_zeros(n, dim, what)?;
    for e in v.iter_mut() {
        *e = rng.normal();
    }
    to_array(n, dim, v)
}

/// Index of the largest entry (first one on ties).
fn argmax(row: ndarray::ArrayView1<f64>) -> usize {
    let mut best = 0;
    let mut best_v = f64::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best
}

fn teacher_split(w: &Array2<f64>, rng: &mut Rng, n: usize, what: &str) -> Result<Split, DataError> {
    let x = normal_matrix(rng, n, w.ncols(), what)?;
    let logits = x.dot(&w.t());
    let num_classes = w.nrows();
    // num_classes ≤ 256, so every index fits in a byte
    let labels = logits
        .rows()
        .into_iter()
        .map(|r| u8::try_from(argmax(r)).unwrap_or(u8::MAX))
        .collect();
    Ok(Split {
        x,
        targets: Targets::Classes {
            labels,
            num_classes,
        },
    })
}

/// Gaussian teacher–student classification: W (num_classes × dim) with N(0,1) entries from
/// `Rng::stream(seed, "teacher")`, x ~ N(0, I_dim) from streams "teacher-train" and
/// "teacher-test", label = argmax W x.
pub fn teacher(
    n_train: usize,
    n_test: usize,
    dim: usize,
    num_classes: usize,
    seed: u64,
) -> Result<Dataset, DataError> {
    if n_train == 0 {
        return Err(DataError::InvalidSpec(
            "teacher needs at least 1 training point (n_train = 0)".to_string(),
        ));
    }
    if dim == 0 {
        return Err(DataError::InvalidSpec(
            "teacher input dimension must be at least 1 (dim = 0)".to_string(),
        ));
    }
    if !(2..=MAX_TEACHER_CLASSES).contains(&num_classes) {
        return Err(DataError::InvalidSpec(format!(
            "teacher needs 2..={MAX_TEACHER_CLASSES} classes (num_classes = {num_classes})"
        )));
    }
    let w = normal_matrix(
        &mut Rng::stream(seed, "teacher"),
        num_classes,
        dim,
        "teacher weights",
    )?;
    let train = teacher_split(
        &w,
        &mut Rng::stream(seed, "teacher-train"),
        n_train,
        "teacher training inputs",
    )?;
    let test = if n_test > 0 {
        Some(teacher_split(
            &w,
            &mut Rng::stream(seed, "teacher-test"),
            n_test,
            "teacher test inputs",
        )?)
    } else {
        None
    };
    let counts = train.targets.class_counts().unwrap_or_default();
    Ok(Dataset {
        name: "teacher".to_string(),
        train,
        test,
        notes: vec![
            format!(
                "data: Gaussian teacher-student, seed {seed}: teacher W ({num_classes} x {dim}, N(0,1) entries, Rng stream \"teacher\"), x ~ N(0, I_{dim}) (streams \"teacher-train\", \"teacher-test\"), label = argmax W x; {n_train} train, {n_test} test points; no normalization"
            ),
            format!("training class counts: {counts:?}"),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chebyshev_values() {
        assert_eq!(chebyshev_t(3, 0.5), -1.0);
        assert_eq!(chebyshev_t(0, 0.3), 1.0);
        assert_eq!(chebyshev_t(1, 0.3), 0.3);
        for &x in &[-1.0, -0.7, 0.0, 0.2, 0.9, 1.0] {
            let t5 = 16.0 * x * x * x * x * x - 20.0 * x * x * x + 5.0 * x;
            assert!((chebyshev_t(5, x) - t5).abs() < 1e-12);
            let c = (7.0 * f64::acos(x)).cos();
            assert!((chebyshev_t(7, x) - c).abs() < 1e-12);
        }
        let ds = chebyshev(5, 3).unwrap();
        assert_eq!(ds.name, "chebyshev-T3");
        assert_eq!(
            ds.train.x.column(0).to_vec(),
            vec![-1.0, -0.5, 0.0, 0.5, 1.0]
        );
        let y = ds.train.targets.mse_targets();
        assert_eq!(y.column(0).to_vec(), vec![-1.0, 1.0, 0.0, -1.0, 1.0]);
        assert_eq!(ds.train.targets.num_outputs(), 1);
        assert!(ds.test.is_none());
        assert!(chebyshev(1, 3).is_err());
        assert!(chebyshev(10, MAX_CHEBYSHEV_DEGREE + 1).is_err());
        assert!(chebyshev(usize::MAX, 3).is_err());
        // numpy: np.linspace(-1, 1, 7)[1] == -0.6666666666666667
        assert_eq!(linspace(7)[1], -0.6666666666666667);
    }

    #[test]
    fn teacher_is_deterministic_and_consistent() {
        let a = teacher(200, 50, 7, 3, 11).unwrap();
        let b = teacher(200, 50, 7, 3, 11).unwrap();
        let c = teacher(200, 50, 7, 3, 12).unwrap();
        assert_eq!(a.train.x, b.train.x);
        assert_eq!(a.train.targets, b.train.targets);
        assert_ne!(a.train.x, c.train.x);
        assert_eq!(a.train.dim(), 7);
        assert_eq!(a.test.as_ref().map(|t| t.len()), Some(50));
        assert_ne!(
            a.test.as_ref().map(|t| t.x.clone()),
            Some(a.train.x.slice(ndarray::s![..50, ..]).to_owned())
        );
        // labels are the argmax of the same teacher on both splits
        let w = normal_matrix(&mut Rng::stream(11, "teacher"), 3, 7, "w").unwrap();
        for split in [&a.train, a.test.as_ref().unwrap()] {
            let logits = split.x.dot(&w.t());
            let labels = split.targets.labels().unwrap();
            for (r, &l) in logits.rows().into_iter().zip(labels) {
                assert_eq!(argmax(r), l as usize);
            }
        }
        let counts = a.train.targets.class_counts().unwrap();
        assert!(counts.iter().all(|&c| c > 20), "{counts:?}");
        assert!(teacher(0, 1, 2, 2, 0).is_err());
        assert!(teacher(1, 1, 0, 2, 0).is_err());
        assert!(teacher(1, 1, 2, 1, 0).is_err());
        assert!(teacher(1, 1, 2, 257, 0).is_err());
        assert!(teacher(1, 0, 2, 256, 0).unwrap().test.is_none());
        assert!(teacher(usize::MAX / 2, 0, 4, 2, 0).is_err());
    }
}
