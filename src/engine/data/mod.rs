//! Datasets: CIFAR-10 (binary batches on disk), the embedded 8×8 digits, and two synthetic
//! problems (Cohen et al.'s Chebyshev regression and a Gaussian teacher–student task).
//!
//! Everything a user or a file controls is validated here: bad input gives a [`DataError`]
//! whose one-line message names the file and the problem, never a panic.

pub mod cifar;
pub mod digits;
pub mod synthetic;

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// What the network is trained to output.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// class labels 0..num_classes
    Classes { labels: Vec<u8>, num_classes: usize },
    /// real-valued regression targets, n × outputs
    Regression(Array2<f64>),
}

impl Targets {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Regression(y) => y.nrows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// number of network outputs (num_classes, or regression columns)
    pub fn num_outputs(&self) -> usize {
        match self {
            Targets::Classes { num_classes, .. } => *num_classes,
            Targets::Regression(y) => y.ncols(),
        }
    }

    /// MSE target matrix: one-hot 0/1 rows for Classes, the values for Regression.
    /// (A label outside 0..num_classes, which the loaders never produce, gives an all-zero row.)
    pub fn mse_targets(&self) -> Array2<f64> {
        match self {
            Targets::Classes {
                labels,
                num_classes,
            } => {
                let mut y = Array2::zeros((labels.len(), *num_classes));
                for (mut row, &l) in y.rows_mut().into_iter().zip(labels) {
                    if let Some(v) = row.get_mut(l as usize) {
                        *v = 1.0;
                    }
                }
                y
            }
            Targets::Regression(y) => y.clone(),
        }
    }

    /// labels for cross-entropy/accuracy; None for Regression
    pub fn labels(&self) -> Option<&[u8]> {
        match self {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Regression(_) => None,
        }
    }

    /// How many examples of each class (None for Regression).
    pub fn class_counts(&self) -> Option<Vec<usize>> {
        match self {
            Targets::Classes {
                labels,
                num_classes,
            } => {
                let mut counts = vec![0usize; *num_classes];
                for &l in labels {
                    if let Some(c) = counts.get_mut(l as usize) {
                        *c += 1;
                    }
                }
                Some(counts)
            }
            Targets::Regression(_) => None,
        }
    }
}

/// Inputs and targets of one split.
#[derive(Clone, Debug)]
pub struct Split {
    /// n × d, preprocessed
    pub x: Array2<f64>,
    pub targets: Targets,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Input dimension.
    pub fn dim(&self) -> usize {
        self.x.ncols()
    }
}

/// A loaded, preprocessed dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// e.g. "cifar10-5k", "digits", "chebyshev-T5", "teacher"
    pub name: String,
    pub train: Split,
    pub test: Option<Split>,
    /// Human-readable facts that belong in a run's config.json (files and records used,
    /// normalization and where its statistics came from).
    pub notes: Vec<String>,
}

/// Which dataset to load, as stored in presets and run configs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DatasetSpec {
    /// embedded 8×8 digits (1,797 images). First n_train records (file order) for training,
    /// the next n_test for test.
    Digits { n_train: usize, n_test: usize },
    /// a cifar-10-batches-bin folder
    Cifar10 {
        dir: PathBuf,
        n_train: usize,
        n_test: usize,
        #[serde(default)]
        stats_file: Option<PathBuf>,
        /// Keep only these classes (distinct labels 0 … 9, at least two), relabelled 0 … k − 1
        /// in this order (the network then has k outputs): the first n_train (n_test) records
        /// of these classes in file order. `None`: all ten classes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        classes: Option<Vec<u8>>,
    },
    /// Cohen et al.'s Chebyshev regression: n points evenly spaced on [-1,1] (np.linspace),
    /// target T_degree(x); 1 input, 1 output, no test split
    Chebyshev { n: usize, degree: usize },
    /// Gaussian teacher–student classification: x ~ N(0, I_dim), label = argmax of a random
    /// linear teacher (num_classes × dim, N(0,1) entries) applied to x; test split drawn from
    /// the same distribution.
    Teacher {
        n_train: usize,
        n_test: usize,
        dim: usize,
        num_classes: usize,
        seed: u64,
    },
}

impl DatasetSpec {
    /// Load (or generate) and preprocess the dataset.
    pub fn load(&self) -> Result<Dataset, DataError> {
        match self {
            DatasetSpec::Digits { n_train, n_test } => digits::load(*n_train, *n_test),
            DatasetSpec::Cifar10 {
                dir,
                n_train,
                n_test,
                stats_file,
                classes,
            } => cifar::load(
                dir,
                *n_train,
                *n_test,
                stats_file.as_deref(),
                classes.as_deref(),
            ),
            DatasetSpec::Chebyshev { n, degree } => synthetic::chebyshev(*n, *degree),
            DatasetSpec::Teacher {
                n_train,
                n_test,
                dim,
                num_classes,
                seed,
            } => synthetic::teacher(*n_train, *n_test, *dim, *num_classes, *seed),
        }
    }

