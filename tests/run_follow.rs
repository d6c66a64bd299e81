//! Following a run folder while another program writes it: exactly the new rows arrive, a
//! half-written line waits for its line end, and a truncated or replaced file is read again
//! from the start (and the update says so).

use std::io::Write;
use std::path::{Path, PathBuf};

use eos_explorer::engine::run_folder::{Metrics, Rows, RunFollower, TableTail, Tail};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-follow-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp folder");
    d
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
    f.flush().expect("flush");
}

fn rows(line0: usize, n: usize) -> String {
    (line0..line0 + n)
        .map(|t| format!("{t},{:?},{}\n", 1.0 / (1.0 + t as f64), t * 10))
        .collect()
}

/// The metrics delivered by one poll: (appended?, rows).
fn poll(f: &mut RunFollower) -> Option<(bool, Metrics, Option<String>)> {
    let u = f.poll().expect("poll");
    assert!(u.warnings.is_empty(), "{:?}", u.warnings);
    match u.metrics? {
        Rows::Append(m) => Some((true, m, None)),
        Rows::Replace { rows, reason } => Some((false, rows, reason)),
    }
}

#[test]
fn rows_arrive_exactly_once_and_a_half_line_waits() {
    let d = tmp("append");
    let p = d.join("metrics.csv");
    let mut f = RunFollower::new(&d);
    assert!(poll(&mut f).is_none(), "no file yet");
    append(&p, "step,train_loss,my_col\n");
    let (appended, m, reason) = poll(&mut f).expect("header");
    assert!(!appended && m.is_empty() && reason.is_none());
    let mut all = m;
    for (k, n) in [(0usize, 3usize), (3, 1), (4, 5)] {
        append(&p, &rows(k, n));
        let (appended, m, _) = poll(&mut f).expect("rows");
        assert!(appended);
        assert_eq!(m.step, (k..k + n).collect::<Vec<_>>());
        assert_eq!(
            m.column("my_col").map(|c| c.values[0]),
            Some(Some(k as f64 * 10.0))
        );
        all.append(m);
        assert!(poll(&mut f).is_none(), "nothing new");
    }
    assert_eq!(all.step, (0..9).collect::<Vec<_>>());
    // Half a line: not parsed until its line end is there.
    append(&p, "9,0.1");
    assert!(poll(&mut f).is_none(), "half a line was parsed");
    append(&p, "5,90\n10,0.05,100\n");
    let (_, m, _) = poll(&mut f).expect("completed line");
    assert_eq!(m.step, vec![9, 10]);
    assert_eq!(
        m.column("train_loss").map(|c| c.values.clone()),
        Some(vec![Some(0.15), Some(0.05)])
    );
    all.append(m);
    // The same rows as reading the whole file.
    let whole = eos_explorer::engine::run_folder::read_run(&d).expect("read");
    assert_eq!(whole.run.metrics, all);
}

#[test]
fn truncation_and_replacement_are_read_again_from_the_start() {
    let d = tmp("reset");
    let p = d.join("metrics.csv");
    append(&p, &format!("step,train_loss,my_col\n{}", rows(0, 6)));
    let mut f = RunFollower::new(&d);
    let (_, m, _) = poll(&mut f).expect("first read");
    assert_eq!(m.len(), 6);
    // Truncated and restarted in place (a script that reopened the file with "w").
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p)
        .expect("truncate");
    append(&p, &format!("step,train_loss,my_col\n{}", rows(0, 2)));
    let (appended, m, reason) = poll(&mut f).expect("reload");
    assert!(!appended);
    assert_eq!(m.step, vec![0, 1]);
    assert!(reason.is_some_and(|r| r.contains("shrank")));
    // Replaced by another file under the same name (written beside, then renamed).
    let tmpf = d.join("metrics.csv.new");
    std::fs::write(&tmpf, format!("step,train_loss,my_col\n{}", rows(0, 4))).expect("write");
    std::fs::rename(&tmpf, &p).expect("rename");
    let (appended, m, reason) = poll(&mut f).expect("replaced");
    assert!(!appended);
    assert_eq!(m.len(), 4);
    let r = reason.unwrap_or_default();
    assert!(r.contains("replaced") || r.contains("rewritten"), "{r}");
    // Rewritten in place with the same length but other numbers: noticed by the check bytes.
    let text = std::fs::read_to_string(&p).expect("read");
    std::fs::write(
        &p,
        text.replace("step,train_loss,my_col", "step,train_loss,my_cox"),
    )
    .expect("rewrite");
    append(&p, &rows(4, 1));
    let (appended, m, reason) = poll(&mut f).expect("rewritten");
    assert!(!appended && reason.is_some(), "{m:?}");
    assert!(m.column("my_cox").is_some());
}

