//! Loading real and broken datasets through the public data API.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use eos_explorer::engine::Rng;
use eos_explorer::engine::data::cifar::{self, PIXELS, RECORD_BYTES};
use eos_explorer::engine::data::digits;
use eos_explorer::engine::data::*;

/// The shared CIFAR-10 subset, or None (with a notice) when it is absent outside CI.
fn shared_cifar() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10");
    if dir.join("data_batch_1.bin").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but the shared CIFAR-10 data is missing at {} (expected data_batch_1.bin, test_batch.bin, train50k_feature_mean_std.f64le)",
            dir.display()
        );
    }
    eprintln!(
        "notice: {} not found, skipping the real-CIFAR-10 test",
        dir.display()
    );
    None
}

/// A fresh, empty folder under the system temp dir, unique per test and process.
fn temp_folder(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eos-explorer-data-loading-{}-{test}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// `n` valid records with labels i % 10 and pixels (i + j) % 256.
fn records(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * RECORD_BYTES);
    for i in 0..n {
        v.push((i % 10) as u8);
        v.extend((0..PIXELS).map(|j| ((i + j) % 256) as u8));
    }
    v
}

fn cifar_spec(dir: &Path, n_train: usize, n_test: usize, stats: Option<PathBuf>) -> DatasetSpec {
    DatasetSpec::Cifar10 {
        dir: dir.to_path_buf(),
        n_train,
        n_test,
        stats_file: stats,
        classes: None,
    }
}

