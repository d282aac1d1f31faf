//! Refinement and verification on the printed bubble outlines, once the sheet's layout is
//! known: hundreds of rings at known places, the densest fiducials on the page.
//!
//! Half the rings (every other one) are searched locally, nearest the surviving fiducials first,
//! refitting the homography after each band so that the prediction for the next band is already
//! corrected (a 3-mark affine guess can be tens of points off at the missing corner of a
//! keystoned page; a band's search radius stays under half the bubble pitch, so a ring is never
//! taken for its neighbour). The other half, never searched, verify the result: the share of
//! them found exactly where it predicts. The fiducials stay in every fit and must still agree
//! with it at the end, so the grid cannot slip by a whole row.

use image::GrayImage;
use model::layout::PageLayout;
use model::outcome::ReviewReason;
use model::scoring::AnswerState;

use super::finders::layout_finders;
use super::{Alignment, FitKind};
use crate::directory::PageFrame;
use crate::geometry::{Homography, Pair};
use crate::marks::{self, MarkReading};
use crate::pixels::bilinear;

/// Rings searched at most (a few hundred small searches).
const MAX_SEARCHED: usize = 160;
/// Bands searched in turn, nearest the fiducials first.
const BANDS: usize = 5;
/// Search radius (points) of the first band and of the later ones: under half the row pitch.
const FIRST_RADIUS: f32 = 5.0;
const LATER_RADIUS: f32 = 3.5;
/// A ring is there when it is at least this many gray levels darker than the paper just
/// outside it.
const RING_CONTRAST: f32 = 10.0;
/// Share of the held-out rings that must be found where the refined homography puts them.
pub const MIN_VERIFIED: f32 = 0.85;
/// Largest disagreement (points) left between the fiducials and the refined homography.
const MAX_ANCHOR_ERROR: f64 = 2.5;
/// On the cheap path, a grid fit below this tries the refinement.
const RETRY_BELOW: f32 = 0.9;
/// Samples around a ring.
const ANGLES: usize = 16;

/// The outcome of refining an alignment on the bubble outlines.
#[derive(Debug, Clone)]
pub struct Refinement {
    /// Layout → pixels after refinement.
    pub homography: Homography,
    /// Share of the held-out rings found where `homography` puts them.
    pub found: f32,
    /// Rings matched by the local searches.
    pub matched: usize,
    /// Largest distance (points) between a fiducial and where `homography` puts it.
    pub anchor_error: f64,
    /// Whether the alignment may be trusted to read marks.
    pub verified: bool,
}

/// Refines `h` (layout → pixels, from `alignment`'s fiducials, possibly turned by
/// identification) on the bubble outlines of `layout`, and verifies it.
pub fn refine(
    image: &GrayImage,
    alignment: &Alignment,
    h: &Homography,
    layout: &PageLayout,
) -> Refinement {
    let frame = PageFrame::of(layout);
    let anchors = anchors_for(alignment, h, &frame);
    let mut rings: Vec<(f32, f32, f32)> = layout.bubbles.iter().map(|b| (b.x, b.y, b.r)).collect();
    rings.extend(
        layout
            .student_number_bubbles
            .iter()
            .map(|b| (b.x, b.y, b.r)),
    );
    let fail = |h: Homography| Refinement {
        homography: h,
        found: 0.0,
        matched: 0,
        anchor_error: f64::INFINITY,
        verified: false,
    };
    if rings.len() < 8 {
        return fail(*h);
    }
    // Every other ring is searched (at most MAX_SEARCHED, evenly); the rest verify.
    let (mut searched, held_out): (Vec<_>, Vec<_>) =
        rings.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let step = searched.len().div_ceil(MAX_SEARCHED).max(1);
    searched = searched.into_iter().step_by(step).collect();
    let dist = |(x, y): (f32, f32)| {
        anchors
            .iter()
            .map(|(l, _, _)| (f64::from(x) - l.0).hypot(f64::from(y) - l.1))
            .fold(f64::MAX, f64::min)
    };
    searched.sort_by(|a, b| dist((a.1.0, a.1.1)).total_cmp(&dist((b.1.0, b.1.1))));
    let mut cur = *h;
    let mut matches: Vec<Pair> = Vec::new();
    let band = searched.len().div_ceil(BANDS).max(1);
    for (k, chunk) in searched.chunks(band).enumerate() {
        let radius = if k == 0 { FIRST_RADIUS } else { LATER_RADIUS };
        for &(_, &(x, y, r)) in chunk {
            if let Some(p) = search(image, &cur, x, y, r, radius) {
                matches.push(((f64::from(x), f64::from(y)), p, 1.0));
            }
        }
        if let Some(next) = fit_trimmed(&anchors, &mut matches, &frame) {
            cur = next;
        }
    }
    let found = held_out
        .iter()
        .filter(|&&(_, &(x, y, r))| ring_at(image, &cur, x, y, r))
        .count() as f32
        / held_out.len().max(1) as f32;
    let anchor_error = anchors
        .iter()
        .map(|(l, p, _)| {
            let (u, v) = cur.apply(l.0, l.1);
            (u - p.0).hypot(v - p.1) / cur.local_scale(l.0, l.1).max(1e-6)
        })
        .fold(0.0, f64::max);
    Refinement {
        homography: cur,
        found,
        matched: matches.len(),
        anchor_error,
        verified: found >= MIN_VERIFIED
            && anchor_error <= MAX_ANCHOR_ERROR
            && matches.len() * 2 >= searched.len(),
    }
}

