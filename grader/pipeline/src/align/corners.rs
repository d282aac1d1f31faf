//! Corner marks: each image corner is searched separately (a local threshold, connected
//! components, a square blob of about the expected size with a quiet zone around it). A mark cut
//! off by the image's edge is not a candidate; the fit decides what the others mean.

use image::GrayImage;
use model::layout::CornerMark;

use crate::directory::PageFrame;
use crate::geometry::Homography;

/// A corner-mark candidate in image pixels.
#[derive(Debug, Clone, Copy)]
pub struct MarkBlob {
    /// Centre (darkness-weighted), x.
    pub x: f32,
    /// Centre, y.
    pub y: f32,
    /// Side of the blob (square root of its bounding box area).
    pub side: f32,
    /// How hollow its centre is: 0 = as dark as the ink, 1 = as light as the paper.
    pub hollowness: f32,
}

/// The frame whose mark rectangle has the proportions closest to the detected one, and the
/// relative error of those proportions.
pub(crate) fn best_frame(marks: &[(f32, f32); 4], frames: &[PageFrame]) -> (usize, f32) {
    let d = |a: (f32, f32), b: (f32, f32)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let across = (d(marks[0], marks[1]) + d(marks[3], marks[2])) / 2.0;
    let down = (d(marks[0], marks[3]) + d(marks[1], marks[2])) / 2.0;
    let seen = across / down.max(1.0);
    let mut best = (0, f32::MAX);
    for (i, f) in frames.iter().enumerate() {
        let c = f.mark_centres();
        let expected = (c[1].0 - c[0].0) / (c[3].1 - c[0].1).max(1.0);
        let err = (seen / expected - 1.0).abs();
        if err < best.1 {
            best = (i, err);
        }
    }
    best
}

/// The homography taking the given layout corner marks to their detected pixel centres.
pub fn homography_for(marks_px: &[(f32, f32); 4], layout: &[CornerMark; 4]) -> Option<Homography> {
    let from = layout.map(|m| {
        let (x, y) = m.center();
        (f64::from(x), f64::from(y))
    });
    let to = marks_px.map(|(x, y)| (f64::from(x), f64::from(y)));
    Homography::from_points(&from, &to)
}

/// Integral image (summed-area table) with a zero first row and column.
pub struct Integral {
    w: usize,
    sums: Vec<u32>,
}

impl Integral {
    /// Of a `w`×`h` window of `image` at (`x0`, `y0`).
    pub fn new(image: &GrayImage, x0: u32, y0: u32, w: u32, h: u32) -> Self {
        let (w, h) = (w as usize, h as usize);
        let stride = w + 1;
        let mut sums = vec![0u32; stride * (h + 1)];
        let src = image.as_raw();
        let iw = image.width() as usize;
        for y in 0..h {
            let row = &src[(y0 as usize + y) * iw + x0 as usize..][..w];
            let mut acc = 0u32;
            for x in 0..w {
                acc += u32::from(row[x]);
                sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1] + acc;
            }
        }
        Self { w: stride, sums }
    }

    /// Sum over the half-open box [x0, x1) × [y0, y1) (window coordinates).
    pub fn sum(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> u32 {
        let s = &self.sums;
        let w = self.w;
        (s[y1 * w + x1] + s[y0 * w + x0])
            .wrapping_sub(s[y0 * w + x1])
            .wrapping_sub(s[y1 * w + x0])
    }
}

