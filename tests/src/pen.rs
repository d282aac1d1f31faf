//! Marks as pens and pencils make them: filled bubbles with irregular edges, partial fills,
//! light pencil, crosses, check marks, erasure residue, and strokes elsewhere on the page.
//!
//! Coordinates are pixels of the page image (pixel `i` covers `[i, i + 1)`). Ink is
//! multiplicative: a pixel keeps `1 − alpha` of its light, so a pencil fill over the printed
//! letter still shows the letter darker, as on paper.

use image::GrayImage;
use rand::{Rng, RngExt};
use serde::Serialize;

use crate::noise::{hash_unit, normal, uniform, value_noise};

/// How a student marked one bubble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FillStyle {
    /// Ballpoint or felt pen, the whole bubble filled.
    PenFull,
    /// Pencil, the whole bubble filled with ordinary pressure.
    PencilFull,
    /// Pencil pressed lightly: a grey, grainy fill.
    LightPencil,
    /// 50–90% of the bubble filled (pen or pencil).
    Partial,
    /// An X across the bubble.
    Cross,
    /// A check mark (tick) in the bubble.
    Check,
    /// What an eraser leaves of a pencil fill: a light, patchy smudge. Not a mark.
    Erased,
    /// What an eraser leaves of a hard-pressed fill (or a pencil draft gone over in pen
    /// elsewhere): a smooth graphite smear 8–20% darker than the paper, often wider than the
    /// bubble and dragged along the eraser's path, sometimes with faint remnants of the strokes.
    /// Not a mark, but as dark on average as light pencil.
    Residue,
}

impl FillStyle {
    /// Every style, for reports.
    pub const ALL: [FillStyle; 8] = [
        FillStyle::PenFull,
        FillStyle::PencilFull,
        FillStyle::LightPencil,
        FillStyle::Partial,
        FillStyle::Cross,
        FillStyle::Check,
        FillStyle::Erased,
        FillStyle::Residue,
    ];

    /// Whether a person grading by hand would count the bubble as marked.
    pub fn is_mark(self) -> bool {
        !matches!(self, FillStyle::Erased | FillStyle::Residue)
    }

    /// Short name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            FillStyle::PenFull => "pen-full",
            FillStyle::PencilFull => "pencil-full",
            FillStyle::LightPencil => "light-pencil",
            FillStyle::Partial => "partial",
            FillStyle::Cross => "cross",
            FillStyle::Check => "check",
            FillStyle::Erased => "erased",
            FillStyle::Residue => "residue",
        }
    }
}

/// What the student writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// Ballpoint or felt pen: dark, even ink.
    Pen,
    /// Graphite: grey and grainy.
    Pencil,
}

/// One mark to draw in a bubble.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MarkSpec {
    /// The style of the mark.
    pub style: FillStyle,
    /// The tool (fixes the ink of partial fills, crosses and checks; fills follow their style).
    pub tool: Tool,
}

/// What a drawn mark added to its bubble, measured on the page before degradation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MarkStats {
    /// Mean added darkness over the bubble's disc, 0 (nothing) to 1 (all black).
    pub added_darkness: f32,
    /// Fraction of the disc's pixels darkened by more than 25% of full black.
    pub dark_fraction: f32,
}

/// An ink: how much light it absorbs and how uneven it is.
#[derive(Debug, Clone, Copy)]
struct Ink {
    /// Fraction of light absorbed where the ink is solid.
    darkness: f32,
    /// Fine-grain unevenness (paper tooth showing through graphite), 0–1.
    grain: f32,
    /// Direction of the strokes the fill is made of, radians.
    streak_angle: f32,
    /// Spacing of those strokes, pixels.
    streak_period: f32,
    /// Depth of the streaks, 0–1.
    streak_depth: f32,
    /// Seed of the texture.
    seed: u64,
}

impl Ink {
    fn pen<R: Rng + ?Sized>(rng: &mut R, px_per_mm: f32) -> Self {
        Self {
            darkness: uniform(rng, 0.78, 0.93),
            grain: 0.06,
            streak_angle: uniform(rng, 0.0, std::f32::consts::PI),
            streak_period: 0.45 * px_per_mm,
            streak_depth: uniform(rng, 0.05, 0.2),
            seed: rng.random(),
        }
    }

