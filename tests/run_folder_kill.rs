//! Kill a CLI run at random moments (SIGINT and SIGKILL) and open every file under a final
//! name: none is ever truncated, and a SIGINT always leaves a complete summary.json.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use eos_explorer::engine::run_folder::{self, read_run};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-kill-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Every final-name file is complete (tables, JSON, NPZ), by the project's reader.
fn check_complete(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") {
            let text = std::fs::read_to_string(&p).expect("utf8");
            let mut w = Vec::new();
            run_folder::table::parse_table(&p, &text, &mut w).expect("table");
            assert!(w.is_empty(), "{name} damaged: {w:?}");
        } else if name.ends_with(".json") {
            let b = std::fs::read(&p).expect("read");
            assert!(
                serde_json::from_slice::<serde_json::Value>(&b).is_ok(),
                "{name} is not complete JSON"
            );
        } else if name.ends_with(".npz") {
            let f = std::fs::File::open(&p).expect("open");
            let mut r = ndarray_npy::NpzReader::new(f)
                .unwrap_or_else(|e| panic!("{name} does not open: {e}"));
            assert!(!r.names().expect("names").is_empty(), "{name} empty");
        }
    }
    if dir.join("metrics.csv").exists() {
        let l = read_run(dir).expect("the folder reads");
        assert!(
            l.warnings
                .iter()
                .all(|w| w.file.to_string_lossy().ends_with(".partial")),
            "{:?}",
            l.warnings
        );
    }
}

/// The npz files also open in numpy, when it is installed.
fn numpy_check(dir: &Path) -> bool {
    let has_numpy = Command::new("python3")
        .args(["-c", "import numpy"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_numpy {
        return false;
    }
    let script = "import glob,sys,numpy as np\n\
                  for f in glob.glob(sys.argv[1] + '/*.npz'):\n    \
                  z = np.load(f); [z[k] for k in z.files]\n";
    let ok = Command::new("python3")
        .args(["-c", script, dir.to_str().unwrap_or(".")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "numpy could not open an npz in {}", dir.display());
    true
}

#[test]
fn killed_runs_leave_only_complete_files() {
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut numpy_used = false;
    for i in 0..10 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = 150 + (seed >> 33) % 400;
        let sigint = i % 2 == 0;
        let out = tmp(&format!("k{i}"));
        let child = Command::new(env!("CARGO_BIN_EXE_eos-explorer"))
            .args([
                "run",
                "--steps",
                "100000",
                "--arch",
                "fc-tanh:64,64",
                "--save-params",
                "every:2",
                "--save-data",
                "--quiet",
                "--out",
            ])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay));
        let sig = if sigint { "-INT" } else { "-KILL" };
        let _ = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status();
        let o = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{err}");
        if sigint {
            assert_eq!(o.status.code(), Some(130), "after {delay} ms: {err}");
            let s = std::fs::read(out.join("summary.json")).expect("summary.json after SIGINT");
            let v: serde_json::Value = serde_json::from_slice(&s).expect("complete JSON");
            assert!(
                v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("stopped by the user at step")),
                "{v}"
            );
            assert!(out.join("metrics.csv").is_file());
        }
        check_complete(&out);
        numpy_used |= numpy_check(&out);
        let _ = std::fs::remove_dir_all(&out);
    }
    if !numpy_used {
        eprintln!(
            "note: python3 with numpy is not installed; the npz files were opened with ndarray-npy only"
        );
    }
}