    /// short name for file names and legends (equals the loaded [`Dataset::name`])
    pub fn short_name(&self) -> String {
        match self {
            DatasetSpec::Digits { .. } => "digits".to_string(),
            DatasetSpec::Cifar10 {
                n_train, classes, ..
            } => cifar::dataset_name(*n_train, classes.as_deref()),
            DatasetSpec::Chebyshev { degree, .. } => format!("chebyshev-T{degree}"),
            DatasetSpec::Teacher { .. } => "teacher".to_string(),
        }
    }
}

/// Why a dataset could not be loaded. Every message is one line and names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A setting of the spec is out of range (no file involved).
    #[error("invalid dataset settings: {0}")]
    InvalidSpec(String),

    #[error(
        "CIFAR-10 folder {} does not exist; choose the cifar-10-batches-bin folder that holds data_batch_1.bin … data_batch_5.bin and test_batch.bin",
        .path.display()
    )]
    FolderMissing { path: PathBuf },

    #[error(
        "{} is not a folder; choose the cifar-10-batches-bin folder that holds data_batch_1.bin … data_batch_5.bin and test_batch.bin",
        .path.display()
    )]
    NotAFolder { path: PathBuf },

    #[error("{what} {} is missing{hint}", .path.display())]
    FileMissing {
        path: PathBuf,
        /// e.g. "CIFAR-10 training file", "statistics file"
        what: &'static str,
        /// extra advice, empty or starting with "; "
        hint: String,
    },

    #[error("{} is not a regular file", .path.display())]
    NotAFile { path: PathBuf },

    #[error("could not read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is empty (0 bytes); it is not a CIFAR-10 binary batch", .path.display())]
    EmptyFile { path: PathBuf },

    #[error(
        "{} is {len} bytes, not a whole number of {record}-byte CIFAR-10 records ({records} records and {extra} bytes left over): the file is truncated, padded or not a CIFAR-10 binary batch",
        .path.display()
    )]
    BadLength {
        path: PathBuf,
        len: u64,
        record: usize,
        records: u64,
        extra: u64,
    },

    #[error(
        "{}: record {record} (0-based, byte offset {offset}) has label {label}, but CIFAR-10 labels are 0..9; the file is corrupt or not a CIFAR-10 binary batch",
        .path.display()
    )]
    BadLabel {
        path: PathBuf,
        record: usize,
        offset: u64,
        label: u8,
    },

    #[error(
        "statistics file {} is {len} bytes, expected exactly {expected} (2 × 3072 little-endian f64: per-feature means, then stds)",
        .path.display()
    )]
    StatsLength {
        path: PathBuf,
        len: u64,
        expected: usize,
    },

    #[error("statistics file {}: {problem}", .path.display())]
    StatsValue { path: PathBuf, problem: String },

    #[error("asked for {asked} {split} records but {} holds only {held} ({detail})", .path.display())]
    NotEnoughRecords {
        /// the folder (or file) that was searched
        path: PathBuf,
        /// "training" or "test"
        split: &'static str,
        asked: usize,
        held: usize,
        detail: String,
    },

    #[error("could not decompress {}: {source}", .path.display())]
    Decompress {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}, line {line}: {problem}", .path.display())]
    Csv {
        path: PathBuf,
        /// 1-based line number
        line: usize,
        problem: String,
    },

    #[error("dataset too large to hold in memory: {0}")]
    TooLarge(String),
}

/// Features whose standard deviation is below this are only centred, not scaled.
pub const CONSTANT_STD: f64 = 1e-8;

/// A zero-filled buffer of rows × cols, or [`DataError::TooLarge`] instead of an abort.
pub(crate) fn try_zeros(rows: usize, cols: usize, what: &str) -> Result<Vec<f64>, DataError> {
    let len = rows
        .checked_mul(cols)
        .filter(|&l| l <= isize::MAX as usize / std::mem::size_of::<f64>())
        .ok_or_else(|| DataError::TooLarge(format!("{what}: {rows} × {cols} values")))?;
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        DataError::TooLarge(format!(
            "{what}: {rows} × {cols} values ({} MB) could not be allocated",
            len / (1 << 17)
        ))
    })?;
    v.resize(len, 0.0);
    Ok(v)
}

/// Wrap a row-major buffer as an n × d array.
pub(crate) fn to_array(rows: usize, cols: usize, v: Vec<f64>) -> Result<Array2<f64>, DataError> {
    Array2::from_shape_vec((rows, cols), v)
        .map_err(|e| DataError::TooLarge(format!("{rows} × {cols} array: {e}")))
}

