//! Animated exports for slides: a figure growing step by step (a run's loss or sharpness), or
//! any figure rebuilt at each time (the Self-stabilization map's play-back), written as a GIF.
//!
//! The axes are those of the last frame from the first frame on, so the curves grow into a
//! still frame. The palette is the last frame's 256 most common colours (the figure's own
//! colours, then anti-aliasing shades); each frame after the first stores only the rectangle
//! that changed, which keeps a 1920 × 1080 GIF small.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::render::{ExportStyle, FigureError, prepare, render_rgb};
use super::{Figure, LayerKind};

/// The figure at time t (steps for a run, t for the map).
pub type FrameFn = dyn Fn(f64) -> Figure + Send;

/// What to animate: a figure for each t in `t.0 ..= t.1`.
pub struct Animation {
    build: Box<FrameFn>,
    /// First and last t.
    pub t: (f64, f64),
}

impl Animation {
    pub fn new(t: (f64, f64), build: impl Fn(f64) -> Figure + Send + 'static) -> Self {
        Animation {
            build: Box::new(build),
            t,
        }
    }

    /// `fig` drawn up to each t, from its first to its last x.
    pub fn growing(fig: Figure) -> Result<Self, String> {
        let p = prepare(&fig)?;
        let (lo, hi) = data_x_extent(&fig).unwrap_or(p.x);
        Ok(Animation::new((lo, hi), move |t| up_to(&fig, t)))
    }

    pub fn figure_at(&self, t: f64) -> Figure {
        (self.build)(t)
    }

    /// The t of each of `n` frames: evenly spaced, the last at `t.1`, the first one step in.
    pub fn frame_times(&self, n: usize) -> Vec<f64> {
        let n = n.max(1);
        let (a, b) = self.t;
        (1..=n).map(|i| a + (b - a) * i as f64 / n as f64).collect()
    }
}

fn data_x_extent(fig: &Figure) -> Option<(f64, f64)> {
    let xs = fig
        .layers
        .iter()
        .flat_map(|l| l.data().iter().map(|p| p[0]))
        .filter(|x| x.is_finite());
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    (lo.is_finite() && hi > lo).then_some((lo, hi))
}

/// `fig` with only what happened up to x = t: points beyond t dropped, bands cut at t,
/// markers beyond t hidden. Horizontal lines and vector fields stay; every layer stays (empty
/// if need be) so the legend does not change from frame to frame.
pub fn up_to(fig: &Figure, t: f64) -> Figure {
    let mut f = fig.clone();
    for l in &mut f.layers {
        match &mut l.kind {
            LayerKind::Line { points, .. } | LayerKind::Points { points, .. } => {
                points.retain(|p| p[0] <= t)
            }
            LayerKind::Steps { breakpoints, .. } => breakpoints.retain(|p| p[0] <= t),
            LayerKind::XSpan { from, to } => {
                *to = to.min(t);
                if *from >= t {
                    *to = *from;
                }
            }
            LayerKind::VLine { x, .. } => {
                if *x > t {
                    *x = f64::NAN;
                }
            }
            LayerKind::HLine { .. } | LayerKind::Arrows { .. } => {}
        }
    }
    f
}

/// Frame rate and length of an animation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GifOptions {
    pub fps: u32,
    /// Length of the growing part, seconds.
    pub seconds: f64,
    /// How long the last frame stays before the loop starts again, seconds.
    pub hold_seconds: f64,
}

impl Default for GifOptions {
    fn default() -> Self {
        GifOptions {
            fps: 15,
            seconds: 6.0,
            hold_seconds: 2.0,
        }
    }
}

impl GifOptions {
    /// Number of frames: fps × seconds, at least 2 and at most 1500.
    pub fn frames(&self) -> usize {
        let n = f64::from(self.fps.clamp(1, 50)) * self.seconds;
        if n.is_finite() {
            (n.round() as usize).clamp(2, 1500)
        } else {
            2
        }
    }
}

