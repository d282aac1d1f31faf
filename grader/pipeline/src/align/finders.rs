//! The QR code's three finder patterns as fiducials: three more points at known layout places,
//! near the page's top-right, whose arrangement (an L, the corner at the code's top-left) also
//! tells the page's rotation when the hollow corner mark is cut off.
//!
//! The search is on an upright crop resampled through a rough homography: a box filter
//! (dark 3×3 core, light ring, dark ring, light separator) scores every position, and the
//! three best peaks forming the L are kept.

use image::GrayImage;
use model::layout::{QR_MODULES, QR_QUIET_MODULES, Rect};

use super::corners::Integral;
use crate::directory::PageFrame;
use crate::geometry::Homography;
use crate::pixels::sample_rect;

/// Pixels per module in the search crop.
const P: u32 = 4;
/// Modules searched beyond the quiet zone on each side: a rough homography from two marks may
/// be several modules off at the code.
const MARGIN: f32 = 7.0;
/// A finder pattern's centre is 3.5 modules in from the code's edges.
const FINDER_INSET: f32 = 3.5;
/// Centres of the top-left and top-right (and top-left and bottom-left) finders, in modules.
const FINDER_SPAN: f32 = QR_MODULES as f32 - 2.0 * FINDER_INSET;
/// Least normalised score of a finder pattern (1 for perfect black on white; blur, JPEG and a
/// rough homography lower it).
const MIN_SCORE: f32 = 0.4;

/// Layout centres of the finder patterns: the code's top-left, top-right and bottom-left.
pub(crate) fn layout_finders(frame: &PageFrame) -> [(f32, f32); 3] {
    let q = &frame.qr;
    let m = q.size / QR_MODULES as f32;
    let (a, b) = (FINDER_INSET * m, q.size - FINDER_INSET * m);
    [(q.x + a, q.y + a), (q.x + b, q.y + a), (q.x + a, q.y + b)]
}