    fn pencil<R: Rng + ?Sized>(rng: &mut R, px_per_mm: f32, darkness: f32) -> Self {
        Self {
            darkness,
            grain: uniform(rng, 0.25, 0.45),
            streak_angle: uniform(rng, 0.3, 1.3),
            streak_period: uniform(rng, 0.3, 0.5) * px_per_mm,
            streak_depth: uniform(rng, 0.1, 0.3),
            seed: rng.random(),
        }
    }

    /// Absorption at pixel `(x, y)` where the shape covers it fully.
    fn at(&self, x: i64, y: i64) -> f32 {
        let grain = 1.0 - self.grain * hash_unit(x, y, self.seed);
        let (s, c) = self.streak_angle.sin_cos();
        let phase = (x as f32 * c + y as f32 * s) / self.streak_period;
        let streak = 1.0 - self.streak_depth * (0.5 + 0.5 * (phase * std::f32::consts::TAU).sin());
        self.darkness * grain * streak
    }
}

/// A closed, slightly irregular blob: a circle whose radius wobbles with a few low harmonics.
#[derive(Debug, Clone)]
struct Blob {
    cx: f32,
    cy: f32,
    radius: f32,
    harmonics: Vec<(f32, f32, f32)>,
}

impl Blob {
    fn new<R: Rng + ?Sized>(rng: &mut R, cx: f32, cy: f32, radius: f32, wobble: f32) -> Self {
        let harmonics = (2..=5)
            .map(|k| {
                (
                    k as f32,
                    uniform(rng, 0.0, wobble) / k as f32 * 2.0,
                    uniform(rng, 0.0, std::f32::consts::TAU),
                )
            })
            .collect();
        Self {
            cx,
            cy,
            radius,
            harmonics,
        }
    }

    fn contains(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let theta = dy.atan2(dx);
        let wobble: f32 = self
            .harmonics
            .iter()
            .map(|&(k, a, p)| a * (k * theta + p).cos())
            .sum();
        dx * dx + dy * dy < (self.radius * (1.0 + wobble)).powi(2)
    }

    fn bounds(&self) -> (f32, f32, f32, f32) {
        let r = self.radius * 1.5;
        (self.cx - r, self.cy - r, self.cx + r, self.cy + r)
    }
}

/// Distance from `(x, y)` to the segment `a`–`b`.
fn segment_distance(x: f32, y: f32, a: (f32, f32), b: (f32, f32)) -> f32 {
    let (vx, vy) = (b.0 - a.0, b.1 - a.1);
    let len2 = vx * vx + vy * vy;
    let t = if len2 > 0.0 {
        (((x - a.0) * vx + (y - a.1) * vy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (px, py) = (a.0 + t * vx, a.1 + t * vy);
    ((x - px).powi(2) + (y - py).powi(2)).sqrt()
}

/// Paints `alpha(x, y)` (coverage-weighted absorption, sampled 3×3 per pixel) over a box.
fn paint(
    img: &mut GrayImage,
    bounds: (f32, f32, f32, f32),
    covers: impl Fn(f32, f32) -> bool,
    ink: &Ink,
    mask: impl Fn(i64, i64) -> f32,
) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x0 = (bounds.0.floor() as i64).max(0);
    let y0 = (bounds.1.floor() as i64).max(0);
    let x1 = (bounds.2.ceil() as i64).min(w - 1);
    let y1 = (bounds.3.ceil() as i64).min(h - 1);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let mut hits = 0u32;
            for sy in 0..3 {
                for sx in 0..3 {
                    let fx = x as f32 + (sx as f32 + 0.5) / 3.0;
                    let fy = y as f32 + (sy as f32 + 0.5) / 3.0;
                    if covers(fx, fy) {
                        hits += 1;
                    }
                }
            }
            if hits == 0 {
                continue;
            }
            let alpha = (hits as f32 / 9.0) * ink.at(x, y) * mask(x, y);
            let p = img.get_pixel_mut(x as u32, y as u32);
            p.0[0] = (p.0[0] as f32 * (1.0 - alpha.clamp(0.0, 1.0))).round() as u8;
        }
    }
}