/// Reads the marks of `layout` through `h`, refining and verifying the alignment on the bubble
/// outlines first when it came from fewer than four marks, or when the outlines do not sit
/// where the four marks put them. An alignment that does not verify makes every question
/// uncertain. Returns the homography the marks were read with.
pub fn read_verified(
    image: &GrayImage,
    alignment: &Alignment,
    h: &Homography,
    layout: &PageLayout,
) -> (Homography, MarkReading) {
    let has_rings = !(layout.bubbles.is_empty() && layout.student_number_bubbles.is_empty());
    if alignment.kind == FitKind::Partial && has_rings {
        let r = refine(image, alignment, h, layout);
        let mut reading = marks::read_marks(image, &r.homography, layout);
        if !r.verified {
            distrust(&mut reading, r.found);
        }
        return (r.homography, reading);
    }
    let reading = marks::read_marks(image, h, layout);
    if reading.grid_fit >= RETRY_BELOW || !has_rings {
        return (*h, reading);
    }
    // Four marks, but the rings are not quite where they put them (a mark taken on title text,
    // a warped page): the rings decide, if they verify.
    let r = refine(image, alignment, h, layout);
    if r.verified {
        let again = marks::read_marks(image, &r.homography, layout);
        if again.grid_fit > reading.grid_fit {
            return (r.homography, again);
        }
    }
    (*h, reading)
}

/// Every question (and student-number digit) uncertain: the page is not where it is thought to
/// be, so nothing read from it is trusted.
fn distrust(reading: &mut MarkReading, found: f32) {
    for q in &mut reading.questions {
        q.state = AnswerState::Uncertain;
    }
    if let Some(n) = &mut reading.student_number {
        n.value = None;
        for d in &mut n.digits {
            d.state = AnswerState::Uncertain;
        }
    }
    let already = reading
        .doubts
        .iter()
        .any(|d| matches!(d, ReviewReason::AlignmentUnverified { .. }));
    if !already {
        reading.doubts.push(ReviewReason::AlignmentUnverified {
            outlines_found: found,
        });
    }
}

/// The alignment's fiducials for `h`: identification may have turned the page (a misjudged
/// rotation), so each fiducial's pixel is matched again to the layout point `h` puts nearest.
fn anchors_for(alignment: &Alignment, h: &Homography, frame: &PageFrame) -> Vec<Pair> {
    let Some(inv) = h.inverse() else {
        return Vec::new();
    };
    let mut known: Vec<(f32, f32)> = frame.mark_centres().to_vec();
    known.extend(layout_finders(frame));
    alignment
        .anchors
        .iter()
        .filter_map(|&(_, p, w)| {
            let (x, y) = inv.apply(p.0, p.1);
            let (l, d) = known
                .iter()
                .map(|k| (*k, (f64::from(k.0) - x).hypot(f64::from(k.1) - y)))
                .min_by(|a, b| a.1.total_cmp(&b.1))?;
            (d < 20.0).then_some(((f64::from(l.0), f64::from(l.1)), p, w))
        })
        .collect()
}

/// Fits anchors and matches, drops the matches that disagree (a stray mark, a ring taken for a
/// smudge), and fits again.
fn fit_trimmed(anchors: &[Pair], matches: &mut Vec<Pair>, frame: &PageFrame) -> Option<Homography> {
    let fit = |m: &[Pair]| {
        let mut all: Vec<Pair> = anchors.to_vec();
        all.extend_from_slice(m);
        super::fit::fit_anchors(&all, frame)
    };
    let first = fit(matches)?;
    let mut err: Vec<f64> = matches
        .iter()
        .map(|(l, p, _)| {
            let (u, v) = first.apply(l.0, l.1);
            (u - p.0).hypot(v - p.1) / first.local_scale(l.0, l.1).max(1e-6)
        })
        .collect();
    let mut sorted = err.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let limit = (3.0 * median).max(1.0);
    let mut i = 0;
    matches.retain(|_| {
        let keep = err[i] <= limit;
        i += 1;
        keep
    });
    err.clear();
    fit(matches).or(Some(first))
}