/// A 256-colour palette and the index of each colour seen so far.
struct Palette {
    colors: Vec<[u8; 3]>,
    cache: HashMap<[u8; 3], u8>,
}

impl Palette {
    /// The `rgb` image's 256 most common colours.
    fn of(rgb: &[u8]) -> Palette {
        let mut count: HashMap<[u8; 3], u32> = HashMap::new();
        for p in rgb.chunks_exact(3) {
            *count.entry([p[0], p[1], p[2]]).or_default() += 1;
        }
        let mut by_count: Vec<([u8; 3], u32)> = count.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let colors: Vec<[u8; 3]> = by_count.into_iter().take(256).map(|(c, _)| c).collect();
        let cache = colors
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i as u8))
            .collect();
        Palette { colors, cache }
    }

    fn index(&mut self, c: [u8; 3]) -> u8 {
        if let Some(&i) = self.cache.get(&c) {
            return i;
        }
        let d = |p: &[u8; 3]| -> i32 {
            (0..3)
                .map(|k| (i32::from(p[k]) - i32::from(c[k])).pow(2))
                .sum()
        };
        let i = self
            .colors
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| d(p))
            .map_or(0, |(i, _)| i as u8);
        self.cache.insert(c, i);
        i
    }

    fn flat(&self) -> Vec<u8> {
        let mut v: Vec<u8> = self.colors.iter().flatten().copied().collect();
        // GIF palettes have a power-of-two size.
        let n = self.colors.len().max(2).next_power_of_two();
        v.resize(n * 3, 0);
        v
    }
}