/// A pen or pencil line through `points`, `width` pixels wide.
fn stroke_with(img: &mut GrayImage, points: &[(f32, f32)], width: f32, ink: &Ink) {
    if points.is_empty() {
        return;
    }
    let half = width / 2.0;
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in points {
        x0 = x0.min(x - half);
        y0 = y0.min(y - half);
        x1 = x1.max(x + half);
        y1 = y1.max(y + half);
    }
    let covers = |x: f32, y: f32| {
        if points.len() == 1 {
            return segment_distance(x, y, points[0], points[0]) < half;
        }
        points
            .windows(2)
            .any(|s| segment_distance(x, y, s[0], s[1]) < half)
    };
    paint(img, (x0, y0, x1, y1), covers, ink, |_, _| 1.0);
}

/// A smooth, slightly wavering path from `a` to `b` in `n` segments, as a hand draws a line.
fn hand_line<R: Rng + ?Sized>(
    rng: &mut R,
    a: (f32, f32),
    b: (f32, f32),
    n: usize,
    waver: f32,
) -> Vec<(f32, f32)> {
    let bend = normal(rng, 0.0, waver);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (nx, ny) = (-dy / len, dx / len);
    (0..=n)
        .map(|i| {
            let t = i as f32 / n as f32;
            let off = bend * 4.0 * t * (1.0 - t) + normal(rng, 0.0, waver * 0.15);
            (a.0 + dx * t + nx * off, a.1 + dy * t + ny * off)
        })
        .collect()
}

/// Mean darkness (0–1) and the pixel values over a disc.
fn disc_pixels(img: &GrayImage, cx: f32, cy: f32, r: f32) -> Vec<(u32, u32, u8)> {
    let mut out = Vec::new();
    let y0 = (cy - r).floor().max(0.0) as u32;
    let y1 = ((cy + r).ceil() as u32).min(img.height().saturating_sub(1));
    let x0 = (cx - r).floor().max(0.0) as u32;
    let x1 = ((cx + r).ceil() as u32).min(img.width().saturating_sub(1));
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            if dx * dx + dy * dy <= r * r {
                out.push((x, y, img.get_pixel(x, y).0[0]));
            }
        }
    }
    out
}

/// The darkness range of [`FillStyle::Residue`] left by an ordinary pencil fill: 8–20% of the
/// light.
pub const RESIDUE_DARKNESS: (f32, f32) = (0.08, 0.2);

/// Draws `spec` in the bubble centred at `(cx, cy)` with radius `r` (pixels); `px_per_mm`
/// scales pen widths. Returns what the mark added inside the bubble.
pub fn draw_mark<R: Rng + ?Sized>(
    img: &mut GrayImage,
    cx: f32,
    cy: f32,
    r: f32,
    px_per_mm: f32,
    spec: MarkSpec,
    rng: &mut R,
) -> MarkStats {
    draw_mark_erased_from(img, cx, cy, r, px_per_mm, spec, RESIDUE_DARKNESS, rng)
}