#[test]
fn a_partial_table_renamed_at_the_end_continues_where_it_was() {
    let d = tmp("partial");
    let part = d.join("theory.csv.partial");
    append(&part, "t,x\n0,1.5\n");
    let mut t = TableTail::new(&d, "theory.csv");
    let Tail::New(c) = t.poll().expect("poll") else {
        panic!("expected the first rows")
    };
    assert_eq!((c.header.as_str(), c.text.as_str()), ("t,x", "0,1.5\n"));
    assert!(t.is_partial());
    append(&part, "1,2.5\n");
    std::fs::rename(&part, d.join("theory.csv")).expect("rename");
    let Tail::New(c) = t.poll().expect("poll") else {
        panic!("expected the new row")
    };
    assert_eq!(
        (c.text.as_str(), c.first_line, c.reload),
        ("1,2.5\n", 3, None)
    );
    assert!(!t.is_partial());
    assert_eq!(t.poll().expect("poll"), Tail::Unchanged);
}

#[test]
fn a_cli_run_being_written_is_followed_to_its_end() {
    let d = tmp("cli");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_eos-explorer"))
        .args([
            "run",
            "--preset",
            "digits-demo",
            "--n",
            "60",
            "--arch",
            "fc-tanh:8",
            "--steps",
            "150",
            "--eig-every",
            "1",
            "--out",
        ])
        .arg(&d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    let mut f = RunFollower::new(&d);
    let mut m = Metrics::default();
    let mut finished = false;
    let mut polls = 0;
    let t0 = std::time::Instant::now();
    while !finished {
        assert!(t0.elapsed().as_secs() < 120, "the run did not finish");
        let u = f.poll().expect("poll");
        assert!(u.warnings.is_empty(), "{:?}", u.warnings);
        match u.metrics {
            Some(Rows::Append(r)) => m.append(r),
            Some(Rows::Replace { rows, reason }) => {
                assert!(reason.is_none(), "{reason:?}");
                m = rows;
            }
            None => {}
        }
        finished = u.finished;
        polls += 1;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.wait();
    let _ = f.poll().map(|u| match u.metrics {
        Some(Rows::Append(r)) => m.append(r),
        Some(Rows::Replace { rows, .. }) => m = rows,
        None => {}
    });
    let whole = eos_explorer::engine::run_folder::read_run(&d).expect("read");
    assert_eq!(whole.run.metrics, m, "after {polls} polls");
    assert_eq!(m.len(), 151);
}

/// A tiny deterministic generator (no dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[test]
fn writes_cut_at_any_byte_give_the_same_rows_as_reading_the_whole_file() {
    let mut text = String::from("step,train_loss,lambda_1,extra\r\n");
    for t in 0..300usize {
        let lam = if t % 3 == 0 {
            format!("{:?}", 2.0 + t as f64 / 7.0)
        } else {
            String::new()
        };
        // CRLF and LF lines mixed, empty cells, a bad cell.
        let end = if t % 5 == 0 { "\r\n" } else { "\n" };
        let extra = if t == 77 {
            "x".to_string()
        } else {
            format!("{}", t * t)
        };
        text += &format!("{t},{:?},{lam},{extra}{end}", 1.0 / (1.0 + t as f64));
    }
    let bytes = text.as_bytes();
    for seed in 1..=5u64 {
        let d = tmp(&format!("fuzz-{seed}"));
        let p = d.join("metrics.csv");
        std::fs::write(&p, "").expect("create");
        let mut f = RunFollower::new(&d);
        let mut got = Metrics::default();
        let mut warnings = Vec::new();
        let mut rng = Lcg(seed);
        let mut at = 0;
        while at < bytes.len() {
            let n = 1 + rng.next(120);
            let end = (at + n).min(bytes.len());
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&p)
                .expect("open");
            file.write_all(&bytes[at..end]).expect("append");
            drop(file);
            at = end;
            let u = f.poll().expect("poll");
            warnings.extend(u.warnings);
            match u.metrics {
                Some(Rows::Append(m)) => got.append(m),
                Some(Rows::Replace { rows, reason }) => {
                    assert!(reason.is_none(), "{reason:?}");
                    got = rows;
                }
                None => {}
            }
        }
        let whole = eos_explorer::engine::run_folder::read_run(&d).expect("read");
        assert_eq!(whole.run.metrics, got, "seed {seed}");
        assert_eq!(got.len(), 300);
        // The same one warning, at the same place, as the whole-file reader.
        assert_eq!(warnings, whole.warnings, "seed {seed}");
    }
}

#[test]
fn a_step_going_back_across_polls_is_kept_and_reported() {
    let d = tmp("back");
    let p = d.join("metrics.csv");
    append(&p, "step,train_loss,my_col\n");
    append(&p, &rows(0, 4));
    let mut f = RunFollower::new(&d);
    assert!(f.poll().expect("poll").warnings.is_empty());
    append(&p, &rows(2, 1));
    let u = f.poll().expect("poll");
    assert!(matches!(&u.metrics, Some(Rows::Append(m)) if m.step == vec![2]));
    assert_eq!(u.warnings.len(), 1, "{:?}", u.warnings);
    assert_eq!(u.warnings[0].line, Some(6));
    assert!(u.warnings[0].message.contains("does not follow"));
}
