#![cfg(feature = "gui")]

//! The export buttons in the app (issue 10): PNG and GIF from the Self-stabilization plots go
//! into the absolute folder of the settings under descriptive names, the GIF is written off
//! the UI thread with the chosen frame count, and the message offers "copy path" and "open
//! folder". The export settings come from the persisted app settings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use eos_explorer::engine::figure::animate::GifOptions;
use eos_explorer::ui::Settings;
use eos_explorer::ui::Workspace as _;
use eos_explorer::ui::export::{ExportSettings, ExportSize};
use eos_explorer::ui::selfstab::SelfStabWorkspace;
use eos_explorer::ui::shell::Host;

#[derive(Default)]
struct State {
    ws: SelfStabWorkspace,
    host: Host,
}

fn harness(settings: ExportSettings) -> Harness<'static, State> {
    let mut state = State::default();
    state.host.exports.settings = settings;
    Harness::builder()
        .with_size([1280.0, 900.0])
        .with_context_setup(eos_explorer::ui::theme::install_fonts)
        .build_ui_state(
            |ui, s: &mut State| {
                let mut cx = s.host.cx();
                s.ws.logic(ui.ctx(), &mut cx);
                s.ws.ui(ui, &mut cx);
                s.host.exports.poll(ui.ctx());
            },
            state,
        )
}

/// Step the UI until `ready` or 60 s.
fn wait(h: &mut Harness<'static, State>, ready: impl Fn(&State) -> bool) {
    let t0 = Instant::now();
    while !ready(h.state()) {
        assert!(t0.elapsed() < Duration::from_secs(60), "timed out");
        std::thread::sleep(Duration::from_millis(50));
        h.step();
    }
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn png_and_gif_buttons_write_into_the_chosen_folder() {
    let dir = std::env::temp_dir().join(format!("eos-ui-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = ExportSettings {
        folder: Some(dir.clone()),
        size: ExportSize::Hd720,
        gif: GifOptions {
            fps: 10,
            seconds: 0.4,
            hold_seconds: 0.5,
        },
        ..ExportSettings::default()
    };
    let mut h = harness(settings);
    h.run();
    h.state_mut().host.settings.last_preset = Some("damian-stages".into());

    h.query_all_by_label("PNG")
        .next()
        .unwrap_or_else(|| panic!("no PNG button"))
        .click();
    h.step();
    wait(&mut h, |s| {
        s.host.exports.notices.iter().any(|n| n.path.is_some())
    });
    let pngs = files(&dir, "png");
    assert_eq!(pngs.len(), 1, "{pngs:?}");
    let name = pngs[0]
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    assert!(
        name.starts_with("selfstab-x_damian-stages_eta") && name.ends_with(".png"),
        "{name}"
    );
    let n = h
        .state()
        .host
        .exports
        .notices
        .last()
        .cloned()
        .unwrap_or_default();
    assert!(!n.is_error, "{}", n.text);
    assert!(
        n.text.contains(&pngs[0].display().to_string()),
        "{}",
        n.text
    );
    assert!(n.path.as_ref().is_some_and(|p| p.is_absolute()));
    let img = image::open(&pngs[0]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((img.width(), img.height()), (1280, 720));

    // The GIF: 4 frames (10 fps × 0.4 s) of the map's play-back, written off the UI thread.
    h.query_all_by_label("GIF")
        .next()
        .unwrap_or_else(|| panic!("no GIF button"))
        .click();
    h.step();
    wait(&mut h, |s| {
        s.host.exports.gif_jobs.is_empty()
            && s.host
                .exports
                .notices
                .iter()
                .any(|n| n.text.contains("GIF"))
    });
    let gifs = files(&dir, "gif");
    assert_eq!(gifs.len(), 1, "{gifs:?}");
    let file = std::fs::File::open(&gifs[0]).unwrap_or_else(|e| panic!("{e}"));
    let mut dec = gif::DecodeOptions::new()
        .read_info(file)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut frames = 0;
    while dec
        .read_next_frame()
        .unwrap_or_else(|e| panic!("{e}"))
        .is_some()
    {
        frames += 1;
    }
    assert_eq!(frames, 4);
    // The toasts would offer "copy path" and "open folder" for these notices.
    assert!(
        h.state()
            .host
            .exports
            .notices
            .iter()
            .all(|n| n.path.as_ref().is_some_and(|p| p.starts_with(&dir)))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The preset chosen last names only the figures of its own kind: a training preset never
/// names the map's figures (the workspace passes its kind).
#[test]
fn only_a_preset_of_the_workspace_kind_names_its_figures() {
    use eos_explorer::engine::presets::PresetKind;
    use eos_explorer::ui::export::ExportContext;
    let selfstab = |k: &PresetKind| matches!(k, PresetKind::SelfStab(_));
    let c = ExportContext::new(Some("digits-demo"), selfstab, 0.1);
    assert_eq!(c.preset, None);
    assert_eq!(c.eta, Some(0.1));
    let c = ExportContext::new(Some("damian-stages"), selfstab, 0.1);
    assert_eq!(c.preset.as_deref(), Some("damian-stages"));
    let c = ExportContext::new(Some("no-such-preset"), |_: &PresetKind| true, 0.4);
    assert_eq!(c.preset, None);
}

/// The export settings are part of the app's persisted settings: an old settings file without
/// them still loads, and a chosen folder survives a save and load.
#[test]
fn export_settings_are_remembered() {
    let old = r#"{"dark":true,"zoom":1.0,"large_font":false,"autostart":true}"#;
    let s: Settings = serde_json::from_str(old).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.export, ExportSettings::default());
    let mut s = Settings::default();
    s.export.folder = Some(PathBuf::from("/srv/talks/figures"));
    s.export.size = ExportSize::Paper;
    s.export.dpi = 600.0;
    let json = serde_json::to_string(&s).unwrap_or_else(|e| panic!("{e}"));
    let back: Settings = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.export, s.export);
    assert_eq!(back.export.folder(), PathBuf::from("/srv/talks/figures"));
}