/// As [`draw_mark`], with the darkness range of residue given: an eraser lifts most of the
/// graphite, so what stays follows what was there (a light hand leaves lighter residue).
#[allow(clippy::too_many_arguments)]
pub fn draw_mark_erased_from<R: Rng + ?Sized>(
    img: &mut GrayImage,
    cx: f32,
    cy: f32,
    r: f32,
    px_per_mm: f32,
    spec: MarkSpec,
    residue: (f32, f32),
    rng: &mut R,
) -> MarkStats {
    let before = disc_pixels(img, cx, cy, r);
    // A hand never centres a mark exactly.
    let jx = cx + normal(rng, 0.0, 0.05 * r);
    let jy = cy + normal(rng, 0.0, 0.05 * r);
    let tool_ink = |rng: &mut R| match spec.tool {
        Tool::Pen => Ink::pen(rng, px_per_mm),
        Tool::Pencil => {
            let d = uniform(rng, 0.5, 0.72);
            Ink::pencil(rng, px_per_mm, d)
        }
    };
    match spec.style {
        FillStyle::PenFull => {
            let ink = Ink::pen(rng, px_per_mm);
            let radius = r * uniform(rng, 0.98, 1.12);
            let blob = Blob::new(rng, jx, jy, radius, 0.05);
            paint(
                img,
                blob.bounds(),
                |x, y| blob.contains(x, y),
                &ink,
                |_, _| 1.0,
            );
        }
        FillStyle::PencilFull => {
            let d = uniform(rng, 0.5, 0.72);
            let ink = Ink::pencil(rng, px_per_mm, d);
            let radius = r * uniform(rng, 0.95, 1.12);
            let blob = Blob::new(rng, jx, jy, radius, 0.06);
            paint(
                img,
                blob.bounds(),
                |x, y| blob.contains(x, y),
                &ink,
                |_, _| 1.0,
            );
        }
        FillStyle::LightPencil => {
            let d = uniform(rng, 0.26, 0.4);
            let ink = Ink::pencil(rng, px_per_mm, d);
            let radius = r * uniform(rng, 0.85, 1.05);
            let blob = Blob::new(rng, jx, jy, radius, 0.07);
            paint(
                img,
                blob.bounds(),
                |x, y| blob.contains(x, y),
                &ink,
                |_, _| 1.0,
            );
        }
        FillStyle::Partial => {
            let ink = tool_ink(rng);
            let fraction = uniform(rng, 0.5, 0.9);
            if rng.random_bool(0.5) {
                // A smaller blob pushed towards one side: the student stopped before the edge.
                let radius = r * fraction.sqrt();
                let angle = uniform(rng, 0.0, std::f32::consts::TAU);
                let off = (r - radius) * uniform(rng, 0.3, 1.0);
                let blob = Blob::new(
                    rng,
                    jx + off * angle.cos(),
                    jy + off * angle.sin(),
                    radius,
                    0.05,
                );
                paint(
                    img,
                    blob.bounds(),
                    |x, y| blob.contains(x, y),
                    &ink,
                    |_, _| 1.0,
                );
            } else {
                // Back-and-forth strokes across the bubble with white gaps between them.
                let angle = uniform(rng, -0.6, 0.6);
                let (s, c) = angle.sin_cos();
                let width = uniform(rng, 0.45, 0.7) * px_per_mm;
                let gap = width * (1.0 / fraction - 1.0).max(0.05);
                let pitch = width + gap;
                let mut t = -r + width * 0.5 + uniform(rng, 0.0, gap);
                while t < r {
                    let half = (r * r - t * t).max(0.0).sqrt() * uniform(rng, 0.9, 1.05);
                    let a = (jx + c * -half - s * t, jy + s * -half + c * t);
                    let b = (jx + c * half - s * t, jy + s * half + c * t);
                    let line = hand_line(rng, a, b, 4, 0.3);
                    stroke_with(img, &line, width, &ink);
                    t += pitch;
                }
            }
        }
        FillStyle::Cross => {
            let ink = tool_ink(rng);
            let width = uniform(rng, 0.35, 0.6) * px_per_mm;
            for base in [
                std::f32::consts::FRAC_PI_4,
                3.0 * std::f32::consts::FRAC_PI_4,
            ] {
                let angle = base + normal(rng, 0.0, 0.15);
                let arm = r * uniform(rng, 0.8, 1.2);
                let (s, c) = angle.sin_cos();
                let a = (jx - c * arm, jy - s * arm);
                let b = (jx + c * arm, jy + s * arm);
                let line = hand_line(rng, a, b, 6, 0.06 * r);
                stroke_with(img, &line, width, &ink);
            }
        }
        FillStyle::Check => {
            let ink = tool_ink(rng);
            let width = uniform(rng, 0.35, 0.6) * px_per_mm;
            let scale = r * uniform(rng, 0.9, 1.25);
            let tilt = normal(rng, 0.0, 0.15);
            let (s, c) = tilt.sin_cos();
            let pts = [(-0.65, -0.05), (-0.15, 0.6), (0.8, -0.85)].map(|(u, v): (f32, f32)| {
                let (u, v) = (u * scale, v * scale);
                (jx + c * u - s * v, jy + s * u + c * v)
            });
            let mut line = hand_line(rng, pts[0], pts[1], 3, 0.04 * r);
            line.extend(
                hand_line(rng, pts[1], pts[2], 6, 0.06 * r)
                    .into_iter()
                    .skip(1),
            );
            stroke_with(img, &line, width, &ink);
        }
        FillStyle::Erased => {
            let d = uniform(rng, 0.08, 0.18);
            let mut ink = Ink::pencil(rng, px_per_mm, d);
            ink.grain = 0.6;
            let radius = r * uniform(rng, 0.9, 1.25);
            let blob = Blob::new(rng, jx, jy, radius, 0.1);
            // The eraser lifts most graphite unevenly: patches remain.
            let seed: u64 = rng.random();
            let cell = 0.6 * px_per_mm;
            let keep = uniform(rng, 0.35, 0.7);
            paint(
                img,
                blob.bounds(),
                |x, y| blob.contains(x, y),
                &ink,
                move |x, y| {
                    let v = value_noise(x as f32, y as f32, cell, seed);
                    ((v - (1.0 - keep)) / 0.15).clamp(0.0, 1.0)
                },
            );
        }
        FillStyle::Residue => draw_residue(img, jx, jy, r, px_per_mm, residue, rng),
    }
    let after = disc_pixels(img, cx, cy, r);
    let n = before.len().max(1) as f32;
    let mut added = 0.0;
    let mut dark = 0usize;
    for (&(_, _, b), &(_, _, a)) in before.iter().zip(after.iter()) {
        let delta = (f32::from(b) - f32::from(a)) / 255.0;
        added += delta;
        if delta > 0.25 {
            dark += 1;
        }
    }
    MarkStats {
        added_darkness: added / n,
        dark_fraction: dark as f32 / n,
    }
}