/// Ring contrast at a layout centre, measured in pixels through a local affine approximation.
struct Local {
    cx: f32,
    cy: f32,
    /// Jacobian (pixels per point) columns.
    jx: (f32, f32),
    jy: (f32, f32),
}

impl Local {
    fn at(h: &Homography, x: f32, y: f32) -> Self {
        let (cx, cy) = h.apply_f32(x, y);
        let (ax, ay) = h.apply_f32(x + 1.0, y);
        let (bx, by) = h.apply_f32(x, y + 1.0);
        Self {
            cx,
            cy,
            jx: (ax - cx, ay - cy),
            jy: (bx - cx, by - cy),
        }
    }

    fn px(&self, dx: f32, dy: f32) -> (f32, f32) {
        (
            self.cx + self.jx.0 * dx + self.jy.0 * dy,
            self.cy + self.jx.1 * dx + self.jy.1 * dy,
        )
    }

    /// Paper just outside minus the ring, for a ring of radius `r` centred `(ox, oy)` points
    /// from the local origin.
    fn contrast(&self, image: &GrayImage, ox: f32, oy: f32, r: f32) -> f32 {
        let mut ring = 0.0f32;
        let mut outside = 0.0f32;
        for (c, s) in UNIT.iter() {
            let (x, y) = self.px(ox + r * c, oy + r * s);
            ring += f32::from(bilinear(image, x - 0.5, y - 0.5));
            let (x, y) = self.px(ox + (r + 2.2) * c, oy + (r + 2.2) * s);
            outside += f32::from(bilinear(image, x - 0.5, y - 0.5));
        }
        (outside - ring) / ANGLES as f32
    }
}

/// Unit vectors around a circle.
static UNIT: std::sync::LazyLock<[(f32, f32); ANGLES]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|k| {
        let a = k as f32 * std::f32::consts::TAU / ANGLES as f32;
        (a.cos(), a.sin())
    })
});

/// Where the ring of the bubble at layout (`x`, `y`) is, searched within `radius` points of
/// where `h` puts it: coarse steps, then fine ones, then a parabola. `None` when no ring
/// stands out.
fn search(
    image: &GrayImage,
    h: &Homography,
    x: f32,
    y: f32,
    r: f32,
    radius: f32,
) -> Option<(f64, f64)> {
    let local = Local::at(h, x, y);
    let mut best = (f32::MIN, 0.0f32, 0.0f32);
    let coarse = 1.0f32;
    let n = (radius / coarse).round() as i32;
    for j in -n..=n {
        for i in -n..=n {
            let (ox, oy) = (i as f32 * coarse, j as f32 * coarse);
            let c = local.contrast(image, ox, oy, r);
            if c > best.0 {
                best = (c, ox, oy);
            }
        }
    }
    // The best must not sit on the window's edge (the ring is further, or it is a neighbour).
    if best.1.abs() >= radius - 0.01 || best.2.abs() >= radius - 0.01 {
        return None;
    }
    let fine = 0.35f32;
    let (mut bx, mut by) = (best.1, best.2);
    let mut grid = [[0.0f32; 5]; 5];
    let mut top = (f32::MIN, 0usize, 0usize);
    for (j, row) in grid.iter_mut().enumerate() {
        for (i, v) in row.iter_mut().enumerate() {
            *v = local.contrast(
                image,
                bx + (i as f32 - 2.0) * fine,
                by + (j as f32 - 2.0) * fine,
                r,
            );
            if *v > top.0 {
                top = (*v, i, j);
            }
        }
    }
    if top.0 < RING_CONTRAST {
        return None;
    }
    let para = |a: f32, b: f32, c: f32| {
        let d = a - 2.0 * b + c;
        if d.abs() < 1e-6 {
            0.0
        } else {
            (0.5 * (a - c) / d).clamp(-0.5, 0.5)
        }
    };
    let (ti, tj) = (top.1, top.2);
    let dx = if (1..4).contains(&ti) {
        para(grid[tj][ti - 1], top.0, grid[tj][ti + 1])
    } else {
        0.0
    };
    let dy = if (1..4).contains(&tj) {
        para(grid[tj - 1][ti], top.0, grid[tj + 1][ti])
    } else {
        0.0
    };
    bx += (ti as f32 - 2.0 + dx) * fine;
    by += (tj as f32 - 2.0 + dy) * fine;
    let (px, py) = local.px(bx, by);
    Some((f64::from(px), f64::from(py)))
}

/// Whether a ring is where `h` puts it (within the ring's own width: the best of three radii).
fn ring_at(image: &GrayImage, h: &Homography, x: f32, y: f32, r: f32) -> bool {
    let local = Local::at(h, x, y);
    [r - 0.6, r, r + 0.6]
        .into_iter()
        .map(|rr| local.contrast(image, 0.0, 0.0, rr))
        .fold(f32::MIN, f32::max)
        >= RING_CONTRAST
}
