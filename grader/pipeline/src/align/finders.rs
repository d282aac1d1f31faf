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
    let peaks = peaks(&crop, (0, 0, crop.width(), crop.height()), P as f32)?;
    let found = ells(&peaks, FINDER_SPAN * P as f32, true);
    let idx = found.first()?.1;
    Some(idx.map(|i| {
        let (u, v, _) = peaks[i];
        h.apply_f32(rect.x + u / px_per_pt, rect.y + v / px_per_pt)
    }))
}

/// Finder patterns searched without any idea of where the page is: in each corner of the
/// image (the code sits near a page corner, whichever way the page was turned), at the module
/// size `module_px` the image's scale suggests. Each result is the three centres in
/// [`layout_finders`] order, best first. What it finds still has to agree with the corner
/// marks and the bubble outlines.
pub(crate) fn search(image: &GrayImage, module_px: f32) -> Vec<[(f32, f32); 3]> {
    let (w, h) = image.dimensions();
    // The code's centre is about 70–90 pt in from two page edges; skew, scale and a shifted
    // page move it by up to ~60 pt: a window of 70 modules from the image corner holds it.
    let side = ((70.0 * module_px).round() as u32).min(w.min(h));
    let mut out: Vec<(f32, [(f32, f32); 3])> = Vec::new();
    for (x0, y0) in [(0, 0), (w - side, 0), (w - side, h - side), (0, h - side)] {
        // Phone photos show the page smaller than the image: a second, smaller module size.
        for m in [module_px, module_px * 0.88] {
            let Some(peaks) = peaks(image, (x0, y0, side, side), m) else {
                continue;
            };
            if let Some(&(score, idx)) = ells(&peaks, FINDER_SPAN * m, false).first() {
                let centres = idx.map(|i| (peaks[i].0 + x0 as f32, peaks[i].1 + y0 as f32));
                let dup = out
                    .iter()
                    .any(|(_, c)| (c[0].0 - centres[0].0).hypot(c[0].1 - centres[0].1) < 2.0 * m);
                if !dup {
                    out.push((score, centres));
                }
            }
        }
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.into_iter().map(|(_, c)| c).collect()
}

/// Finder-pattern responses in the window (`x0`, `y0`, `w`, `h`) of `image` for modules of
/// `m` pixels: a box filter (dark 3×3 core, light ring, dark ring, light separator) at every
/// position, its local maxima above [`MIN_SCORE`] with sub-pixel centres (window coordinates),
/// strongest first. `None` when the window is too small or has no contrast.
fn peaks(
    image: &GrayImage,
    (x0, y0, w, ht): (u32, u32, u32, u32),
    m: f32,
) -> Option<Vec<(f32, f32, f32)>> {
    let raw = image.as_raw();
    let iw = image.width() as usize;
    let mut hist = [0u32; 256];
    for y in y0..y0 + ht {
        let row = &raw[y as usize * iw + x0 as usize..][..w as usize];
        for &v in row {
            hist[v as usize] += 1;
        }
    }
    let total = w * ht;
    let pct = |p: f32| {
        let target = (total as f32 * p) as u32;
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
    let integral = Integral::new(image, x0, y0, w, ht);
    let (w, ht) = (w as usize, ht as usize);
    let radius = |k: f32| ((k * m / 2.0).round() as usize).max(1);
    let r = [radius(3.0), radius(5.0), radius(7.0), radius(9.0)];
    let half = r[3];
    if w <= 2 * half + 2 || ht <= 2 * half + 2 {
        return None;
    }
    let area = r.map(|k| (4 * k * k) as f64);
    let boxsum = |x: usize, y: usize, k: usize| f64::from(integral.sum(x - k, y - k, x + k, y + k));
    let norm = 2.0 * f64::from(paper - ink);
    let (sw, sh) = (w - 2 * half, ht - 2 * half);
    let mut scores = vec![0.0f32; sw * sh];
    for y in 0..sh {
        for x in 0..sw {
            let (cx, cy) = (x + half, y + half);
            let b = r.map(|k| boxsum(cx, cy, k));
            let core = b[0] / area[0];
            let light = (b[1] - b[0]) / (area[1] - area[0]);
            let dark = (b[2] - b[1]) / (area[2] - area[1]);
            let sep = (b[3] - b[2]) / (area[3] - area[2]);
            scores[y * sw + x] = ((light + sep - core - dark) / norm) as f32;
        }
    }
    // Local maxima over a window of about two modules.
    let nr = (2.0 * m).round() as usize;
    let mut peaks: Vec<(f32, f32, f32)> = Vec::new();
    for y in 0..sh {
        for x in 0..sw {
            let s = scores[y * sw + x];
            if s < MIN_SCORE {
                continue;
            }
            let mut is_max = true;
            'n: for yy in y.saturating_sub(nr)..(y + nr + 1).min(sh) {
                for xx in x.saturating_sub(nr)..(x + nr + 1).min(sw) {
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
    Some(peaks)
}

/// Triples of peaks that form the code's L (top-left, top-right, bottom-left finders: two
/// equal perpendicular arms of `span` pixels, the code not mirrored), best first. `upright`
/// also asks that the top-right finder lie to the right of the top-left one.
fn ells(peaks: &[(f32, f32, f32)], span: f32, upright: bool) -> Vec<(f32, [usize; 3])> {
    let mut found: Vec<(f32, [usize; 3])> = Vec::new();
    for (a, pa) in peaks.iter().enumerate() {
        for (b, pb) in peaks.iter().enumerate() {
            if b == a {
                continue;
            }
            let ab = (pb.0 - pa.0, pb.1 - pa.1);
            let lab = (ab.0 * ab.0 + ab.1 * ab.1).sqrt();
            if (lab / span - 1.0).abs() > 0.15 || (upright && ab.0 < 0.9 * lab) {
                continue;
            }
            for (c, pc) in peaks.iter().enumerate() {
                if c == a || c == b {
                    continue;
                }
                let ac = (pc.0 - pa.0, pc.1 - pa.1);
                let lac = (ac.0 * ac.0 + ac.1 * ac.1).sqrt();
                if (lac / span - 1.0).abs() > 0.15 || (lab / lac - 1.0).abs() > 0.12 {
                    continue;
                }
                let cos = (ab.0 * ac.0 + ab.1 * ac.1) / (lab * lac);
                let cross = ab.0 * ac.1 - ab.1 * ac.0;
                if cos.abs() > 0.15 || cross <= 0.0 {
                    continue;
                }
                found.push((pa.2 + pb.2 + pc.2, [a, b, c]));
            }
        }
    }
    found.sort_by(|x, y| y.0.total_cmp(&x.0));
    found
}
