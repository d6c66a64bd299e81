//! The Python snippet of docs/run-format.md, run exactly as printed: the folder it writes opens
//! with the engine's reader (every row, no warning) and `eos-explorer plot` draws it. Skipped,
//! with the reason printed, when `python3` is not available.

use std::path::PathBuf;
use std::process::Command;

use eos_explorer::engine::figure::runs::series_of;
use eos_explorer::engine::run_folder::read_run;

const MARKER: &str = "<!-- snippet: python-writer (tested) -->";

/// The first ```python block after the marker.
fn snippet() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/run-format.md"))
        .expect("docs/run-format.md");
    let after = &doc[doc
        .find(MARKER)
        .expect("the snippet marker is in run-format.md")..];
    let start = after
        .find("```python\n")
        .expect("a python block after the marker")
        + 10;
    let len = after[start..].find("\n```").expect("the block ends");
    after[start..start + len + 1].to_string()
}

#[test]
fn the_documented_python_snippet_writes_a_folder_the_reader_opens() {
    let code = snippet();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("eos-python-snippet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp folder");
    let out = match Command::new("python3")
        .arg("-c")
        .arg(&code)
        .current_dir(&dir)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!(
                "skipped: python3 could not be started ({e}); install python3 to run this test"
            );
            return;
        }
    };
    assert!(
        out.status.success(),
        "the snippet failed:\n{}\n{code}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_dir = dir.join("my-run");
    let loaded = read_run(&run_dir).expect("the reader opens the folder");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let m = &loaded.run.metrics;
    assert_eq!(m.step, (0..100).collect::<Vec<_>>());
    assert_eq!(
        m.column("train_loss").and_then(|c| c.values[3]),
        Some(1.0 / 4.0),
        "bit-exact numbers"
    );
    assert_eq!(
        loaded.run.info.as_ref().map(|i| i.program.as_str()),
        Some("my-script")
    );
    // λ1 = 2 + 0.05 t reaches 2/η = 5 at step 60.
    let s = series_of(&loaded.run, None);
    assert_eq!(s.first_crossing.map(|c| c[0]), Some(60.0));

    let fig = dir.join("fig.svg");
    let o = Command::new(env!("CARGO_BIN_EXE_eos-explorer"))
        .args(["plot", "--figure", "sharpness", "--out"])
        .arg(&fig)
        .arg(&run_dir)
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(&fig).expect("figure written");
    assert!(svg.contains("first crossing of 2/η"));
}
