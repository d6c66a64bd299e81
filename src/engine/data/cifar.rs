//! CIFAR-10 in its original binary format (`cifar-10-batches-bin`).
//!
//! Each record is 3,073 bytes: one label byte (0..9), then 1,024 red, 1,024 green and 1,024
//! blue bytes, each plane 32×32 row-major. Features keep that order. Preprocessing follows
//! Cohen et al.: pixel/255, then per-feature `(x - mean) / std` with the statistics of the full
//! 50,000-image training set (from a statistics file), or, without one, of the loaded records.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{
    DataError, Dataset, Split, Targets, column_mean_std, show, standardize, to_array, try_zeros,
};

/// Pixel bytes (features) per image.
pub const PIXELS: usize = 3072;
/// Bytes per record: label + pixels.
pub const RECORD_BYTES: usize = 1 + PIXELS;
pub const NUM_CLASSES: usize = 10;
/// Training batch files, in the order their records are taken.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub const TEST_FILE: &str = "test_batch.bin";
/// Size of a statistics file: 2 × 3,072 little-endian f64 (means, then stds).
pub const STATS_BYTES: usize = 2 * PIXELS * 8;

/// Name of the dataset made of the first `n_train` training records: "cifar10-5k" for 5,000,
/// "cifar10-n1234" when not a whole number of thousands; with a class filter the classes
/// follow ("cifar10-1k-c0123").
pub fn dataset_name(n_train: usize, classes: Option<&[u8]>) -> String {
    let base = if n_train > 0 && n_train.is_multiple_of(1000) {
        format!("cifar10-{}k", n_train / 1000)
    } else {
        format!("cifar10-n{n_train}")
    };
    match classes {
        Some(c) => {
            let c: String = c.iter().map(|c| c.to_string()).collect();
            format!("{base}-c{c}")
        }
        None => base,
    }
}

fn length_error(path: &Path, len: u64) -> DataError {
    let rec = RECORD_BYTES as u64;
    if len == 0 {
        DataError::EmptyFile {
            path: path.to_path_buf(),
        }
    } else {
        DataError::BadLength {
            path: path.to_path_buf(),
            len,
            record: RECORD_BYTES,
            records: len / rec,
            extra: len % rec,
        }
    }
}

/// Check a batch file's bytes (whole records, labels 0..9) and return its record count.
pub fn check_records(bytes: &[u8], path: &Path) -> Result<usize, DataError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        return Err(length_error(path, bytes.len() as u64));
    }
    for (i, rec) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = rec[0];
        if label as usize >= NUM_CLASSES {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                record: i,
                offset: (i * RECORD_BYTES) as u64,
                label,
            });
        }
    }
    Ok(bytes.len() / RECORD_BYTES)
}

/// Parse a whole batch file: labels (one per record) and raw pixels (n × 3,072, record order).
/// `path` is only used in error messages.
pub fn parse_records(bytes: &[u8], path: &Path) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let n = check_records(bytes, path)?;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * PIXELS);
    for rec in bytes.chunks_exact(RECORD_BYTES) {
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((labels, pixels))
}

/// Read a statistics file: per-feature means and stds (3,072 each, little-endian f64).
pub fn read_stats(path: &Path) -> Result<(Vec<f64>, Vec<f64>), DataError> {
    let bytes = read_file(path, "statistics file")?;
    parse_stats(&bytes, path)
}