/// Erasure residue: a smooth smear dragged along the eraser's path, its darkness (8–20% of
/// the light) mottled at the scale of paper fibres rather than pencil grain, with a feathered
/// edge; on half the bubbles faint remnants of the erased strokes show through.
fn draw_residue<R: Rng + ?Sized>(
    img: &mut GrayImage,
    cx: f32,
    cy: f32,
    r: f32,
    px_per_mm: f32,
    darkness: (f32, f32),
    rng: &mut R,
) {
    let target = uniform(rng, darkness.0, darkness.1);
    let mut ink = Ink::pencil(rng, px_per_mm, 1.0);
    ink.grain = uniform(rng, 0.05, 0.15);
    let remnants = rng.random_bool(0.5);
    ink.streak_depth = if remnants {
        uniform(rng, 0.15, 0.4)
    } else {
        0.0
    };
    // Mean of grain × streaks, so that `target` is the smear's mean absorption.
    ink.darkness = target / ((1.0 - ink.grain / 2.0) * (1.0 - ink.streak_depth / 2.0));
    let along = uniform(rng, 0.0, std::f32::consts::PI);
    let (sa, ca) = along.sin_cos();
    let stretch = uniform(rng, 1.0, 1.5);
    let radius = r * uniform(rng, 0.9, 1.3);
    let blob = Blob::new(rng, 0.0, 0.0, radius, 0.08);
    let seed: u64 = rng.random();
    let cell = uniform(rng, 0.8, 1.5) * px_per_mm;
    // The smear in its own frame: stretched along the eraser's stroke.
    let local = move |x: f32, y: f32| {
        let (dx, dy) = (x - cx, y - cy);
        let u = (dx * ca + dy * sa) / stretch;
        let v = -dx * sa + dy * ca;
        (u, v)
    };
    let reach = radius * stretch * 1.5;
    paint(
        img,
        (cx - reach, cy - reach, cx + reach, cy + reach),
        |x, y| {
            let (u, v) = local(x, y);
            blob.contains(u, v)
        },
        &ink,
        move |x, y| {
            let (u, v) = local(x as f32 + 0.5, y as f32 + 0.5);
            // Feathered edge: the eraser thins the graphite towards the smear's rim.
            let d = (u * u + v * v).sqrt() / radius;
            let edge = ((1.05 - d) / 0.35).clamp(0.0, 1.0);
            let mottle = 0.7 + 0.6 * value_noise(x as f32, y as f32, cell, seed);
            edge * mottle
        },
    );
}