/// Population (ddof = 0) mean and standard deviation of every column.
pub(crate) fn column_mean_std(x: &Array2<f64>) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = x.dim();
    let mut mean = vec![0.0; d];
    let mut std = vec![0.0; d];
    if n == 0 {
        return (mean, std);
    }
    for row in x.rows() {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    let inv_n = 1.0 / n as f64;
    for m in &mut mean {
        *m *= inv_n;
    }
    for row in x.rows() {
        for ((s, v), m) in std.iter_mut().zip(row).zip(&mean) {
            let dv = v - m;
            *s += dv * dv;
        }
    }
    for s in &mut std {
        *s = (*s * inv_n).sqrt();
    }
    (mean, std)
}

/// `(x - mean) / std` per column; columns whose std is below [`CONSTANT_STD`] are only
/// centred. Returns how many columns were only centred.
pub(crate) fn standardize(x: &mut Array2<f64>, mean: &[f64], std: &[f64]) -> usize {
    let divisor: Vec<f64> = std
        .iter()
        .map(|&s| if s < CONSTANT_STD { 1.0 } else { s })
        .collect();
    for mut row in x.rows_mut() {
        for ((v, m), s) in row.iter_mut().zip(mean).zip(&divisor) {
            *v = (*v - m) / s;
        }
    }
    std.iter().filter(|&&s| s < CONSTANT_STD).count()
}

/// Display helper for notes.
pub(crate) fn show(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn one_hot_targets_and_counts() {
        let t = Targets::Classes {
            labels: vec![2, 0, 1, 2],
            num_classes: 3,
        };
        assert_eq!(t.len(), 4);
        assert!(!t.is_empty());
        assert_eq!(t.num_outputs(), 3);
        assert_eq!(
            t.mse_targets(),
            array![[0., 0., 1.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.]]
        );
        assert_eq!(t.labels(), Some(&[2u8, 0, 1, 2][..]));
        assert_eq!(t.class_counts(), Some(vec![1, 1, 2]));
        // out-of-range label: zero row, no panic
        let bad = Targets::Classes {
            labels: vec![5],
            num_classes: 2,
        };
        assert_eq!(bad.mse_targets(), array![[0., 0.]]);
    }

    #[test]
    fn regression_targets() {
        let y = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let t = Targets::Regression(y.clone());
        assert_eq!(t.len(), 3);
        assert_eq!(t.num_outputs(), 2);
        assert_eq!(t.mse_targets(), y);
        assert_eq!(t.labels(), None);
        assert_eq!(t.class_counts(), None);
    }

    #[test]
    fn mean_std_and_standardize() {
        let mut x = array![
            [1.0, 5.0, 0.0],
            [3.0, 5.0, 0.0],
            [5.0, 5.0, 0.0],
            [7.0, 5.0, 0.0]
        ];
        let (m, s) = column_mean_std(&x);
        assert_eq!(m, vec![4.0, 5.0, 0.0]);
        assert!((s[0] - 5.0f64.sqrt()).abs() < 1e-12); // population std of 1,3,5,7
        assert_eq!(&s[1..], &[0.0, 0.0]);
        let centred_only = standardize(&mut x, &m, &s);
        assert_eq!(centred_only, 2);
        let (m2, s2) = column_mean_std(&x);
        for v in m2 {
            assert!(v.abs() < 1e-12);
        }
        assert!((s2[0] - 1.0).abs() < 1e-12);
        assert_eq!(x.column(1).to_vec(), vec![0.0; 4]);
    }

    #[test]
    fn try_zeros_refuses_absurd_sizes() {
        assert!(matches!(
            try_zeros(usize::MAX, 2, "test"),
            Err(DataError::TooLarge(_))
        ));
        assert_eq!(try_zeros(2, 3, "test").map(|v| v.len()).ok(), Some(6));
    }

    #[test]
    fn spec_json_round_trip_and_names() {
        let specs = vec![
            DatasetSpec::Digits {
                n_train: 1000,
                n_test: 797,
            },
            DatasetSpec::Cifar10 {
                dir: PathBuf::from("/data/cifar-10-batches-bin"),
                n_train: 5000,
                n_test: 1000,
                stats_file: None,
                classes: None,
            },
            DatasetSpec::Chebyshev { n: 20, degree: 5 },
            DatasetSpec::Teacher {
                n_train: 100,
                n_test: 10,
                dim: 8,
                num_classes: 3,
                seed: 4,
            },
        ];
        for s in &specs {
            let json = serde_json::to_string(s).unwrap_or_default();
            let back: DatasetSpec = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&back, s);
        }
        let json = r#"{"kind":"cifar10","dir":"/x","n_train":5000,"n_test":0}"#;
        let s: DatasetSpec = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.short_name(), "cifar10-5k");
        assert_eq!(specs[0].short_name(), "digits");
        assert_eq!(specs[2].short_name(), "chebyshev-T5");
        assert_eq!(specs[3].short_name(), "teacher");
    }
}