/// Searches the `size`×`size` region at (`x0`, `y0`) for corner-mark candidates of about
/// `mark_px` pixels, nearest the image corner `corner` first (at most [`MAX_CANDIDATES`]).
pub(crate) fn find_marks(
    image: &GrayImage,
    x0: u32,
    y0: u32,
    size: u32,
    mark_px: f32,
    corner: (f32, f32),
) -> Vec<MarkBlob> {
    // Search at half resolution when marks are large enough (a quarter of the pixels); the
    // centre is then measured at full resolution.
    let f: u32 = if mark_px >= 16.0 { 2 } else { 1 };
    let n = (size / f) as usize;
    let small = downsample_region(image, x0, y0, n as u32, f);
    let mark_px = mark_px / f as f32;
    let integral = Integral::new(&small, 0, 0, n as u32, n as u32);
    let src = small.as_raw();
    // Local mean over a window ~3 marks wide: a mark pixel is well below it, paper is not.
    let r = ((mark_px * 1.5).round() as usize).max(4);
    let mut dark = vec![false; n * n];
    for y in 0..n {
        let (ya, yb) = (y.saturating_sub(r), (y + r + 1).min(n));
        let row = &src[y * n..][..n];
        for x in 0..n {
            let (xa, xb) = (x.saturating_sub(r), (x + r + 1).min(n));
            let area = ((yb - ya) * (xb - xa)) as u32;
            let mean = integral.sum(xa, ya, xb, yb) / area.max(1);
            // Dark: at least 20% below the local mean.
            dark[y * n + x] = u32::from(row[x]) * 10 < mean * 8;
        }
    }
    let blobs = components(&dark, n, n);
    let mut found: Vec<(f32, MarkBlob)> = Vec::new();
    for b in blobs {
        let (bw, bh) = ((b.x1 - b.x0 + 1) as f32, (b.y1 - b.y0 + 1) as f32);
        let side = (bw * bh).sqrt();
        if side < mark_px * 0.5 || side > mark_px * 1.35 {
            continue;
        }
        if bw / bh > 1.4 || bh / bw > 1.4 {
            continue;
        }
        if (b.area as f32) < 0.5 * bw * bh {
            continue;
        }
        // Blobs touching the region's outer image edges are scanner borders or cut-offs.
        let touches_edge = (x0 == 0 && b.x0 == 0)
            || (y0 == 0 && b.y0 == 0)
            || (x0 + size == image.width() && b.x1 == n - 1)
            || (y0 + size == image.height() && b.y1 == n - 1);
        let fu = f as usize;
        if touches_edge {
            continue;
        }
        // Quiet zone: a margin of a third of the side around the blob is almost all paper.
        let m = (side / 3.0).ceil() as usize;
        let (qx0, qy0) = (b.x0.saturating_sub(m), b.y0.saturating_sub(m));
        let (qx1, qy1) = ((b.x1 + m).min(n - 1), (b.y1 + m).min(n - 1));
        let mut ring_dark = 0usize;
        let mut ring_total = 0usize;
        for y in qy0..=qy1 {
            for x in qx0..=qx1 {
                if x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1 {
                    continue;
                }
                ring_total += 1;
                ring_dark += usize::from(dark[y * n + x]);
            }
        }
        if ring_total == 0 || ring_dark * 100 > ring_total * 8 {
            continue;
        }
        let blob = measure(
            image,
            x0 as usize + b.x0 * fu,
            y0 as usize + b.y0 * fu,
            bw as usize * fu,
            bh as usize * fu,
        );
        let dist = ((blob.x - corner.0).powi(2) + (blob.y - corner.1).powi(2)).sqrt();
        found.push((dist, blob));
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    found.truncate(MAX_CANDIDATES);
    found.into_iter().map(|(_, b)| b).collect()
}

/// Candidates kept per image corner.
pub(crate) const MAX_CANDIDATES: usize = 4;

/// How badly four marks (image corners TL, TR, BR, BL) fit a page: proportions against the
/// closest frame, opposite sides (keystone up to ~8% keeps them within 20%), equal mark sizes.
pub(crate) fn shape_error(q: [&MarkBlob; 4], frames: &[PageFrame]) -> f32 {
    let p = q.map(|b| (b.x, b.y));
    let d = |a: (f32, f32), b: (f32, f32)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let (top, bottom) = (d(p[0], p[1]), d(p[3], p[2]));
    let (left, right) = (d(p[0], p[3]), d(p[1], p[2]));
    if top.min(bottom).min(left).min(right) < 1.0 {
        return f32::MAX;
    }
    let sides = (top / bottom).ln().abs() + (left / right).ln().abs();
    // The page may be portrait or landscape in the image: compare with both.
    let seen = (top + bottom) / (left + right);
    let ratio = frames
        .iter()
        .map(|f| {
            let c = f.mark_centres();
            let expected = (c[1].0 - c[0].0) / (c[3].1 - c[0].1).max(1.0);
            (seen / expected - 1.0)
                .abs()
                .min((seen * expected - 1.0).abs())
        })
        .fold(f32::MAX, f32::min);
    let sizes = q.map(|b| b.side);
    let (lo, hi) = sizes
        .iter()
        .fold((f32::MAX, 0.0f32), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    ratio * 2.0 + sides + (hi / lo.max(1.0)).ln()
}

/// The `n`×`n` region at (`x0`, `y0`) reduced by `f` (box average).
fn downsample_region(image: &GrayImage, x0: u32, y0: u32, n: u32, f: u32) -> GrayImage {
    let iw = image.width() as usize;
    let src = image.as_raw();
    let (n, f) = (n as usize, f as usize);
    let mut out = vec![0u8; n * n];
    let area = (f * f) as u32;
    for y in 0..n {
        for x in 0..n {
            let mut acc = 0u32;
            for dy in 0..f {
                let row = (y0 as usize + y * f + dy) * iw + x0 as usize + x * f;
                acc += src[row..row + f].iter().map(|&v| u32::from(v)).sum::<u32>();
            }
            out[y * n + x] = (acc / area) as u8;
        }
    }
    GrayImage::from_raw(n as u32, n as u32, out).unwrap_or_else(|| GrayImage::new(1, 1))
}

/// Darkness-weighted centre and hollowness of the blob whose bounding box is given (image
/// coordinates).
fn measure(image: &GrayImage, bx: usize, by: usize, bw: usize, bh: usize) -> MarkBlob {
    let iw = image.width() as usize;
    let ih = image.height() as usize;
    let src = image.as_raw();
    let pad = (bw.max(bh) / 4).max(2);
    let (x0, y0) = (bx.saturating_sub(pad), by.saturating_sub(pad));
    let (x1, y1) = ((bx + bw + pad).min(iw), (by + bh + pad).min(ih));
    // Paper level: the brightest decile around; ink level: the darkest decile.
    let mut hist = [0u32; 256];
    for y in y0..y1 {
        for &v in &src[y * iw + x0..y * iw + x1] {
            hist[v as usize] += 1;
        }
    }
    let total: u32 = hist.iter().sum();
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
    let ink = pct(0.05);
    let paper = pct(0.95).max(ink + 1.0);
    let mut sx = 0.0f64;
    let mut sy = 0.0f64;
    let mut sw = 0.0f64;
    for y in y0..y1 {
        for x in x0..x1 {
            let v = f32::from(src[y * iw + x]);
            let d = ((paper - v) / (paper - ink)).clamp(0.0, 1.0);
            // Ignore the faint halo so blur and noise do not pull the centre.
            let d = if d < 0.25 { 0.0 } else { d };
            sx += f64::from(d) * x as f64;
            sy += f64::from(d) * y as f64;
            sw += f64::from(d);
        }
    }
    let (cx, cy) = if sw > 0.0 {
        ((sx / sw) as f32 + 0.5, (sy / sw) as f32 + 0.5)
    } else {
        ((bx + bw / 2) as f32, (by + bh / 2) as f32)
    };
    // Centre brightness over a small disc a fifth of the side across.
    let rr = ((bw.min(bh) as f32) * 0.1).max(1.0);
    let mut acc = 0.0f32;
    let mut cnt = 0.0f32;
    let ri = rr.ceil() as i64;
    for dy in -ri..=ri {
        for dx in -ri..=ri {
            if (dx * dx + dy * dy) as f32 > rr * rr {
                continue;
            }
            let (x, y) = (cx as i64 + dx, cy as i64 + dy);
            if x >= 0 && y >= 0 && (x as usize) < iw && (y as usize) < ih {
                acc += f32::from(src[y as usize * iw + x as usize]);
                cnt += 1.0;
            }
        }
    }
    let centre = if cnt > 0.0 { acc / cnt } else { ink };
    MarkBlob {
        x: cx,
        y: cy,
        side: ((bw * bh) as f32).sqrt(),
        hollowness: ((centre - ink) / (paper - ink)).clamp(0.0, 1.0),
    }
}

/// A connected component's bounding box and pixel count.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// Left.
    pub x0: usize,
    /// Top.
    pub y0: usize,
    /// Right (inclusive).
    pub x1: usize,
    /// Bottom (inclusive).
    pub y1: usize,
    /// Pixels.
    pub area: usize,
}

/// 8-connected components of the `true` pixels.
pub fn components(mask: &[bool], w: usize, h: usize) -> Vec<Component> {
    let mut seen = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut c = Component {
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
            area: 0,
        };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            c.x0 = c.x0.min(x);
            c.y0 = c.y0.min(y);
            c.x1 = c.x1.max(x);
            c.y1 = c.y1.max(y);
            c.area += 1;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push(c);
    }
    out
}
