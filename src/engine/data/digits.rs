//! The 8×8 handwritten digits shipped with scikit-learn (1,797 images, embedded in the binary).
//!
//! CSV without header: 64 pixel values 0..16 (row-major) then the label 0..9 per line.
//! Preprocessing: pixel/16, then per-feature standardisation with the mean/std (ddof = 0) of the
//! training split only; always-constant features (border pixels) are only centred.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{
    CONSTANT_STD, DataError, Dataset, Split, Targets, column_mean_std, standardize, to_array,
    try_zeros,
};

/// gzip'd CSV from scikit-learn 1.7.2 (`sklearn/datasets/data/digits.csv.gz`).
static DIGITS_CSV_GZ: &[u8] = include_bytes!("../../../assets/digits.csv.gz");

/// How the embedded file is named in messages and notes.
pub const EMBEDDED_NAME: &str = "assets/digits.csv.gz (embedded)";
pub const PIXELS: usize = 64;
pub const NUM_CLASSES: usize = 10;
/// Images in the embedded set (Alpaydin & Kaynak's 8×8 digits as shipped with scikit-learn).
pub const N_IMAGES: usize = 1797;
/// Largest pixel value (4×4 blocks of a 32×32 bitmap counted).
pub const MAX_PIXEL: u8 = 16;

/// Longest excerpt of a bad field quoted in an error message.
const QUOTE_CHARS: usize = 24;

fn quote(field: &str) -> String {
    let short: String = field.chars().take(QUOTE_CHARS).collect();
    if short.len() < field.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// Parse digits CSV text into images and labels. Blank lines are skipped; any other malformed
/// line gives a [`DataError::Csv`] with its 1-based line number. `path` is only used in messages.
pub fn parse_digits_csv(
    text: &str,
    path: &Path,
) -> Result<(Vec<[u8; PIXELS]>, Vec<u8>), DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |problem: String| DataError::Csv {
            path: path.to_path_buf(),
            line: line_no,
            problem,
        };
        if line.trim().is_empty() {
            continue;
        }
        let mut image = [0u8; PIXELS];
        let mut label = None;
        let mut count = 0usize;
        for (k, field) in line.split(',').enumerate() {
            count += 1;
            if k > PIXELS {
                continue; // counted, reported below
            }
            let f = field.trim();
            let value: u8 = f.parse().map_err(|_| {
                let range = if k < PIXELS {
                    "0..16 (pixel)"
                } else {
                    "0..9 (label)"
                };
                err(format!(
                    "field {} is {}, expected an integer {range}",
                    k + 1,
                    quote(f)
                ))
            })?;
            if k < PIXELS {
                if value > MAX_PIXEL {
                    return Err(err(format!(
                        "pixel {} is {value}, expected 0..{MAX_PIXEL}",
                        k + 1
                    )));
                }
                image[k] = value;
            } else {
                if value as usize >= NUM_CLASSES {
                    return Err(err(format!("label is {value}, expected 0..9")));
                }
                label = Some(value);
            }
        }
        match label {
            Some(l) if count == PIXELS + 1 => {
                images.push(image);
                labels.push(l);
            }
            _ => {
                return Err(err(format!(
                    "{count} fields, expected {} (64 pixels and a label)",
                    PIXELS + 1
                )));
            }
        }
    }
    if images.is_empty() {
        return Err(DataError::Csv {
            path: path.to_path_buf(),
            line: 1,
            problem: "no records".to_string(),
        });
    }
    Ok((images, labels))
}

/// Decompress gzip'd digits CSV bytes and parse them.
pub fn parse_digits_gz(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<[u8; PIXELS]>, Vec<u8>), DataError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|source| DataError::Decompress {
            path: path.to_path_buf(),
            source,
        })?;
    parse_digits_csv(&text, path)
}

/// All 1,797 embedded images and labels, in file order.
pub fn embedded_records() -> Result<(Vec<[u8; PIXELS]>, Vec<u8>), DataError> {
    parse_digits_gz(DIGITS_CSV_GZ, Path::new(EMBEDDED_NAME))
}

fn to_x(images: &[[u8; PIXELS]]) -> Result<ndarray::Array2<f64>, DataError> {
    let mut v = try_zeros(images.len(), PIXELS, "digits")?;
    for (out, img) in v.chunks_exact_mut(PIXELS).zip(images) {
        for (o, &p) in out.iter_mut().zip(img) {
            *o = p as f64 / MAX_PIXEL as f64;
        }
    }
    to_array(images.len(), PIXELS, v)
}