/// Scribbles over a whole rectangle (`x0, y0, x1, y1`, pixels) with a pen, as a student does to
/// blot out what is printed there: dense back-and-forth strokes in two directions, staying inside
/// the rectangle.
pub fn draw_scribble<R: Rng + ?Sized>(
    img: &mut GrayImage,
    rect: (f32, f32, f32, f32),
    px_per_mm: f32,
    rng: &mut R,
) {
    let (x0, y0, x1, y1) = rect;
    let mut ink = Ink::pen(rng, px_per_mm);
    ink.darkness = uniform(rng, 0.8, 0.95);
    let width = uniform(rng, 0.5, 0.9) * px_per_mm;
    let half = width / 2.0;
    for pass in 0..2 {
        let pitch = uniform(rng, 0.5, 0.9) * px_per_mm;
        let mut points = Vec::new();
        let horizontal = pass == 0;
        let (lo, hi) = if horizontal { (y0, y1) } else { (x0, x1) };
        let mut t = lo + half;
        let mut forward = true;
        while t < hi - half {
            let (a, b) = if horizontal {
                ((x0 + half, t), (x1 - half, t + pitch * 0.5))
            } else {
                ((t, y0 + half), (t + pitch * 0.5, y1 - half))
            };
            let jitter = |rng: &mut R, p: (f32, f32)| {
                (
                    (p.0 + normal(rng, 0.0, 0.3 * px_per_mm)).clamp(x0 + half, x1 - half),
                    (p.1 + normal(rng, 0.0, 0.3 * px_per_mm)).clamp(y0 + half, y1 - half),
                )
            };
            let (a, b) = if forward { (a, b) } else { (b, a) };
            points.push(jitter(rng, a));
            points.push(jitter(rng, b));
            forward = !forward;
            t += pitch;
        }
        stroke_with(img, &points, width, &ink);
    }
}

/// What kind of stray mark to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrayKind {
    /// A few centimetres of handwriting-like scribble (a signature, a note).
    Scribble,
    /// A long, loose pen line (a slip, an underline).
    Line,
    /// A dot or short tick, as students leave beside questions they mean to revisit.
    Dot,
}

/// The points of a stray mark of `kind` around `(x, y)`; `px_per_mm` sets its size.
pub fn stray_path<R: Rng + ?Sized>(
    rng: &mut R,
    kind: StrayKind,
    x: f32,
    y: f32,
    px_per_mm: f32,
) -> Vec<(f32, f32)> {
    match kind {
        StrayKind::Scribble => {
            // Loops drifting to the right, like cursive.
            let len = uniform(rng, 15.0, 40.0) * px_per_mm;
            let height = uniform(rng, 1.5, 3.5) * px_per_mm;
            let n = (len / (0.4 * px_per_mm)) as usize;
            let freq = uniform(rng, 0.8, 1.4);
            let phase = uniform(rng, 0.0, std::f32::consts::TAU);
            (0..n)
                .map(|i| {
                    let t = i as f32 / n as f32;
                    let a = t * len / px_per_mm * freq * std::f32::consts::TAU / 2.5 + phase;
                    (
                        x + t * len + 0.8 * px_per_mm * a.cos(),
                        y + height * 0.5 * a.sin() + normal(rng, 0.0, 0.05 * height),
                    )
                })
                .collect()
        }
        StrayKind::Line => {
            let len = uniform(rng, 20.0, 60.0) * px_per_mm;
            let angle = normal(rng, 0.0, 0.3);
            let b = (x + len * angle.cos(), y + len * angle.sin());
            hand_line(rng, (x, y), b, 12, 1.5 * px_per_mm)
        }
        StrayKind::Dot => {
            if rng.random_bool(0.5) {
                vec![(x, y)]
            } else {
                let len = uniform(rng, 1.0, 2.5) * px_per_mm;
                vec![(x, y), (x + len * 0.6, y + len)]
            }
        }
    }
}