/// Write `anim` to `path` as a looping GIF of `opts.frames()` frames at `st`'s size and look.
/// `progress(done, total)` is called after each frame; setting `cancel` stops the export
/// between frames and removes the partial file. Returns the number of frames written.
pub fn write_gif(
    path: &Path,
    anim: &Animation,
    st: &ExportStyle,
    opts: &GifOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize, FigureError> {
    let err = |message: String| FigureError::Draw {
        path: path.to_path_buf(),
        message,
    };
    let (w, h) = st.pixels();
    if w > u32::from(u16::MAX) || h > u32::from(u16::MAX) {
        return Err(err("a GIF is at most 65535 pixels a side".into()));
    }
    // The axes of the last frame, held from the first.
    let last = anim.figure_at(anim.t.1);
    let p = prepare(&last).map_err(|message| FigureError::Data {
        path: path.to_path_buf(),
        message,
    })?;
    let fix = |mut f: Figure| -> Figure {
        f.x_range = Some([p.x.0, p.x.1]);
        f.y_range = Some(if f.log_y {
            [10f64.powf(p.y.0), 10f64.powf(p.y.1)]
        } else {
            [p.y.0, p.y.1]
        });
        f
    };
    let mut palette = Palette::of(&render_rgb(&fix(last), st).map_err(err)?);
    let tmp = path.with_extension("gif.part");
    let file = std::fs::File::create(&tmp).map_err(|e| err(e.to_string()))?;
    let result = (|| -> Result<usize, FigureError> {
        let mut enc = gif::Encoder::new(
            std::io::BufWriter::new(file),
            w as u16,
            h as u16,
            &palette.flat(),
        )
        .map_err(|e| err(e.to_string()))?;
        enc.set_repeat(gif::Repeat::Infinite)
            .map_err(|e| err(e.to_string()))?;
        let n = opts.frames();
        let times = anim.frame_times(n);
        let fps = f64::from(opts.fps.clamp(1, 50));
        let mut prev: Option<Vec<u8>> = None;
        // Delays are in hundredths of a second: carry the rounding so the length is right.
        let mut clock = 0.0f64;
        let mut shown = 0u32;
        for (i, t) in times.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(FigureError::Cancelled);
            }
            let rgb = render_rgb(&fix(anim.figure_at(*t)), st).map_err(err)?;
            let idx: Vec<u8> = rgb
                .chunks_exact(3)
                .map(|c| palette.index([c[0], c[1], c[2]]))
                .collect();
            clock += 100.0 / fps;
            if i + 1 == n {
                clock += 100.0 * opts.hold_seconds.clamp(0.0, 30.0);
            }
            let delay = (clock.round() as u32)
                .saturating_sub(shown)
                .min(u32::from(u16::MAX));
            shown += delay;
            let (x0, y0, x1, y1) = match &prev {
                None => (0, 0, w as usize, h as usize),
                Some(old) => changed_rect(old, &idx, w as usize, h as usize),
            };
            let mut sub = Vec::with_capacity((x1 - x0) * (y1 - y0));
            for y in y0..y1 {
                sub.extend_from_slice(&idx[y * w as usize + x0..y * w as usize + x1]);
            }
            let frame = gif::Frame {
                left: x0 as u16,
                top: y0 as u16,
                width: (x1 - x0) as u16,
                height: (y1 - y0) as u16,
                delay: delay as u16,
                dispose: gif::DisposalMethod::Keep,
                buffer: std::borrow::Cow::Owned(sub),
                ..gif::Frame::default()
            };
            enc.write_frame(&frame).map_err(|e| err(e.to_string()))?;
            prev = Some(idx);
            progress(i + 1, n);
        }
        let mut out = enc.into_inner().map_err(|e| err(e.to_string()))?;
        std::io::Write::flush(&mut out).map_err(|e| err(e.to_string()))?;
        Ok(n)
    })();
    match result {
        Ok(n) => {
            std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The smallest rectangle (x0, y0, x1, y1), ends exclusive, holding every pixel that differs;
/// one pixel when none does.
fn changed_rect(old: &[u8], new: &[u8], w: usize, h: usize) -> (usize, usize, usize, usize) {
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for y in 0..h {
        let (a, b) = (&old[y * w..(y + 1) * w], &new[y * w..(y + 1) * w]);
        if a == b {
            continue;
        }
        y0 = y0.min(y);
        y1 = y + 1;
        if let Some(first) = a.iter().zip(b).position(|(p, q)| p != q) {
            x0 = x0.min(first);
        }
        if let Some(last) = a.iter().zip(b).rposition(|(p, q)| p != q) {
            x1 = x1.max(last + 1);
        }
    }
    if y1 == 0 {
        (0, 0, 1, 1)
    } else {
        (x0, y0, x1, y1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::figure::{Layer, Role};

    #[test]
    fn up_to_keeps_layers_and_cuts_data() {
        let mut f = Figure::new("t", "T", "step", "v");
        f.push(Layer::line(
            "a",
            Role::Train,
            (0..10).map(|i| [i as f64, 1.0]).collect(),
        ));
        f.push(Layer::x_span("band", Role::Threshold, 3.0, 8.0));
        f.push(Layer::v_line("mark", Role::Cursor, 6.0));
        let g = up_to(&f, 4.5);
        assert_eq!(g.layers.len(), 3);
        assert_eq!(g.layers[0].data().len(), 5);
        assert_eq!(g.layers[1].kind, LayerKind::XSpan { from: 3.0, to: 4.5 });
        assert!(matches!(g.layers[2].kind, LayerKind::VLine { x, .. } if x.is_nan()));
        assert_eq!(g.legend(), f.legend());
    }

    #[test]
    fn changed_rect_bounds_the_difference() {
        let old = vec![0u8; 20];
        let mut new = old.clone();
        new[1 + 5] = 1; // (1, 1) in a 5 × 4 image
        new[3 + 2 * 5] = 1; // (3, 2)
        assert_eq!(changed_rect(&old, &new, 5, 4), (1, 1, 4, 3));
        assert_eq!(changed_rect(&old, &old, 5, 4), (0, 0, 1, 1));
    }
}