/// Load the embedded digits: first `n_train` records for training, the next `n_test` for test.
pub fn load(n_train: usize, n_test: usize) -> Result<Dataset, DataError> {
    if n_train == 0 {
        return Err(DataError::InvalidSpec(
            "digits needs at least 1 training record (n_train = 0)".to_string(),
        ));
    }
    let (images, labels) = embedded_records()?;
    let total = images.len();
    if n_train.checked_add(n_test).is_none_or(|s| s > total) {
        return Err(DataError::NotEnoughRecords {
            path: PathBuf::from(EMBEDDED_NAME),
            split: "training + test",
            asked: n_train.saturating_add(n_test),
            held: total,
            detail: format!(
                "n_train = {n_train}, n_test = {n_test}; n_train + n_test must be at most {total}"
            ),
        });
    }
    let mut train_x = to_x(&images[..n_train])?;
    let (mean, std) = column_mean_std(&train_x);
    let centred_only = standardize(&mut train_x, &mean, &std);
    let test = if n_test > 0 {
        let range = n_train..n_train + n_test;
        let mut x = to_x(&images[range.clone()])?;
        standardize(&mut x, &mean, &std);
        Some(Split {
            x,
            targets: Targets::Classes {
                labels: labels[range].to_vec(),
                num_classes: NUM_CLASSES,
            },
        })
    } else {
        None
    };
    let notes = vec![
        format!(
            "data: {EMBEDDED_NAME} (scikit-learn 8x8 digits, {total} images); training = records 0..{n_train}, test = records {n_train}..{} (file order)",
            n_train + n_test
        ),
        format!(
            "normalization: pixel/16, then per-feature mean/std (population) of the {n_train} training records, applied to train and test; {centred_only} constant features (std < {CONSTANT_STD:e}) only centred"
        ),
    ];
    Ok(Dataset {
        name: "digits".to_string(),
        train: Split {
            x: train_x,
            targets: Targets::Classes {
                labels: labels[..n_train].to_vec(),
                num_classes: NUM_CLASSES,
            },
        },
        test,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pixels: &[u8; PIXELS], label: u8) -> String {
        let mut s: Vec<String> = pixels.iter().map(|p| p.to_string()).collect();
        s.push(label.to_string());
        s.join(",")
    }

    #[test]
    fn parses_and_reports_line_numbers() {
        let p = Path::new("d.csv");
        let mut a = [0u8; PIXELS];
        a[5] = 16;
        let b = [3u8; PIXELS];
        let text = format!("{}\r\n{}\n\n", line(&a, 7), line(&b, 0));
        let (imgs, labels) = parse_digits_csv(&text, p).unwrap();
        assert_eq!(labels, vec![7, 0]);
        assert_eq!(imgs[0][5], 16);
        assert_eq!(imgs[1], b);

        let bad_pixel = format!("{}\n{}", line(&a, 1), line(&[17; PIXELS], 1));
        let e = parse_digits_csv(&bad_pixel, p).unwrap_err();
        assert!(matches!(e, DataError::Csv { line: 2, .. }), "{e}");
        assert!(
            e.to_string().contains("d.csv, line 2: pixel 1 is 17"),
            "{e}"
        );

        let e = parse_digits_csv(&line(&a, 10), p).unwrap_err();
        assert!(e.to_string().contains("label is 10"), "{e}");
        let short = "1,2,3";
        assert!(
            parse_digits_csv(short, p)
                .unwrap_err()
                .to_string()
                .contains("3 fields")
        );
        let long = format!("{},4", line(&a, 1));
        assert!(
            parse_digits_csv(&long, p)
                .unwrap_err()
                .to_string()
                .contains("66 fields")
        );
        let e = parse_digits_csv("x,1", p).unwrap_err();
        assert!(e.to_string().contains("field 1 is \"x\""), "{e}");
        assert!(parse_digits_csv("\n \n", p).is_err());
        assert!(parse_digits_gz(b"not gzip", p).is_err());
    }

    #[test]
    fn embedded_file_and_standardisation() {
        let (imgs, labels) = embedded_records().unwrap();
        assert_eq!(imgs.len(), 1797);
        assert_eq!(labels[..5], [0, 1, 2, 3, 4]);
        let ds = load(1000, 797).unwrap();
        assert_eq!(ds.train.len(), 1000);
        assert_eq!(ds.test.as_ref().map(|t| t.len()), Some(797));
        let (m, s) = column_mean_std(&ds.train.x);
        for (j, (mj, sj)) in m.iter().zip(&s).enumerate() {
            assert!(mj.abs() < 1e-12, "feature {j} mean {mj}");
            assert!(
                *sj < 1e-12 || (sj - 1.0).abs() < 1e-9,
                "feature {j} std {sj}"
            );
        }
        // pixel (0,0) is always 0 in the training split → only centred → all zero
        assert!(ds.train.x.column(0).iter().all(|&v| v == 0.0));
        assert!(load(0, 10).is_err());
        let e = load(1000, 798).unwrap_err();
        assert!(e.to_string().contains("digits.csv.gz"), "{e}");
        assert!(load(usize::MAX, 2).is_err());
        assert!(load(1797, 0).unwrap().test.is_none());
    }
}