/// Parse the bytes of a statistics file (see [`read_stats`]).
pub fn parse_stats(bytes: &[u8], path: &Path) -> Result<(Vec<f64>, Vec<f64>), DataError> {
    if bytes.len() != STATS_BYTES {
        return Err(DataError::StatsLength {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
            expected: STATS_BYTES,
        });
    }
    let mut values = Vec::with_capacity(2 * PIXELS);
    for chunk in bytes.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        values.push(f64::from_le_bytes(b));
    }
    let stds = values.split_off(PIXELS);
    let means = values;
    let bad = |problem: String| DataError::StatsValue {
        path: path.to_path_buf(),
        problem,
    };
    if let Some((j, v)) = means.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(bad(format!(
            "mean of feature {j} is {v}, not a finite number"
        )));
    }
    if let Some((j, v)) = stds
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v > 0.0))
    {
        return Err(bad(format!(
            "std of feature {j} is {v}; every std must be a finite number > 0"
        )));
    }
    Ok((means, stds))
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, DataError> {
    match fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(DataError::FileMissing {
            path: path.to_path_buf(),
            what,
            hint: String::new(),
        }),
        Err(_) if path.is_dir() => Err(DataError::NotAFile {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(DataError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Number of records in a batch file, from its size (without reading it).
fn file_records(path: &Path, what: &'static str) -> Result<usize, DataError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(DataError::FileMissing {
                path: path.to_path_buf(),
                what,
                hint: String::new(),
            });
        }
        Err(source) => {
            return Err(DataError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.is_file() {
        return Err(DataError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let len = meta.len();
    if len == 0 || !len.is_multiple_of(RECORD_BYTES as u64) {
        return Err(length_error(path, len));
    }
    usize::try_from(len / RECORD_BYTES as u64)
        .map_err(|_| DataError::TooLarge(format!("{} has too many records", show(path))))
}

/// Advice when data_batch_1.bin is missing from the chosen folder.
fn missing_folder_hint(dir: &Path) -> String {
    if dir.join("cifar-10-batches-bin").is_dir() {
        format!(
            "; the folder contains cifar-10-batches-bin, choose {} instead",
            show(&dir.join("cifar-10-batches-bin"))
        )
    } else if dir.join("data_batch_1").is_file() {
        "; this looks like the Python version of CIFAR-10, download the binary version (cifar-10-binary.tar.gz) instead".to_string()
    } else {
        "; choose the cifar-10-batches-bin folder of the binary version of CIFAR-10".to_string()
    }
}

/// One file's share of a split.
struct Part {
    path: PathBuf,
    take: usize,
    total: usize,
}

/// Raw pixels/255 and labels of the first `n` records of `parts`.
fn read_parts(
    parts: &[Part],
    n: usize,
    split: &'static str,
) -> Result<(Vec<f64>, Vec<u8>), DataError> {
    let mut x = try_zeros(n, PIXELS, split)?;
    let mut labels = Vec::with_capacity(n);
    let mut row = 0;
    for part in parts {
        let bytes = read_file(&part.path, "CIFAR-10 file")?;
        let count = check_records(&bytes, &part.path)?;
        if count < part.take {
            // the file shrank since we looked at its size
            return Err(DataError::NotEnoughRecords {
                path: part.path.clone(),
                split,
                asked: part.take,
                held: count,
                detail: "the file changed while loading".to_string(),
            });
        }
        for rec in bytes.chunks_exact(RECORD_BYTES).take(part.take) {
            labels.push(rec[0]);
            let out = &mut x[row * PIXELS..(row + 1) * PIXELS];
            for (o, &p) in out.iter_mut().zip(&rec[1..]) {
                *o = p as f64 / 255.0;
            }
            row += 1;
        }
    }
    Ok((x, labels))
}

fn describe_parts(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| {
            let name = p
                .path
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.take == p.total {
                format!("all {} records of {name}", p.total)
            } else {
                format!("first {} of the {} records of {name}", p.take, p.total)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first `n_train` training records and the first `n_test` test records, planned from
/// the files' sizes (only the files needed are opened).
#[allow(clippy::type_complexity)]
fn read_plain(
    dir: &Path,
    n_train: usize,
    n_test: usize,
) -> Result<
    (
        Vec<f64>,
        Vec<u8>,
        String,
        Option<(Vec<f64>, Vec<u8>, String)>,
    ),
    DataError,
> {
    // Plan the training files from their sizes; open only the ones needed.
    let mut train_parts = Vec::new();
    let mut remaining = n_train;
    let mut held = 0usize;
    for (k, name) in TRAIN_FILES.iter().enumerate() {
        if remaining == 0 {
            break;
        }
        let path = dir.join(name);
        let total = match file_records(&path, "CIFAR-10 training file") {
            Ok(t) => t,
            Err(DataError::FileMissing { path, what, .. }) if k == 0 => {
                return Err(DataError::FileMissing {
                    path,
                    what,
                    hint: missing_folder_hint(dir),
                });
            }
            Err(DataError::FileMissing { .. }) => {
                return Err(DataError::NotEnoughRecords {
                    path: dir.to_path_buf(),
                    split: "training",
                    asked: n_train,
                    held,
                    detail: format!("{name} missing"),
                });
            }
            Err(e) => return Err(e),
        };
        let take = remaining.min(total);
        held = held.saturating_add(total);
        remaining -= take;
        train_parts.push(Part { path, take, total });
    }
    if remaining > 0 {
        return Err(DataError::NotEnoughRecords {
            path: dir.to_path_buf(),
            split: "training",
            asked: n_train,
            held,
            detail: format!(
                "{} … {} hold {held} records in total",
                TRAIN_FILES[0], TRAIN_FILES[4]
            ),
        });
    }

    let mut test_parts = Vec::new();
    if n_test > 0 {
        let path = dir.join(TEST_FILE);
        let total = file_records(&path, "CIFAR-10 test file")?;
        if n_test > total {
            return Err(DataError::NotEnoughRecords {
                path: dir.to_path_buf(),
                split: "test",
                asked: n_test,
                held: total,
                detail: format!("{TEST_FILE} has {total} records"),
            });
        }
        test_parts.push(Part {
            path,
            take: n_test,
            total,
        });
    }

    let (train_x, train_labels) = read_parts(&train_parts, n_train, "training")?;
    let test = if n_test > 0 {
        let (x, labels) = read_parts(&test_parts, n_test, "test")?;
        Some((
            x,
            labels,
            format!("{} ({n_test} records)", describe_parts(&test_parts)),
        ))
    } else {
        None
    };
    Ok((
        train_x,
        train_labels,
        format!(
            "{} ({n_train} records, file order)",
            describe_parts(&train_parts)
        ),
        test,
    ))
}

/// Check a class filter: distinct labels 0..=9, at least two (the message is one line).
pub fn check_classes(classes: &[u8]) -> Result<(), String> {
    if classes.len() < 2 {
        return Err(format!(
            "keep at least 2 CIFAR-10 classes (got {}), e.g. 0,1,2,3",
            classes.len()
        ));
    }
    if let Some(c) = classes.iter().find(|&&c| c as usize >= NUM_CLASSES) {
        return Err(format!("CIFAR-10 classes are 0 … 9 (got {c})"));
    }
    for (i, c) in classes.iter().enumerate() {
        if classes[..i].contains(c) {
            return Err(format!("CIFAR-10 class {c} is listed twice"));
        }
    }
    Ok(())
}

/// The first `n` records (file order over `files`) whose label is in `classes`, relabelled
/// by position in `classes`: pixels/255, labels, and a description of what was taken.
fn scan_classes(
    dir: &Path,
    files: &[&str],
    n: usize,
    classes: &[u8],
    split: &'static str,
) -> Result<(Vec<f64>, Vec<u8>, String), DataError> {
    let mut x = try_zeros(n, PIXELS, split)?;
    let mut labels = Vec::with_capacity(n);
    let mut seen = 0usize;
    let mut used = Vec::new();
    let mut missing = None;
    for (i, name) in files.iter().enumerate() {
        if labels.len() == n {
            break;
        }
        let path = dir.join(name);
        let bytes = match read_file(&path, "CIFAR-10 file") {
            Ok(b) => b,
            Err(DataError::FileMissing { .. }) if i > 0 => {
                missing = Some(*name);
                break;
            }
            Err(e) => return Err(e),
        };
        check_records(&bytes, &path)?;
        let mut scanned = 0usize;
        for rec in bytes.chunks_exact(RECORD_BYTES) {
            if labels.len() == n {
                break;
            }
            scanned += 1;
            let Some(k) = classes.iter().position(|&c| c == rec[0]) else {
                continue;
            };
            let row = labels.len();
            labels.push(k as u8);
            for (o, &p) in x[row * PIXELS..(row + 1) * PIXELS]
                .iter_mut()
                .zip(&rec[1..])
            {
                *o = p as f64 / 255.0;
            }
        }
        seen += scanned;
        used.push(format!("{scanned} records of {name}"));
    }
    if labels.len() < n {
        return Err(DataError::NotEnoughRecords {
            path: dir.to_path_buf(),
            split,
            asked: n,
            held: labels.len(),
            detail: match missing {
                Some(m) => format!(
                    "{m} is missing; the files before it hold {} records of classes {classes:?}",
                    labels.len()
                ),
                None => format!(
                    "{} hold only {} records of classes {classes:?}",
                    files.join(", "),
                    labels.len()
                ),
            },
        });
    }
    let desc = format!(
        "the first {n} records of classes {classes:?} (relabelled 0 … {}) among the first {seen} records: {}",
        classes.len() - 1,
        used.join(", ")
    );
    Ok((x, labels, desc))
}

/// Load CIFAR-10 from a `cifar-10-batches-bin` folder (see [`super::DatasetSpec::Cifar10`]);
/// with `classes`, only records of those classes, relabelled 0 … k − 1 in the given order.
pub fn load(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    stats_file: Option<&Path>,
    classes: Option<&[u8]>,
) -> Result<Dataset, DataError> {
    if let Some(c) = classes {
        check_classes(c).map_err(DataError::InvalidSpec)?;
    }
    if n_train == 0 {
        return Err(DataError::InvalidSpec(
            "CIFAR-10 needs at least 1 training record (n_train = 0)".to_string(),
        ));
    }
    if !dir.exists() {
        return Err(DataError::FolderMissing {
            path: dir.to_path_buf(),
        });
    }
    if !dir.is_dir() {
        return Err(DataError::NotAFolder {
            path: dir.to_path_buf(),
        });
    }

    // Statistics first: small, and a bad file should fail before reading 30 MB batches.
    let stats = stats_file.map(read_stats).transpose()?;

    let (train_x, train_labels, train_desc, test) = match classes {
        None => read_plain(dir, n_train, n_test)?,
        Some(c) => {
            let (x, l, d) = scan_classes(dir, &TRAIN_FILES, n_train, c, "training")?;
            let test = if n_test > 0 {
                Some(scan_classes(dir, &[TEST_FILE], n_test, c, "test")?)
            } else {
                None
            };
            (x, l, d, test)
        }
    };
    let num_classes = classes.map_or(NUM_CLASSES, |c| c.len());
    let mut train_x = to_array(n_train, PIXELS, train_x)?;
    let test = match test {
        Some((x, l, d)) => Some((to_array(n_test, PIXELS, x)?, l, d)),
        None => None,
    };

    let mut notes = vec![format!(
        "data: CIFAR-10 binary batches in {}; training = {train_desc}",
        show(dir),
    )];
    notes.push(match &test {
        Some((_, _, d)) => format!("test: {d}"),
        None => "test: none (n_test = 0)".to_string(),
    });
    notes.push(
        "preprocessing: pixel/255, then (x - mean)/std per feature (3072 features in record order: R, G, B planes, each 32x32 row-major)"
            .to_string(),
    );
    let (mean, std) = match (stats, stats_file) {
        (Some((m, s)), Some(p)) => {
            notes.push(format!(
                "normalization: per-feature mean/std from file {}",
                show(p)
            ));
            (m, s)
        }
        _ => {
            let (m, s) = column_mean_std(&train_x);
            notes.push(format!(
                "normalization: per-feature mean/std computed from the {n_train} loaded training records (no statistics file given); Cohen et al. use the statistics of all 50,000 training images"
            ));
            (m, s)
        }
    };
    let centred_only = standardize(&mut train_x, &mean, &std);
    if centred_only > 0 {
        notes.push(format!(
            "normalization: {centred_only} constant features (std < 1e-8) were only centred"
        ));
    }
    let test = test.map(|(mut x, labels, _)| {
        standardize(&mut x, &mean, &std);
        Split {
            x,
            targets: Targets::Classes {
                labels,
                num_classes,
            },
        }
    });

    Ok(Dataset {
        name: dataset_name(n_train, classes),
        train: Split {
            x: train_x,
            targets: Targets::Classes {
                labels: train_labels,
                num_classes,
            },
        },
        test,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with the given label and pixel bytes `f(j)`.
    fn record(label: u8, f: impl Fn(usize) -> u8) -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..PIXELS).map(f));
        r
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "eos-explorer-cifar-unit-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn parses_two_records() {
        let mut bytes = record(3, |j| (j % 256) as u8);
        bytes.extend(record(9, |_| 255));
        let (labels, pixels) = parse_records(&bytes, Path::new("mem.bin")).unwrap();
        assert_eq!(labels, vec![3, 9]);
        assert_eq!(pixels.len(), 2 * PIXELS);
        assert_eq!(pixels[0..3], [0, 1, 2]);
        assert_eq!(pixels[PIXELS - 1], ((PIXELS - 1) % 256) as u8);
        assert!(pixels[PIXELS..].iter().all(|&p| p == 255));
    }

    #[test]
    fn rejects_bad_lengths_and_labels() {
        let p = Path::new("/some/data_batch_1.bin");
        let good = record(0, |_| 0);
        let e = parse_records(&good[..RECORD_BYTES - 1], p).unwrap_err();
        assert!(matches!(e, DataError::BadLength { extra: 3072, .. }));
        assert!(e.to_string().contains("data_batch_1.bin"));
        let mut long = good.clone();
        long.extend([1, 2, 3]);
        assert!(matches!(
            parse_records(&long, p),
            Err(DataError::BadLength {
                records: 1,
                extra: 3,
                ..
            })
        ));
        assert!(matches!(
            parse_records(&[], p),
            Err(DataError::EmptyFile { .. })
        ));
        let mut bad = good.clone();
        bad.extend(record(10, |_| 0));
        let e = parse_records(&bad, p).unwrap_err();
        assert!(matches!(
            e,
            DataError::BadLabel {
                record: 1,
                label: 10,
                offset: 3073,
                ..
            }
        ));
        let msg = e.to_string();
        assert!(
            msg.contains("record 1") && msg.contains("label 10"),
            "{msg}"
        );
    }

    #[test]
    fn stats_parsing() {
        let p = Path::new("stats.f64le");
        let mut bytes = Vec::new();
        for j in 0..PIXELS {
            bytes.extend((j as f64 * 1e-4).to_le_bytes());
        }
        for _ in 0..PIXELS {
            bytes.extend(0.25f64.to_le_bytes());
        }
        let (m, s) = parse_stats(&bytes, p).unwrap();
        assert_eq!(m[10], 10.0 * 1e-4);
        assert_eq!(s[3071], 0.25);
        assert!(matches!(
            parse_stats(&bytes[8..], p),
            Err(DataError::StatsLength { len: 49144, .. })
        ));
        let mut zero_std = bytes.clone();
        zero_std[PIXELS * 8..PIXELS * 8 + 8].copy_from_slice(&0f64.to_le_bytes());
        let e = parse_stats(&zero_std, p).unwrap_err();
        assert!(e.to_string().contains("std of feature 0"), "{e}");
        let mut nan_mean = bytes.clone();
        nan_mean[16..24].copy_from_slice(&f64::NAN.to_le_bytes());
        let e = parse_stats(&nan_mean, p).unwrap_err();
        assert!(e.to_string().contains("mean of feature 2"), "{e}");
    }

    #[test]
    fn names() {
        assert_eq!(dataset_name(5000, None), "cifar10-5k");
        assert_eq!(dataset_name(50000, None), "cifar10-50k");
        assert_eq!(dataset_name(1234, None), "cifar10-n1234");
        assert_eq!(dataset_name(1000, Some(&[0, 1, 2, 3])), "cifar10-1k-c0123");
    }

    /// A class filter keeps the first records of those classes in file order, across files,
    /// relabelled by position; it is checked, and too few records is a clear error.
    #[test]
    fn class_filter_keeps_the_first_records_of_its_classes() {
        let d = temp_dir("classes");
        let mut b1 = record(5, |_| 1);
        b1.extend(record(3, |_| 2));
        b1.extend(record(0, |_| 3));
        fs::write(d.join("data_batch_1.bin"), &b1).unwrap();
        let mut b2 = record(3, |_| 4);
        b2.extend(record(9, |_| 5));
        b2.extend(record(5, |_| 6));
        fs::write(d.join("data_batch_2.bin"), &b2).unwrap();
        fs::write(d.join("test_batch.bin"), record(5, |_| 7)).unwrap();
        let ds = load(&d, 3, 1, None, Some(&[5, 3])).unwrap();
        assert_eq!(ds.name, "cifar10-n3-c53");
        // 5 → 0, 3 → 1; record 0 (class 0) skipped; the third comes from batch 2.
        assert_eq!(ds.train.targets.labels(), Some(&[0u8, 1, 1][..]));
        assert!(matches!(
            ds.train.targets,
            Targets::Classes { num_classes: 2, .. }
        ));
        assert!(ds.notes.iter().any(|n| n.contains("classes [5, 3]")));
        let t = ds.test.as_ref().unwrap();
        assert_eq!(t.targets.labels(), Some(&[0u8][..]));
        let e = load(&d, 5, 0, None, Some(&[5, 3])).unwrap_err();
        assert!(
            matches!(e, DataError::NotEnoughRecords { held: 4, .. }),
            "{e}"
        );
        for bad in [&[1u8][..], &[1, 1], &[0, 10]] {
            assert!(check_classes(bad).is_err(), "{bad:?}");
            assert!(load(&d, 1, 0, None, Some(bad)).is_err());
        }
    }

    #[test]
    fn loads_tiny_folder_with_computed_and_file_stats() {
        let d = temp_dir("tiny");
        // two training records: feature j is 0 in the first, 2*(j%100) in the second
        let mut b1 = record(1, |_| 0);
        b1.extend(record(7, |j| (2 * (j % 100)) as u8));
        b1.extend(record(2, |_| 200)); // third record, not loaded
        fs::write(d.join("data_batch_1.bin"), &b1).unwrap();
        fs::write(d.join("test_batch.bin"), record(4, |_| 51)).unwrap();

        let ds = load(&d, 2, 1, None, None).unwrap();
        assert_eq!(ds.name, "cifar10-n2");
        assert_eq!(ds.train.targets.labels(), Some(&[1u8, 7][..]));
        assert_eq!(ds.train.dim(), PIXELS);
        // population stats of {0, a}: mean a/2, std a/2 → values -1, +1; feature 0 (a = 0) centred only
        assert_eq!(ds.train.x[[0, 0]], 0.0);
        assert!((ds.train.x[[0, 1]] + 1.0).abs() < 1e-12);
        assert!((ds.train.x[[1, 1]] - 1.0).abs() < 1e-12);
        assert!(
            ds.notes
                .iter()
                .any(|n| n.contains("computed from the 2 loaded"))
        );
        assert!(ds.notes.iter().any(|n| n.contains("constant features")));
        // test record 51/255 = 0.2 with feature-1 stats mean 1/255, std 1/255 → 50
        let t = ds.test.as_ref().unwrap();
        assert_eq!(t.targets.labels(), Some(&[4u8][..]));
        assert!((t.x[[0, 1]] - 50.0).abs() < 1e-9);

        // with a statistics file: mean 0.2, std 0.1 everywhere
        let mut stats = Vec::new();
        for _ in 0..PIXELS {
            stats.extend(0.2f64.to_le_bytes());
        }
        for _ in 0..PIXELS {
            stats.extend(0.1f64.to_le_bytes());
        }
        let sp = d.join("stats.f64le");
        fs::write(&sp, &stats).unwrap();
        let ds = load(&d, 3, 0, Some(&sp), None).unwrap();
        assert!(ds.test.is_none());
        assert!((ds.train.x[[0, 5]] + 2.0).abs() < 1e-12); // (0 - 0.2)/0.1
        assert!((ds.train.x[[2, 5]] - (200.0 / 255.0 - 0.2) / 0.1).abs() < 1e-12);
        assert!(
            ds.notes
                .iter()
                .any(|n| n.contains("from file") && n.contains("stats.f64le"))
        );

        // asking for more than the files hold
        let e = load(&d, 4, 0, None, None).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("asked for 4 training records")
                && msg.contains("holds only 3")
                && msg.contains("data_batch_2.bin missing"),
            "{msg}"
        );
        let e = load(&d, 1, 2, None, None).unwrap_err();
        assert!(
            e.to_string().contains("test_batch.bin has 1 records"),
            "{e}"
        );
        assert!(matches!(
            load(&d, 0, 0, None, None),
            Err(DataError::InvalidSpec(_))
        ));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn missing_first_batch_gives_hint() {
        let d = temp_dir("hint");
        fs::create_dir_all(d.join("cifar-10-batches-bin")).unwrap();
        let e = load(&d, 5, 0, None, None).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("data_batch_1.bin") && msg.contains("choose"),
            "{msg}"
        );
        let _ = fs::remove_dir_all(&d);
    }
}