fn err_msg(spec: &DatasetSpec) -> String {
    match spec.load() {
        Ok(_) => panic!("{spec:?} loaded but should have failed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn real_cifar10_5k() {
    let Some(dir) = shared_cifar() else { return };
    let stats = dir.join("train50k_feature_mean_std.f64le");

    let t0 = Instant::now();
    let ds = cifar_spec(&dir, 5000, 1000, Some(stats.clone()))
        .load()
        .unwrap();
    eprintln!("cifar10-5k + 1000 test loaded in {:?}", t0.elapsed());
    assert_eq!(ds.name, "cifar10-5k");
    assert_eq!(ds.train.len(), 5000);
    assert_eq!(ds.train.dim(), 3072);
    assert_eq!(ds.train.targets.num_outputs(), 10);
    let labels = ds.train.targets.labels().unwrap();
    assert_eq!(labels[..10], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    let test = ds.test.as_ref().unwrap();
    assert_eq!(test.len(), 1000);
    assert_eq!(
        test.targets.labels().unwrap()[..10],
        [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    );
    assert!(
        ds.notes
            .iter()
            .any(|n| n.contains("from file") && n.contains("train50k_feature_mean_std.f64le")),
        "{:?}",
        ds.notes
    );
    assert!(ds.notes.iter().any(|n| n.contains("data_batch_1.bin")));

    // Undo the normalisation: (x*std + mean)*255 gives the raw red pixels back.
    let (mean, std) = cifar::read_stats(&stats).unwrap();
    let red: Vec<u8> = (0..10)
        .map(|j| ((ds.train.x[[0, j]] * std[j] + mean[j]) * 255.0).round() as u8)
        .collect();
    let expect_red = [59, 43, 50, 68, 98, 119, 139, 145, 149, 149];
    assert_eq!(red, expect_red);

    // The same through the parser, plus class counts of the whole batch.
    let path = dir.join("data_batch_1.bin");
    let (all_labels, pixels) = cifar::parse_records(&fs::read(&path).unwrap(), &path).unwrap();
    assert_eq!(all_labels.len(), 10_000);
    assert_eq!(pixels[..10], expect_red);
    let mut counts = [0usize; 10];
    for &l in &all_labels {
        counts[l as usize] += 1;
    }
    assert_eq!(
        counts,
        [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    );

    // Standardised with the 50k statistics: the 5k subset is roughly centred.
    let grand_mean = ds.train.x.mean().unwrap();
    assert!(grand_mean.abs() < 0.1, "grand mean {grand_mean}");

    // Without the statistics file: computed from the loaded records, and said so.
    let ds = cifar_spec(&dir, 5000, 0, None).load().unwrap();
    assert!(ds.test.is_none());
    assert!(
        ds.notes.iter().any(|n| n
            .contains("computed from the 5000 loaded training records (no statistics file given)")),
        "{:?}",
        ds.notes
    );
    for j in [0, 1000, 3071] {
        let col = ds.train.x.column(j);
        let m = col.mean().unwrap();
        let s = col.std(0.0);
        assert!(
            m.abs() < 1e-10 && (s - 1.0).abs() < 1e-10,
            "feature {j}: {m} {s}"
        );
    }

    // More than the shared copy holds.
    let msg = err_msg(&cifar_spec(&dir, 12_000, 0, None));
    assert!(
        msg.contains("asked for 12000 training records")
            && msg.contains("holds only 10000")
            && msg.contains("data_batch_2.bin missing"),
        "{msg}"
    );
    let msg = err_msg(&cifar_spec(&dir, 10, 1001, None));
    assert!(msg.contains("test_batch.bin"), "{msg}");
}

#[test]
fn cifar_bad_inputs_name_the_file() {
    let d = temp_folder("bad-inputs");

    // missing folder
    let missing = d.join("no-such-folder");
    let msg = err_msg(&cifar_spec(&missing, 5, 0, None));
    assert!(
        msg.contains("no-such-folder") && msg.contains("does not exist"),
        "{msg}"
    );

    // folder without data_batch_1.bin
    let empty = d.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let msg = err_msg(&cifar_spec(&empty, 5, 0, None));
    assert!(
        msg.contains("data_batch_1.bin") && msg.contains("missing"),
        "{msg}"
    );

    // truncated file
    let trunc = d.join("truncated");
    fs::create_dir_all(&trunc).unwrap();
    let mut bytes = records(3);
    bytes.truncate(2 * RECORD_BYTES + 1000);
    fs::write(trunc.join("data_batch_1.bin"), &bytes).unwrap();
    let msg = err_msg(&cifar_spec(&trunc, 1, 0, None));
    assert!(
        msg.contains("data_batch_1.bin") && msg.contains("truncated"),
        "{msg}"
    );

    // oversized by some bytes
    let over = d.join("oversized");
    fs::create_dir_all(&over).unwrap();
    let mut bytes = records(3);
    bytes.extend([0u8; 17]);
    fs::write(over.join("data_batch_1.bin"), &bytes).unwrap();
    let msg = err_msg(&cifar_spec(&over, 1, 0, None));
    assert!(
        msg.contains("data_batch_1.bin") && msg.contains("17 bytes left over"),
        "{msg}"
    );

    // label 10 in record 2
    let lab = d.join("label10");
    fs::create_dir_all(&lab).unwrap();
    let mut bytes = records(3);
    bytes[2 * RECORD_BYTES] = 10;
    fs::write(lab.join("data_batch_1.bin"), &bytes).unwrap();
    let msg = err_msg(&cifar_spec(&lab, 1, 0, None));
    assert!(
        msg.contains("data_batch_1.bin") && msg.contains("record 2") && msg.contains("label 10"),
        "{msg}"
    );
    // ... also in the test file
    fs::write(lab.join("data_batch_1.bin"), records(3)).unwrap();
    fs::write(lab.join("test_batch.bin"), &bytes).unwrap();
    let msg = err_msg(&cifar_spec(&lab, 1, 1, None));
    assert!(
        msg.contains("test_batch.bin") && msg.contains("label 10"),
        "{msg}"
    );

    // a valid folder: 3 training records, 2 test records
    let ok = d.join("valid");
    fs::create_dir_all(&ok).unwrap();
    fs::write(ok.join("data_batch_1.bin"), records(3)).unwrap();
    fs::write(ok.join("test_batch.bin"), records(2)).unwrap();
    let ds = cifar_spec(&ok, 3, 2, None).load().unwrap();
    assert_eq!(ds.train.targets.labels(), Some(&[0u8, 1, 2][..]));

    // stats file of the wrong length
    let stats = ok.join("bad_stats.f64le");
    fs::write(&stats, vec![0u8; 2 * 3072 * 8 - 8]).unwrap();
    let msg = err_msg(&cifar_spec(&ok, 3, 0, Some(stats)));
    assert!(
        msg.contains("bad_stats.f64le") && msg.contains("49144 bytes"),
        "{msg}"
    );
    // stats file with a zero std
    let stats = ok.join("zero_std.f64le");
    fs::write(&stats, vec![0u8; 2 * 3072 * 8]).unwrap();
    let msg = err_msg(&cifar_spec(&ok, 3, 0, Some(stats)));
    assert!(
        msg.contains("zero_std.f64le") && msg.contains("std of feature 0"),
        "{msg}"
    );
    // missing stats file
    let msg = err_msg(&cifar_spec(&ok, 3, 0, Some(ok.join("nope.f64le"))));
    assert!(
        msg.contains("nope.f64le") && msg.contains("missing"),
        "{msg}"
    );

    // more than the files hold
    let msg = err_msg(&cifar_spec(&ok, 4, 0, None));
    assert!(
        msg.contains("holds only 3") && msg.contains("data_batch_2.bin missing"),
        "{msg}"
    );
    let msg = err_msg(&cifar_spec(&ok, 3, 3, None));
    assert!(
        msg.contains("test_batch.bin") && msg.contains("asked for 3 test"),
        "{msg}"
    );
    // missing test file when a test split is asked for
    fs::remove_file(ok.join("test_batch.bin")).unwrap();
    let msg = err_msg(&cifar_spec(&ok, 3, 1, None));
    assert!(
        msg.contains("test_batch.bin") && msg.contains("missing"),
        "{msg}"
    );
    // n_train = 0
    assert!(err_msg(&cifar_spec(&ok, 0, 0, None)).contains("n_train = 0"));

    let _ = fs::remove_dir_all(&d);
}

#[test]
fn parsers_never_panic_on_garbage() {
    let t0 = Instant::now();
    let mut rng = Rng::stream(2024, "fuzz");
    let valid = records(3);
    let p = Path::new("fuzz.bin");
    let mut ok = 0usize;
    let mut err = 0usize;
    let mut tally = |r: bool| if r { ok += 1 } else { err += 1 };

    for it in 0..3000 {
        let mut buf = match it % 4 {
            // random bytes of a random length (sometimes a whole number of records)
            0 => {
                let len = if rng.below(2) == 0 {
                    RECORD_BYTES * rng.below(3)
                } else {
                    rng.below(3 * RECORD_BYTES + 10)
                };
                let mut b = Vec::with_capacity(len + 8);
                while b.len() < len {
                    b.extend(rng.next_u64().to_le_bytes());
                }
                b.truncate(len);
                b
            }
            // truncation or extension of a valid buffer
            1 => {
                let mut b = valid.clone();
                b.truncate(rng.below(valid.len() + 1));
                if rng.below(2) == 0 {
                    b.extend((0..rng.below(50)).map(|_| rng.below(256) as u8));
                }
                b
            }
            // bit flips of a valid buffer (labels included)
            _ => {
                let mut b = valid.clone();
                for _ in 0..1 + rng.below(8) {
                    let i = if rng.below(2) == 0 {
                        RECORD_BYTES * rng.below(3)
                    } else {
                        rng.below(b.len())
                    };
                    b[i] ^= 1 << rng.below(8);
                }
                b
            }
        };
        if let Ok((labels, pixels)) = cifar::parse_records(&buf, p) {
            assert_eq!(pixels.len(), labels.len() * PIXELS);
            assert!(labels.iter().all(|&l| l < 10));
            tally(true);
        } else {
            tally(false);
        }
        tally(cifar::parse_stats(&buf, p).is_ok());
        buf.clear();

        // digits CSV: garbage, truncated and mutated text
        let base = "0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0,0\n";
        let text = match it % 3 {
            0 => {
                let alphabet = b"0123456789,,,\n\r -+.x\xc3\xa9";
                let bytes: Vec<u8> = (0..rng.below(400))
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => {
                let full = base.repeat(3);
                let cut = rng.below(full.len() + 1);
                full[..cut].to_string()
            }
            _ => {
                let mut b = base.repeat(2).into_bytes();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len());
                    b[i] = b"0123456789,\n9x"[rng.below(14)];
                }
                String::from_utf8_lossy(&b).into_owned()
            }
        };
        tally(digits::parse_digits_csv(&text, Path::new("fuzz.csv")).is_ok());
        // and the gzip path with random bytes
        if it % 10 == 0 {
            let gz: Vec<u8> = (0..rng.below(64)).map(|_| rng.below(256) as u8).collect();
            tally(digits::parse_digits_gz(&gz, Path::new("fuzz.csv.gz")).is_ok());
        }
    }
    eprintln!("fuzz: {ok} Ok, {err} Err in {:?}", t0.elapsed());
    assert!(ok > 100 && err > 1000, "{ok} ok, {err} err");
}

#[test]
fn digits_embedded() {
    let (images, labels) = digits::embedded_records().unwrap();
    assert_eq!(images.len(), 1797);
    assert_eq!(labels.len(), 1797);
    let mut counts = [0usize; 10];
    for &l in &labels {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);

    let spec = DatasetSpec::Digits {
        n_train: 1000,
        n_test: 797,
    };
    let ds = spec.load().unwrap();
    assert_eq!(ds.name, spec.short_name());
    assert_eq!((ds.train.len(), ds.train.dim()), (1000, 64));
    assert_eq!(ds.train.targets.labels().unwrap(), &labels[..1000]);
    let test = ds.test.as_ref().unwrap();
    assert_eq!(test.targets.labels().unwrap(), &labels[1000..]);
    for j in 0..64 {
        let col = ds.train.x.column(j);
        let m = col.mean().unwrap();
        let s = col.std(0.0);
        assert!(m.abs() < 1e-12, "feature {j} mean {m}");
        assert!(s < 1e-12 || (s - 1.0).abs() < 1e-9, "feature {j} std {s}");
    }
    // the test split uses the training statistics, so it is only roughly centred
    let test_mean = test.x.mean().unwrap();
    assert!(test_mean.abs() < 0.2, "{test_mean}");
    assert!(ds.notes.iter().any(|n| n.contains("normalization")));
    let y = ds.train.targets.mse_targets();
    assert_eq!(y.shape(), &[1000, 10]);
    assert_eq!(y.row(0).sum(), 1.0);
    assert_eq!(y[[0, labels[0] as usize]], 1.0);

    let msg = err_msg(&DatasetSpec::Digits {
        n_train: 1500,
        n_test: 400,
    });
    assert!(
        msg.contains("digits.csv.gz") && msg.contains("1797"),
        "{msg}"
    );
}

#[test]
fn synthetic_datasets() {
    let ds = DatasetSpec::Chebyshev { n: 20, degree: 5 }.load().unwrap();
    assert_eq!(ds.name, "chebyshev-T5");
    assert_eq!((ds.train.len(), ds.train.dim()), (20, 1));
    assert!(ds.train.targets.labels().is_none());

    let t0 = Instant::now();
    let spec = DatasetSpec::Teacher {
        n_train: 5000,
        n_test: 100,
        dim: 3072,
        num_classes: 10,
        seed: 1,
    };
    let ds = spec.load().unwrap();
    eprintln!("teacher 5000 x 3072 generated in {:?}", t0.elapsed());
    assert_eq!((ds.train.len(), ds.train.dim()), (5000, 3072));
    let counts = ds.train.targets.class_counts().unwrap();
    assert!(counts.iter().all(|&c| c > 100), "{counts:?}");
    assert_eq!(spec.load().unwrap().train.x, ds.train.x);
}