/// Draws a stray pen (or pencil) line through `points`.
pub fn draw_stray<R: Rng + ?Sized>(
    img: &mut GrayImage,
    points: &[(f32, f32)],
    tool: Tool,
    px_per_mm: f32,
    rng: &mut R,
) {
    let ink = match tool {
        Tool::Pen => Ink::pen(rng, px_per_mm),
        Tool::Pencil => {
            let d = uniform(rng, 0.45, 0.7);
            Ink::pencil(rng, px_per_mm, d)
        }
    };
    let width = if points.len() == 1 {
        uniform(rng, 0.6, 1.2) * px_per_mm
    } else {
        uniform(rng, 0.3, 0.55) * px_per_mm
    };
    stroke_with(img, points, width, &ink);
}

/// A thick pen stroke (e.g. across the QR code): `width_mm` wide, dark ink.
pub fn draw_pen_stroke<R: Rng + ?Sized>(
    img: &mut GrayImage,
    a: (f32, f32),
    b: (f32, f32),
    width_mm: f32,
    px_per_mm: f32,
    rng: &mut R,
) {
    let mut ink = Ink::pen(rng, px_per_mm);
    ink.darkness = uniform(rng, 0.8, 0.95);
    let line = hand_line(rng, a, b, 16, 2.0 * px_per_mm);
    stroke_with(img, &line, width_mm * px_per_mm, &ink);
}

/// A liquid stain (coffee, water with dirt): a translucent irregular patch with a darker rim.
pub fn draw_stain<R: Rng + ?Sized>(
    img: &mut GrayImage,
    cx: f32,
    cy: f32,
    radius: f32,
    rng: &mut R,
) {
    let blob = Blob::new(rng, cx, cy, radius, 0.12);
    let body = uniform(rng, 0.15, 0.4);
    let rim = body + uniform(rng, 0.1, 0.25);
    let seed: u64 = rng.random();
    let rim_width = uniform(rng, 0.06, 0.14);
    let ink = Ink {
        darkness: 1.0,
        grain: 0.1,
        streak_angle: 0.0,
        streak_period: 1.0,
        streak_depth: 0.0,
        seed,
    };
    let inner = Blob {
        radius: blob.radius * (1.0 - rim_width),
        ..blob.clone()
    };
    paint(
        img,
        blob.bounds(),
        |x, y| blob.contains(x, y),
        &ink,
        move |x, y| {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let mottle = 0.75 + 0.25 * value_noise(fx, fy, radius * 0.2, seed);
            if inner.contains(fx, fy) {
                body * mottle
            } else {
                rim * mottle
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn blank(size: u32) -> GrayImage {
        GrayImage::from_pixel(size, size, image::Luma([250]))
    }

    fn stats(style: FillStyle, tool: Tool, seed: u64) -> MarkStats {
        let mut img = blank(60);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        // 300 dpi: a 4.6 pt bubble is 19.2 px in radius, 11.8 px per mm.
        draw_mark(
            &mut img,
            30.0,
            30.0,
            19.2,
            11.81,
            MarkSpec { style, tool },
            &mut rng,
        )
    }

    #[test]
    fn marks_order_by_darkness_as_on_paper() {
        for seed in 0..20 {
            let full = stats(FillStyle::PenFull, Tool::Pen, seed).added_darkness;
            let pencil = stats(FillStyle::PencilFull, Tool::Pencil, seed).added_darkness;
            let light = stats(FillStyle::LightPencil, Tool::Pencil, seed).added_darkness;
            let erased = stats(FillStyle::Erased, Tool::Pencil, seed).added_darkness;
            assert!(full > 0.65, "full {full}");
            assert!(pencil > 0.3 && pencil < full, "pencil {pencil}");
            assert!(light > 0.15 && light < pencil, "light {light}");
            assert!(erased < 0.1, "erased {erased}");
            let residue = stats(FillStyle::Residue, Tool::Pencil, seed).added_darkness;
            assert!(residue > 0.04 && residue < 0.22, "residue {residue}");
            let cross = stats(FillStyle::Cross, Tool::Pen, seed).added_darkness;
            assert!(cross > 0.15 && cross < 0.6, "cross {cross}");
            let check = stats(FillStyle::Check, Tool::Pen, seed).added_darkness;
            assert!(check > 0.1 && check < 0.5, "check {check}");
            let partial = stats(FillStyle::Partial, Tool::Pen, seed).added_darkness;
            assert!(partial > 0.3 && partial < 0.85, "partial {partial}");
        }
    }
}