/// The three finder centres in image pixels (in [`layout_finders`] order), when the code is
/// near where `h` puts it and upright in the same sense.
pub(crate) fn find(
    image: &GrayImage,
    h: &Homography,
    frame: &PageFrame,
) -> Option<[(f32, f32); 3]> {
    let q = &frame.qr;
    let module = q.size / QR_MODULES as f32;
    let pad = (QR_QUIET_MODULES as f32 + MARGIN) * module;
    let rect = Rect {
        x: q.x - pad,
        y: q.y - pad,
        width: q.size + 2.0 * pad,
        height: q.size + 2.0 * pad,
    };
    let px_per_pt = P as f32 / module;
    let crop = sample_rect(image, h, &rect, px_per_pt);
    let (w, ht) = (crop.width() as usize, crop.height() as usize);
    let mut hist = [0u32; 256];
    for &v in crop.as_raw() {
        hist[v as usize] += 1;
    }
    let pct = |p: f32| {
        let target = (crop.as_raw().len() as f32 * p) as u32;
        let mut acc = 0;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc > target {
                return v as f32;
            }
        }
        255.0
    };
    let (ink, paper) = (pct(0.05), pct(0.95));
    if paper - ink < 25.0 {
        return None;
    }
    let integral = Integral::new(&crop, 0, 0, w as u32, ht as u32);
    let p = P as usize;
    let half = 9 * p / 2;
    if w <= 2 * half + 2 || ht <= 2 * half + 2 {
        return None;
    }
    let boxsum = |x: usize, y: usize, k: usize| {
        let r = k * p / 2;
        f64::from(integral.sum(x - r, y - r, x + r, y + r))
    };
    let area = |k: usize| (k * k * p * p) as f64;
    let norm = 2.0 * f64::from(paper - ink);
    let (sw, sh) = (w - 2 * half, ht - 2 * half);
    let mut scores = vec![0.0f32; sw * sh];
    for y in 0..sh {
        for x in 0..sw {
            let (cx, cy) = (x + half, y + half);
            let b3 = boxsum(cx, cy, 3);
            let b5 = boxsum(cx, cy, 5);
            let b7 = boxsum(cx, cy, 7);
            let b9 = boxsum(cx, cy, 9);
            let core = b3 / area(3);
            let light = (b5 - b3) / (area(5) - area(3));
            let dark = (b7 - b5) / (area(7) - area(5));
            let sep = (b9 - b7) / (area(9) - area(7));
            scores[y * sw + x] = ((light + sep - core - dark) / norm) as f32;
        }
    }
    // Local maxima over a window of about two modules.
    let r = 2 * p;
    let mut peaks: Vec<(f32, f32, f32)> = Vec::new();
    for y in 0..sh {
        for x in 0..sw {
            let s = scores[y * sw + x];
            if s < MIN_SCORE {
                continue;
            }
            let mut is_max = true;
            'n: for yy in y.saturating_sub(r)..(y + r + 1).min(sh) {
                for xx in x.saturating_sub(r)..(x + r + 1).min(sw) {
                    let o = scores[yy * sw + xx];
                    if o > s || (o == s && (yy, xx) < (y, x)) {
                        is_max = false;
                        break 'n;
                    }
                }
            }
            if !is_max {
                continue;
            }
            // Sub-pixel: a parabola through the neighbours on each axis.
            let at = |xx: usize, yy: usize| scores[yy * sw + xx];
            let para = |a: f32, b: f32, c: f32| {
                let d = a - 2.0 * b + c;
                if d.abs() < 1e-6 {
                    0.0
                } else {
                    (0.5 * (a - c) / d).clamp(-0.5, 0.5)
                }
            };
            let dx = if x > 0 && x + 1 < sw {
                para(at(x - 1, y), s, at(x + 1, y))
            } else {
                0.0
            };
            let dy = if y > 0 && y + 1 < sh {
                para(at(x, y - 1), s, at(x, y + 1))
            } else {
                0.0
            };
            peaks.push(((x + half) as f32 + dx, (y + half) as f32 + dy, s));
        }
    }
    peaks.sort_by(|a, b| b.2.total_cmp(&a.2));
    peaks.truncate(12);
    let span = FINDER_SPAN * P as f32;
    let mut best: Option<(f32, [usize; 3])> = None;
    for (a, pa) in peaks.iter().enumerate() {
        for (b, pb) in peaks.iter().enumerate() {
            if b == a {
                continue;
            }
            let ab = (pb.0 - pa.0, pb.1 - pa.1);
            let lab = (ab.0 * ab.0 + ab.1 * ab.1).sqrt();
            // Upright: the top-right finder lies to the right of the top-left one.
            if (lab / span - 1.0).abs() > 0.15 || ab.0 < 0.9 * lab {
                continue;
            }
            for (c, pc) in peaks.iter().enumerate() {
                if c == a || c == b {
                    continue;
                }
                let ac = (pc.0 - pa.0, pc.1 - pa.1);
                let lac = (ac.0 * ac.0 + ac.1 * ac.1).sqrt();
                if (lac / span - 1.0).abs() > 0.15 {
                    continue;
                }
                let cos = (ab.0 * ac.0 + ab.1 * ac.1) / (lab * lac);
                let cross = ab.0 * ac.1 - ab.1 * ac.0;
                if cos.abs() > 0.15 || cross <= 0.0 {
                    continue;
                }
                let s = pa.2 + pb.2 + pc.2;
                if best.as_ref().is_none_or(|(bs, _)| s > *bs) {
                    best = Some((s, [a, b, c]));
                }
            }
        }
    }
    let (_, idx) = best?;
    Some(idx.map(|i| {
        let (u, v, _) = peaks[i];
        h.apply_f32(rect.x + u / px_per_pt, rect.y + v / px_per_pt)
    }))
}
