#![cfg(feature = "gui")]

//! Slide-ready exports: descriptive file names, an absolute folder, the chosen size and look
//! (read back from the PNG header and pixels), GIFs that decode with the expected frame count
//! (and stop when cancelled), and a font that has a glyph for every text of every figure.
//!
//! With `EOS_EXPORT_SHOTS=<folder>` the digits demo's sharpness and loss figures are also
//! written there at 1920 × 1080, light and dark, with a GIF of the sharpness growing (the
//! pictures in docs/screenshots/export-*.png come from that).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eos_explorer::engine::figure::animate::{Animation, GifOptions, up_to, write_gif};
use eos_explorer::engine::figure::central_flow::CentralFlowSeries;
use eos_explorer::engine::figure::render::{
    ExportStyle, FigureError, figure_texts, missing_glyphs,
};
use eos_explorer::engine::figure::selfstab::{Measured, SelfStabSeries, SelfStabView};
use eos_explorer::engine::figure::training::{self, OverlayRun, TrainingView};
use eos_explorer::engine::figure::{self as figure, Figure, Role, RunSeries, Theme};
use eos_explorer::engine::session::Session;
use eos_explorer::engine::theory::linear::{LinearParams, LinearRun};
use eos_explorer::engine::theory::measured::PredictedLambda1;
use eos_explorer::engine::theory::self_stab::{SelfStabParams, simulate};
use eos_explorer::ui::export::{
    ExportContext, ExportLook, ExportSettings, ExportSize, default_export_dir, file_name,
    slide_title, write_figures,
};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("eos-slides-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

fn demo_ctx() -> ExportContext {
    ExportContext {
        preset: Some("digits-demo".into()),
        eta: Some(0.4),
    }
}

/// A small synthetic run that sharpens to 2/η = 5 and hovers there.
fn synthetic() -> RunSeries {
    let mut s = RunSeries::new();
    for t in 0..200 {
        let x = t as f64;
        let l1 = if t < 100 {
            2.3 + 2.7 * x / 100.0
        } else {
            5.0 + 0.3 * (x * 0.9).sin()
        };
        s.push_values(
            x,
            (-x / 60.0).exp(),
            Some(x / 200.0),
            (t % 10 == 0).then_some(1.1 * (-x / 60.0).exp()),
            (t % 10 == 0).then_some(x / 220.0),
            Some(&[l1, 0.7 * l1]),
            5.0,
        );
    }
    s
}

/// (width, height) from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[1..4], b"PNG", "{} is not a PNG", path.display());
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn file_names_follow_the_pattern() {
    let t = UNIX_EPOCH + Duration::from_secs(1_796_164_680); // 2026-12-01 22:38 UTC
    assert_eq!(
        file_name("sharpness", &demo_ctx(), t, "", "png"),
        "sharpness_digits-demo_eta0.4_2026-12-01_2238.png"
    );
    assert_eq!(
        file_name("loss", &demo_ctx(), t, "_dark", "svg"),
        "loss_digits-demo_eta0.4_2026-12-01_2238_dark.svg"
    );
    let odd = ExportContext {
        preset: Some("my preset/2".into()),
        eta: Some(2.0 / 30.0),
    };
    assert_eq!(
        file_name("selfstab-x", &odd, t, "", "gif"),
        "selfstab-x_my-preset-2_eta0.06667_2026-12-01_2238.gif"
    );
    assert_eq!(
        file_name("loss", &ExportContext::default(), t, "", "png"),
        "loss_2026-12-01_2238.png"
    );
    assert_eq!(
        slide_title("Sharpness", &demo_ctx()),
        "Sharpness — digits-demo, η = 0.4"
    );
}

#[test]
fn files_go_to_an_absolute_folder_and_the_message_names_it() {
    let d = default_export_dir();
    assert!(d.is_absolute(), "{}", d.display());
    // A relative folder in the settings is never used.
    let s = ExportSettings {
        folder: Some(PathBuf::from("relative/exports")),
        ..ExportSettings::default()
    };
    assert!(s.folder().is_absolute());
    let dir = temp_dir("folder").join("nested");
    let s = ExportSettings {
        folder: Some(dir.clone()),
        size: ExportSize::Hd720,
        ..ExportSettings::default()
    };
    let series = synthetic();
    let fig = training::loss(&TrainingView {
        main: Some(&series),
        ..Default::default()
    });
    let styles = s.styles();
    let names = vec!["loss_test.png".to_string()];
    let n = write_figures(&s.folder(), &fig, &styles, &names);
    assert!(!n.is_error, "{}", n.text);
    let path = dir.join("loss_test.png");
    assert_eq!(n.path.as_deref(), Some(path.as_path()));
    assert!(n.text.contains(&path.display().to_string()), "{}", n.text);
    // The same name again does not overwrite: `-2` is added.
    let n2 = write_figures(&s.folder(), &fig, &styles, &names);
    assert_eq!(n2.path, Some(dir.join("loss_test-2.png")));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
}

#[test]
fn sizes_and_looks_are_honoured() {
    let dir = temp_dir("sizes");
    let series = synthetic();
    let fig = training::sharpness(&TrainingView {
        main: Some(&series),
        ..Default::default()
    });
    let cases = [
        (ExportSize::Slides, (1920, 1080)),
        (ExportSize::Hd720, (1280, 720)),
        (ExportSize::Double, (1800, 1120)),
        (ExportSize::Paper, (600, 450)), // 2 × 1.5 in at 300 DPI
    ];
    for (size, want) in cases {
        let s = ExportSettings {
            size,
            paper_inches: [2.0, 1.5],
            dpi: 300.0,
            look: ExportLook::Both,
            ..ExportSettings::default()
        };
        let styles = s.styles();
        assert_eq!(styles.len(), 2, "light and dark");
        let names: Vec<String> = styles
            .iter()
            .map(|(_, suf)| format!("{size:?}{suf}.png"))
            .collect();
        let n = write_figures(&dir, &fig, &styles, &names);
        assert!(!n.is_error, "{}", n.text);
        for (name, (st, _)) in names.iter().zip(&styles) {
            let p = dir.join(name);
            assert_eq!(png_size(&p), want, "{name}");
            let img = image::open(&p).unwrap_or_else(|e| panic!("{e}")).to_rgb8();
            let bg = figure::style::background(st.theme);
            assert_eq!(img.get_pixel(1, 1).0, [bg[0], bg[1], bg[2]], "{name}");
        }
    }
    // Text is sized for the canvas: 1920 × 1080 draws tick labels about twice as large as
    // 900 × 560, and 300 DPI paper about 9 pt.
    let slides = ExportStyle::sized(1920, 1080, Theme::Light).scale();
    assert!((1.8..2.2).contains(&slides), "{slides}");
    let paper = ExportStyle::inches(6.0, 4.0, 300.0, Theme::Light);
    assert_eq!((paper.width, paper.height), (1800, 1200));
    assert!((paper.scale() * 15.0 - 9.0 / 72.0 * 300.0).abs() < 0.5);
    let _ = std::fs::remove_dir_all(&dir);
}

/// (left, top, width, height, delay) of a GIF frame.
type FrameRect = (u16, u16, u16, u16, u16);

/// The size of a GIF file and the rectangle and delay of each frame.
fn gif_frames(path: &Path) -> (u16, u16, Vec<FrameRect>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    let mut dec = opts.read_info(file).unwrap_or_else(|e| panic!("{e}"));
    let (w, h) = (dec.width(), dec.height());
    let mut frames = Vec::new();
    while let Some(f) = dec.read_next_frame().unwrap_or_else(|e| panic!("{e}")) {
        frames.push((f.left, f.top, f.width, f.height, f.delay));
    }
    (w, h, frames)
}

#[test]
fn gif_decodes_with_the_expected_frames_and_can_be_cancelled() {
    let dir = temp_dir("gif");
    let series = synthetic();
    let fig = training::sharpness(&TrainingView {
        main: Some(&series),
        ..Default::default()
    });
    let anim = Animation::growing(fig.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(anim.t, (0.0, 199.0));
    let st = ExportStyle::sized(480, 270, Theme::Light);
    let opts = GifOptions {
        fps: 10,
        seconds: 1.2,
        hold_seconds: 1.0,
    };
    assert_eq!(opts.frames(), 12);
    let path = dir.join("sharpness.gif");
    let mut seen = Vec::new();
    let n = write_gif(
        &path,
        &anim,
        &st,
        &opts,
        &AtomicBool::new(false),
        &mut |d, t| seen.push((d, t)),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, 12);
    assert_eq!(seen.last(), Some(&(12, 12)));
    let (w, h, frames) = gif_frames(&path);
    assert_eq!((w, h), (480, 270));
    assert_eq!(frames.len(), 12);
    // The first frame is whole; later ones only the part that changed (the growing curves).
    assert_eq!(frames[0].2, 480);
    assert!(
        frames[1..].iter().all(|f| f.2 < 480 || f.3 < 270),
        "{frames:?}"
    );
    // 10 fps: 0.1 s a frame, the last one held 1 s longer.
    let total: u32 = frames.iter().map(|f| u32::from(f.4)).sum();
    assert_eq!(total, 120 + 100);
    // The curve grows: an early frame has fewer points than the last.
    let points = |f: &Figure| f.layers.iter().map(|l| l.data().len()).sum::<usize>();
    assert!(points(&up_to(&fig, 50.0)) < points(&fig) / 2);

    let cancelled = dir.join("cancelled.gif");
    let r = write_gif(
        &cancelled,
        &anim,
        &st,
        &opts,
        &AtomicBool::new(true),
        &mut |_, _| {},
    );
    assert!(matches!(r, Err(FigureError::Cancelled)), "{r:?}");
    assert!(!cancelled.exists());
    assert!(
        std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 1,
        "partial file left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every figure the app and the CLI draw: the training figures (with overlays, the map's
/// prediction and the central flow), the Self-stabilization figures in each x display, the
/// linear-network figures, with titles as exported.
fn every_figure() -> Vec<Figure> {
    let main = synthetic();
    let other = synthetic();
    let mut cf = CentralFlowSeries::new(10);
    for t in 0..50 {
        let x = t as f64;
        cf.predicted_loss.push([x, 1.0 / (1.0 + x)]);
        cf.dist_cf.push([x, 0.01 * x]);
        cf.dist_gf.push([x, 0.02 * x]);
        cf.sigma2.push([x, 0.1]);
        cf.disp2.push([x, 0.1]);
        cf.disp2_mean.push([x, 0.1]);
    }
    cf.eigs = vec![(0..50).map(|t| [t as f64, 4.0]).collect(); 2];
    let mut figs = Vec::new();
    for log_y in [false, true] {
        let view = TrainingView {
            main: Some(&main),
            main_suffix: " · η = 0.4".into(),
            overlays: vec![
                OverlayRun {
                    label: "branch @ 120, η = 0.2".into(),
                    role: Role::Run(0),
                    draw_threshold: true,
                    series: &other,
                },
                OverlayRun {
                    label: "gradient flow".into(),
                    role: Role::Flow,
                    draw_threshold: false,
                    series: &other,
                },
            ],
            prediction: PredictedLambda1 {
                points: (0..40)
                    .map(|t| [t as f64 + 100.0, 5.0 + 0.01 * t as f64])
                    .collect(),
                left_range_at: Some(139),
            },
            log_y,
            central_flow: Some(&cf),
        };
        figs.extend(training::all(&view));
    }
    let p = SelfStabParams::four_stage_example();
    let run = simulate(&p.check().unwrap_or_else(|e| panic!("{e}")));
    for (x_name, delta_line) in [("x_t", None), ("|x_t|", Some(0.1)), ("x_t²", Some(0.01))] {
        let mut s = SelfStabSeries {
            threshold: 2.0 / p.lr,
            delta: run.summary.delta,
            ..Default::default()
        };
        for r in &run.rows {
            s.x.push([r.t as f64, r.x]);
            s.sharpness.push([r.t as f64, r.sharpness]);
            s.phase[r.stage.index()].push([r.x, r.y]);
        }
        let pts: Vec<[f64; 2]> = (0..20).map(|t| [t as f64, 0.1]).collect();
        let view = SelfStabView {
            x_name,
            delta_line,
            measured: Some(Measured {
                x: &pts,
                sharpness: &pts,
                phase: &pts,
            }),
            fit: None,
            field: Some((vec![[0.0, 0.0]], vec![[0.1, 0.1]])),
            cursor: Some((5.0, Some([0.1, 0.1]))),
        };
        figs.extend(figure::selfstab::all(&s, &view));
    }
    let lp = LinearParams::li_linear();
    let mut lr = LinearRun::new(&lp.check().unwrap_or_else(|e| panic!("{e}")));
    for _ in 0..3 {
        lr.step();
    }
    figs.extend(figure::linear::all(lr.rows(), lp.lr));
    for f in &mut figs {
        f.title = slide_title(&f.title, &demo_ctx());
    }
    figs
}

#[test]
fn the_font_has_a_glyph_for_every_exported_text() {
    let figs = every_figure();
    assert!(figs.len() >= 20, "{} figures", figs.len());
    let mut missing = Vec::new();
    let mut chars = std::collections::BTreeSet::new();
    for f in &figs {
        for text in figure_texts(f) {
            chars.extend(text.chars().filter(|c| !c.is_ascii()));
            let m = missing_glyphs(&text);
            if !m.is_empty() {
                missing.push(format!("{}: “{text}” lacks {m:?}", f.id));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    // The check saw the characters that matter (Greek, ∇, subscripts, superscripts, ‖).
    for c in ['η', 'λ', '∇', '²', '₁', '‖', '—'] {
        assert!(chars.contains(&c), "no figure text has {c}: {chars:?}");
    }
}

/// The digits demo's sharpness and loss at 1920 × 1080, light and dark, and a GIF, into
/// `$EOS_EXPORT_SHOTS` (skipped without it: a full run takes a while in a debug build).
#[test]
fn digits_demo_exports_for_slides() {
    let Some(out) = std::env::var_os("EOS_EXPORT_SHOTS").map(PathBuf::from) else {
        return;
    };
    let preset = eos_explorer::engine::presets::find("digits-demo")
        .unwrap_or_else(|| panic!("no digits-demo preset"));
    let eos_explorer::engine::presets::PresetKind::Training(config) = preset.kind else {
        panic!("digits-demo is not a training preset");
    };
    let mut config = *config;
    config.max_steps = 400;
    let (mut s, _) = Session::from_config(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut series = RunSeries::new();
    while let Some((r, _)) = s.step() {
        series.push(&r);
    }
    let view = TrainingView {
        main: Some(&series),
        ..Default::default()
    };
    let ctx = demo_ctx();
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
    let settings = ExportSettings {
        look: ExportLook::Both,
        ..ExportSettings::default()
    };
    let now = SystemTime::now();
    for mut fig in [training::sharpness(&view), training::loss(&view)] {
        fig.title = slide_title(&fig.title, &ctx);
        let styles = settings.styles();
        let names: Vec<String> = styles
            .iter()
            .map(|(_, suf)| file_name(&fig.id, &ctx, now, suf, "png"))
            .collect();
        let n = write_figures(&out, &fig, &styles, &names);
        assert!(!n.is_error, "{}", n.text);
        println!("{}", n.text);
    }
    let mut fig = training::sharpness(&view);
    fig.title = slide_title(&fig.title, &ctx);
    let anim = Animation::growing(fig).unwrap_or_else(|e| panic!("{e}"));
    let path = out.join(file_name("sharpness", &ctx, now, "", "gif"));
    let t0 = std::time::Instant::now();
    let opts = GifOptions::default();
    let n = write_gif(
        &path,
        &anim,
        &ExportStyle::sized(1280, 720, Theme::Light),
        &opts,
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "{}: {n} frames in {:.1} s, {} kB",
        path.display(),
        t0.elapsed().as_secs_f64(),
        std::fs::metadata(&path)
            .map(|m| m.len() / 1024)
            .unwrap_or(0)
    );
    // The GIF as a viewer shows it after a third of its frames, for looking at.
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut o = gif::DecodeOptions::new();
    o.set_color_output(gif::ColorOutput::RGBA);
    let mut dec = o.read_info(file).unwrap_or_else(|e| panic!("{e}"));
    let (w, h) = (usize::from(dec.width()), usize::from(dec.height()));
    let mut canvas = vec![0u8; w * h * 4];
    for _ in 0..n / 3 {
        let Some(f) = dec.read_next_frame().unwrap_or_else(|e| panic!("{e}")) else {
            break;
        };
        let (l, t, fw) = (
            usize::from(f.left),
            usize::from(f.top),
            usize::from(f.width),
        );
        for (k, row) in f.buffer.chunks_exact(fw * 4).enumerate() {
            let at = ((t + k) * w + l) * 4;
            canvas[at..at + fw * 4].copy_from_slice(row);
        }
    }
    let frame = path.with_extension("frame.png");
    image::save_buffer(&frame, &canvas, w as u32, h as u32, image::ColorType::Rgba8)
        .unwrap_or_else(|e| panic!("{e}"));
}
